"""Vendor webhook routes (API.md "Vendors"). Parse, call, shape."""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .schemas import DeliveryPage, ReplayOut, WebhookOut

bp = Blueprint(__name__)
# Loaded by the first request that needs them: see core.lazy.
webhooks = lazy_module(__package__ + ".webhooks")
inventory = lazy_module("chalicelib.inventory.service")  # vendor_of: which vendor a token acts for
schemas = lazy_models(__package__ + ".schemas")
VENDORS = ("vendors",)
NO_WEBHOOK = ("NOT_FOUND",)


def _out(endpoint_: object, *, with_secret: bool = False) -> WebhookOut:
    return schemas.WebhookOut(**endpoint_.view(with_secret=with_secret))  # type: ignore[attr-defined]


@endpoint(bp, "PUT", "/vendor/webhook", roles=VENDORS, body=schemas.WebhookIn, response=schemas.WebhookOut,
          tag="vendor", summary="Set where the vendor's booking events are POSTed; returns the signing secret")
def put_webhook(call: Call) -> WebhookOut:
    return _out(webhooks.set_endpoint(inventory.vendor_of(call.user), call.body.url), with_secret=True)


@endpoint(bp, "GET", "/vendor/webhook", roles=VENDORS, response=schemas.WebhookOut, tag="vendor",
          errors=NO_WEBHOOK, summary="The vendor's webhook endpoint (never its secret)")
def get_webhook(call: Call) -> WebhookOut:
    return _out(webhooks.get_endpoint(inventory.vendor_of(call.user)))


@endpoint(bp, "DELETE", "/vendor/webhook", roles=VENDORS, status=204, tag="vendor", errors=NO_WEBHOOK,
          summary="Stop sending events (they are kept: replay sends them to a new endpoint)")
def delete_webhook(call: Call) -> Response:
    webhooks.remove_endpoint(inventory.vendor_of(call.user))
    return Response(body="", status_code=204)


@endpoint(bp, "POST", "/vendor/webhook/rotate", roles=VENDORS, body=schemas.RotateIn, response=schemas.WebhookOut,
          tag="vendor",
          errors=NO_WEBHOOK,
          summary="A new signing secret; the old one keeps signing beside it for 24 hours")
def rotate_webhook_secret(call: Call) -> WebhookOut:
    return _out(webhooks.rotate_secret(inventory.vendor_of(call.user)), with_secret=True)


@endpoint(bp, "GET", "/vendor/webhook/deliveries", roles=VENDORS, query=schemas.PageQuery,
          response=schemas.DeliveryPage, tag="vendor",
          summary="Recent events, newest first, with attempts, last status code and outcome")
def webhook_deliveries(call: Call) -> DeliveryPage:
    found, next_cursor = webhooks.deliveries(inventory.vendor_of(call.user), limit=call.query.limit,
                                             cursor=call.query.cursor)
    return schemas.DeliveryPage(deliveries=[schemas.DeliveryOut(
        event_id=d.event_id, type=d.type, booking_id=d.booking_id, sequence=d.sequence, created_at=d.created_at,
        outcome=d.outcome, attempts=d.attempts, last_status_code=d.last_status, last_error=d.last_error,
        last_attempt_at=d.last_attempt_at, delivered_at=d.delivered_at, replays=d.replays) for d in found],
        next_cursor=next_cursor)


@endpoint(bp, "POST", "/vendor/webhook/replay", roles=VENDORS, body=schemas.ReplayIn, response=schemas.ReplayOut,
          status=202, tag="vendor", errors=NO_WEBHOOK,
          summary="Send the events created since an instant again, with their ids and sequences")
def replay_webhook_events(call: Call) -> ReplayOut:
    request = webhooks.request_replay(inventory.vendor_of(call.user), call.body.since.timestamp())
    return schemas.ReplayOut(since=request.since, until=request.until)
