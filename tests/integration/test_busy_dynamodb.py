"""DynamoDB busy (throttled, or a transaction cancelled by a conflicting one) once botocore's
retries are spent: the API answers 503 SERVICE_UNAVAILABLE with Retry-After, and the same
request retried afterwards does the work once. Found by the fault-injection run, where these
answered 500 INTERNAL_ERROR."""
from __future__ import annotations

import pytest

from chalicelib.booking.models import Booking
from tests.integration.booking_helpers import day, hold_body, key, make_listing
from tools.chaos.faults import FaultPlan, FaultRates, install_dynamodb_faults


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=5, price=12000)


@pytest.fixture
def busy():
    """DynamoDB answers every call (throttle) or every transaction (conflict) with 'busy'."""
    plans = []

    def make(**rates: float) -> FaultPlan:
        plan = FaultPlan(seed=1, rates=FaultRates(**{k: 0.0 for k in FaultRates.__dataclass_fields__} | rates),
                         active=True)
        plans.append(install_dynamodb_faults(plan))
        return plan
    yield make
    for undo in reversed(plans):
        undo()


def night(hotel: str) -> dict:
    return hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(3), "check_out": day(4)})


def test_a_throttled_hold_is_503_with_retry_after(api, tokens, hotel, busy):
    plan = busy(throttle=1.0)
    held = api.post("/holds", night(hotel), token=tokens["traveler"], headers=key())
    plan.active = False
    assert held.status_code == 503
    assert held.data["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert held.headers["Retry-After"] == "1"


def test_a_hold_cancelled_by_a_conflict_is_503_and_its_retry_holds_once(api, tokens, hotel, busy):
    plan = busy(transaction_conflict=1.0)
    headers = key()
    first = api.post("/holds", night(hotel), token=tokens["traveler"], headers=headers)
    plan.active = False
    assert first.status_code == 503
    assert list(Booking.scan()) == []
    retried = api.post("/holds", night(hotel), token=tokens["traveler"], headers=headers)
    assert retried.status_code == 201
    assert [b.booking_id for b in Booking.scan()] == [retried.data["booking_id"]]
