"""Hold expiry on a stack whose holds last 3 seconds (ITINERA_HOLD_SECONDS, passed through by
the runner like `make run` does): payment refused at once, units back within the sweeper's minute."""
from __future__ import annotations

import time
import uuid

import pytest

from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day, mailbox, wait_for_status


@pytest.fixture(scope="module")
def short_holds():
    # The sweeper's minute scaled to 6 s: the test waits for one sweep, not for a minute.
    stack = start_stack({"ITINERA_HOLD_SECONDS": "3", "ITINERA_SCHEDULE_SCALE": "0.1"}, args=("--no-seed",))
    yield stack
    stop_stack(stack)


def test_expired_hold_refuses_payment_and_is_released_within_a_minute(short_holds):
    stack = short_holds
    vendor = stack.auth("vendor@example.com")
    traveler = stack.auth("traveler@example.com")
    event = create_listing(stack, vendor, kind="event", capacity=2, price=4000, city="TYO")
    held = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": event, "quantity": 2, "date": day(5)}],
        "contact": {"email": "tessa@example.com", "name": "Tessa"}}, timeout=TIMEOUT).json()
    assert held["status"] == "HELD"
    time.sleep(3.5)
    paid = stack.http.post(stack.url(f"/bookings/{held['booking_id']}/payment"), json={"payment_method": "tok_visa"},
                           headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert paid.status_code == 409 and paid.json()["error"]["code"] == "HOLD_EXPIRED"
    # It reads EXPIRED at once; the sweeper releases its units within the minute.
    expired = wait_for_status(stack, held["booking_id"], traveler, "EXPIRED", seconds=5)
    assert expired["available_actions"] == []
    deadline = time.monotonic() + 75
    while stack.http.get(stack.url(f"/listings/{event}/availability"), params={"from": day(5), "to": day(5)},
                         timeout=TIMEOUT).json()["days"][0]["available"] != 2:
        assert time.monotonic() < deadline, "the expired hold's units were not released within 75 s"
        time.sleep(1)
    deadline = time.monotonic() + 15
    while not any(held["reference"] in (m["subject"] or "") and "expired" in m["subject"].lower()
                  for m in mailbox(stack)):
        assert time.monotonic() < deadline, [m["subject"] for m in mailbox(stack)]
        time.sleep(0.5)
