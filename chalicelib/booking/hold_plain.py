"""The body of POST /holds without pydantic, for the usual request.

A hold is the signed-in cold start users meet most after search, and importing pydantic was
the largest part of what it paid beyond the floor every Python function pays
(tools.bench_cold). `parse_hold` takes only a body already in the form schemas.HoldRequest
would produce (core.plain says how) and answers None for anything else: the route then
validates the body with the model, whose answer, error messages included, is the contract.
Nothing here decides what the model would decide differently, and `model_dump` gives what the
model's would, so the request's fingerprint (its Idempotency-Key check) is the same whichever
path read it. tests/unit/test_hold_plain.py holds the two paths to the same answers.

No pydantic, no dataclasses: this module loads on the cold path.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

from ..core import emails
from ..core.plain import NotPlain, iso_date, only_keys, trimmed_text, whole_number

# schemas.HoldItemIn, ContactIn and HoldRequest: their fields and bounds.
_ITEM_FIELDS = frozenset({"listing_id", "quantity", "date", "check_in", "check_out"})
_CONTACT_FIELDS = frozenset({"email", "name", "phone"})
_HOLD_FIELDS = frozenset({"items", "contact", "promo_code"})
# The bounds and patterns are the model's: schemas declares its fields with these.
LISTING_ID_PATTERN = r"[A-Za-z0-9_-]{1,80}"
PHONE_PATTERN = r"\+?[0-9 ()-]{6,20}"
MAX_ITEMS = 10
MAX_ITEM_QUANTITY = 1000  # what a body may ask; the stage's own limit (10 by default) is the service's
MAX_NAME = 120
MAX_PROMO_CODE = 40
_LISTING_ID = re.compile(LISTING_ID_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
_MAX_PHONE = 21  # a "+" and 20 more


class PlainHoldItem:
    __slots__ = ("listing_id", "quantity", "date", "check_in", "check_out")

    def __init__(self, listing_id: str, quantity: int, day: date | None, check_in: date | None,
                 check_out: date | None) -> None:
        self.listing_id, self.quantity = listing_id, quantity
        self.date, self.check_in, self.check_out = day, check_in, check_out


class PlainContact:
    __slots__ = ("email", "name", "phone")

    def __init__(self, email: str, name: str, phone: str | None) -> None:
        self.email, self.name, self.phone = email, name, phone


class PlainHold:
    """What schemas.HoldRequest holds for the same body, read the same way by booking.holds."""

    __slots__ = ("items", "contact", "promo_code")

    def __init__(self, items: list[PlainHoldItem], contact: PlainContact, promo_code: str | None) -> None:
        self.items, self.contact, self.promo_code = items, contact, promo_code

    def model_dump(self, *, mode: str) -> dict[str, Any]:
        """HoldRequest.model_dump(mode="json"): every field, None included, dates as text."""
        if mode != "json":
            raise ValueError("only mode='json' is supported")
        return {
            "items": [{"listing_id": i.listing_id, "quantity": i.quantity, "date": _iso(i.date),
                       "check_in": _iso(i.check_in), "check_out": _iso(i.check_out)} for i in self.items],
            "contact": {"email": self.contact.email, "name": self.contact.name, "phone": self.contact.phone},
            "promo_code": self.promo_code,
        }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _optional_date(item: dict[str, Any], name: str) -> date | None:
    value = item.get(name)
    return None if value is None else iso_date(value)


def _item(data: Any) -> PlainHoldItem:
    item = only_keys(data, _ITEM_FIELDS, frozenset({"listing_id", "quantity"}))
    listing_id = item["listing_id"]
    if type(listing_id) is not str or not _LISTING_ID.fullmatch(listing_id):
        raise NotPlain
    day, check_in, check_out = (_optional_date(item, "date"), _optional_date(item, "check_in"),
                                _optional_date(item, "check_out"))
    # HoldItemIn's shape rule: a date, or both hotel dates. Any other mix is the model's error.
    if not (day is not None and check_in is None and check_out is None
            or day is None and check_in is not None and check_out is not None):
        raise NotPlain
    return PlainHoldItem(listing_id, whole_number(item["quantity"], 1, MAX_ITEM_QUANTITY), day, check_in, check_out)


def _contact(data: Any) -> PlainContact:
    contact = only_keys(data, _CONTACT_FIELDS, frozenset({"email", "name"}))
    email = trimmed_text(contact["email"], 1, emails.MAX_LENGTH)
    try:
        email = emails.normal_email(email)
    except ValueError:
        raise NotPlain from None
    phone = contact.get("phone")
    if phone is not None and not _PHONE.fullmatch(trimmed_text(phone, 1, _MAX_PHONE)):
        raise NotPlain
    return PlainContact(email, trimmed_text(contact["name"], 1, MAX_NAME), phone)


def parse_hold(data: dict[str, Any]) -> PlainHold | None:
    """The body as schemas.HoldRequest would read it, or None: let the model judge."""
    try:
        body = only_keys(data, _HOLD_FIELDS, frozenset({"items", "contact"}))
        items = body["items"]
        if type(items) is not list or not 1 <= len(items) <= MAX_ITEMS:
            raise NotPlain
        promo_code = body.get("promo_code")
        if promo_code is not None:
            trimmed_text(promo_code, 1, MAX_PROMO_CODE)
        return PlainHold([_item(i) for i in items], _contact(body["contact"]), promo_code)
    except NotPlain:
        return None
