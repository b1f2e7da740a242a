"""Abuse limits: how many hold and payment attempts one traveler may make per minute.

A fixed one-minute window per (action, traveler), counted in DynamoDB with one conditional
update: `ADD count 1` if `count < limit`. The condition makes the count exact under any
concurrency (no read-then-write: two racing attempts can never both take the last unit), and
the window is the item's key, so a new minute starts from a new item instead of resetting an
old one. `expires_at` is a TTL attribute: cleanup only, the key alone decides the window.

The window follows the service clock (core.clock), so tests move it with `clock.advance()`.

An over-limit attempt is `429 RATE_LIMITED` with `Retry-After`: the whole seconds until its
window ends, when the traveler has a fresh allowance.

How a use case counts (see booking.holds and booking.payment):
- `add_to(tx)` puts the update into the use case's own transaction, so a successful hold costs
  no extra round trip and a transaction that fails (sold out, a replay) counts nothing by itself;
- `count()` is the same update on its own (one UpdateItem), for attempts refused before or by
  such a transaction, and for payments, which must be counted before the provider is called;
- `give_back()` returns a unit when the request turned out to be no new work (a replay of an
  earlier answer, a duplicate still in progress).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from . import clock
from .aws import share_aws_clients
from .config import settings, table_name
from .errors import RateLimited
from .observability import count as metric

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)

WINDOW_SECONDS = 60
# TTL removes a window's item a while after it ends (DynamoDB's TTL may lag for days anyway).
KEEP_SECONDS = 10 * 60

HOLDS = "holds"
PAYMENTS = "payments"


class AttemptCounter(Model):
    """One per (action, traveler, minute): the attempts counted in that minute."""

    class Meta:
        table_name = table_name("rate-limits")
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)  # "<action>#<user id>#<window number>"
    count = NumberAttribute(default=0)
    expires_at = TTLAttribute()  # cleanup only


class AttemptsExceeded(RateLimited):
    """Our per-minute limit refused the attempt (the other 429s are per hold or per booking)."""


def limit_for(action: str) -> int:
    config = settings()
    return config.hold_attempts_per_minute if action == HOLDS else config.payment_attempts_per_minute


@dataclass
class Attempt:
    """One request's claim on its traveler's allowance for the minute it started in."""
    action: str
    user_id: str
    now: float
    counted: bool = False

    @property
    def window(self) -> int:
        return int(self.now // WINDOW_SECONDS)

    @property
    def key(self) -> str:
        return f"{self.action}#{self.user_id}#{self.window}"

    @property
    def limit(self) -> int:
        return limit_for(self.action)

    def _update(self) -> tuple[AttemptCounter, dict[str, Any]]:
        ends = (self.window + 1) * WINDOW_SECONDS
        expires = datetime.fromtimestamp(ends + KEEP_SECONDS, tz=timezone.utc)
        return AttemptCounter(self.key), {
            "actions": [AttemptCounter.count.add(1), AttemptCounter.expires_at.set(expires)],
            "condition": AttemptCounter.count.does_not_exist() | (AttemptCounter.count < self.limit)}

    def add_to(self, tx: Any) -> None:
        """Add the conditional increment to a PynamoDB TransactWrite (it fails with the rest)."""
        item, update = self._update()
        tx.update(item, **update)

    def count(self) -> None:
        """Count the attempt on its own (one UpdateItem); AttemptsExceeded when over the limit."""
        if self.counted:
            return
        item, update = self._update()
        try:
            item.update(**update)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise self.exceeded() from None
            raise
        self.counted = True

    def give_back(self) -> None:
        """Undo `count()`: the request did no new work. Never takes the count below zero, and
        never re-creates an item TTL already removed (it would have no expiry)."""
        if not self.counted:
            return
        try:
            AttemptCounter(self.key).update(actions=[AttemptCounter.count.add(-1)],
                                            condition=AttemptCounter.count > 0)
        except UpdateError:
            pass  # already gone, or DynamoDB busy: then the unit stays spent (the safe side)
        self.counted = False

    def retry_after(self) -> int:
        """Whole seconds until this attempt's window ends (at least 1)."""
        ends = (self.window + 1) * WINDOW_SECONDS
        return max(1, math.ceil(ends - max(self.now, clock.now())))

    def exceeded(self) -> AttemptsExceeded:
        metric("HoldAttemptsLimited" if self.action == HOLDS else "PaymentAttemptsPerMinuteLimited")
        what = "holds" if self.action == HOLDS else "payment attempts"
        seconds = self.retry_after()
        return AttemptsExceeded(
            f"Too many {what}: at most {self.limit} a minute. Retry in {seconds} seconds.",
            {"limit": self.limit, "window_seconds": WINDOW_SECONDS, "retry_after_seconds": seconds},
            headers={"Retry-After": str(seconds)})


def hold_attempt(user_id: str, now: float) -> Attempt:
    return Attempt(HOLDS, user_id, now)


def payment_attempt(user_id: str, now: float) -> Attempt:
    return Attempt(PAYMENTS, user_id, now)
