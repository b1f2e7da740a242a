"""Request and response shapes of the vendor webhook routes (API.md "Vendors")."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field

from ..core.schemas import Input, Output, Page, PageQuery  # noqa: F401 (PageQuery: the deliveries list's query)
from .destinations import MAX_URL_LENGTH


class WebhookIn(Input):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"format": "uri"},
                     description="https URL that receives the events (http and private addresses: local stage only)")


class RotateIn(Input):
    """No fields: an empty object or no body at all (unknown fields are refused)."""


class WebhookOut(Output):
    url: str
    secret: str | None = Field(default=None, description="whsec_<base64>: shown by PUT and rotate only")
    created_at: str
    updated_at: str
    previous_secret_expires_at: str | None = Field(
        default=None, description="Until then the secret before the last rotation signs too")


class DeliveryOut(Output):
    event_id: str
    type: str
    booking_id: str
    sequence: int
    created_at: str
    outcome: Literal["pending", "delivered", "dead_lettered", "no_endpoint"]
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: str | None = None
    delivered_at: str | None = None
    replays: int


class DeliveryPage(Page):
    deliveries: list[DeliveryOut]


def _text_instant(value: Any) -> Any:
    # pydantic alone would read 1700000000 as an instant too; the contract speaks ISO 8601.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 instant with its time zone, e.g. 2026-12-01T08:00:00Z")
    return value


class ReplayIn(Input):
    since: Annotated[AwareDatetime, BeforeValidator(_text_instant)] = Field(
        description="Events created from this instant on are sent again")


class ReplayOut(Output):
    since: str
    until: str
    status: Literal["accepted"] = "accepted"
