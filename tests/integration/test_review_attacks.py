"""Attacks found by an adversarial review of the rebuilt payment path; each failed before its fix."""
from __future__ import annotations

import time

import pytest

from chalicelib.booking import confirmation, domain, records, service
from chalicelib.booking.payments.fake import FakePaymentProvider
from tests.integration.booking_helpers import hold_a_night, make_listing, pay_booking


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=5, price=12000)


def hold(api, tokens, hotel, offset: int = 2) -> str:
    return hold_a_night(api, tokens["traveler"], hotel, offset)


def pay(api, tokens, booking_id: str, method: str = "tok_visa", headers: dict | None = None):
    return pay_booking(api, tokens["traveler"], booking_id, method, headers)


def stored(booking_id: str) -> domain.Booking:
    booking = records.load(booking_id)
    assert booking is not None
    return booking


def statuses(fake: FakePaymentProvider) -> list[str]:
    return [p.status for p in fake.payments()]


# Was a defect (fixed: settled bookings stay pending as CLEANUP until every void succeeded): cleanup was one-shot. `release_unkept_payments` runs once,
# right after the settling transition, and swallows provider errors ("the authorization lapses
# at the provider"); nothing ever retries it (the settled booking leaves the `pending` index).
# A provider blip at that moment leaves the traveler's funds held on an EXPIRED booking.
def test_an_orphaned_authorization_is_voided_even_if_the_provider_blips_when_the_hold_expires(
        api, tokens, hotel, fake):
    booking_id = hold(api, tokens, hotel)
    fake.lose_next_answer("confirm")  # authorized at the provider; our answer is lost (503)
    assert pay(api, tokens, booking_id).status_code == 503
    assert statuses(fake) == ["authorized"]  # the traveler walks away

    fake.fail_next("void")  # one unavailable answer while the sweeper settles the hold
    assert service.release_expired_holds(now=time.time() + 16 * 60)["expired"] == 1
    assert stored(booking_id).status == domain.EXPIRED
    for minutes in (17, 18, 30, 60):  # the sweeper keeps running; the provider is back
        service.release_expired_holds(now=time.time() + minutes * 60)

    assert statuses(fake) == ["voided"]  # fails: still "authorized" on an EXPIRED booking


# Was a defect (same root cause, worker side; fixed by the CLEANUP marker): the confirmation worker writes CONFIRMED and only then
# voids the unkept attempts. If it dies in between (or the void call fails), the redelivered
# message sees CONFIRMED and skips, and the sweeper never looks at CONFIRMED bookings: the
# other attempt's authorization stays open next to the captured one (the traveler is charged
# once and has the amount held a second time).
def test_an_unkept_authorization_is_voided_even_if_the_worker_dies_after_confirming(
        api, tokens, hotel, fake, monkeypatch):
    booking_id = hold(api, tokens, hotel)
    fake.lose_next_answer("confirm")
    assert pay(api, tokens, booking_id).status_code == 503  # attempt 1: authorized, answer lost
    assert pay(api, tokens, booking_id, "tok_mastercard").status_code == 202  # attempt 2: kept

    def died(booking):
        raise ConnectionError("the worker died after the CONFIRMED write, before cleanup")

    monkeypatch.setattr(confirmation, "release_unkept_payments", died)
    with pytest.raises(ConnectionError):
        service.confirm_booking(booking_id)
    monkeypatch.undo()
    assert stored(booking_id).status == domain.CONFIRMED

    assert service.confirm_booking(booking_id) == "skipped"  # SQS delivers the message again
    for minutes in (2, 5, 20):
        service.release_expired_holds(now=time.time() + minutes * 60)

    assert sorted(statuses(fake)) == ["captured", "voided"]  # fails: ["authorized", "captured"]


# Was a defect (fixed: the write checks the hold at write time): the expiry guard used the start time. `start_payment` is
# conditioned on `expires_at > now` with `now` taken when the request began, not when the
# transaction is written, so an authorization that comes back after the hold lapsed still
# moves the booking HELD -> CONFIRMING (and the worker then captures it). Meanwhile GET showed
# the booking EXPIRED (API.md: "reads EXPIRED at once"), so the traveler may already have
# placed and paid a new hold: charged twice. API.md: a payment on an expired hold is refused.
def test_an_authorization_that_returns_after_the_hold_lapsed_does_not_confirm_it(
        api, tokens, hotel, fake, monkeypatch):
    from chalicelib.booking.models import Booking

    booking_id = hold(api, tokens, hotel)
    real_confirm = FakePaymentProvider.confirm
    seen: dict = {}

    def slow_confirm(self, payment_id, **kwargs):
        # The provider takes a couple of seconds; the hold's last second passes meanwhile.
        lapse = int(time.time()) + 1
        Booking(booking_id).update(actions=[Booking.expires_at.set(lapse)])
        while time.time() <= lapse + 0.2:
            time.sleep(0.1)
        seen["status"] = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data["status"]
        return real_confirm(self, payment_id, **kwargs)

    monkeypatch.setattr(FakePaymentProvider, "confirm", slow_confirm)
    paid = pay(api, tokens, booking_id)

    assert seen["status"] == "EXPIRED"  # what the traveler was shown while the payment ran
    assert paid.status_code == 409 and paid.data["error"]["code"] == "HOLD_EXPIRED"  # fails: 202 CONFIRMING
    assert statuses(fake) == ["voided"]


# Found by review of the secrets change: the provider is built lazily, so a Secrets Manager
# error reading Stripe's key escaped the cleanup after the cancellation had committed: the
# traveler got a 503 for a done cancel and no email. Cleanup never raises; the sweeper retries.
def test_a_provider_that_cannot_be_built_during_cleanup_does_not_undo_the_answer(api, tokens, hotel, fake,
                                                                              monkeypatch):
    from chalicelib.booking import payment_cleanup
    from chalicelib.core.secrets import SecretUnavailable

    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id, "tok_chargeDeclined").status_code == 402  # an attempt to void

    def unreadable():
        raise SecretUnavailable("Secrets Manager throttled reading the Stripe key")
    monkeypatch.setattr(payment_cleanup, "payment_provider", unreadable)
    cancelled = api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"])

    assert cancelled.status_code == 200 and cancelled.data["status"] == "CANCELLED"
