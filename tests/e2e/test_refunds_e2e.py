"""Agent refunds over HTTP against the local stack (the emulator serializes DynamoDB like the
real one isolates transactions): partial, up to the capture, never more, even 20 at once."""
from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day, mailbox, wait_for_status

PRICE = 6000


@pytest.fixture
def confirmed(stack):
    """A CONFIRMED booking of a fresh traveler: 6000 EUR cents captured."""
    vendor = stack.auth("vendor@example.com")
    traveler = stack.new_traveler("refunds")
    event = create_listing(stack, vendor, kind="event", capacity=5, price=PRICE, city="LIS")
    held = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": event, "quantity": 1, "date": day(12)}],
        "contact": {"email": f"refunds-{uuid.uuid4().hex[:6]}@example.com", "name": "Refund Traveler"}},
        timeout=TIMEOUT).json()
    paid = stack.http.post(stack.url(f"/bookings/{held['booking_id']}/payment"), json={"payment_method": "tok_visa"},
                           headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert paid.status_code == 202, paid.text
    wait_for_status(stack, held["booking_id"], traveler, "CONFIRMED")
    return held, traveler


def refund(stack, headers, booking_id, amount, key=None):
    return stack.http.post(stack.url(f"/bookings/{booking_id}/refunds"), json={"amount": amount, "reason": "e2e"},
                           headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex}, timeout=TIMEOUT)


def ledger_total(stack, agent, booking_id) -> int:
    entries = stack.http.get(stack.url(f"/bookings/{booking_id}/audit"), headers=agent, timeout=TIMEOUT).json()
    return sum(e["amount"]["amount"] for e in entries["entries"] if e["action"] == "refund")


def test_partial_then_the_rest_then_refused_and_the_traveler_is_emailed(stack, confirmed):
    held, traveler = confirmed
    agent = stack.auth("agent@example.com")
    booking_id = held["booking_id"]
    assert refund(stack, agent, booking_id, 2000).status_code == 201
    assert refund(stack, agent, booking_id, PRICE - 2000).status_code == 201
    over = refund(stack, agent, booking_id, 1)
    assert over.status_code == 409 and over.json()["error"]["code"] == "REFUND_EXCEEDS_CAPTURED"
    booking = stack.http.get(stack.url(f"/bookings/{booking_id}"), headers=traveler, timeout=TIMEOUT).json()
    assert booking["refunded_amount"]["amount"] == PRICE == ledger_total(stack, agent, booking_id)
    for who in (traveler, stack.auth("vendor@example.com")):
        assert refund(stack, who, booking_id, 1).status_code == 403
    wanted = f"Refund for booking {held['reference']}"
    assert wait_for(lambda: sum(wanted == (m["subject"] or "") for m in mailbox(stack)) == 2)


def test_twenty_concurrent_refunds_never_pass_the_capture_and_one_key_refunds_once(stack, confirmed):
    held, _ = confirmed
    agent = stack.auth("agent@example.com")
    booking_id = held["booking_id"]
    barrier = threading.Barrier(20)
    same_key = uuid.uuid4().hex

    def one(i):
        barrier.wait()
        # Four of them are one request sent four times (the same key): it refunds once.
        return refund(stack, agent, booking_id, 500 if i < 4 else 1000, key=same_key if i < 4 else None)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(one, range(20)))
    assert {a.status_code for a in answers} <= {201, 409, 503}, [a.text for a in answers]
    booking = stack.http.get(stack.url(f"/bookings/{booking_id}"), headers=agent, timeout=TIMEOUT).json()
    refunded = booking["refunded_amount"]["amount"]
    assert refunded == ledger_total(stack, agent, booking_id) <= booking["captured_amount"]["amount"] == PRICE
    twins = {a.json().get("refund_id") for a in answers[:4] if a.status_code == 201}
    assert len(twins) <= 1


def wait_for(condition, seconds: float = 20) -> bool:
    import time
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
