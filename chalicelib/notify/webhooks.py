"""Vendor webhooks, the use cases: a vendor's endpoint and secrets, its deliveries list and
replay. The events themselves are written by booking changes (notify.outbox) and delivered by
the webhook worker (notify.delivery).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from ..core import clock, pagination, queues
from ..core.config import settings
from ..core.errors import InvalidState, NotFound, ValidationError, is_transient
from ..core.observability import logger
from . import destinations, webhook_rules as rules
from .models import SigningSecretAttribute, WebhookEndpoint, WebhookEvent
from .outbox import dispatch, retention_end

@dataclass(frozen=True)
class Endpoint:
    vendor_id: str
    url: str
    secrets: tuple[rules.SigningSecret, ...]
    created_at: float
    updated_at: float

    def view(self, *, with_secret: bool = False) -> dict[str, Any]:
        shown: dict[str, Any] = {"url": self.url, "created_at": rules.iso(self.created_at),
                                 "updated_at": rules.iso(self.updated_at)}
        now = clock.now()
        rotating = [s for s in self.secrets[1:] if s.in_force(now)]
        if rotating:
            # The latest end of an overlap: until then receivers may still see the old signature.
            shown["previous_secret_expires_at"] = rules.iso(max(s.expires_at or 0 for s in rotating))
        if with_secret:
            shown["secret"] = self.secrets[0].secret
        return shown


def _to_endpoint(record: WebhookEndpoint) -> Endpoint:
    return Endpoint(record.vendor_id, record.url,
                    tuple(rules.SigningSecret(s.secret, float(s.created_at),
                                              None if s.expires_at is None else float(s.expires_at))
                          for s in record.secrets),
                    float(record.created_at), float(record.updated_at))


def _stored(secrets: list[rules.SigningSecret]) -> list[SigningSecretAttribute]:
    return [SigningSecretAttribute(secret=s.secret, created_at=s.created_at, expires_at=s.expires_at)
            for s in secrets]


def find_endpoint(vendor_id: str) -> Endpoint | None:
    try:
        return _to_endpoint(WebhookEndpoint.get(vendor_id, consistent_read=True))
    except WebhookEndpoint.DoesNotExist:
        return None


def get_endpoint(vendor_id: str) -> Endpoint:
    endpoint = find_endpoint(vendor_id)
    if endpoint is None:
        raise NotFound("No webhook is set up; PUT /vendor/webhook with a url.")
    return endpoint


def set_endpoint(vendor_id: str, url: str) -> Endpoint:
    """Creates the endpoint with a new secret, or points an existing one at a new URL keeping
    its secrets (the answer shows the current secret either way: a client that lost the first
    answer to a timeout must not be left with a secret it never saw)."""
    try:
        url = destinations.check_url(url, allow_private=settings().webhook_allow_private)
    except destinations.RefusedDestination as exc:
        raise ValidationError.for_fields({"url": str(exc)}) from None
    now = clock.now()
    for _ in range(3):
        current = find_endpoint(vendor_id)
        try:
            if current is None:
                record = WebhookEndpoint(vendor_id, url=url, secrets=_stored([rules.SigningSecret(rules.new_secret(), now)]),
                                         created_at=now, updated_at=now, version=1)
                record.save(condition=WebhookEndpoint.vendor_id.does_not_exist())
                return _to_endpoint(record)
            WebhookEndpoint(vendor_id).update(
                actions=[WebhookEndpoint.url.set(url), WebhookEndpoint.updated_at.set(now),
                         WebhookEndpoint.version.add(1)],
                condition=WebhookEndpoint.updated_at == current.updated_at)
            return Endpoint(vendor_id, url, current.secrets, current.created_at, now)
        except (PutError, UpdateError) as exc:
            if not condition_failed(exc):
                raise
    raise InvalidState("The webhook is being changed by another request; try again.")


def remove_endpoint(vendor_id: str) -> None:
    """Events written from now on, and those still waiting, are not sent (their outcome is
    `no_endpoint`); replay sends them once an endpoint is set again."""
    try:  # one conditional delete: no read first, and of two at once only one answers 204
        WebhookEndpoint(vendor_id).delete(condition=WebhookEndpoint.vendor_id.exists())
    except DeleteError as exc:
        if not condition_failed(exc):
            raise
        raise NotFound("No webhook is set up; PUT /vendor/webhook with a url.") from None


def rotate_secret(vendor_id: str) -> Endpoint:
    """A new current secret; the old one keeps signing, beside it, for the overlap (24 h)."""
    for _ in range(3):
        current = get_endpoint(vendor_id)
        now = clock.now()
        secrets = rules.rotate(current.secrets, new=rules.new_secret(), now=now,
                               overlap=settings().webhook_secret_overlap_seconds)
        try:
            WebhookEndpoint(vendor_id).update(
                actions=[WebhookEndpoint.secrets.set(_stored(secrets)), WebhookEndpoint.updated_at.set(now),
                         WebhookEndpoint.version.add(1)],
                condition=WebhookEndpoint.updated_at == current.updated_at)
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            continue  # changed meanwhile (a concurrent rotation): rotate what is there now
        return Endpoint(vendor_id, current.url, tuple(secrets), current.created_at, now)
    raise InvalidState("The webhook is being changed by another request; try again.")


def condition_failed(exc: Exception) -> bool:
    """A PynamoDB write refused by its condition (not a throttle, not a network error)."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


# --- deliveries and replay --------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    event_id: str
    type: str
    booking_id: str
    sequence: int
    created_at: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: str | None
    delivered_at: str | None
    replays: int

    @property
    def outcome(self) -> str:
        return rules.OUTCOMES[self.status]


def deliveries(vendor_id: str, *, limit: int, cursor: str | None) -> tuple[list[Delivery], str | None]:
    """The vendor's events, newest first, with how their delivery went: one index query."""
    query = functools.partial(WebhookEvent.by_vendor.query, vendor_id, scan_index_forward=False)
    items, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor,
                                               scope=f"webhook-deliveries:{vendor_id}")
    return [Delivery(e.event_id, e.type, e.booking_id, int(e.sequence), e.created_at, e.status, int(e.attempts or 0),
                     None if e.last_status is None else int(e.last_status), e.last_error, e.last_attempt_at,
                     e.delivered_at, int(e.replays or 0)) for e in items], next_cursor


@dataclass(frozen=True)
class ReplayRequest:
    since: str
    until: str


def request_replay(vendor_id: str, since_epoch: float) -> ReplayRequest:
    """Events created from `since` until now are sent again, with their ids and sequences, in
    order per booking. The work is the webhook worker's (`replay`): an API request does not
    wait on hundreds of writes."""
    get_endpoint(vendor_id)  # nowhere to send them: 404, not a silent no-op
    now = clock.now()
    if since_epoch > now:
        raise ValidationError.for_fields({"since": "is in the future"})
    since_epoch = max(since_epoch, now - rules.RETENTION_DAYS * 86400)  # nothing older is kept
    # The stored stamps' own format, so that comparing strings compares instants.
    since, until = rules.stamp(since_epoch), rules.stamp(now)
    queues.send(queues.WEBHOOKS, {"type": "webhook-replay", "vendor_id": vendor_id, "since": since,
                                  "until": until})
    return ReplayRequest(since, until)


REPLAY_PAGE = 100


def replay(vendor_id: str, since: str, until: str, after: dict[str, Any] | None = None) -> int:
    """Puts the vendor's events created in [since, until] back to PENDING, a page at a time
    (the next page is a new message), and starts their streams. Returns how many it reset.

    DynamoDB busy halfway through a page: what is done stays done (its streams are started)
    and a new message carries on after the last event handled, so a retry neither stops the
    replay nor sends the page's first events a second time."""
    now = clock.now()
    page = WebhookEvent.by_vendor.query(
        vendor_id, WebhookEvent.listed.between(since, until + "~"), limit=REPLAY_PAGE,
        page_size=REPLAY_PAGE, last_evaluated_key=after)
    streams: list[str] = []
    reset, handled, pause = 0, after, 0
    try:
        for event in page:
            # One still waiting is on its way already; resetting it would fork its attempts.
            reset += _send_again(event.stream, int(event.sequence), now, WebhookEvent.status != rules.PENDING)
            handled = _index_key(event)
            if event.stream not in streams:
                streams.append(event.stream)
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.warning("replay paused: DynamoDB is busy; a new message carries on", extra={"vendor_id": vendor_id})
        resume_after, pause = handled or {}, 5  # a moment for DynamoDB before carrying on
    else:
        resume_after = page.last_evaluated_key
    if resume_after is not None:
        queues.send(queues.WEBHOOKS, {"type": "webhook-replay", "vendor_id": vendor_id, "since": since,
                                      "until": until, **({"after": resume_after} if resume_after else {})},
                    delay_seconds=pause)
    dispatch(streams)
    return reset


def _index_key(event: WebhookEvent) -> dict[str, Any]:
    """Where a by-vendor query stopped after `event`, as DynamoDB's LastEvaluatedKey says it."""
    return {"vendor_id": {"S": event.vendor_id}, "listed": {"S": event.listed},
            "stream": {"S": event.stream}, "sequence": {"N": str(int(event.sequence))}}


def _send_again(stream: str, sequence: int, now: float, condition: Any) -> bool:
    """Puts an event back to PENDING with a fresh retry window (and a fresh retention, or it
    could expire mid-retry), if `condition` holds; True if it did."""
    try:
        WebhookEvent(stream, sequence).update(actions=[
            WebhookEvent.status.set(rules.PENDING), WebhookEvent.attempts.set(0),
            WebhookEvent.retry_from.set(now), WebhookEvent.replays.add(1),
            WebhookEvent.pending.set(rules.due_shard(stream)), WebhookEvent.due_at.set(now),
            WebhookEvent.lease_until.remove(), WebhookEvent.expires_at.set(retention_end(now))],
            condition=condition)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise
        return False
    return True


def redrive(stream: str, sequence: int) -> bool:
    """An operator redrove a given-up event from the dead-letter queue: it is sent again (once:
    only a DEAD event is revived), in its stream's order."""
    revived = _send_again(stream, sequence, clock.now(), WebhookEvent.status == rules.DEAD)
    if revived:
        dispatch([stream])
    return revived
