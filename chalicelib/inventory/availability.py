"""Setting capacity and price per date, safely while holds arrive at the same moment.

The rules (API.md): up to 366 dates per request; lowering a date's capacity below its
`held + sold` is `409 CAPACITY_BELOW_COMMITTED` naming the dates, and then nothing changes;
no interleaving of updates and holds may ever oversell a date.

How it holds, even though TransactWriteItems takes at most 100 items:

1. One capacity writer per listing. A lease (`availability_lock` on the listing, 30 s) is taken
   before reading; every transaction below also carries a ConditionCheck that the lease is still
   ours (a fence), so a writer that lost its lease cannot write. Holds never take the lease: the
   only writers racing us are holds, confirmations and releases, which touch `held`, `sold` and
   `available` only.
2. Validate every date first, with strongly consistent reads: if any date would drop below
   `held + sold`, answer 409 with all those dates before writing anything.
3. Write capacity as a delta, never as an absolute recomputed from the read:
       SET capacity = :new, available = available - :drop, version = version + :one
       CONDITION capacity = :old AND available >= :drop
   (`+ :rise` and no `available` condition when capacity goes up). Because `available` is
   `capacity - held - sold` before the write, `available >= :drop` is exactly
   `held + sold <= :new`, evaluated atomically against the item as it is at that instant, and
   both sides move by the same amount, so `available == capacity - held - sold` still holds.
   A concurrent hold therefore never forces a retry (a version condition would make every busy
   date a conflict) and can never be overtaken: either the hold lands first and our condition
   sees it, or we land first and the hold's `available >= :q` sees the lower capacity.
4. Dates whose capacity drops are written first, in transactions of 99 dates + the fence.
   If one of those transactions is refused (a hold took the units after step 2), the ones
   already committed are undone by raising their capacity back, which no hold can prevent,
   and the answer is 409 naming the dates. Only after every drop is committed are the rises,
   new dates and price changes written; they carry no condition a hold can make false. Should
   DynamoDB keep failing a later transaction (conflicts beyond the retries, an outage), the
   committed ones are undone before the error is returned (a rise whose new units were held
   meanwhile keeps them, and is logged: never oversold either way).

Up to 99 dates the whole update is one transaction and atomic outright. Above that, others may
briefly see the early chunks before an undo; the only gap left is the process dying between
chunks, which leaves some dates updated and the rest not (never oversold).
"""
from __future__ import annotations

import random
import secrets
import time
from datetime import date
from typing import Iterable, Sequence

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from ..core.errors import CapacityBelowCommitted, RequestInProgress, ServiceUnavailable
from ..core.observability import logger
from . import domain
from .domain import DayChange, DaySetting, DayState
from .models import AvailabilityDay, Listing

LEASE_SECONDS = 30
LEASE_WAIT_SECONDS = 8.0  # a competing update of 366 dates takes well under this
DATES_PER_TRANSACTION = 99  # + the fence: DynamoDB's limit is 100 items per transaction
CONFLICT_RETRIES = 6  # TransactionConflict (DynamoDB serializing us against a hold): retry


class _Refused(Exception):
    def __init__(self, dates: list[date]) -> None:
        super().__init__(", ".join(d.isoformat() for d in dates))
        self.dates = dates


class _LeaseLost(Exception):
    pass


def set_availability(listing: Listing, settings: dict[date, DaySetting]) -> int:
    """Apply `settings` to the listing's dates, all or nothing; returns the number of dates."""
    token = _acquire_lease(listing)
    try:
        current = _read(listing.listing_id, settings)
        shrinks, others, below = domain.plan_changes(settings, current)
        if below:
            raise _below_committed(below, current)
        committed: list[DayChange] = []
        try:
            for chunk in _chunks(shrinks) + _chunks(others):  # every drop before any rise
                _write(listing, token, chunk, undo=False)
                committed.extend(chunk)
        except _Refused as refused:
            _undo(listing, token, committed)
            if not set(refused.dates) <= {c.date for c in shrinks}:
                # Only drops carry a condition a hold can make false; anything else means a
                # writer ignored the lease. Loud, because it should never happen.
                logger.error("availability write refused outside the drops",
                             extra={"listing_id": listing.listing_id,
                                    "dates": [d.isoformat() for d in refused.dates]})
                raise ServiceUnavailable("The calendar changed while it was being updated; "
                                         "try again.") from None
            now = _read(listing.listing_id, settings)
            _, _, below = domain.plan_changes(settings, now)
            raise _below_committed(sorted(set(below) | set(refused.dates)), now) from None
        except _LeaseLost:
            raise
        except Exception:  # DynamoDB kept refusing or failing: put back what we wrote, then fail
            _undo(listing, token, committed)
            raise
    except _LeaseLost:
        raise RequestInProgress("Another availability update of this listing took over; "
                                "read the calendar and try again.") from None
    finally:
        _release_lease(listing.listing_id, token)
    # Written: list the listing's places as on sale that far (never raises; see place_index).
    from . import place_index  # here, not at the top: search imports this module, not the index
    place_index.after_availability(listing, settings)
    from ..waitlist import signals  # after the commit: raised capacity may serve the waitlist
    signals.units_freed({listing.listing_id: [c.date.isoformat() for c in others if c.delta > 0]})
    return len(settings)


def _below_committed(dates: Sequence[date], current: dict[date, DayState]) -> CapacityBelowCommitted:
    committed = {d.isoformat(): current[d].committed for d in dates if d in current}
    return CapacityBelowCommitted(
        "Capacity cannot go below the units already held or sold on these dates.",
        {"dates": [d.isoformat() for d in dates], "committed": committed})


def _read(listing_id: str, dates: Iterable[date]) -> dict[date, DayState]:
    keys = [(listing_id, d.isoformat()) for d in sorted(dates)]
    return {date.fromisoformat(day.date): DayState(int(day.capacity), int(day.held), int(day.sold),
                                                   int(day.available), int(day.price))
            for day in AvailabilityDay.batch_get(keys, consistent_read=True)}


def _chunks(changes: list[DayChange]) -> list[list[DayChange]]:
    return [changes[i:i + DATES_PER_TRANSACTION] for i in range(0, len(changes), DATES_PER_TRANSACTION)]


def _undo(listing: Listing, token: str, committed: list[DayChange]) -> None:
    """Put back what was read, newest first. Undoing drops (raising capacity again) always
    succeeds; undoing a rise or a new date can find the new units already held, and then
    those dates keep the new capacity (still never oversold) and are logged."""
    for chunk in reversed(_chunks(committed)):
        try:
            _write(listing, token, chunk, undo=True)
        except (_Refused, _LeaseLost, ServiceUnavailable) as exc:
            logger.error("could not undo part of an availability update",
                         extra={"listing_id": listing.listing_id, "error": type(exc).__name__,
                                "dates": [c.date.isoformat() for c in chunk]})


def _write(listing: Listing, token: str, chunk: list[DayChange], *, undo: bool) -> None:
    """One transaction: the fence, then one write per date. Retries DynamoDB's conflicts."""
    # PynamoDB sends condition checks, then deletes, then updates; reasons come in that order.
    deletes = [c for c in chunk if undo and c.current is None]
    ordered = deletes + [c for c in chunk if not (undo and c.current is None)]
    for attempt in range(CONFLICT_RETRIES):
        try:
            with TransactWrite(connection=AvailabilityDay._get_connection().connection) as tx:
                tx.condition_check(Listing, listing.listing_id,
                                   condition=Listing.availability_lock == token)
                for change in ordered:
                    _add_write(tx, listing, change, undo)
            return
        except TransactWriteError as exc:
            codes = [r.code if r else None for r in exc.cancellation_reasons]
            if codes and codes[0] == "ConditionalCheckFailed":
                raise _LeaseLost() from None
            refused = [c.date for c, code in zip(ordered, codes[1:]) if code == "ConditionalCheckFailed"]
            if refused:
                raise _Refused(refused) from None
            if "TransactionConflict" in codes or exc.cause_response_code in (
                    "TransactionInProgressException", "ThrottlingException"):
                time.sleep(random.uniform(0, 0.02 * 2 ** attempt))  # jitter: let the hold finish
                continue
            raise
    raise ServiceUnavailable("The calendar is very busy right now; try again in a moment.")


def _add_write(tx: TransactWrite, listing: Listing, change: DayChange, undo: bool) -> None:
    d = AvailabilityDay
    day = d(listing.listing_id, change.date.isoformat())
    setting, current = change.setting, change.current
    if current is None and undo:  # the date was not on sale: take it off again if untouched
        tx.delete(day, condition=(d.held == 0) & (d.sold == 0))
        return
    if current is None:  # first time on sale
        key = domain.search_key(listing.kind, change.date, city=listing.city, origin=listing.origin,
                                destination=listing.destination)
        actions = [d.capacity.set(setting.capacity), d.held.set(0), d.sold.set(0),
                   d.available.set(setting.capacity), d.price.set(setting.price),
                   d.currency.set(listing.currency), d.version.set(1), d.search_key.set(key),
                   d.search_rank.set(domain.search_rank(setting.price, listing.listing_id))]
        tx.update(day, actions=actions, condition=d.listing_id.does_not_exist())
        return
    # Undo swaps old and new: put back what was read, conditioned on what we wrote.
    old, new = (setting.capacity, current.capacity) if undo else (current.capacity, setting.capacity)
    price = current.price if undo else setting.price
    actions = [d.capacity.set(new), d.price.set(price), d.currency.set(listing.currency),
               d.search_rank.set(domain.search_rank(price, listing.listing_id)), d.version.set(d.version + 1)]
    condition = d.capacity == old
    if new < old:
        actions.append(d.available.set(d.available - (old - new)))
        condition = condition & (d.available >= old - new)
    elif new > old:
        actions.append(d.available.set(d.available + (new - old)))
    tx.update(day, actions=actions, condition=condition)


# --- the lease --------------------------------------------------------------------------------

def _acquire_lease(listing: Listing) -> str:
    token = secrets.token_hex(12)
    deadline = time.monotonic() + LEASE_WAIT_SECONDS
    delay = 0.02
    while True:
        now = int(time.time())
        free = Listing.availability_lock.does_not_exist() | (Listing.availability_lock_until < now)
        try:
            Listing(listing.listing_id).update(
                actions=[Listing.availability_lock.set(token),
                         Listing.availability_lock_until.set(now + LEASE_SECONDS)],
                condition=(Listing.vendor_id == listing.vendor_id) & free)
            return token
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
        if time.monotonic() >= deadline:
            raise RequestInProgress("Another availability update of this listing is in progress; "
                                    "try again in a few seconds.")
        time.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, 0.5)


def _release_lease(listing_id: str, token: str) -> None:
    try:
        Listing(listing_id).update(
            actions=[Listing.availability_lock.remove(), Listing.availability_lock_until.remove()],
            condition=Listing.availability_lock == token)
    except UpdateError as exc:  # lease already expired and taken: nothing of ours to release
        logger.warning("availability lease was not ours to release",
                       extra={"listing_id": listing_id, "code": exc.cause_response_code})
