"""GET /me/recommendations, the counting worker, searched places and the weekly email."""
from __future__ import annotations

import json
import uuid

import boto3
import pytest

from chalicelib.booking import service as bookings
from chalicelib.core.queues import RECOMMENDATIONS, queue_url
from chalicelib.core.sqs_batch import BatchFailed
from chalicelib.recommendations import weekly, workers
from chalicelib.recommendations.models import CoBooking, Counted, History, Popularity, Profile
from infra.resources import models
from tests.integration.booking_helpers import day, hold_body, key, pay_booking

POLICY = {"free_until_hours": 48, "refund_percent_after": 50}


def listing(api, token, *, kind="hotel", city="PAR", capacity=10, price=10000, title=None) -> str:
    body = {"kind": kind, "title": title or f"{kind} {uuid.uuid4().hex[:6]}", "currency": "EUR",
            "cancellation_policy": POLICY}
    if kind == "flight":
        body.update(origin="CDG", destination=city)
    else:
        body["city"] = city
    created = api.post("/vendor/listings", body, token=token)
    assert created.status_code == 201, created.data
    lid = created.data["listing_id"]
    put = api.put(f"/vendor/listings/{lid}/availability",
                  {"from": day(0), "to": day(30), "capacity": capacity, "price": price}, token=token)
    assert put.status_code == 200, put.data
    return lid


def item(listing_id: str, offset: int = 5, *, kind: str = "hotel") -> dict:
    if kind == "hotel":
        return {"listing_id": listing_id, "quantity": 1, "check_in": day(offset), "check_out": day(offset + 1)}
    return {"listing_id": listing_id, "quantity": 1, "date": day(offset)}


def hold(api, token, *items) -> str:
    held = api.post("/holds", hold_body(*items), token=token, headers=key())
    assert held.status_code == 201, held.data
    return held.data["booking_id"]


def drain(queue: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url(queue), MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url(queue), ReceiptHandle=message["ReceiptHandle"])
            found.append(message)


def run_worker(messages: list[dict]) -> dict:
    event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"], "receiptHandle": "x",
                          "eventSource": "aws:sqs"} for m in messages]}
    return workers.handle_confirmed(event, None)


def book(api, token, *items, count: bool = True) -> str:
    """Hold, pay, confirm (the confirmation worker's use case) and, by default, let the
    recommendations worker count the booking."""
    booking_id = hold(api, token, *items)
    paid = pay_booking(api, token, booking_id)
    assert paid.status_code == 202, paid.data
    assert bookings.confirm_booking(booking_id) == "confirmed"
    if count:
        assert run_worker(drain(RECOMMENDATIONS)) == {"batchItemFailures": []}
    return booking_id


def recommendations(api, token, **params) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = api.get("/me/recommendations" + (f"?{query}" if query else ""), token=token)
    assert response.status_code == 200, response.data
    return response.data["recommendations"]


def user_id(api, token) -> str:
    return api.get("/me", token=token).data["user_id"]


@pytest.fixture
def trio(api, tokens):
    """A, B, C: hotels in Paris booked together by the first traveler on day 5; C had one room,
    so that booking sold it out that night."""
    v = tokens["vendor"]
    a, b, c = listing(api, v), listing(api, v), listing(api, v, capacity=1)
    book(api, tokens["traveler"], item(a), item(b), item(c))
    return a, b, c


# --- counting ------------------------------------------------------------------------------------


def test_a_confirmation_counts_its_co_bookings_once_even_when_the_message_comes_twice(api, tokens):
    v, t = tokens["vendor"], tokens["traveler"]
    a, b = listing(api, v), listing(api, v)
    book(api, t, item(a, 3))
    booking_id = book(api, t, item(b, 8), count=False)
    [message] = drain(RECOMMENDATIONS)
    assert json.loads(message["Body"])["booking_id"] == booking_id
    run_worker([message])
    run_worker([{**message, "MessageId": "again"}])  # SQS delivered it twice
    assert bookings.confirm_booking(booking_id) == "skipped"  # a redelivered confirmation...
    run_worker(drain(RECOMMENDATIONS))  # ...tells recommendations again: still counted once

    assert int(CoBooking.get(a, b).together) == 1 and int(CoBooking.get(b, a).together) == 1
    assert int(Popularity.get("place#PAR", b).bookings) == 1
    history = History.get(user_id(api, t), b)
    assert int(history.bookings) == 1 and list(history.dates) == [day(8)]
    assert Counted.get(booking_id, b).counted_at


def test_a_listing_counted_as_new_on_a_stale_read_is_counted_again_as_a_repeat(api, tokens, monkeypatch):
    from chalicelib.recommendations import counting

    v, t = tokens["vendor"], tokens["traveler"]
    a, b = listing(api, v), listing(api, v)
    book(api, t, item(a, 3))
    book(api, t, item(b, 4))
    real, reads = counting._history, []

    def stale_first(traveler_id, listing_ids):
        reads.append(listing_ids)
        # the first read as if B were new (and nothing counted yet)
        return counting.Seen({}, [], 0) if len(reads) == 1 else real(traveler_id, listing_ids)

    monkeypatch.setattr(counting, "_history", stale_first)
    book(api, t, item(b, 9))
    assert len(reads) == 2  # the first-time put of B's history failed its condition: read again
    assert int(CoBooking.get(a, b).together) == 1 and int(CoBooking.get(b, a).together) == 1
    assert int(History.get(user_id(api, t), b).bookings) == 2


def test_a_worker_that_died_between_two_listings_finishes_on_redelivery_without_counting_twice(
        api, tokens, monkeypatch):
    from chalicelib.recommendations import counting

    v, t = tokens["vendor"], tokens["traveler"]
    a, b = sorted([listing(api, v), listing(api, v)])
    booking_id = book(api, t, item(a), item(b), count=False)
    [message] = drain(RECOMMENDATIONS)
    real, commits = counting._commit, []

    def die_after_first(*args):
        if commits:
            raise RuntimeError("the worker died")
        commits.append(real(*args))
        return commits[-1]

    monkeypatch.setattr(counting, "_commit", die_after_first)
    with pytest.raises(BatchFailed):  # its one record failed: SQS will deliver it again
        run_worker([message])
    monkeypatch.undo()
    assert Counted.get(booking_id, a) and int(CoBooking.get(a, b).together) == 1
    run_worker([{**message, "MessageId": "redelivered"}])
    assert int(CoBooking.get(a, b).together) == 1 and int(CoBooking.get(b, a).together) == 1
    assert Counted.get(booking_id, b) and int(Popularity.get("place#PAR", b).bookings) == 1


def test_a_redelivered_confirmation_of_a_confirmed_booking_tells_recommendations(api, tokens):
    a = listing(api, tokens["vendor"])
    booking_id = book(api, tokens["traveler"], item(a), count=False)
    drain(RECOMMENDATIONS)  # as if the first delivery died before its message was sent
    assert bookings.confirm_booking(booking_id) == "skipped"
    assert [json.loads(m["Body"])["booking_id"] for m in drain(RECOMMENDATIONS)] == [booking_id]


def test_a_count_that_keeps_losing_to_other_counts_fails_its_message_to_come_back(api, tokens, monkeypatch):
    from chalicelib.recommendations import counting

    a = listing(api, tokens["vendor"])
    booking_id = book(api, tokens["traveler"], item(a), count=False)
    drain(RECOMMENDATIONS)
    reads = []
    monkeypatch.setattr(counting, "_history", lambda traveler_id, ids: reads.append(ids) or counting.Seen({}, [], 0))
    monkeypatch.setattr(counting, "_commit", lambda *args: "retry")  # another worker wins every time
    monkeypatch.setattr(counting.time, "sleep", lambda seconds: None)
    with pytest.raises(RuntimeError, match="history kept changing"):
        counting.count_confirmed(booking_id)
    assert len(reads) == counting.ATTEMPTS


def test_the_history_version_moves_with_each_listing_counted(api, tokens):
    from chalicelib.recommendations.models import VERSION

    v, t = tokens["vendor"], tokens["traveler"]
    a, b, c = listing(api, v), listing(api, v), listing(api, v)
    book(api, t, item(a), item(b))
    assert int(History.get(user_id(api, t), VERSION).version) == 2
    booking_id = book(api, t, item(c, 9), count=False)
    [message] = drain(RECOMMENDATIONS)
    run_worker([message])
    run_worker([{**message, "MessageId": "again"}])  # a duplicate writes nothing, not even the version
    assert int(History.get(user_id(api, t), VERSION).version) == 3
    assert Counted.get(booking_id, c)


def test_a_throttled_history_read_backs_off_and_gives_up(aws_env, monkeypatch):
    from chalicelib.core.errors import ServiceUnavailable
    from chalicelib.recommendations import history

    client = History._get_connection().connection.client
    calls, sleeps = [], []

    def throttled(RequestItems):
        calls.append(RequestItems)
        return {"Responses": {}, "UnprocessedKeys": RequestItems}

    monkeypatch.setattr(client, "batch_get_item", throttled)
    monkeypatch.setattr(history.time, "sleep", sleeps.append)
    with pytest.raises(ServiceUnavailable):
        history.get_items("trav-1", ["lst_a", "lst_b"], consistent=True)
    assert len(calls) == history.ATTEMPTS and len(sleeps) == history.ATTEMPTS - 1
    assert sleeps == sorted(sleeps) and sleeps[-1] <= history.BACKOFF_CAP


def test_a_message_without_a_booking_id_is_reported_failed(aws_env):
    event = {"Records": [{"messageId": "m1", "body": "{}"}, {"messageId": "m2", "body": '{"booking_id": "bk_x"}'}]}
    assert workers.handle_confirmed(event, None) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


# --- reading ---------------------------------------------------------------------------------------


def test_a_traveler_gets_what_travelers_who_booked_the_same_listing_also_booked(api, tokens, trio):
    a, b, _ = trio
    book(api, tokens["traveler2"], item(a))
    found = {r["listing_id"]: r for r in recommendations(api, tokens["traveler2"])}
    assert found[b]["reason"] == "also_booked"
    # their trip to Paris is night 5: B is offered for it
    assert (found[b]["check_in"], found[b]["check_out"]) == (day(5), day(6))
    assert found[b]["price"] == {"amount": 10000, "currency": "EUR"} and found[b]["kind"] == "hotel"
    assert found[b]["city"] == "PAR" and found[b]["rating"] == {"count": 0}


def test_a_sold_out_co_booked_listing_is_left_out(api, tokens, trio):
    a, b, c = trio
    book(api, tokens["traveler2"], item(a))
    assert int(CoBooking.get(a, c).together) == 1  # co-booked all right...
    found = [r["listing_id"] for r in recommendations(api, tokens["traveler2"])]
    assert b in found and c not in found  # ...but its one room is sold for their night


def test_a_listing_the_traveler_already_holds_for_the_same_dates_is_left_out(api, tokens, trio):
    a, b, _ = trio
    book(api, tokens["traveler2"], item(a))
    hold(api, tokens["traveler2"], item(b))
    assert b not in [r["listing_id"] for r in recommendations(api, tokens["traveler2"])]


def test_a_listing_already_booked_for_the_same_dates_is_left_out(api, tokens, trio):
    a, b, c = trio
    d = listing(api, tokens["vendor"])
    book(api, tokens["traveler2"], item(d))
    found = {r["listing_id"]: r["reason"] for r in recommendations(api, tokens["traveler"])}
    # their own listings sell in Paris too, but night 5 there is theirs already
    assert found == {d: "your_places"}


def test_a_listing_booked_before_the_most_recent_ones_read_is_not_offered_for_its_dates(api, tokens, monkeypatch):
    from chalicelib.recommendations import service

    v = tokens["vendor"]
    x, z, w = listing(api, v), listing(api, v), listing(api, v)
    book(api, tokens["traveler"], item(x), item(z), item(w))  # X, Z, W co-booked, night 5 in Paris
    book(api, tokens["traveler2"], item(x))
    book(api, tokens["traveler2"], item(z))
    monkeypatch.setattr(service, "HISTORY_READ", 1)  # the read sees Z only, as if X were long ago
    found = [r["listing_id"] for r in recommendations(api, tokens["traveler2"])]
    assert found == [w]  # X is co-booked with Z and sells in Paris, but night 5 of it is theirs


def test_when_their_own_candidates_are_sold_out_or_theirs_a_traveler_gets_what_is_popular(api, tokens, trio):
    a, b, c = trio  # C sold out on night 5 in Paris
    lisbon = listing(api, tokens["vendor"], city="LIS")
    signup = api.post("/auth/signup", {"email": "lisboeta@example.com", "password": "Passw0rdX", "name": "L"})
    assert signup.status_code == 201, signup.data
    book(api, api.login("lisboeta@example.com", "Passw0rdX"), item(lisbon, 9))
    book(api, tokens["traveler2"], item(a), item(b))  # night 5 in Paris: A and B theirs, C full
    found = recommendations(api, tokens["traveler2"])
    assert [(r["listing_id"], r["reason"]) for r in found] == [(lisbon, "popular")]
    assert "price_from" in found[0] and "check_in" not in found[0]  # no trip to Lisbon: undated


def test_without_history_a_traveler_gets_what_sells_where_they_searched(api, tokens):
    v = tokens["vendor"]
    lisbon, paris = listing(api, v, city="LIS"), listing(api, v, city="PAR")
    book(api, tokens["traveler"], item(lisbon), item(paris))
    anonymous = api.get(f"/search?kind=hotel&city=BCN&check_in={day(5)}&check_out={day(6)}")
    searched = api.get(f"/search?kind=hotel&city=LIS&check_in={day(5)}&check_out={day(6)}",
                       token=tokens["traveler2"])
    assert anonymous.status_code == searched.status_code == 200
    assert list(Profile.get(user_id(api, tokens["traveler2"])).searched.as_dict()) == ["LIS"]

    found = recommendations(api, tokens["traveler2"])
    assert [(r["listing_id"], r["reason"]) for r in found] == [(lisbon, "popular_in_searched")]
    assert "price_from" in found[0] and "check_in" not in found[0]  # no trip: from a price, undated


def test_a_flight_search_records_the_destination_city(api, tokens):
    response = api.get(f"/search?kind=flight&origin=LIS&destination=CDG&date={day(5)}", token=tokens["traveler2"])
    assert response.status_code == 200
    assert list(Profile.get(user_id(api, tokens["traveler2"])).searched.as_dict()) == ["PAR"]


def test_searched_places_keep_the_most_recent_few(aws_env):
    from chalicelib.recommendations import searches

    for i, place in enumerate(["P%02d" % n for n in range(searches.MAX_SEARCHED + 2)]):
        searches.record("trav-1", place, now=1000.0 + i)
    searches.record("trav-1", "P09", now=2000.0)  # again: updated in place
    searched = Profile.get("trav-1").searched.as_dict()
    assert len(searched) <= searches.MAX_SEARCHED and searched["P09"] == 2000.0
    assert {"P08", "P07"} <= set(searched) and "P00" not in searched


def test_a_vendors_search_records_nothing(api, tokens):
    response = api.get(f"/search?kind=hotel&city=LIS&check_in={day(5)}&check_out={day(6)}", token=tokens["vendor"])
    assert response.status_code == 200
    with pytest.raises(Profile.DoesNotExist):
        Profile.get(user_id(api, tokens["vendor"]))


def test_without_history_or_searches_a_traveler_gets_what_is_popular(api, tokens):
    v = tokens["vendor"]
    lisbon, event = listing(api, v, city="LIS"), listing(api, v, kind="event", city="BCN")
    book(api, tokens["traveler"], item(lisbon), item(event, kind="event"))
    book(api, tokens["traveler2"], item(event, 6, kind="event"))  # the event: twice as popular
    signup = api.post("/auth/signup", {"email": "newbie@example.com", "password": "Passw0rdX", "name": "New"})
    assert signup.status_code == 201, signup.data
    fresh = api.login("newbie@example.com", "Passw0rdX")
    found = recommendations(api, fresh)
    assert [(r["listing_id"], r["reason"]) for r in found] == [(event, "popular"), (lisbon, "popular")]


def test_history_cities_kinds_and_price_level_shape_the_picks(api, tokens):
    v = tokens["vendor"]
    mine = listing(api, v, city="LIS", price=10000)
    usual, dear = listing(api, v, city="LIS", price=11000), listing(api, v, city="LIS", price=90000)
    event = listing(api, v, kind="event", city="LIS", price=11000)
    elsewhere = listing(api, v, city="BCN", price=11000)
    book(api, tokens["traveler"], item(usual), item(dear), item(event, kind="event"), item(elsewhere))
    book(api, tokens["traveler2"], item(mine, 20))  # a 100 EUR hotel in Lisbon
    found = [r["listing_id"] for r in recommendations(api, tokens["traveler2"])]
    assert found[0] == usual  # same city, same kind, same price level
    assert found.index(usual) < found.index(dear) and found.index(usual) < found.index(event)
    assert elsewhere not in found  # nothing ties them to Barcelona


def test_a_read_takes_the_same_few_round_trips_however_many_bookings_exist(api, tokens, trio):
    a, b, c = trio
    book(api, tokens["traveler2"], item(a))
    # Every model's client: they share one, unless an earlier test reset some models' connections.
    clients = list({id(c): c for c in (m._get_connection().connection.client for m in models())}.values())
    calls = []

    def record(model, params, **_):
        calls.append((model.name, params.get("IndexName")))

    def read() -> list:
        calls.clear()
        for client in clients:
            client.meta.events.register("provide-client-params.dynamodb.*", record)
        try:
            recommendations(api, tokens["traveler2"])
        finally:
            for client in clients:
                client.meta.events.unregister("provide-client-params.dynamodb.*", record)
        return sorted(calls, key=str)

    first = read()
    # history, live bookings, one seed's co-booked, one place's popular, one batch of candidates
    # and, beside it, one of the History items of the candidates (B, C) not in the recent history
    assert first == sorted([("Query", "by-recency"), ("Query", "by-traveler"), ("Query", "by-count"),
                            ("Query", "by-count"), ("BatchGetItem", None), ("BatchGetItem", None)], key=str)
    for offset in (7, 9, 11):
        book(api, tokens["traveler"], item(a, offset), item(b, offset))
    assert read() == first


def test_bad_limits_are_400_naming_limit(api, tokens):
    for bad in ("0", "51", "ten"):
        response = api.get(f"/me/recommendations?limit={bad}", token=tokens["traveler"])
        assert response.status_code == 400, bad
        assert response.data["error"]["code"] == "VALIDATION_ERROR"
        assert "limit" in response.data["error"]["details"]["fields"]


def test_only_travelers_get_recommendations(api, tokens):
    assert api.get("/me/recommendations", token=tokens["vendor"]).status_code == 403
    assert api.get("/me/recommendations").status_code == 401


def test_the_limit_caps_the_list(api, tokens, trio):
    a, _, _ = trio
    extra = [listing(api, tokens["vendor"]) for _ in range(2)]
    book(api, tokens["traveler"], *[item(x, 5) for x in extra])
    book(api, tokens["traveler2"], item(a))
    assert len(recommendations(api, tokens["traveler2"], limit=1)) == 1


# --- the weekly email ------------------------------------------------------------------------------


def sent_emails():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_preferences_default_off_and_round_trip(api, tokens):
    t = tokens["traveler"]
    assert api.get("/me/preferences", token=t).data == {"recommendation_emails": False}
    assert api.put("/me/preferences", {"recommendation_emails": True}, token=t).data == {"recommendation_emails": True}
    assert api.get("/me/preferences", token=t).data == {"recommendation_emails": True}
    bad = api.put("/me/preferences", {"recommendation_emails": "yes"}, token=t)
    assert bad.status_code == 400 and "recommendation_emails" in bad.data["error"]["details"]["fields"]
    assert api.put("/me/preferences", {"recommendation_emails": False}, token=t).data == {
        "recommendation_emails": False}


def test_the_weekly_email_goes_once_a_week_to_opted_in_travelers_only(api, tokens):
    v = tokens["vendor"]
    a, b = listing(api, v, title="Hôtel <b>Lumière</b>"), listing(api, v)
    book(api, tokens["traveler"], item(a, 9))
    book(api, tokens["traveler2"], item(b, 9))  # both have picks: each other's hotel
    assert api.put("/me/preferences", {"recommendation_emails": True}, token=tokens["traveler2"]).status_code == 200

    assert weekly.send_weekly_picks()["sent"] == 1
    [email] = sent_emails()
    assert email.destinations == {"ToAddresses": ["traveler2@example.com"]}
    assert "Hôtel &lt;b&gt;Lumière&lt;/b&gt;" in email.body and "<b>Lumière" not in email.body

    again = weekly.send_weekly_picks()  # a re-run the same week
    assert again["sent"] == 0 and again["already"] == 1 and len(sent_emails()) == 1


def test_an_opted_in_traveler_without_picks_gets_no_email(api, tokens):
    assert api.put("/me/preferences", {"recommendation_emails": True}, token=tokens["traveler"]).status_code == 200
    assert weekly.send_weekly_picks()["no_picks"] == 1
    assert len(sent_emails()) == 0


def test_a_failed_send_is_retried_by_the_next_run(api, tokens, monkeypatch):
    a, b = listing(api, tokens["vendor"]), listing(api, tokens["vendor"])
    book(api, tokens["traveler"], item(a, 9))
    book(api, tokens["traveler2"], item(b, 9))
    api.put("/me/preferences", {"recommendation_emails": True}, token=tokens["traveler2"])

    def refuse(*_, **__):
        raise RuntimeError("SES throttled")

    monkeypatch.setattr(weekly, "send_email", refuse)
    assert weekly.send_weekly_picks()["failed"] == 1
    monkeypatch.undo()
    assert weekly.send_weekly_picks()["sent"] == 1 and len(sent_emails()) == 1
