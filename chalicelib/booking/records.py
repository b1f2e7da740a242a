"""Between storage and the aggregate: a stored `models.Booking` read as a `domain.Booking`."""
from __future__ import annotations

from ..inventory.domain import CancellationPolicy
from . import domain
from .models import Booking as BookingRecord


def to_domain(record: BookingRecord) -> domain.Booking:
    return domain.Booking(
        booking_id=record.booking_id, reference=record.reference, traveler_id=record.traveler_id,
        contact=domain.Contact(record.contact.email, record.contact.name, record.contact.phone),
        status=record.status,
        items=tuple(domain.BookedItem(
            listing_id=item.listing_id, kind=item.kind, title=item.title, vendor_id=item.vendor_id,
            quantity=int(item.quantity), dates=tuple(item.dates), unit_prices=tuple(int(p) for p in item.unit_prices),
            amount=int(item.amount),
            policy=CancellationPolicy(int(item.policy.free_until_hours), int(item.policy.refund_percent_after)),
            date=item.date, check_in=item.check_in, check_out=item.check_out,
            discount=int(item.discount or 0)) for item in record.items),
        currency=record.currency, amount=int(record.amount), expires_at=int(record.expires_at),
        first_date=record.first_date, created_at=record.created_at, updated_at=record.updated_at,
        authorized_amount=int(record.authorized_amount or 0), captured_amount=int(record.captured_amount or 0),
        refunded_amount=int(record.refunded_amount or 0),
        refund_quote=None if record.refund_quote is None else int(record.refund_quote),
        payment_provider=record.payment_provider, payment_id=record.payment_id,
        payment_attempt=record.payment_attempt, attempt_ids=frozenset(record.attempt_ids or ()),
        payment_lock=record.payment_lock,
        pending_since=None if record.pending_since is None else int(record.pending_since),
        ledger_seq=int(record.ledger_seq or 0),
        refund_room=int(record.refund_room or 0), refunds_in_flight=frozenset(record.refunds_in_flight or ()),
        timeline=tuple(domain.TimelineEntry(e.at, e.status, e.event, e.by, e.note,
                                            None if e.amount is None else int(e.amount)) for e in record.timeline),
        notified=tuple(record.notified or ()), event_seq=int(record.event_seq or 0),
        promo_code=record.promo_code, discount=int(record.discount or 0))


def load(booking_id: str) -> domain.Booking | None:
    """One consistent GetItem."""
    try:
        return to_domain(BookingRecord.get(booking_id, consistent_read=True))
    except BookingRecord.DoesNotExist:
        return None
