"""Storage of the booking context.

- `Booking`: one item per booking with its items, money totals and timeline, so reading a
  booking is one GetItem. Every status change is a conditional write on `status`.
- `BookingReference`: makes the 6-character references unique.
- `VendorBooking`: one link per (vendor, booking), written with the hold, so a vendor lists
  its bookings with a query.
- `ActiveHolds`: a per-traveler counter of live holds, changed inside the same transactions
  that create and end holds, so the anti-hoarding limit is exact under concurrency.
- `LedgerEntry`: the append-only money ledger of a booking.
- `PaymentAttempt`: one per (booking, Idempotency-Key) that reached the provider, with what
  became of it; the booking keeps only the set of its attempt ids (at most 10).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import (ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute,
                                 UnicodeSetAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)


class PolicyAttribute(MapAttribute[str, Any]):
    free_until_hours = NumberAttribute()
    refund_percent_after = NumberAttribute()


class BookedItemAttribute(MapAttribute[str, Any]):
    listing_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    title = UnicodeAttribute()
    vendor_id = UnicodeAttribute()
    quantity = NumberAttribute()
    dates = ListAttribute(of=UnicodeAttribute)  # every (listing, date) whose units are held/sold
    unit_prices = ListAttribute(of=NumberAttribute)  # per date, minor units, as held
    date = UnicodeAttribute(null=True)  # flight, event, service
    check_in = UnicodeAttribute(null=True)  # hotel
    check_out = UnicodeAttribute(null=True)
    amount = NumberAttribute()  # the item's price: sum(unit_prices) * quantity
    discount = NumberAttribute(null=True)  # its share of a promotion's discount (paid: amount - this)
    policy = PolicyAttribute()  # the listing's cancellation policy when the booking was made


class TimelineEntryAttribute(MapAttribute[str, Any]):
    at = UnicodeAttribute()
    status = UnicodeAttribute(null=True)
    event = UnicodeAttribute(null=True)
    by = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    amount = NumberAttribute(null=True)


class ContactAttribute(MapAttribute[str, Any]):
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    phone = UnicodeAttribute(null=True)


class TravelerIndex(GlobalSecondaryIndex["Booking"]):
    class Meta:
        index_name = "by-traveler"
        projection = AllProjection()

    traveler_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ContactEmailIndex(GlobalSecondaryIndex["Booking"]):
    class Meta:
        index_name = "by-contact-email"
        projection = KeysOnlyProjection()

    contact_email = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class PendingIndex(GlobalSecondaryIndex["Booking"]):
    """Sparse: only bookings waiting on something (HELD until expiry, CONFIRMING / CANCELLING
    until their worker finishes) carry `pending`, so the sweeper queries just those, by deadline."""

    class Meta:
        index_name = "pending-by-deadline"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    pending_until = NumberAttribute(range_key=True)


class Booking(Model):
    class Meta:
        table_name = table_name("bookings")
        billing_mode = "PAY_PER_REQUEST"

    booking_id = UnicodeAttribute(hash_key=True)
    reference = UnicodeAttribute()
    traveler_id = UnicodeAttribute()
    contact = ContactAttribute()
    contact_email = UnicodeAttribute()
    status = UnicodeAttribute()
    items = ListAttribute(of=BookedItemAttribute)
    currency = UnicodeAttribute()
    amount = NumberAttribute()  # what is charged: the items' amounts less `discount`
    promo_code = UnicodeAttribute(null=True)  # the promotion code used (upper case)
    discount = NumberAttribute(null=True)  # what the promotion took off
    authorized_amount = NumberAttribute(default=0)
    captured_amount = NumberAttribute(default=0)
    refunded_amount = NumberAttribute(default=0)
    refund_quote = NumberAttribute(null=True)  # what the pending cancellation will refund
    payment_provider = UnicodeAttribute(null=True)
    payment_id = UnicodeAttribute(null=True)
    # The attempt in flight (its id): a request of another attempt waits instead of paying twice.
    payment_lock = UnicodeAttribute(null=True)
    payment_lock_until = NumberAttribute(null=True)
    # Every attempt that took the lock (at most 10, a set: retries never grow it). Taking the
    # lock adds the id before the provider is called, so cleanup can always find the attempt's
    # payment again by its provider key, even if the process died right after authorizing.
    attempt_ids = UnicodeSetAttribute(null=True)
    payment_attempt = UnicodeAttribute(null=True)  # the attempt the booking kept
    pending_since = NumberAttribute(null=True)  # when it became CONFIRMING / CANCELLING
    expires_at = NumberAttribute()  # epoch seconds; meaningful while HELD
    # = status while HELD / CONFIRMING / CANCELLING; CLEANUP while unkept authorizations remain
    pending = UnicodeAttribute(null=True)
    pending_until = NumberAttribute(null=True)  # hold expiry, or when to re-send a worker message
    first_date = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    ledger_seq = NumberAttribute(default=0)
    # What agents may still refund: captured - refunded - refunds in flight. Kept as its own
    # attribute because a condition cannot add: a refund is reserved iff `refund_room >= amount`.
    refund_room = NumberAttribute(null=True)
    # Refunds reserved and not yet recorded (their keys): a cancellation waits until it is empty.
    refunds_in_flight = UnicodeSetAttribute(null=True)
    notified = ListAttribute(of=UnicodeAttribute, default=list)  # emails already sent
    event_seq = NumberAttribute(null=True)  # the last vendor webhook event's sequence (booking.vendor_events)
    timeline = ListAttribute(of=TimelineEntryAttribute, default=list)

    by_traveler = TravelerIndex()
    by_contact_email = ContactEmailIndex()
    by_pending = PendingIndex()


class BookingReference(Model):
    """Claims a reference for one booking (put with attribute_not_exists in the hold's
    transaction): references are unique, and support finds a booking by one with a GetItem."""

    class Meta:
        table_name = table_name("booking-references")
        billing_mode = "PAY_PER_REQUEST"

    reference = UnicodeAttribute(hash_key=True)
    booking_id = UnicodeAttribute()


class VendorBooking(Model):
    class Meta:
        table_name = table_name("vendor-bookings")
        billing_mode = "PAY_PER_REQUEST"

    vendor_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)  # first_date#booking_id: date ranges are key ranges
    booking_id = UnicodeAttribute()


class ActiveHolds(Model):
    class Meta:
        table_name = table_name("active-holds")
        billing_mode = "PAY_PER_REQUEST"

    traveler_id = UnicodeAttribute(hash_key=True)
    count = NumberAttribute(default=0)


class LedgerEntry(Model):
    """Append-only: entries are put with attribute_not_exists and never updated."""

    class Meta:
        table_name = table_name("ledger")
        billing_mode = "PAY_PER_REQUEST"

    booking_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    at = UnicodeAttribute()
    kind = UnicodeAttribute()  # authorization | capture | void | refund
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    actor = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    provider_ref = UnicodeAttribute(null=True)


class PaymentAttempt(Model):
    """What became of one payment attempt (written with its outcome, in the same transaction
    as the booking's change). Never holds the payment method: a hash of it."""

    class Meta:
        table_name = table_name("payment-attempts")
        billing_mode = "PAY_PER_REQUEST"

    booking_id = UnicodeAttribute(hash_key=True)
    attempt_id = UnicodeAttribute(range_key=True)
    outcome = UnicodeAttribute()  # authorized | declined | voided
    method_hash = UnicodeAttribute()
    payment_id = UnicodeAttribute(null=True)
    decline_reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class RefundPendingIndex(GlobalSecondaryIndex["RefundRecord"]):
    """Sparse: refunds not yet final (RESERVED: the provider's answer was not recorded; PENDING:
    the provider settles later) or not yet reported to the agents (REPORT), so the sweeper finds
    the ones left behind by their deadline."""

    class Meta:
        index_name = "refunds-pending"
        projection = AllProjection()

    pending = UnicodeAttribute(hash_key=True)
    pending_until = NumberAttribute(range_key=True)


class RefundProviderIndex(GlobalSecondaryIndex["RefundRecord"]):
    """The provider's refund id -> our refund: its later events (Stripe's refund.updated) find it."""

    class Meta:
        index_name = "refunds-by-provider-id"
        projection = KeysOnlyProjection()

    provider_refund_id = UnicodeAttribute(hash_key=True)


class RefundRecord(Model):
    """One agent refund of a booking, keyed by (booking, request): RESERVED when its amount is
    taken from the booking's refund room, then SUCCEEDED or PENDING once the provider answered
    (the ledger entry is written then), FAILED if the provider refused or later failed it. A
    cancellation's refund the provider reported pending has one too (refund_key "cancellation"),
    so its later failure is reversed the same way."""

    class Meta:
        table_name = table_name("refunds")
        billing_mode = "PAY_PER_REQUEST"

    booking_id = UnicodeAttribute(hash_key=True)
    refund_key = UnicodeAttribute(range_key=True)  # derived from the agent and the Idempotency-Key
    request_key = UnicodeAttribute()  # the request's idempotency record: whoever records it answers it
    request_hash = UnicodeAttribute()
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    reason = UnicodeAttribute()
    actor = UnicodeAttribute()  # the agent's user id
    status = UnicodeAttribute()
    provider_refund_id = UnicodeAttribute(null=True)
    ledger_seq = NumberAttribute(null=True)  # its ledger entry, once recorded
    failure = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    pending = UnicodeAttribute(null=True)  # = status while RESERVED / PENDING; REPORT: see `report`
    pending_until = NumberAttribute(null=True)
    # What the agents' queue must still be told about this refund ("reversed", "refused"): set in
    # the transaction that decided it, cleared once the case exists (a crash in between loses
    # nothing: the sweeper finds it by `pending` = REPORT).
    report = UnicodeAttribute(null=True)

    by_pending = RefundPendingIndex()
    by_provider_id = RefundProviderIndex()


class AuditEntry(Model):
    """Append-only: what staff did to a booking (money movements are in the ledger)."""

    class Meta:
        table_name = table_name("audit")
        billing_mode = "PAY_PER_REQUEST"

    booking_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)  # <at>#<random>: in time order
    at = UnicodeAttribute()
    actor = UnicodeAttribute()  # "agent:<user id>", "admin:<user id>"
    action = UnicodeAttribute()  # cancel | refund_requested | ...
    amount = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)


def all_models() -> list[type[Model]]:
    return [Booking, BookingReference, VendorBooking, ActiveHolds, LedgerEntry, PaymentAttempt, RefundRecord,
            AuditEntry]
