"""Applying a booking transition: one conditional transaction, "applied" or "already moved".

A `domain.Transition` says what changes; this module writes it as one TransactWriteItems: the
booking's update (conditioned on the status it leaves and the transition's guards, so a
duplicate message or a racing request changes nothing), the (listing, date) counters, the
ledger entries and the traveler's active-hold counter, plus whatever the caller adds (the
idempotency record of a request, a payment attempt). Every status change goes through here.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from pynamodb.expressions.condition import size
from pynamodb.expressions.update import Action

from ..core import clock
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from ..inventory import reservations
from . import domain, vendor_events
from .models import ActiveHolds, Booking, LedgerEntry, TimelineEntryAttribute
from .transactions import PUT, UPDATE, Failure, LabelledTransaction

# Loaded by the transitions that give a promotion use back: a confirmation never does, and its
# worker's cold start does not pay for the promotions' models.
promotion_usage = lazy_module("chalicelib.promotions.usage")

# Extra operations a caller adds to the transaction: (kind, label, operation).
Extra = tuple[str, Any, Callable[[Any], None]]

_CONFLICT_RETRIES = 3


class TransactionConflict(Exception):
    """DynamoDB kept cancelling the transaction because of concurrent writes; retry later."""
    transient = True  # answered 503 with Retry-After (core.http)


@dataclass(frozen=True)
class Applied:
    booking: domain.Booking  # as stored now


@dataclass(frozen=True)
class NotApplied:
    """A condition failed: the booking moved on ("booking" among the labels) or an extra's
    condition failed (e.g. "idempotency")."""
    labels: frozenset[str]

    @property
    def already_moved(self) -> bool:
        return "booking" in self.labels


def apply(booking: domain.Booking, transition: domain.Transition, *, extras: tuple[Extra, ...] = ()) -> Applied | NotApplied:
    skipped: frozenset[str] = frozenset()  # promotion give-backs left out (their counter was already 0)
    attempt = 0
    while attempt < _CONFLICT_RETRIES:
        announcement = vendor_events.for_transition(booking, transition, clock.now())
        failures = _transaction(booking, transition, extras, announcement, skipped).commit()
        if not failures:
            if transition.units in (domain.RELEASE_HELD, domain.RELEASE_SOLD):
                from ..waitlist import signals  # after the commit: the waitlist may take the units
                signals.items_freed(booking.items)  # never raises (its sweep is the safety net)
            if announcement is not None:
                announcement.dispatch()
                return Applied(vendor_events.next_number(booking.with_changes(transition)))
            return Applied(booking.with_changes(transition))
        if any(f.code == "TransactionConflict" for f in failures):
            attempt += 1
            time.sleep(random.uniform(0.01, 0.05) * attempt)
            continue
        labels = frozenset(f.label[0] for f in failures if f.label)
        if labels & {"booking", "idempotency", "attempt"}:
            return NotApplied(labels)
        give_backs = _failed_give_backs(failures)
        if give_backs:
            # Only a promotion counter refused its use back (already 0: a broken count). Failing
            # the transition for it would leave the booking stuck in its status holding its units
            # forever; the transition goes through without that give-back and the drift is
            # reported, never hidden. At most two such rounds: each leaves out one more counter.
            skipped |= give_backs
            _report_skipped_give_back(booking, transition, give_backs)
            continue
        # A counter's condition failed although the booking's status held: the stored data
        # break an invariant. Never paper over it.
        raise RuntimeError(f"{transition.name} of {booking.booking_id} failed: {_describe(failures)}")
    raise TransactionConflict(f"{transition.name} of {booking.booking_id} kept conflicting")


def _failed_give_backs(failures: list[Failure]) -> frozenset[str]:
    """The labels of the promotion give-backs that refused, when they are all that failed."""
    give_backs = {promotion_usage.PROMOTION, promotion_usage.TRAVELER_USE}
    if all(f.label and f.label[0] in give_backs and f.code == "ConditionalCheckFailed" for f in failures):
        return frozenset(f.label[0] for f in failures)
    return frozenset()


def _report_skipped_give_back(booking: domain.Booking, transition: domain.Transition,
                              counters: frozenset[str]) -> None:
    count("PromotionGiveBackSkipped")
    logger.error("promotion use not given back: its counter is already 0", extra={
        "booking_id": booking.booking_id, "promo_code": booking.promo_code, "transition": transition.name,
        "counters": sorted(counters)})


def _describe(failures: list[Failure]) -> str:
    return ", ".join(f"{f.label}: {f.code}" for f in failures)


def _timeline(entries: tuple[domain.TimelineEntry, ...]) -> list[TimelineEntryAttribute]:
    return [TimelineEntryAttribute(at=e.at, status=e.status, event=e.event, by=e.by, note=e.note, amount=e.amount)
            for e in entries]


def _booking_actions(booking: domain.Booking, transition: domain.Transition, ledger_seq: int) -> list[Action]:
    last = transition.timeline[-1].at
    actions: list[Action] = [
        Booking.status.set(transition.to_status), Booking.updated_at.set(last),
        Booking.timeline.set(Booking.timeline.append(_timeline(transition.timeline))),
        Booking.ledger_seq.set(ledger_seq)]
    if transition.pending_until is None:
        actions += [Booking.pending.remove(), Booking.pending_until.remove()]
    else:
        actions += [Booking.pending.set(transition.pending_as or transition.to_status),
                    Booking.pending_until.set(transition.pending_until)]
    for name, value in transition.fields.items():
        attribute = getattr(Booking, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
        if name == "payment_lock" and value is None:
            actions.append(Booking.payment_lock_until.remove())
    return actions


def _condition(booking: domain.Booking, transition: domain.Transition) -> Any:
    # The ledger's sequence as read: every transition sets it, and an agent's refund may have
    # taken the next number since (refunds do not change the status).
    condition = (Booking.status == transition.from_status) & (Booking.ledger_seq == booking.ledger_seq)
    if transition.no_refund_in_flight:
        condition &= Booking.refunds_in_flight.does_not_exist()
    if transition.unexpired_at is not None:
        condition &= Booking.expires_at > transition.unexpired_at
    if transition.expired_at is not None:
        condition &= Booking.expires_at <= transition.expired_at
    if transition.lock is not None:
        condition &= Booking.payment_lock == transition.lock
    if transition.attempts == 0:
        condition &= Booking.attempt_ids.does_not_exist()
    elif transition.attempts is not None:
        condition &= size(Booking.attempt_ids) == transition.attempts  # sets only grow: same size, same set
    return condition


def _transaction(booking: domain.Booking, transition: domain.Transition, extras: tuple[Extra, ...],
                 announcement: vendor_events.Announcement | None,
                 skipped: frozenset[str] = frozenset()) -> LabelledTransaction:
    """`skipped`: promotion give-backs left out (see `apply`)."""
    t = LabelledTransaction()
    seq = booking.ledger_seq
    for move in transition.ledger:
        if move.amount == 0:
            continue  # a free booking: the ledger records money movements only
        seq += 1
        record = LedgerEntry(booking.booking_id, seq, at=transition.timeline[-1].at, kind=move.kind,
                             amount=move.amount, currency=booking.currency, actor=transition.timeline[-1].by or "",
                             reason=move.reason, provider_ref=move.provider_ref)
        # The booking's update is conditioned on its status, so two writers never take one seq.
        t.add(PUT, ("ledger", seq), lambda tx, r=record: tx.save(r, condition=LedgerEntry.seq.does_not_exist()))
    actions = _booking_actions(booking, transition, seq)
    if announcement is not None:
        # The vendors' events of this change, numbered by the booking's event sequence.
        actions.append(announcement.booking_action())
        for kind, label, operation in announcement.operations:
            t.add(kind, label, operation)
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=actions,
                                                     condition=_condition(booking, transition)))
    if transition.units:
        _units(t, booking, transition.units)
    if transition.hold_ended:
        t.add(UPDATE, ("active-holds",), lambda tx: tx.update(ActiveHolds(booking.traveler_id),
                                                               actions=[ActiveHolds.count.add(-1)]))
    if transition.promotion_released and booking.promo_code:
        # The use goes back with the transition itself: applied once, as the transition is.
        for label, operation in promotion_usage.give_back(booking.promo_code, booking.traveler_id):
            if label not in skipped:
                t.add(UPDATE, (label,), operation)
    for kind, label, operation in extras:
        t.add(kind, label, operation)
    return t


_UNIT_MOVES = {domain.SELL_HELD: reservations.sell_held_units, domain.RELEASE_HELD: reservations.release_held_units,
               domain.RELEASE_SOLD: reservations.release_sold_units}


def _units(t: LabelledTransaction, booking: domain.Booking, move: str) -> None:
    write = _UNIT_MOVES[move]
    for item in booking.items:
        for day in item.dates:
            t.add(UPDATE, ("day", item.listing_id, day),
                  lambda tx, item=item, day=day: write(tx, item.listing_id, day, item.quantity))

