"""Placing a hold: the birth of a booking.

One TransactWriteItems, all or nothing: the `held` increment of every (listing, date), a
check that each listing's `version` is still the quoted one, the booking, its reference, its
vendor links, the traveler's active-hold counter, the traveler's per-minute attempt counter
(core.rate_limits) and the idempotency record of the request; with a promotion code, the
code's use counter and the traveler's (promotions.usage), so a code's maximum holds under any
concurrency. A code costs one GetItem before the transaction (its terms price the booking).
With the quote cache warm that is the only round trip. The items are counted before sending
(`hold_transaction_size`): DynamoDB takes at most 100, and a trip needing more is a 400.

A replay (same Idempotency-Key, same body) gets the first answer back even when the request
would now be refused (its date has passed, a listing changed, sold out): the record is read
only when validation, quoting or the transaction refuses the request, so a first request
pays no extra round trip for it.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..core import clock, idempotency, rate_limits
from ..core.auth import Principal
from ..core.config import settings
from ..core.errors import (PromoInvalid, RateLimited, RequestInProgress, ServiceUnavailable, SoldOut,
                           ValidationError)
from ..core.observability import count, logger
from ..inventory import reservations
from ..inventory.domain import MAX_STAY_NIGHTS, earliest_today, nights
from ..promotions import domain as promotions
from ..promotions import usage as promotion_usage
from . import domain
from .models import (ActiveHolds, BookedItemAttribute, Booking, BookingReference,
                     ContactAttribute, PolicyAttribute, TimelineEntryAttribute, VendorBooking)
from .transactions import CHECK, PUT, UPDATE, LabelledTransaction
from .domain import Booking as DomainBooking
from .records import to_domain
from .views import booking_view

if TYPE_CHECKING:  # the route passes either; the plain one keeps pydantic off a hold's cold start
    from .hold_plain import PlainHold, PlainHoldItem
    from .schemas import HoldItemIn, HoldRequest

MAX_ATTEMPTS = 4
TRANSACTION_MAX_ITEMS = 100  # DynamoDB's limit for one TransactWriteItems (DESIGN pitfall 14)
# Items of a hold besides its counters, listing checks and vendor links: the booking, its
# reference, the idempotency record and the traveler's active-holds counter.
HOLD_OWN_ITEMS = 4
# With a promotion code: the code's use counter and the traveler's (promotions.usage.take).
PROMOTION_ITEMS = 2
# A first bound, checked before quoting so that a huge trip is refused without reading anything.
# The exact count needs each listing's vendor, so it is checked after quoting (_check_size).
MAX_HELD_DATES = 80


@dataclass(frozen=True)
class WantedItem:
    index: int
    listing_id: str
    quantity: int
    dates: list[str]
    item: HoldItemIn | PlainHoldItem


def _wanted(request: HoldRequest | PlainHold, today: date) -> list[WantedItem]:
    """Validate the shape of each item and expand it to the dates whose units it needs."""
    limit = settings().max_units_per_item
    errors: dict[str, str] = {}
    wanted, seen = [], set()
    for i, item in enumerate(request.items):
        if item.quantity > limit:
            errors[f"items.{i}.quantity"] = f"must be at most {limit} units per item"
        if item.date is not None:
            days = [item.date]
            if item.date < today:
                errors[f"items.{i}.date"] = "is in the past"
        else:
            assert item.check_in is not None and item.check_out is not None
            days = nights(item.check_in, item.check_out)
            if item.check_out <= item.check_in:
                errors[f"items.{i}.check_out"] = "must be after check_in"
            elif len(days) > MAX_STAY_NIGHTS:
                errors[f"items.{i}.check_out"] = f"a stay is at most {MAX_STAY_NIGHTS} nights"
            if item.check_in < today:
                errors[f"items.{i}.check_in"] = "is in the past"
        for day in days:
            if (item.listing_id, day) in seen:
                errors[f"items.{i}"] = "books a date of a listing that another item already books"
            seen.add((item.listing_id, day))
        wanted.append(WantedItem(i, item.listing_id, item.quantity, [d.isoformat() for d in days], item))
    if not errors and len(seen) > MAX_HELD_DATES:
        errors["items"] = (f"a booking holds at most {MAX_HELD_DATES} (listing, date) pairs; this one "
                           f"needs {len(seen)}: split the trip")
    if errors:
        raise ValidationError.for_fields(errors)
    return wanted


@dataclass(frozen=True)
class HoldTransactionSize:
    dates: int  # one `held` update per (listing, date)
    listings: int  # one `version` condition check per listing
    vendors: int  # one vendor link per vendor
    promotion: int = 0  # PROMOTION_ITEMS with a promotion code

    @property
    def items(self) -> int:
        return self.dates + self.listings + self.vendors + HOLD_OWN_ITEMS + self.promotion


def hold_transaction_size(dates_by_listing: Mapping[str, Sequence[str]],
                          vendor_of: Mapping[str, str], *, promotion: bool = False) -> HoldTransactionSize:
    """What `_transaction` will send for these {listing: [dates]} and {listing: vendor}, with a
    promotion code or not. Pure."""
    return HoldTransactionSize(dates=sum(len(dates) for dates in dates_by_listing.values()),
                               listings=len(dates_by_listing),
                               vendors=len({vendor_of[listing_id] for listing_id in dates_by_listing}),
                               promotion=PROMOTION_ITEMS if promotion else 0)


def _check_size(dates_by_listing: dict[str, list[str]],
                quotes: dict[str, reservations.Quote], promotion: bool = False) -> HoldTransactionSize:
    """400 naming `items` for a trip whose transaction would exceed DynamoDB's 100 items."""
    vendor_of: dict[str, str] = {}
    for listing_id in dates_by_listing:
        listing = quotes[listing_id].listing
        assert listing is not None  # _check_quotes refused missing listings
        vendor_of[listing_id] = listing.vendor_id
    size = hold_transaction_size(dates_by_listing, vendor_of, promotion=promotion)
    if size.items > TRANSACTION_MAX_ITEMS:
        code = f", {size.promotion} for the promotion code" if size.promotion else ""
        raise ValidationError.for_fields({"items": (
            f"a booking is written as one transaction of at most {TRANSACTION_MAX_ITEMS} items; this "
            f"trip needs {size.items} ({size.dates} dates, {size.listings} listings, {size.vendors} "
            f"vendors{code} and {HOLD_OWN_ITEMS} for the booking itself): split the trip")})
    return size


def _dates_by_listing(wanted: list[WantedItem]) -> dict[str, list[str]]:
    """Every date each listing is needed on, across items (two flights on one listing)."""
    by_listing: dict[str, list[str]] = {}
    for w in wanted:
        by_listing.setdefault(w.listing_id, []).extend(w.dates)
    return by_listing


def _check_quotes(wanted: list[WantedItem], quotes: dict[str, reservations.Quote]) -> str:
    """Listings exist, fit the item's shape and share one currency; every date is on sale."""
    errors: dict[str, str] = {}
    currencies = set()
    for w in wanted:
        listing = quotes[w.listing_id].listing
        if listing is None:
            errors[f"items.{w.index}.listing_id"] = "no such listing"
            continue
        is_stay = w.item.check_in is not None
        if (listing.kind == "hotel") != is_stay:
            field = f"items.{w.index}.date" if listing.kind == "hotel" else f"items.{w.index}.check_in"
            errors[field] = ("a hotel is booked with check_in and check_out" if listing.kind == "hotel"
                             else f"a {listing.kind} is booked with `date`")
        currencies.add(listing.currency)
    if errors:
        raise ValidationError.for_fields(errors)
    if len(currencies) > 1:
        raise ValidationError.for_fields({"items": "all items of a booking must be priced in one currency"})
    unpriced = [(w, d) for w in wanted for d in w.dates if quotes[w.listing_id].prices.get(d) is None]
    if unpriced:
        raise _sold_out([(w.index, w.listing_id, d, 0) for w, d in unpriced])
    return currencies.pop()


def _sold_out(shortages: list[tuple[int, str, str, int]]) -> SoldOut:
    count("SoldOut")
    by_item: dict[int, dict[str, Any]] = {}
    for index, listing_id, day, available in shortages:
        entry = by_item.setdefault(index, {"item": index, "listing_id": listing_id, "dates": []})
        entry["dates"].append({"date": day, "available": available})
    return SoldOut("Not enough availability for these dates; nothing was held.",
                   {"items": [by_item[i] for i in sorted(by_item)]})


def _new_booking(user: Principal, request: HoldRequest | PlainHold, wanted: list[WantedItem],
                 quotes: dict[str, reservations.Quote], currency: str, now: float,
                 promotion: promotions.Terms | None = None) -> Booking:
    """The HELD booking; with `promotion`, its discount (422 PROMO_INVALID when the code does
    not apply to this trip) shared among the items it applies to."""
    items, total = [], 0
    for w in wanted:
        quote = quotes[w.listing_id]
        listing = quote.listing
        assert listing is not None
        prices = [int(quote.prices[d] or 0) for d in w.dates]
        amount = sum(prices) * w.quantity
        total += amount
        items.append(BookedItemAttribute(
            listing_id=w.listing_id, kind=listing.kind, title=listing.title, vendor_id=listing.vendor_id,
            quantity=w.quantity, dates=w.dates, unit_prices=prices,
            date=w.item.date.isoformat() if w.item.date else None,
            check_in=w.item.check_in.isoformat() if w.item.check_in else None,
            check_out=w.item.check_out.isoformat() if w.item.check_out else None,
            amount=amount, policy=PolicyAttribute(free_until_hours=listing.policy.free_until_hours,
                                                  refund_percent_after=listing.policy.refund_percent_after)))
    discount = None
    if promotion is not None:
        discount = promotions.discount(
            promotion, [promotions.Line(i.listing_id, i.vendor_id, i.kind, int(i.amount)) for i in items],
            currency, now)
        for item, share in zip(items, discount.shares):
            item.discount = share or None
    created = domain.stamp(now)
    expires_at = int(now) + settings().hold_seconds
    contact = request.contact
    return Booking(
        domain.new_booking_id(), reference=domain.new_reference(), traveler_id=user.user_id,
        contact=ContactAttribute(email=contact.email, name=contact.name, phone=contact.phone),
        contact_email=contact.email, status=domain.HELD, items=items, currency=currency,
        amount=total - (discount.amount if discount else 0),
        promo_code=discount.code if discount else None, discount=discount.amount if discount else None,
        expires_at=expires_at, pending=domain.HELD, pending_until=expires_at, first_date=min(d for w in wanted for d in w.dates),
        created_at=created, updated_at=created,
        timeline=[TimelineEntryAttribute(at=created, status=domain.HELD, by="traveler")])


def _transaction(booking: Booking, wanted: list[WantedItem], quotes: dict[str, reservations.Quote],
                 key: str, request_hash: str, response: dict[str, Any], now: float,
                 attempt: rate_limits.Attempt | None = None,
                 promotion: promotions.Terms | None = None) -> LabelledTransaction:
    """The hold's one transaction; `hold_transaction_size` counts these items (keep them in step).

    `attempt`: the traveler's per-minute attempt counter rides along as one more item (see
    `_place_hold`); it is not in `hold_transaction_size`, which sizes the trip itself.
    `promotion`: the code's two use counters (labels "promotion", "promotion-use").
    """
    t = LabelledTransaction()
    if attempt is not None:
        t.add(UPDATE, ("attempts",), attempt.add_to)
    if promotion is not None:
        for label, operation in promotion_usage.take(promotion, booking.traveler_id, now):
            t.add(UPDATE, (label,), operation)
    for listing_id in {w.listing_id for w in wanted}:
        snapshot = quotes[listing_id].listing
        t.add(CHECK, ("listing", listing_id), lambda tx, s=snapshot: reservations.check_listing_unchanged(tx, s))
    t.add(PUT, ("booking",), lambda tx: tx.save(booking, condition=Booking.booking_id.does_not_exist()))
    t.add(PUT, ("reference",), lambda tx: tx.save(
        BookingReference(booking.reference, booking_id=booking.booking_id),
        condition=BookingReference.reference.does_not_exist()))
    for vendor_id in sorted({item.vendor_id for item in booking.items}):
        link = VendorBooking(vendor_id, f"{booking.first_date}#{booking.booking_id}", booking_id=booking.booking_id)
        t.add(PUT, ("vendor",), lambda tx, link=link: tx.save(link))
    t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, key, request_hash, 201, response, now))
    for w in wanted:
        for day in w.dates:
            price = int(quotes[w.listing_id].prices[day] or 0)
            t.add(UPDATE, ("day", w.index, w.listing_id, day, price),
                  lambda tx, w=w, day=day, price=price: reservations.hold_units(tx, w.listing_id, day, w.quantity, price))
    limit = settings().max_active_holds
    t.add(UPDATE, ("active-holds",), lambda tx: tx.update(
        ActiveHolds(booking.traveler_id), actions=[ActiveHolds.count.add(1)],
        condition=ActiveHolds.count.does_not_exist() | (ActiveHolds.count < limit)))
    return t


def place_hold(user: Principal, request: HoldRequest | PlainHold, idempotency_key: str,
               now: float | None = None) -> "DomainBooking | idempotency.Replay":
    """POST /holds: the new HELD booking, or the key's first answer again.

    When the request is refused before or by its transaction (400, 409 SOLD_OUT, 422 promo),
    a stored first answer for the same key and body is returned instead (422
    IDEMPOTENCY_KEY_REUSED for another body): a replay is answered even after its date passed.
    """
    now = clock.now() if now is None else now
    key = idempotency.record_key("holds", user.user_id, idempotency_key)
    # The body only: nothing that changes with time, so a replay days later still matches.
    request_hash = domain.fingerprint("POST /holds", request.model_dump(mode="json"))
    # Every attempt counts against the traveler's per-minute limit, refused ones too (400,
    # SOLD_OUT, the active-holds 429), but not a replay nor a duplicate still in progress
    # (409 REQUEST_IN_PROGRESS): they are no new work. A placed hold is counted inside its own
    # transaction; a refused one on its own below, and over the limit it is a 429 instead.
    attempt = rate_limits.hold_attempt(user.user_id, now)
    try:
        return _place_hold(user, request, key, request_hash, now, attempt)
    except rate_limits.AttemptsExceeded:
        raise
    except (ValidationError, SoldOut, PromoInvalid):
        previous = idempotency.replay(key, request_hash)
        if previous is None:
            attempt.count()
            raise
        attempt.give_back()  # counted before a transaction too large to carry the counter
        logger.info("hold replayed after its request was refused", extra={"status": previous.status})
        return previous
    except RateLimited:
        attempt.count()  # the active-holds limit refused it: still an attempt
        raise


def _place_hold(user: Principal, request: HoldRequest | PlainHold, key: str, request_hash: str,
                now: float, attempt: rate_limits.Attempt) -> "DomainBooking | idempotency.Replay":
    wanted = _wanted(request, earliest_today(datetime.fromtimestamp(now, tz=timezone.utc)))
    # Read once: the counters are checked exactly by the transaction, not by this read.
    promotion = promotion_usage.load(request.promo_code) if request.promo_code is not None else None
    dates_by_listing = _dates_by_listing(wanted)
    for round_ in range(MAX_ATTEMPTS):
        quotes = reservations.quote(dates_by_listing)
        currency = _check_quotes(wanted, quotes)
        size = _check_size(dates_by_listing, quotes, promotion is not None)
        # The attempt counter is one more item of the transaction, so a placed hold stays one
        # round trip. A trip already at DynamoDB's 100 items has no room for it: that (rare)
        # hold counts its attempt first, on its own, rather than shrinking the largest trip.
        in_transaction = size.items < TRANSACTION_MAX_ITEMS
        if not in_transaction:
            try:
                attempt.count()
            except rate_limits.AttemptsExceeded:
                previous = idempotency.replay(key, request_hash)  # a replay is answered over the limit
                if previous is None:
                    raise
                return previous
        booking = _new_booking(user, request, wanted, quotes, currency, now, promotion)
        held = to_domain(booking)
        response = booking_view(held, user, now)
        failures = _transaction(booking, wanted, quotes, key, request_hash, response, now,
                                attempt if in_transaction else None, promotion).commit()
        if not failures:
            attempt.counted = True
            count("HoldsPlaced")
            logger.info("hold placed", extra={"booking_id": booking.booking_id, "amount": booking.amount})
            return held
        labels = {f.label[0] if f.label else None for f in failures}
        if "idempotency" in labels:
            attempt.give_back()  # only ever counted before a transaction too large to carry it
            previous = idempotency.replay(key, request_hash)
            if previous is not None:
                return previous
            raise RequestInProgress("A request with this Idempotency-Key is still running.")
        if any(f.code == "TransactionConflict" for f in failures):
            time.sleep(random.uniform(0.01, 0.05) * (round_ + 1))  # another writer on the same item
            continue
        if "attempts" in labels:
            raise attempt.exceeded()
        if "active-holds" in labels:
            count("HoldsRateLimited")
            raise RateLimited(f"You already have {settings().max_active_holds} active holds; pay for or "
                              "cancel one first.", {"max_active_holds": settings().max_active_holds},
                              headers={"Retry-After": "60"})
        if promotion is not None and promotion_usage.PROMOTION in labels:
            # Its last use went to another hold, or it ended since it was read.
            count("PromotionsRefused")
            raise promotions.refused(promotion_usage.refusal_reason(promotion.code, now))
        if promotion is not None and promotion_usage.TRAVELER_USE in labels:
            count("PromotionsRefused")
            raise promotions.refused(promotions.PER_TRAVELER_LIMIT)
        shortages, stale = [], False
        for f in failures:
            if f.label and f.label[0] == "day":
                _, index, listing_id, day, price = f.label
                # No item: the date was never on sale. Else a changed price means a stale quote.
                _, _, available, current_price = (reservations.describe_shortage(f.item) if f.item
                                                  else (listing_id, day, 0, price))
                if current_price != price:
                    stale = True
                else:
                    shortages.append((index, listing_id, day, available))
            elif f.label and f.label[0] == "listing":
                stale = True
        if shortages and not stale:
            raise _sold_out(shortages)
        if stale or "reference" in labels or "booking" in labels:
            reservations.forget({w.listing_id for w in wanted})
            continue
        raise RuntimeError(f"hold transaction failed: {failures}")
    # Conflicting writers every round: nothing was written, so "busy, retry" (not 409, which says
    # this key's first request is still running).
    raise ServiceUnavailable("Availability is changing quickly; retry with the same Idempotency-Key.",
                             headers={"Retry-After": "1"})
