"""Pydantic building blocks shared by every context's schemas.

Every model is declared with `defer_build=True`: pydantic builds its validator and serializer
(most of what a model costs) when it is first used rather than when its module is imported. A
schemas module declares the models of every route of its context, and a cold start uses two or
three of them. The first uses may come from several threads (the local server): pydantic
serializes model rebuilds with a lock (pydantic.main._rebuild_lock, in the pinned 2.14).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_serializer

from . import emails
from .pagination import LIMIT_DEFAULT, LIMIT_MAX, MAX_CURSOR_LENGTH

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Documented as what it accepts (format email, at most 254 characters), so clients and fuzzers
# know a schema-valid address is accepted.
Email = Annotated[str, AfterValidator(emails.normal_email),
                  Field(max_length=emails.MAX_LENGTH, json_schema_extra={"format": "email"})]


def _iso_date(value: Any) -> Any:
    """Only YYYY-MM-DD: pydantic alone would also take 1700000000 as a date."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("is not a real calendar date") from None


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class Input(BaseModel):
    """Request bodies: unknown fields are refused, so a typo names itself instead of vanishing."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Query(BaseModel):
    """Query strings arrive as text; pydantic converts, unknown parameters are refused."""
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Money(Output):
    amount: int = Field(ge=0, description="Minor units (cents)")
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Policy(Output):
    """A listing's cancellation policy, as listings show it and bookings copy it. Here rather
    than in inventory.schemas so a booking route's cold start does not load the catalog's models."""
    free_until_hours: int
    refund_percent_after: int


# --- pages (core.pagination makes and reads the cursors) ---------------------------------------

Limit = Annotated[int, Field(ge=1, le=LIMIT_MAX, description=f"Page size, 1-{LIMIT_MAX}")]
Cursor = Annotated[str, Field(min_length=1, max_length=MAX_CURSOR_LENGTH,
                              description="Opaque `next_cursor` of the previous page")]


class Page(Output):
    """Base of every paginated answer: `next_cursor` is always present, null on the last page.

    Views' answers are serialized with `exclude_none`; the wrap serializer puts `next_cursor`
    back so clients can rely on the key being there (API.md: "next_cursor (null at the end)").
    """

    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; "
                                                              "null on the last page")

    @model_serializer(mode="wrap")
    def _keep_next_cursor(self, handler: Any):  # type: ignore[no-untyped-def]
        # No return annotation on purpose: with one, pydantic documents the model as `{}`.
        data = handler(self)
        if isinstance(data, dict):
            data.setdefault("next_cursor", self.next_cursor)
        return data


class PageQuery(Query):
    """`?limit=&cursor=` of a plain paginated list."""
    limit: Limit = LIMIT_DEFAULT
    cursor: Cursor | None = None
