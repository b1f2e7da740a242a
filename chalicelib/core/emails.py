"""The one rule for an email address, shared by the pydantic type (core.schemas.Email) and the
plain parser of POST /holds (booking.hold_plain), so the two agree on it (tests/unit/test_hold_plain.py).

No pydantic here: the plain parser runs on the cold path of a hold.
"""
from __future__ import annotations

import re

MAX_LENGTH = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normal_email(value: str) -> str:
    """The address as stored (stripped, lower case); ValueError when it is not one."""
    value = value.strip()
    if len(value) > MAX_LENGTH or not _EMAIL.match(value):
        raise ValueError("is not a valid email address")
    lowered = value.lower()
    if len(lowered) > MAX_LENGTH:  # "İ".lower() is two characters: the stored address must fit too
        raise ValueError(f"is longer than {MAX_LENGTH} characters in lower case")
    return lowered
