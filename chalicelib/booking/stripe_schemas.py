"""Models of POST /webhooks/stripe (their own module: core.lazy builds them on first use)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..core.schemas import Output


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
