"""Pure rules of bookings: the lifecycle, what a caller may do next, refunds, references.

No I/O here: everything is unit-tested without AWS.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from ..inventory.domain import CancellationPolicy

HELD = "HELD"
CONFIRMING = "CONFIRMING"
CONFIRMED = "CONFIRMED"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
EXPIRED = "EXPIRED"
FAILED = "FAILED"
STATUSES = (HELD, CONFIRMING, CONFIRMED, CANCELLING, CANCELLED, EXPIRED, FAILED)

# The lifecycle of API.md; every write is conditioned on the `from` status.
TRANSITIONS: dict[str, frozenset[str]] = {
    HELD: frozenset({CONFIRMING, EXPIRED, CANCELLED}),
    CONFIRMING: frozenset({CONFIRMED, FAILED}),
    CONFIRMED: frozenset({CANCELLING}),
    CANCELLING: frozenset({CANCELLED}),
    CANCELLED: frozenset(), EXPIRED: frozenset(), FAILED: frozenset(),
}

# People read references over the phone: no 0/O, 1/I.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 6


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_booking_id() -> str:
    return "bk_" + secrets.token_hex(10)


def is_expired(expires_at: int, now: int) -> bool:
    return now >= expires_at


def available_actions(status: str, *, expires_at: int, now: int, is_owner: bool, is_staff: bool,
                      refundable: int, started: bool = False) -> list[str]:
    """What the caller may do now, in the order a client would show them: the traveler pays
    and cancels their own booking; agents and admins cancel any booking and refund."""
    actions: list[str] = []
    if status == HELD and not is_expired(expires_at, now):
        if is_owner:
            actions.append("pay")
        if is_owner or is_staff:
            actions.append("cancel")
    elif status == CONFIRMED and not started and (is_owner or is_staff):
        actions.append("cancel")
    if is_staff and status in (CONFIRMED, CANCELLED) and refundable > 0:
        actions.append("refund")
    return actions


def is_booking_id(value: str) -> bool:
    """Path ids are checked before they reach DynamoDB (an over-long key is a 5xx there)."""
    return len(value) == 23 and value.startswith("bk_") and all(c in "0123456789abcdef" for c in value[3:])


def has_started(first_date: str, now: datetime) -> bool:
    """A booking has started at 00:00 UTC of its first date: it can no longer be cancelled."""
    return now >= _starts_at(date.fromisoformat(first_date))


def _starts_at(first_day: date) -> datetime:
    """A booked date starts at 00:00 UTC: the policy's hours count back from there."""
    return datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc)


def cancellation_refund(items: Iterable[tuple[int, CancellationPolicy, date]], *, now: datetime,
                        captured: int, refunded: int) -> int:
    """Each item refunds by its own policy snapshot (taken when the booking was made); the
    total never exceeds what is left to refund."""
    total = sum(policy.refund(amount, _starts_at(first_day), now) for amount, policy, first_day in items)
    return max(0, min(total, captured - refunded))


def quote_valid_until(items: Iterable[tuple[CancellationPolicy, date]], now: datetime) -> datetime | None:
    """The next instant at which the quote changes (a free-cancellation deadline), if any."""
    deadlines = []
    for policy, first_day in items:
        deadline = _starts_at(first_day) - timedelta(hours=policy.free_until_hours)
        if deadline > now:
            deadlines.append(deadline)
    return min(deadlines) if deadlines else None


def fingerprint(*parts: Any) -> str:
    """A stable hash of a request (route, caller, body) for idempotency-key reuse checks."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def provider_key(booking_id: str, step: str, *extra: str) -> str:
    """Idempotency keys sent to the payment provider: derived from the booking, so a retried
    worker or request can never capture, void or refund twice."""
    return ":".join(("itinera", booking_id, step, *extra))
