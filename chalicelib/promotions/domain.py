"""Pure rules of promotions: which booked items a code applies to, how much it takes off and how
that discount is shared among the items, and why a code is refused.

No I/O: unit-tested without AWS. Amounts are integer minor units.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from ..core.errors import PromoInvalid

KINDS = ("flight", "hotel", "event", "service")
CODE_PATTERN = r"^[A-Za-z0-9_-]{3,40}$"
_CODE = re.compile(CODE_PATTERN)
# The smallest amount the payment provider charges, in minor units: Stripe refuses a charge below
# its minimum ("amount_too_small"; docs.stripe.com/currencies#minimum-and-maximum-charge-amounts),
# 0.50 in USD, EUR and the like, and 50 in zero-decimal JPY: 50 minor units either way. A discount
# never leaves a booking owing less than this (a free booking, owing 0, is never charged).
MIN_CHARGE = 50

# Why a code is refused: the `reason` of 422 PROMO_INVALID (details {"field": "promo_code", "reason"}).
NOT_FOUND, NOT_STARTED, EXPIRED, EXHAUSTED = "not_found", "not_started", "expired", "exhausted"
PER_TRAVELER_LIMIT, NOT_APPLICABLE, CURRENCY = "per_traveler_limit", "not_applicable", "currency"
REASONS = (NOT_FOUND, NOT_STARTED, EXPIRED, EXHAUSTED, PER_TRAVELER_LIMIT, NOT_APPLICABLE, CURRENCY)
_WORDS = {
    NOT_FOUND: "no promotion has this code",
    NOT_STARTED: "the promotion has not started yet",
    EXPIRED: "the promotion has ended",
    EXHAUSTED: "the promotion has been used as many times as it allows",
    PER_TRAVELER_LIMIT: "you have already used this code as many times as it allows",
    NOT_APPLICABLE: "the promotion does not apply to any item of this booking",
    CURRENCY: "the promotion's amount is in another currency than this booking",
}


def normalize_code(raw: str) -> str | None:
    """The stored form of a code (upper case), or None when it cannot be a code at all."""
    code = raw.strip()
    return code.upper() if _CODE.match(code) else None


def refused(reason: str, *, words: str | None = None, **details: object) -> PromoInvalid:
    """`words`: a more precise explanation than the reason's usual one."""
    assert reason in REASONS
    return PromoInvalid(f"This promotion code cannot be used: {words or _WORDS[reason]}.",
                        {"field": "promo_code", "reason": reason, **details})


@dataclass(frozen=True)
class Terms:
    """A promotion as the rules need it (read from storage by promotions.usage)."""
    code: str
    vendor_id: str | None  # a vendor's promotion: that vendor's listings only; None: an admin's
    percent_off: int | None
    amount_off: int | None
    currency: str | None  # of amount_off
    valid_from: int  # epoch seconds, inclusive
    valid_to: int  # epoch seconds, exclusive
    max_uses: int
    max_uses_per_traveler: int
    listing_id: str | None = None
    kind: str | None = None
    uses: int = 0
    owner: str = ""  # a vendor id, or "admin"
    created_at: str = ""

    def window_reason(self, now: float) -> str | None:
        """not_started / expired at `now`, or None while the promotion runs."""
        if now < self.valid_from:
            return NOT_STARTED
        if now >= self.valid_to:
            return EXPIRED
        return None

    def applies_to(self, line: "Line") -> bool:
        return ((self.vendor_id is None or line.vendor_id == self.vendor_id)
                and (self.listing_id is None or line.listing_id == self.listing_id)
                and (self.kind is None or line.kind == self.kind))


@dataclass(frozen=True)
class Line:
    """A booked item as a promotion sees it."""
    listing_id: str
    vendor_id: str
    kind: str
    amount: int


@dataclass(frozen=True)
class Discount:
    code: str
    amount: int  # taken off the booking
    shares: tuple[int, ...]  # per line, in the lines' order; they sum to `amount`


def discount(terms: Terms, lines: Sequence[Line], currency: str, now: float) -> Discount:
    """What `terms` take off a booking of `lines` priced in `currency` at `now`; raises 422
    PROMO_INVALID with the reason when the code cannot be used (the counters aside: uses as
    read are checked here, the transaction checks them again exactly)."""
    reason = terms.window_reason(int(now))  # whole seconds, as the transaction's condition
    if reason:
        raise refused(reason)
    if terms.uses >= terms.max_uses:
        raise refused(EXHAUSTED)
    eligible = [i for i, line in enumerate(lines) if terms.applies_to(line)]
    if not eligible:
        raise refused(NOT_APPLICABLE)
    if terms.amount_off is not None and terms.currency != currency:
        raise refused(CURRENCY, promotion_currency=terms.currency, booking_currency=currency)
    base = sum(lines[i].amount for i in eligible)
    if terms.percent_off is not None:
        off = base * terms.percent_off // 100  # floor: the traveler never gets more than the percent
    else:
        off = min(int(terms.amount_off or 0), base)
    off = chargeable(off, sum(line.amount for line in lines))
    if off == 0:
        # Nothing off (1% of 50 floors to 0, or any discount would leave less than the provider
        # charges): the code would spend a use for nothing, so it is refused and nothing is counted.
        raise refused(NOT_APPLICABLE, words="it would take nothing off this booking", discount=0)
    shares = [0] * len(lines)
    for i, share in zip(eligible, split(off, [lines[i].amount for i in eligible])):
        shares[i] = share
    return Discount(terms.code, off, tuple(shares))


def chargeable(off: int, total: int) -> int:
    """`off`, reduced (never increased) so that what is left of `total` to pay is 0 or at least
    MIN_CHARGE: a booking left owing 1-49 minor units could never be paid. 0 when no discount
    can leave a chargeable amount (the booking itself costs less than MIN_CHARGE)."""
    left = total - off
    if 0 < left < MIN_CHARGE:
        return max(0, total - MIN_CHARGE)
    return off


def split(total: int, amounts: Sequence[int]) -> list[int]:
    """`total` shared pro rata over `amounts` in whole minor units, summing to `total` exactly.

    Largest remainders: each share is the floor or the ceiling of its exact share, so no share
    ever exceeds its amount (0 <= total <= sum(amounts)), which "the remainder on the largest"
    could (2 over 1, 1, 1). Ties go to the larger amount, then the earlier item.
    """
    base = sum(amounts)
    if not 0 <= total <= base:
        raise ValueError(f"cannot share {total} over {base}")
    if total == 0:
        return [0] * len(amounts)
    shares = [total * a // base for a in amounts]
    left = total - sum(shares)
    order = sorted(range(len(amounts)), key=lambda i: (-(total * amounts[i] % base), -amounts[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


# -- creating ---------------------------------------------------------------------------------

def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def creation_errors(*, valid_to: float, now: float) -> dict[str, str]:
    """Rules of a new promotion that depend on the clock (the schema checks the rest)."""
    if valid_to <= now:
        return {"valid_to": "is in the past: the promotion could never be used"}
    return {}
