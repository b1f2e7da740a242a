"""The payments port: what the booking service asks of a payment provider, and nothing more.

Amounts are integers in minor units. Every call takes an idempotency key: the same key with the
same arguments returns the first result again (or raises the first decline again) and never
moves money twice; the same key with different arguments raises `IdempotencyKeyReused`.
Keys are scoped per operation, so a booking may use one key for authorize, capture and void.

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
    payment_id: str
    amount: int
    currency: str
    status: str = AUTHORIZED


@dataclass(frozen=True)
class Capture:
    payment_id: str
    amount: int
    capture_id: str


@dataclass(frozen=True)
class Refund:
    refund_id: str
    payment_id: str
    amount: int
    # Stripe refunds can be "pending" before they settle; the local provider's always succeed.
    status: str = "succeeded"


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


class ProviderUnavailable(PaymentError):
    """The provider could not be reached or failed on its side; safe to retry with the same key."""


@runtime_checkable
class PaymentProvider(Protocol):
    name: str

    def authorize(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str,
                  metadata: dict[str, str]) -> Authorization: ...

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture: ...

    def void(self, payment_id: str, *, idempotency_key: str) -> None: ...

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund: ...


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
