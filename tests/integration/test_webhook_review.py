"""Adversarial review of vendor webhooks (API.md "Vendors"; the webhooks issue).

Each test is an attack on the feature, kept as a regression: nine found defects (fixed since:
a refund losing to a twin's event number, the last try of the window skipped, no window for an
event queued behind a failing one, contact details of an unpaid hold, DNS outside the timeout,
an event stuck behind an in-flight head, a replayed event expiring mid-retry, a DLQ redrive
doing nothing, a 500 on a far-past `since`); the others held up.
Time moves on the service clock (core.clock), as in test_webhooks.py.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime

import pytest

from chalicelib.booking import records, refunds, service
from chalicelib.booking.models import RefundRecord
from chalicelib.core import clock
from chalicelib.core.config import settings
from chalicelib.notify import delivery, destinations, webhook_rules, webhooks, workers
from chalicelib.notify.models import WebhookEvent
from tests.integration.booking_helpers import hold_a_night, hold_body, day, key, pay_booking
from tests.integration import test_webhooks as base
from tests.integration.test_webhooks import (WINDOW, confirmed_booking, confirmed_trip, dead_letters, deliver, events_of,
                                             kicked_streams, set_webhook, take_messages)
from tests.webhook_receiver import Receiver

# test_webhooks.py's fixtures: the quick retry schedule (autouse), a loopback receiver, a hotel.
quick_schedule, receiver, hotel = base.quick_schedule, base.receiver, base.hotel

VENDOR = "ven_aurora"


def stream_of(booking_id: str, vendor_id: str = VENDOR) -> str:
    return webhook_rules.stream_of(vendor_id, booking_id)


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def the_event(booking_id: str, sequence: int) -> WebhookEvent:
    return WebhookEvent.get(stream_of(booking_id), sequence, consistent_read=True)


def run_until_settled(booking_id: str, *, late_by: float = 0.0, limit: int = 500) -> None:
    """Flushes the booking's stream each time its head is due, as the delayed messages would,
    until nothing is pending. `late_by`: how late the kick of an attempt due at the very end of
    the retry window comes (the relay's grace and its one-minute schedule)."""
    stream = stream_of(booking_id)
    for _ in range(limit):
        waiting = [e for e in events_of(booking_id) if e.status == webhook_rules.PENDING]
        if not waiting:
            return
        head = waiting[0]
        due = float(head.due_at or clock.now())
        at_deadline = due >= float(head.retry_from) + WINDOW - 0.001
        target = due + (late_by if at_deadline and head.attempts else 0.0)
        if target > clock.now():
            clock.advance(target - clock.now())
        delivery.flush(stream)
    raise AssertionError("the stream never settled")


# --- (4) sequence numbers: two refunds of one booking at once ------------------------------------


def test_two_refunds_recorded_at_once_are_both_recorded_with_their_own_sequence(
        api, tokens, fake, hotel, receiver, monkeypatch):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = confirmed_booking(api, tokens, hotel)
    fake.fail_next("refund", times=2)  # both reserved, neither recorded yet (503)
    for amount in (1000, 2000):
        answer = api.post(f"/bookings/{booking_id}/refunds", {"amount": amount, "reason": "Noise"},
                          token=tokens["agent"], headers=key())
        assert answer.status_code == 503
    reserved = {int(r.amount): r for r in RefundRecord.query(booking_id)}
    original, raced = refunds._record, []

    def racing(booking, record, done):
        # Agent A's provider call came back; agent B's refund is recorded before A's write.
        if int(record.amount) == 1000 and not raced:
            raced.append(True)
            refunds._complete(reserved[2000])
        return original(booking, record, done)

    monkeypatch.setattr(refunds, "_record", racing)
    refunds._complete(reserved[1000])

    first = refunds._get(booking_id, reserved[1000].refund_key)
    assert first.status == refunds.SUCCEEDED  # stays RESERVED: not in the ledger, not in refunded_amount
    assert records.load(booking_id).refunded_amount == 3000
    assert [int(e.sequence) for e in events_of(booking_id)] == [1, 2, 3]


# --- (2) retries for the whole window, then the dead-letter queue --------------------------------


def test_the_last_attempt_is_made_at_the_end_of_the_window_even_when_the_relay_kicks_it_late(
        api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [503] * 1000  # up, but failing for the whole window
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    [event] = events_of(booking_id)
    deadline = float(event.retry_from) + WINDOW
    # The attempt due at the deadline is started by the relay: due + grace, within the minute.
    run_until_settled(booking_id, late_by=workers.RELAY_GRACE_SECONDS + 15)
    [event] = events_of(booking_id)
    [dead] = dead_letters()
    assert event.status == webhook_rules.DEAD
    assert epoch(event.last_attempt_at) >= deadline  # tried for the whole window
    assert (dead["last_status"], dead["last_error"]) == (503, "HTTP 503")
    assert int(event.last_status) == 503  # the deliveries list keeps what the receiver answered


def test_an_event_queued_behind_a_failing_head_still_gets_its_own_retry_window(
        api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.stop()  # down: connection refused
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()  # the confirmation's first attempt fails
    clock.advance(5)
    assert api.post(f"/bookings/{booking_id}/refunds", {"amount": 500, "reason": "Noise"},
                    token=tokens["agent"], headers=key()).status_code == 201
    take_messages()
    first_tried: dict[int, float] = {}
    stream = stream_of(booking_id)
    for _ in range(500):
        waiting = [e for e in events_of(booking_id) if e.status == webhook_rules.PENDING]
        if not waiting:
            break
        due = float(waiting[0].due_at)
        if due > clock.now():
            clock.advance(due - clock.now())
        delivery.flush(stream)
        for e in events_of(booking_id):
            if e.attempts and int(e.sequence) not in first_tried:
                first_tried[int(e.sequence)] = epoch(e.last_attempt_at)
    confirmation, refunded = events_of(booking_id)
    assert (confirmation.status, refunded.status) == ("DEAD", "DEAD")
    assert int(confirmation.attempts) > 5
    # Refund event: first tried when the confirmation was given up; then at least the window.
    assert epoch(refunded.last_attempt_at) - first_tried[2] >= WINDOW
    assert int(refunded.attempts) > 1


def test_a_replayed_event_is_kept_until_its_retry_window_is_over(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    clock.advance(webhook_rules.RETENTION_DAYS * 86400 - 120)  # replay reaches back 30 days
    assert api.post("/vendor/webhook/replay", {"since": "2000-01-01T00:00:00Z"},
                    token=tokens["vendor"]).status_code == 202
    records_ = take_messages()
    workers.handle_webhooks({"Records": [r for r in records_ if "webhook-replay" in r["body"]]}, None)
    [event] = events_of(booking_id)
    assert event.status == webhook_rules.PENDING
    assert event.expires_at.timestamp() >= float(event.retry_from) + settings().webhook_retry_window_seconds


# --- (9) the time budget: an attempt is bounded by its timeout -----------------------------------


def test_an_attempt_including_its_dns_lookup_ends_within_the_timeout():
    def slow_dns(host, port, **kwargs):
        time.sleep(2.0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    started = time.monotonic()
    answer = destinations.post("https://hooks.example.com/in", b"{}", {}, timeout=0.5, allow_private=False,
                               resolver=slow_dns)
    assert answer == destinations.Answer(None, "timeout")
    assert time.monotonic() - started < 1.0


# --- (7) API edge cases --------------------------------------------------------------------------


def test_replay_since_the_first_instant_with_an_offset_is_4xx_not_500(api, tokens, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    answer = api.post("/vendor/webhook/replay", {"since": "0001-01-01T00:00:00+01:00"}, token=tokens["vendor"])
    assert answer.status_code in (202, 400), answer.data


# --- (1) prompt, in-order delivery ---------------------------------------------------------------


def test_an_event_written_while_its_streams_head_is_in_flight_follows_it_without_the_relay(
        api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.delay_seconds = 1.0
    booking_id = confirmed_booking(api, tokens, hotel)
    first_messages = take_messages()
    worker = threading.Thread(target=workers.handle_webhooks, args=({"Records": first_messages}, None))
    worker.start()
    deadline = time.monotonic() + 5
    while the_event(booking_id, 1).lease_until is None and time.monotonic() < deadline:
        time.sleep(0.02)  # the confirmation is claimed and on its way
    assert api.post(f"/bookings/{booking_id}/refunds", {"amount": 500, "reason": "Noise"},
                    token=tokens["agent"], headers=key()).status_code == 201
    deliver()  # the refund event's own message, while the confirmation is in flight
    worker.join()
    deliver()  # whatever the workers handed on
    assert [e["sequence"] for e in receiver.delivered()] == [1, 2]


# --- privacy of the vendor's view ----------------------------------------------------------------


def test_a_hold_cancelled_before_payment_does_not_tell_the_vendor_who_the_traveler_is(
        api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 30)
    cancelled = api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"], headers=key())
    assert cancelled.status_code < 300, cancelled.data
    deliver()
    [event] = receiver.delivered()
    assert (event["type"], event["booking"]["status"]) == ("booking.cancelled", "CANCELLED")
    assert "contact" not in event["booking"]


# --- operations: the dead-letter queue ----------------------------------------------------------


def test_redriving_the_webhook_dead_letter_queue_sends_the_events_again(api, tokens, hotel, receiver):
    import boto3

    from chalicelib.core import queues

    set_webhook(api, tokens["vendor"], receiver)
    receiver.stop()
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    run_until_settled(booking_id)
    [event] = events_of(booking_id)
    assert event.status == webhook_rules.DEAD
    receiver.start(port=receiver.port)
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq = queues.queue_url(queues.dead_letter_queue(queues.WEBHOOKS))
    [message] = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    # StartMessageMoveTask: the DLQ's messages go back to the webhook queue as they are.
    workers.handle_webhooks({"Records": [{"messageId": message["MessageId"], "body": message["Body"]}]}, None)
    deliver()
    assert [e["id"] for e in receiver.delivered()] == [event.event_id]


# --- attacks that held up (regressions) ----------------------------------------------------------


def test_a_failing_receiver_kicked_on_time_gets_its_last_attempt_at_the_end_of_the_window(
        api, tokens, hotel, receiver):
    """The companion of the late-kick test above: the harness itself is sound."""
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [503] * 1000
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    [event] = events_of(booking_id)
    deadline = float(event.retry_from) + WINDOW
    run_until_settled(booking_id)
    [event] = events_of(booking_id)
    [dead] = dead_letters()
    assert event.status == webhook_rules.DEAD and epoch(event.last_attempt_at) >= deadline - 0.001
    assert (dead["event_id"], dead["last_status"]) == (event.event_id, 503)


def test_a_transition_retried_after_a_transaction_conflict_takes_one_sequence_number(
        api, tokens, hotel, receiver, monkeypatch):
    from chalicelib.booking import transactions

    set_webhook(api, tokens["vendor"], receiver)
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 30)
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    original, conflicts = transactions.LabelledTransaction.commit, []

    def conflicting_once(self):
        announces = any(label and label[0] == "webhook" for labels in self.labels.values() for label in labels)
        if announces and not conflicts:
            conflicts.append(True)
            return [transactions.Failure(("booking",), "TransactionConflict", None)]
        return original(self)

    monkeypatch.setattr(transactions.LabelledTransaction, "commit", conflicting_once)
    assert service.confirm_booking(booking_id) == "confirmed"
    assert conflicts
    assert [int(e.sequence) for e in events_of(booking_id)] == [1]
    assert records.load(booking_id).event_seq == 1
    deliver()
    assert [(e["sequence"], e["type"]) for e in receiver.delivered()] == [(1, "booking.confirmed")]


def test_unicode_in_the_booking_is_signed_as_the_exact_bytes_sent(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    body = hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(30), "check_out": day(31)})
    body["contact"]["name"] = "Zoë Ünïcødé 🚀 李小龍 \u2028"
    held = api.post("/holds", body, token=tokens["traveler"], headers=key())
    assert held.status_code == 201, held.data
    assert pay_booking(api, tokens["traveler"], held.data["booking_id"]).status_code == 202
    assert service.confirm_booking(held.data["booking_id"]) == "confirmed"
    deliver()
    [got] = receiver.received
    assert got.verified_with == receiver.secrets and got.answered == 200
    assert got.event["booking"]["contact"]["name"] == held.data["contact"]["name"]


def test_outside_the_local_stage_the_worker_refuses_a_loopback_endpoint_at_delivery(
        api, tokens, hotel, receiver, monkeypatch):
    set_webhook(api, tokens["vendor"], receiver)  # accepted on the local stage only
    booking_id = confirmed_booking(api, tokens, hotel)
    kicked_streams()
    with monkeypatch.context() as stage:
        stage.setenv("ITINERA_STAGE", "prod")
        settings.cache_clear()
        assert not settings().webhook_allow_private
        delivery.flush(stream_of(booking_id))
    settings.cache_clear()
    assert receiver.received == []
    [event] = events_of(booking_id)
    assert event.status == webhook_rules.PENDING and event.last_error.startswith("refused destination")
    assert "127.0.0.1" not in event.last_error


def test_outside_the_local_stage_metadata_and_loopback_forms_are_refused_at_put(monkeypatch):
    monkeypatch.setenv("ITINERA_STAGE", "prod")
    settings.cache_clear()
    try:
        for url in ("https://[::ffff:169.254.169.254]/", "https://2130706433/", "https://0x7f.1/",
                    "https://[fd00:ec2::254]/", "https://127.1./", "http://93.184.215.14/"):
            with pytest.raises(Exception) as refused:
                webhooks.set_endpoint("ven_nobody", url)
            assert "url" in json.dumps(refused.value.body()), url
    finally:
        settings.cache_clear()


@pytest.mark.parametrize("url", ["http://" + "a" * 3000 + ".example/", 12345, "http://exa mple.com/",
                                 "http://[::1/", "http://a..b/", "javascript:alert(1)"])
def test_a_bad_url_is_400_naming_url_never_500(api, tokens, url):
    answer = api.put("/vendor/webhook", {"url": url}, token=tokens["vendor"])
    assert answer.status_code == 400, answer.data
    assert "url" in answer.data["error"]["details"]["fields"]


def test_a_deliveries_cursor_works_for_its_own_vendor_only(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    confirmed_booking(api, tokens, hotel, 30)
    confirmed_booking(api, tokens, hotel, 31)
    cursor = api.get("/vendor/webhook/deliveries?limit=1", token=tokens["vendor"]).data["next_cursor"]
    assert cursor
    for token, tampered in ((tokens["vendor2"], cursor), (tokens["vendor"], cursor[:-2] + "AA")):
        answer = api.get(f"/vendor/webhook/deliveries?cursor={tampered}", token=token)
        assert answer.status_code == 400 and "cursor" in answer.data["error"]["details"]["fields"]
    assert api.get("/vendor/webhook/deliveries", token=tokens["vendor2"]).data["deliveries"] == []


def test_a_vendor_replays_its_own_streams_only(api, tokens, hotel):
    first, second = Receiver().start(), Receiver().start()
    try:
        set_webhook(api, tokens["vendor"], first)
        set_webhook(api, tokens["vendor2"], second)
        booking_id, _ = confirmed_trip(api, tokens, hotel)
        deliver()
        assert api.post("/vendor/webhook/replay", {"since": "2000-01-01T00:00:00+05:00"},
                        token=tokens["vendor2"]).status_code == 202
        deliver()
        deliver()
        assert len(first.delivered()) == 1 and len(second.delivered()) == 2
        assert second.delivered()[0]["id"] == second.delivered()[1]["id"]
    finally:
        first.stop()
        second.stop()


def test_concurrent_rotations_and_puts_never_lose_the_current_secret_or_fail_with_5xx(api, tokens, receiver):
    from chalicelib.core.errors import InvalidState

    set_webhook(api, tokens["vendor"], receiver)
    vendor_id = "ven_aurora"
    answers: list[object] = []

    def rotate() -> None:
        try:
            answers.append(webhooks.rotate_secret(vendor_id).secrets[0].secret)
        except InvalidState as exc:  # 409: "being changed by another request"
            answers.append(exc)

    def repoint() -> None:
        try:
            webhooks.set_endpoint(vendor_id, receiver.url)
        except InvalidState as exc:
            answers.append(exc)

    threads = [threading.Thread(target=rotate) for _ in range(4)] + [threading.Thread(target=repoint)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = webhooks.get_endpoint(vendor_id)
    issued = [a for a in answers if isinstance(a, str)]
    assert issued and stored.secrets[0].secret in issued
    assert len(stored.secrets) <= webhook_rules.MAX_SECRETS
    assert "secret" not in api.get("/vendor/webhook", token=tokens["vendor"]).data
