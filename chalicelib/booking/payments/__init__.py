"""Payments: the `PaymentProvider` port and its adapters (DESIGN.md "Payments").

    from chalicelib.booking.payments import provider, Declined
    payment_id = provider().create(amount=12900, currency="EUR", idempotency_key=attempt_key,
                                   metadata={...})
    authorization = provider().confirm(payment_id, payment_method="tok_visa",
                                       idempotency_key=attempt_key)

`provider()` picks the adapter from `settings().payment_provider`: "local" (the default, kept in
DynamoDB) or "stripe". Adapters are imported on first use, so Stripe's library stays out of
cold starts that never pay.
"""
from __future__ import annotations

import threading

from ...core.config import settings
from .port import (AUTHORIZED, CAPTURED, CREATED, VOIDED, AmountExceeded, Authorization,
                   AuthorizationGone, Capture, CaptureFailed, Declined, IdempotencyKeyReused,
                   InvalidPaymentMethod, InvalidPaymentState, PaymentError, PaymentProvider,
                   PaymentState, ProviderBusy, ProviderUnavailable, Refund, UnknownPayment,
                   looks_like_card_number)

__all__ = [
    "AUTHORIZED", "CAPTURED", "CREATED", "VOIDED", "AuthorizationGone", "PaymentState",
    "ProviderBusy", "use_provider",
    "AmountExceeded", "Authorization", "Capture", "CaptureFailed", "Declined",
    "IdempotencyKeyReused", "InvalidPaymentMethod", "InvalidPaymentState", "PaymentError",
    "PaymentProvider", "ProviderUnavailable", "Refund", "UnknownPayment",
    "looks_like_card_number", "provider", "reset_provider",
]

_providers: dict[str, PaymentProvider] = {}
# What each provider was built with that can change while the process lives (Stripe's API key,
# set or rotated in Secrets Manager); None: served by use_provider, never rebuilt.
_built_with: dict[str, str | None] = {}
_lock = threading.Lock()


def provider() -> PaymentProvider:
    """The configured provider, built once per process (Stripe's client keeps its connections)
    and again when its key changes: a key stored after the stack's placeholder, or rotated, is
    used within core.secrets' cache time, not only by new processes."""
    name = settings().payment_provider
    existing = _providers.get(name)
    if existing is not None and (_built_with.get(name) is None or _built_with[name] == _credential(name)):
        return existing
    with _lock:
        credential = _credential(name)
        if name not in _providers or (_built_with.get(name) is not None and _built_with[name] != credential):
            _providers[name] = _build(name)
            _built_with[name] = credential
        return _providers[name]


def _credential(name: str) -> str:
    if name != "stripe":
        return ""
    from .stripe_provider import current_api_key
    return current_api_key()


def _build(name: str) -> PaymentProvider:
    if name == "local":
        from .local import LocalProvider
        return LocalProvider()
    if name == "stripe":
        from .stripe_provider import StripeProvider
        return StripeProvider.from_env()
    raise RuntimeError(f"Unknown payment provider {name!r}: expected 'local' or 'stripe'")


def use_provider(instance: PaymentProvider) -> None:
    """Tests and the fault-injection run: serve `instance` as the configured provider."""
    with _lock:
        _providers[settings().payment_provider] = instance
        _built_with[settings().payment_provider] = None


def reset_provider() -> None:
    """Forget built providers (tests that change the configuration)."""
    with _lock:
        _providers.clear()
        _built_with.clear()
