"""Delivering webhook events: a stream's events, one at a time, in sequence order.

A stream is one vendor's events about one booking. Its first waiting event (the head) is tried
when due; the next one waits until the head is delivered, skipped (no endpoint) or given up,
so a receiver sees a booking's sequence numbers in order. Every step is a conditional write:
an attempt is *claimed* first (attempts + 1 and a lease, conditioned on the attempts read), so
two workers with the same message never both send, and the result is recorded conditioned on
that claim. A worker that dies mid-attempt leaves a lease that runs out; the event's `due_at`
is the lease's end, so the relay schedule starts it again.

Retries: the head's next attempt is due after a backoff (webhook_rules.next_attempt_at); a
delayed queue message brings it back (up to SQS's 15 minutes; longer waits are found by the
relay schedule in the due index). After the window it is dead-lettered: a message in the
webhook queue's DLQ, the event marked DEAD, and the stream goes on with its next event.
"""
from __future__ import annotations

import math
import random
import time
from typing import Any, Callable

from pynamodb.exceptions import UpdateError

from ..core import clock, queues
from ..core.config import settings
from ..core.errors import is_transient
from ..core.observability import count, logger
from . import destinations, webhook_rules as rules
from .models import WebhookEvent
from .outbox import dispatch
from .webhooks import Endpoint, condition_failed, find_endpoint

USER_AGENT = "Itinera-Webhooks/1"
LEASE_MARGIN_SECONDS = 30  # a claimed attempt is someone's for its timeout and this long
_MAX_ERROR = 200


def schedule() -> rules.RetrySchedule:
    s = settings()
    return rules.RetrySchedule(s.webhook_retry_base_seconds, s.webhook_retry_max_delay_seconds,
                               s.webhook_retry_window_seconds)


def lease_seconds() -> float:
    return settings().webhook_timeout_seconds + LEASE_MARGIN_SECONDS


def deliver_streams(streams: list[str], remaining_seconds: Callable[[], float] | None = None) -> dict[str, int]:
    """Flushes each stream while the invocation has time for another attempt; a stream left
    over goes to a new message (not failed: a failure would count toward the DLQ)."""
    endpoints: dict[str, Endpoint | None] = {}
    outcomes: dict[str, int] = {}
    for stream in streams:
        outcome = flush(stream, endpoints, remaining_seconds)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _waiting(stream: str) -> list[WebhookEvent]:
    """The stream's events still to deliver, in sequence order: one consistent query (a
    booking has a handful of events)."""
    return list(WebhookEvent.query(stream, filter_condition=WebhookEvent.status == rules.PENDING,
                                   consistent_read=True))


def flush(stream: str, endpoints: dict[str, Endpoint | None] | None = None,
          remaining_seconds: Callable[[], float] | None = None) -> str:
    """Delivers the stream's due events in order until one has to wait. Returns why it stopped:
    "done", "waiting" (the head is not due), "busy" (another worker has it) or "retrying"."""
    endpoints = {} if endpoints is None else endpoints
    events = _waiting(stream)
    sent_since_read = False
    while True:
        if not events:
            # Having sent something, look once more: an event written meanwhile was kicked,
            # found its head busy (ours, in flight) and left its delivery to us.
            if not sent_since_read:
                return "done"
            events, sent_since_read = _waiting(stream), False
            if not events:
                return "done"
        head, rest = events[0], events[1:]
        now = clock.now()
        if head.lease_until is not None and float(head.lease_until) > now:
            # In flight elsewhere (its due_at is the lease's end, for the relay): that worker
            # looks at the stream again when it is done, so the events behind are not held back.
            return "busy"
        if float(head.due_at or 0) > now:
            _hold_back(rest, float(head.due_at))
            return "waiting"
        if _abandoned(head, now):
            # Its last try, made at the end of its window, never recorded a result (the worker
            # died): that was the last try, so it is given up rather than tried forever.
            if not _give_up(head, int(head.attempts or 0), now, "no result recorded for the last attempt"):
                return "busy"
            events = rest
            continue
        if remaining_seconds is not None and remaining_seconds() < settings().webhook_timeout_seconds + 5:
            dispatch([stream])  # no time for another attempt in this invocation: a new message
            return "deferred"
        attempt, claimed_at = _claim(head, now), now
        if attempt is None:
            return "busy"
        vendor_id = head.vendor_id
        if vendor_id not in endpoints:
            endpoints[vendor_id] = find_endpoint(vendor_id)
        endpoint = endpoints[vendor_id]
        if endpoint is None:
            _finish(head, attempt, rules.SKIPPED, now=now, last_error="no webhook endpoint is set up")
            count("WebhooksSkipped")
            events = rest
            continue
        answer = _send(head, endpoint)
        now = clock.now()
        if answer.status is not None and 200 <= answer.status < 300:
            if not _finish(head, attempt, rules.DELIVERED, now=now, last_status=answer.status):
                return "busy"  # our lease ran out and another worker has it: the stream is theirs
            count("WebhooksDelivered")
            logger.info("webhook delivered", extra=_about(head, attempt, answer))
            sent_since_read = True
            events = rest
            continue
        count("WebhookAttemptsFailed")
        error = answer.error or f"HTTP {answer.status}"
        retry_from = claimed_at if attempt == 1 else float(head.retry_from)
        when = rules.next_attempt_at(attempts=attempt, now=now, retry_from=retry_from, schedule=schedule())
        if when is None:
            if not _give_up(head, attempt, now, error, last_status=answer.status):
                return "busy"
            events = rest
            continue
        logger.warning("webhook attempt failed; will retry", extra={**_about(head, attempt, answer),
                                                                     "retry_in_s": round(when - now, 1)})
        if not _retry_later(head, attempt, when, answer.status, answer.error):
            return "busy"
        _hold_back(rest, when)
        if when - now <= queues.MAX_DELAY_SECONDS:
            dispatch([stream], delay_seconds=math.ceil(when - now))
        # else: the relay schedule finds it in the due index when it is due
        return "retrying"


def _about(event: WebhookEvent, attempt: int, answer: destinations.Answer) -> dict[str, Any]:
    return {"event_id": event.event_id, "vendor_id": event.vendor_id, "booking_id": event.booking_id,
            "sequence": int(event.sequence), "attempt": attempt, "status_code": answer.status,
            "error": answer.error}


def _abandoned(event: WebhookEvent, now: float) -> bool:
    """Its last attempt was claimed at or after the end of its window and never recorded a
    result (the worker died, or could not write it): that was the last try, so it is given up.
    A claim left unrecorded earlier in the window is just tried again (the receiver dedupes by
    id), and an event merely due late is tried as usual: the last try must still be made."""
    if event.lease_until is None or not int(event.attempts or 0):
        return False
    claimed_at = float(event.lease_until) - lease_seconds()
    return claimed_at >= float(event.retry_from) + schedule().window and now >= float(event.lease_until)


def _send(event: WebhookEvent, endpoint: Endpoint) -> destinations.Answer:
    body = event.payload
    # The signing time is the wall clock, never the service clock: receivers compare it with
    # their own clock to refuse replays of old messages.
    headers = rules.signature_headers(
        event_id=event.event_id, body=body, timestamp=time.time(),
        secrets=[s.secret for s in rules.signing_secrets(endpoint.secrets, clock.now())])
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    s = settings()
    return destinations.post(endpoint.url, body.encode(), headers, timeout=s.webhook_timeout_seconds,
                             allow_private=s.webhook_allow_private)


def _claimed_by(event: WebhookEvent, attempt: int) -> Any:
    return (WebhookEvent.status == rules.PENDING) & (WebhookEvent.attempts == attempt)


def _claim(event: WebhookEvent, now: float) -> int | None:
    """Takes the next attempt; returns its number, or None if another worker took it."""
    attempts = int(event.attempts or 0)
    lease_until = now + lease_seconds()
    free = WebhookEvent.lease_until.does_not_exist() | (WebhookEvent.lease_until <= now)
    actions = [WebhookEvent.attempts.set(attempts + 1), WebhookEvent.lease_until.set(lease_until),
               WebhookEvent.last_attempt_at.set(rules.stamp(now)), WebhookEvent.due_at.set(lease_until)]
    if attempts == 0:
        # The window counts from the first try: an event that waited behind its stream's
        # failing head still gets its whole window once its turn comes.
        actions.append(WebhookEvent.retry_from.set(now))
    try:
        WebhookEvent(event.stream, event.sequence).update(actions=actions, condition=_claimed_by(event, attempts) & free)
    except UpdateError as exc:
        if condition_failed(exc):
            return None
        raise
    return attempts + 1


def _finish(event: WebhookEvent, attempt: int, status: str, *, now: float, last_status: int | None = None,
            last_error: str | None = None) -> bool:
    actions = [WebhookEvent.status.set(status), WebhookEvent.pending.remove(), WebhookEvent.due_at.remove(),
               WebhookEvent.lease_until.remove(), _set_or_remove(WebhookEvent.last_status, last_status),
               _set_or_remove(WebhookEvent.last_error, (last_error or "")[:_MAX_ERROR] or None)]
    if status == rules.DELIVERED:
        actions.append(WebhookEvent.delivered_at.set(rules.stamp(now)))
    return _update(event, attempt, actions)


def _retry_later(event: WebhookEvent, attempt: int, when: float, last_status: int | None,
                 last_error: str | None) -> bool:
    return _update(event, attempt, [
        WebhookEvent.lease_until.remove(), WebhookEvent.due_at.set(when),
        _set_or_remove(WebhookEvent.last_status, last_status),
        _set_or_remove(WebhookEvent.last_error, (last_error or "")[:_MAX_ERROR] or None)])


def _give_up(event: WebhookEvent, attempt: int, now: float, error: str, last_status: int | None = None) -> bool:
    """Dead-letters the event: first the DLQ message (operators see it; a crash before the
    record only means it is given up again, a duplicate in the DLQ), then the record."""
    queues.send(queues.dead_letter_queue(queues.WEBHOOKS), {
        "type": "webhook-dead", "event_id": event.event_id, "vendor_id": event.vendor_id,
        "booking_id": event.booking_id, "stream": event.stream, "sequence": int(event.sequence),
        "event_type": event.type, "attempts": attempt, "last_status": last_status, "last_error": error})
    if not _finish(event, attempt, rules.DEAD, now=now, last_status=last_status, last_error=error):
        return False
    count("WebhooksDeadLettered")
    logger.error("webhook dead-lettered", extra={"event_id": event.event_id, "vendor_id": event.vendor_id,
                                                  "booking_id": event.booking_id, "attempts": attempt,
                                                  "error": error})
    return True


def _hold_back(events: list[WebhookEvent], until: float) -> None:
    """Events behind a head that waits are due no earlier than it, so the relay schedule does
    not start their stream again and again for nothing while the head backs off."""
    for event in events:
        if float(event.due_at or 0) >= until:
            continue
        try:
            WebhookEvent(event.stream, event.sequence).update(
                actions=[WebhookEvent.due_at.set(until)],
                condition=_claimed_by(event, int(event.attempts or 0)) & WebhookEvent.lease_until.does_not_exist())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise


_RECORD_TRIES = 4


def _update(event: WebhookEvent, attempt: int, actions: list[Any]) -> bool:
    """Records an attempt's result. Tried a few times when DynamoDB is busy: a result not
    recorded means the attempt is made again later (a duplicate for the receiver)."""
    for tried in range(1, _RECORD_TRIES + 1):
        try:
            WebhookEvent(event.stream, event.sequence).update(actions=actions, condition=_claimed_by(event, attempt))
        except UpdateError as exc:
            if condition_failed(exc):
                return False  # the claim was lost (its lease ran out and another worker took it)
            if tried == _RECORD_TRIES or not is_transient(exc):
                raise
            time.sleep(random.uniform(0.05, 0.2) * tried)
            continue
        return True
    return False  # not reached


def _set_or_remove(attribute: Any, value: Any) -> Any:
    return attribute.remove() if value is None else attribute.set(value)

