"""The support desk over HTTP: an agent finds a traveler's booking by reference and by email."""
from __future__ import annotations

import uuid

from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day


def test_an_agent_finds_a_booking_by_reference_and_by_email(stack):
    vendor = stack.auth("vendor@example.com")
    agent = stack.auth("agent@example.com")
    traveler = stack.new_traveler("desk")
    event = create_listing(stack, vendor, kind="event", capacity=3, price=2500, city="OSL")
    email = f"desk-{uuid.uuid4().hex[:8]}@example.com"
    held = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": event, "quantity": 1, "date": day(6)}],
        "contact": {"email": email, "name": "Desk Traveler"}}, timeout=TIMEOUT).json()

    by_reference = stack.http.get(stack.url("/agent/bookings"), params={"reference": held["reference"].lower()},
                                  headers=agent, timeout=TIMEOUT)
    by_email = stack.http.get(stack.url("/agent/bookings"), params={"email": email.upper()}, headers=agent,
                              timeout=TIMEOUT)
    assert [b["booking_id"] for b in by_reference.json()["bookings"]] == [held["booking_id"]]
    assert [b["booking_id"] for b in by_email.json()["bookings"]] == [held["booking_id"]]
    assert by_email.json()["bookings"][0]["timeline"][0]["status"] == "HELD"
    refused = stack.http.get(stack.url("/agent/bookings"), params={"email": email}, headers=traveler,
                             timeout=TIMEOUT)
    assert refused.status_code == 403
