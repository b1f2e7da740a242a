"""The waitlist worker's SQS handler and its every-minute sweep; app.py's entry points call these.

Messages on the `waitlist` queue (signals.units_freed): `{"type": "freed", "listing_id", "dates"}`,
sent after units came free on those dates. Offering is idempotent per entry (offers), so a
duplicate or late message at worst finds nothing to give.
"""
from __future__ import annotations

import json
import random
import time
from typing import Any

from ..core import sqs_batch
from ..core.sqs_batch import Record

# The sweep's time (its function's timeout is 50 s): the listings with a line are looked for
# during DISCOVERY_SECONDS at most, no listing is started after SWEEP_SECONDS and no entry after
# STOP_SECONDS (a listing started late finishes the entry it is at). What is left then, the
# next minute's run goes on with (`_progress`).
DISCOVERY_SECONDS = 15.0
SWEEP_SECONDS = 40.0
STOP_SECONDS = 45.0
_monotonic = time.monotonic  # budgets run on the process's clock, not core.clock (tests move that)


class _Progress:
    """Where the last sweep stopped: the last listing it finished. The schedule's invocations
    nearly always land on a warm instance, which keeps this; a cold one starts at a random
    place, so over the minutes every listing is reached first as often as any other."""
    after: str | None = None


_progress = _Progress()


def handle_freed_units(event: dict[str, Any], context: Any) -> dict[str, Any]:
    def handle(record: Record) -> Any:
        from . import offers, signals

        message = json.loads(record["body"])
        if not isinstance(message, dict) or message.get("type") != signals.FREED:
            raise ValueError("not a waitlist message")
        listing_id, dates = message.get("listing_id"), message.get("dates")
        if not isinstance(listing_id, str) or not isinstance(dates, list) or \
                not all(isinstance(d, str) for d in dates):
            raise ValueError("a waitlist message names a listing_id and its dates")
        return offers.offer(listing_id, dates)

    return sqs_batch.process(event, handle)


def sweep() -> dict[str, int]:
    """The safety net for lost messages, lapsed claims and passed dates: every listing with a
    line (found through the sparse shard index, never a scan) is offered whatever is free on
    any of its entries' dates. Entries that do not fit cost no hold attempt (offers reads the
    counters first).

    Within SWEEP_SECONDS: the shards are read starting with a different one each minute, the
    listings offered in id order from where the last run stopped, and a run out of time leaves
    the rest (`deferred`) to the next minute's, which starts with them."""
    from ..core import clock
    from ..core.observability import logger
    from . import domain, offers
    from .models import WaitlistEntry

    started = _monotonic()
    deadline, stop = started + SWEEP_SECONDS, started + STOP_SECONDS
    minute = int(clock.now() // 60)
    listings: set[str] = set()
    for n, shard in enumerate(domain.rotated(domain.all_shards(), minute)):
        if n and _monotonic() >= started + DISCOVERY_SECONDS:
            logger.warning("waitlist sweep: no time to read every shard; the next run starts elsewhere")
            break
        for item in WaitlistEntry.waiting_by_shard.query(shard, attributes_to_get=["listing_id"]):
            listings.add(item.listing_id)
    order = domain.sweep_order(listings, _progress.after, random.randrange(max(1, len(listings))))
    offered = expired = failed = deferred = done = 0
    for n, listing_id in enumerate(order):
        if n and _monotonic() >= deadline:  # the first is always started: each run progresses
            deferred = len(order) - n
            break
        try:
            outcome = offers.offer(listing_id, None, deadline=stop)
        except Exception:  # one listing's trouble must not starve the others
            logger.exception("waitlist sweep failed for a listing", extra={"listing_id": listing_id})
            failed += 1
        else:
            offered += len(outcome.offered)
            expired += len(outcome.expired)
            if outcome.unfinished and _monotonic() >= stop:
                deferred = len(order) - n  # this one too: the next run starts with it
                break
            # Unfinished by its own budget (offers.OFFER_SECONDS): the others get their turn.
        _progress.after = listing_id
        done += 1
    if deferred:
        logger.info("waitlist sweep out of time; the next minute's run goes on",
                    extra={"deferred_listings": deferred, "resume_after": _progress.after})
    return {"listings": done, "offered": offered, "expired": expired, "failed": failed, "deferred": deferred}
