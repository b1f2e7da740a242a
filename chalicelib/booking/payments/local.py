"""LocalProvider: a payment provider kept in DynamoDB, answering Stripe's test tokens.

The default for local runs and tests. It behaves like Stripe where the booking flow can tell the
difference: PaymentIntent-like ids created before they are confirmed, declines with Stripe's
decline codes that leave the payment confirmable with another method, idempotency keys whose
first answer is replayed (declines included; a replayed authorization is answered from the
payment's state now), manual capture of at most the authorized amount, void by id of anything
not yet captured, refunds of at most the captured amount.

Each call that changes something is one DynamoDB transaction: the request record
(`attribute_not_exists`) plus the conditional transition of the payment (and a refund's own
item, which `retrieve_refund` reads). When the transaction is cancelled we read the request and
the payment to say why: a repeated key replays, a payment already where the call wanted it
answers as done (a voided payment voided again, a captured one captured again), anything else
is the matching port error. `confirm` first reads the payment for its amount and currency (they
never change after `create`); the transaction still decides.

`TEST_TOKENS` is the one table of test tokens: `FakePaymentProvider` answers them the same way.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.transactions import TransactWrite

from ...core.observability import logger
from .models import LocalPayment, LocalPaymentRequest, LocalRefund
from .port import (AUTHORIZED, CAPTURED, CREATED, REFUND_SUCCEEDED, VOIDED, AmountExceeded,
                   Authorization, AuthorizationGone, Capture, CaptureFailed, Declined,
                   IdempotencyKeyReused, InvalidPaymentMethod, InvalidPaymentState, PaymentState,
                   ProviderUnavailable, Refund, UnknownPayment)

M = TypeVar("M", LocalPayment, LocalRefund)


@dataclass(frozen=True)
class TokenBehaviour:
    """What confirming with one test token does."""
    decline: str | None = None  # Stripe's decline code, or None: the authorization succeeds
    capture_fails: bool = False  # authorizes, then the capture is refused


_GOOD = TokenBehaviour()

# API.md "Holds and bookings": Stripe's test tokens, as the local stage answers them.
TEST_TOKENS: dict[str, TokenBehaviour] = {
    **{token: _GOOD for token in (
        "tok_visa", "tok_visa_debit", "tok_mastercard", "tok_mastercard_debit",
        "tok_mastercard_prepaid", "tok_amex", "tok_discover", "tok_diners", "tok_jcb",
        "tok_unionpay")},
    "tok_chargeDeclined": TokenBehaviour(decline="generic_decline"),
    "tok_chargeDeclinedInsufficientFunds": TokenBehaviour(decline="insufficient_funds"),
    "tok_chargeDeclinedExpiredCard": TokenBehaviour(decline="expired_card"),
    "tok_chargeDeclinedIncorrectCvc": TokenBehaviour(decline="incorrect_cvc"),
    "tok_chargeDeclinedFraudulent": TokenBehaviour(decline="fraudulent"),
    # Ours, not Stripe's (API.md): the way to exercise a capture that fails.
    "tok_captureFails": TokenBehaviour(capture_fails=True),
}
_DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    # Stripe does not tell the payer a card was flagged as fraudulent.
    "fraudulent": "Your card was declined.",
}
CAPTURE_FAILURE_REASON = "card_declined"
_ATTEMPTS = 4  # transaction conflicts and races with a concurrent transition, then give up


def declined(reason: str) -> Declined:
    """The decline a test token answers, with Stripe's message for its decline code."""
    return Declined(reason, _DECLINE_MESSAGES.get(reason, "Your card was declined."))


def capture_failed() -> CaptureFailed:
    """What capturing a tok_captureFails authorization raises."""
    return CaptureFailed(CAPTURE_FAILURE_REASON, "The card issuer refused the capture.")


def check_capturable(payment_id: str, status: str, *, capture_fails: bool, amount: int, authorized: int) -> None:
    """Raises why a payment that is not captured yet refuses a capture of `amount`."""
    if status == VOIDED:
        raise AuthorizationGone(f"Payment {payment_id} was voided; nothing can be captured.")
    if status != AUTHORIZED:
        raise InvalidPaymentState(f"A {status} payment cannot be captured.")
    if capture_fails:
        raise capture_failed()
    if amount > authorized:
        raise AmountExceeded(f"Cannot capture {amount}: {authorized} was authorized.")


class _Cancelled(Exception):
    """The transaction's conditions failed; the caller reads the items to learn which."""


class _AlreadyDone(Exception):
    """Raised by an `explain`: the payment is already where the call wanted it; answer this."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer


_COMMITTED = object()  # `_run`'s answer when this call did the work


class LocalProvider:
    name = "local"

    # -- the port --------------------------------------------------------------------------

    def accepts(self, payment_method: str) -> bool:
        return isinstance(payment_method, str) and payment_method in TEST_TOKENS

    def create(self, *, amount: int, currency: str, idempotency_key: str,
               metadata: dict[str, str]) -> str:
        check_amount(amount)
        currency = check_currency(currency)
        metadata = dict(metadata)
        payment_id, now = _new_id("pi_local"), _now()
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("create", idempotency_key), operation="create",
            fingerprint=_fingerprint(amount=amount, currency=currency, metadata=metadata),
            outcome="ok", payment_id=payment_id, amount=amount, currency=currency, created_at=now)
        payment = LocalPayment(LocalPayment.key(payment_id), payment_id=payment_id, status=CREATED,
                               currency=currency, amount=amount, metadata=metadata,
                               created_at=now, updated_at=now)

        def write(t: TransactWrite) -> None:
            t.save(payment, condition=LocalPayment.pk.does_not_exist())

        result = self._run(request, write, _no_explanation, replay=lambda previous: previous.payment_id)
        if result is _COMMITTED:
            logger.info("payment created", extra={"payment_id": payment_id, "amount": amount,
                                                  "currency": currency})
            return payment_id
        return result

    def confirm(self, payment_id: str, *, payment_method: str, idempotency_key: str) -> Authorization:
        token = TEST_TOKENS.get(payment_method) if isinstance(payment_method, str) else None
        if token is None:
            # Like Stripe, a request refused by validation is not recorded under its key.
            raise InvalidPaymentMethod("Unknown payment method: use a provider token such as tok_visa.")
        payment = _payment(payment_id)  # its amount and currency, fixed since create
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("confirm", idempotency_key), operation="confirm",
            fingerprint=_fingerprint(payment_id=payment_id, payment_method=payment_method),
            payment_id=payment_id, amount=int(payment.amount), currency=payment.currency,
            created_at=_now())
        if token.decline:
            # Recorded like a success, so a retry gets the same decline; the payment stays
            # created and may be confirmed again under another key (Stripe: requires_payment_method).
            request.outcome, request.decline_reason = "declined", token.decline
            actions = [LocalPayment.last_decline.set(token.decline)]
        else:
            request.outcome = "ok"
            actions = [LocalPayment.status.set(AUTHORIZED),
                       LocalPayment.capture_fails.set(token.capture_fails),
                       LocalPayment.last_decline.remove()]

        def write(t: TransactWrite) -> None:
            t.update(LocalPayment(LocalPayment.key(payment_id)),
                     actions=[*actions, LocalPayment.updated_at.set(_now())],
                     condition=LocalPayment.status == CREATED)

        def explain() -> None:
            now = _payment(payment_id)
            if now.status == VOIDED:
                raise AuthorizationGone(f"Payment {payment_id} was voided; it cannot be confirmed.")
            if now.status != CREATED:
                raise InvalidPaymentState(f"A {now.status} payment cannot be confirmed again.")

        result = self._run(request, write, explain, replay=_replay_confirmation)
        if result is not _COMMITTED:
            return result
        if token.decline:
            logger.info("payment declined", extra={"payment_id": payment_id, "reason": token.decline})
            raise declined(token.decline)
        logger.info("payment authorized", extra={"payment_id": payment_id, "amount": payment.amount})
        return Authorization(payment_id, int(payment.amount), payment.currency, AUTHORIZED)

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture:
        check_amount(amount)
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
            if payment.status == CAPTURED:
                # Captured before, under another key (or an answer that was lost): that capture.
                raise _AlreadyDone(Capture(payment_id, int(payment.captured_amount), payment.capture_id))
            check_capturable(payment_id, payment.status, capture_fails=bool(payment.capture_fails),
                             amount=amount, authorized=int(payment.amount))

        result = self._run(request, write, explain, replay=_replay_capture)
        if result is _COMMITTED:
            logger.info("payment captured", extra={"payment_id": payment_id, "amount": amount})
            return Capture(payment_id, amount, capture_id)
        return result

    def void(self, payment_id: str, *, idempotency_key: str) -> None:
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("void", idempotency_key), operation="void",
            fingerprint=_fingerprint(payment_id=payment_id), outcome="ok", payment_id=payment_id,
            created_at=_now())

        def write(t: TransactWrite) -> None:
            t.update(LocalPayment(LocalPayment.key(payment_id)),
                     actions=[LocalPayment.status.set(VOIDED), LocalPayment.updated_at.set(_now())],
                     condition=LocalPayment.status.is_in(CREATED, AUTHORIZED))

        def explain() -> None:
            payment = _payment(payment_id)
            if payment.status == VOIDED:
                # Already where the caller wants it (e.g. a retry under a new key): not an error.
                raise _AlreadyDone(None)
            if payment.status not in (CREATED, AUTHORIZED):
                raise InvalidPaymentState(f"A {payment.status} payment cannot be voided.")

        if self._run(request, write, explain, replay=lambda previous: None) is _COMMITTED:
            logger.info("payment voided", extra={"payment_id": payment_id})

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund:
        check_amount(amount)
        refund_id = _new_id("re_local")
        request = LocalPaymentRequest(
            LocalPaymentRequest.key("refund", idempotency_key), operation="refund",
            fingerprint=_fingerprint(payment_id=payment_id, amount=amount), outcome="ok",
            payment_id=payment_id, amount=amount, result_id=refund_id, created_at=_now())
        # Local refunds settle at once; the item is what `retrieve_refund` answers from.
        refund = LocalRefund(LocalRefund.key(refund_id), refund_id=refund_id, payment_id=payment_id,
                             amount=amount, status=REFUND_SUCCEEDED, created_at=_now())

        def write(t: TransactWrite) -> None:
            t.update(LocalPayment(LocalPayment.key(payment_id)), actions=[
                LocalPayment.refunded_amount.add(amount), LocalPayment.refundable.add(-amount),
                LocalPayment.updated_at.set(_now()),
            ], condition=(LocalPayment.status == CAPTURED) & (LocalPayment.refundable >= amount))
            t.save(refund, condition=LocalRefund.pk.does_not_exist())

        def explain() -> None:
            payment = _payment(payment_id)
            if payment.status != CAPTURED:
                raise InvalidPaymentState(f"A {payment.status} payment cannot be refunded.")
            if amount > payment.refundable:
                raise AmountExceeded(
                    f"Cannot refund {amount}: {payment.refundable} of {payment.captured_amount} is left.")

        result = self._run(request, write, explain, replay=_replay_refund)
        if result is _COMMITTED:
            logger.info("payment refunded", extra={"payment_id": payment_id, "amount": amount,
                                                   "refund_id": refund_id})
            return Refund(refund_id, payment_id, amount)
        return result

    def retrieve(self, payment_id: str) -> PaymentState:
        payment = _payment(payment_id)
        return PaymentState(payment_id, payment.status, int(payment.amount),
                            int(payment.captured_amount or 0), int(payment.refunded_amount or 0))

    def retrieve_refund(self, refund_id: str) -> Refund:
        refund = _refund(refund_id)
        return Refund(refund.refund_id, refund.payment_id, int(refund.amount), refund.status)

    # -- the one transaction shape every call uses -----------------------------------------

    def _run(self, request: LocalPaymentRequest, write: Callable[[TransactWrite], None],
             explain: Callable[[], None], *, replay: Callable[[LocalPaymentRequest], Any]) -> Any:
        """Commit the request record with the transition, or say why not.

        Returns `_COMMITTED` when this call did the work, else the answer it gives instead: the
        replay of the first request under this key, or what `explain` found already done
        (`_AlreadyDone`). `explain` raises the port error for a failed condition, or returns when
        the payment changed under us (a race), and we try again.
        """
        for _ in range(_ATTEMPTS):
            try:
                _commit(request, write)
                return _COMMITTED
            except _Cancelled:
                pass
            previous = _request(request.pk)
            if previous is not None:
                if previous.fingerprint != request.fingerprint:
                    raise IdempotencyKeyReused(
                        "This idempotency key was used before with different arguments.")
                return replay(previous)
            try:
                explain()
            except _AlreadyDone as done:
                return done.answer
        raise ProviderUnavailable("The payment is changing concurrently; retry with the same key.")


def _no_explanation() -> None:
    """Only the request record can fail its condition here (new ids are random); `_run` replays it."""


# -- replays: the first answer to a key, again ----------------------------------------------

def _replay_confirmation(previous: LocalPaymentRequest) -> Authorization:
    if previous.outcome == "declined":
        raise declined(previous.decline_reason or "generic_decline")
    # An authorization is answered from the payment as it is now: it may have been voided or
    # expired since, and a caller acting on the old answer would capture nothing.
    payment = _payment(previous.payment_id)
    if payment.status == VOIDED:
        raise AuthorizationGone(f"Payment {payment.payment_id} was voided since it was authorized.")
    return Authorization(payment.payment_id, int(payment.amount), payment.currency, payment.status)


def _replay_capture(previous: LocalPaymentRequest) -> Capture:
    return Capture(previous.payment_id, int(previous.amount), previous.result_id)


def _replay_refund(previous: LocalPaymentRequest) -> Refund:
    return Refund(previous.result_id, previous.payment_id, int(previous.amount))


# -- storage ---------------------------------------------------------------------------------

def _transactions() -> Connection:
    """The connection TransactWrite needs: the models' own (one client for all, core.aws)."""
    return LocalPayment._get_connection().connection


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
    return _stored(LocalPayment, LocalPayment.key(payment_id), f"No payment {payment_id}.")


def _refund(refund_id: str) -> LocalRefund:
    return _stored(LocalRefund, LocalRefund.key(refund_id), f"No refund {refund_id}.")


def _stored(model: type[M], pk: str, missing: str) -> M:
    """An item as stored now; a missing one is the port's UnknownPayment."""
    try:
        return model.get(pk, consistent_read=True)
    except DoesNotExist:
        raise UnknownPayment(missing) from None
    except PynamoDBException as exc:
        raise ProviderUnavailable("The local payment store failed.") from exc


# -- small helpers (the amount and currency checks are shared with the fake) -----------------

def _fingerprint(**arguments: Any) -> str:
    # A hash, so the record never holds the payment method itself.
    return hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()


def check_amount(amount: int) -> None:
    """A positive integer in minor units, or ValueError (a caller's bug, never a port error)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError("amount must be a positive integer in minor units")


def check_currency(currency: str) -> str:
    """The ISO-4217 code, upper case, or ValueError."""
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        raise ValueError("currency must be an ISO-4217 code")
    return currency.upper()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _now() -> int:
    return int(time.time())
