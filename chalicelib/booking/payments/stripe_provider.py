"""StripeProvider: the payments port on Stripe PaymentIntents with manual capture.

authorize = create a PaymentIntent with `capture_method=manual` and `confirm=true` (funds held,
status `requires_capture`); capture = capture it with `amount_to_capture`; void = cancel it;
refund = create a Refund for the PaymentIntent. Our idempotency keys become Stripe's
`Idempotency-Key` headers (scoped per operation), so Stripe replays the first answer of a retry
and refuses a key reused with other parameters.

`stripe` is imported when the adapter is built, not when the app starts: the local stage and
most Lambda invocations never need it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

from ...core.observability import logger
from .port import (AUTHORIZED, AmountExceeded, Authorization, Capture, CaptureFailed, Declined,
                   IdempotencyKeyReused, InvalidPaymentMethod, InvalidPaymentState, PaymentError,
                   ProviderUnavailable, Refund, UnknownPayment, scoped_key)

API_KEY_VARIABLE = "ITINERA_STRIPE_API_KEY"


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, *, http_client: Any = None, max_network_retries: int = 2,
                 api_base: str | None = None) -> None:
        import stripe  # deferred: see the module docstring

        self._stripe = stripe
        # Retries are safe: every POST carries our idempotency key, so Stripe replays, not repeats.
        self._client = stripe.StripeClient(
            api_key, http_client=http_client, max_network_retries=max_network_retries,
            base_addresses={"api": api_base} if api_base else None)

    @classmethod
    def from_env(cls) -> "StripeProvider":
        api_key = os.environ.get(API_KEY_VARIABLE, "")
        if not api_key:
            raise RuntimeError(f"{API_KEY_VARIABLE} is not set: the stripe payment provider needs it")
        return cls(api_key)

    def authorize(self, *, amount: int, currency: str, payment_method: str, idempotency_key: str,
                  metadata: dict[str, str]) -> Authorization:
        params: dict[str, Any] = {
            "amount": amount, "currency": currency.lower(), "capture_method": "manual",
            "confirm": True,
            # Cards only, confirmed on the server: no redirect-based methods, so no return_url.
            "payment_method_types": ["card"], "metadata": dict(metadata),
        }
        params.update(_payment_method_params(payment_method))
        with self._errors("authorize"):
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": scoped_key("authorize", idempotency_key)})
        if intent.status != "requires_capture":
            # e.g. requires_action (3-D Secure): this API has no step for the traveler to complete it.
            reason = _last_decline(intent) or "authentication_required"
            logger.info("stripe authorization not completed",
                        extra={"payment_id": intent.id, "status": intent.status, "reason": reason})
            raise Declined(reason, "The card needs a step this checkout cannot take; try another card.")
        logger.info("payment authorized", extra={"payment_id": intent.id, "amount": intent.amount})
        return Authorization(intent.id, intent.amount, intent.currency.upper(), AUTHORIZED)

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture:
        with self._errors("capture"):
            intent = self._client.v1.payment_intents.capture(
                payment_id, params={"amount_to_capture": amount},
                options={"idempotency_key": scoped_key("capture", idempotency_key)})
        charge = intent.latest_charge
        charge_id = charge if isinstance(charge, str) else getattr(charge, "id", "")
        logger.info("payment captured", extra={"payment_id": intent.id, "amount": intent.amount_received})
        return Capture(intent.id, intent.amount_received, charge_id or "")

    def void(self, payment_id: str, *, idempotency_key: str) -> None:
        try:
            with self._errors("void"):
                self._client.v1.payment_intents.cancel(
                    payment_id, options={"idempotency_key": scoped_key("void", idempotency_key)})
        except InvalidPaymentState as exc:
            # Cancelling a cancelled PaymentIntent is an error at Stripe; for us it is done.
            if exc.__cause__ is None or _intent_status(exc.__cause__) != "canceled":
                raise
        logger.info("payment voided", extra={"payment_id": payment_id})

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund:
        with self._errors("refund"):
            refund = self._client.v1.refunds.create(
                params={"payment_intent": payment_id, "amount": amount},
                options={"idempotency_key": scoped_key("refund", idempotency_key)})
        logger.info("payment refunded", extra={"payment_id": payment_id, "amount": refund.amount,
                                               "refund_id": refund.id, "status": refund.status})
        return Refund(refund.id, payment_id, refund.amount, refund.status or "pending")

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Stripe's exceptions, in the port's words (see `_translate`)."""
        try:
            yield
        except self._stripe.StripeError as exc:
            raise _translate(self._stripe, operation, exc) from exc


def _payment_method_params(payment_method: str) -> dict[str, Any]:
    if payment_method.startswith("pm_"):
        return {"payment_method": payment_method}  # what Stripe.js / the Payment Element create
    if payment_method.startswith("tok_"):
        # A card token (Stripe's test tokens, legacy Elements): Stripe turns it into a PaymentMethod.
        return {"payment_method_data": {"type": "card", "card": {"token": payment_method}}}
    raise InvalidPaymentMethod("Unknown payment method: use a Stripe PaymentMethod (pm_...) or token (tok_...).")


def _translate(stripe: Any, operation: str, exc: Any) -> Exception:
    data = _error_data(exc)
    code, param = data.get("code") or "", data.get("param") or ""
    message = data.get("message") or str(exc)
    if isinstance(exc, (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError,
                        stripe.AuthenticationError, stripe.PermissionError)):
        # Our side (keys) or theirs (network, outage, throttling): retry later with the same key.
        logger.warning("stripe unavailable", extra={"operation": operation, "error": type(exc).__name__,
                                                    "request_id": exc.request_id})
        return ProviderUnavailable("The payment provider is unavailable; retry with the same key.")
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyKeyReused("This idempotency key was used before with different arguments.")
    if isinstance(exc, stripe.CardError):
        reason = data.get("decline_code") or code or "card_declined"
        if operation == "capture":
            return CaptureFailed(reason, message)
        return Declined(reason, message)
    if param.startswith("payment_method"):
        # An unknown, used or unusable token or PaymentMethod. Never echo it back.
        return InvalidPaymentMethod("The payment method was refused by the provider.")
    if code == "resource_missing":
        return UnknownPayment(message)
    if code == "payment_intent_unexpected_state":
        return InvalidPaymentState(message)
    too_much = code in ("amount_too_large", "charge_already_refunded") or param in ("amount", "amount_to_capture")
    if operation in ("capture", "refund") and too_much:
        return AmountExceeded(message)
    if operation == "capture":
        return CaptureFailed(code or "capture_failed", message)
    # Anything else is a request we should not have sent (a bug): surface it as it is.
    return PaymentError(f"Stripe refused the {operation} request: {message}")


def _error_data(exc: Any) -> dict[str, Any]:
    body = getattr(exc, "json_body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return {}


def _intent_status(exc: Any) -> str | None:
    intent = _error_data(exc).get("payment_intent")
    return intent.get("status") if isinstance(intent, dict) else None


def _last_decline(intent: Any) -> str | None:
    error = intent.get("last_payment_error") if hasattr(intent, "get") else None
    if not error:
        return None
    return error.get("decline_code") or error.get("code")
