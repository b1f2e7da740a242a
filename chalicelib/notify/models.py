"""Storage of vendor webhooks.

- `WebhookEndpoint`: one per vendor: where its events go and the secrets that sign them (the
  current one first; a rotated-out one keeps signing until its `expires_at`).
- `WebhookEvent`: the outbox and the delivery record in one item, keyed (stream, sequence)
  where the stream is one (vendor, booking) pair: written in the same transaction as the
  booking change it announces, so an event exists exactly when its change does. Events of a
  stream are delivered in sequence order. While an event waits for delivery it carries
  `pending` (a shard name) and `due_at`, and so appears in the sparse due index the relay
  schedule reads to recover a lost queue message; delivered, dead-lettered and skipped events
  leave that index.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)


class SigningSecretAttribute(MapAttribute[str, Any]):
    secret = UnicodeAttribute()  # whsec_<base64>
    created_at = NumberAttribute()
    expires_at = NumberAttribute(null=True)  # None: the current secret


class WebhookEndpoint(Model):
    class Meta:
        table_name = table_name("webhook-endpoints")
        billing_mode = "PAY_PER_REQUEST"

    vendor_id = UnicodeAttribute(hash_key=True)
    url = UnicodeAttribute()
    secrets = ListAttribute(of=SigningSecretAttribute)  # current first, at most MAX_SECRETS
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    version = NumberAttribute()  # guards every change: a rotation never overwrites another


# What a deliveries list shows: everything but the payload.
LISTED_ATTRIBUTES = ["event_id", "type", "booking_id", "created_at", "status", "attempts", "last_status",
                     "last_error", "last_attempt_at", "delivered_at", "replays"]


class VendorEventsIndex(GlobalSecondaryIndex["WebhookEvent"]):
    """A vendor's events by creation time: the deliveries list (newest first) and replay."""

    class Meta:
        index_name = "by-vendor"
        projection = IncludeProjection(LISTED_ATTRIBUTES)

    vendor_id = UnicodeAttribute(hash_key=True)
    listed = UnicodeAttribute(range_key=True)  # created stamp # event id: unique and in time order


class DueEventsIndex(GlobalSecondaryIndex["WebhookEvent"]):
    """Sparse: only events waiting for delivery, by when their next attempt is due, spread over
    a few shards so one busy vendor's backlog is not one hot partition."""

    class Meta:
        index_name = "by-due"
        projection = KeysOnlyProjection()

    pending = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class WebhookEvent(Model):
    class Meta:
        table_name = table_name("webhook-events")
        billing_mode = "PAY_PER_REQUEST"

    stream = UnicodeAttribute(hash_key=True)  # vendor_id#booking_id
    sequence = NumberAttribute(range_key=True)  # the booking's event number
    event_id = UnicodeAttribute()
    vendor_id = UnicodeAttribute()
    booking_id = UnicodeAttribute()
    type = UnicodeAttribute()
    created_at = UnicodeAttribute()  # ISO 8601 UTC, milliseconds
    listed = UnicodeAttribute()
    payload = UnicodeAttribute()  # the exact JSON body, signed and sent as is on every attempt
    status = UnicodeAttribute()  # PENDING | DELIVERED | DEAD | SKIPPED
    attempts = NumberAttribute(default=0)
    retry_from = NumberAttribute()  # epoch: the retry window counts from here (creation or replay)
    replays = NumberAttribute(default=0)
    last_status = NumberAttribute(null=True)  # the receiver's last HTTP status
    last_error = UnicodeAttribute(null=True)  # why the last attempt got no answer
    last_attempt_at = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # an attempt is in flight until then
    pending = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)
    expires_at = TTLAttribute()  # cleanup only: replay reaches back RETENTION_DAYS

    by_vendor = VendorEventsIndex()
    by_due = DueEventsIndex()


def all_models() -> list[type[Model]]:
    return [WebhookEndpoint, WebhookEvent]
