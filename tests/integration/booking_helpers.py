"""Catalog set-up for booking tests, through the vendor API like a real vendor."""
from __future__ import annotations

import time
import uuid
from datetime import date, timedelta

TODAY = date.today()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def make_listing(api, vendor_token: str, *, kind: str = "hotel", capacity: int = 10, price: int = 10000,
                 days: int = 40, policy: tuple[int, int] = (48, 50), currency: str = "EUR") -> str:
    """A listing on sale from today for `days` days. A test's first listing is made once per
    test process and copied for the others (tests.conftest.world_once): a 40-day calendar is a
    40-item transaction, about a second in moto."""
    import jwt

    from chalicelib.core import clock
    from tests.conftest import world_once

    vendor = jwt.decode(vendor_token, options={"verify_signature": False})["sub"]
    moved = round(clock.now() - time.time())  # a test that moved the clock first: a listing made then
    return world_once(("listing", vendor, kind, capacity, price, days, policy, currency, TODAY, moved),
                      lambda: _create_listing(api, vendor_token, kind=kind, capacity=capacity, price=price,
                                              days=days, policy=policy, currency=currency))


def _create_listing(api, vendor_token: str, *, kind: str, capacity: int, price: int, days: int,
                    policy: tuple[int, int], currency: str) -> str:
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
