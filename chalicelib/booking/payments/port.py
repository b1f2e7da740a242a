"""The payments port: what the booking service asks of a payment provider, and nothing more.

Amounts are integers in minor units. Every call that changes something takes an idempotency key:
the same key with the same arguments returns the first result again (or raises the first decline
again) and never moves money twice, except that a repeated `confirm` that authorized answers from
the payment's state now (see `confirm`); the same key with different arguments raises
`IdempotencyKeyReused`. Keys are scoped per operation, so a payment attempt may use one key for
create, confirm, capture and void.

Errors the service maps to HTTP: `Declined` -> 402 PAYMENT_DECLINED, `InvalidPaymentMethod` ->
400, `AmountExceeded` on refund -> 409 REFUND_EXCEEDS_CAPTURED, `ProviderUnavailable` -> retry
(a worker) or 503 (a request). Messages never contain the payment method value.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

AUTHORIZED = "authorized"


@dataclass(frozen=True)
class Authorization:
    """`confirm`'s answer. `status` is "authorized", or "captured" when a repeated confirm finds
    the payment captured since."""
    payment_id: str
    amount: int
    currency: str
    status: str = AUTHORIZED


@dataclass(frozen=True)
class Capture:
    payment_id: str
    amount: int
    capture_id: str


# A refund's status (Refund.status). pending: the provider has not settled it yet (Stripe's
# requires_action too); it ends succeeded, or failed/canceled, and then the money stays with us.
REFUND_PENDING, REFUND_SUCCEEDED = "pending", "succeeded"
REFUND_FAILED, REFUND_CANCELED = "failed", "canceled"
REFUND_STATES = (REFUND_PENDING, REFUND_SUCCEEDED, REFUND_FAILED, REFUND_CANCELED)


@dataclass(frozen=True)
class Refund:
    """`refund`'s and `retrieve_refund`'s answer. `status` is one of REFUND_STATES: "pending",
    "succeeded", "failed" or "canceled". Stripe refunds can be pending before they settle; the
    local provider's always succeed."""
    refund_id: str
    payment_id: str
    amount: int
    status: str = REFUND_SUCCEEDED


class PaymentError(Exception):
    """Base of every error the port raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Declined(PaymentError):
    """The issuer refused the authorization; `reason` is Stripe's decline code."""

    def __init__(self, reason: str, message: str = "The card was declined.") -> None:
        super().__init__(message)
        self.reason = reason


class CaptureFailed(PaymentError):
    """The authorization exists but capturing it failed; the service voids and fails the booking."""

    def __init__(self, reason: str, message: str = "The payment could not be captured.") -> None:
        super().__init__(message)
        self.reason = reason


class InvalidPaymentMethod(PaymentError):
    """Not a payment method this provider knows. Never echoes the value (it may be card data)."""


class InvalidPaymentState(PaymentError):
    """The payment is not in a state that allows this operation (e.g. capture after void)."""


class UnknownPayment(PaymentError):
    """No payment with this id."""


class AmountExceeded(PaymentError):
    """Capture above the authorized amount, or refunds above the captured amount."""


class IdempotencyKeyReused(PaymentError):
    """The same idempotency key was used before with different arguments."""


class AuthorizationGone(PaymentError):
    """The payment was voided, cancelled or its authorization expired: it can no longer be
    authorized or captured. A booking that relied on it fails."""


class ProviderBusy(PaymentError):
    """A request with the same idempotency key is running at the provider right now."""


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or failed on its side; safe to retry with the same key."""


@dataclass(frozen=True)
class PaymentState:
    """The provider's real state of one payment, read by id (`retrieve`), for settling bookings
    whose worker never finished and for answering replays from what is true now."""
    payment_id: str
    status: str  # one of PAYMENT_STATES
    amount: int  # what the payment is for (authorized once status is authorized or later)
    captured_amount: int = 0
    refunded_amount: int = 0


# created: exists, never authorized (or its authorization was declined: it can be confirmed again)
# authorized: funds held, capturable; captured: money taken (refunds may follow);
# voided: cancelled by us, or the authorization expired; nothing can be captured any more.
CREATED, CAPTURED, VOIDED = "created", "captured", "voided"
PAYMENT_STATES = (CREATED, AUTHORIZED, CAPTURED, VOIDED)


@runtime_checkable
class PaymentProvider(Protocol):
    """Payments are created, then confirmed (authorized), then captured or voided.

    `create` never moves money and is idempotent on its key: calling it again with the key of an
    earlier attempt returns that attempt's payment id (this is how cleanup finds an
    authorization whose process died before recording it). `void` works by id and can never
    authorize anything.
    """
    name: str

    def accepts(self, payment_method: str) -> bool:
        """Whether this provider can take the method at all (checked before anything is written)."""
        ...

    def create(self, *, amount: int, currency: str, idempotency_key: str, metadata: dict[str, str]) -> str:
        """A payment for `amount`, not yet authorized; returns its id. Raises ProviderBusy,
        ProviderUnavailable, IdempotencyKeyReused."""
        ...

    def confirm(self, payment_id: str, *, payment_method: str, idempotency_key: str) -> Authorization:
        """Authorize the payment with the method. A declined payment stays created and may be
        confirmed again under another key. A replay of a decline raises it again; a replay of an
        authorization answers from the payment's state now (captured since: status "captured").
        Raises Declined, InvalidPaymentMethod, AuthorizationGone (voided/expired meanwhile),
        InvalidPaymentState (already authorized or captured under another key), UnknownPayment,
        ProviderBusy (the same key is running right now), ProviderUnavailable,
        IdempotencyKeyReused."""
        ...

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture:
        """Take the money. Capturing an already captured payment (under any key) returns that
        capture. Raises CaptureFailed, AuthorizationGone (voided or expired), AmountExceeded,
        InvalidPaymentState (never authorized), UnknownPayment, ProviderBusy, ProviderUnavailable,
        IdempotencyKeyReused."""
        ...

    def void(self, payment_id: str, *, idempotency_key: str) -> None:
        """Cancel a created or authorized payment by id; voiding a voided one is a no-op.
        Raises InvalidPaymentState for a captured payment, UnknownPayment, ProviderBusy,
        ProviderUnavailable, IdempotencyKeyReused."""
        ...

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund:
        """Give back part or all of a captured payment. Raises AmountExceeded (more than is left),
        InvalidPaymentState (not captured), UnknownPayment, ProviderBusy, ProviderUnavailable,
        IdempotencyKeyReused."""
        ...

    def retrieve(self, payment_id: str) -> PaymentState:
        """The payment as the provider knows it now. Raises UnknownPayment, ProviderUnavailable."""
        ...

    def retrieve_refund(self, refund_id: str) -> Refund:
        """A refund as the provider knows it now (a pending refund settles later: succeeded, or
        failed/canceled and the money stays with us). Raises UnknownPayment (no such refund),
        ProviderUnavailable."""
        ...


# Stripe limits idempotency keys to 255 characters; ours may already be that long.
_MAX_KEY = 255


def scoped_key(operation: str, key: str) -> str:
    """The provider-side key of one operation: callers may reuse a key across operations."""
    if not key:
        raise ValueError("an idempotency key is required")
    scoped = f"itinera-{operation}-{key}"
    if len(scoped) <= _MAX_KEY:
        return scoped
    return f"itinera-{operation}-sha256-{hashlib.sha256(key.encode()).hexdigest()}"


_CARD_SEPARATORS = re.compile(r"[ \-]")


def looks_like_card_number(value: str) -> bool:
    """True for 13-19 digits (spaces and dashes allowed) that pass the Luhn check.

    The service refuses such a `payment_method` (400 RAW_CARD_NUMBER) before it reaches a
    provider, a log line or a table.
    """
    digits = _CARD_SEPARATORS.sub("", value.strip())
    if not (13 <= len(digits) <= 19) or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
