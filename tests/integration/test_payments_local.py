"""LocalProvider against the emulator: Stripe's test tokens, idempotency, and the money rules."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.booking.payments import (AmountExceeded, CaptureFailed, Declined, IdempotencyKeyReused,
                                         InvalidPaymentMethod, InvalidPaymentState, UnknownPayment)
from chalicelib.booking.payments.local import LocalProvider
from chalicelib.booking.payments.models import LocalPayment, LocalPaymentRequest


@pytest.fixture
def payments(aws_env) -> LocalProvider:
    return LocalProvider()


def authorize(payments: LocalProvider, key: str = "auth-1", *, amount: int = 12900,
              token: str = "tok_visa"):
    return payments.authorize(amount=amount, currency="EUR", payment_method=token,
                              idempotency_key=key, metadata={"booking_id": "bk_1"})


def stored(payment_id: str) -> LocalPayment:
    return LocalPayment.get(LocalPayment.key(payment_id), consistent_read=True)


def all_items() -> list[dict]:
    return [item.attribute_values for item in LocalPayment.scan()]


# -- Stripe's test tokens ---------------------------------------------------------------------

@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
def test_good_tokens_authorize_like_a_payment_intent(payments, token):
    authorization = authorize(payments, token=token)

    assert authorization.payment_id.startswith("pi_local_")
    assert (authorization.amount, authorization.currency, authorization.status) == (12900, "EUR", "authorized")
    payment = stored(authorization.payment_id)
    assert (payment.status, payment.amount, payment.captured_amount) == ("authorized", 12900, 0)
    assert payment.metadata.as_dict() == {"booking_id": "bk_1"}


@pytest.mark.parametrize("token, reason", [("tok_chargeDeclined", "generic_decline"),
                                           ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds")])
def test_declining_tokens_raise_declined_with_stripes_reason(payments, token, reason):
    with pytest.raises(Declined) as declined:
        authorize(payments, token=token)
    assert declined.value.reason == reason

    # The same key answers the same decline again, and no payment exists.
    with pytest.raises(Declined) as again:
        authorize(payments, token=token)
    assert again.value.reason == reason
    assert not any(item["pk"].startswith("payment#") for item in all_items())


def test_capture_fails_token_authorizes_then_fails_at_capture_and_can_be_voided(payments):
    authorization = authorize(payments, token="tok_captureFails")

    with pytest.raises(CaptureFailed) as failed:
        payments.capture(authorization.payment_id, amount=12900, idempotency_key="cap-1")
    assert failed.value.reason

    payments.void(authorization.payment_id, idempotency_key="void-1")
    assert stored(authorization.payment_id).status == "voided"


@pytest.mark.parametrize("value", ["tok_unknown", "pm_card_visa", "", "4242 4242 4242 4242", "4242424242424242"])
def test_anything_else_is_an_invalid_payment_method_and_nothing_is_stored(payments, value, caplog):
    with pytest.raises(InvalidPaymentMethod) as invalid:
        authorize(payments, token=value)

    if value:
        assert value not in invalid.value.message
        assert value not in caplog.text
    assert all_items() == []


# -- idempotency ------------------------------------------------------------------------------

def test_authorize_with_the_same_key_returns_the_same_payment(payments):
    first = authorize(payments, "auth-same")
    second = authorize(payments, "auth-same")

    assert second == first
    assert sum(item["pk"].startswith("payment#") for item in all_items()) == 1


def test_a_key_reused_with_another_amount_is_refused(payments):
    authorization = authorize(payments, "auth-amount", amount=12900)
    with pytest.raises(IdempotencyKeyReused):
        authorize(payments, "auth-amount", amount=13900)

    payments.capture(authorization.payment_id, amount=5000, idempotency_key="cap-amount")
    with pytest.raises(IdempotencyKeyReused):
        payments.capture(authorization.payment_id, amount=6000, idempotency_key="cap-amount")

    payments.refund(authorization.payment_id, amount=1000, idempotency_key="ref-amount")
    with pytest.raises(IdempotencyKeyReused):
        payments.refund(authorization.payment_id, amount=2000, idempotency_key="ref-amount")


def test_the_same_key_may_serve_each_operation_once(payments):
    # Keys are scoped per operation: a booking may derive one key for all its payment calls.
    authorization = authorize(payments, "booking-7")
    capture = payments.capture(authorization.payment_id, amount=12900, idempotency_key="booking-7")
    refund = payments.refund(authorization.payment_id, amount=100, idempotency_key="booking-7")
    assert capture.amount == 12900 and refund.amount == 100


def test_a_repeated_capture_returns_the_first_capture_and_moves_no_money(payments):
    authorization = authorize(payments)
    first = payments.capture(authorization.payment_id, amount=12900, idempotency_key="cap-1")
    again = payments.capture(authorization.payment_id, amount=12900, idempotency_key="cap-1")

    assert again == first
    assert first.capture_id.startswith("ch_local_")
    payment = stored(authorization.payment_id)
    assert (payment.status, payment.captured_amount, payment.capture_id) == ("captured", 12900, first.capture_id)


def test_a_second_capture_under_a_new_key_is_refused(payments):
    authorization = authorize(payments)
    payments.capture(authorization.payment_id, amount=10000, idempotency_key="cap-1")

    with pytest.raises(InvalidPaymentState):
        payments.capture(authorization.payment_id, amount=2900, idempotency_key="cap-2")
    assert stored(authorization.payment_id).captured_amount == 10000


def test_a_repeated_refund_refunds_once(payments):
    authorization = authorize(payments)
    payments.capture(authorization.payment_id, amount=12900, idempotency_key="cap-1")

    first = payments.refund(authorization.payment_id, amount=5000, idempotency_key="ref-1")
    again = payments.refund(authorization.payment_id, amount=5000, idempotency_key="ref-1")

    assert again == first
    assert first.refund_id.startswith("re_local_")
    payment = stored(authorization.payment_id)
    assert (payment.refunded_amount, payment.refundable) == (5000, 7900)


# -- the money rules --------------------------------------------------------------------------

def test_partial_capture_up_to_the_authorized_amount(payments):
    authorization = authorize(payments, amount=12900)
    with pytest.raises(AmountExceeded):
        payments.capture(authorization.payment_id, amount=12901, idempotency_key="cap-over")

    capture = payments.capture(authorization.payment_id, amount=9000, idempotency_key="cap-part")
    assert capture.amount == 9000
    assert stored(authorization.payment_id).refundable == 9000


def test_capture_after_void_fails(payments):
    authorization = authorize(payments)
    payments.void(authorization.payment_id, idempotency_key="void-1")

    with pytest.raises(InvalidPaymentState):
        payments.capture(authorization.payment_id, amount=12900, idempotency_key="cap-1")
    assert stored(authorization.payment_id).status == "voided"


def test_void_is_idempotent_and_refused_after_capture(payments):
    voided = authorize(payments, "auth-v")
    payments.void(voided.payment_id, idempotency_key="void-1")
    payments.void(voided.payment_id, idempotency_key="void-1")  # replay
    payments.void(voided.payment_id, idempotency_key="void-2")  # already voided: nothing to do

    captured = authorize(payments, "auth-c")
    payments.capture(captured.payment_id, amount=12900, idempotency_key="cap-c")
    with pytest.raises(InvalidPaymentState):
        payments.void(captured.payment_id, idempotency_key="void-c")
    assert stored(captured.payment_id).status == "captured"


def test_refunds_add_up_to_at_most_the_captured_amount(payments):
    authorization = authorize(payments, amount=12900)
    payments.capture(authorization.payment_id, amount=10000, idempotency_key="cap-1")

    payments.refund(authorization.payment_id, amount=6000, idempotency_key="ref-1")
    with pytest.raises(AmountExceeded):
        payments.refund(authorization.payment_id, amount=4001, idempotency_key="ref-2")
    payments.refund(authorization.payment_id, amount=4000, idempotency_key="ref-3")
    with pytest.raises(AmountExceeded):
        payments.refund(authorization.payment_id, amount=1, idempotency_key="ref-4")

    payment = stored(authorization.payment_id)
    assert (payment.refunded_amount, payment.refundable) == (10000, 0)


def test_refund_before_capture_is_refused(payments):
    authorization = authorize(payments)
    with pytest.raises(InvalidPaymentState):
        payments.refund(authorization.payment_id, amount=100, idempotency_key="ref-1")


def test_unknown_payments_and_bad_amounts(payments):
    with pytest.raises(UnknownPayment):
        payments.capture("pi_local_missing", amount=100, idempotency_key="cap-x")
    with pytest.raises(UnknownPayment):
        payments.refund("pi_local_missing", amount=100, idempotency_key="ref-x")
    with pytest.raises(UnknownPayment):
        payments.void("pi_local_missing", idempotency_key="void-x")
    for amount in (0, -5, 10.5, True):
        with pytest.raises(ValueError):
            payments.authorize(amount=amount, currency="EUR", payment_method="tok_visa",
                               idempotency_key="bad", metadata={})


def test_storage_holds_ids_amounts_and_hashes_only(payments):
    authorize(payments, "auth-secret", token="tok_visa")
    requests = [item for item in all_items() if item["pk"].startswith("request#")]
    assert requests and all("tok_visa" not in str(item) for item in requests)


# -- concurrency ------------------------------------------------------------------------------

@pytest.fixture
def serialized_moto(monkeypatch):
    """moto applies a transaction item by item and, on failure, restores a copy of the table
    taken before, with no lock: threads racing in-process can see or erase each other's writes.
    DynamoDB isolates transactions (or cancels one with TransactionConflict, tested below), so
    here each DynamoDB call runs alone; the threads still interleave between calls."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "get_item", "put_item", "update_item", "delete_item", "scan"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, _original=original, **kwargs):
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


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
    authorization = authorize(payments)

    results = race(12, lambda _: payments.capture(authorization.payment_id, amount=12900,
                                                  idempotency_key="cap-race"))

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.capture_id for r in results}) == 1
    payment = stored(authorization.payment_id)
    assert (payment.status, payment.captured_amount) == ("captured", 12900)
    assert payment.capture_id == results[0].capture_id
    captures = [i for i in all_items() if i["pk"].startswith("request#capture#")]
    assert len(captures) == 1


def test_concurrent_refunds_never_exceed_the_captured_amount(payments, serialized_moto):
    authorization = authorize(payments, amount=10000)
    payments.capture(authorization.payment_id, amount=10000, idempotency_key="cap-1")

    results = race(10, lambda i: payments.refund(authorization.payment_id, amount=3000,
                                                 idempotency_key=f"ref-{i}"))

    refunded = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refunded) == 3
    assert all(isinstance(r, AmountExceeded) for r in refused), refused
    payment = stored(authorization.payment_id)
    assert (payment.refunded_amount, payment.refundable) == (9000, 1000)


def test_a_transaction_conflict_is_retried(payments, monkeypatch):
    # moto never raises TransactionConflict (DESIGN pitfall 8); DynamoDB does when two
    # transactions touch one item at once. Inject one and expect the call to go through.
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    authorization = authorize(payments)
    original = DynamoDBBackend.transact_write_items
    conflicts = []

    def conflict_once(self, transact_items):
        if not conflicts:
            conflicts.append(1)
            raise TransactionCanceledException(
                [(None, None, None), ("TransactionConflict", "Transaction is ongoing for the item", None)])
        return original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", conflict_once)
    capture = payments.capture(authorization.payment_id, amount=12900, idempotency_key="cap-1")

    assert conflicts and capture.amount == 12900
    assert stored(authorization.payment_id).captured_amount == 12900
    assert LocalPaymentRequest.get(LocalPaymentRequest.key("capture", "cap-1")).result_id == capture.capture_id
