"""Stripe webhooks: verify the signature, drop redeliveries, record the event.

What "processing" means: a verified event is recorded once (its id, type and the object it is
about) in `stripe_events` and logged. A refund's later word (`refund.updated`,
`charge.refund.updated`) settles or reverses the refund it is about (booking.refunds) before
it is recorded, so a failure there is retried by Stripe. The booking flow learns about
payments from its own provider calls: `payment_intent.*` events are only recorded.

Stripe delivers at least once and retries any non-2xx answer for days, so a duplicate is
acknowledged with 200 without being processed again, and a bad signature is a 400 (Stripe's
documented answer), never a 5xx.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pynamodb.exceptions import PutError

from ...core import clock
from ...core.observability import logger
from ...core.secrets import secret_value
from .models import StripeEvent

SECRET_VARIABLE = "ITINERA_STRIPE_WEBHOOK_SECRET"  # the secret itself: the local stack and tests
SECRET_ID_VARIABLE = "ITINERA_STRIPE_WEBHOOK_SECRET_ID"  # deployed stages (core.secrets)
TOLERANCE_SECONDS = 300  # Stripe's default: a signed payload older than this is a replay
RETENTION_SECONDS = 30 * 24 * 3600


class InvalidSignature(Exception):
    """Missing, malformed, stale or wrong `Stripe-Signature`: answer 400."""


class InvalidEvent(Exception):
    """A correctly signed body that is not a Stripe event we can read: answer 400."""


class WebhookNotConfigured(Exception):
    """No signing secret: our configuration, not the sender's fault (Stripe will retry)."""


@dataclass(frozen=True)
class Receipt:
    event_id: str
    type: str
    duplicate: bool


def webhook_secret() -> str:
    """From Secrets Manager (`ITINERA_STRIPE_WEBHOOK_SECRET_ID`, deployed stages) or from
    `ITINERA_STRIPE_WEBHOOK_SECRET` (local), read per event: core.secrets caches it, so a
    rolled signing secret is picked up without a redeploy."""
    secret = secret_value(SECRET_VARIABLE, SECRET_ID_VARIABLE)
    if not secret:
        raise WebhookNotConfigured(f"Neither {SECRET_ID_VARIABLE} nor {SECRET_VARIABLE} is set")
    return secret


def verify(payload: bytes | str, signature: str | None, secret: str,
           tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """The event, parsed, if `signature` is Stripe's for exactly these bytes, recently."""
    import stripe  # deferred: only this route needs it

    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise InvalidSignature(str(exc).split(". ")[0].rstrip(".") + ".") from None
    except UnicodeDecodeError:
        raise InvalidSignature("The payload is not UTF-8.") from None
    try:
        event = json.loads(payload)
    except ValueError:
        raise InvalidEvent("The body is not JSON.") from None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"]
            and isinstance(event.get("type"), str) and event["type"]):
        raise InvalidEvent("The body is not a Stripe event (id and type are required).")
    return event


def record(event: dict[str, Any], *, now: float | None = None) -> Receipt:
    """Store the event once; a redelivery (same id) is reported as a duplicate and changes nothing."""
    now = clock.now() if now is None else now
    data = event.get("data")
    subject = data.get("object") if isinstance(data, dict) else None
    item = StripeEvent(
        event["id"], type=event["type"], livemode=bool(event.get("livemode", False)),
        object_id=subject.get("id") if isinstance(subject, dict) else None,
        created=int(event.get("created") or now), received_at=int(now),
        expires_at=datetime.fromtimestamp(int(now) + RETENTION_SECONDS, tz=timezone.utc))
    # Applied before it is recorded: if applying fails, the event is not recorded and Stripe's
    # redelivery applies it (applying twice changes nothing: each outcome is conditional).
    if not _seen(item.event_id):
        _dispatch(item.type, subject if isinstance(subject, dict) else {})
    try:
        item.save(condition=StripeEvent.event_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            logger.info("stripe event redelivered", extra={"event_id": item.event_id, "type": item.type})
            return Receipt(item.event_id, item.type, duplicate=True)
        raise
    logger.info("stripe event received", extra={"event_id": item.event_id, "type": item.type,
                                                "object_id": item.object_id})
    return Receipt(item.event_id, item.type, duplicate=False)


# A refund's later word: Stripe sends refund.updated (and, for refunds of charges,
# charge.refund.updated) when a pending refund succeeds or fails.
REFUND_EVENTS = ("refund.updated", "charge.refund.updated")


def _seen(event_id: str) -> bool:
    try:
        StripeEvent.get(event_id, consistent_read=True)
        return True
    except StripeEvent.DoesNotExist:
        return False


def _dispatch(event_type: str, subject: dict[str, Any]) -> None:
    if event_type in REFUND_EVENTS and isinstance(subject.get("id"), str) and isinstance(subject.get("status"), str):
        from ..refunds import settle_pending  # deferred: only refund events need the booking service
        outcome = settle_pending(subject["id"], subject["status"])
        logger.info("refund event applied", extra={"refund_id": subject["id"], "outcome": outcome})


def receive(payload: bytes | str, signature: str | None) -> Receipt:
    """Verify with the configured secret, then record: the whole webhook, minus HTTP."""
    return record(verify(payload, signature, webhook_secret()))
