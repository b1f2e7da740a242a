"""Pydantic building blocks shared by every context's schemas."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("is not a valid email address")
    return value.lower()


# Documented as what it accepts (format email, at most 254 characters), so clients and fuzzers
# know a schema-valid address is accepted.
Email = Annotated[str, AfterValidator(_email), Field(max_length=254, json_schema_extra={"format": "email"})]


class Input(BaseModel):
    """Request bodies: unknown fields are refused, so a typo names itself instead of vanishing."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Query(BaseModel):
    """Query strings arrive as text; pydantic converts, unknown parameters are refused."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(Output):
    amount: int = Field(ge=0, description="Minor units (cents)")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
