"""Reading and writing entries: the conditional writes every status change goes through.

Entering the line (join) and leaving it (OFFERED, LEFT, EXPIRED) are one transaction each with
the traveler's slot and active count (models.WaitlistSlot), so the cap and the one-entry-per-
(listing, dates) rule are exact under any concurrency. The claim (WAITING -> OFFERING) and its
release change the entry alone and keep it in the line.
"""
from __future__ import annotations

import random
import time
from typing import Any, Iterable

from pynamodb.exceptions import UpdateError

from ..booking.transactions import DELETE, PUT, UPDATE, Failure, LabelledTransaction
from ..inventory.models import AvailabilityDay
from . import domain
from .models import ACTIVE_COUNT, WaitlistEntry, WaitlistSlot

_CONFLICT_RETRIES = 3


class Busy(Exception):
    """DynamoDB kept cancelling the write for concurrent ones: nothing changed, retry later."""
    transient = True  # answered 503 with Retry-After (core.api), retried by SQS in a worker


def to_domain(item: WaitlistEntry) -> domain.Entry:
    wanted = domain.Wanted(int(item.quantity), tuple(item.dates or ()), date=item.date, check_in=item.check_in,
                           check_out=item.check_out)
    return domain.Entry(
        entry_id=item.entry_id, traveler_id=item.traveler_id, traveler_email=item.traveler_email,
        traveler_name=item.traveler_name, listing_id=item.listing_id, wanted=wanted, status=item.status,
        joined_at=float(item.joined_at), updated_at=float(item.updated_at), booking_id=item.booking_id,
        reference=item.reference, claim=item.claim,
        claimed_until=None if item.claimed_until is None else float(item.claimed_until),
        offer_key=item.offer_key)


def load(entry_id: str) -> domain.Entry | None:
    if not domain.is_entry_id(entry_id):
        return None
    try:
        return to_domain(WaitlistEntry.get(entry_id, consistent_read=True))
    except WaitlistEntry.DoesNotExist:
        return None


def available(listing_id: str, dates: Iterable[str]) -> dict[str, int]:
    """Units on sale now on each date (strongly consistent); a date not on sale is absent.

    Read from the inventory's table directly: the counters' item is the truth the hold's own
    transaction is conditioned on, and the inventory service offers no consistent read of it.
    """
    keys = [(listing_id, d) for d in sorted(set(dates))]
    return {day.date: int(day.available) for day in AvailabilityDay.batch_get(keys, consistent_read=True)}


# --- entering the line -------------------------------------------------------------------------

def create(entry: domain.Entry, *, cap: int) -> list[Failure]:
    """The entry, its slot and the active count's +1 (refused at `cap`), all or nothing.
    Failures are labelled "slot" (already waiting for these dates) or "active" (at the cap)."""
    w = entry.wanted
    item = WaitlistEntry(
        entry.entry_id, traveler_id=entry.traveler_id, traveler_email=entry.traveler_email,
        traveler_name=entry.traveler_name, listing_id=entry.listing_id, quantity=w.quantity, dates=list(w.dates),
        first_date=w.dates[0], date=w.date, check_in=w.check_in, check_out=w.check_out, status=domain.WAITING,
        offer_key=entry.offer_key, joined_at=entry.joined_at, updated_at=entry.joined_at,
        waiting_listing=entry.listing_id, waiting_shard=domain.shard_of(entry.listing_id), waiting_rank=domain.rank(entry.joined_at, entry.entry_id))
    t = LabelledTransaction()
    t.add(PUT, ("entry",), lambda tx: tx.save(item, condition=WaitlistEntry.entry_id.does_not_exist()))
    t.add(PUT, ("slot",), lambda tx: tx.save(
        WaitlistSlot(entry.traveler_id, domain.slot(entry.listing_id, w), entry_id=entry.entry_id),
        condition=WaitlistSlot.slot.does_not_exist()))
    t.add(UPDATE, ("active",), lambda tx: tx.update(
        WaitlistSlot(entry.traveler_id, ACTIVE_COUNT), actions=[WaitlistSlot.count.add(1)],
        condition=WaitlistSlot.count.does_not_exist() | (WaitlistSlot.count < cap)))
    return t.commit()


def slot_holder(traveler_id: str, listing_id: str, w: domain.Wanted) -> str | None:
    """The entry id holding the traveler's slot for these dates, if any."""
    try:
        return WaitlistSlot.get(traveler_id, domain.slot(listing_id, w), consistent_read=True).entry_id
    except WaitlistSlot.DoesNotExist:
        return None


# --- leaving the line --------------------------------------------------------------------------

def close(entry: domain.Entry, to_status: str, condition: Any, *, at: float,
          booking_id: str | None = None, reference: str | None = None) -> bool:
    """The entry leaves the line for `to_status` if `condition` still holds, and frees its slot
    and its place in the traveler's count in the same transaction. False: it moved meanwhile."""
    e = WaitlistEntry
    actions = [e.status.set(to_status), e.updated_at.set(at), e.waiting_listing.remove(), e.waiting_shard.remove(),
               e.waiting_rank.remove(), e.claim.remove(), e.claimed_until.remove()]
    if booking_id is not None:
        actions += [e.booking_id.set(booking_id), e.reference.set(reference)]
    slot = WaitlistSlot(entry.traveler_id, domain.slot(entry.listing_id, entry.wanted))
    for attempt in range(_CONFLICT_RETRIES):
        t = LabelledTransaction()
        t.add(UPDATE, ("entry",), lambda tx: tx.update(WaitlistEntry(entry.entry_id), actions=actions,
                                                       condition=condition))
        # Never another entry's slot (only this one can hold it while it is active; a missing
        # slot, which no writer leaves, must not block the exit either).
        t.add(DELETE, ("slot",), lambda tx: tx.delete(
            slot, condition=(WaitlistSlot.entry_id == entry.entry_id) | WaitlistSlot.entry_id.does_not_exist()))
        t.add(UPDATE, ("active",), lambda tx: tx.update(WaitlistSlot(entry.traveler_id, ACTIVE_COUNT),
                                                        actions=[WaitlistSlot.count.add(-1)]))
        failures = t.commit()
        if not failures:
            return True
        refused = {f.label[0] for f in failures if f.label and f.code == "ConditionalCheckFailed"}
        if "entry" in refused:
            # It moved on (left, offered, expired, claimed): whatever else failed with it is
            # another entry's business. A stale leave after a rejoin fails on both the entry
            # and the slot, which the new entry holds now.
            return False
        if any(f.code == "TransactionConflict" for f in failures):
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # the traveler's count, busy
            continue
        # The entry was still active yet its slot named another entry: never written so.
        raise RuntimeError(f"closing waitlist entry {entry.entry_id} failed: {failures}")
    raise Busy(f"closing waitlist entry {entry.entry_id} kept conflicting")


def is_waiting() -> Any:
    return WaitlistEntry.status == domain.WAITING


def claimed(token: str) -> Any:
    return (WaitlistEntry.status == domain.OFFERING) & (WaitlistEntry.claim == token)


# --- the claim ---------------------------------------------------------------------------------

def claim(entry: domain.Entry, token: str, now: float) -> domain.Entry | None:
    """WAITING (or OFFERING under a lapsed claim) -> OFFERING under `token`, for CLAIM_SECONDS.
    The entry as it is now (None: not claimable): the line is an index and may be older than
    the entry, whose offer key in particular may have changed since (`rekey`)."""
    e = WaitlistEntry
    free = (e.status == domain.WAITING) | ((e.status == domain.OFFERING) & (e.claimed_until < now))
    item = WaitlistEntry(entry.entry_id)
    try:
        item.update(
            actions=[e.status.set(domain.OFFERING), e.claim.set(token),
                     e.claimed_until.set(now + domain.CLAIM_SECONDS), e.updated_at.set(now)],
            condition=free & e.entry_id.exists())
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return to_domain(item)  # the update answers the whole item (ALL_NEW): no second read


def rekey(entry: domain.Entry, token: str, offer_key: str, now: float, *, release: bool) -> bool:
    """A new offer key under our claim, renewed for CLAIM_SECONDS: the hold of the old key ended
    before the entry was marked (a lost answer), so the next hold must be a new one, not that
    one replayed. `release`: back to WAITING too, in its place. False: the claim was lost."""
    e = WaitlistEntry
    actions = [e.offer_key.set(offer_key), e.updated_at.set(now)]
    if release:
        actions += [e.status.set(domain.WAITING), e.claim.remove(), e.claimed_until.remove()]
    else:
        actions += [e.claimed_until.set(now + domain.CLAIM_SECONDS)]
    try:
        WaitlistEntry(entry.entry_id).update(actions=actions, condition=claimed(token))
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


def release(entry: domain.Entry, token: str, now: float) -> bool:
    """Back to WAITING, in its old place in the line (its rank is unchanged)."""
    e = WaitlistEntry
    try:
        WaitlistEntry(entry.entry_id).update(
            actions=[e.status.set(domain.WAITING), e.claim.remove(), e.claimed_until.remove(), e.updated_at.set(now)],
            condition=claimed(token))
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False  # the claim lapsed and another worker took it over
        raise
