"""StripeProvider: the payments port on Stripe PaymentIntents with manual capture.

create = create a PaymentIntent with `capture_method=manual`, cards only, not confirmed (it moves
no money; status `requires_payment_method`); confirm = confirm it with the payment method (funds
held, status `requires_capture`); capture = capture it with `amount_to_capture`; void = cancel it
by id; refund = create a Refund for the PaymentIntent; retrieve = read it (with its latest
charge, for the refunded amount); retrieve_refund = read a Refund by id. Our idempotency keys
become Stripe's `Idempotency-Key` headers (scoped per operation), so Stripe replays the first
answer of a retry and refuses a key reused with other parameters.

A replayed confirm (`Idempotent-Replayed: true`) is Stripe's first answer, possibly days old:
we read the PaymentIntent and answer from what it is now, so an authorization cancelled or
expired since is `AuthorizationGone`, never a stale success.

`stripe` is imported when the adapter is built, not when the app starts: the local stage and
most Lambda invocations never need it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from ...core.observability import logger
from ...core.secrets import secret_value
from .port import (AUTHORIZED, CAPTURED, CREATED, REFUND_CANCELED, REFUND_FAILED, REFUND_PENDING,
                   REFUND_SUCCEEDED, VOIDED, AmountExceeded, Authorization, AuthorizationGone,
                   Capture, CaptureFailed, Declined, IdempotencyKeyReused, InvalidPaymentMethod,
                   InvalidPaymentState, PaymentError, PaymentState, ProviderBusy,
                   ProviderUnavailable, Refund, UnknownPayment, scoped_key)

API_KEY_VARIABLE = "ITINERA_STRIPE_API_KEY"  # the key itself: the local stack and tests
API_KEY_SECRET_ID_VARIABLE = "ITINERA_STRIPE_API_KEY_SECRET_ID"  # deployed stages (core.secrets)

# A PaymentIntent's status in the port's words (PaymentState.status).
STATUS_OF_INTENT = {
    "requires_payment_method": CREATED,  # new, or its last confirm was declined
    "requires_confirmation": CREATED,
    "requires_action": CREATED,  # e.g. 3-D Secure, which this API cannot complete
    "processing": CREATED,  # not yet authorized
    "requires_capture": AUTHORIZED,
    "succeeded": CAPTURED,
    "canceled": VOIDED,  # by us, by Stripe after the authorization expired, or too many confirms
}
# A Refund's status in the port's words (Refund.status).
STATUS_OF_REFUND = {
    "pending": REFUND_PENDING,
    # The customer must act (some non-card methods); like pending, it is not settled yet.
    "requires_action": REFUND_PENDING,
    "succeeded": REFUND_SUCCEEDED,
    "failed": REFUND_FAILED,
    "canceled": REFUND_CANCELED,
}
_PAYMENT_METHOD_PREFIXES = ("pm_", "tok_")
# A confirm that leaves the PaymentIntent here did not authorize it (a decline, or 3-D Secure).
_NOT_AUTHORIZED = ("requires_payment_method", "requires_confirmation", "requires_action")


def current_api_key() -> str:
    """The Stripe API key now (Secrets Manager's value is cached by core.secrets)."""
    api_key = secret_value(API_KEY_VARIABLE, API_KEY_SECRET_ID_VARIABLE)
    if not api_key:
        raise RuntimeError(f"Neither {API_KEY_SECRET_ID_VARIABLE} nor {API_KEY_VARIABLE} is set: "
                           "the stripe payment provider needs the API key")
    return api_key


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, *, http_client: Any = None, max_network_retries: int = 2,
                 api_base: str | None = None) -> None:
        import stripe  # deferred: see the module docstring

        self._stripe = stripe
        # Retries are safe: every POST carries our idempotency key, so Stripe replays, not repeats.
        # The library also retries a 409 (the same key still running) before we see ProviderBusy.
        self._client = stripe.StripeClient(
            api_key, http_client=http_client, max_network_retries=max_network_retries,
            base_addresses={"api": api_base} if api_base else None)

    @classmethod
    def from_env(cls) -> "StripeProvider":
        """Built with the key from Secrets Manager (`ITINERA_STRIPE_API_KEY_SECRET_ID`, deployed stages)
        or from `ITINERA_STRIPE_API_KEY` (local): see core.secrets. payments.provider() builds
        it again when the key changes (`current_api_key`)."""
        return cls(current_api_key())

    # -- the port --------------------------------------------------------------------------

    def accepts(self, payment_method: str) -> bool:
        """A PaymentMethod (pm_..., from Stripe.js) or a card token (tok_...); Stripe judges the rest."""
        return (isinstance(payment_method, str) and payment_method.startswith(_PAYMENT_METHOD_PREFIXES)
                and payment_method not in _PAYMENT_METHOD_PREFIXES)

    def create(self, *, amount: int, currency: str, idempotency_key: str,
               metadata: dict[str, str]) -> str:
        params: dict[str, Any] = {
            "amount": amount, "currency": currency.lower(), "capture_method": "manual",
            # Cards only, confirmed on the server: no redirect-based methods, so no return_url.
            "payment_method_types": ["card"], "metadata": dict(metadata),
        }
        with self._errors("create"):
            intent = self._client.v1.payment_intents.create(
                params=params, options={"idempotency_key": scoped_key("create", idempotency_key)})
        logger.info("payment created", extra={"payment_id": intent.id, "amount": intent.amount})
        return intent.id

    def confirm(self, payment_id: str, *, payment_method: str, idempotency_key: str) -> Authorization:
        params = _payment_method_params(payment_method)
        with self._errors("confirm"):
            intent = self._client.v1.payment_intents.confirm(
                payment_id, params=params,
                options={"idempotency_key": scoped_key("confirm", idempotency_key)})
        if _replayed(intent) and intent.status not in _NOT_AUTHORIZED:
            # Stripe's first answer again, maybe days old: the authorization may have been
            # cancelled or expired since. (A first answer that was a decline stays a decline.)
            intent = self._fetch(payment_id)
        return _authorization(intent)

    def capture(self, payment_id: str, *, amount: int, idempotency_key: str) -> Capture:
        try:
            with self._errors("capture"):
                intent = self._client.v1.payment_intents.capture(
                    payment_id, params={"amount_to_capture": amount},
                    options={"idempotency_key": scoped_key("capture", idempotency_key)})
        except InvalidPaymentState as refused:
            if _refused_intent_status(refused) != "succeeded":
                raise
            # Captured before (another key, or an answer that was lost): that capture.
            intent = self._fetch(payment_id)
        logger.info("payment captured", extra={"payment_id": intent.id, "amount": intent.amount_received})
        return Capture(intent.id, intent.amount_received, _charge_id(intent))

    def void(self, payment_id: str, *, idempotency_key: str) -> None:
        try:
            with self._errors("void"):
                self._client.v1.payment_intents.cancel(
                    payment_id, options={"idempotency_key": scoped_key("void", idempotency_key)})
        except InvalidPaymentState as refused:
            # Cancelling a cancelled PaymentIntent is an error at Stripe; for us it is done.
            if _refused_intent_status(refused) != "canceled":
                raise
        logger.info("payment voided", extra={"payment_id": payment_id})

    def refund(self, payment_id: str, *, amount: int, idempotency_key: str) -> Refund:
        with self._errors("refund"):
            refund = self._client.v1.refunds.create(
                params={"payment_intent": payment_id, "amount": amount},
                options={"idempotency_key": scoped_key("refund", idempotency_key)})
        logger.info("payment refunded", extra={"payment_id": payment_id, "amount": refund.amount,
                                               "refund_id": refund.id, "status": refund.status})
        return Refund(refund.id, payment_id, refund.amount, _refund_status(refund))

    def retrieve(self, payment_id: str) -> PaymentState:
        intent = self._fetch(payment_id)
        status = _status(intent)
        if status != CAPTURED:
            return PaymentState(intent.id, status, intent.amount)
        charge = intent.latest_charge
        refunded = 0 if isinstance(charge, str) or charge is None else (charge.amount_refunded or 0)
        return PaymentState(intent.id, status, intent.amount, intent.amount_received, refunded)

    def retrieve_refund(self, refund_id: str) -> Refund:
        with self._errors("retrieve_refund"):
            refund = self._client.v1.refunds.retrieve(refund_id)
        return Refund(refund.id, _object_id(refund.payment_intent), refund.amount, _refund_status(refund))

    # -- Stripe ----------------------------------------------------------------------------

    def _fetch(self, payment_id: str) -> Any:
        """The PaymentIntent as it is now, its latest charge expanded (refunds live there)."""
        with self._errors("retrieve"):
            return self._client.v1.payment_intents.retrieve(payment_id,
                                                           params={"expand": ["latest_charge"]})

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        """Stripe's exceptions, in the port's words (see `_translate`)."""
        try:
            yield
        except self._stripe.StripeError as exc:
            raise _translate(self._stripe, operation, exc) from exc


def _authorization(intent: Any) -> Authorization:
    """A confirmed PaymentIntent's answer, from its status."""
    status = intent.status
    if status == "requires_capture":
        logger.info("payment authorized", extra={"payment_id": intent.id, "amount": intent.amount})
        return Authorization(intent.id, intent.amount, intent.currency.upper(), AUTHORIZED)
    if status == "succeeded":
        # Only a replay sees this (we never confirm with automatic capture): authorized, then captured.
        return Authorization(intent.id, intent.amount, intent.currency.upper(), CAPTURED)
    if status == "canceled":
        # Cancelled by us or by Stripe (expired, or the confirmation limit was reached).
        raise AuthorizationGone(f"Payment {intent.id} was cancelled; it cannot be authorized.")
    if status in _NOT_AUTHORIZED:
        # e.g. requires_action (3-D Secure): this API has no step for the traveler to complete it.
        error = _last_payment_error(intent)
        if error:
            reason = error.get("decline_code") or error.get("code") or "card_declined"
            message = error.get("message") or "The card was declined."
        else:
            reason = "authentication_required" if status == "requires_action" else "card_declined"
            message = "The card needs a step this checkout cannot take; try another card."
        logger.info("stripe authorization not completed",
                    extra={"payment_id": intent.id, "status": status, "reason": reason})
        raise Declined(reason, message)
    # processing: Stripe has not decided yet; the same key later replays, and we read again.
    raise ProviderUnavailable(f"Payment {intent.id} is still {status}; retry with the same key.")


def _status(intent: Any) -> str:
    try:
        return STATUS_OF_INTENT[intent.status]
    except KeyError:
        raise PaymentError(f"Stripe reported an unknown PaymentIntent status {intent.status!r}.") from None


def _refund_status(refund: Any) -> str:
    if not refund.status:
        return REFUND_PENDING  # not settled as far as we can tell: never claim money went back
    try:
        return STATUS_OF_REFUND[refund.status]
    except KeyError:
        raise PaymentError(f"Stripe reported an unknown Refund status {refund.status!r}.") from None


def _object_id(value: Any) -> str:
    """The id of a field Stripe sends as an id, or as the object when it is expanded."""
    return (value if isinstance(value, str) else getattr(value, "id", "")) or ""


def _replayed(resource: Any) -> bool:
    """Whether Stripe answered from its idempotency cache (`Idempotent-Replayed: true`)."""
    response = getattr(resource, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    # requests gives a case-insensitive mapping; other HTTP clients lower-case the names.
    return any(name.lower() == "idempotent-replayed" and str(value).lower() == "true"
               for name, value in headers.items())


def _charge_id(intent: Any) -> str:
    charge = intent.latest_charge
    return (charge if isinstance(charge, str) else getattr(charge, "id", "")) or ""


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
    if code == "idempotency_key_in_use":
        # 409: a request with this key is running at Stripe now (stripe-python calls it an APIError).
        return ProviderBusy("A request with this idempotency key is in progress; retry shortly.")
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
    if code == "charge_expired_for_capture":
        # Stripe holds an uncaptured authorization for a limited time (7 days for most cards).
        return AuthorizationGone(message)
    if code == "payment_intent_unexpected_state":
        if operation in ("confirm", "capture") and _intent_status(exc) == "canceled":
            return AuthorizationGone(message)
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
    """The status of the PaymentIntent a Stripe error carries (e.g. payment_intent_unexpected_state)."""
    intent = _error_data(exc).get("payment_intent")
    return intent.get("status") if isinstance(intent, dict) else None


def _refused_intent_status(refused: PaymentError) -> str | None:
    return None if refused.__cause__ is None else _intent_status(refused.__cause__)


def _last_payment_error(intent: Any) -> Any:
    return intent.get("last_payment_error") if hasattr(intent, "get") else None
