"""Abuse limits over HTTP, against the local stack `make run` starts, with its real defaults:
20 hold attempts and 15 payment attempts per traveler per minute, bodies of at most 64 KB, JSON
only. Each limit test signs up a traveler of its own, so the demo travelers' allowances (used
by the other end-to-end tests) are never spent here.
"""
from __future__ import annotations

import time
import uuid

from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day

HOLDS_PER_MINUTE = 20  # config.py's defaults: the stack runs with them
PAYMENTS_PER_MINUTE = 15
MAX_BODY_BYTES = 64 * 1024
LOGIN = '{"email": "nobody@example.com", "password": "Wrong-pass-1"}'


def _fresh_minute() -> None:
    """Start near the beginning of a minute (the stack's window is the wall clock's minute), so
    the attempts of a test all fall in one window."""
    into = time.time() % 60
    if into > 40:  # a test's ~20 requests take a few seconds; 20 s is ample margin
        time.sleep(60 - into + 0.2)


def _hold(stack, traveler, listing_id: str, on: str):
    return stack.http.post(stack.url("/holds"), headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, json={
        "items": [{"listing_id": listing_id, "quantity": 1, "date": on}],
        "contact": {"email": "limits@example.com", "name": "Limits Traveler"}}, timeout=TIMEOUT)


def _pay(stack, traveler, booking_id: str, method: str):
    return stack.http.post(stack.url(f"/bookings/{booking_id}/payment"), json={"payment_method": method},
                           headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)


def _assert_per_minute_429(response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMITED" and error["details"]["limit"] == limit, error
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_the_hold_attempt_after_twenty_in_a_minute_is_429_with_retry_after(stack):
    vendor = stack.auth("vendor@example.com")
    event = create_listing(stack, vendor, kind="event", capacity=1, price=3000, city="BCN")
    traveler = stack.new_traveler("limits")
    _fresh_minute()
    assert _hold(stack, traveler, event, day(9)).status_code == 201
    for _ in range(HOLDS_PER_MINUTE - 1):  # refused attempts count too
        assert _hold(stack, traveler, event, day(9)).json()["error"]["code"] == "SOLD_OUT"

    _assert_per_minute_429(_hold(stack, traveler, event, day(10)), HOLDS_PER_MINUTE)


def test_the_payment_attempt_after_fifteen_in_a_minute_is_429_with_retry_after(stack):
    vendor = stack.auth("vendor@example.com")
    event = create_listing(stack, vendor, kind="event", capacity=10, price=3000, city="BCN")
    traveler = stack.new_traveler("limits")
    _fresh_minute()
    first = _hold(stack, traveler, event, day(9)).json()["booking_id"]
    second = _hold(stack, traveler, event, day(9)).json()["booking_id"]
    # Two bookings: one takes at most 10 attempts (its own cap), declines count.
    for i in range(PAYMENTS_PER_MINUTE):
        declined = _pay(stack, traveler, first if i < 10 else second, "tok_chargeDeclined")
        assert declined.status_code == 402, declined.text

    _assert_per_minute_429(_pay(stack, traveler, second, "tok_visa"), PAYMENTS_PER_MINUTE)


def test_a_body_over_64_kb_is_413_and_64_kb_is_taken(stack):
    headers = {"Content-Type": "application/json"}
    at_limit = LOGIN + " " * (MAX_BODY_BYTES - len(LOGIN))
    taken = stack.http.post(stack.url("/auth/login"), data=at_limit.encode(), headers=headers, timeout=TIMEOUT)
    assert taken.status_code == 401, taken.text

    over = stack.http.post(stack.url("/auth/login"), data=(at_limit + " ").encode(), headers=headers, timeout=TIMEOUT)

    assert over.status_code == 413, over.text
    assert over.headers["Content-Type"] == "application/json" and over.headers["X-Request-Id"]
    assert over.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_body_that_is_not_json_is_415(stack):
    for content_type, body in (("text/plain", LOGIN),
                               ("application/x-www-form-urlencoded", "email=a%40b.example&password=x")):
        response = stack.http.post(stack.url("/auth/login"), data=body.encode(), timeout=TIMEOUT,
                                   headers={"Content-Type": content_type})
        assert response.status_code == 415, (content_type, response.text)
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
