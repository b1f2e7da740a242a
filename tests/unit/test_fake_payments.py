"""FakePaymentProvider: the port's rules in memory, and the faults a test can inject. No AWS."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.booking.payments.fake import FakePaymentProvider, RecordedPayment
from chalicelib.booking.payments.local import TEST_TOKENS
from chalicelib.booking.payments.port import (AmountExceeded, Authorization, AuthorizationGone, Capture,
                                              CaptureFailed, Declined, IdempotencyKeyReused,
                                              InvalidPaymentMethod, InvalidPaymentState, PaymentState,
                                              ProviderBusy, ProviderUnavailable, Refund, UnknownPayment)

GOOD_TOKENS = sorted(t for t, b in TEST_TOKENS.items() if not b.decline and not b.capture_fails)
DECLINING_TOKENS = sorted((t, b.decline) for t, b in TEST_TOKENS.items() if b.decline)


@pytest.fixture
def fake() -> FakePaymentProvider:
    return FakePaymentProvider()


def create(fake: FakePaymentProvider, key: str = "attempt-1", *, amount: int = 12900) -> str:
    return fake.create(amount=amount, currency="eur", idempotency_key=key, metadata={"booking_id": "bk_1"})


def authorized(fake: FakePaymentProvider, key: str = "attempt-1", *, amount: int = 12900,
               token: str = "tok_visa") -> str:
    payment_id = create(fake, key, amount=amount)
    fake.confirm(payment_id, payment_method=token, idempotency_key=key)
    return payment_id


def captured(fake: FakePaymentProvider, amount: int = 12900) -> str:
    payment_id = authorized(fake, amount=amount)
    fake.capture(payment_id, amount=amount, idempotency_key="cap-1")
    return payment_id


# -- create -----------------------------------------------------------------------------------

def test_create_makes_a_created_payment_that_moves_no_money(fake):
    payment_id = create(fake)

    assert fake.retrieve(payment_id) == PaymentState(payment_id, "created", 12900, 0, 0)
    assert fake.payment(payment_id).currency == "EUR"


def test_create_with_the_same_key_returns_the_same_payment(fake):
    assert create(fake, "attempt-1") == create(fake, "attempt-1")
    assert len(fake.payments()) == 1


def test_create_with_the_same_key_and_another_amount_is_refused(fake):
    create(fake, "attempt-1", amount=12900)

    with pytest.raises(IdempotencyKeyReused):
        create(fake, "attempt-1", amount=13900)


def test_create_refuses_a_bad_amount_as_a_callers_bug(fake):
    with pytest.raises(ValueError):
        create(fake, amount=0)


# -- accepts and confirm ----------------------------------------------------------------------

@pytest.mark.parametrize("token", sorted(TEST_TOKENS))
def test_every_test_token_is_accepted(fake, token):
    assert fake.accepts(token)


@pytest.mark.parametrize("value", ["tok_unknown", "pm_card_visa", "", "4242424242424242"])
def test_other_values_are_not_accepted(fake, value):
    assert not fake.accepts(value)


@pytest.mark.parametrize("token", GOOD_TOKENS)
def test_good_tokens_authorize(fake, token):
    payment_id = create(fake)

    authorization = fake.confirm(payment_id, payment_method=token, idempotency_key="attempt-1")

    assert authorization == Authorization(payment_id, 12900, "EUR", "authorized")
    assert fake.retrieve(payment_id).status == "authorized"


@pytest.mark.parametrize("token, reason", DECLINING_TOKENS)
def test_declining_tokens_raise_declined_with_stripes_reason(fake, token, reason):
    payment_id = create(fake)

    with pytest.raises(Declined) as refused:
        fake.confirm(payment_id, payment_method=token, idempotency_key="attempt-1")

    assert refused.value.reason == reason
    assert fake.retrieve(payment_id).status == "created"


def test_a_declined_payment_can_be_confirmed_with_another_method_under_another_key(fake):
    payment_id = create(fake)
    with pytest.raises(Declined):
        fake.confirm(payment_id, payment_method="tok_chargeDeclined", idempotency_key="try-1")

    authorization = fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="try-2")

    assert authorization.status == "authorized"


def test_a_repeated_declined_confirm_replays_the_decline(fake):
    payment_id = create(fake)
    with pytest.raises(Declined):
        fake.confirm(payment_id, payment_method="tok_chargeDeclinedInsufficientFunds", idempotency_key="try-1")

    with pytest.raises(Declined) as again:
        fake.confirm(payment_id, payment_method="tok_chargeDeclinedInsufficientFunds", idempotency_key="try-1")

    assert again.value.reason == "insufficient_funds"


def test_a_repeated_confirm_returns_the_same_authorization(fake):
    payment_id = create(fake)
    first = fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1")

    assert fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1") == first


def test_a_replayed_confirm_of_an_authorization_voided_since_is_authorization_gone(fake):
    payment_id = authorized(fake, "attempt-1")
    fake.void(payment_id, idempotency_key="void-1")

    with pytest.raises(AuthorizationGone):
        fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1")


def test_a_confirm_with_the_same_key_and_another_method_is_refused(fake):
    payment_id = authorized(fake, "attempt-1")

    with pytest.raises(IdempotencyKeyReused):
        fake.confirm(payment_id, payment_method="tok_mastercard", idempotency_key="attempt-1")


def test_an_unknown_method_is_invalid_and_the_key_stays_free(fake):
    payment_id = create(fake)
    with pytest.raises(InvalidPaymentMethod) as invalid:
        fake.confirm(payment_id, payment_method="tok_nope", idempotency_key="attempt-1")
    assert "tok_nope" not in invalid.value.message

    assert fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1").status == "authorized"


def test_confirming_a_voided_payment_is_authorization_gone(fake):
    payment_id = create(fake)
    fake.void(payment_id, idempotency_key="void-1")

    with pytest.raises(AuthorizationGone):
        fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1")


def test_confirming_an_authorized_payment_under_a_new_key_is_an_invalid_state(fake):
    payment_id = authorized(fake, "attempt-1")

    with pytest.raises(InvalidPaymentState):
        fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-2")


# -- capture ----------------------------------------------------------------------------------

def test_capture_takes_up_to_the_authorized_amount(fake):
    payment_id = authorized(fake, amount=12900)

    capture = fake.capture(payment_id, amount=9000, idempotency_key="cap-1")

    assert (capture.payment_id, capture.amount) == (payment_id, 9000)
    assert fake.retrieve(payment_id) == PaymentState(payment_id, "captured", 12900, 9000, 0)


def test_capture_above_the_authorized_amount_is_amount_exceeded(fake):
    payment_id = authorized(fake, amount=12900)

    with pytest.raises(AmountExceeded):
        fake.capture(payment_id, amount=12901, idempotency_key="cap-1")


def test_capturing_a_captured_payment_under_a_new_key_returns_the_existing_capture(fake):
    payment_id = authorized(fake)
    first = fake.capture(payment_id, amount=12900, idempotency_key="cap-1")

    assert fake.capture(payment_id, amount=12900, idempotency_key="cap-2") == first
    assert fake.retrieve(payment_id).captured_amount == 12900


def test_a_capture_key_reused_with_another_amount_is_refused(fake):
    payment_id = authorized(fake)
    fake.capture(payment_id, amount=12900, idempotency_key="cap-1")

    with pytest.raises(IdempotencyKeyReused):
        fake.capture(payment_id, amount=100, idempotency_key="cap-1")


def test_the_capture_fails_token_authorizes_but_its_capture_fails(fake):
    payment_id = authorized(fake, token="tok_captureFails")

    with pytest.raises(CaptureFailed):
        fake.capture(payment_id, amount=12900, idempotency_key="cap-1")
    assert fake.retrieve(payment_id).status == "authorized"


def test_capturing_a_voided_payment_is_authorization_gone(fake):
    payment_id = authorized(fake)
    fake.void(payment_id, idempotency_key="void-1")

    with pytest.raises(AuthorizationGone):
        fake.capture(payment_id, amount=12900, idempotency_key="cap-1")


def test_capturing_an_unconfirmed_payment_is_an_invalid_state(fake):
    payment_id = create(fake)

    with pytest.raises(InvalidPaymentState):
        fake.capture(payment_id, amount=12900, idempotency_key="cap-1")


# -- void, refund, retrieve -------------------------------------------------------------------

@pytest.mark.parametrize("confirm", [False, True], ids=["created", "authorized"])
def test_void_cancels_a_created_or_authorized_payment(fake, confirm):
    payment_id = authorized(fake) if confirm else create(fake)

    fake.void(payment_id, idempotency_key="void-1")

    assert fake.retrieve(payment_id).status == "voided"


def test_voiding_a_voided_payment_under_a_new_key_is_a_no_op(fake):
    payment_id = authorized(fake)
    fake.void(payment_id, idempotency_key="void-1")

    assert fake.void(payment_id, idempotency_key="void-2") is None


def test_voiding_a_captured_payment_is_an_invalid_state(fake):
    payment_id = captured(fake)

    with pytest.raises(InvalidPaymentState):
        fake.void(payment_id, idempotency_key="void-1")


def test_refunds_add_up_to_at_most_the_captured_amount(fake):
    payment_id = captured(fake, amount=10000)
    fake.refund(payment_id, amount=6000, idempotency_key="ref-1")

    with pytest.raises(AmountExceeded):
        fake.refund(payment_id, amount=4001, idempotency_key="ref-2")
    fake.refund(payment_id, amount=4000, idempotency_key="ref-3")
    assert fake.retrieve(payment_id).refunded_amount == 10000


def test_a_repeated_refund_refunds_once(fake):
    payment_id = captured(fake)

    first = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    assert fake.refund(payment_id, amount=5000, idempotency_key="ref-1") == first
    assert fake.retrieve(payment_id).refunded_amount == 5000


def test_refunding_an_uncaptured_payment_is_an_invalid_state(fake):
    payment_id = authorized(fake)

    with pytest.raises(InvalidPaymentState):
        fake.refund(payment_id, amount=100, idempotency_key="ref-1")


def test_retrieve_refund_answers_a_refund_succeeded(fake):
    payment_id = captured(fake)
    refund = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    assert fake.retrieve_refund(refund.refund_id) == Refund(refund.refund_id, payment_id, 5000, "succeeded")


def test_retrieve_refund_of_an_unknown_refund_is_unknown_payment(fake):
    with pytest.raises(UnknownPayment):
        fake.retrieve_refund("re_missing")


@pytest.mark.parametrize("call", [
    lambda f: f.confirm("pi_missing", payment_method="tok_visa", idempotency_key="k"),
    lambda f: f.capture("pi_missing", amount=1, idempotency_key="k"),
    lambda f: f.void("pi_missing", idempotency_key="k"),
    lambda f: f.refund("pi_missing", amount=1, idempotency_key="k"),
    lambda f: f.retrieve("pi_missing"),
], ids=["confirm", "capture", "void", "refund", "retrieve"])
def test_an_unknown_payment_is_unknown_payment(fake, call):
    with pytest.raises(UnknownPayment):
        call(fake)


# -- what a test controls: counting ------------------------------------------------------------

def test_calls_are_counted_per_operation_refusals_included(fake):
    payment_id = create(fake)
    create(fake)
    with pytest.raises(InvalidPaymentState):
        fake.capture(payment_id, amount=1, idempotency_key="cap-1")

    assert (fake.calls["create"], fake.calls["capture"], fake.calls["void"]) == (2, 1, 0)


# -- faults: unavailable before the work -------------------------------------------------------

def test_fail_next_makes_the_next_calls_unavailable_then_lets_them_through(fake):
    fake.fail_next("create", times=2)

    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            create(fake)
    assert fake.payments() == []

    create(fake)
    assert len(fake.payments()) == 1 and fake.calls["create"] == 3


def test_fail_next_touches_only_the_named_operation(fake):
    fake.fail_next("capture")

    payment_id = authorized(fake)  # create and confirm go through

    with pytest.raises(ProviderUnavailable):
        fake.capture(payment_id, amount=12900, idempotency_key="cap-1")
    assert fake.retrieve(payment_id).status == "authorized"


def test_fail_next_can_raise_provider_busy(fake):
    payment_id = create(fake)
    fake.fail_next("confirm", error=ProviderBusy)

    with pytest.raises(ProviderBusy):
        fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1")
    assert fake.retrieve(payment_id).status == "created"


def test_fail_next_refuses_an_unknown_operation(fake):
    with pytest.raises(ValueError):
        fake.fail_next("authorize")


# -- faults: the work is done, the answer is lost ----------------------------------------------

def test_a_lost_create_answer_leaves_a_payment_that_the_same_key_finds(fake):
    fake.lose_next_answer("create")
    with pytest.raises(ProviderUnavailable):
        create(fake, "attempt-1")
    orphan = fake.payments()[0].payment_id

    assert create(fake, "attempt-1") == orphan


def test_a_lost_confirm_answer_still_authorizes(fake):
    payment_id = create(fake)
    fake.lose_next_answer("confirm")

    with pytest.raises(ProviderUnavailable):
        fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1")

    assert fake.retrieve(payment_id).status == "authorized"
    assert fake.confirm(payment_id, payment_method="tok_visa", idempotency_key="attempt-1").status == "authorized"


def test_a_lost_decline_is_replayed_as_the_decline(fake):
    payment_id = create(fake)
    fake.lose_next_answer("confirm")
    with pytest.raises(ProviderUnavailable):
        fake.confirm(payment_id, payment_method="tok_chargeDeclined", idempotency_key="attempt-1")

    with pytest.raises(Declined):
        fake.confirm(payment_id, payment_method="tok_chargeDeclined", idempotency_key="attempt-1")


def test_a_lost_capture_answer_still_captures_once(fake):
    payment_id = authorized(fake)
    fake.lose_next_answer("capture")
    with pytest.raises(ProviderUnavailable):
        fake.capture(payment_id, amount=12900, idempotency_key="cap-1")

    capture = fake.capture(payment_id, amount=12900, idempotency_key="cap-1")

    assert capture == Capture(payment_id, 12900, fake.payment(payment_id).capture_id)
    assert fake.retrieve(payment_id).captured_amount == 12900


# -- faults: behind our back -------------------------------------------------------------------

def test_an_expired_authorization_is_voided_and_cannot_be_captured(fake):
    payment_id = authorized(fake)

    fake.expire_authorization(payment_id)

    assert fake.retrieve(payment_id).status == "voided"
    with pytest.raises(AuthorizationGone):
        fake.capture(payment_id, amount=12900, idempotency_key="cap-1")


def test_a_captured_payment_cannot_expire(fake):
    payment_id = captured(fake)

    with pytest.raises(InvalidPaymentState):
        fake.expire_authorization(payment_id)


# -- pending refunds, settled later -------------------------------------------------------------

def test_a_held_refund_answers_pending(fake):
    payment_id = captured(fake)
    fake.hold_refunds_pending()

    refund = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    assert refund.status == "pending"
    assert fake.retrieve_refund(refund.refund_id).status == "pending"


def test_holding_refunds_pending_holds_only_the_next_times_refunds(fake):
    payment_id = captured(fake)
    fake.hold_refunds_pending(times=2)

    statuses = [fake.refund(payment_id, amount=100, idempotency_key=f"ref-{i}").status for i in range(3)]

    assert statuses == ["pending", "pending", "succeeded"]


def test_a_refused_refund_does_not_use_up_a_hold(fake):
    payment_id = captured(fake, amount=1000)
    fake.hold_refunds_pending()
    with pytest.raises(AmountExceeded):
        fake.refund(payment_id, amount=1001, idempotency_key="ref-1")

    assert fake.refund(payment_id, amount=1000, idempotency_key="ref-2").status == "pending"


def test_a_pending_refund_counts_as_refunded(fake):
    payment_id = captured(fake, amount=10000)
    fake.hold_refunds_pending()
    fake.refund(payment_id, amount=6000, idempotency_key="ref-1")

    assert fake.retrieve(payment_id).refunded_amount == 6000
    with pytest.raises(AmountExceeded):
        fake.refund(payment_id, amount=4001, idempotency_key="ref-2")


def test_settling_a_pending_refund_succeeded_keeps_it_refunded(fake):
    payment_id = captured(fake)
    fake.hold_refunds_pending()
    refund = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    fake.settle_refund(refund.refund_id, "succeeded")

    assert fake.retrieve_refund(refund.refund_id).status == "succeeded"
    assert fake.retrieve(payment_id).refunded_amount == 5000


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_refund_that_fails_or_is_canceled_gives_its_amount_back_to_the_payment(fake, status):
    payment_id = captured(fake)
    fake.hold_refunds_pending()
    refund = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    fake.settle_refund(refund.refund_id, status)

    assert fake.retrieve_refund(refund.refund_id).status == status
    assert fake.retrieve(payment_id).refunded_amount == 0


def test_the_amount_of_a_failed_refund_can_be_refunded_again(fake):
    payment_id = captured(fake, amount=10000)
    fake.hold_refunds_pending()
    failed = fake.refund(payment_id, amount=10000, idempotency_key="ref-1")
    fake.settle_refund(failed.refund_id, "failed")

    again = fake.refund(payment_id, amount=10000, idempotency_key="ref-2")

    assert again.status == "succeeded"
    assert fake.retrieve(payment_id).refunded_amount == 10000


def test_a_replayed_refund_answers_the_refunds_status_now(fake):
    payment_id = captured(fake)
    fake.hold_refunds_pending()
    first = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")
    fake.settle_refund(first.refund_id, "failed")

    again = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    assert again == Refund(first.refund_id, payment_id, 5000, "failed")
    assert fake.retrieve(payment_id).refunded_amount == 0


def test_a_settled_refund_cannot_settle_again(fake):
    payment_id = captured(fake)
    fake.hold_refunds_pending()
    refund = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")
    fake.settle_refund(refund.refund_id, "failed")

    with pytest.raises(InvalidPaymentState):
        fake.settle_refund(refund.refund_id, "failed")
    assert fake.retrieve(payment_id).refunded_amount == 0


def test_a_refund_that_succeeded_at_once_cannot_be_settled(fake):
    refund = fake.refund(captured(fake), amount=5000, idempotency_key="ref-1")

    with pytest.raises(InvalidPaymentState):
        fake.settle_refund(refund.refund_id, "failed")


@pytest.mark.parametrize("status", ["pending", "requires_action", "refunded"])
def test_settle_refund_refuses_a_status_a_refund_cannot_settle_as(fake, status):
    payment_id = captured(fake)
    fake.hold_refunds_pending()
    refund = fake.refund(payment_id, amount=5000, idempotency_key="ref-1")

    with pytest.raises(ValueError):
        fake.settle_refund(refund.refund_id, status)


def test_settling_an_unknown_refund_is_unknown_payment(fake):
    with pytest.raises(UnknownPayment):
        fake.settle_refund("re_missing", "succeeded")


def test_fail_next_can_target_retrieve_refund(fake):
    refund = fake.refund(captured(fake), amount=5000, idempotency_key="ref-1")
    fake.fail_next("retrieve_refund")

    with pytest.raises(ProviderUnavailable):
        fake.retrieve_refund(refund.refund_id)
    assert fake.retrieve_refund(refund.refund_id).status == "succeeded"


def test_lose_next_answer_can_target_retrieve_refund(fake):
    refund = fake.refund(captured(fake), amount=5000, idempotency_key="ref-1")
    fake.lose_next_answer("retrieve_refund")

    with pytest.raises(ProviderUnavailable):
        fake.retrieve_refund(refund.refund_id)
    assert fake.calls["retrieve_refund"] == 1


# -- the provider's side, for invariant checks -------------------------------------------------

def test_payments_lists_every_payment_with_its_state_and_metadata(fake):
    voided = authorized(fake, "a-1")
    fake.void(voided, idempotency_key="void-1")
    kept = captured(fake)
    fake.refund(kept, amount=100, idempotency_key="ref-1")

    listed = {p.payment_id: p for p in fake.payments()}

    assert listed[voided].state == PaymentState(voided, "voided", 12900, 0, 0)
    assert listed[kept].state == PaymentState(kept, "captured", 12900, 12900, 100)
    assert listed[kept].metadata == {"booking_id": "bk_1"}
    assert len(listed[kept].refund_ids) == 1


def test_a_listed_payment_is_a_copy(fake):
    payment_id = create(fake)
    listed: RecordedPayment = fake.payments()[0]
    listed.metadata["booking_id"] = "bk_other"

    assert fake.payment(payment_id).metadata == {"booking_id": "bk_1"}


# -- threads -----------------------------------------------------------------------------------

def race(count: int, call):
    barrier = threading.Barrier(count)

    def run(index):
        barrier.wait()
        try:
            return call(index)
        except Exception as exc:  # the outcome is what we assert on
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_captures_under_different_keys_capture_once(fake):
    payment_id = authorized(fake)

    results = race(16, lambda i: fake.capture(payment_id, amount=12900, idempotency_key=f"cap-{i}"))

    assert all(isinstance(r, Capture) for r in results), results
    assert len({r.capture_id for r in results}) == 1


def test_concurrent_creates_with_one_key_create_one_payment(fake):
    results = race(16, lambda _: create(fake, "attempt-1"))

    assert len(set(results)) == 1 and len(fake.payments()) == 1


def test_recover_forgets_every_queued_fault(fake):
    fake.fail_next("create", times=3)
    fake.lose_next_answer("create")

    fake.recover()

    create(fake)
    assert len(fake.payments()) == 1
