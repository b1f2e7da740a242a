"""FakePaymentProvider: the payments port in memory, for service-layer unit tests and fault injection.

It answers exactly like `LocalProvider` (the same test tokens from `local.TEST_TOKENS`, the same
idempotency rules, the same state machine: created -> authorized -> captured, or voided before
capture), without DynamoDB, and lets a test reach into the provider's side:

    fake = FakePaymentProvider()
    use_provider(fake)                                # serve it as the configured provider
    fake.fail_next("capture", times=2)                # the next 2 captures raise ProviderUnavailable
    fake.fail_next("confirm", error=ProviderBusy)     # ... or another error
    fake.lose_next_answer("confirm")                  # authorize, then raise ProviderUnavailable
    fake.expire_authorization(payment_id)             # voided behind our back
    fake.hold_refunds_pending(times=2)                # the next 2 refunds answer "pending"
    fake.settle_refund(refund_id, "failed")           # ... until settled ("failed": money stays)
    fake.calls["capture"]                             # how many capture calls arrived
    fake.payments()                                   # every payment, to check invariants

Thread-safe: one lock around every call, so concurrent callers see the serial order of a real
provider with idempotency keys.
"""
from __future__ import annotations

import copy
import dataclasses
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

from .local import TEST_TOKENS, check_amount, check_capturable, check_currency, declined
from .port import (AUTHORIZED, CAPTURED, CREATED, REFUND_CANCELED, REFUND_FAILED, REFUND_PENDING,
                   REFUND_SUCCEEDED, VOIDED, AmountExceeded, Authorization, AuthorizationGone,
                   Capture, IdempotencyKeyReused, InvalidPaymentMethod, InvalidPaymentState,
                   PaymentError, PaymentState, ProviderUnavailable, Refund, UnknownPayment)

# The calls `fail_next` and `lose_next_answer` can target (`accepts` only answers a question).
OPERATIONS = ("create", "confirm", "capture", "void", "refund", "retrieve", "retrieve_refund")
# How a pending refund can end (`settle_refund`).
SETTLED_REFUND_STATES = (REFUND_SUCCEEDED, REFUND_FAILED, REFUND_CANCELED)

T = TypeVar("T")


@dataclass(frozen=True)
class RecordedPayment:
    """One payment as the fake provider holds it (a copy: changing it changes nothing)."""
    payment_id: str
    status: str
    amount: int
    currency: str
    metadata: dict[str, str]
    captured_amount: int = 0
    refunded_amount: int = 0
    capture_id: str | None = None
    refund_ids: tuple[str, ...] = ()

    @property
    def state(self) -> PaymentState:
        """What `retrieve` answers for it."""
        return PaymentState(self.payment_id, self.status, self.amount, self.captured_amount,
                            self.refunded_amount)


@dataclass
class _Payment:
    payment_id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    status: str = CREATED
    captured_amount: int = 0
    refunded_amount: int = 0
    capture_id: str | None = None
    capture_fails: bool = False
    last_decline: str | None = None
    refund_ids: list[str] = field(default_factory=list)

    def record(self) -> RecordedPayment:
        return RecordedPayment(self.payment_id, self.status, self.amount, self.currency,
                               dict(self.metadata), self.captured_amount, self.refunded_amount,
                               self.capture_id, tuple(self.refund_ids))


@dataclass(frozen=True)
class _Request:
    """The first answer to one (operation, idempotency key)."""
    fingerprint: tuple
    answer: Any = None
    decline: str | None = None


class FakePaymentProvider:
    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._payments: dict[str, _Payment] = {}
        self._refunds: dict[str, Refund] = {}  # each refund with its status now
        self._refunds_to_hold = 0  # how many of the next refunds answer pending
        self._requests: dict[tuple[str, str], _Request] = {}
        self._failures: dict[str, list[Callable[[], PaymentError]]] = {}
        self._lost_answers: Counter[str] = Counter()
        self._ids: Counter[str] = Counter()
        #: Calls per operation ("accepts", "create", "confirm", ...) that passed the argument
        #: checks (ValueError), injected faults and the provider's refusals included.
        self.calls: Counter[str] = Counter()

    # -- what a test controls and reads ----------------------------------------------------

    def fail_next(self, operation: str, times: int = 1, *,
                  error: PaymentError | type[PaymentError] = ProviderUnavailable) -> None:
        """The next `times` calls of `operation` raise `error` and do nothing (the provider
        never saw them). `error` is an instance, or a class taking a message (ProviderBusy...)."""
        _check_operation(operation)
        if isinstance(error, PaymentError):
            make = lambda: copy.copy(error)  # noqa: E731 (one fresh exception per raise)
        else:
            make = lambda: error(f"Injected fault: {operation} failed.")  # noqa: E731
        with self._lock:
            self._failures.setdefault(operation, []).extend([make] * times)

    def lose_next_answer(self, operation: str, times: int = 1) -> None:
        """The next `times` calls of `operation` take effect (a decline is recorded too), then
        raise ProviderUnavailable, as when the provider's answer never reaches us."""
        _check_operation(operation)
        with self._lock:
            self._lost_answers[operation] += times

    def recover(self) -> None:
        """Forget every fault still queued: the provider is healthy again."""
        with self._lock:
            self._failures.clear()
            self._lost_answers.clear()

    def expire_authorization(self, payment_id: str) -> None:
        """Void the payment behind our back, as Stripe does when an uncaptured authorization
        expires or when someone cancels it in the dashboard. A captured payment cannot expire."""
        with self._lock:
            payment = self._payment(payment_id)
            if payment.status == CAPTURED:
                raise InvalidPaymentState(f"Payment {payment_id} is captured; it cannot expire.")
            payment.status = VOIDED

    def hold_refunds_pending(self, times: int = 1) -> None:
        """The next `times` refunds answer status "pending", as a Stripe refund the card network
        has not settled yet; `settle_refund` decides how each ends. Refused refunds and replays
        do not count."""
        with self._lock:
            self._refunds_to_hold += times

    def settle_refund(self, refund_id: str, status: str) -> None:
        """Settle a pending refund as the provider would later: "succeeded", or "failed" /
        "canceled". A failed or canceled refund gave nothing back (at Stripe its money stays with
        the merchant), so the payment's refunded amount goes back down and can be refunded again."""
        if status not in SETTLED_REFUND_STATES:
            raise ValueError(f"A refund settles as one of {', '.join(SETTLED_REFUND_STATES)}, not {status!r}")
        with self._lock:
            refund = self._refund(refund_id)
            if refund.status != REFUND_PENDING:
                raise InvalidPaymentState(f"Refund {refund_id} is {refund.status}; only a pending one settles.")
            if status != REFUND_SUCCEEDED:
                self._payments[refund.payment_id].refunded_amount -= refund.amount
            self._refunds[refund_id] = dataclasses.replace(refund, status=status)

    def payments(self) -> list[RecordedPayment]:
        """Every payment, in the order they were created."""
        with self._lock:
            return [payment.record() for payment in self._payments.values()]

    def payment(self, payment_id: str) -> RecordedPayment:
        with self._lock:
            return self._payment(payment_id).record()

    # -- the port --------------------------------------------------------------------------

    def accepts(self, payment_method: str) -> bool:
        with self._lock:
            self.calls["accepts"] += 1
        return isinstance(payment_method, str) and payment_method in TEST_TOKENS

    def create(self, *, amount: int, currency: str, idempotency_key: str,
               metadata: dict[str, str]) -> str:
        check_amount(amount)
        currency = check_currency(currency)
        metadata = dict(metadata)

        def work() -> str:
            fingerprint = (amount, currency, tuple(sorted(metadata.items())))
            previous = self._previous("create", idempotency_key, fingerprint)
            if previous is not None:
                return previous.answer
            payment_id = self._new_id("pi_fake")
            self._payments[payment_id] = _Payment(payment_id, amount, currency, metadata)
            self._requests["create", idempotency_key] = _Request(fingerprint, payment_id)
            return payment_id

        return self._call("create", work)

    def confirm(self, payment_id: str, *, payment_method: str, idempotency_key: str) -> Authorization:
        def work() -> Authorization:
            token = TEST_TOKENS.get(payment_method) if isinstance(payment_method, str) else None
            if token is None:
                raise InvalidPaymentMethod("Unknown payment method: use a provider token such as tok_visa.")
            payment = self._payment(payment_id)
            fingerprint = (payment_id, payment_method)
            previous = self._previous("confirm", idempotency_key, fingerprint)
            if previous is not None:
                if previous.decline:
                    raise declined(previous.decline)
                # An authorization is answered from the payment as it is now.
                if payment.status == VOIDED:
                    raise AuthorizationGone(f"Payment {payment_id} was voided since it was authorized.")
                return Authorization(payment_id, payment.amount, payment.currency, payment.status)
            if payment.status == VOIDED:
                raise AuthorizationGone(f"Payment {payment_id} was voided; it cannot be confirmed.")
            if payment.status != CREATED:
                raise InvalidPaymentState(f"A {payment.status} payment cannot be confirmed again.")
            if token.decline:
                payment.last_decline = token.decline
                self._requests["confirm", idempotency_key] = _Request(fingerprint, decline=token.decline)
                raise declined(token.decline)
            payment.status, payment.capture_fails, payment.last_decline = AUTHORIZED, token.capture_fails, None
            self._requests["confirm", idempotency_key] = _Request(fingerprint)
            return Authorization(payment_id, payment.amount, payment.currency, AUTHORIZED)

        return self._call("confirm", work)

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture:
        check_amount(amount)

        def work() -> Capture:
            fingerprint = (payment_id, amount)
            previous = self._previous("capture", idempotency_key, fingerprint)
            if previous is not None:
                return previous.answer
            payment = self._payment(payment_id)
            if payment.status == CAPTURED:
                return Capture(payment_id, payment.captured_amount, payment.capture_id or "")
            check_capturable(payment_id, payment.status, capture_fails=payment.capture_fails, amount=amount,
                             authorized=payment.amount)
            payment.status, payment.captured_amount = CAPTURED, amount
            payment.capture_id = self._new_id("ch_fake")
            capture = Capture(payment_id, amount, payment.capture_id)
            self._requests["capture", idempotency_key] = _Request(fingerprint, capture)
            return capture

        return self._call("capture", work)

    def void(self, payment_id: str, *, idempotency_key: str) -> None:
        def work() -> None:
            fingerprint = (payment_id,)
            if self._previous("void", idempotency_key, fingerprint) is not None:
                return
            payment = self._payment(payment_id)
            if payment.status == VOIDED:
                return  # already where the caller wants it
            if payment.status not in (CREATED, AUTHORIZED):
                raise InvalidPaymentState(f"A {payment.status} payment cannot be voided.")
            payment.status = VOIDED
            self._requests["void", idempotency_key] = _Request(fingerprint)

        self._call("void", work)

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund:
        check_amount(amount)

        def work() -> Refund:
            fingerprint = (payment_id, amount)
            previous = self._previous("refund", idempotency_key, fingerprint)
            if previous is not None:
                return self._refunds[previous.answer.refund_id]  # as it is now: it may have settled
            payment = self._payment(payment_id)
            if payment.status != CAPTURED:
                raise InvalidPaymentState(f"A {payment.status} payment cannot be refunded.")
            left = payment.captured_amount - payment.refunded_amount
            if amount > left:
                raise AmountExceeded(f"Cannot refund {amount}: {left} of {payment.captured_amount} is left.")
            # A pending refund counts as refunded until it fails, as at Stripe.
            payment.refunded_amount += amount
            refund = Refund(self._new_id("re_fake"), payment_id, amount, self._next_refund_status())
            self._refunds[refund.refund_id] = refund
            payment.refund_ids.append(refund.refund_id)
            self._requests["refund", idempotency_key] = _Request(fingerprint, refund)
            return refund

        return self._call("refund", work)

    def retrieve(self, payment_id: str) -> PaymentState:
        return self._call("retrieve", lambda: self._payment(payment_id).record().state)

    def retrieve_refund(self, refund_id: str) -> Refund:
        return self._call("retrieve_refund", lambda: self._refund(refund_id))

    # -- inside ----------------------------------------------------------------------------

    def _call(self, operation: str, work: Callable[[], T]) -> T:
        with self._lock:
            self.calls[operation] += 1
            pending = self._failures.get(operation)
            if pending:
                raise pending.pop(0)()
            lose = self._lost_answers[operation] > 0
            if lose:
                self._lost_answers[operation] -= 1
            try:
                answer = work()
            except PaymentError as refused:
                if lose:
                    raise _lost(operation) from refused
                raise
            if lose:
                raise _lost(operation)
            return answer

    def _previous(self, operation: str, key: str, fingerprint: tuple) -> _Request | None:
        if not key:
            raise ValueError("an idempotency key is required")
        previous = self._requests.get((operation, key))
        if previous is not None and previous.fingerprint != fingerprint:
            raise IdempotencyKeyReused("This idempotency key was used before with different arguments.")
        return previous

    def _payment(self, payment_id: str) -> _Payment:
        try:
            return self._payments[payment_id]
        except KeyError:
            raise UnknownPayment(f"No payment {payment_id}.") from None

    def _refund(self, refund_id: str) -> Refund:
        try:
            return self._refunds[refund_id]
        except KeyError:
            raise UnknownPayment(f"No refund {refund_id}.") from None

    def _next_refund_status(self) -> str:
        if self._refunds_to_hold > 0:
            self._refunds_to_hold -= 1
            return REFUND_PENDING
        return REFUND_SUCCEEDED

    def _new_id(self, prefix: str) -> str:
        self._ids[prefix] += 1
        return f"{prefix}_{self._ids[prefix]:06d}"


def _lost(operation: str) -> ProviderUnavailable:
    return ProviderUnavailable(f"Injected fault: the {operation} answer was lost after it took effect.")


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        raise ValueError(f"Unknown operation {operation!r}: one of {', '.join(OPERATIONS)}")
