"""LocalProvider against the emulator: Stripe's test tokens, idempotency, and the money rules."""
from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.booking.payments import (AmountExceeded, Authorization, AuthorizationGone, Capture, CaptureFailed,
                                         Declined, IdempotencyKeyReused, InvalidPaymentMethod, InvalidPaymentState,
                                         PaymentError, PaymentState, Refund, UnknownPayment)
from chalicelib.booking.payments.fake import FakePaymentProvider
from chalicelib.booking.payments.local import TEST_TOKENS, LocalProvider
from chalicelib.booking.payments.models import LocalPayment, LocalPaymentRequest, LocalRefund

GOOD_TOKENS = sorted(t for t, b in TEST_TOKENS.items() if not b.decline and not b.capture_fails)
DECLINING_TOKENS = [("tok_chargeDeclined", "generic_decline"),
                    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
                    ("tok_chargeDeclinedExpiredCard", "expired_card"),
                    ("tok_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
                    ("tok_chargeDeclinedFraudulent", "fraudulent")]


@pytest.fixture
def payments(aws_env) -> LocalProvider:
    return LocalProvider()


def create(payments, key: str = "attempt-1", *, amount: int = 12900,
           metadata: dict[str, str] | None = None) -> str:
    return payments.create(amount=amount, currency="EUR", idempotency_key=key,
                           metadata={"booking_id": "bk_1"} if metadata is None else metadata)


def confirm(payments, payment_id: str, key: str = "attempt-1", token: str = "tok_visa") -> Authorization:
    return payments.confirm(payment_id, payment_method=token, idempotency_key=key)


def authorized(payments, key: str = "attempt-1", *, amount: int = 12900, token: str = "tok_visa") -> str:
    payment_id = create(payments, key, amount=amount)
    confirm(payments, payment_id, key, token)
    return payment_id


def captured(payments, amount: int = 12900) -> str:
    payment_id = authorized(payments, amount=amount)
    payments.capture(payment_id, amount=amount, idempotency_key="cap-1")
    return payment_id


def stored(payment_id: str) -> LocalPayment:
    return LocalPayment.get(LocalPayment.key(payment_id), consistent_read=True)


def all_items() -> list[dict]:
    return [item.attribute_values for item in LocalPayment.scan()]


def payment_items() -> list[dict]:
    return [item for item in all_items() if item["pk"].startswith("payment#")]


# -- create -----------------------------------------------------------------------------------

def test_create_stores_a_created_payment_that_moves_no_money(payments):
    payment_id = create(payments)

    assert payment_id.startswith("pi_local_")
    payment = stored(payment_id)
    assert (payment.status, payment.amount, payment.currency, payment.captured_amount) == ("created", 12900, "EUR", 0)
    assert payment.metadata.as_dict() == {"booking_id": "bk_1"}


def test_create_with_the_same_key_returns_the_same_payment(payments):
    assert create(payments, "attempt-1") == create(payments, "attempt-1")
    assert len(payment_items()) == 1


@pytest.mark.parametrize("other", [{"amount": 13900}, {"metadata": {"booking_id": "bk_2"}}], ids=["amount", "metadata"])
def test_create_with_the_same_key_and_other_arguments_is_refused(payments, other):
    create(payments, "attempt-1")

    with pytest.raises(IdempotencyKeyReused):
        create(payments, "attempt-1", **other)


@pytest.mark.parametrize("amount", [0, -5, 10.5, True])
def test_a_bad_amount_is_a_callers_bug(payments, amount):
    with pytest.raises(ValueError):
        create(payments, amount=amount)


# -- Stripe's test tokens ---------------------------------------------------------------------

@pytest.mark.parametrize("token", sorted(TEST_TOKENS))
def test_every_test_token_is_accepted(payments, token):
    assert payments.accepts(token)


@pytest.mark.parametrize("value", ["tok_unknown", "pm_card_visa", "", "4242 4242 4242 4242"])
def test_other_payment_methods_are_not_accepted(payments, value):
    assert not payments.accepts(value)


@pytest.mark.parametrize("token", GOOD_TOKENS)
def test_good_tokens_authorize_the_payment(payments, token):
    payment_id = create(payments)

    authorization = confirm(payments, payment_id, token=token)

    assert authorization == Authorization(payment_id, 12900, "EUR", "authorized")
    assert stored(payment_id).status == "authorized"


@pytest.mark.parametrize("token, reason", DECLINING_TOKENS)
def test_declining_tokens_raise_declined_with_stripes_reason(payments, token, reason):
    payment_id = create(payments)

    with pytest.raises(Declined) as declined:
        confirm(payments, payment_id, token=token)

    assert declined.value.reason == reason


def test_a_declined_payment_stays_created_with_its_decline_recorded(payments):
    payment_id = create(payments)
    with pytest.raises(Declined):
        confirm(payments, payment_id, token="tok_chargeDeclinedInsufficientFunds")

    payment = stored(payment_id)
    assert (payment.status, payment.last_decline) == ("created", "insufficient_funds")


def test_a_declined_payment_can_be_authorized_under_another_key_with_a_good_token(payments):
    payment_id = create(payments)
    with pytest.raises(Declined):
        confirm(payments, payment_id, "try-1", token="tok_chargeDeclined")

    authorization = confirm(payments, payment_id, "try-2", token="tok_mastercard")

    assert authorization.status == "authorized"
    assert (stored(payment_id).status, stored(payment_id).last_decline) == ("authorized", None)


def test_a_repeated_declined_confirm_replays_the_decline(payments):
    payment_id = create(payments)
    with pytest.raises(Declined):
        confirm(payments, payment_id, token="tok_chargeDeclinedExpiredCard")

    with pytest.raises(Declined) as again:
        confirm(payments, payment_id, token="tok_chargeDeclinedExpiredCard")

    assert again.value.reason == "expired_card"


@pytest.mark.parametrize("value", ["tok_unknown", "pm_card_visa", "", "4242 4242 4242 4242", "4242424242424242"])
def test_anything_else_is_an_invalid_payment_method_and_nothing_is_recorded(payments, value, caplog):
    payment_id = create(payments)

    with pytest.raises(InvalidPaymentMethod) as invalid:
        confirm(payments, payment_id, token=value)

    if value:
        assert value not in invalid.value.message
        assert value not in caplog.text
    assert not any(item["pk"].startswith("request#confirm#") for item in all_items())
    assert stored(payment_id).status == "created"


def test_the_capture_fails_token_authorizes_then_fails_at_capture(payments):
    payment_id = authorized(payments, token="tok_captureFails")

    with pytest.raises(CaptureFailed) as failed:
        payments.capture(payment_id, amount=12900, idempotency_key="cap-1")

    assert failed.value.reason == "card_declined"
    assert stored(payment_id).status == "authorized"


# -- confirm: idempotency and state -----------------------------------------------------------

def test_a_repeated_confirm_returns_the_same_authorization(payments):
    payment_id = create(payments)
    first = confirm(payments, payment_id)

    assert confirm(payments, payment_id) == first


def test_a_replayed_confirm_of_an_authorization_voided_since_is_authorization_gone(payments):
    payment_id = authorized(payments, "attempt-1")
    payments.void(payment_id, idempotency_key="void-1")

    with pytest.raises(AuthorizationGone):
        confirm(payments, payment_id, "attempt-1")


def test_a_replayed_confirm_of_a_payment_captured_since_says_captured(payments):
    payment_id = captured(payments)

    assert confirm(payments, payment_id, "attempt-1") == Authorization(payment_id, 12900, "EUR", "captured")


def test_a_confirm_key_reused_with_another_method_is_refused(payments):
    payment_id = authorized(payments, "attempt-1")

    with pytest.raises(IdempotencyKeyReused):
        confirm(payments, payment_id, "attempt-1", token="tok_mastercard")


def test_confirming_a_voided_payment_is_authorization_gone(payments):
    payment_id = create(payments)
    payments.void(payment_id, idempotency_key="void-1")

    with pytest.raises(AuthorizationGone):
        confirm(payments, payment_id)
    assert stored(payment_id).status == "voided"


def test_confirming_an_authorized_payment_under_a_new_key_is_an_invalid_state(payments):
    payment_id = authorized(payments, "attempt-1")

    with pytest.raises(InvalidPaymentState):
        confirm(payments, payment_id, "attempt-2")


# -- capture ----------------------------------------------------------------------------------

def test_capture_above_the_authorized_amount_is_amount_exceeded(payments):
    payment_id = authorized(payments, amount=12900)

    with pytest.raises(AmountExceeded):
        payments.capture(payment_id, amount=12901, idempotency_key="cap-over")
    assert stored(payment_id).status == "authorized"


def test_partial_capture_takes_less_than_the_authorized_amount(payments):
    payment_id = authorized(payments, amount=12900)

    capture = payments.capture(payment_id, amount=9000, idempotency_key="cap-part")

    assert capture.amount == 9000
    payment = stored(payment_id)
    assert (payment.status, payment.captured_amount, payment.refundable) == ("captured", 9000, 9000)


def test_a_repeated_capture_returns_the_first_capture_and_moves_no_money(payments):
    payment_id = authorized(payments)
    first = payments.capture(payment_id, amount=12900, idempotency_key="cap-1")

    again = payments.capture(payment_id, amount=12900, idempotency_key="cap-1")

    assert again == first and first.capture_id.startswith("ch_local_")
    payment = stored(payment_id)
    assert (payment.status, payment.captured_amount, payment.capture_id) == ("captured", 12900, first.capture_id)


def test_capturing_a_captured_payment_under_a_new_key_returns_the_existing_capture(payments):
    payment_id = authorized(payments)
    first = payments.capture(payment_id, amount=10000, idempotency_key="cap-1")

    again = payments.capture(payment_id, amount=2900, idempotency_key="cap-2")

    assert again == first == Capture(payment_id, 10000, first.capture_id)
    assert stored(payment_id).captured_amount == 10000


def test_a_capture_key_reused_with_another_amount_is_refused(payments):
    payment_id = authorized(payments)
    payments.capture(payment_id, amount=5000, idempotency_key="cap-1")

    with pytest.raises(IdempotencyKeyReused):
        payments.capture(payment_id, amount=6000, idempotency_key="cap-1")


def test_capture_after_void_is_authorization_gone(payments):
    payment_id = authorized(payments)
    payments.void(payment_id, idempotency_key="void-1")

    with pytest.raises(AuthorizationGone):
        payments.capture(payment_id, amount=12900, idempotency_key="cap-1")
    assert stored(payment_id).status == "voided"


def test_capture_before_confirm_is_an_invalid_state(payments):
    payment_id = create(payments)

    with pytest.raises(InvalidPaymentState):
        payments.capture(payment_id, amount=12900, idempotency_key="cap-1")


# -- void -------------------------------------------------------------------------------------

@pytest.mark.parametrize("confirmed", [False, True], ids=["created", "authorized"])
def test_void_cancels_a_created_or_authorized_payment(payments, confirmed):
    payment_id = authorized(payments) if confirmed else create(payments)

    payments.void(payment_id, idempotency_key="void-1")

    assert stored(payment_id).status == "voided"


@pytest.mark.parametrize("second_key", ["void-1", "void-2"], ids=["same key", "new key"])
def test_voiding_a_voided_payment_is_a_no_op(payments, second_key):
    payment_id = authorized(payments)
    payments.void(payment_id, idempotency_key="void-1")

    assert payments.void(payment_id, idempotency_key=second_key) is None
    assert stored(payment_id).status == "voided"


def test_voiding_a_captured_payment_is_an_invalid_state(payments):
    payment_id = captured(payments)

    with pytest.raises(InvalidPaymentState):
        payments.void(payment_id, idempotency_key="void-1")
    assert stored(payment_id).status == "captured"


# -- refund -----------------------------------------------------------------------------------

def test_refunds_add_up_to_at_most_the_captured_amount(payments):
    payment_id = authorized(payments, amount=12900)
    payments.capture(payment_id, amount=10000, idempotency_key="cap-1")

    payments.refund(payment_id, amount=6000, idempotency_key="ref-1")
    with pytest.raises(AmountExceeded):
        payments.refund(payment_id, amount=4001, idempotency_key="ref-2")
    payments.refund(payment_id, amount=4000, idempotency_key="ref-3")
    with pytest.raises(AmountExceeded):
        payments.refund(payment_id, amount=1, idempotency_key="ref-4")

    payment = stored(payment_id)
    assert (payment.refunded_amount, payment.refundable) == (10000, 0)


def test_a_repeated_refund_refunds_once(payments):
    payment_id = captured(payments)

    first = payments.refund(payment_id, amount=5000, idempotency_key="ref-1")
    again = payments.refund(payment_id, amount=5000, idempotency_key="ref-1")

    assert again == first and first.refund_id.startswith("re_local_")
    payment = stored(payment_id)
    assert (payment.refunded_amount, payment.refundable) == (5000, 7900)


def test_a_refund_key_reused_with_another_amount_is_refused(payments):
    payment_id = captured(payments)
    payments.refund(payment_id, amount=1000, idempotency_key="ref-1")

    with pytest.raises(IdempotencyKeyReused):
        payments.refund(payment_id, amount=2000, idempotency_key="ref-1")


def test_refund_before_capture_is_refused(payments):
    payment_id = authorized(payments)

    with pytest.raises(InvalidPaymentState):
        payments.refund(payment_id, amount=100, idempotency_key="ref-1")


def test_retrieve_refund_answers_the_stored_refund_succeeded(payments):
    payment_id = captured(payments)
    refund = payments.refund(payment_id, amount=4000, idempotency_key="ref-1")

    assert payments.retrieve_refund(refund.refund_id) == Refund(refund.refund_id, payment_id, 4000, "succeeded")


def test_a_refund_stores_one_refund_item_and_its_replay_none(payments):
    payment_id = captured(payments)
    refund = payments.refund(payment_id, amount=4000, idempotency_key="ref-1")
    payments.refund(payment_id, amount=4000, idempotency_key="ref-1")

    refunds = [item for item in all_items() if item["pk"].startswith("refund#")]
    assert [item["pk"] for item in refunds] == [f"refund#{refund.refund_id}"]


def test_retrieve_refund_reads_the_stored_item_rather_than_assuming_success(payments):
    refund = payments.refund(captured(payments), amount=4000, idempotency_key="ref-1")

    LocalRefund(LocalRefund.key(refund.refund_id)).delete()

    with pytest.raises(UnknownPayment):
        payments.retrieve_refund(refund.refund_id)


def test_a_refused_refund_leaves_no_refund_to_retrieve(payments):
    payment_id = captured(payments, amount=1000)

    with pytest.raises(AmountExceeded):
        payments.refund(payment_id, amount=1001, idempotency_key="ref-1")

    assert [item for item in all_items() if item["pk"].startswith("refund#")] == []


def test_retrieve_refund_of_an_unknown_refund_is_unknown_payment(payments):
    with pytest.raises(UnknownPayment):
        payments.retrieve_refund("re_local_missing")


# -- keys, retrieve, unknown payments, storage ------------------------------------------------

def test_the_same_key_may_serve_each_operation_once(payments):
    # Keys are scoped per operation: an attempt may use one key for all its payment calls.
    payment_id = authorized(payments, "booking-7")
    capture = payments.capture(payment_id, amount=12900, idempotency_key="booking-7")
    refund = payments.refund(payment_id, amount=100, idempotency_key="booking-7")

    assert capture.amount == 12900 and refund.amount == 100


def test_retrieve_reports_the_payments_state_and_amounts(payments):
    payment_id = captured(payments)
    payments.refund(payment_id, amount=900, idempotency_key="ref-1")

    assert payments.retrieve(payment_id) == PaymentState(payment_id, "captured", 12900, 12900, 900)


@pytest.mark.parametrize("call", [
    lambda p: p.confirm("pi_local_missing", payment_method="tok_visa", idempotency_key="k"),
    lambda p: p.capture("pi_local_missing", amount=100, idempotency_key="k"),
    lambda p: p.void("pi_local_missing", idempotency_key="k"),
    lambda p: p.refund("pi_local_missing", amount=100, idempotency_key="k"),
    lambda p: p.retrieve("pi_local_missing"),
], ids=["confirm", "capture", "void", "refund", "retrieve"])
def test_an_unknown_payment_is_unknown_payment_and_nothing_is_written(payments, call):
    with pytest.raises(UnknownPayment):
        call(payments)
    assert all_items() == []


def test_storage_holds_ids_amounts_and_hashes_only(payments):
    authorized(payments, "attempt-secret", token="tok_visa")

    requests = [item for item in all_items() if item["pk"].startswith("request#")]
    assert sorted(item["pk"].split("#")[1] for item in requests) == ["confirm", "create"]
    assert all("tok_visa" not in str(item) for item in requests)


# -- the fake answers the same ----------------------------------------------------------------

def scripted_outcomes(provider) -> list:
    """Run one scenario through a provider; every answer or error, with ids made comparable."""
    names: dict[str, str] = {}

    def comparable(value):
        if isinstance(value, str) and value[:3] in ("pi_", "ch_", "re_"):
            return names.setdefault(value, f"{value[:2]}#{len(names)}")
        if dataclasses.is_dataclass(value):
            return (type(value).__name__, *(comparable(getattr(value, f.name)) for f in dataclasses.fields(value)))
        return value

    outcomes = []

    def step(call):
        try:
            answer = call()
        except PaymentError as refused:
            answer = (type(refused).__name__, getattr(refused, "reason", None))
        outcomes.append(comparable(answer))
        return answer

    new = lambda key, amount=12900: provider.create(  # noqa: E731
        amount=amount, currency="EUR", idempotency_key=key, metadata={"booking_id": "bk_1"})
    conf = lambda pid, key, token: provider.confirm(pid, payment_method=token, idempotency_key=key)  # noqa: E731

    kept = step(lambda: new("a-1"))
    step(lambda: new("a-1"))
    step(lambda: new("a-1", 100))
    step(lambda: conf(kept, "c-1", "tok_chargeDeclinedFraudulent"))
    step(lambda: conf(kept, "c-1", "tok_chargeDeclinedFraudulent"))
    step(lambda: conf(kept, "c-x", "tok_nope"))
    step(lambda: conf(kept, "c-2", "tok_amex"))
    step(lambda: conf(kept, "c-2", "tok_amex"))
    step(lambda: conf(kept, "c-2", "tok_visa"))
    step(lambda: conf(kept, "c-3", "tok_visa"))
    step(lambda: provider.capture(kept, amount=20000, idempotency_key="k-1"))
    step(lambda: provider.capture(kept, amount=10000, idempotency_key="k-1"))
    step(lambda: provider.capture(kept, amount=10000, idempotency_key="k-1"))
    step(lambda: provider.capture(kept, amount=500, idempotency_key="k-2"))
    step(lambda: provider.capture(kept, amount=500, idempotency_key="k-1"))
    step(lambda: conf(kept, "c-2", "tok_amex"))
    step(lambda: provider.refund(kept, amount=6000, idempotency_key="r-1"))
    step(lambda: provider.refund(kept, amount=6000, idempotency_key="r-1"))
    step(lambda: provider.refund(kept, amount=4001, idempotency_key="r-2"))
    step(lambda: provider.void(kept, idempotency_key="v-1"))
    step(lambda: provider.retrieve(kept))
    failing = step(lambda: new("a-2"))
    step(lambda: provider.capture(failing, amount=100, idempotency_key="k-3"))
    step(lambda: conf(failing, "c-4", "tok_captureFails"))
    step(lambda: provider.capture(failing, amount=100, idempotency_key="k-3"))
    step(lambda: provider.refund(failing, amount=100, idempotency_key="r-3"))
    step(lambda: provider.void(failing, idempotency_key="v-2"))
    step(lambda: provider.void(failing, idempotency_key="v-3"))
    step(lambda: conf(failing, "c-4", "tok_captureFails"))
    step(lambda: provider.capture(failing, amount=100, idempotency_key="k-4"))
    step(lambda: provider.retrieve(failing))
    never = step(lambda: new("a-3"))
    step(lambda: provider.void(never, idempotency_key="v-4"))
    step(lambda: conf(never, "c-5", "tok_visa"))
    step(lambda: provider.retrieve("pi_missing"))
    step(lambda: provider.void("pi_missing", idempotency_key="v-5"))
    return outcomes


def test_the_fake_answers_every_scripted_call_like_the_local_provider(payments):
    local, fake = scripted_outcomes(payments), scripted_outcomes(FakePaymentProvider())

    assert fake == local
    assert ("AuthorizationGone", None) in local and ("CaptureFailed", "card_declined") in local


# -- concurrency ------------------------------------------------------------------------------


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


def test_concurrent_captures_with_the_same_key_capture_once(payments, serialized_moto):
    payment_id = authorized(payments)

    results = race(12, lambda _: payments.capture(payment_id, amount=12900, idempotency_key="cap-race"))

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.capture_id for r in results}) == 1
    payment = stored(payment_id)
    assert (payment.status, payment.captured_amount, payment.capture_id) == ("captured", 12900, results[0].capture_id)
    assert len([i for i in all_items() if i["pk"].startswith("request#capture#")]) == 1


def test_concurrent_captures_under_different_keys_capture_once(payments, serialized_moto):
    payment_id = authorized(payments)

    results = race(8, lambda i: payments.capture(payment_id, amount=12900, idempotency_key=f"cap-{i}"))

    assert all(isinstance(r, Capture) for r in results), results
    assert len({r.capture_id for r in results}) == 1
    assert stored(payment_id).captured_amount == 12900


def test_concurrent_confirms_under_different_keys_authorize_once(payments, serialized_moto):
    payment_id = create(payments)

    results = race(8, lambda i: confirm(payments, payment_id, f"try-{i}"))

    authorizations = [r for r in results if isinstance(r, Authorization)]
    assert len(authorizations) == 1, results
    assert all(isinstance(r, InvalidPaymentState) for r in results if r not in authorizations), results
    assert stored(payment_id).status == "authorized"


def test_concurrent_refunds_never_exceed_the_captured_amount(payments, serialized_moto):
    payment_id = captured(payments, amount=10000)

    results = race(10, lambda i: payments.refund(payment_id, amount=3000, idempotency_key=f"ref-{i}"))

    refunded = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refunded) == 3
    assert all(isinstance(r, AmountExceeded) for r in refused), refused
    payment = stored(payment_id)
    assert (payment.refunded_amount, payment.refundable) == (9000, 1000)


def test_a_transaction_conflict_is_retried(payments, monkeypatch):
    # moto never raises TransactionConflict (DESIGN pitfall 8); DynamoDB does when two
    # transactions touch one item at once. Inject one and expect the call to go through.
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    payment_id = authorized(payments)
    original = DynamoDBBackend.transact_write_items
    conflicts = []

    def conflict_once(self, transact_items):
        if not conflicts:
            conflicts.append(1)
            raise TransactionCanceledException(
                [(None, None, None), ("TransactionConflict", "Transaction is ongoing for the item", None)])
        return original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", conflict_once)
    capture = payments.capture(payment_id, amount=12900, idempotency_key="cap-1")

    assert conflicts and capture.amount == 12900
    assert stored(payment_id).captured_amount == 12900
    assert LocalPaymentRequest.get(LocalPaymentRequest.key("capture", "cap-1")).result_id == capture.capture_id
