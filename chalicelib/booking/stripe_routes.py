"""POST /webhooks/stripe: Stripe's events for the production payment provider.

The signature covers the exact bytes Stripe sent, so the view verifies `request.raw_body`, never
a re-serialized body. The declared body model only documents the event in the OpenAPI document
and accepts any JSON object: what counts is the signature, checked first in the view.

A stage without a webhook signing secret takes no Stripe events at all: there the route is a
404 NOT_FOUND, like any path the service does not serve (a 5xx would claim a fault of ours).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from ..core.api import PUBLIC, Call, endpoint
from ..core.errors import NotFound, ValidationError
from ..core.lazy import lazy_models

if TYPE_CHECKING:
    from .stripe_schemas import StripeWebhookReceipt

bp = Blueprint(__name__)
schemas = lazy_models(__package__ + ".stripe_schemas")  # built by the first request that uses them


@endpoint(bp, "POST", "/webhooks/stripe", roles=PUBLIC, body=schemas.StripeEventPayload,
          response=schemas.StripeWebhookReceipt, tag="webhooks",
          summary="Receive a Stripe event (requires a valid Stripe-Signature header)",
          errors=("VALIDATION_ERROR", "NOT_FOUND"))
def stripe_webhook(call: Call) -> StripeWebhookReceipt:
    # Here, not at import: a lazy_module would import the payments package (its port) to find
    # the module, on every cold start of every function.
    from .payments import webhooks

    try:
        receipt = webhooks.receive(call.request.raw_body or b"", call.headers.get("stripe-signature"))
    except webhooks.InvalidSignature as exc:
        raise ValidationError.for_fields(
            {"Stripe-Signature": str(exc)},
            "The Stripe-Signature header is missing or does not match the payload.") from None
    except webhooks.InvalidEvent as exc:
        raise ValidationError.for_fields({"body": str(exc)}) from None
    except webhooks.WebhookNotConfigured:
        raise NotFound("No route for POST /webhooks/stripe: this stage takes no Stripe events.") from None
    return schemas.StripeWebhookReceipt(received=True, type=receipt.type, duplicate=receipt.duplicate)
