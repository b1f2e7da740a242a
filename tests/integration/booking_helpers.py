"""Catalog set-up for booking tests, through the vendor API like a real vendor."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

TODAY = date.today()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def make_listing(api, vendor_token: str, *, kind: str = "hotel", capacity: int = 10, price: int = 10000,
                 days: int = 40, policy: tuple[int, int] = (48, 50), currency: str = "EUR") -> str:
    body = {"kind": kind, "title": f"Test {kind} {uuid.uuid4().hex[:6]}", "description": "A place to test",
            "currency": currency, "attributes": {},
            "cancellation_policy": {"free_until_hours": policy[0], "refund_percent_after": policy[1]}}
    if kind == "flight":
        body.update(origin="CDG", destination="JFK")
    else:
        body["city"] = "PAR"
    created = api.post("/vendor/listings", body, token=vendor_token)
    assert created.status_code == 201, created.data
    listing_id = created.data["listing_id"]
    put = api.put(f"/vendor/listings/{listing_id}/availability",
                  {"from": day(0), "to": day(days), "capacity": capacity, "price": price}, token=vendor_token)
    assert put.status_code == 200, put.data
    return listing_id


def hold_body(*items: dict, email: str = "tessa@example.com") -> dict:
    return {"items": list(items), "contact": {"email": email, "name": "Tessa Traveler"}}


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def hold_a_night(api, token: str, hotel: str, offset: int = 2) -> str:
    """A one-night, one-room hold of `hotel`, `offset` days from today; returns the booking id."""
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(offset),
                                         "check_out": day(offset + 1)}), token=token, headers=key())
    assert held.status_code == 201, held.data
    return held.data["booking_id"]


def pay_booking(api, token: str, booking_id: str, method: str = "tok_visa", headers: dict | None = None):
    return api.post(f"/bookings/{booking_id}/payment", {"payment_method": method}, token=token,
                    headers=headers or key())
