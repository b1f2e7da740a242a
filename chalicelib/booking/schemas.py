"""Request and response shapes of the booking routes (API.md "Holds and bookings")."""
from __future__ import annotations

import datetime as dt

from pydantic import Field, StrictInt, model_validator

from ..core.errors import FieldError
from ..core.schemas import Cursor, Email, Input, IsoDate, Limit, Money, Output, Page, Policy, Query
from .domain import STATUSES
from .hold_plain import LISTING_ID_PATTERN, MAX_ITEM_QUANTITY, MAX_ITEMS, MAX_NAME, MAX_PROMO_CODE, PHONE_PATTERN


class HoldItemIn(Input):
    listing_id: str = Field(pattern=f"^{LISTING_ID_PATTERN}$")
    quantity: StrictInt = Field(ge=1, le=MAX_ITEM_QUANTITY, description="Units (seats, rooms, tickets); at most 10 by default")
    date: dt.date | None = Field(default=None, description="Flight, event or service date")
    check_in: dt.date | None = Field(default=None, description="Hotel: first night")
    check_out: dt.date | None = Field(default=None, description="Hotel: departure day (not a night)")

    @model_validator(mode="after")
    def _one_shape(self) -> "HoldItemIn":
        if self.date is None and (self.check_in is None or self.check_out is None):
            if self.check_in is None and self.check_out is None:
                raise ValueError("give `date` (flight, event, service) or `check_in` and `check_out` (hotel)")
            raise ValueError("a hotel stay needs both `check_in` and `check_out`")
        if self.date is not None and (self.check_in is not None or self.check_out is not None):
            raise ValueError("give either `date` or `check_in`/`check_out`, not both")
        return self


class ContactIn(Input):
    email: Email
    name: str = Field(min_length=1, max_length=MAX_NAME)
    phone: str | None = Field(default=None, pattern=f"^{PHONE_PATTERN}$")


class HoldRequest(Input):
    items: list[HoldItemIn] = Field(min_length=1, max_length=MAX_ITEMS)
    contact: ContactIn
    promo_code: str | None = Field(default=None, min_length=1, max_length=MAX_PROMO_CODE,
                                   description="A promotion code (any case); refused with 422 PROMO_INVALID "
                                               "and its reason")


class PaymentRequest(Input):
    payment_method: str = Field(min_length=1, max_length=255,
                                description="A payment provider token (e.g. Stripe's tok_visa); never card data")


class CancelRequest(Input):
    reason: str | None = Field(default=None, max_length=500)


class RefundRequest(Input):
    amount: StrictInt = Field(gt=0, le=100_000_000, description="Minor units, in the booking's currency")
    reason: str = Field(min_length=1, max_length=500, description="Why: shown in the timeline and the audit")


class RefundOut(Output):
    refund_id: str
    amount: Money
    status: str = Field(description="SUCCEEDED, or PENDING until the payment provider settles it")


class AuditEntryOut(Output):
    at: str
    actor: str = Field(description="Who: agent:<id>, admin:<id>, traveler, a worker or the payment provider")
    action: str = Field(description="A money movement (authorization, capture, void, refund, refund_reversal) "
                                    "or a staff action (cancel, refund_requested), or refund_room_aligned: "
                                    "the refundable amount brought down to what the payment provider has "
                                    "left (money refunded outside Itinera)")
    amount: Money | None = None
    reason: str | None = None


class AuditOut(Output):
    booking_id: str
    entries: list[AuditEntryOut]


class BookingItemOut(Output):
    listing_id: str
    kind: str
    title: str
    vendor_id: str
    quantity: int
    date: str | None = None
    check_in: str | None = None
    check_out: str | None = None
    amount: Money = Field(description="The item's price")
    discount: Money | None = Field(default=None, description="The item's share of the booking's promotion "
                                                             "discount: it is paid `amount` less this")
    cancellation_policy: Policy


class DiscountOut(Output):
    code: str = Field(description="The promotion code, in upper case")
    amount: Money = Field(description="Taken off the items' total; `amount` of the booking is what is charged")


class ContactOut(Output):
    email: str
    name: str
    phone: str | None = None


class TimelineEntry(Output):
    at: str
    status: str | None = None
    event: str | None = None
    by: str | None = None
    note: str | None = None
    amount: Money | None = None


class BookingOut(Output):
    booking_id: str
    reference: str
    status: str
    items: list[BookingItemOut]
    contact: ContactOut
    amount: Money = Field(description="What is charged: the items' amounts less `discount`")
    discount: DiscountOut | None = Field(default=None, description="When a promotion code was used")
    captured_amount: Money
    refunded_amount: Money
    expires_at: str | None = Field(default=None, description="While HELD: when the hold lapses")
    refund_quote: Money | None = Field(default=None, description="While CANCELLING: the refund on its way")
    available_actions: list[str]
    timeline: list[TimelineEntry]
    created_at: str


class BookingPage(Page):
    bookings: list[BookingOut]


class VendorBookingOut(Output):
    booking_id: str
    reference: str
    status: str
    items: list[BookingItemOut] = Field(description="This vendor's items only")
    amount: Money = Field(description="What this vendor's items are paid (less their shares of a promotion)")
    contact: ContactOut | None = Field(default=None, description="Once the booking is paid for")
    created_at: str


class VendorBookingPage(Page):
    bookings: list[VendorBookingOut]


class MyBookingsQuery(Query):
    status: str | None = Field(default=None, pattern="^(" + "|".join(STATUSES) + ")$")
    limit: Limit = 20
    cursor: Cursor | None = None


class AgentBookingsQuery(Query):
    """Exactly one of `reference` (any case) and `email` (the booking's contact email)."""
    reference: str | None = Field(default=None, min_length=1, max_length=20, pattern=r"^[A-Za-z0-9]+$")
    email: Email | None = None
    limit: Limit = 20
    cursor: Cursor | None = None

    @model_validator(mode="after")
    def _one_key(self) -> "AgentBookingsQuery":
        if (self.reference is None) == (self.email is None):
            raise FieldError("give either `reference` or `email`", "email" if self.email else "reference")
        return self


class VendorBookingsQuery(Query):
    # IsoDate: only YYYY-MM-DD, as documented (plain dt.date also took `to=0` as 1970-01-01).
    from_: IsoDate | None = Field(default=None, alias="from")
    to: IsoDate | None = None
    status: str | None = Field(default=None, pattern="^(" + "|".join(STATUSES) + ")$")
    limit: Limit = 20
    cursor: Cursor | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "VendorBookingsQuery":
        if self.from_ and self.to and self.to < self.from_:
            raise FieldError("must not be before `from`", "to")
        return self


class CancellationQuote(Output):
    refund: Money
    policy: str = Field(description="The policy that applies, in words")
    valid_until: str | None = Field(description="When this quote changes (a free-cancellation deadline)")
