"""The webhook events a booking change announces to its vendors (API.md "Vendors").

Each event is written in the transaction of the change itself (notify.webhooks'
outbox), one per vendor with units in the booking, showing that vendor's view of the booking
as it is once the change is made, and numbered by the booking's `event_seq`: the booking's
update in the same transaction sets it, and that update is conditioned on what was read, so two
changes never take one number.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import domain
from .models import Booking
from .views import vendor_view


@dataclass(frozen=True)
class Announcement:
    sequence: int
    operations: list[Any]  # (kind, label, operation) for a LabelledTransaction
    streams: list[str]  # to dispatch once the transaction committed

    def booking_action(self) -> Any:
        return Booking.event_seq.set(self.sequence)

    def dispatch(self) -> None:
        from ..notify import outbox

        outbox.dispatch(self.streams)


def announce(after: domain.Booking, event_type: str, now: float, extra: dict[str, Any] | None = None) -> Announcement:
    """`after`: the booking as the transaction will leave it, its `event_seq` already the new one."""
    from ..notify import outbox  # loaded by the writers of booking changes only

    views = {vendor_id: vendor_view(after, vendor_id, now) for vendor_id in {i.vendor_id for i in after.items}}
    operations, streams = outbox.outbox_operations(booking_id=after.booking_id, event_type=event_type,
                                                   sequence=after.event_seq, views=views, now=now, extra=extra)
    return Announcement(after.event_seq, operations, streams)


def for_transition(booking: domain.Booking, transition: domain.Transition, now: float) -> Announcement | None:
    if transition.vendor_event is None:
        return None
    after = dataclasses.replace(booking.with_changes(transition), event_seq=booking.event_seq + 1)
    return announce(after, transition.vendor_event, now)


def next_number(booking: domain.Booking) -> domain.Booking:
    return dataclasses.replace(booking, event_seq=booking.event_seq + 1)
