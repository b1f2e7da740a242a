"""The worker's use case: a confirmed booking joins its traveler's history, the co-booking
counts and the popularity counts, once.

Each distinct listing of the booking is one TransactWriteItems: its `Counted` marker
(attribute_not_exists), the traveler's History version (checked and bumped), the traveler's
History item, two Popularity ADDs (its place, its overall shard) and the CoBooking ADDs of its
pairs (domain.plan_counts; at most 5 + 2 x (10 + 9) = 43 items, well under DynamoDB's 100). A
message delivered twice finds the markers and adds nothing; a worker that died between two
listings' transactions finishes the rest on redelivery.

The pairs and the History item are planned from a read of the traveler's history, so that read
must still hold when the plan commits: each transaction requires the traveler's History version
to be the one read with the history (or, after our own commit, one more) and bumps it. Two
bookings of one traveler counted at once (two workers) therefore serialize: the loser's
transaction writes nothing, it reads again, sees the other booking's listings and pairs with
them. The same makes the History item a safe read-modify-write: dates merged, recency only
forward, whatever order the messages come in. After ATTEMPTS tries the message fails and SQS
brings it back later.

Round trips: the booking (1), the listings' place (1), the traveler's History items of these
listings with their version (one BatchGetItem) and their most recent ones (2), then one
transaction per listing.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..booking.transactions import PUT, UPDATE, LabelledTransaction
from ..core import clock
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from . import domain, history
from .models import SHARDS, VERSION, CoBooking, Counted, History, Popularity

# Other contexts through their service functions only (DESIGN "Shape").
bookings = lazy_module("chalicelib.booking.service")
inventory = lazy_module("chalicelib.inventory.offers")

COUNTED, SKIPPED = "counted", "skipped"
MARKER_DAYS = 30  # SQS keeps a message 14 days at most: no redelivery outlives the marker
ATTEMPTS = 6  # reads of the history per message when other counts of the traveler keep winning


def _confirmed_at(booking: Any) -> float:
    """When the booking was confirmed (its timeline), so history recency is the booking's."""
    for entry in reversed(booking.timeline):
        if entry.status == "CONFIRMED":
            return datetime.fromisoformat(entry.at.replace("Z", "+00:00")).timestamp()
    return clock.now()


@dataclass(frozen=True)
class Seen:
    """What a count plans from: the traveler's History items of the booking's listings, their
    most recent ones (newest first), and the History version they were read at (0: none yet)."""
    known: dict[str, domain.Past]
    recent: list[domain.Past]
    version: int


def _booked(booking: Any) -> list[domain.Booked]:
    facts = inventory.listing_facts({item.listing_id for item in booking.items})
    booked = []
    for item in booking.items:
        found = facts.get(item.listing_id)
        if found is None:
            logger.warning("booked listing not found; not counted",
                           extra={"booking_id": booking.booking_id, "listing_id": item.listing_id})
            continue
        level = domain.price_level(domain.unit_price(item.unit_prices), booking.currency)
        booked.append(domain.Booked(item.listing_id, item.kind, found.place, level, tuple(item.dates)))
    return booked


def count_confirmed(booking_id: str) -> str:
    """Counts a confirmed booking once; `skipped` when there is nothing (more) to count."""
    booking = bookings.read_booking(booking_id)
    if booking is None or not booking.was_confirmed:
        logger.warning("recommendations: booking not confirmed; nothing counted", extra={"booking_id": booking_id})
        return SKIPPED
    booked = _booked(booking)
    if not booked:
        return SKIPPED
    at = _confirmed_at(booking)
    done: set[str] = set()
    for attempt in range(ATTEMPTS):
        seen = _history(booking.traveler_id, {b.listing_id for b in booked})
        version = seen.version
        today = datetime.fromtimestamp(clock.now(), tz=timezone.utc).date()
        retry = False
        for plan in domain.plan_counts(booked, seen.known, seen.recent, booking_id):
            if plan.listing.listing_id in done:
                continue
            prior = seen.known.get(plan.listing.listing_id) if not plan.first_time else None
            after = domain.remembered(prior, plan.listing, at, today, booking_id)
            outcome = _commit(booking_id, booking.traveler_id, plan, after, version)
            if outcome == "retry":
                retry = True
                break
            done.add(plan.listing.listing_id)
            if outcome == "counted":
                version += 1  # our own write: the next listing's transaction expects it
                count("RecommendationListingsCounted")
        if not retry:
            return COUNTED
        # another count of this traveler won: read again after a growing, jittered pause
        time.sleep(random.uniform(0.5, 1.0) * min(1.0, 0.02 * 2 ** attempt))
    raise RuntimeError(f"booking {booking_id}: history kept changing; the message will come back")


def _history(traveler_id: str, listing_ids: set[str]) -> Seen:
    """One BatchGetItem (the listings' items and the version item) and one LSI query. The
    version is read with the items, so a change after this read fails the commit's check."""
    keys = [VERSION, *sorted(listing_ids)]
    known, version = {}, 0
    for h in history.get_items(traveler_id, keys, consistent=True):
        if h.listing_id == VERSION:
            version = int(h.version or 0)
        else:
            known[h.listing_id] = history.to_past(h)
    limit = domain.MAX_PAST_PAIRED + len(listing_ids)
    recent = [history.to_past(h) for h in History.by_recency.query(traveler_id, scan_index_forward=False, limit=limit,
                                                         page_size=limit, consistent_read=True)]
    return Seen(known, recent, version)


def _commit(booking_id: str, traveler_id: str, plan: domain.CountPlan, after: domain.Past, version: int) -> str:
    """counted | already (a duplicate) | retry (the history changed since it was read: the
    version moved, or a first-time listing is a repeat now). `after`: the History item to
    write (domain.remembered); `version`: the History version the plan was made at."""
    item = plan.listing
    now = clock.now()
    tx = LabelledTransaction()
    tx.add(PUT, "marker", lambda t: t.save(
        Counted(booking_id, item.listing_id, counted_at=now, expires_at=timedelta(days=MARKER_DAYS)),
        condition=Counted.listing_id.does_not_exist()))
    tx.add(UPDATE, "version", lambda t: t.update(
        History(traveler_id, VERSION), actions=[History.version.set(version + 1)],
        condition=(History.version == version) if version else History.version.does_not_exist()))
    if plan.first_time:
        tx.add(PUT, "history", lambda t: t.save(
            History(traveler_id, item.listing_id, kind=after.kind, place=after.place, price_level=after.price_level,
                    dates=list(after.dates), last_at=after.last_at, bookings=1, first_booking=booking_id),
            condition=History.listing_id.does_not_exist()))
    else:
        tx.add(UPDATE, "history", lambda t: t.update(
            History(traveler_id, item.listing_id),
            actions=[History.kind.set(after.kind), History.place.set(after.place),
                     History.price_level.set(after.price_level), History.dates.set(list(after.dates)),
                     History.last_at.set(after.last_at), History.bookings.add(1)],
            condition=History.listing_id.exists()))
    for scope in (f"place#{item.place}", f"all#{domain.shard(item.listing_id, SHARDS)}"):
        tx.add(UPDATE, scope, lambda t, scope=scope: t.update(
            Popularity(scope, item.listing_id),
            actions=[Popularity.bookings.add(1), Popularity.kind.set(item.kind), Popularity.place.set(item.place)]))
    for edge in plan.edges:
        tx.add(UPDATE, "edge", lambda t, e=edge: t.update(
            CoBooking(e.listing_id, e.other_id),
            actions=[CoBooking.together.add(1), CoBooking.other_kind.set(e.other_kind),
                     CoBooking.other_place.set(e.other_place)]))
    failures = tx.commit()
    if not failures:
        return "counted"
    labels = {f.label: f.code for f in failures}
    if labels.get("marker") == "ConditionalCheckFailed":
        return "already"
    if "ConditionalCheckFailed" in (labels.get("version"), labels.get("history")) \
            or set(labels.values()) == {"TransactionConflict"}:
        # another count of this traveler committed since our read (or is committing right
        # now): nothing was written, plan it again on a fresh read
        return "retry"
    raise RuntimeError(f"counting {booking_id}/{item.listing_id} failed: {sorted(set(labels.values()))}")
