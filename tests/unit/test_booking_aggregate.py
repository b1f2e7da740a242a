"""The booking aggregate: each transition checks the state machine and returns its changes."""
from __future__ import annotations

import dataclasses

import pytest

from chalicelib.booking import domain
from chalicelib.inventory.domain import CancellationPolicy

NOW = 1_800_000_000  # 2027-01-15
FAR_DATE = "2027-06-01"


def booking(status: str = domain.HELD, **changes) -> domain.Booking:
    item = domain.BookedItem(listing_id="ls_1", kind="hotel", title="Hotel Aurora", vendor_id="v_1", quantity=2,
                             dates=(FAR_DATE,), unit_prices=(5000,), amount=10000,
                             policy=CancellationPolicy(48, 50), check_in=FAR_DATE, check_out="2027-06-02")
    base = domain.Booking(booking_id="bk_" + "a" * 20, reference="ABC234", traveler_id="u_1",
                          contact=domain.Contact("t@example.com", "Tessa"), status=status, items=(item,),
                          currency="EUR", amount=10000, expires_at=NOW + 900, first_date=FAR_DATE,
                          created_at="2027-01-15T00:00:00.000Z", updated_at="2027-01-15T00:00:00.000Z")
    return dataclasses.replace(base, **changes)


def test_start_payment_keeps_the_attempt_and_ends_the_hold():
    t = booking().start_payment(attempt="a1", payment_id="pi_1", authorized=10000, provider="local", now=NOW)
    assert (t.from_status, t.to_status, t.lock, t.unexpired_at) == (domain.HELD, domain.CONFIRMING, "a1", NOW)
    assert t.fields["payment_attempt"] == "a1" and t.fields["payment_lock"] is None
    assert t.hold_ended and t.units is None
    assert t.ledger == (domain.LedgerMove("authorization", 10000, "pi_1"),)


def test_a_lapsed_hold_cannot_be_paid_even_before_the_sweeper():
    with pytest.raises(domain.IllegalTransition) as refused:
        booking().start_payment(attempt="a1", payment_id="pi_1", authorized=10000, provider="local", now=NOW + 900)
    assert refused.value.booking_status == domain.EXPIRED


def test_confirm_sells_the_held_units_and_records_the_capture():
    t = booking(domain.CONFIRMING).confirm(captured=10000, capture_id="ch_1", now=NOW, by="worker")
    assert (t.to_status, t.units, t.pending_until) == (domain.CONFIRMED, domain.SELL_HELD, None)
    assert t.ledger == (domain.LedgerMove("capture", 10000, "ch_1"),)


def test_fail_releases_the_held_units_and_records_the_void():
    t = booking(domain.CONFIRMING, authorized_amount=10000, payment_id="pi_1").fail(
        reason="card_declined", voided=True, now=NOW, by="worker")
    assert (t.to_status, t.units) == (domain.FAILED, domain.RELEASE_HELD)
    assert t.ledger == (domain.LedgerMove("void", 10000, "pi_1", "card_declined"),)


def test_expire_is_refused_before_the_expiry_time():
    with pytest.raises(domain.IllegalTransition):
        booking().expire(now=NOW, by="sweeper")


def test_expire_is_guarded_by_the_attempts_it_saw():
    t = booking(attempt_ids=frozenset({"a1", "a2"})).expire(now=NOW + 900, by="sweeper")
    assert (t.to_status, t.units, t.hold_ended, t.attempts) == (domain.EXPIRED, domain.RELEASE_HELD, True, 2)


def test_cancelling_a_hold_is_immediate_and_a_paid_booking_goes_through_the_worker():
    held = booking().cancel(now=NOW, by="traveler")
    assert (held.to_status, held.units, held.hold_ended) == (domain.CANCELLED, domain.RELEASE_HELD, True)
    paid = booking(domain.CONFIRMED, captured_amount=10000).cancel(now=NOW, by="traveler")
    assert (paid.to_status, paid.units, paid.fields["refund_quote"]) == (domain.CANCELLING, None, 10000)
    assert paid.pending_until == NOW + domain.REDRIVE_SECONDS


def test_finish_cancellation_refunds_and_releases_the_sold_units():
    t = booking(domain.CANCELLING, captured_amount=10000, refund_quote=5000).finish_cancellation(
        refunded=5000, refund_id="re_1", now=NOW, by="worker")
    assert (t.to_status, t.units, t.fields["refunded_amount"]) == (domain.CANCELLED, domain.RELEASE_SOLD, 5000)
    assert t.ledger == (domain.LedgerMove("refund", 5000, "re_1", "cancellation"),)


@pytest.mark.parametrize("status", [domain.EXPIRED, domain.FAILED, domain.CANCELLED, domain.CANCELLING,
                                    domain.CONFIRMING])
def test_only_held_and_confirmed_bookings_can_be_cancelled(status):
    with pytest.raises(domain.IllegalTransition):
        booking(status).cancel(now=NOW, by="traveler")


def test_illegal_transition_messages_use_the_right_article():
    assert str(domain.IllegalTransition(domain.EXPIRED, "be cancelled")) == "An EXPIRED booking cannot be cancelled."
    assert str(domain.IllegalTransition(domain.HELD, "fail")) == "A HELD booking cannot fail."


def test_a_lapsed_hold_reads_expired():
    held = booking()
    assert held.effective_status(NOW) == domain.HELD
    assert held.effective_status(NOW + 900) == domain.EXPIRED


def test_with_changes_is_the_booking_as_stored_after_the_transition():
    before = booking()
    t = before.start_payment(attempt="a1", payment_id="pi_1", authorized=10000, provider="local", now=NOW)
    after = before.with_changes(t)
    assert (after.status, after.payment_attempt, after.authorized_amount, after.ledger_seq) == (
        domain.CONFIRMING, "a1", 10000, 1)
    assert after.timeline[-1].status == domain.CONFIRMING


def test_attempt_ids_are_per_key_and_provider_keys_per_attempt():
    assert domain.attempt_id("key-1") == domain.attempt_id("key-1") != domain.attempt_id("key-2")
    one, two = domain.attempt_id("key-1"), domain.attempt_id("key-2")
    assert domain.attempt_provider_key("bk_1", one) != domain.attempt_provider_key("bk_1", two)
