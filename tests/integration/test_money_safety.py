"""Money safety: the defects found by attacking the booking core, one test each.

Each ran against the old payment path and failed there (bookings left CONFIRMING on a voided
authorization, authorizations made by cleanup, an attempt list that grew past 400 KB).
"""
from __future__ import annotations

import time

import jwt
import pytest

from chalicelib.booking import domain, records, service
from chalicelib.booking.models import Booking, LedgerEntry, PaymentAttempt
from chalicelib.booking.payments import local as local_payments
from chalicelib.booking.payments.models import LocalPayment, LocalPaymentRequest
from chalicelib.booking.schemas import PaymentRequest
from chalicelib.booking.transactions import Failure, LabelledTransaction
from chalicelib.core.auth import principal_from_claims
from tests.integration.booking_helpers import day, hold_a_night, hold_body, key, make_listing, pay_booking


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=5, price=12000)


@pytest.fixture
def traveler(tokens):
    return principal_from_claims(jwt.decode(tokens["traveler"], options={"verify_signature": False}))


def hold(api, tokens, hotel, offset: int = 2) -> str:
    return hold_a_night(api, tokens["traveler"], hotel, offset)


def pay(api, tokens, booking_id: str, method: str = "tok_visa", headers: dict | None = None):
    return pay_booking(api, tokens["traveler"], booking_id, method, headers)


def payments() -> dict[str, str]:
    return {p.payment_id: p.status for p in LocalPayment.scan() if p.pk.startswith("payment#")}


def confirms() -> int:
    return sum(1 for r in LocalPaymentRequest.scan() if r.pk.startswith("request#confirm#"))


def stored(booking_id: str) -> domain.Booking:
    booking = records.load(booking_id)
    assert booking is not None
    return booking


# -- 1. two identical payment requests at the same instant ------------------------------------

def test_a_double_submitted_payment_keeps_its_authorization_and_confirms(api, tokens, hotel, traveler, monkeypatch):
    booking_id = hold(api, tokens, hotel)
    headers = key()
    real_confirm = local_payments.LocalProvider.confirm
    second: dict = {}

    def confirm_while_the_twin_runs(self, payment_id, **kwargs):
        # The twin request arrives while this one is at the provider, and finishes first.
        if not second:
            second["started"] = True
            second["answer"] = service.pay(traveler, booking_id, PaymentRequest(payment_method="tok_visa"),
                                           headers["Idempotency-Key"])
        return real_confirm(self, payment_id, **kwargs)

    monkeypatch.setattr(local_payments.LocalProvider, "confirm", confirm_while_the_twin_runs)
    first = pay(api, tokens, booking_id, headers=headers)

    assert first.status_code == 202, first.data
    assert second["answer"].status == domain.CONFIRMING
    assert first.data["booking_id"] == booking_id and first.data["status"] == "CONFIRMING"
    kept = stored(booking_id).payment_id
    assert payments()[kept] == "authorized"  # the losing twin did not void what the booking kept
    assert service.confirm_booking(booking_id) == "confirmed"
    assert payments() == {kept: "captured"}


# -- 2. the provider key is per attempt ---------------------------------------------------------

def test_a_key_reused_on_another_booking_is_422_and_a_fresh_key_then_confirms(api, tokens, hotel):
    first, other = hold(api, tokens, hotel, 2), hold(api, tokens, hotel, 4)
    headers = key()
    assert pay(api, tokens, first, headers=headers).status_code == 202
    reused = pay(api, tokens, other, headers=headers)
    assert reused.status_code == 422 and reused.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert pay(api, tokens, other).status_code == 202
    assert service.confirm_booking(other) == "confirmed"
    assert service.confirm_booking(first) == "confirmed"
    assert sorted(payments().values()) == ["captured", "captured", "voided"]  # the reused key's, unkept


def test_a_decline_then_a_good_card_under_the_same_key_then_a_fresh_key_confirms(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    headers = key()
    assert pay(api, tokens, booking_id, "tok_chargeDeclined", headers).status_code == 402
    assert pay(api, tokens, booking_id, "tok_visa", headers).status_code == 422
    assert pay(api, tokens, booking_id, "tok_visa").status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    assert [e.kind for e in LedgerEntry.query(booking_id)] == ["authorization", "capture"]


def test_a_transaction_conflict_is_409_and_the_retry_with_the_same_key_confirms(api, tokens, hotel, monkeypatch):
    booking_id = hold(api, tokens, hotel)
    real_commit = LabelledTransaction.commit

    def conflicting(self):
        if ("booking",) in self.labels["update"] and ("idempotency",) in self.labels["put"]:
            return [Failure(("booking",), "TransactionConflict", None)]
        return real_commit(self)

    monkeypatch.setattr(LabelledTransaction, "commit", conflicting)
    headers = key()
    busy = pay(api, tokens, booking_id, headers=headers)
    assert busy.status_code == 409 and busy.data["error"]["code"] == "REQUEST_IN_PROGRESS"
    monkeypatch.setattr(LabelledTransaction, "commit", real_commit)

    assert pay(api, tokens, booking_id, headers=headers).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    assert list(payments().values()) == ["captured"]


# -- 3. settling never authorizes ---------------------------------------------------------------

def test_settling_voids_an_attempt_that_never_reached_the_provider_without_authorizing_it(
        api, tokens, hotel, monkeypatch):
    booking_id = hold(api, tokens, hotel)

    def died(*args, **kwargs):
        raise ConnectionError("the Lambda died after taking the lock, before calling the provider")

    monkeypatch.setattr(local_payments.LocalProvider, "create", died)
    assert pay(api, tokens, booking_id).status_code == 500
    monkeypatch.undo()
    assert len(stored(booking_id).attempt_ids) == 1

    assert service.release_expired_holds(now=time.time() + 16 * 60)["expired"] == 1
    assert confirms() == 0  # cleanup never asked the provider to authorize anything
    assert set(payments().values()) <= {"voided"}


def test_an_authorization_orphaned_after_the_provider_answered_is_voided_at_expiry(api, tokens, hotel, monkeypatch):
    booking_id = hold(api, tokens, hotel)

    def crash(self):
        raise ConnectionError("the Lambda died after the provider authorized, before our write")

    monkeypatch.setattr(LabelledTransaction, "commit", crash)
    assert pay(api, tokens, booking_id).status_code == 500
    monkeypatch.undo()
    assert list(payments().values()) == ["authorized"]

    assert service.release_expired_holds(now=time.time() + 16 * 60)["expired"] == 1
    assert list(payments().values()) == ["voided"]


# -- 4. attempts are bounded ---------------------------------------------------------------------

def test_a_booking_takes_at_most_ten_attempts_then_429_with_retry_after(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    keys = [key() for _ in range(domain.MAX_PAYMENT_ATTEMPTS)]
    for headers in keys:
        assert pay(api, tokens, booking_id, "tok_chargeDeclined", headers).status_code == 402
    limited = pay(api, tokens, booking_id, "tok_visa")
    assert limited.status_code == 429 and limited.data["error"]["code"] == "RATE_LIMITED"
    assert 0 < int(limited.headers["Retry-After"]) <= 15 * 60
    assert pay(api, tokens, booking_id, "tok_chargeDeclined", keys[0]).status_code == 402  # still replays
    assert len(stored(booking_id).attempt_ids) == domain.MAX_PAYMENT_ATTEMPTS


def test_a_method_the_provider_cannot_take_is_refused_before_anything_is_written(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    for _ in range(3):
        refused = pay(api, tokens, booking_id, "tok_" + "x" * 200)
        assert refused.status_code == 400 and "payment_method" in refused.data["error"]["details"]["fields"]
    assert stored(booking_id).attempt_ids == frozenset()
    assert list(PaymentAttempt.query(booking_id)) == []


def test_retries_of_one_attempt_never_grow_the_booking(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    headers = key()
    for _ in range(5):
        assert pay(api, tokens, booking_id, "tok_chargeDeclined", headers).status_code == 402
    assert len(stored(booking_id).attempt_ids) == 1
    assert len(Booking.get(booking_id).timeline) == 2  # HELD, and the one decline


# -- every provider outcome of the confirmation worker ------------------------------------------

def test_an_authorization_voided_behind_our_back_fails_the_booking_and_releases_its_units(api, tokens, hotel):
    from chalicelib.booking.payments import provider
    from tests.integration.test_booking_flow import counters

    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id).status_code == 202
    provider().void(stored(booking_id).payment_id, idempotency_key="someone-else")

    assert service.confirm_booking(booking_id) == "failed"
    failed = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    assert failed["status"] == "FAILED" and failed["captured_amount"]["amount"] == 0
    assert counters(hotel, day(2))[1:3] == (0, 0)


def test_a_capture_failure_voids_the_authorization_and_fails_the_booking(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id, "tok_captureFails").status_code == 202
    assert service.confirm_booking(booking_id) == "failed"
    assert list(payments().values()) == ["voided"]
    assert [e.kind for e in LedgerEntry.query(booking_id)] == ["authorization", "void"]


# -- nothing stays CONFIRMING or CANCELLING -----------------------------------------------------

def test_the_sweeper_settles_a_confirming_booking_whose_worker_never_ran(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id).status_code == 202
    later = time.time() + domain.REDRIVE_SECONDS + 1
    assert service.release_expired_holds(now=later)["redriven"] == 1  # first, the message again

    settled = service.release_expired_holds(now=time.time() + domain.SETTLE_AFTER_SECONDS + 1)
    assert settled["settled"] == 1
    assert stored(booking_id).status == domain.CONFIRMED
    assert list(payments().values()) == ["captured"]


def test_the_sweeper_fails_a_confirming_booking_whose_authorization_is_gone(api, tokens, hotel):
    from chalicelib.booking.payments import provider

    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id).status_code == 202
    provider().void(stored(booking_id).payment_id, idempotency_key="expired-at-the-issuer")

    assert service.release_expired_holds(now=time.time() + domain.SETTLE_AFTER_SECONDS + 1)["settled"] == 1
    assert stored(booking_id).status == domain.FAILED


def test_the_sweeper_settles_a_cancelling_booking_whose_worker_never_ran(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel, offset=10)
    assert pay(api, tokens, booking_id).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    assert api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"]).status_code == 202

    assert service.release_expired_holds(now=time.time() + domain.SETTLE_AFTER_SECONDS + 1)["settled"] == 1
    cancelled = stored(booking_id)
    assert cancelled.status == domain.CANCELLED and cancelled.refunded_amount == 12000


# -- smaller defects ---------------------------------------------------------------------------

def test_a_lapsed_hold_reads_expired_before_the_sweeper_runs(api, tokens, hotel, traveler):
    booking_id = hold(api, tokens, hotel)
    Booking(booking_id).update(actions=[Booking.expires_at.set(int(time.time()) - 1)])
    shown = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    assert shown["status"] == "EXPIRED" and shown["available_actions"] == []
    assert "expires_at" not in shown


def test_an_expired_booking_cannot_be_cancelled_in_plain_english(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    service.release_expired_holds(now=time.time() + 16 * 60)
    refused = api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"])
    assert refused.status_code == 409
    assert refused.data["error"]["message"] == "An EXPIRED booking cannot be cancelled."


@pytest.mark.parametrize("token", ["tok_amex", "tok_discover", "tok_visa_debit", "tok_mastercard_prepaid"])
def test_stripes_other_brand_test_tokens_pay(api, tokens, hotel, token):
    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id, token).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"


def test_the_cancellation_quote_of_a_trip_names_each_item_and_no_past_deadline(api, tokens):
    strict = make_listing(api, tokens["vendor"], kind="hotel", policy=(24 * 30, 50))  # free until 30 days before
    lenient = make_listing(api, tokens["vendor2"], kind="event", policy=(24, 80))
    trip = api.post("/holds", hold_body({"listing_id": strict, "quantity": 1, "check_in": day(10),
                                         "check_out": day(11)},
                                        {"listing_id": lenient, "quantity": 1, "date": day(10)}),
                    token=tokens["traveler"], headers=key()).data
    assert pay(api, tokens, trip["booking_id"]).status_code == 202
    assert service.confirm_booking(trip["booking_id"]) == "confirmed"

    quote = api.get(f"/bookings/{trip['booking_id']}/cancellation-quote", token=tokens["traveler"]).data
    titles = [item["title"] for item in trip["items"]]
    assert all(title in quote["policy"] for title in titles)
    strict_words = quote["policy"].split(titles[1])[0]
    assert "full refund if cancelled before" not in strict_words  # its free period is over
    assert "ended" in strict_words
    assert "full refund if cancelled before" in quote["policy"].split(titles[1])[1]


def test_a_payment_the_provider_does_not_know_fails_the_booking_without_a_ledger_void(api, tokens, hotel):
    booking_id = hold(api, tokens, hotel)
    assert pay(api, tokens, booking_id).status_code == 202
    Booking(booking_id).update(actions=[Booking.payment_id.set("pi_local_unknown")])

    assert service.confirm_booking(booking_id) == "failed"
    assert [e.kind for e in LedgerEntry.query(booking_id)] == ["authorization"]  # no void that never happened
