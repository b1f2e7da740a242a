"""Booking end to end over HTTP against the local stack, workers delivered by the event runner."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import date, timedelta

import requests

TIMEOUT = 10


def day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


def create_listing(stack, vendor_headers, *, kind, capacity, price, policy=(72, 40), **place):
    body = {"kind": kind, "title": f"E2E {kind} {uuid.uuid4().hex[:6]}", "description": "end to end",
            "currency": "EUR", "attributes": {}, **place,
            "cancellation_policy": {"free_until_hours": policy[0], "refund_percent_after": policy[1]}}
    created = stack.http.post(stack.url("/vendor/listings"), json=body, headers=vendor_headers, timeout=TIMEOUT)
    assert created.status_code == 201, created.text
    listing_id = created.json()["listing_id"]
    put = stack.http.put(stack.url(f"/vendor/listings/{listing_id}/availability"), headers=vendor_headers,
                         json={"from": day(0), "to": day(60), "capacity": capacity, "price": price}, timeout=TIMEOUT)
    assert put.status_code == 200, put.text
    return listing_id


def wait_for_status(stack, booking_id, headers, status, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        booking = stack.http.get(stack.url(f"/bookings/{booking_id}"), headers=headers, timeout=TIMEOUT).json()
        if booking["status"] == status:
            return booking
        time.sleep(0.25)
    raise AssertionError(f"booking stayed {booking['status']}, expected {status}")


def mailbox(stack):
    return requests.get(stack.aws_url + "/_itinera/ses/messages", timeout=TIMEOUT).json()["messages"]


def search_ids(stack, **params):
    ids, cursor = [], None
    while True:
        response = stack.http.get(stack.url("/search"), params={**params, **({"cursor": cursor} if cursor else {})},
                                  timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [r["listing_id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids


def test_search_hold_trip_pay_confirm_email_cancel_refund(stack):
    vendor = stack.auth("vendor@example.com")
    traveler = stack.auth("traveler@example.com")
    hotel = create_listing(stack, vendor, kind="hotel", capacity=4, price=15000, city="LIS")
    flight = create_listing(stack, vendor, kind="flight", capacity=6, price=21000, origin="CDG", destination="LIS")
    assert hotel in search_ids(stack, kind="hotel", city="LIS", check_in=day(20), check_out=day(22), quantity=2)
    assert flight in search_ids(stack, kind="flight", origin="CDG", destination="LIS", date=day(20), quantity=2)

    hold = stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": flight, "quantity": 2, "date": day(20)},
                  {"listing_id": hotel, "quantity": 1, "check_in": day(20), "check_out": day(22)}],
        "contact": {"email": "tessa@example.com", "name": "Tessa Traveler"}}, timeout=TIMEOUT)
    assert hold.status_code == 201, hold.text
    booking = hold.json()
    assert booking["amount"]["amount"] == 2 * 21000 + 2 * 15000

    paid = stack.http.post(stack.url(f"/bookings/{booking['booking_id']}/payment"), json={"payment_method": "tok_visa"},
                           headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert paid.status_code == 202, paid.text
    confirmed = wait_for_status(stack, booking["booking_id"], traveler, "CONFIRMED")
    assert confirmed["captured_amount"]["amount"] == 72000

    deadline = time.monotonic() + 20
    while not any(booking["reference"] in (m["subject"] or "") for m in mailbox(stack)):
        assert time.monotonic() < deadline, "no confirmation email reached the emulator's SES"
        time.sleep(0.25)

    available = stack.http.get(stack.url(f"/listings/{flight}/availability"),
                               params={"from": day(20), "to": day(20)}, timeout=TIMEOUT).json()["days"][0]
    assert available["available"] == 4
    quote = stack.http.get(stack.url(f"/bookings/{booking['booking_id']}/cancellation-quote"), headers=traveler,
                           timeout=TIMEOUT).json()
    assert quote["refund"]["amount"] == 72000  # 20 days ahead, free until 72 h before
    cancel = stack.http.post(stack.url(f"/bookings/{booking['booking_id']}/cancel"), json={}, headers=traveler,
                             timeout=TIMEOUT)
    assert cancel.status_code == 202 and cancel.json()["status"] == "CANCELLING"
    cancelled = wait_for_status(stack, booking["booking_id"], traveler, "CANCELLED")
    assert cancelled["refunded_amount"]["amount"] == 72000
    available = stack.http.get(stack.url(f"/listings/{flight}/availability"),
                               params={"from": day(20), "to": day(20)}, timeout=TIMEOUT).json()["days"][0]
    assert available["available"] == 6


def test_fifty_threads_race_for_the_last_twenty_units(stack):
    vendor = stack.auth("vendor2@example.com")
    event = create_listing(stack, vendor, kind="event", capacity=20, price=5000, city="BCN")
    travelers = [stack.new_traveler("racer") for _ in range(10)]
    outcomes: list[tuple[int, str, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def attempt(i: int) -> None:
        headers = {**travelers[i % 10], "Idempotency-Key": uuid.uuid4().hex}
        start.wait()
        response = requests.post(stack.url("/holds"), headers=headers, timeout=60, json={
            "items": [{"listing_id": event, "quantity": 1, "date": day(7)}],
            "contact": {"email": f"r{i}@example.com", "name": f"Racer {i}"}})
        body = response.json()
        with lock:
            outcomes.append((response.status_code, body.get("error", {}).get("code", ""), body))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = sorted((status, code) for status, code, _ in outcomes)
    assert statuses.count((201, "")) == 20, statuses
    assert statuses.count((409, "SOLD_OUT")) == 30, statuses
    day_state = stack.http.get(stack.url(f"/listings/{event}/availability"),
                               params={"from": day(7), "to": day(7)}, timeout=TIMEOUT).json()["days"][0]
    assert day_state["available"] == 0 and day_state["capacity"] == 20
    # Every unit held belongs to a live hold: the counters equal what the bookings say.
    held_units = 0
    for headers in travelers:
        page = stack.http.get(stack.url("/me/bookings"), params={"status": "HELD", "limit": 100}, headers=headers,
                              timeout=TIMEOUT).json()
        held_units += sum(item["quantity"] for b in page["bookings"] for item in b["items"] if item["listing_id"] == event)
    assert held_units == 20
