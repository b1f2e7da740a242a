"""The building blocks every booking transition shares.

A transition is one transaction: the booking's status change (conditioned on the status it
leaves, so a duplicate message or a racing request changes nothing), the inventory counters,
the ledger entry and the traveler's active-hold counter, as the transition needs.
"""
from __future__ import annotations

from typing import Any

from pynamodb.expressions.update import Action

from ..inventory import reservations
from . import domain
from .models import ActiveHolds, Booking, LedgerEntry, TimelineEntryAttribute
from .transactions import PUT, UPDATE, LabelledTransaction
from .views import iso, iso_precise


def entry(at: float, *, status: str | None = None, event: str | None = None, by: str | None = None,
          note: str | None = None, amount: int | None = None) -> TimelineEntryAttribute:
    return TimelineEntryAttribute(at=iso_precise(at), status=status, event=event, by=by, note=note, amount=amount)


def move(booking: Booking, to: str, now: float, *, by: str, entries: list[TimelineEntryAttribute] | None = None,
         pending_until: int | None = None, extra: list[Action] | None = None) -> list[Action]:
    """Update actions moving `booking` to status `to`; also applies them to the local object so
    the caller can answer with the booking as stored."""
    assert domain.can_move(booking.status, to), (booking.status, to)
    timeline = entries if entries is not None else [entry(now, status=to, by=by)]
    actions = [Booking.status.set(to), Booking.updated_at.set(iso(now)),
               Booking.timeline.set(Booking.timeline.append(timeline))]
    if pending_until is None:
        actions += [Booking.pending.remove(), Booking.pending_until.remove()]
        booking.pending = booking.pending_until = None
    else:
        actions += [Booking.pending.set(to), Booking.pending_until.set(pending_until)]
        booking.pending, booking.pending_until = to, pending_until
    booking.status, booking.updated_at = to, iso(now)
    booking.timeline = list(booking.timeline) + timeline
    return actions + (extra or [])


def update_booking(t: LabelledTransaction, booking: Booking, actions: list[Action], from_status: str) -> None:
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=actions,
                                                     condition=Booking.status == from_status))


def release_units(t: LabelledTransaction, booking: Booking, *, sold: bool) -> None:
    """Give every (listing, date) of the booking back to sale: held units, or sold ones."""
    release = reservations.release_sold_units if sold else reservations.release_held_units
    for item in booking.items:
        for day in item.dates:
            t.add(UPDATE, ("day", item.listing_id, day),
                  lambda tx, item=item, day=day: release(tx, item.listing_id, day, int(item.quantity)))


def sell_units(t: LabelledTransaction, booking: Booking) -> None:
    for item in booking.items:
        for day in item.dates:
            t.add(UPDATE, ("day", item.listing_id, day),
                  lambda tx, item=item, day=day: reservations.sell_held_units(tx, item.listing_id, day,
                                                                             int(item.quantity)))


def hold_ended(t: LabelledTransaction, traveler_id: str) -> None:
    """The traveler has one live hold fewer (paid, cancelled or expired)."""
    t.add(UPDATE, ("active-holds",), lambda tx: tx.update(ActiveHolds(traveler_id),
                                                           actions=[ActiveHolds.count.add(-1)]))


def ledger(t: LabelledTransaction, booking: Booking, kind: str, amount: int, now: float, *, actor: str,
           reason: str | None = None, provider_ref: str | None = None) -> Action:
    """Append a ledger entry; returns the booking action that advances `ledger_seq` (the
    booking's update is conditioned on its status, so two writers never take the same seq)."""
    if amount == 0:
        # No money moves (a free booking): the ledger records money movements only.
        return Booking.ledger_seq.set(int(booking.ledger_seq or 0))
    seq = int(booking.ledger_seq or 0) + 1
    record = LedgerEntry(booking.booking_id, seq, at=iso(now), kind=kind, amount=amount,
                         currency=booking.currency, actor=actor, reason=reason, provider_ref=provider_ref)
    t.add(PUT, ("ledger", seq), lambda tx: tx.save(record, condition=LedgerEntry.seq.does_not_exist()))
    booking.ledger_seq = seq
    return Booking.ledger_seq.set(seq)


def failed_labels(failures: list[Any]) -> set[str]:
    return {f.label[0] for f in failures if f.label}
