"""LocalProvider: a payment provider kept in DynamoDB, answering Stripe's test tokens.

The default for local runs and tests. It behaves like Stripe where the booking flow can tell the
difference: PaymentIntent-like ids, declines with Stripe's decline codes, idempotency keys whose
first answer is replayed (declines included), manual capture of at most the authorized amount,
refunds of at most the captured amount, void only before capture.

Each call is one DynamoDB transaction: the request record (`attribute_not_exists`) plus the
conditional transition of the payment. When the transaction is cancelled we read the request
and the payment to say why: a repeated key replays, anything else is the matching port error.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from ...core.observability import logger
from .models import LocalPayment, LocalPaymentRequest
from .port import (AUTHORIZED, AmountExceeded, Authorization, Capture, CaptureFailed, Declined,
                   IdempotencyKeyReused, InvalidPaymentMethod, InvalidPaymentState, ProviderUnavailable,
                   Refund, UnknownPayment)

CAPTURED, VOIDED = "captured", "voided"


@dataclass(frozen=True)
class _Token:
    decline: str | None = None
    capture_fails: bool = False


# API.md "Holds and bookings": Stripe's test tokens, as the local stage answers them.
TEST_TOKENS: dict[str, _Token] = {
    "tok_visa": _Token(),
    "tok_mastercard": _Token(),
    "tok_chargeDeclined": _Token(decline="generic_decline"),
    "tok_chargeDeclinedInsufficientFunds": _Token(decline="insufficient_funds"),
    "tok_captureFails": _Token(capture_fails=True),
}
_DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}
CAPTURE_FAILURE_REASON = "card_declined"
_ATTEMPTS = 4  # transaction conflicts and races with a concurrent transition, then give up


class _Cancelled(Exception):
    """The transaction's conditions failed; the caller reads the items to learn which."""


class LocalProvider:
    name = "local"

    # -- the port --------------------------------------------------------------------------

    def authorize(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str,
                  metadata: dict[str, str]) -> Authorization:
        _require_amount(amount)
        currency = _currency(currency)
        key = LocalPaymentRequest.key("authorize", idempotency_key)
        fingerprint = _fingerprint(amount=amount, currency=currency, payment_method=payment_method)
        token = TEST_TOKENS.get(payment_method)
        if token is None:
            # Like Stripe, a request refused by validation is not recorded under its key.
            raise InvalidPaymentMethod("Unknown payment method: use a provider token such as tok_visa.")
        now = _now()
        request = LocalPaymentRequest(key, operation="authorize", fingerprint=fingerprint,
                                      amount=amount, currency=currency, created_at=now)
        if token.decline:
            # Recorded like a success (no payment, though), so a retry gets the same decline.
            request.outcome, request.decline_reason = "declined", token.decline
            self._run(request, _no_transition, _no_explanation, replay=_replay_authorization)
            logger.info("payment declined", extra={"reason": token.decline, "amount": amount})
            raise _declined(token.decline)

        payment_id = _new_id("pi_local")
        request.outcome, request.payment_id = "ok", payment_id
        payment = LocalPayment(LocalPayment.key(payment_id), payment_id=payment_id, status=AUTHORIZED,
                               currency=currency, amount=amount, capture_fails=token.capture_fails,
                               metadata=dict(metadata), created_at=now, updated_at=now)

        def write(t: TransactWrite) -> None:
            t.save(payment, condition=LocalPayment.pk.does_not_exist())

        result = self._run(request, write, _no_explanation, replay=_replay_authorization)
        if result is None:
            result = Authorization(payment_id, amount, currency, AUTHORIZED)
            logger.info("payment authorized", extra={"payment_id": payment_id, "amount": amount,
                                                     "currency": currency})
        return result

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture:
        _require_amount(amount)
        capture_id = _new_id("ch_local")
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("capture", idempotency_key), operation="capture",
            fingerprint=_fingerprint(payment_id=payment_id, amount=amount), outcome="ok",
            payment_id=payment_id, amount=amount, result_id=capture_id, created_at=_now())

        def write(t: TransactWrite) -> None:
            t.update(LocalPayment(LocalPayment.key(payment_id)), actions=[
                LocalPayment.status.set(CAPTURED), LocalPayment.captured_amount.set(amount),
                LocalPayment.refundable.set(amount), LocalPayment.capture_id.set(capture_id),
                LocalPayment.updated_at.set(_now()),
            ], condition=(LocalPayment.status == AUTHORIZED) & (LocalPayment.amount >= amount)
                & (LocalPayment.capture_fails == False))  # noqa: E712 (a condition, not a test)

        def explain() -> None:
            payment = _payment(payment_id)
            if payment.capture_fails:
                raise CaptureFailed(CAPTURE_FAILURE_REASON, "The card issuer refused the capture.")
            if payment.status != AUTHORIZED:
                raise InvalidPaymentState(f"A {payment.status} payment cannot be captured.")
            if amount > payment.amount:
                raise AmountExceeded(f"Cannot capture {amount}: {payment.amount} was authorized.")

        result = self._run(request, write, explain, replay=_replay_capture)
        if result is None:
            result = Capture(payment_id, amount, capture_id)
            logger.info("payment captured", extra={"payment_id": payment_id, "amount": amount})
        return result

    def void(self, payment_id: str, *, idempotency_key: str) -> None:
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("void", idempotency_key), operation="void",
            fingerprint=_fingerprint(payment_id=payment_id), outcome="ok", payment_id=payment_id,
            created_at=_now())

        def write(t: TransactWrite) -> None:
            t.update(LocalPayment(LocalPayment.key(payment_id)),
                     actions=[LocalPayment.status.set(VOIDED), LocalPayment.updated_at.set(_now())],
                     condition=LocalPayment.status == AUTHORIZED)

        voided_before = False

        def explain() -> None:
            nonlocal voided_before
            payment = _payment(payment_id)
            if payment.status == VOIDED:
                # Already where the caller wants it (e.g. a retry under a new key): not an error.
                voided_before = True
                return
            raise InvalidPaymentState(f"A {payment.status} payment cannot be voided.")

        self._run(request, write, explain, replay=lambda r: None, settled=lambda: voided_before)
        logger.info("payment voided", extra={"payment_id": payment_id})

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund:
        _require_amount(amount)
        refund_id = _new_id("re_local")
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("refund", idempotency_key), operation="refund",
            fingerprint=_fingerprint(payment_id=payment_id, amount=amount), outcome="ok",
            payment_id=payment_id, amount=amount, result_id=refund_id, created_at=_now())

        def write(t: TransactWrite) -> None:
            t.update(LocalPayment(LocalPayment.key(payment_id)), actions=[
                LocalPayment.refunded_amount.add(amount), LocalPayment.refundable.add(-amount),
                LocalPayment.updated_at.set(_now()),
            ], condition=(LocalPayment.status == CAPTURED) & (LocalPayment.refundable >= amount))

        def explain() -> None:
            payment = _payment(payment_id)
            if payment.status != CAPTURED:
                raise InvalidPaymentState(f"A {payment.status} payment cannot be refunded.")
            if amount > payment.refundable:
                raise AmountExceeded(
                    f"Cannot refund {amount}: {payment.refundable} of {payment.captured_amount} is left.")

        result = self._run(request, write, explain, replay=_replay_refund)
        if result is None:
            result = Refund(refund_id, payment_id, amount)
            logger.info("payment refunded", extra={"payment_id": payment_id, "amount": amount,
                                                   "refund_id": refund_id})
        return result

    # -- the one transaction shape every call uses -----------------------------------------

    def _run(self, request: LocalPaymentRequest, write: Callable[[TransactWrite], None],
             explain: Callable[[], None], *, replay: Callable[[LocalPaymentRequest], Any],
             settled: Callable[[], bool] = lambda: False) -> Any:
        """Commit the request record with the transition, or say why not.

        Returns None when this call did the work, else the replayed first result. `explain`
        raises the port error for a failed condition, or returns when the state changed under
        us (a race), and we try again; `settled` says the work was found already done.
        """
        for _ in range(_ATTEMPTS):
            try:
                _commit(request, write)
                return None
            except _Cancelled:
                pass
            previous = _request(request.pk)
            if previous is not None:
                if previous.fingerprint != request.fingerprint:
                    raise IdempotencyKeyReused(
                        "This idempotency key was used before with different arguments.")
                return replay(previous)
            explain()
            if settled():
                return None
        raise ProviderUnavailable("The payment is changing concurrently; retry with the same key.")


def _no_transition(transaction: TransactWrite) -> None:
    """A decline records its request and changes no payment."""


def _no_explanation() -> None:
    """Only the request record has a condition; `_run` replays it."""


# -- replays: the first answer to a key, again ----------------------------------------------

def _replay_authorization(previous: LocalPaymentRequest) -> Authorization:
    if previous.outcome == "declined":
        raise _declined(previous.decline_reason or "generic_decline")
    return Authorization(previous.payment_id, int(previous.amount), previous.currency, AUTHORIZED)


def _replay_capture(previous: LocalPaymentRequest) -> Capture:
    return Capture(previous.payment_id, int(previous.amount), previous.result_id)


def _replay_refund(previous: LocalPaymentRequest) -> Refund:
    return Refund(previous.result_id, previous.payment_id, int(previous.amount))


# -- storage ---------------------------------------------------------------------------------

_connection: Connection | None = None


def _transactions() -> Connection:
    """The connection TransactWrite needs, configured like the models' own (region, host)."""
    global _connection
    if _connection is None:
        meta = LocalPayment.Meta
        _connection = Connection(region=meta.region, host=meta.host)
    return _connection


def _commit(request: LocalPaymentRequest, write: Callable[[TransactWrite], None]) -> None:
    for attempt in range(_ATTEMPTS):
        try:
            with TransactWrite(connection=_transactions()) as transaction:
                transaction.save(request, condition=LocalPaymentRequest.pk.does_not_exist())
                write(transaction)
            return
        except TransactWriteError as exc:
            codes = {reason.code for reason in exc.cancellation_reasons if reason is not None}
            if "TransactionConflict" in codes:
                # Another transaction touched the same item; DynamoDB asks us to try again.
                time.sleep(0.02 * (attempt + 1))
                continue
            if "ConditionalCheckFailed" in codes:
                raise _Cancelled() from exc
            raise ProviderUnavailable("The local payment store failed.") from exc
        except PynamoDBException as exc:
            raise ProviderUnavailable("The local payment store failed.") from exc
    raise ProviderUnavailable("The payment is changing concurrently; retry with the same key.")


def _request(key: str) -> LocalPaymentRequest | None:
    try:
        return LocalPaymentRequest.get(key, consistent_read=True)
    except DoesNotExist:
        return None
    except PynamoDBException as exc:
        raise ProviderUnavailable("The local payment store failed.") from exc


def _payment(payment_id: str) -> LocalPayment:
    try:
        return LocalPayment.get(LocalPayment.key(payment_id), consistent_read=True)
    except DoesNotExist:
        raise UnknownPayment(f"No payment {payment_id}.") from None
    except PynamoDBException as exc:
        raise ProviderUnavailable("The local payment store failed.") from exc


# -- small helpers ---------------------------------------------------------------------------

def _declined(reason: str) -> Declined:
    return Declined(reason, _DECLINE_MESSAGES.get(reason, "Your card was declined."))


def _fingerprint(**arguments: Any) -> str:
    # A hash, so the record never holds the payment method itself.
    return hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()


def _require_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount must be a positive integer in minor units")


def _currency(currency: str) -> str:
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        raise ValueError("currency must be an ISO-4217 code")
    return currency.upper()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _now() -> int:
    return int(time.time())
