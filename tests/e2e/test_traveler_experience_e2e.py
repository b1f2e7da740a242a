"""Issue 13 end to end over HTTP against the local stack: places, reviews, promotions under a
50-hold race, the waitlist and recommendations, with the workers run by the event runner."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day, mailbox, wait_for_status


def _hold(stack, headers, items, **extra):
    return stack.http.post(stack.url("/holds"), headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
                           json={"items": items, "contact": {"email": "e2e@example.com", "name": "E2E"}, **extra},
                           timeout=TIMEOUT)


def _book(stack, headers, items):
    """A CONFIRMED booking of these items (hold, pay with a test token, wait for the worker)."""
    hold = _hold(stack, headers, items)
    assert hold.status_code == 201, hold.text
    booking_id = hold.json()["booking_id"]
    paid = stack.http.post(stack.url(f"/bookings/{booking_id}/payment"), json={"payment_method": "tok_visa"},
                           headers={**headers, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert paid.status_code == 202, paid.text
    return wait_for_status(stack, booking_id, headers, "CONFIRMED")


def _eventually(check, seconds=30, what="the condition"):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.25)


def test_a_traveler_finds_lisbon_by_typing_lis(stack):
    vendor = stack.auth("vendor@example.com")
    create_listing(stack, vendor, kind="event", capacity=5, price=3000, city="LIS")

    for typed in ("lis", "LISB", "Lisbon"):
        answer = stack.http.get(stack.url("/places"), params={"q": typed}, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        lisbon = [p for p in answer.json()["places"] if p["code"] == "LIS" and p["type"] == "city"]
        assert lisbon, (typed, answer.json())
        assert lisbon[0]["name"] == "Lisbon" and lisbon[0]["country"] == "PT"
        assert "event" in lisbon[0]["kinds"]


def test_reviews_only_after_the_stay_one_per_booking_average_exact(stack):
    vendor = stack.auth("vendor@example.com")
    event = create_listing(stack, vendor, kind="event", capacity=10, price=2500, city="BCN")
    first, second, stranger = (stack.new_traveler("reviewer"), stack.new_traveler("reviewer"),
                               stack.new_traveler("stranger"))
    # Today's event has started: it may be reviewed. Tomorrow's has not.
    _book(stack, first, [{"listing_id": event, "quantity": 1, "date": day(0)}])
    _book(stack, second, [{"listing_id": event, "quantity": 1, "date": day(0)}])
    later = stack.new_traveler("early")
    _book(stack, later, [{"listing_id": event, "quantity": 1, "date": day(1)}])

    def review(headers, rating, comment="Great evening"):
        return stack.http.post(stack.url(f"/listings/{event}/reviews"), headers=headers, timeout=TIMEOUT,
                               json={"rating": rating, "comment": comment})

    assert review(stranger, 5).status_code == 403
    assert review(later, 5).status_code == 403
    assert review(first, 5, "<b>Loved it</b>").status_code == 201
    again = review(first, 1)
    assert again.status_code == 409 and again.json()["error"]["code"] == "ALREADY_REVIEWED"
    assert review(second, 4).status_code == 201

    listing = stack.http.get(stack.url(f"/listings/{event}"), timeout=TIMEOUT).json()
    assert listing["rating"] == {"average": 4.5, "count": 2}
    reviews = stack.http.get(stack.url(f"/listings/{event}/reviews"), timeout=TIMEOUT).json()["reviews"]
    assert sorted(r["rating"] for r in reviews) == [4, 5]
    assert "<b>Loved it</b>" in [r["comment"] for r in reviews]  # stored as text, verbatim


def test_fifty_concurrent_holds_with_a_code_of_ten_uses_discount_exactly_ten(stack):
    vendor = stack.auth("vendor@example.com")
    hotel = create_listing(stack, vendor, kind="hotel", capacity=60, price=10000, city="LIS")
    code = "E2E" + uuid.uuid4().hex[:8].upper()
    created = stack.http.post(stack.url("/vendor/promotions"), headers=vendor, timeout=TIMEOUT, json={
        "code": code, "percent_off": 20, "valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z",
        "max_uses": 10, "max_uses_per_traveler": 5, "listing_id": hotel})
    assert created.status_code == 201, created.text
    travelers = [stack.new_traveler("promo") for _ in range(10)]  # 5 active holds each

    def attempt(i):
        return _hold(stack, travelers[i % 10], [{"listing_id": hotel, "quantity": 1, "check_in": day(30),
                                                 "check_out": day(31)}], promo_code=code)

    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(pool.map(attempt, range(50)))
    held = [a.json() for a in answers if a.status_code == 201]
    refused = [a.json() for a in answers if a.status_code != 201]
    assert len(held) == 10, [a.text for a in answers if a.status_code not in (201, 422)]
    assert all(b["amount"]["amount"] == 8000 and b["discount"]["amount"]["amount"] == 2000 for b in held)
    assert len(refused) == 40 and {r["error"]["code"] for r in refused} == {"PROMO_INVALID"}
    listed = stack.http.get(stack.url("/vendor/promotions"), headers=vendor, params={"limit": "100"},
                            timeout=TIMEOUT).json()["promotions"]
    assert [p["uses"] for p in listed if p["code"] == code] == [10]


def test_a_waitlisted_traveler_gets_the_hold_when_another_cancels_and_two_never_share_it(stack):
    vendor = stack.auth("vendor@example.com")
    event = create_listing(stack, vendor, kind="event", capacity=1, price=4000, city="LIS")
    holder, first, second = stack.new_traveler("holder"), stack.new_traveler("waiter"), stack.new_traveler("waiter")
    item = {"listing_id": event, "quantity": 1, "date": day(10)}
    hold = _hold(stack, holder, [item])
    assert hold.status_code == 201, hold.text

    entries = []
    for waiter in (first, second):
        joined = stack.http.post(stack.url(f"/listings/{event}/waitlist"), headers=waiter, timeout=TIMEOUT,
                                 json={"date": day(10), "quantity": 1})
        assert joined.status_code == 201, joined.text
        entries.append(joined.json()["entry_id"])

    cancelled = stack.http.post(stack.url(f"/bookings/{hold.json()['booking_id']}/cancel"), json={}, headers=holder,
                                timeout=TIMEOUT)
    assert cancelled.status_code == 200, cancelled.text

    def offered():
        mine = stack.http.get(stack.url("/me/waitlist"), headers=first, timeout=TIMEOUT).json()["entries"]
        return [e for e in mine if e["entry_id"] == entries[0] and e["status"] == "OFFERED"]

    [entry] = _eventually(offered, what="the waitlist hold")
    booking = stack.http.get(stack.url(f"/bookings/{entry['booking_id']}"), headers=first, timeout=TIMEOUT).json()
    assert booking["status"] == "HELD" and booking["items"][0]["listing_id"] == event
    _eventually(lambda: any(booking["reference"] in (m["subject"] or "") + (m["body"] or "") for m in mailbox(stack)),
                what="the waitlist email")

    time.sleep(2)  # give a wrong second offer the time to happen
    others = stack.http.get(stack.url("/me/waitlist"), headers=second, timeout=TIMEOUT).json()["entries"]
    assert [e["status"] for e in others if e["entry_id"] == entries[1]] == ["WAITING"]
    days = stack.http.get(stack.url(f"/listings/{event}/availability"), params={"from": day(10), "to": day(10)},
                          timeout=TIMEOUT).json()["days"]
    assert days[0]["available"] == 0


def test_recommendations_include_a_co_booked_listing_and_exclude_sold_out_ones(stack):
    vendor = stack.auth("vendor@example.com")
    city = "TYO"
    hotel = create_listing(stack, vendor, kind="hotel", capacity=5, price=12000, city=city)
    tour = create_listing(stack, vendor, kind="service", capacity=5, price=3000, city=city)
    show = stack.http.post(stack.url("/vendor/listings"), headers=vendor, timeout=TIMEOUT, json={
        "kind": "event", "title": f"E2E sold-out show {uuid.uuid4().hex[:6]}", "description": "one night only",
        "currency": "EUR", "city": city, "attributes": {},
        "cancellation_policy": {"free_until_hours": 24, "refund_percent_after": 0}}).json()["listing_id"]
    put = stack.http.put(stack.url(f"/vendor/listings/{show}/availability"), headers=vendor, timeout=TIMEOUT,
                         json={"days": [{"date": day(5), "capacity": 1, "price": 5000}]})
    assert put.status_code == 200, put.text

    earlier, newcomer = stack.new_traveler("explorer"), stack.new_traveler("newcomer")
    _book(stack, earlier, [{"listing_id": hotel, "quantity": 1, "check_in": day(5), "check_out": day(6)},
                           {"listing_id": tour, "quantity": 1, "date": day(5)},
                           {"listing_id": show, "quantity": 1, "date": day(5)}])  # the show's last unit
    _book(stack, newcomer, [{"listing_id": hotel, "quantity": 1, "check_in": day(8), "check_out": day(9)}])

    def picks():
        answer = stack.http.get(stack.url("/me/recommendations"), headers=newcomer, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
        ids = [r["listing_id"] for r in answer.json()["recommendations"]]
        return ids if tour in ids else None

    ids = _eventually(picks, what="the co-booked tour among the recommendations")
    assert show not in ids  # co-booked too, but sold out
