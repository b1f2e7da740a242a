"""POST /webhooks/stripe: Stripe's events for the production payment provider.

The signature covers the exact bytes Stripe sent, so the view verifies `request.raw_body`, never
a re-serialized body. The declared body model only documents the event in the OpenAPI document
and accepts any JSON object: what counts is the signature, checked first in the view.

A stage without a webhook signing secret takes no Stripe events at all: there the route is a
404 NOT_FOUND, like any path the service does not serve (a 5xx would claim a fault of ours).
"""
from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from ..core.api import PUBLIC, Call, endpoint
from ..core.errors import NotFound, ValidationError
from ..core.schemas import Output
from ..core.lazy import lazy_module

bp = Blueprint(__name__)
webhooks = lazy_module(__package__ + ".payments.webhooks")


class StripeEventPayload(BaseModel):
    """A Stripe event as Stripe posts it (https://docs.stripe.com/api/events/object)."""
    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, description="Event id (evt_...): redeliveries repeat it")
    object: str | None = Field(default=None, description='Always "event"')
    type: str | None = Field(default=None, description="e.g. payment_intent.succeeded")
    created: int | None = None
    livemode: bool | None = None
    data: dict[str, Any] | None = Field(default=None, description="`object`: the resource the event is about")


class StripeWebhookReceipt(Output):
    received: bool
    type: str
    duplicate: bool = Field(description="True when this event id was received before (not processed again)")


@endpoint(bp, "POST", "/webhooks/stripe", roles=PUBLIC, body=StripeEventPayload,
          response=StripeWebhookReceipt, tag="webhooks",
          summary="Receive a Stripe event (requires a valid Stripe-Signature header)",
          errors=("VALIDATION_ERROR", "NOT_FOUND"))
def stripe_webhook(call: Call) -> StripeWebhookReceipt:
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
    return StripeWebhookReceipt(received=True, type=receipt.type, duplicate=receipt.duplicate)
