"""A stored booking as the API shows it (the shape of GET /bookings/{id})."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..core import clock
from . import domain
from .domain import Booking

if TYPE_CHECKING:  # an annotation only: the workers present bookings without loading token checks
    from ..core.auth import Principal

STAFF = ("agents", "admins")


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: int | float | None, currency: str) -> dict[str, Any]:
    return {"amount": int(amount or 0), "currency": currency}


def _items(booking: Booking, vendor_id: str | None = None) -> list[dict[str, Any]]:
    currency = booking.currency
    items = []
    for item in booking.items:
        if vendor_id is not None and item.vendor_id != vendor_id:
            continue
        shown: dict[str, Any] = {"listing_id": item.listing_id, "kind": item.kind, "title": item.title,
                                 "vendor_id": item.vendor_id, "quantity": int(item.quantity),
                                 "amount": money(item.amount, currency),
                                 "cancellation_policy": {
                                     "free_until_hours": int(item.policy.free_until_hours),
                                     "refund_percent_after": int(item.policy.refund_percent_after)}}
        if item.discount:
            shown["discount"] = money(item.discount, currency)  # its share of the promotion's
        if item.date:
            shown["date"] = item.date
        else:
            shown["check_in"], shown["check_out"] = item.check_in, item.check_out
        items.append(shown)
    return items




def vendor_view(booking: Booking, vendor_id: str, now: float | None = None) -> dict[str, Any]:
    """A booking as one of its vendors sees it: only that vendor's items and their amount."""
    items = _items(booking, vendor_id)
    # What the vendor's items are paid: their prices less their shares of a promotion.
    paid = sum(item.paid for item in booking.items if item.vendor_id == vendor_id)
    view: dict[str, Any] = {
        "booking_id": booking.booking_id, "reference": booking.reference,
        "status": booking.effective_status(clock.now() if now is None else now),
        "items": items, "amount": money(paid, booking.currency),
        "created_at": booking.created_at}
    # A vendor learns who is coming once the booking is paid for, not from a lapsed or cancelled
    # hold (webhooks push this view to the vendor's own server).
    if booking.was_confirmed:
        view["contact"] = {k: v for k, v in (("email", booking.contact.email), ("name", booking.contact.name),
                                             ("phone", booking.contact.phone)) if v is not None}
    return view


def booking_view(booking: Booking, viewer: Principal | None = None, now: float | None = None) -> dict[str, Any]:
    now = clock.now() if now is None else now
    status = booking.effective_status(now)  # a lapsed hold reads EXPIRED before the sweeper runs
    currency = booking.currency
    items = _items(booking)
    timeline = []
    for entry in booking.timeline:
        shown = {k: v for k, v in (("at", entry.at), ("status", entry.status), ("event", entry.event),
                                   ("by", entry.by), ("note", entry.note)) if v is not None}
        if entry.amount is not None:
            shown["amount"] = money(entry.amount, currency)
        timeline.append(shown)
    captured, refunded = int(booking.captured_amount or 0), int(booking.refunded_amount or 0)
    is_staff = bool(viewer and viewer.has_any(STAFF))
    # Actions are the viewer's own: a vendor looking at a booking of its listing has none.
    is_owner = viewer is None or viewer.user_id == booking.traveler_id
    view: dict[str, Any] = {
        "booking_id": booking.booking_id, "reference": booking.reference, "status": status,
        "items": items,
        "contact": {k: v for k, v in (("email", booking.contact.email), ("name", booking.contact.name),
                                      ("phone", booking.contact.phone)) if v is not None},
        "amount": money(booking.amount, currency),
        "captured_amount": money(captured, currency), "refunded_amount": money(refunded, currency),
        "available_actions": domain.available_actions(
            status, expires_at=int(booking.expires_at), now=int(now), is_owner=is_owner,
            is_staff=is_staff, refundable=booking.refund_room,
            started=domain.has_started(booking.first_date, datetime.fromtimestamp(now, tz=timezone.utc))),
        "timeline": timeline, "created_at": booking.created_at,
    }
    if booking.promo_code is not None:
        view["discount"] = {"code": booking.promo_code, "amount": money(booking.discount, currency)}
    if status == domain.HELD:
        view["expires_at"] = iso(booking.expires_at)
    if status == domain.CANCELLING and booking.refund_quote is not None:
        view["refund_quote"] = money(booking.refund_quote, currency)
    return view
