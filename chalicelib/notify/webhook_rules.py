"""Vendor webhooks: the pure rules (no I/O). What an event says, how it is signed, when a failed
delivery is tried again and when it is given up, and which secrets sign.

Signing follows the Standard Webhooks spec (standardwebhooks.com) with its reference library:
`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, one `v1,` signature per secret in force, space-separated, so a receiver
holding either secret during a rotation verifies.
"""
from __future__ import annotations

import base64
import json
import random
import secrets as _random
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

# Event statuses (stored) and how the deliveries list names them.
PENDING, DELIVERED, DEAD, SKIPPED = "PENDING", "DELIVERED", "DEAD", "SKIPPED"
OUTCOMES = {PENDING: "pending", DELIVERED: "delivered", DEAD: "dead_lettered", SKIPPED: "no_endpoint"}

EVENT_TYPES = ("booking.confirmed", "booking.cancelled", "booking.refunded", "booking.failed", "booking.expired")
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # 256-bit HMAC key, as the spec recommends (24 to 64 bytes)
MAX_SECRETS = 3  # the current one and at most two still in their overlap (rotating twice in a day)
RETENTION_DAYS = 30  # how far back replay reaches
DUE_SHARDS = 4


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff: the n-th retry waits between d/2 and d, d = min(base * 2^(n-1),
    max_delay), until `window` seconds after the event (or its replay) was first tried.
    Production: 5 s doubling to an hour, for a day; tests pass seconds (core.config)."""
    base: float
    max_delay: float
    window: float


def backoff(attempts: int, schedule: RetrySchedule, rand: Callable[[], float] = random.random) -> float:
    """The wait after the `attempts`-th failed attempt. Equal jitter: half fixed, so retries
    still spread out exponentially, half random, so many endpoints failing at once (a vendor's
    outage) are not all tried again in the same second."""
    ceiling = min(schedule.base * 2 ** max(attempts - 1, 0), schedule.max_delay)
    return ceiling / 2 + rand() * ceiling / 2


def next_attempt_at(*, attempts: int, now: float, retry_from: float, schedule: RetrySchedule,
                    rand: Callable[[], float] = random.random) -> float | None:
    """After the `attempts`-th attempt failed at `now`: when to try again, or None to give up
    (dead-letter). The last try is made at `retry_from + window` or later, never before, so an
    event is retried for at least the whole window."""
    deadline = retry_from + schedule.window
    if now >= deadline:
        return None
    return min(now + backoff(attempts, schedule, rand), deadline)


def stream_of(vendor_id: str, booking_id: str) -> str:
    """Events are ordered per (vendor, booking): each vendor's deliveries of a booking."""
    return f"{vendor_id}#{booking_id}"


def due_shard(stream: str) -> str:
    return f"due#{zlib.crc32(stream.encode()) % DUE_SHARDS}"


def all_due_shards() -> list[str]:
    return [f"due#{n}" for n in range(DUE_SHARDS)]


def stamp(now: float) -> str:
    """An instant as events store it: milliseconds, so the by-vendor order is the order of events."""
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso(now: float) -> str:
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def listed_key(created_at: str, event_id: str) -> str:
    return f"{created_at}#{event_id}"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode()


def new_event_id() -> str:
    return "evt_" + _random.token_hex(12)


def event_body(*, event_id: str, event_type: str, created_at: str, sequence: int,
               booking: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """The JSON a receiver gets. `id` equals the `webhook-id` header: the receiver's
    idempotency key. Serialized once, when the event is written, so every attempt and every
    replay sends (and signs) the same bytes."""
    body = {"id": event_id, "type": event_type, "created": created_at, "sequence": sequence, "booking": booking,
            **(extra or {})}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    created_at: float
    expires_at: float | None = None  # None: the current one

    def in_force(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


def signing_secrets(stored: Sequence[SigningSecret], now: float) -> list[SigningSecret]:
    """The secrets that sign now: the current one and those still in their overlap."""
    return [s for s in stored if s.in_force(now)]


def rotate(stored: Sequence[SigningSecret], *, new: str, now: float, overlap: float) -> list[SigningSecret]:
    """A new current secret; the old current one keeps signing for `overlap` seconds. Secrets
    past their overlap are dropped, and so are the oldest beyond MAX_SECRETS (a third rotation
    within a day ends the first one's overlap early: the header stays small)."""
    kept = [SigningSecret(s.secret, s.created_at, now + overlap if s.expires_at is None else s.expires_at)
            for s in signing_secrets(stored, now)]
    return [SigningSecret(new, now), *kept][:MAX_SECRETS]


def signature_headers(*, event_id: str, body: str, secrets: Sequence[str], timestamp: float) -> dict[str, str]:
    """The Standard Webhooks headers. `timestamp` is the sending time: receivers reject
    signatures more than a few minutes from their own clock (replay protection)."""
    from standardwebhooks import Webhook  # small, stdlib only; loaded by the webhook worker alone

    at = datetime.fromtimestamp(int(timestamp), tz=timezone.utc)
    signatures = " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(timestamp)), "webhook-signature": signatures}
