"""The waitlist through the API, the booking lifecycle, the vendor API and the waitlist worker
(API.md "Waitlist"): freed units become automatic holds, oldest fitting entry first, never more
than were freed, one hold per entry."""
from __future__ import annotations

import json
import threading
import uuid

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from chalicelib.booking import service as bookings
from chalicelib.booking.models import Booking
from chalicelib.booking.schemas import HoldRequest
from chalicelib.booking.workers import handle_notifications
from chalicelib.core import clock
from chalicelib.core.auth import Principal
from chalicelib.core.config import settings
from chalicelib.core.errors import RateLimited
from chalicelib.core.queues import NOTIFICATIONS, WAITLIST, queue_url
from chalicelib.inventory.models import AvailabilityDay
from chalicelib.waitlist import domain, offers, records, service, workers
from chalicelib.waitlist.models import WaitlistEntry, WaitlistSlot
from tests.integration.booking_helpers import day, make_listing


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


def new_listing(api, tokens, **kwargs) -> str:
    """A listing on sale for 40 days; its first availability's waitlist message is consumed."""
    listing_id = make_listing(api, tokens["vendor"], **kwargs)
    receive(WAITLIST)
    return listing_id


@pytest.fixture
def event(api, tokens):
    """An event with one seat a day."""
    return new_listing(api, tokens, kind="event", capacity=1, price=4000)


@pytest.fixture
def hotel(api, tokens):
    return new_listing(api, tokens, kind="hotel", capacity=2, price=10000)


# --- helpers ------------------------------------------------------------------------------------

def traveler(name: str = "t") -> Principal:
    user_id = f"{name}-{uuid.uuid4().hex[:10]}"
    return Principal(user_id=user_id, email=f"{user_id}@example.com", name=name.title(),
                     roles=frozenset({"travelers"}))


def hold(user: Principal, listing_id: str, quantity: int = 1, offset: int = 10, **shape):
    item = {"listing_id": listing_id, "quantity": quantity, **(shape or {"date": day(offset)})}
    request = HoldRequest.model_validate({"items": [item], "contact": {"email": user.email, "name": user.name}})
    return bookings.place_hold(user, request, uuid.uuid4().hex)


def join(user: Principal, listing_id: str, quantity: int = 1, offset: int = 10) -> domain.Entry:
    from datetime import date
    return service.join(user, listing_id, quantity=quantity, day=date.fromisoformat(day(offset)),
                        check_in=None, check_out=None).entry


def entry(entry_id: str) -> domain.Entry:
    found = records.load(entry_id)
    assert found is not None
    return found


def counters(listing_id: str, offset: int = 10) -> tuple[int, int, int, int]:
    d = AvailabilityDay.get(listing_id, day(offset), consistent_read=True)
    return int(d.capacity), int(d.held), int(d.sold), int(d.available)


def receive(queue: str) -> list[dict]:
    """The raw messages waiting on a queue (received and deleted)."""
    import boto3

    sqs, url = boto3.client("sqs", region_name="us-east-1"), queue_url(queue)
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        found += messages


def sqs_event(*bodies: str) -> dict:
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": uuid.uuid4().hex, "body": body,
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                         "eventSource": "aws:sqs", "awsRegion": "us-east-1"} for body in bodies]}


def run_waitlist_worker() -> list[dict]:
    """Deliver what waits on the waitlist queue to its worker, as the event runner would."""
    messages = receive(WAITLIST)
    if messages:
        result = workers.handle_freed_units(sqs_event(*(m["Body"] for m in messages)), None)
        assert result == {"batchItemFailures": []}
    return [json.loads(m["Body"]) for m in messages]


def run_notification_worker() -> None:
    messages = receive(NOTIFICATIONS)
    if messages:
        handle_notifications(sqs_event(*(m["Body"] for m in messages)), None)


def emails_to(address: str) -> list:
    sent = ses_backends[DEFAULT_ACCOUNT_ID][settings().region].sent_messages
    return [m for m in sent if address in m.destinations["ToAddresses"]]


def assert_never_oversold(listing_id: str, offset: int = 10) -> None:
    capacity, held, sold, available = counters(listing_id, offset)
    assert 0 <= held + sold <= capacity and available == capacity - held - sold


def offered_booking(entry_id: str) -> Booking:
    found = entry(entry_id)
    assert found.status == domain.OFFERED, found
    return Booking.get(found.booking_id, consistent_read=True)


# --- joining ------------------------------------------------------------------------------------

def test_joining_dates_that_are_not_sold_out_is_409_saying_hold_instead(api, tokens, event):
    response = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1}, token=tokens["traveler"])
    assert response.status_code == 409
    assert response.data["error"]["code"] == "INVALID_STATE"
    assert "hold" in response.data["error"]["message"]
    assert response.data["error"]["details"]["available"] == [{"date": day(10), "available": 1}]


def test_joining_sold_out_dates_answers_201_with_the_entry(api, tokens, event):
    hold(traveler(), event)
    response = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1}, token=tokens["traveler"])
    assert response.status_code == 201, response.data
    body = response.data
    assert body["status"] == "WAITING" and body["listing_id"] == event and body["quantity"] == 1
    assert body["date"] == day(10) and body["entry_id"].startswith("wl_") and body["joined_at"].endswith("Z")
    assert "booking_id" not in body


def test_a_quantity_more_than_available_may_wait(api, tokens, hotel):
    """Two rooms, one free: a party needing both is sold out for them."""
    hold(traveler(), hotel, check_in=day(5), check_out=day(7))
    response = api.post(f"/listings/{hotel}/waitlist", {"check_in": day(5), "check_out": day(7), "quantity": 2},
                        token=tokens["traveler"])
    assert response.status_code == 201, response.data
    assert (response.data["check_in"], response.data["check_out"]) == (day(5), day(7))


def test_joining_twice_answers_the_first_entry(api, tokens, event):
    hold(traveler(), event)
    first = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1}, token=tokens["traveler"])
    again = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1}, token=tokens["traveler"])
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.data["entry_id"] == first.data["entry_id"]
    assert len(api.get("/me/waitlist", token=tokens["traveler"]).data["entries"]) == 1


def test_joining_again_with_another_quantity_is_409_naming_the_entry_to_leave(api, tokens, event):
    hold(traveler(), event)
    path = f"/listings/{event}/waitlist"
    first = api.post(path, {"date": day(10), "quantity": 1}, token=tokens["traveler"])
    again = api.post(path, {"date": day(10), "quantity": 2}, token=tokens["traveler"])
    assert first.status_code == 201
    assert again.status_code == 409 and again.data["error"]["code"] == "INVALID_STATE", again.data
    details = again.data["error"]["details"]
    assert (details["entry_id"], details["quantity"]) == (first.data["entry_id"], 1)
    assert "leave" in again.data["error"]["message"] and "join again" in again.data["error"]["message"]
    assert [e["quantity"] for e in api.get("/me/waitlist", token=tokens["traveler"]).data["entries"]] == [1]


def test_a_conflict_on_the_travelers_counter_is_retried_not_refused_as_the_cap(event, monkeypatch):
    """Found by the fault-injection run: DynamoDB cancelling the join because another of the
    traveler's entries changed at that instant (TransactionConflict on the "active" counter) is
    transient; it was answered 429 "already on 10 waitlists" to a traveler with one entry."""
    from chalicelib.booking.transactions import Failure

    hold(traveler(), event)
    real, calls = records.create, []

    def conflicting_once(entry, *, cap):
        calls.append(entry.entry_id)
        if len(calls) == 1:
            return [Failure(("active",), "TransactionConflict", None)]
        return real(entry, cap=cap)

    monkeypatch.setattr(records, "create", conflicting_once)
    user = traveler()
    joined = join(user, event)
    assert len(calls) == 2 and joined.status == domain.WAITING
    assert int(WaitlistSlot.get(user.user_id, "active").count) == 1


def test_joining_twice_at_the_same_instant_makes_one_entry(event, serialized_moto):
    hold(traveler(), event)
    user = traveler()
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(join(user, event))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e.entry_id for e in results}) == 1
    assert int(WaitlistSlot.get(user.user_id, "active").count) == 1


def test_a_traveler_without_a_name_is_addressed_by_their_email(event):
    hold(traveler(), event)
    nameless = Principal(user_id=f"n-{uuid.uuid4().hex[:8]}", email="Nina.N@Example.com", name=" ",
                         roles=frozenset({"travelers"}))
    waiting = join(nameless, event)
    assert (waiting.traveler_email, waiting.traveler_name) == ("nina.n@example.com", "Nina.N")


def test_a_traveler_without_an_email_cannot_wait(event):
    from chalicelib.core.errors import ValidationError

    hold(traveler(), event)
    with pytest.raises(ValidationError) as caught:
        join(Principal(user_id="no-mail", email="", name="No Mail", roles=frozenset({"travelers"})), event)
    assert "email" in caught.value.details["fields"]


@pytest.mark.parametrize("body, field", [
    ({"quantity": 1}, "date"),
    ({"date": "2020-01-01", "quantity": 1}, "date"),
    ({"date": "tomorrow", "quantity": 1}, "date"),
    ({"date": day(10)}, "quantity"),
    ({"date": day(10), "quantity": 0}, "quantity"),
    ({"date": day(10), "quantity": 11}, "quantity"),
    ({"date": day(10), "quantity": "1"}, "quantity"),
    ({"check_in": day(10), "check_out": day(11), "quantity": 1}, "check_in"),
    ({"date": day(10), "quantity": 1, "seats": 2}, "seats"),
])
def test_bad_bodies_for_an_event_are_400_naming_the_field(api, tokens, event, body, field):
    hold(traveler(), event)
    response = api.post(f"/listings/{event}/waitlist", body, token=tokens["traveler"])
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.data["error"]["details"]["fields"], response.data


@pytest.mark.parametrize("body, field", [
    ({"date": day(5), "quantity": 1}, "date"),
    ({"check_in": day(5), "quantity": 1}, "check_out"),
    ({"check_in": day(6), "check_out": day(5), "quantity": 1}, "check_out"),
    ({"check_in": day(5), "check_out": day(50), "quantity": 1}, "check_out"),
])
def test_bad_bodies_for_a_hotel_are_400_naming_the_field(api, tokens, hotel, body, field):
    response = api.post(f"/listings/{hotel}/waitlist", body, token=tokens["traveler"])
    assert response.status_code == 400, response.data
    assert field in response.data["error"]["details"]["fields"], response.data


def test_an_unknown_listing_is_404(api, tokens):
    response = api.post("/listings/lst_nosuchlisting0000/waitlist", {"date": day(10), "quantity": 1},
                        token=tokens["traveler"])
    assert response.status_code == 404 and response.data["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("role", ["vendor", "agent", "admin"])
def test_only_travelers_use_the_waitlist(api, tokens, event, role):
    assert api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1},
                    token=tokens[role]).status_code == 403
    assert api.get("/me/waitlist", token=tokens[role]).status_code == 403
    assert api.delete(f"/me/waitlist/wl_{'0' * 20}", token=tokens[role]).status_code == 403
    assert api.get("/me/waitlist").status_code == 401


def test_a_traveler_on_too_many_waitlists_is_429(event, monkeypatch):
    monkeypatch.setattr(domain, "MAX_ACTIVE_ENTRIES", 2)
    for offset in (10, 11, 12):
        hold(traveler(), event, offset=offset)
    user = traveler()
    join(user, event, offset=10)
    join(user, event, offset=11)
    with pytest.raises(RateLimited):
        join(user, event, offset=12)


def test_my_waitlist_is_newest_first_and_only_mine(api, tokens, event):
    for offset in (10, 11, 12):
        hold(traveler(), event, offset=offset)
    joined = [api.post(f"/listings/{event}/waitlist", {"date": day(o), "quantity": 1}, token=tokens["traveler"])
              .data["entry_id"] for o in (10, 11, 12)]
    first = api.get("/me/waitlist?limit=2", token=tokens["traveler"]).data
    second = api.get(f"/me/waitlist?limit=2&cursor={first['next_cursor']}", token=tokens["traveler"]).data
    assert [e["entry_id"] for e in first["entries"] + second["entries"]] == joined[::-1]
    assert second["next_cursor"] is None
    assert api.get("/me/waitlist", token=tokens["traveler2"]).data == {"entries": [], "next_cursor": None}


# --- leaving ------------------------------------------------------------------------------------

def test_a_traveler_who_left_is_never_offered(api, tokens, event):
    holder = traveler()
    held = hold(holder, event)
    entry_id = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1},
                        token=tokens["traveler"]).data["entry_id"]
    left = api.delete(f"/me/waitlist/{entry_id}", token=tokens["traveler"])
    assert left.status_code == 204
    assert api.delete(f"/me/waitlist/{entry_id}", token=tokens["traveler"]).status_code == 204  # again: no-op

    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    workers.sweep()
    assert entry(entry_id).status == domain.LEFT and entry(entry_id).booking_id is None
    assert counters(event) == (1, 0, 0, 1)
    assert int(WaitlistSlot.get(entry(entry_id).traveler_id, "active").count) == 0


def test_leaving_another_travelers_entry_is_404(api, tokens, event):
    hold(traveler(), event)
    entry_id = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1},
                        token=tokens["traveler"]).data["entry_id"]
    assert api.delete(f"/me/waitlist/{entry_id}", token=tokens["traveler2"]).status_code == 404
    assert api.delete("/me/waitlist/not-an-id", token=tokens["traveler2"]).status_code == 404
    assert entry(entry_id).status == domain.WAITING


def test_leaving_an_entry_that_got_its_hold_is_409(api, tokens, event):
    holder = traveler()
    held = hold(holder, event)
    entry_id = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1},
                        token=tokens["traveler"]).data["entry_id"]
    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    response = api.delete(f"/me/waitlist/{entry_id}", token=tokens["traveler"])
    assert response.status_code == 409 and response.data["error"]["code"] == "INVALID_STATE"
    assert response.data["error"]["details"]["booking_id"] == entry(entry_id).booking_id


# --- offering: what frees units -----------------------------------------------------------------

def test_a_cancelled_hold_goes_to_the_waitlisted_traveler_with_an_email(api, tokens, event):
    holder = traveler()
    held = hold(holder, event)
    joined = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1}, token=tokens["traveler"])
    bookings.cancel(holder, held.booking_id, None)

    assert run_waitlist_worker() == [{"type": "freed", "listing_id": event, "dates": [day(10)]}]
    mine = api.get("/me/waitlist", token=tokens["traveler"]).data["entries"]
    assert [e["status"] for e in mine] == ["OFFERED"]
    booking = api.get(f"/bookings/{mine[0]['booking_id']}", token=tokens["traveler"]).data
    assert booking["status"] == "HELD" and booking["reference"] == mine[0]["reference"]
    assert booking["items"][0]["listing_id"] == event and booking["items"][0]["date"] == day(10)
    assert booking["contact"]["email"] == "traveler@example.com"
    assert counters(event) == (1, 1, 0, 0)
    assert joined.data["entry_id"] == mine[0]["entry_id"]

    run_notification_worker()
    [email] = emails_to("traveler@example.com")
    assert booking["reference"] in email.subject and "Pay by" in email.body


def test_an_expired_hold_goes_to_the_waitlist(event):
    holder, waiter = traveler(), traveler()
    hold(holder, event)
    waiting = join(waiter, event)
    clock.advance(settings().hold_seconds + 1)
    bookings.release_expired_holds()
    run_waitlist_worker()
    booking = offered_booking(waiting.entry_id)
    assert booking.traveler_id == waiter.user_id and booking.status == "HELD"
    assert_never_oversold(event)


def test_a_failed_payment_goes_to_the_waitlist(api, tokens, event):
    from chalicelib.booking.schemas import PaymentRequest

    holder, waiter = traveler(), traveler()
    held = hold(holder, event)
    waiting = join(waiter, event)
    bookings.pay(holder, held.booking_id, PaymentRequest(payment_method="tok_captureFails"), uuid.uuid4().hex)
    assert bookings.confirm_booking(held.booking_id) == "failed"
    run_waitlist_worker()
    assert offered_booking(waiting.entry_id).traveler_id == waiter.user_id
    assert counters(event) == (1, 1, 0, 0)


def test_a_cancelled_confirmed_booking_goes_to_the_waitlist(event):
    from chalicelib.booking.schemas import PaymentRequest

    holder, waiter = traveler(), traveler()
    held = hold(holder, event)
    bookings.pay(holder, held.booking_id, PaymentRequest(payment_method="tok_visa"), uuid.uuid4().hex)
    assert bookings.confirm_booking(held.booking_id) == "confirmed"
    waiting = join(waiter, event)
    bookings.cancel(holder, held.booking_id, None)
    assert bookings.process_cancellation(held.booking_id) == "cancelled"
    run_waitlist_worker()
    assert offered_booking(waiting.entry_id).traveler_id == waiter.user_id
    assert counters(event) == (1, 1, 0, 0)


def test_raising_capacity_goes_to_the_waitlist(api, tokens, event):
    waiters = [traveler(), traveler(), traveler()]
    hold(traveler(), event)
    entries = [join(w, event) for w in waiters]
    raised = api.put(f"/vendor/listings/{event}/availability",
                     {"days": [{"date": day(10), "capacity": 3, "price": 4000}]}, token=tokens["vendor"])
    assert raised.status_code == 200, raised.data
    assert run_waitlist_worker() == [{"type": "freed", "listing_id": event, "dates": [day(10)]}]
    assert [entry(e.entry_id).status for e in entries] == [domain.OFFERED, domain.OFFERED, domain.WAITING]
    assert counters(event) == (3, 3, 0, 0)


def test_a_price_change_alone_sends_nothing(api, tokens, event):
    receive(WAITLIST)
    changed = api.put(f"/vendor/listings/{event}/availability",
                      {"days": [{"date": day(10), "capacity": 1, "price": 5000}]}, token=tokens["vendor"])
    assert changed.status_code == 200
    assert receive(WAITLIST) == []


# --- offering: who gets the units ---------------------------------------------------------------

def test_the_oldest_entry_gets_the_freed_unit_and_the_next_keeps_waiting(event):
    holder = traveler()
    held = hold(holder, event)
    first, second = join(traveler(), event), join(traveler(), event)
    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    assert entry(first.entry_id).status == domain.OFFERED
    assert entry(second.entry_id).status == domain.WAITING
    assert counters(event) == (1, 1, 0, 0)


def test_an_entry_whose_quantity_does_not_fit_is_skipped_for_a_later_smaller_one(api, tokens):
    listing = new_listing(api, tokens, kind="event", capacity=3, price=4000)
    first_holder, second_holder = traveler(), traveler()
    held = hold(first_holder, listing, quantity=1)
    hold(second_holder, listing, quantity=2)
    big, small = join(traveler(), listing, quantity=2), join(traveler(), listing, quantity=1)
    bookings.cancel(first_holder, held.booking_id, None)  # one unit free
    run_waitlist_worker()
    assert entry(big.entry_id).status == domain.WAITING
    assert entry(small.entry_id).status == domain.OFFERED
    assert counters(listing) == (3, 3, 0, 0)


def test_two_freed_units_go_to_a_party_of_two_before_a_later_single(api, tokens):
    listing = new_listing(api, tokens, kind="event", capacity=2, price=4000)
    holder = traveler()
    held = hold(holder, listing, quantity=2)
    big, small = join(traveler(), listing, quantity=2), join(traveler(), listing, quantity=1)
    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    assert (entry(big.entry_id).status, entry(small.entry_id).status) == (domain.OFFERED, domain.WAITING)
    assert Booking.get(entry(big.entry_id).booking_id).items[0].quantity == 2


def test_a_stay_is_offered_only_when_every_night_came_free(api, tokens):
    hotel = new_listing(api, tokens, kind="hotel", capacity=1, price=10000)
    first_night, second_night = traveler(), traveler()
    night_one = hold(first_night, hotel, check_in=day(5), check_out=day(6))
    night_two = hold(second_night, hotel, check_in=day(6), check_out=day(7))
    from datetime import date
    waiting = service.join(traveler(), hotel, quantity=1, day=None, check_in=date.fromisoformat(day(5)),
                           check_out=date.fromisoformat(day(7))).entry
    bookings.cancel(first_night, night_one.booking_id, None)
    run_waitlist_worker()
    assert entry(waiting.entry_id).status == domain.WAITING  # the second night is still taken
    bookings.cancel(second_night, night_two.booking_id, None)
    run_waitlist_worker()
    booking = offered_booking(waiting.entry_id)
    assert (booking.items[0].check_in, booking.items[0].check_out) == (day(5), day(7))
    assert [counters(hotel, o) for o in (5, 6)] == [(1, 1, 0, 0), (1, 1, 0, 0)]


def test_an_entry_that_left_after_the_line_was_read_takes_nothing(event, monkeypatch):
    """The line is an index and may lag: a left entry still in it must not hold back the next."""
    holder = traveler()
    held = hold(holder, event)
    gone, next_in_line = join(traveler(), event), join(traveler(), event)
    stale_line = offers.line(event)
    service.leave(Principal(user_id=gone.traveler_id, email="", name="", roles=frozenset({"travelers"})),
                  gone.entry_id)
    monkeypatch.setattr(offers, "pages", lambda listing_id: iter([stale_line]))
    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    assert entry(gone.entry_id).status == domain.LEFT
    assert entry(next_in_line.entry_id).status == domain.OFFERED


def test_a_traveler_at_the_hold_limit_is_skipped_and_stays_waiting(api, tokens, event):
    holder, busy, free = traveler(), traveler(), traveler()
    held = hold(holder, event)
    first, second = join(busy, event), join(free, event)
    other = new_listing(api, tokens, kind="event", capacity=10, price=100)
    for _ in range(settings().max_active_holds):
        hold(busy, other, offset=3)
    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    assert entry(first.entry_id).status == domain.WAITING  # still in line, in its place
    assert entry(second.entry_id).status == domain.OFFERED
    assert counters(event) == (1, 1, 0, 0)


def bookings_of(user_id: str) -> list[Booking]:
    return list(Booking.scan(Booking.traveler_id == user_id))  # a test's check, never a request path


def test_the_same_message_twice_makes_one_hold_per_entry(api, tokens):
    """Two units free and one entry of one: a second offer to it would find a unit, and must not."""
    listing = new_listing(api, tokens, kind="event", capacity=2, price=4000)
    holder, waiter = traveler(), traveler()
    held = hold(holder, listing, quantity=2)
    waiting = join(waiter, listing)
    bookings.cancel(holder, held.booking_id, None)
    [message] = receive(WAITLIST)
    workers.handle_freed_units(sqs_event(message["Body"], message["Body"]), None)
    workers.handle_freed_units(sqs_event(message["Body"]), None)
    workers.sweep()
    booking = offered_booking(waiting.entry_id)
    assert [b.booking_id for b in bookings_of(waiter.user_id)] == [booking.booking_id]
    assert counters(listing) == (2, 1, 0, 1)


def test_two_workers_at_once_give_each_entry_one_hold_and_never_more_than_the_freed_units(
        api, tokens, serialized_moto):
    listing = new_listing(api, tokens, kind="event", capacity=3, price=4000)
    holders = [traveler(), traveler()]
    helds = [hold(h, listing) for h in holders]
    hold(traveler(), listing)
    waiters = [traveler() for _ in range(4)]
    waiting = [join(w, listing) for w in waiters]
    for h, held in zip(holders, helds):
        bookings.cancel(h, held.booking_id, None)  # two units free
    receive(WAITLIST)
    errors: list = []
    barrier = threading.Barrier(6)

    def work():
        barrier.wait()
        try:
            offers.offer(listing, [day(10)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    workers.sweep()  # whatever a cautious run left is offered a minute later
    statuses = [entry(e.entry_id).status for e in waiting]
    assert statuses == [domain.OFFERED, domain.OFFERED, domain.WAITING, domain.WAITING]
    assert [len(bookings_of(w.user_id)) for w in waiters] == [1, 1, 0, 0]
    assert counters(listing) == (3, 3, 0, 0)
    assert_never_oversold(listing)


def test_two_travelers_and_one_freed_unit_make_exactly_one_hold(api, tokens, serialized_moto):
    listing = new_listing(api, tokens, kind="event", capacity=1, price=4000)
    holder = traveler()
    held = hold(holder, listing)
    first, second = join(traveler(), listing), join(traveler(), listing)
    bookings.cancel(holder, held.booking_id, None)
    [message] = receive(WAITLIST)
    threads = [threading.Thread(target=workers.handle_freed_units, args=(sqs_event(message["Body"]), None))
               for _ in range(4)] + [threading.Thread(target=workers.sweep)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted([entry(first.entry_id).status, entry(second.entry_id).status])
    assert statuses == [domain.OFFERED, domain.WAITING]
    assert entry(first.entry_id).status == domain.OFFERED
    assert_never_oversold(listing)
    assert counters(listing) == (1, 1, 0, 0)


# --- the sweep ----------------------------------------------------------------------------------

def test_the_sweep_offers_when_the_message_was_lost(event):
    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)
    bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)  # lost
    assert entry(waiting.entry_id).status == domain.WAITING
    assert workers.sweep()["offered"] == 1
    assert entry(waiting.entry_id).status == domain.OFFERED
    assert workers.sweep()["offered"] == 0


def test_a_lost_send_neither_fails_the_cancellation_nor_strands_the_traveler(event, monkeypatch):
    from chalicelib.core import queues

    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)

    def unreachable(*args, **kwargs):
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(queues, "send_all", unreachable)
    assert bookings.cancel(holder, held.booking_id, None).status == "CANCELLED"
    monkeypatch.undo()
    assert receive(WAITLIST) == []
    workers.sweep()
    assert entry(waiting.entry_id).status == domain.OFFERED


def test_the_sweep_tries_no_hold_for_entries_that_do_not_fit(event):
    hold(traveler(), event)
    user = traveler()
    join(user, event)
    from chalicelib.core.rate_limits import AttemptCounter
    workers.sweep()
    assert list(AttemptCounter.scan(AttemptCounter.key.startswith(f"holds#{user.user_id}#"))) == []


def test_the_sweep_expires_entries_whose_date_passed(event):
    hold(traveler(), event, offset=1)
    user = traveler()
    waiting = join(user, event, offset=1)
    clock.advance(3 * 86400)
    assert workers.sweep()["expired"] == 1
    assert entry(waiting.entry_id).status == domain.EXPIRED
    assert int(WaitlistSlot.get(user.user_id, "active").count) == 0


def test_a_claim_whose_worker_died_is_taken_over_by_the_sweep(event):
    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)
    assert records.claim(waiting, "dead-worker", clock.now())
    bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)
    workers.sweep()
    assert entry(waiting.entry_id).status == domain.OFFERING  # the claim still stands
    clock.advance(domain.CLAIM_SECONDS + 1)
    workers.sweep()
    assert entry(waiting.entry_id).status == domain.OFFERED


def test_a_worker_dying_after_the_hold_never_makes_a_second_one(event):
    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)
    bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)
    # The dead worker claimed the entry and placed its hold, then died before marking it.
    assert records.claim(waiting, "dead-worker", clock.now())
    first = bookings.place_hold(offers._principal(waiting), offers._request(waiting), offers.hold_key(waiting))
    clock.advance(domain.CLAIM_SECONDS + 1)
    workers.sweep()
    assert entry(waiting.entry_id).booking_id == first.booking_id
    assert counters(event) == (1, 1, 0, 0)


def test_an_offering_entry_cannot_be_left(api, tokens, event):
    hold(traveler(), event)
    entry_id = api.post(f"/listings/{event}/waitlist", {"date": day(10), "quantity": 1},
                        token=tokens["traveler"]).data["entry_id"]
    assert records.claim(entry(entry_id), "worker", clock.now())
    response = api.delete(f"/me/waitlist/{entry_id}", token=tokens["traveler"])
    assert response.status_code == 409 and response.data["error"]["details"]["status"] == "OFFERING"


def test_entries_leave_the_line_indexes_when_they_leave_the_line(event):
    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)
    assert [e.entry_id for e in offers.line(event)] == [waiting.entry_id]
    bookings.cancel(holder, held.booking_id, None)
    run_waitlist_worker()
    assert offers.line(event) == []
    assert list(WaitlistEntry.waiting_by_shard.query(domain.shard_of(event))) == []


# --- lost answers, long lines, time budgets -------------------------------------------------------

def test_a_replayed_hold_that_lapsed_unseen_sends_the_entry_back_with_a_new_key(event):
    """A worker placed an entry's hold and lost the answer; the hold expired before any run
    marked the entry. The next run must not offer that dead booking: with no unit free (the
    expiry sweeper has not released it yet) the entry waits again, under a new key, and the
    units, once freed, make it a new hold."""
    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)
    bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)
    claimed = records.claim(waiting, "lost-worker", clock.now())
    lost = bookings.place_hold(offers._principal(claimed), offers._request(claimed), offers.hold_key(claimed))
    clock.advance(settings().hold_seconds + 1)

    workers.sweep()

    stored = entry(waiting.entry_id)
    assert stored.status == domain.WAITING and stored.offer_key != waiting.offer_key
    bookings.release_expired_holds()
    run_waitlist_worker()
    booking = offered_booking(waiting.entry_id)
    assert booking.booking_id != lost.booking_id and booking.status == "HELD"
    assert counters(event) == (1, 1, 0, 0)


def test_an_error_that_is_not_an_answer_keeps_the_claim_and_places_no_second_hold(event, monkeypatch):
    holder, waiter = traveler(), traveler()
    held = hold(holder, event)
    waiting = join(waiter, event)
    bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)

    def unreachable(*args, **kwargs):
        raise ConnectionError("no answer from DynamoDB")

    monkeypatch.setattr(bookings, "place_hold", unreachable)
    with pytest.raises(ConnectionError):
        offers.offer(event, [day(10)])
    monkeypatch.undo()
    assert entry(waiting.entry_id).status == domain.OFFERING  # not WAITING: a hold may exist
    workers.sweep()
    assert entry(waiting.entry_id).status == domain.OFFERING  # the claim stands until it lapses
    clock.advance(domain.CLAIM_SECONDS + 1)
    workers.sweep()
    assert offered_booking(waiting.entry_id).status == "HELD"
    assert len(bookings_of(waiter.user_id)) == 1


def test_an_offer_pages_past_entries_that_do_not_fit(api, tokens, monkeypatch):
    monkeypatch.setattr(offers, "MAX_LINE", 2)
    listing = new_listing(api, tokens, kind="event", capacity=3, price=4000)
    holders = [traveler() for _ in range(3)]
    helds = [hold(h, listing) for h in holders]
    big = [join(traveler(), listing, quantity=3) for _ in range(3)]
    small = [join(traveler(), listing, quantity=1) for _ in range(2)]
    for h, held in zip(holders[:2], helds[:2]):
        bookings.cancel(h, held.booking_id, None)  # two units free: the two small entries, pages 2 and 3
    run_waitlist_worker()
    assert [entry(e.entry_id).status for e in big] == [domain.WAITING] * 3
    assert [entry(e.entry_id).status for e in small] == [domain.OFFERED] * 2
    assert counters(listing) == (3, 3, 0, 0)


def test_an_offer_out_of_time_starts_no_entry_and_leaves_it_to_the_sweep(event, monkeypatch):
    holder = traveler()
    held = hold(holder, event)
    waiting = join(traveler(), event)
    bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)
    monkeypatch.setattr(offers, "OFFER_SECONDS", 0)
    outcome = offers.offer(event, [day(10)])
    assert outcome.unfinished and outcome.offered == []
    assert entry(waiting.entry_id).status == domain.WAITING
    monkeypatch.undo()
    workers.sweep()
    assert entry(waiting.entry_id).status == domain.OFFERED


def test_a_sweep_out_of_time_leaves_the_other_listings_to_the_next_minutes_run(api, tokens, monkeypatch):
    listings = [new_listing(api, tokens, kind="event", capacity=1, price=4000) for _ in range(3)]
    entries = []
    for listing in listings:
        holder = traveler()
        held = hold(holder, listing)
        entries.append(join(traveler(), listing))
        bookings.cancel(holder, held.booking_id, None)
    receive(WAITLIST)  # lost: only the sweep offers them
    monkeypatch.setattr(workers, "SWEEP_SECONDS", 0)  # out of time once the first listing is done

    runs = []
    for _ in range(3):
        runs.append(workers.sweep())
        clock.advance(60)

    # An offered entry leaves the line, and its listing the sweep's listings.
    assert [(r["listings"], r["offered"], r["deferred"]) for r in runs] == [(1, 1, 2), (1, 1, 1), (1, 1, 0)]
    assert [entry(e.entry_id).status for e in entries] == [domain.OFFERED] * 3

