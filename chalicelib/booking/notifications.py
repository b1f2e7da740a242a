"""The notification worker's use case: one email per booking event, sent once in the normal
case (at-least-once under failures: SES has no idempotency key)."""
from __future__ import annotations

from pynamodb.exceptions import UpdateError

from .. import notify  # its sender (templates and all) loads on first use: enqueuing needs none of it
from ..core import queues
from .models import Booking
from .records import to_domain
from .views import booking_view, money


def send_booking_event_email(booking_id: str, event: str, refund: int | None = None,
                             key: str | None = None) -> bool:
    """`key` names this email among the booking's (default: the event; refunds pass their own)."""
    try:
        booking = Booking.get(booking_id, consistent_read=True)
    except Booking.DoesNotExist:
        return False
    marker = key or event
    if marker in (booking.notified or []):
        return False  # a duplicate message: this email already went out
    notify.send_booking_email(event, booking_view(to_domain(booking)),
                              refund=money(refund, booking.currency) if refund is not None else None)
    try:
        booking.update(actions=[Booking.notified.set(Booking.notified.append([marker]))])
    except UpdateError:
        pass  # the email went out; at worst a redelivery sends it again
    return True


def enqueue_email(booking_id: str, event: str, refund: int | None = None, key: str | None = None) -> None:
    """Emails go through the notifications queue: a failed send is retried there, and the
    transition that triggered it is not redone."""
    message = {"type": "email", "event": event, "booking_id": booking_id, "key": key or event}
    if refund is not None:
        message["refund"] = refund
    queues.send(queues.NOTIFICATIONS, message)
