"""The outbox of vendor webhooks, for the booking context: the events a booking change writes
in its own transaction, and the queue message that starts their delivery.

An event is an item written in the booking change's own transaction (`outbox_operations`), so
no change is ever announced without having happened, nor happens without being announced. The
message sent after the commit (`dispatch`) only makes delivery prompt: if the process dies
before sending it, the relay schedule (notify.workers.relay_due_events) finds the event in the
due index and sends it.

Kept apart from notify.webhooks (the vendor's routes) so that a booking worker's cold start
loads only this: no pydantic, no HTTP client.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from ..core import queues
from ..core.observability import logger
from . import webhook_rules as rules
from .models import WebhookEvent

# A caller's transaction operation: (kind, label, operation(tx)), as booking.lifecycle takes them.
Operation = tuple[str, Any, Callable[[Any], None]]


def retention_end(now: float) -> datetime:
    return datetime.fromtimestamp(now + rules.RETENTION_DAYS * 86400, tz=timezone.utc)


def outbox_operations(*, booking_id: str, event_type: str, sequence: int, views: dict[str, dict[str, Any]],
                      now: float, extra: dict[str, Any] | None = None) -> tuple[list[Operation], list[str]]:
    """One event per vendor of the booking (`views`: vendor id -> the booking as that vendor
    sees it), to be put in the transaction that makes the change. Returns the operations and
    the streams to `dispatch` once it commits. The put is conditioned on the (stream, sequence)
    being new: a sequence number is taken once."""
    if event_type not in rules.EVENT_TYPES:
        raise ValueError(f"unknown webhook event {event_type!r}")
    created = rules.stamp(now)
    operations: list[Operation] = []
    streams = []
    for vendor_id, view in sorted(views.items()):
        stream = rules.stream_of(vendor_id, booking_id)
        event_id = rules.new_event_id()
        record = WebhookEvent(
            stream, sequence, event_id=event_id, vendor_id=vendor_id, booking_id=booking_id, type=event_type,
            created_at=created, listed=rules.listed_key(created, event_id),
            payload=rules.event_body(event_id=event_id, event_type=event_type, created_at=created,
                                     sequence=sequence, booking=view, extra=extra),
            status=rules.PENDING, attempts=0, retry_from=now, replays=0, pending=rules.due_shard(stream),
            due_at=now, expires_at=retention_end(now))
        operations.append(("put", ("webhook", vendor_id),
                           lambda tx, r=record: tx.save(r, condition=WebhookEvent.stream.does_not_exist())))
        streams.append(stream)
    return operations, streams


def dispatch(streams: list[str], *, delay_seconds: int = 0) -> None:
    """Asks the webhook worker to deliver what waits on these streams. Best effort: the events
    are stored, and the relay schedule sends this again if it is lost."""
    if not streams:
        return
    try:
        queues.send(queues.WEBHOOKS, {"type": "webhook", "streams": streams}, delay_seconds=delay_seconds)
    except Exception:  # the change is committed; failing its caller now would help nobody
        logger.exception("webhook delivery not started; the relay will start it", extra={"streams": streams})

