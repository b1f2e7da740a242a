"""The webhook worker's SQS handler and the relay schedule; app.py's entry points call these.

Messages on the webhook queue:
- `{"type": "webhook", "streams": [...]}`: deliver what waits on these streams (after a
  booking change, after a backoff, from the relay);
- `{"type": "webhook-replay", "vendor_id", "since", "until", "after"?}`: a vendor's replay;
- `{"type": "webhook-dead", "stream", "sequence", ...}`: a given-up event (the DLQ's messages),
  back from the DLQ by an operator's redrive: sent again.
"""
from __future__ import annotations

import json
from typing import Any

from ..core import sqs_batch
from ..core.sqs_batch import Record

# How late a waiting event must be before the relay starts its stream again. Longer than a
# queue message normally takes to arrive, so the relay does not race the message it backs up.
RELAY_GRACE_SECONDS = 30
RELAY_MAX_STREAMS = 500  # per run: a backlog is drained over runs, each bounded in time


def handle_webhooks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def remaining() -> float:
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            return float("inf")
        return context.get_remaining_time_in_millis() / 1000

    def handle(record: Record) -> Any:
        from . import delivery, webhooks

        message = json.loads(record["body"])
        if not isinstance(message, dict):
            raise ValueError("a webhook message is a JSON object")
        if message.get("type") == "webhook-replay":
            return webhooks.replay(message["vendor_id"], message["since"], message["until"], message.get("after"))
        if message.get("type") == "webhook-dead":
            # What the worker put in the DLQ when it gave an event up, redriven by an operator.
            return webhooks.redrive(str(message["stream"]), int(message["sequence"]))
        streams = message.get("streams")
        if message.get("type") != "webhook" or not isinstance(streams, list):
            raise ValueError(f"not a webhook message: {message.get('type')!r}")
        return delivery.deliver_streams([str(s) for s in streams], remaining)

    return sqs_batch.process(event, handle)


def relay_due_events(now: float | None = None) -> dict[str, int]:
    """Starts every stream whose waiting event is overdue: its queue message was lost (the
    process died between the booking change and the send), its attempt's worker died, or its
    backoff was longer than SQS can delay a message. Reads the sparse due index only."""
    from ..core import clock
    from . import webhook_rules as rules
    from .models import WebhookEvent
    from .outbox import dispatch

    cutoff = (clock.now() if now is None else now) - RELAY_GRACE_SECONDS
    streams: list[str] = []
    for shard in rules.all_due_shards():
        for key in WebhookEvent.by_due.query(shard, WebhookEvent.due_at <= cutoff, page_size=100):
            if len(streams) >= RELAY_MAX_STREAMS:
                break  # the rest next minute
            if key.stream not in streams:
                streams.append(key.stream)
    for start in range(0, len(streams), 20):
        dispatch(streams[start:start + 20])
    return {"streams": len(streams)}
