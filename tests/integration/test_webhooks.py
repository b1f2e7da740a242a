"""Vendor webhooks through the API, the booking workers and the webhook worker, on the emulator,
with a real HTTP receiver on loopback verifying every delivery (tests/webhook_receiver.py).

Time: retries are due on the service clock (core.clock), so a test moves it forward instead of
sleeping, and hands the worker the streams itself (the queue's delayed messages would arrive in
real seconds)."""
from __future__ import annotations

import json
import threading
import time

import boto3
import pytest

from chalicelib.booking import service
from chalicelib.core import clock, queues
from chalicelib.core.config import settings
from chalicelib.notify import delivery, outbox, webhook_rules, webhooks, workers
from chalicelib.notify.models import WebhookEvent
from tests.integration.booking_helpers import day, hold_a_night, hold_body, key, make_listing, pay_booking
from tests.webhook_receiver import Receiver

WINDOW = 600  # the retry window these tests run with (service-clock seconds)


@pytest.fixture(autouse=True)
def quick_schedule(monkeypatch):
    monkeypatch.setenv("ITINERA_WEBHOOK_RETRY_BASE_SECONDS", "10")
    monkeypatch.setenv("ITINERA_WEBHOOK_RETRY_MAX_DELAY_SECONDS", "60")
    monkeypatch.setenv("ITINERA_WEBHOOK_RETRY_WINDOW_SECONDS", str(WINDOW))
    monkeypatch.setenv("ITINERA_WEBHOOK_TIMEOUT_SECONDS", "2")
    settings.cache_clear()
    yield
    clock.reset()
    settings.cache_clear()


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=5, price=12000, policy=(960, 50))


def set_webhook(api, token, receiver: Receiver) -> str:
    answer = api.put("/vendor/webhook", {"url": receiver.url}, token=token)
    assert answer.status_code == 200, answer.data
    receiver.secrets.append(answer.data["secret"])
    return answer.data["secret"]


def take_messages() -> list[dict]:
    """Takes the webhook queue's visible messages (SQS records as Lambda delivers them)."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = queues.queue_url(queues.WEBHOOKS)
    records = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return records
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            records.append({"messageId": m["MessageId"], "body": m["Body"]})


def kicked_streams() -> list[str]:
    return [s for r in take_messages() for s in json.loads(r["body"]).get("streams", [])]


def deliver() -> None:
    """The webhook worker's entry point over what waits on its queue, as the event runner would."""
    records = take_messages()
    if records:
        workers.handle_webhooks({"Records": records}, None)


def confirmed_booking(api, tokens, hotel, offset: int = 30) -> str:
    booking_id = hold_a_night(api, tokens["traveler"], hotel, offset)
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    return booking_id


def confirmed_trip(api, tokens, hotel) -> tuple[str, str]:
    """A flight of vendor2's and a night at `hotel` (vendor's), paid and confirmed: (booking, flight)."""
    flight = make_listing(api, tokens["vendor2"], kind="flight", capacity=3, price=30000)
    held = api.post("/holds", hold_body({"listing_id": flight, "quantity": 1, "date": day(30)},
                                        {"listing_id": hotel, "quantity": 1, "check_in": day(30),
                                         "check_out": day(31)}), token=tokens["traveler"], headers=key())
    booking_id = held.data["booking_id"]
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    return booking_id, flight


def events_of(booking_id: str, vendor_id: str = "ven_aurora") -> list[WebhookEvent]:
    return list(WebhookEvent.query(webhook_rules.stream_of(vendor_id, booking_id), consistent_read=True))


def dead_letters() -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = queues.queue_url(queues.dead_letter_queue(queues.WEBHOOKS))
    return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


# --- the endpoint -------------------------------------------------------------------------------


def test_put_returns_a_whsec_secret_that_get_never_shows(api, tokens, receiver):
    secret = set_webhook(api, tokens["vendor"], receiver)
    assert secret.startswith("whsec_")
    shown = api.get("/vendor/webhook", token=tokens["vendor"])
    assert shown.status_code == 200
    assert shown.data["url"] == receiver.url and "secret" not in shown.data


def test_put_again_changes_the_url_and_keeps_the_secret(api, tokens, receiver):
    secret = set_webhook(api, tokens["vendor"], receiver)
    again = api.put("/vendor/webhook", {"url": receiver.url + "/v2"}, token=tokens["vendor"])
    assert again.status_code == 200
    assert again.data["secret"] == secret and again.data["url"] == receiver.url + "/v2"


def test_delete_removes_the_endpoint(api, tokens, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    assert api.delete("/vendor/webhook", token=tokens["vendor"]).status_code == 204
    assert api.get("/vendor/webhook", token=tokens["vendor"]).status_code == 404
    assert api.delete("/vendor/webhook", token=tokens["vendor"]).status_code == 404


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "not a url", "http://user:pw@example.com/"])
def test_a_url_that_cannot_receive_webhooks_is_400_naming_url(api, tokens, url):
    answer = api.put("/vendor/webhook", {"url": url}, token=tokens["vendor"])
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "VALIDATION_ERROR"
    assert "url" in answer.data["error"]["details"]["fields"]


def test_each_vendor_sees_only_its_own_webhook(api, tokens, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    assert api.get("/vendor/webhook", token=tokens["vendor2"]).status_code == 404


# --- delivery -----------------------------------------------------------------------------------


def test_a_confirmation_is_posted_to_the_vendor_signed_with_its_secret(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    [got] = receiver.received
    event = got.event
    assert got.verified_with == receiver.secrets and got.answered == 200
    assert event["type"] == "booking.confirmed" and event["sequence"] == 1
    assert event["id"] == got.headers["webhook-id"] and event["id"].startswith("evt_")
    assert event["booking"]["booking_id"] == booking_id and event["booking"]["status"] == "CONFIRMED"
    assert event["booking"]["contact"]["email"] == "tessa@example.com"


def test_a_trips_vendors_each_get_their_own_items_only(api, tokens, hotel):
    first, second = Receiver().start(), Receiver().start()
    try:
        set_webhook(api, tokens["vendor"], first)
        set_webhook(api, tokens["vendor2"], second)
        booking_id, flight = confirmed_trip(api, tokens, hotel)
        deliver()
        [to_hotel], [to_airline] = first.delivered(), second.delivered()
        assert [i["listing_id"] for i in to_hotel["booking"]["items"]] == [hotel]
        assert [i["listing_id"] for i in to_airline["booking"]["items"]] == [flight]
        assert to_hotel["id"] != to_airline["id"] and to_hotel["sequence"] == to_airline["sequence"] == 1
    finally:
        first.stop()
        second.stop()


def test_a_bookings_events_arrive_in_sequence_order(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = confirmed_booking(api, tokens, hotel)
    assert api.post(f"/bookings/{booking_id}/refunds", {"amount": 1000, "reason": "Noise"},
                    token=tokens["agent"], headers=key()).status_code == 201
    assert api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"], headers=key()).status_code == 202
    assert service.process_cancellation(booking_id) == "cancelled"
    deliver()
    got = receiver.delivered()
    assert [(e["sequence"], e["type"]) for e in got] == [
        (1, "booking.confirmed"), (2, "booking.refunded"), (3, "booking.cancelled")]
    assert got[1]["refund"]["amount"] == {"amount": 1000, "currency": "EUR"}


def test_a_later_event_waits_while_an_earlier_one_is_retried(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [500]
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()  # the confirmation fails once
    api.post(f"/bookings/{booking_id}/refunds", {"amount": 500, "reason": "Noise"}, token=tokens["agent"],
             headers=key())
    deliver()  # the refund's event must not overtake it
    assert receiver.delivered() == []
    clock.advance(61)
    delivery.flush(webhook_rules.stream_of("ven_aurora", booking_id))
    assert [e["sequence"] for e in receiver.delivered()] == [1, 2]


def test_a_receiver_answering_500_twice_gets_the_event_on_the_third_try(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [500, 500]
    booking_id = confirmed_booking(api, tokens, hotel)
    stream = webhook_rules.stream_of("ven_aurora", booking_id)
    deliver()
    for _ in range(2):
        clock.advance(61)
        delivery.flush(stream)
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    [event] = events_of(booking_id)
    assert (event.status, int(event.attempts), int(event.last_status)) == ("DELIVERED", 3, 200)
    assert event.pending is None  # out of the due index


def test_a_failed_attempt_is_retried_by_a_delayed_message(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [503]
    confirmed_booking(api, tokens, hotel)
    sqs = boto3.client("sqs", region_name="us-east-1")
    deliver()
    attributes = sqs.get_queue_attributes(QueueUrl=queues.queue_url(queues.WEBHOOKS),
                                          AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_a_receiver_down_for_the_whole_window_is_dead_lettered_then_replayed(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.stop()  # down: connection refused
    booking_id = confirmed_booking(api, tokens, hotel)
    stream = webhook_rules.stream_of("ven_aurora", booking_id)
    deliver()
    for _ in range(WINDOW // 30 + 5):
        clock.advance(61)
        delivery.flush(stream)
    [event] = events_of(booking_id)
    assert event.status == "DEAD" and int(event.attempts) > 5
    [dead] = dead_letters()
    assert (dead["event_id"], dead["sequence"]) == (event.event_id, 1)

    receiver.start(port=receiver.port)  # up again, same address
    since = "2000-01-01T00:00:00Z"
    replayed = api.post("/vendor/webhook/replay", {"since": since}, token=tokens["vendor"])
    assert replayed.status_code == 202
    deliver()  # the replay message: events reset and their streams kicked
    deliver()  # the streams
    [got] = receiver.delivered()
    assert (got["id"], got["sequence"]) == (event.event_id, 1)  # its original id and sequence


def test_without_an_endpoint_an_event_is_kept_and_replay_sends_it(api, tokens, hotel, receiver):
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    [event] = events_of(booking_id)
    assert event.status == "SKIPPED"
    set_webhook(api, tokens["vendor"], receiver)
    api.post("/vendor/webhook/replay", {"since": "2000-01-01T00:00:00Z"}, token=tokens["vendor"])
    deliver()
    deliver()
    assert [e["id"] for e in receiver.delivered()] == [event.event_id]


def test_a_lost_queue_message_is_sent_again_by_the_relay(api, tokens, hotel, receiver, monkeypatch):
    set_webhook(api, tokens["vendor"], receiver)
    # The process dies between the booking's transaction and the queue message.
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "dispatch", lambda streams, **kw: None)
        booking_id = confirmed_booking(api, tokens, hotel)
    [event] = events_of(booking_id)
    assert event.status == "PENDING"  # the event was written with the change
    assert kicked_streams() == []
    assert workers.relay_due_events(now=clock.now() + workers.RELAY_GRACE_SECONDS + 1) == {"streams": 1}
    deliver()
    assert [e["id"] for e in receiver.delivered()] == [event.event_id]


def test_a_second_worker_finds_an_attempt_in_flight_and_leaves_it(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.delay_seconds = 1.0
    booking_id = confirmed_booking(api, tokens, hotel)
    stream = webhook_rules.stream_of("ven_aurora", booking_id)
    kicked_streams()
    first = threading.Thread(target=delivery.flush, args=(stream,))
    first.start()
    deadline = time.monotonic() + 5
    while events_of(booking_id)[0].lease_until is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until the first worker has claimed the attempt
    assert delivery.flush(stream) == "busy"  # the same message, redelivered: nothing sent
    first.join()
    assert len(receiver.received) == 1


def test_a_claim_made_from_a_stale_read_is_refused(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = confirmed_booking(api, tokens, hotel)
    [stale] = events_of(booking_id)  # read before another worker's attempt
    deliver()
    assert delivery._claim(stale, clock.now()) is None  # conditional on the attempts read
    assert len(receiver.received) == 1


def test_an_expired_hold_is_announced(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 30)
    clock.advance(settings().hold_seconds + 1)
    service.release_expired_holds()
    deliver()
    [event] = receiver.delivered()
    assert (event["type"], event["booking"]["booking_id"]) == ("booking.expired", booking_id)
    assert "contact" not in event["booking"]  # vendors learn who comes only once it is paid


def test_a_hold_that_only_changes_status_to_confirming_announces_nothing(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = hold_a_night(api, tokens["traveler"], hotel, 30)
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    assert events_of(booking_id) == []


# --- rotation, deliveries, replay ---------------------------------------------------------------


def test_during_a_rotation_both_secrets_verify(api, tokens, hotel, receiver):
    old = set_webhook(api, tokens["vendor"], receiver)
    rotated = api.post("/vendor/webhook/rotate", token=tokens["vendor"])
    assert rotated.status_code == 200
    new = rotated.data["secret"]
    assert new != old and "previous_secret_expires_at" in rotated.data
    receiver.secrets = [new, old]
    confirmed_booking(api, tokens, hotel)
    deliver()
    [got] = receiver.received
    assert got.verified_with == [new, old]
    assert len(got.headers["webhook-signature"].split(" ")) == 2


def test_after_the_overlap_only_the_new_secret_signs(api, tokens, hotel, receiver):
    old = set_webhook(api, tokens["vendor"], receiver)
    new = api.post("/vendor/webhook/rotate", token=tokens["vendor"]).data["secret"]
    receiver.secrets = [new, old]
    clock.advance(settings().webhook_secret_overlap_seconds + 1)
    confirmed_booking(api, tokens, hotel)
    deliver()
    [got] = receiver.received
    assert got.verified_with == [new]


def test_deliveries_list_attempts_last_status_and_outcome_newest_first(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [500]
    first = confirmed_booking(api, tokens, hotel, 30)
    deliver()
    second = confirmed_booking(api, tokens, hotel, 31)
    deliver()
    page = api.get("/vendor/webhook/deliveries?limit=1", token=tokens["vendor"])
    assert page.status_code == 200
    [newest] = page.data["deliveries"]
    assert (newest["booking_id"], newest["outcome"], newest["attempts"], newest["last_status_code"]) == (
        second, "delivered", 1, 200)
    rest = api.get(f"/vendor/webhook/deliveries?cursor={page.data['next_cursor']}", token=tokens["vendor"])
    [older] = rest.data["deliveries"]
    assert (older["booking_id"], older["outcome"], older["attempts"], older["last_status_code"]) == (
        first, "pending", 1, 500)
    assert rest.data["next_cursor"] is None


def test_replay_without_a_webhook_is_404(api, tokens):
    answer = api.post("/vendor/webhook/replay", {"since": "2026-01-01T00:00:00Z"}, token=tokens["vendor"])
    assert answer.status_code == 404


@pytest.mark.parametrize("since", [1700000000, "yesterday", "2026-01-01T00:00:00"])
def test_replay_needs_an_instant_with_its_time_zone(api, tokens, receiver, since):
    set_webhook(api, tokens["vendor"], receiver)
    answer = api.post("/vendor/webhook/replay", {"since": since}, token=tokens["vendor"])
    assert answer.status_code == 400
    assert "since" in answer.data["error"]["details"]["fields"]


def test_replay_sends_only_events_since_the_instant(api, tokens, hotel, receiver):
    set_webhook(api, tokens["vendor"], receiver)
    confirmed_booking(api, tokens, hotel, 30)
    deliver()
    clock.advance(120)
    later = confirmed_booking(api, tokens, hotel, 31)
    deliver()
    since = webhook_rules.iso(clock.now() - 60)
    api.post("/vendor/webhook/replay", {"since": since}, token=tokens["vendor"])
    deliver()
    deliver()
    replayed = receiver.delivered()[2:]
    assert [e["booking"]["booking_id"] for e in replayed] == [later]


def test_a_replay_that_meets_a_busy_dynamodb_carries_on_after_what_it_did(api, tokens, hotel, receiver, monkeypatch):
    set_webhook(api, tokens["vendor"], receiver)
    for offset in (30, 31, 32):
        confirmed_booking(api, tokens, hotel, offset)
    deliver()
    real, calls = webhooks._send_again, []

    class Throttled(Exception):
        transient = True

    def busy_on_the_second(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise Throttled("ProvisionedThroughputExceededException")
        return real(*args, **kwargs)

    monkeypatch.setattr(webhooks, "_send_again", busy_on_the_second)
    api.post("/vendor/webhook/replay", {"since": "2000-01-01T00:00:00Z"}, token=tokens["vendor"])
    deliver()  # the replay: one event reset, then DynamoDB is busy
    deliver()  # the stream of the one it reset (the rest of the replay waits 5 s)
    assert len(receiver.delivered()) == 3 + 1
    clock.advance(10)
    sqs = boto3.client("sqs", region_name="us-east-1")
    [carry_on] = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=queues.queue_url(queues.WEBHOOKS), MaxNumberOfMessages=10, WaitTimeSeconds=6).get("Messages", [])]
    assert carry_on["type"] == "webhook-replay" and carry_on["after"]
    workers.handle_webhooks({"Records": [{"messageId": "m1", "body": json.dumps(carry_on)}]}, None)
    deliver()
    replayed = [e["id"] for e in receiver.delivered()[3:]]
    assert sorted(replayed) == sorted({e["id"] for e in receiver.delivered()[:3]})  # each once


class WorkerDied(Exception):
    """The worker's process ends here (after the POST, before its result is written)."""


def die_after_the_post(monkeypatch):
    real = delivery._finish

    def finish(*args, **kwargs):
        monkeypatch.setattr(delivery, "_finish", real)
        raise WorkerDied()

    monkeypatch.setattr(delivery, "_finish", finish)


def test_an_attempt_whose_result_was_never_written_is_made_again_within_the_window(
        api, tokens, hotel, receiver, monkeypatch):
    set_webhook(api, tokens["vendor"], receiver)
    booking_id = confirmed_booking(api, tokens, hotel)
    die_after_the_post(monkeypatch)
    [stream] = kicked_streams()
    with pytest.raises(WorkerDied):
        delivery.flush(stream)
    clock.advance(delivery.lease_seconds() + workers.RELAY_GRACE_SECONDS + 1)
    assert workers.relay_due_events() == {"streams": 1}  # the lease ran out: the relay restarts it
    deliver()
    [event] = events_of(booking_id)
    assert (event.status, int(event.attempts)) == ("DELIVERED", 2)
    assert [r.headers["webhook-id"] for r in receiver.received] == [event.event_id] * 2  # at least once


def test_a_last_attempt_whose_result_was_never_written_is_given_up(api, tokens, hotel, receiver, monkeypatch):
    set_webhook(api, tokens["vendor"], receiver)
    receiver.script = [500]
    booking_id = confirmed_booking(api, tokens, hotel)
    deliver()
    clock.advance(WINDOW)  # the next try is the window's last
    die_after_the_post(monkeypatch)
    with pytest.raises(WorkerDied):
        delivery.flush(webhook_rules.stream_of("ven_aurora", booking_id))
    clock.advance(delivery.lease_seconds() + 1)
    delivery.flush(webhook_rules.stream_of("ven_aurora", booking_id))
    [event] = events_of(booking_id)
    assert event.status == "DEAD" and len(receiver.received) == 2
    assert [d["event_id"] for d in dead_letters()] == [event.event_id]
