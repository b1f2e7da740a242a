"""Adversarial review of issue 13 (places autocomplete, reviews, recommendations).

Each test is one attack. A failing test exposes a defect (named in its docstring); a passing
one is an attack that held up and stays as a regression test.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from chalicelib.booking import service as bookings
from chalicelib.core import clock
from chalicelib.core.errors import AlreadyReviewed, Forbidden
from chalicelib.inventory import domain as inventory_domain
from chalicelib.inventory import place_index
from chalicelib.inventory.models import Listing
from chalicelib.recommendations import counting
from chalicelib.recommendations.models import CoBooking, History, Profile
from chalicelib.reviews import service as reviews
from chalicelib.reviews.models import Review
from tests.integration.booking_helpers import day, hold_a_night, hold_body, key, make_listing, pay_booking

DAY = 86400
POLICY = {"free_until_hours": 24, "refund_percent_after": 0}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


@pytest.fixture
def serialized_dynamodb(monkeypatch):
    """One emulated DynamoDB request at a time, as DynamoDB applies a transaction atomically
    (the same device as tests/integration/test_reviews.py)."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def serialized(self):
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)


# --- helpers -------------------------------------------------------------------------------------


def error_code(response) -> str:
    return (response.data or {}).get("error", {}).get("code", "")


def user_id(api, token) -> str:
    return api.get("/me", token=token).data["user_id"]


def principal(api, token):
    from chalicelib.core.auth import Principal

    me = api.get("/me", token=token).data
    return Principal(user_id=me["user_id"], email=me["email"], name=me["name"], roles=frozenset(me["roles"]))


def new_listing(api, token, kind="hotel", *, capacity=10, price=10000, first=0, last=30, **place) -> str:
    body = {"kind": kind, "title": f"{kind} {uuid.uuid4().hex[:6]}", "currency": "EUR",
            "cancellation_policy": POLICY, **(place or {"city": "PAR"})}
    created = api.post("/vendor/listings", body, token=token)
    assert created.status_code == 201, created.data
    lid = created.data["listing_id"]
    put = api.put(f"/vendor/listings/{lid}/availability",
                  {"from": day(first), "to": day(last), "capacity": capacity, "price": price}, token=token)
    assert put.status_code == 200, put.data
    return lid


def confirmed_night(api, token, listing_id, offset=2) -> str:
    booking_id = hold_a_night(api, token, listing_id, offset)
    assert pay_booking(api, token, booking_id).status_code == 202
    assert bookings.confirm_booking(booking_id) == "confirmed"
    return booking_id


def item(listing_id, offset=5, kind="hotel") -> dict:
    if kind == "hotel":
        return {"listing_id": listing_id, "quantity": 1, "check_in": day(offset), "check_out": day(offset + 1)}
    return {"listing_id": listing_id, "quantity": 1, "date": day(offset)}


def confirmed(api, token, *items) -> str:
    held = api.post("/holds", hold_body(*items), token=token, headers=key())
    assert held.status_code == 201, held.data
    booking_id = held.data["booking_id"]
    assert pay_booking(api, token, booking_id).status_code == 202
    assert bookings.confirm_booking(booking_id) == "confirmed"
    return booking_id


def drain_recommendations() -> None:
    import boto3

    from chalicelib.core.queues import RECOMMENDATIONS, queue_url

    sqs = boto3.client("sqs", region_name="us-east-1")
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url(RECOMMENDATIONS), MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url(RECOMMENDATIONS), ReceiptHandle=m["ReceiptHandle"])


def place_codes(api, q, **params) -> list[str]:
    query = "&".join([f"q={quote(q)}"] + [f"{k}={v}" for k, v in params.items()])
    response = api.get(f"/places?{query}")
    assert response.status_code == 200, response.data
    return [p["code"] for p in response.data["places"]]


# === places ======================================================================================


def test_places_a_retried_availability_update_after_a_crash_lists_the_place(api, tokens, monkeypatch):
    """The process dies after the availability commit and before the places index is extended;
    the vendor, who got no answer, retries the very same PUT. The retry must leave the place
    findable: newly_on_sale_until compares with the (already written) availability, so the
    retry extends nothing and the place stays missing although its dates are on sale."""
    v = tokens["vendor"]
    created = api.post("/vendor/listings", {"kind": "hotel", "title": "Crashy", "currency": "EUR",
                                            "cancellation_policy": POLICY, "city": "ROM"}, token=v)
    lid = created.data["listing_id"]
    body = {"from": day(1), "to": day(20), "capacity": 5, "price": 9000}

    def process_dies(*_args, **_kwargs):
        raise RuntimeError("Lambda timed out right after the availability commit")

    monkeypatch.setattr(place_index, "after_availability", process_dies)
    lost = api.put(f"/vendor/listings/{lid}/availability", body, token=v)
    assert lost.status_code >= 500  # the vendor never saw an answer
    monkeypatch.undo()

    retried = api.put(f"/vendor/listings/{lid}/availability", body, token=v)
    assert retried.status_code == 200, retried.data
    search = api.get(f"/search?kind=hotel&city=ROM&check_in={day(3)}&check_out={day(4)}")
    assert [r["listing_id"] for r in search.data["results"]] == [lid]  # on sale...
    assert place_codes(api, "rom") == ["ROM"]  # ...so it must be findable


def test_places_a_place_whose_capacity_was_all_withdrawn_stays_listed_until_its_last_date(
        api, tokens, monkeypatch):
    """Documented behaviour (inventory.place_index, "Only ever extended"), not the reviewer's
    first expectation: a vendor who sets every date to capacity 0 has nothing on sale there any
    more, yet the place keeps being offered to search boxes (where search then finds nothing)
    until its last date passes. Un-listing it would mean recomputing every place of the listing,
    and of every other listing there, on every withdrawal and booking; the index only ever moves
    dates later, which keeps it order-free and idempotent. (Was ..._is_not_listed, which asserted
    the opposite and so failed by design.)"""
    v = tokens["vendor"]
    lid = new_listing(api, v, city="OSA", first=1, last=5)
    assert place_codes(api, "osaka") == ["OSA"]
    withdrawn = api.put(f"/vendor/listings/{lid}/availability",
                        {"from": day(1), "to": day(5), "capacity": 0, "price": 10000}, token=v)
    assert withdrawn.status_code == 200, withdrawn.data
    search = api.get(f"/search?kind=hotel&city=OSA&check_in={day(2)}&check_out={day(3)}")
    assert search.data["results"] == []
    assert place_codes(api, "osaka") == ["OSA"]  # still listed: its last date is not past
    later = inventory_domain.utc_now() + timedelta(days=10)  # day(5) is past everywhere
    monkeypatch.setattr(inventory_domain, "utc_now", lambda: later)
    assert place_codes(api, "osaka") == []


def test_places_expired_entries_do_not_hide_a_place_on_sale(api, tokens, monkeypatch):
    """The places Query has Limit = read budget (20 for limit=1) and drops expired entries with
    a FilterExpression, which DynamoDB applies after Limit. Entries are never deleted, so
    places whose dates passed (here 20 codes LAA..LAT, sold for tomorrow only) use up the
    budget and London, on sale for weeks, is not found by "l"."""
    v = tokens["vendor"]
    for n in range(20):
        new_listing(api, v, city="LA" + chr(ord("A") + n), first=1, last=1)
    new_listing(api, v, city="LON", first=0, last=40)
    later = inventory_domain.utc_now() + timedelta(days=10)  # the LA? dates are past everywhere
    monkeypatch.setattr(inventory_domain, "utc_now", lambda: later)
    assert place_codes(api, "lon", limit=1) == ["LON"]
    assert place_codes(api, "l", limit=1) == ["LON"]


@pytest.mark.parametrize("raw", [
    "%CC%81%CC%81%CC%81",  # combining accents only: nothing left after folding
    "%F0%9F%98%80%F0%9F%9A%80",  # emoji only
    "%00", "%00%00par",  # NUL bytes
    "a" * 10000,  # far over the 50-character limit
    "%ED%A0%80",  # a lone surrogate, as (invalid) UTF-8
    "%FF%FE",  # not UTF-8 at all
    "%EF%B7%BA" * 50,  # U+FDFA: one character that NFKD expands to 18
])
def test_places_malformed_q_is_a_4xx_never_a_5xx(api, tokens, raw):
    response = api.get(f"/places?q={raw}")
    assert response.status_code < 500, response.data
    assert response.status_code == 200 or error_code(response) == "VALIDATION_ERROR"


def test_places_accents_case_and_punctuation_still_find_the_place(api, tokens):
    new_listing(api, tokens["vendor"], city="SAO", first=1, last=5)
    for q in ("SÃO", "são-pa", "Sao Paulo", "paulo", "sA", "  são  "):
        assert place_codes(api, q) == ["SAO"], q


def test_places_an_ordinary_vendor_date_update_touches_nothing_but_a_later_date_lists_a_new_kind(api, tokens):
    v = tokens["vendor"]
    new_listing(api, v, city="SEL", first=1, last=5)
    new_listing(api, v, "event", city="SEL", first=1, last=3)
    found = api.get("/places?q=seoul").data["places"]
    assert [(p["code"], p["kinds"]) for p in found] == [("SEL", ["hotel", "event"])]


# === reviews ======================================================================================


def test_reviews_a_retry_after_a_lost_answer_does_not_write_a_second_review(api, tokens, fake):
    """The traveler has two stays at the hotel. Their app posts a review, the answer is lost,
    the app retries the same request. Without booking_id the service picks "the oldest
    booking without a review", which is now the other one: the retry writes a second,
    identical review and the listing's rating counts the traveler twice."""
    hotel = make_listing(api, tokens["vendor"], capacity=5)
    confirmed_night(api, tokens["traveler"], hotel, 2)
    confirmed_night(api, tokens["traveler"], hotel, 3)
    clock.advance(4 * DAY)
    body = {"rating": 1, "comment": "Noisy, dirty, rude staff."}
    first = api.post(f"/listings/{hotel}/reviews", body, token=tokens["traveler"])
    assert first.status_code == 201, first.data  # ...but the answer never reached the app
    retry = api.post(f"/listings/{hotel}/reviews", body, token=tokens["traveler"])
    assert retry.status_code == 409 and error_code(retry) == "ALREADY_REVIEWED", retry.data
    assert retry.data["error"]["details"]["review_id"] == first.data["review_id"]
    assert api.get(f"/listings/{hotel}").data["rating"]["count"] == 1


def test_reviews_two_named_bookings_reviewed_at_once_both_count(api, tokens, fake, serialized_dynamodb):
    hotel = make_listing(api, tokens["vendor"], capacity=5)
    ids = [confirmed_night(api, tokens["traveler"], hotel, 2), confirmed_night(api, tokens["traveler"], hotel, 3)]
    me = principal(api, tokens["traveler"])
    clock.advance(4 * DAY)
    start = threading.Barrier(2)

    def post(n):
        start.wait()
        return reviews.post_review(me, hotel, rating=(5, 2)[n], comment="race", booking_id=ids[n])

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(post, range(2)))
    assert sorted(r.booking_id for r in results) == sorted(ids)
    stored = Listing.get(hotel)
    assert (int(stored.rating_sum), int(stored.rating_count)) == (7, 2)


def test_reviews_rating_sum_and_count_equal_the_reviews_after_a_burst(api, tokens, fake, serialized_dynamodb):
    """Twins of the same review and other travelers' reviews at once: no drift."""
    hotel = make_listing(api, tokens["vendor"], capacity=5)
    confirmed_night(api, tokens["traveler"], hotel)
    confirmed_night(api, tokens["traveler2"], hotel)
    people = [principal(api, tokens["traveler"])] * 3 + [principal(api, tokens["traveler2"])] * 3
    clock.advance(3 * DAY)
    start = threading.Barrier(len(people))

    def post(n):
        start.wait()
        try:
            return reviews.post_review(people[n], hotel, rating=1 + n % 5, comment=f"burst {n}")
        except (AlreadyReviewed, Forbidden) as exc:
            return exc

    with ThreadPoolExecutor(len(people)) as pool:
        outcomes = list(pool.map(post, range(len(people))))
    written = list(Review.query(hotel))
    stored = Listing.get(hotel)
    assert len(written) == 2 and sum(1 for o in outcomes if isinstance(o, AlreadyReviewed)) == 4
    assert (int(stored.rating_sum), int(stored.rating_count)) == (sum(int(r.rating) for r in written), 2)


def test_reviews_a_booking_cancelled_before_its_date_cannot_be_reviewed_afterwards(api, tokens, fake):
    hotel = make_listing(api, tokens["vendor"], capacity=5)
    booking_id = confirmed_night(api, tokens["traveler"], hotel, 5)
    cancelled = api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"])
    assert cancelled.status_code in (200, 202), cancelled.data
    clock.advance(7 * DAY)
    response = api.post(f"/listings/{hotel}/reviews", {"rating": 1, "booking_id": booking_id},
                        token=tokens["traveler"])
    assert response.status_code == 403 and error_code(response) == "FORBIDDEN"


def test_reviews_another_travelers_booking_of_the_same_listing_cannot_be_used(api, tokens, fake):
    hotel = make_listing(api, tokens["vendor"], capacity=5)
    theirs = confirmed_night(api, tokens["traveler2"], hotel)
    clock.advance(3 * DAY)
    response = api.post(f"/listings/{hotel}/reviews", {"rating": 1, "booking_id": theirs}, token=tokens["traveler"])
    assert response.status_code == 404
    assert api.get(f"/listings/{hotel}").data["rating"]["count"] == 0


def test_reviews_a_vendor_cannot_answer_through_its_own_listing_path_a_review_of_another_vendors(
        api, tokens, fake):
    theirs = make_listing(api, tokens["vendor2"], capacity=5)
    mine = make_listing(api, tokens["vendor"], capacity=5)
    confirmed_night(api, tokens["traveler"], theirs)
    clock.advance(3 * DAY)
    review_id = api.post(f"/listings/{theirs}/reviews", {"rating": 2}, token=tokens["traveler"]).data["review_id"]
    for path in (f"/vendor/listings/{mine}/reviews/{review_id}/reply",
                 f"/vendor/listings/{theirs}/reviews/{review_id}/reply"):
        response = api.post(path, {"body": "Not yours"}, token=tokens["vendor"])
        assert response.status_code == 404, (path, response.data)
    assert "reply" not in api.get(f"/listings/{theirs}/reviews").data["reviews"][0]


@pytest.mark.parametrize("method, path", [
    ("GET", "/listings/{x}/reviews"),
    ("POST", "/listings/{x}/reviews"),
    ("POST", "/vendor/listings/{x}/reviews/rv_00000000000000000000/reply"),
    ("POST", "/vendor/listings/lst_aaaaaaaaaaaaaaaa/reviews/{x}/reply"),
])
@pytest.mark.parametrize("x", ["%00", "lst_%F0%9F%98%80", "lst_" + "a" * 3000, "%ED%A0%80"])
def test_reviews_malformed_path_ids_are_4xx_never_5xx(api, tokens, method, path, x):
    token = tokens["vendor"] if "/vendor/" in path else tokens["traveler"]
    body = {"body": "hi"} if path.endswith("/reply") else ({"rating": 3} if method == "POST" else None)
    response = api.request(method, path.format(x=x), body, token=token)
    assert 400 <= response.status_code < 500, response.data


@pytest.mark.parametrize("comment, status", [
    ("x" * 70_000, 413),  # a body over 64 KB
    ("\u202e" + "x" * 1999, 201),  # format characters are text, kept as written
    ("😀" * 2000, 201),  # 2000 characters, 8000 bytes
])
def test_reviews_huge_and_unicode_comments(api, tokens, fake, comment, status):
    hotel = make_listing(api, tokens["vendor"], capacity=5)
    confirmed_night(api, tokens["traveler"], hotel)
    clock.advance(3 * DAY)
    response = api.post(f"/listings/{hotel}/reviews", {"rating": 4, "comment": comment}, token=tokens["traveler"])
    assert response.status_code == status, response.data
    if status == 201:
        assert api.get(f"/listings/{hotel}/reviews").data["reviews"][0]["comment"] == comment


def test_reviews_eligibility_reads_a_bounded_number_of_pages_whatever_the_travelers_history(
        api, tokens, fake, monkeypatch):
    """confirmed_bookings_of_listing read "every page" of the traveler's bookings (Query of the
    traveler index, filtered on status) to write one review: round trips grew with the number
    of bookings the traveler ever made. Now at most MAX_PAGES pages, newest first; past them a
    review naming no booking is 400 naming booking_id. Simulated at scale with a page of 1
    booking standing for a page of PAGE_SIZE: the stay to review is one page past the bound."""
    from chalicelib.booking import reviewable
    from chalicelib.booking.models import Booking

    hotel = make_listing(api, tokens["vendor"], capacity=5)
    other = make_listing(api, tokens["vendor"], capacity=5)
    stay = confirmed_night(api, tokens["traveler"], hotel, 2)  # the oldest booking
    for offset in range(reviewable.MAX_PAGES):
        confirmed_night(api, tokens["traveler"], other, 2 + offset)
    clock.advance(3 * DAY)
    pages: list[int] = []
    client = Booking._get_connection().connection.client

    def record(model, params, **_):
        if model.name == "Query" and params.get("TableName") == Booking.Meta.table_name:
            params["Limit"] = 1
            pages.append(1)

    client.meta.events.register("provide-client-params.dynamodb.Query", record)
    try:
        response = api.post(f"/listings/{hotel}/reviews", {"rating": 5}, token=tokens["traveler"])
        named = api.post(f"/listings/{hotel}/reviews", {"rating": 5, "booking_id": stay}, token=tokens["traveler"])
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", record)
    assert len(pages) == reviewable.MAX_PAGES, f"{len(pages)} pages of the traveler index for one review"
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR", response.data
    assert "booking_id" in response.data["error"]["details"]["fields"]
    assert named.status_code == 201, named.data  # a named booking is one GetItem, whatever the history


def test_reviews_sort_by_rating_reflects_a_review_written_a_moment_ago(api, tokens, fake):
    a = make_listing(api, tokens["vendor"], capacity=5)
    b = make_listing(api, tokens["vendor"], capacity=5)
    confirmed_night(api, tokens["traveler"], a)
    confirmed_night(api, tokens["traveler2"], b)
    clock.advance(3 * DAY)

    def order():
        search = api.get(f"/search?kind=hotel&city=PAR&check_in={day(20)}&check_out={day(21)}&sort=rating&limit=100")
        return [(r["listing_id"], r["rating"]) for r in search.data["results"] if r["listing_id"] in (a, b)]

    assert api.post(f"/listings/{a}/reviews", {"rating": 4}, token=tokens["traveler"]).status_code == 201
    assert order()[0] == (a, {"average": 4.0, "count": 1})
    assert api.post(f"/listings/{b}/reviews", {"rating": 5}, token=tokens["traveler2"]).status_code == 201
    assert order() == [(b, {"average": 5.0, "count": 1}), (a, {"average": 4.0, "count": 1})]


# === recommendations ===============================================================================


def test_recommendations_two_bookings_counted_at_once_still_pair_their_listings(api, tokens):
    """One traveler confirms two bookings (X, then Y) and the two messages are processed at
    the same time by two workers: each reads the traveler's history before the other
    commits, so neither pairs X with Y and the co-booking is lost for good. Processed one
    after the other, the same two bookings pair X and Y."""
    v, t = tokens["vendor"], tokens["traveler"]
    x, y = new_listing(api, v), new_listing(api, v)
    first = confirmed(api, t, item(x, 3))
    second = confirmed(api, t, item(y, 8))
    drain_recommendations()
    real = counting._history
    interleaved: list[str] = []

    def read_then_the_other_worker_runs(traveler_id, listing_ids):
        seen = real(traveler_id, listing_ids)
        if not interleaved:
            interleaved.append("second")
            counting.count_confirmed(second)  # the other worker, between our read and our write
        return seen

    counting._history = read_then_the_other_worker_runs
    try:
        counting.count_confirmed(first)
    finally:
        counting._history = real
    assert interleaved
    assert int(History.get(user_id(api, t), x).bookings) == 1 and int(History.get(user_id(api, t), y).bookings) == 1
    assert int(CoBooking.get(x, y).together) == 1 and int(CoBooking.get(y, x).together) == 1


def test_recommendations_an_out_of_order_message_does_not_move_the_history_back(api, tokens):
    """Two bookings of the same listing; SQS delivers the later confirmation first. The older
    message, counted second, used to overwrite the history's dates and last_at
    unconditionally. Now it adds its dates and leaves the recency at the newer booking's."""
    v, t = tokens["vendor"], tokens["traveler"]
    a = new_listing(api, v)
    older = confirmed(api, t, item(a, 3))
    clock.advance(60)
    newer = confirmed(api, t, item(a, 9))
    drain_recommendations()
    assert counting.count_confirmed(newer) == counting.COUNTED
    assert counting.count_confirmed(older) == counting.COUNTED
    history = History.get(user_id(api, t), a)
    assert int(history.bookings) == 2
    assert list(history.dates) == [day(3), day(9)]
    assert float(history.last_at) == counting._confirmed_at(bookings.read_booking(newer))
    assert float(history.last_at) > counting._confirmed_at(bookings.read_booking(older))


def _event_booked_twice_then(api, tokens, newer_holds: int) -> tuple[str, list[tuple[str, str | None]]]:
    """Booking A: event L on day 5. Booking B: L on day 7 and a hotel night on day 5 (so the
    Paris trip is days 5-7). Then `newer_holds` abandoned (cancelled) holds. Returns L and
    the (listing, date) offers."""
    from chalicelib.core.queues import RECOMMENDATIONS
    from tests.integration.test_recommendations import drain, run_worker

    v, t = tokens["vendor"], tokens["traveler2"]
    event = new_listing(api, v, "event", city="PAR")
    hotel = new_listing(api, v)
    filler = new_listing(api, v, capacity=50)
    confirmed(api, t, item(event, 5, "event"))
    confirmed(api, t, item(event, 7, "event"), item(hotel, 5))
    assert run_worker(drain(RECOMMENDATIONS)) == {"batchItemFailures": []}
    for n in range(newer_holds):
        if n % 10 == 0:
            clock.advance(61)  # the holds rate limit (20 a minute)
        booking_id = hold_a_night(api, t, filler, 12)
        assert api.post(f"/bookings/{booking_id}/cancel", {}, token=t).status_code in (200, 202)
    found = api.get("/me/recommendations?limit=50", token=t)
    assert found.status_code == 200, found.data
    return event, [(r["listing_id"], r.get("date")) for r in found.data["recommendations"]]


def test_recommendations_never_offer_a_listing_for_dates_booked_even_by_an_older_booking(api, tokens):
    """History kept only L's last dates (day 7); the older booking's day 5 was seen only among
    the LIVE_READ (20) newest bookings of any status, so after 20 newer (here cancelled)
    holds L was recommended for day 5: a date the traveler already booked (API.md: "never a
    listing the traveler already booked for the same dates"). History now keeps every date
    still to come of L, whichever booking."""
    event, offered = _event_booked_twice_then(api, tokens, newer_holds=20)
    assert (event, day(5)) not in offered, offered


def test_recommendations_a_listing_booked_twice_is_offered_only_on_other_dates(api, tokens):
    """The control of the test above: with both bookings among the newest, day 5 and day 7
    are both excluded and the event is offered for day 6."""
    event, offered = _event_booked_twice_then(api, tokens, newer_holds=0)
    assert (event, day(5)) not in offered and (event, day(7)) not in offered
    assert (event, day(6)) in offered, offered


def test_recommendations_of_another_traveler_cannot_be_read_or_changed(api, tokens):
    t1, t2 = tokens["traveler"], tokens["traveler2"]
    assert api.put("/me/preferences", {"recommendation_emails": True}, token=t1).data == {"recommendation_emails": True}
    assert api.get("/me/preferences", token=t2).data == {"recommendation_emails": False}
    for path in (f"/me/recommendations?traveler_id={user_id(api, t1)}", f"/me/preferences?traveler_id={user_id(api, t1)}"):
        response = api.get(path, token=t2)
        assert response.status_code == 400 or "recommendation_emails" not in (response.data or {}) \
            or response.data == {"recommendation_emails": False}
    assert api.get("/me/recommendations", token=tokens["vendor"]).status_code == 403
    assert api.get("/me/recommendations").status_code == 401


@pytest.mark.parametrize("body", [{"recommendation_emails": "true"}, {"recommendation_emails": 1},
                                  {"recommendation_emails": None}, {}, {"recommendation_emails": True, "x": 1}])
def test_recommendations_bad_preferences_are_400(api, tokens, body):
    response = api.put("/me/preferences", body, token=tokens["traveler"])
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_recommendations_a_search_with_a_bad_token_still_answers_and_records_nothing(api, tokens):
    path = f"/search?kind=hotel&city=LIS&check_in={day(5)}&check_out={day(6)}"
    for header in ("Bearer garbage", "Bearer " + tokens["traveler"][:-4] + "AAAA", "Basic Zm9vOmJhcg==", "\x00"):
        response = api.get(path, headers={"Authorization": header})
        assert response.status_code == 200, (header, response.data)
    assert [p.traveler_id for p in Profile.scan()] == []


def test_recommendations_a_malformed_worker_message_fails_only_itself(aws_env):
    from chalicelib.recommendations import workers

    records = [{"messageId": "a", "body": "not json"}, {"messageId": "b", "body": "null"},
               {"messageId": "c", "body": '{"booking_id": 5}'}, {"messageId": "d", "body": "[]"},
               {"messageId": "e", "body": json.dumps({"booking_id": "bk_" + "9" * 20})}]
    outcome = workers.handle_confirmed({"Records": records}, None)
    assert sorted(f["itemIdentifier"] for f in outcome["batchItemFailures"]) == ["a", "b", "c", "d"]


def test_recommendations_weekly_email_escapes_vendor_and_traveler_text(api, tokens, monkeypatch):
    from chalicelib.recommendations import weekly

    v = tokens["vendor"]
    lid = new_listing(api, v, city="LIS")
    evil = '<img src=x onerror="alert(1)">&amp;'
    assert api.patch(f"/vendor/listings/{lid}", {"title": evil}, token=v).status_code == 200
    other = new_listing(api, v, city="LIS")
    confirmed(api, tokens["traveler"], item(lid), item(other))
    from chalicelib.core.queues import RECOMMENDATIONS
    from tests.integration.test_recommendations import drain, run_worker
    run_worker(drain(RECOMMENDATIONS))
    Profile(user_id(api, tokens["traveler2"]), weekly="yes", email="eve@example.com",
            name="<script>x</script>").save()
    confirmed(api, tokens["traveler2"], item(other, 9))
    run_worker(drain(RECOMMENDATIONS))
    sent = []
    monkeypatch.setattr(weekly, "send_email", lambda to, subject, text, markup, tags: sent.append(markup))
    tally = weekly.send_weekly_picks()
    assert tally["sent"] == 1, tally
    [markup] = sent
    assert "<img" not in markup and "<script>" not in markup
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;" in markup


def test_recommendations_anonymous_search_imports_nothing_new(tmp_path):
    """Cold start: an anonymous GET /search must not import the recommendations context nor the
    places index (it only serves vendors' availability writes and GET /places). Today
    inventory.availability imports place_index at module level, and the search path imports
    inventory.availability through inventory.service."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "import tests.conftest as c\n"
        "import boto3, moto, os\n"
        "from tools.bootstrap import bootstrap\n"
        "with moto.mock_aws():\n"
        "    c.reset_app_state()\n"
        "    from chalicelib.core.config import settings\n"
        "    out = bootstrap(boto3.session.Session(), sender=settings().sender_email, demo_password=c.DEFAULT_PASSWORD)\n"
        "    os.environ['ITINERA_USER_POOL_ID'] = out['user_pool_id']\n"
        "    os.environ['ITINERA_USER_POOL_CLIENT_ID'] = out['client_id']\n"
        "    c.reset_app_state()\n"
        "    from chalice.test import Client\n"
        "    from app import app\n"
        "    with Client(app, stage_name='local') as cl:\n"
        "        before = set(sys.modules)\n"
        "        r = cl.http.get('/search?kind=hotel&city=PAR&check_in=2027-03-01&check_out=2027-03-02')\n"
        "        assert r.status_code == 200, r.body\n"
        "    print(' '.join(sorted(m for m in set(sys.modules) - before if m.startswith(('chalicelib.recommendations',\n"
        "        'chalicelib.inventory.place_index', 'chalicelib.inventory.offers', 'chalicelib.waitlist', 'jwt')))))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITINERA_USER_POOL")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), done.stdout


def test_recommendations_a_throttled_batch_read_backs_off_and_gives_up(api, tokens, monkeypatch):
    """inventory.offers.listings_with_days looped `while pending:` on UnprocessedKeys with no
    sleep and no cap: under throttling GET /me/recommendations spun, re-sending the same
    BatchGetItem as fast as it could (AWS: retry unprocessed keys with exponential backoff).
    Now: growing jittered pauses, BATCH_ATTEMPTS calls, then 503 with Retry-After."""
    from chalicelib.core.queues import RECOMMENDATIONS
    from chalicelib.inventory import offers
    from chalicelib.inventory.models import Listing as ListingModel
    from tests.integration.test_recommendations import drain, run_worker

    lid = new_listing(api, tokens["vendor"])
    confirmed(api, tokens["traveler"], item(lid))
    run_worker(drain(RECOMMENDATIONS))
    client = ListingModel._get_connection().connection.client
    calls, sleeps = [], []

    def always_throttled(RequestItems):
        calls.append(1)
        if len(calls) > 50:
            raise RuntimeError("stopped the test's hot loop after 50 identical BatchGetItem calls")
        return {"Responses": {}, "UnprocessedKeys": RequestItems}

    monkeypatch.setattr(client, "batch_get_item", always_throttled)
    monkeypatch.setattr(offers, "time", type("T", (), {"sleep": staticmethod(sleeps.append)}))
    response = api.get("/me/recommendations", token=tokens["traveler2"])
    monkeypatch.undo()
    assert len(calls) == offers.BATCH_ATTEMPTS, f"{len(calls)} BatchGetItem calls, {len(sleeps)} sleeps"
    assert len(sleeps) == len(calls) - 1 and sleeps == sorted(sleeps) and sleeps[0] < sleeps[-1]  # growing pauses
    assert response.status_code == 503 and error_code(response) == "SERVICE_UNAVAILABLE", response.data
    assert response.headers.get("Retry-After") == "1"


@pytest.mark.parametrize("raw", [
    '{"rating": 5.0}', '{"rating": 1e0}', '{"rating": 100000000000000000000000000000}', '{"rating": -1}',
    '{"rating": [5]}', '{"rating": {"n": 5}}', '[5]', '"5"', 'null', '{"rating": 5, "comment": null}',
    '{"rating": 5, "booking_id": ""}', '{"rating": 5, "booking_id": "bk_\\u0000"}',
])
def test_reviews_odd_json_is_400_never_5xx(api, tokens, raw):
    hotel = "lst_" + "a" * 16
    response = api.post(f"/listings/{hotel}/reviews", raw, token=tokens["traveler"])
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR", response.data


@pytest.mark.parametrize("query", ["q=par&q=lis", "q=par&limit=1e1", "q=par&limit=-0", "q=%E2%80%AEpar",
                                   "q=par%23PAR", "q=%2A", "limit=5"])
def test_places_odd_query_strings_are_4xx_or_answered(api, query):
    response = api.get(f"/places?{query}")
    assert response.status_code < 500, response.data
    assert response.status_code == 200 or error_code(response) == "VALIDATION_ERROR"
