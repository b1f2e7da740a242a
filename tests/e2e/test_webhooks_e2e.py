"""Vendor webhooks end to end: over HTTP against a local stack of this module's own (started as
`make run` starts it), the event runner delivering the webhook queue as Lambda would, and a real
HTTP receiver on loopback verifying every delivery with the Standard Webhooks library
(tests/webhook_receiver.py).

The stack runs a retry schedule of seconds (first retry after 0.5-1 s, never more than 1 s apart,
given up 6 s after the first try), so retries and dead-lettering happen while the test waits.
Each test signs up a vendor of its own (an admin creates it): its webhook, its events, its
deliveries list and its replay concern that test alone.
"""
from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
import requests
from standardwebhooks import Webhook, WebhookVerificationError

from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day, wait_for_status
from tests.webhook_receiver import Receiver

WINDOW_SECONDS = 6
SCHEDULE = {
    "ITINERA_WEBHOOK_RETRY_BASE_SECONDS": "1",
    "ITINERA_WEBHOOK_RETRY_MAX_DELAY_SECONDS": "1",
    "ITINERA_WEBHOOK_RETRY_WINDOW_SECONDS": str(WINDOW_SECONDS),
    "ITINERA_WEBHOOK_TIMEOUT_SECONDS": "2",
}
DLQ = "itinera-local-webhooks-dlq"
PASSWORD = "Hooks-pass-123"
PRICE = 6000


@pytest.fixture(scope="module")
def stack():
    """This module's own stack (it overrides the session's: its retry schedule is seconds)."""
    started = start_stack(SCHEDULE, args=("--no-seed",))
    yield started
    stop_stack(started)


@pytest.fixture
def receivers():
    """Starts receivers on loopback; every one is stopped after the test."""
    started: list[Receiver] = []

    def start(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture
def vendor(stack) -> dict[str, str]:
    """A vendor of the test's own, created by an admin, signed in with its new password."""
    email = f"hooks-{uuid.uuid4().hex[:10]}@example.com"
    created = stack.http.post(stack.url("/admin/vendors"), headers=stack.auth("admin@example.com"),
                              json={"name": "Hooks Vendor", "email": email}, timeout=TIMEOUT)
    assert created.status_code == 201, created.text
    tokens = stack.http.post(stack.url("/auth/new-password"), timeout=TIMEOUT, json={
        "email": email, "temporary_password": created.json()["temporary_password"], "new_password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['id_token']}"}


@pytest.fixture
def listing(stack, vendor) -> str:
    return create_listing(stack, vendor, kind="event", capacity=10, price=PRICE, city="LIS")


# --- helpers ----------------------------------------------------------------------------------


def set_webhook(stack, vendor: dict[str, str], receiver: Receiver) -> str:
    """Points the vendor's webhook at the receiver; the receiver verifies with the secret."""
    answer = stack.http.put(stack.url("/vendor/webhook"), headers=vendor, json={"url": receiver.url},
                            timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == receiver.url and answer.json()["secret"].startswith("whsec_")
    receiver.secrets.append(answer.json()["secret"])
    return answer.json()["secret"]


def confirmed_booking(stack, listing: str, traveler: dict[str, str] | None = None,
                      offset: int = 20) -> tuple[str, dict[str, str]]:
    """A fresh traveler holds a unit and pays; returns the booking once CONFIRMED."""
    traveler = traveler or stack.new_traveler("hooks")
    held = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": listing, "quantity": 1, "date": day(offset)}],
        "contact": {"email": f"hooks-{uuid.uuid4().hex[:6]}@example.com", "name": "Hooks Traveler"}},
        timeout=TIMEOUT)
    assert held.status_code == 201, held.text
    booking_id = held.json()["booking_id"]
    paid = stack.http.post(stack.url(f"/bookings/{booking_id}/payment"), json={"payment_method": "tok_visa"},
                           headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert paid.status_code == 202, paid.text
    wait_for_status(stack, booking_id, traveler, "CONFIRMED")
    return booking_id, traveler


def deliveries(stack, vendor: dict[str, str]) -> list[dict[str, Any]]:
    page = stack.http.get(stack.url("/vendor/webhook/deliveries"), headers=vendor, params={"limit": "50"},
                          timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    return page.json()["deliveries"]


def eventually(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.25)


def delivery_of(stack, vendor: dict[str, str], event_id: str, outcome: str, seconds: float = 20) -> dict[str, Any]:
    """The event's row of the deliveries list once it shows `outcome`."""
    def row() -> dict[str, Any] | None:
        found = [d for d in deliveries(stack, vendor) if d["event_id"] == event_id]
        return found[0] if found and found[0]["outcome"] == outcome else None
    return eventually(row, seconds, f"{event_id} {outcome}: {deliveries(stack, vendor)}")


def dead_letters(stack, seconds: float = 15) -> Callable[[str], dict[str, Any]]:
    sqs = stack.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]

    def find(event_id: str) -> dict[str, Any]:
        seen: list[dict[str, Any]] = []

        def look() -> dict[str, Any] | None:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                               VisibilityTimeout=0).get("Messages", []):
                seen.append(json.loads(message["Body"]))
            return next((m for m in seen if m.get("event_id") == event_id), None)
        return eventually(look, seconds, f"{event_id} in {DLQ}")
    return find


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- tests ------------------------------------------------------------------------------------


def test_a_confirmation_reaches_the_vendor_signed_and_verified(stack, vendor, listing, receivers):
    receiver = receivers()
    secret = set_webhook(stack, vendor, receiver)
    booking_id, _ = confirmed_booking(stack, listing)
    [event] = receiver.wait_for(1)
    [got] = receiver.received
    assert got.verified_with == [secret] and got.answered == 200
    assert event["type"] == "booking.confirmed" and event["sequence"] == 1
    assert event["id"] == got.headers["webhook-id"] and event["id"].startswith("evt_")
    assert event["booking"]["booking_id"] == booking_id and event["booking"]["status"] == "CONFIRMED"
    row = delivery_of(stack, vendor, event["id"], "delivered")
    assert (row["booking_id"], row["sequence"], row["attempts"], row["last_status_code"]) == (booking_id, 1, 1, 200)
    assert receiver.bad_signatures == 0


def test_a_bookings_events_arrive_in_sequence_order(stack, vendor, listing, receivers):
    receiver = receivers()
    set_webhook(stack, vendor, receiver)
    booking_id, traveler = confirmed_booking(stack, listing)
    refunded = stack.http.post(stack.url(f"/bookings/{booking_id}/refunds"), json={"amount": 1000, "reason": "e2e"},
                               headers={**stack.auth("agent@example.com"), "Idempotency-Key": uuid.uuid4().hex},
                               timeout=TIMEOUT)
    assert refunded.status_code == 201, refunded.text
    cancel = stack.http.post(stack.url(f"/bookings/{booking_id}/cancel"), json={}, headers=traveler,
                             timeout=TIMEOUT)
    assert cancel.status_code == 202, cancel.text
    wait_for_status(stack, booking_id, traveler, "CANCELLED")
    got = receiver.wait_for(3)
    assert [(e["sequence"], e["type"]) for e in got] == [
        (1, "booking.confirmed"), (2, "booking.refunded"), (3, "booking.cancelled")]
    assert {e["booking"]["booking_id"] for e in got} == {booking_id}
    assert got[1]["refund"]["amount"] == {"amount": 1000, "currency": "EUR"}
    assert [r.headers["webhook-id"] for r in receiver.received] == [e["id"] for e in got]
    assert receiver.bad_signatures == 0


def test_a_receiver_answering_500_twice_gets_the_event_on_the_third_try(stack, vendor, listing, receivers):
    receiver = receivers(script=[500, 500])
    set_webhook(stack, vendor, receiver)
    confirmed_booking(stack, listing)
    [event] = receiver.wait_for(1)
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert {r.headers["webhook-id"] for r in receiver.received} == {event["id"]}  # one event, tried 3 times
    row = delivery_of(stack, vendor, event["id"], "delivered")
    assert (row["attempts"], row["last_status_code"], row["sequence"]) == (3, 200, 1)
    assert row["delivered_at"] and row["replays"] == 0
    assert receiver.bad_signatures == 0


def test_a_receiver_down_is_dead_lettered_then_replay_delivers_the_original(stack, vendor, listing, receivers):
    receiver = receivers()
    set_webhook(stack, vendor, receiver)
    receiver.stop()  # down: connection refused on its port
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    booking_id, _ = confirmed_booking(stack, listing)
    [row] = eventually(lambda: [d for d in deliveries(stack, vendor) if d["outcome"] == "dead_lettered"],
                       WINDOW_SECONDS + 20, "the event dead-lettered")
    assert (row["booking_id"], row["sequence"], row["type"]) == (booking_id, 1, "booking.confirmed")
    assert row["attempts"] >= 2 and "last_status_code" not in row and row["last_error"]
    dead = dead_letters(stack)(row["event_id"])
    assert (dead["booking_id"], dead["sequence"], dead["event_type"]) == (booking_id, 1, "booking.confirmed")

    receiver.start(port=receiver.port)  # up again, same address
    replayed = stack.http.post(stack.url("/vendor/webhook/replay"), headers=vendor, json={"since": iso(since)},
                               timeout=TIMEOUT)
    assert replayed.status_code == 202, replayed.text
    assert replayed.json()["status"] == "accepted"
    [event] = receiver.wait_for(1)
    assert (event["id"], event["sequence"], event["type"]) == (row["event_id"], 1, "booking.confirmed")
    assert receiver.received[0].headers["webhook-id"] == row["event_id"]
    after = delivery_of(stack, vendor, row["event_id"], "delivered")
    assert after["replays"] == 1 and after["last_status_code"] == 200
    assert receiver.bad_signatures == 0


def test_during_a_rotation_the_old_and_the_new_secret_both_verify_the_same_delivery(
        stack, vendor, listing, receivers):
    receiver = receivers()
    old = set_webhook(stack, vendor, receiver)
    rotated = stack.http.post(stack.url("/vendor/webhook/rotate"), headers=vendor, timeout=TIMEOUT)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old and rotated.json()["previous_secret_expires_at"]
    receiver.secrets = [old]  # the vendor's server has not taken the new secret yet
    confirmed_booking(stack, listing)
    [event] = receiver.wait_for(1)
    [got] = receiver.received
    assert got.verified_with == [old] and len(got.headers["webhook-signature"].split(" ")) == 2
    # A server that holds only the new secret verifies the very same request (sent on to it as is).
    updated = receivers(secrets=[new])
    forwarded = requests.post(updated.url, data=got.body.encode(), timeout=TIMEOUT,
                              headers={k: v for k, v in got.headers.items() if k.startswith("webhook-")})
    assert forwarded.status_code == 200
    [again] = updated.received
    assert again.verified_with == [new] and again.event["id"] == event["id"]
    with pytest.raises(WebhookVerificationError):  # a secret that is neither does not verify it
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got.body, got.headers)
    assert receiver.bad_signatures == updated.bad_signatures == 0
