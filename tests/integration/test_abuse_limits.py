"""Abuse limits (issue 8, item 4): per-traveler hold and payment attempts per minute (429 with
Retry-After), bodies over 64 KB (413) and bodies that are not JSON (415), in the error shape.

The limits are lowered to 3 a minute here (ITINERA_*_ATTEMPTS_PER_MINUTE) so each test stays
short, and the service clock (core.clock) starts each test at the beginning of a minute, so no
test straddles two windows; `clock.advance` moves to the next one.
"""
from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.booking import service
from chalicelib.booking.models import Booking
from chalicelib.booking.schemas import HoldRequest
from chalicelib.core import clock, rate_limits
from chalicelib.core.api import MAX_BODY_BYTES
from chalicelib.core.auth import Principal
from chalicelib.core.config import settings
from chalicelib.core.openapi import build_document
from chalicelib.inventory.models import AvailabilityDay
from tests.integration.booking_helpers import day, hold_body, key, make_listing, pay_booking

LIMIT = 3
_VARIABLES = ("ITINERA_HOLD_ATTEMPTS_PER_MINUTE", "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE", "ITINERA_MAX_ACTIVE_HOLDS")


def _set_env(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    settings.cache_clear()


@pytest.fixture
def limits(aws_env):
    """Limits of 3 a minute, and the service clock at the start of a fresh minute."""
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    _set_env({"ITINERA_HOLD_ATTEMPTS_PER_MINUTE": str(LIMIT), "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE": str(LIMIT),
              "ITINERA_MAX_ACTIVE_HOLDS": "100"})
    clock.advance(rate_limits.WINDOW_SECONDS - clock.now() % rate_limits.WINDOW_SECONDS + 0.5)
    yield
    _set_env(saved)
    clock.reset()


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=50, price=12000)


def hold(api, token: str, listing_id: str, offset: int = 2, headers: dict | None = None):
    return api.post("/holds", hold_body({"listing_id": listing_id, "quantity": 1, "check_in": day(offset),
                                         "check_out": day(offset + 1)}), token=token, headers=headers or key())


def held_units(listing_id: str, offset: int = 2) -> int:
    return int(AvailabilityDay.get(listing_id, day(offset), consistent_read=True).held)


def assert_rate_limited(response) -> int:
    assert response.status_code == 429, response.data
    assert response.data["error"]["code"] == "RATE_LIMITED"
    assert set(response.data["error"]) == {"code", "message", "details"}
    assert response.data["error"]["details"]["limit"] == LIMIT
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60, retry_after
    return int(retry_after)


# -- hold attempts ----------------------------------------------------------------------------

def test_the_defaults_are_generous_and_come_from_settings(aws_env):
    saved = {name: os.environ.get(name) for name in _VARIABLES}
    try:
        _set_env({name: None for name in _VARIABLES})
        assert (settings().hold_attempts_per_minute, settings().payment_attempts_per_minute) == (20, 15)
        _set_env({"ITINERA_HOLD_ATTEMPTS_PER_MINUTE": "7", "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE": "4"})
        assert (settings().hold_attempts_per_minute, settings().payment_attempts_per_minute) == (7, 4)
    finally:
        _set_env(saved)


def test_the_hold_attempt_after_the_limit_in_a_minute_is_429_with_retry_after(api, tokens, hotel, limits):
    for _ in range(LIMIT):
        assert hold(api, tokens["traveler"], hotel).status_code == 201

    limited = hold(api, tokens["traveler"], hotel)

    retry_after = assert_rate_limited(limited)
    assert retry_after >= 55  # the window started half a second ago
    assert held_units(hotel) == LIMIT  # the refused attempt held nothing


def test_the_hold_window_frees_after_the_minute(api, tokens, hotel, limits):
    for _ in range(LIMIT):
        assert hold(api, tokens["traveler"], hotel).status_code == 201
    retry_after = assert_rate_limited(hold(api, tokens["traveler"], hotel))

    clock.advance(retry_after)

    assert hold(api, tokens["traveler"], hotel).status_code == 201


def test_another_traveler_is_not_affected(api, tokens, hotel, limits):
    for _ in range(LIMIT):
        assert hold(api, tokens["traveler"], hotel).status_code == 201
    assert_rate_limited(hold(api, tokens["traveler"], hotel))

    assert hold(api, tokens["traveler2"], hotel).status_code == 201


def test_a_sold_out_attempt_counts(api, tokens, limits):
    tiny = make_listing(api, tokens["vendor"], kind="hotel", capacity=1)
    assert hold(api, tokens["traveler"], tiny).status_code == 201
    for _ in range(LIMIT - 1):
        refused = hold(api, tokens["traveler"], tiny)
        assert refused.status_code == 409 and refused.data["error"]["code"] == "SOLD_OUT"

    assert_rate_limited(hold(api, tokens["traveler"], tiny, offset=3))  # a date with room


def test_a_refused_request_counts_and_over_the_limit_is_429_not_its_refusal(api, tokens, hotel, limits):
    for _ in range(LIMIT):
        assert hold(api, tokens["traveler"], hotel, offset=-3).status_code == 400  # in the past

    assert_rate_limited(hold(api, tokens["traveler"], hotel, offset=-3))


def test_a_hold_replay_is_not_a_new_attempt_and_is_answered_over_the_limit(api, tokens, hotel, limits):
    first_key = key()
    first = hold(api, tokens["traveler"], hotel, headers=first_key)
    assert first.status_code == 201
    for _ in range(3):  # replays: the same key and body
        again = hold(api, tokens["traveler"], hotel, headers=first_key)
        assert (again.status_code, again.data) == (201, first.data)
    for _ in range(LIMIT - 1):
        assert hold(api, tokens["traveler"], hotel).status_code == 201
    assert_rate_limited(hold(api, tokens["traveler"], hotel))

    replayed = hold(api, tokens["traveler"], hotel, headers=first_key)

    assert (replayed.status_code, replayed.data) == (201, first.data)
    assert held_units(hotel) == LIMIT


def test_concurrent_hold_attempts_never_exceed_the_limit(api, tokens, hotel, limits, serialized_moto):
    racer = Principal(user_id="racer-" + uuid.uuid4().hex[:8], email="racer@example.com", name="Racer",
                      roles=frozenset({"travelers"}))
    request = HoldRequest.model_validate(hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(4),
                                                    "check_out": day(5)}))
    barrier = threading.Barrier(12)

    def attempt(_: int):
        barrier.wait()
        try:
            return service.place_hold(racer, request, uuid.uuid4().hex)
        except Exception as exc:  # the outcome is what we assert on
            return exc

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(attempt, range(12)))

    placed = [o for o in outcomes if not isinstance(o, Exception)]
    limited = [o for o in outcomes if isinstance(o, rate_limits.AttemptsExceeded)]
    assert len(placed) == LIMIT and len(limited) == 12 - LIMIT, outcomes
    assert held_units(hotel, 4) == LIMIT
    counter = rate_limits.AttemptCounter.get(rate_limits.hold_attempt(racer.user_id, clock.now()).key)
    assert int(counter.count) == LIMIT


def test_a_placed_hold_is_still_one_dynamodb_round_trip(api, tokens, hotel, limits, monkeypatch):
    from botocore.client import BaseClient

    assert hold(api, tokens["traveler"], hotel).status_code == 201  # warms the quote cache
    calls: list[str] = []
    original = BaseClient._make_api_call

    def spy(self, operation, params):
        if self.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    traveler = Principal(user_id="one-trip", email="one@example.com", name="One", roles=frozenset({"travelers"}))
    request = HoldRequest.model_validate(hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                                    "check_out": day(3)}))

    service.place_hold(traveler, request, uuid.uuid4().hex)

    assert calls == ["TransactWriteItems"]
    assert int(rate_limits.AttemptCounter.get(rate_limits.hold_attempt("one-trip", clock.now()).key).count) == 1


def test_a_trip_filling_a_whole_transaction_counts_its_attempt_on_its_own(api, tokens, limits):
    from tests.integration.test_hold_defects import _stay, _vendors_hotels

    hotels = _vendors_hotels(api, tokens, 10)
    body = hold_body(*(_stay(h, 8) for h in hotels[:9]), _stay(hotels[9], 4))  # 100 items: no room left
    first_key = key()

    placed = api.post("/holds", body, token=tokens["traveler"], headers=first_key)
    replayed = api.post("/holds", body, token=tokens["traveler"], headers=first_key)

    assert placed.status_code == 201, placed.data
    assert (replayed.status_code, replayed.data) == (201, placed.data)
    me = api.get("/me", token=tokens["traveler"]).data["user_id"]
    counter = rate_limits.AttemptCounter.get(rate_limits.hold_attempt(me, clock.now()).key)
    assert int(counter.count) == 1  # counted once; the replay gave its unit back


# -- payment attempts -------------------------------------------------------------------------

def test_the_payment_attempt_after_the_limit_is_429_and_never_reaches_the_provider(api, tokens, hotel, limits):
    booking_id = hold(api, tokens["traveler"], hotel).data["booking_id"]
    for _ in range(LIMIT):
        assert pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined").status_code == 402  # declines count

    limited = pay_booking(api, tokens["traveler"], booking_id, "tok_visa")

    assert_rate_limited(limited)
    stored = Booking.get(booking_id, consistent_read=True)
    assert stored.status == "HELD" and len(stored.attempt_ids) == LIMIT  # the 4th never took the lock


def test_the_payment_window_frees_after_the_minute(api, tokens, hotel, limits):
    booking_id = hold(api, tokens["traveler"], hotel).data["booking_id"]
    for _ in range(LIMIT):
        assert pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined").status_code == 402
    retry_after = assert_rate_limited(pay_booking(api, tokens["traveler"], booking_id))

    clock.advance(retry_after)

    paid = pay_booking(api, tokens["traveler"], booking_id)
    assert paid.status_code == 202 and paid.data["status"] == "CONFIRMING"


def test_payment_limits_are_per_traveler(api, tokens, hotel, limits):
    mine = hold(api, tokens["traveler"], hotel).data["booking_id"]
    theirs = hold(api, tokens["traveler2"], hotel).data["booking_id"]
    for _ in range(LIMIT):
        assert pay_booking(api, tokens["traveler"], mine, "tok_chargeDeclined").status_code == 402
    assert_rate_limited(pay_booking(api, tokens["traveler"], mine))

    assert pay_booking(api, tokens["traveler2"], theirs).status_code == 202


def test_payment_attempts_and_hold_attempts_have_separate_allowances(api, tokens, hotel, limits):
    booking_id = hold(api, tokens["traveler"], hotel).data["booking_id"]
    for _ in range(LIMIT):
        assert pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined").status_code == 402
    assert_rate_limited(pay_booking(api, tokens["traveler"], booking_id))

    assert hold(api, tokens["traveler"], hotel).status_code == 201  # the second hold of the minute


def test_a_payment_replay_is_not_a_new_attempt_and_is_answered_over_the_limit(api, tokens, hotel, limits):
    booking_id = hold(api, tokens["traveler"], hotel).data["booking_id"]
    declined_key = key()
    declined = pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined", declined_key)
    assert declined.status_code == 402
    for _ in range(3):
        again = pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined", declined_key)
        assert (again.status_code, again.data) == (402, declined.data)
    for _ in range(LIMIT - 1):  # the replays gave their units back: two new attempts still fit
        assert pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined").status_code == 402
    assert_rate_limited(pay_booking(api, tokens["traveler"], booking_id))

    replayed = pay_booking(api, tokens["traveler"], booking_id, "tok_chargeDeclined", declined_key)

    assert (replayed.status_code, replayed.data) == (402, declined.data)


# -- request bodies ---------------------------------------------------------------------------

def _login_body(size: int) -> str:
    """A login request of exactly `size` bytes (JSON allows trailing whitespace)."""
    body = '{"email": "nobody@example.com", "password": "Wrong-pass-1"}'
    return body + " " * (size - len(body))


def test_a_body_of_64_kb_and_one_byte_is_413_in_the_error_shape(api):
    response = api.post("/auth/login", _login_body(MAX_BODY_BYTES + 1))

    assert response.status_code == 413
    assert response.data["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.data["error"]["details"]["max_bytes"] == MAX_BODY_BYTES
    assert response.headers["Content-Type"] == "application/json" and response.headers["X-Request-Id"]


def test_a_body_of_exactly_64_kb_is_taken(api):
    response = api.post("/auth/login", _login_body(MAX_BODY_BYTES))

    assert response.status_code == 401  # read, parsed and judged: wrong credentials
    assert response.data["error"]["code"] == "UNAUTHENTICATED"


def test_a_large_hold_is_413_and_holds_nothing(api, tokens, hotel):
    body = hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2), "check_out": day(3)})
    body["contact"]["name"] = "x" * MAX_BODY_BYTES

    response = api.post("/holds", body, token=tokens["traveler"], headers=key())

    assert response.status_code == 413 and response.data["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert held_units(hotel) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=utf-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "application/jsonp", "application/xml"])
def test_a_body_that_is_not_json_by_its_content_type_is_415(api, content_type):
    response = api.post("/auth/login", '{"email": "nobody@example.com", "password": "Wrong-pass-1"}',
                        headers={"Content-Type": content_type})

    assert response.status_code == 415, response.data
    assert response.data["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert set(response.data["error"]) == {"code", "message", "details"}


def test_a_form_body_is_415(api):
    response = api.post("/auth/login", "email=nobody%40example.com&password=Wrong-pass-1",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert response.status_code == 415 and response.data["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_text_hold_is_415_and_holds_nothing(api, tokens, hotel):
    import json

    body = json.dumps(hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2), "check_out": day(3)}))
    response = api.post("/holds", body, token=tokens["traveler"], headers={**key(), "Content-Type": "text/plain"})

    assert response.status_code == 415 and response.data["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert held_units(hotel) == 0


def test_a_body_without_a_content_type_is_415(client):
    response = client.http.request("POST", "/auth/login", headers={},
                                   body=b'{"email": "nobody@example.com", "password": "Wrong-pass-1"}')

    assert response.status_code == 415


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8", "application/vnd.api+json"])
def test_json_content_types_are_taken(api, content_type):
    response = api.post("/auth/login", '{"email": "nobody@example.com", "password": "Wrong-pass-1"}',
                        headers={"Content-Type": content_type})

    assert response.status_code == 401, response.data


def test_bad_json_with_a_json_content_type_stays_400(api):
    response = api.post("/auth/login", "{not json", headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 400 and response.data["error"]["code"] == "VALIDATION_ERROR"
    assert response.data["error"]["details"]["fields"] == {"body": "is not valid JSON"}


def test_routes_without_a_body_are_unaffected(api, tokens, hotel):
    text = {"Content-Type": "text/plain"}
    assert api.get("/health", headers=text).status_code == 200
    assert api.get("/me/bookings", token=tokens["traveler"], headers=text).status_code == 200
    booking_id = hold(api, tokens["traveler"], hotel).data["booking_id"]
    # A route that takes a body, sent none: nothing to judge by its Content-Type.
    cancelled = api.post(f"/bookings/{booking_id}/cancel", token=tokens["traveler"], headers=text)
    assert cancelled.status_code == 200 and cancelled.data["status"] == "CANCELLED"


def test_the_stripe_webhook_takes_stripes_content_type_and_refuses_text(api):
    event = '{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded"}'
    stripe_type = api.post("/webhooks/stripe", event, headers={"Content-Type": "application/json; charset=utf-8"})
    assert stripe_type.status_code != 415  # judged by its signature (none here), not its type
    text = api.post("/webhooks/stripe", event, headers={"Content-Type": "text/plain"})
    assert text.status_code == 415


# -- the OpenAPI document ---------------------------------------------------------------------

def test_the_document_declares_413_and_415_on_bodies_and_429_on_holds_and_payments():
    paths = build_document()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            takes_body = "requestBody" in operation
            assert ("413" in responses) == takes_body and ("415" in responses) == takes_body, (method, path)
    assert "429" in paths["/holds"]["post"]["responses"]
    assert "429" in paths["/bookings/{booking_id}/payment"]["post"]["responses"]
