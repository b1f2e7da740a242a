"""The waitlist's rules, in one place. Plain data and pure functions, no I/O.

An entry is WAITING until units come free on its dates. Offering it takes a short claim
(OFFERING) so that leaving and offering exclude each other and two workers never offer one
entry at once; the claim ends as OFFERED (a HELD booking was placed for the traveler), or back
to WAITING with its place in line kept (still sold out, the traveler at their hold limit). A
WAITING entry ends as LEFT (the traveler) or EXPIRED (its first date passed). A claim whose
worker died lapses after CLAIM_SECONDS and is taken over by the sweep; so does one whose
worker got no answer from the hold (it may have been placed: the next run replays its key).
"""
from __future__ import annotations

import bisect
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping, Sequence

WAITING = "WAITING"
OFFERING = "OFFERING"
OFFERED = "OFFERED"
LEFT = "LEFT"
EXPIRED = "EXPIRED"
STATUSES = (WAITING, OFFERING, OFFERED, LEFT, EXPIRED)
ACTIVE = (WAITING, OFFERING)  # counted against the traveler's cap; in the listing's line

# A traveler's entries that may wait at once (abuse limit: every entry is tried by the sweep).
MAX_ACTIVE_ENTRIES = 10
# How long one worker may take to place an entry's hold before another may take over.
CLAIM_SECONDS = 60
# The sweep finds listings with waiting entries through this many index partitions.
SHARDS = 8
MAX_STAY_NIGHTS = 30  # as a hold (inventory.domain.MAX_STAY_NIGHTS)


class FieldErrors(Exception):
    """Bad input: field name -> what is wrong (routes answer 400 naming each field)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(", ".join(sorted(fields)))
        self.fields = dict(fields)


@dataclass(frozen=True)
class Wanted:
    """What an entry waits for: `quantity` units on every one of `dates`."""
    quantity: int
    dates: tuple[str, ...]
    date: str | None = None  # flight, event, service
    check_in: str | None = None  # hotel
    check_out: str | None = None


@dataclass(frozen=True)
class Entry:
    entry_id: str
    traveler_id: str
    traveler_email: str
    traveler_name: str
    listing_id: str
    wanted: Wanted
    status: str
    joined_at: float
    updated_at: float
    booking_id: str | None = None
    reference: str | None = None
    claim: str | None = None
    claimed_until: float | None = None
    offer_key: str = ""  # secret part of the hold's Idempotency-Key (offers.hold_key)

    @property
    def quantity(self) -> int:
        return self.wanted.quantity

    @property
    def dates(self) -> tuple[str, ...]:
        return self.wanted.dates

    def claimed_by_other(self, now: float) -> bool:
        """OFFERING under a live claim: another worker is placing its hold right now."""
        return self.status == OFFERING and self.claimed_until is not None and self.claimed_until > now


def new_entry_id() -> str:
    return "wl_" + secrets.token_hex(10)


def new_offer_key() -> str:
    return secrets.token_hex(12)


def is_entry_id(value: str) -> bool:
    """Path ids are checked before they reach DynamoDB (an over-long key is a 5xx there)."""
    return len(value) == 23 and value.startswith("wl_") and all(c in "0123456789abcdef" for c in value[3:])


def _nights(check_in: date, check_out: date) -> list[date]:
    return [date.fromordinal(n) for n in range(check_in.toordinal(), check_out.toordinal())]


def wanted(kind: str, *, quantity: int, day: date | None, check_in: date | None, check_out: date | None,
           today: date, max_units: int) -> Wanted:
    """The dates and units an entry for a listing of `kind` waits for, as a hold of the same
    item would need them (a hotel: the nights from check_in to check_out; else the date)."""
    errors: dict[str, str] = {}
    if not 1 <= quantity <= max_units:
        errors["quantity"] = f"must be between 1 and {max_units} units"
    if kind == "hotel":
        if day is not None:
            errors["date"] = "a hotel is waitlisted with check_in and check_out, not date"
        for name, value in (("check_in", check_in), ("check_out", check_out)):
            if value is None:
                errors[name] = "is required for a hotel"
        if check_in is not None and check_out is not None:
            if check_out <= check_in:
                errors["check_out"] = "must be after check_in"
            elif (check_out - check_in).days > MAX_STAY_NIGHTS:
                errors["check_out"] = f"a stay is at most {MAX_STAY_NIGHTS} nights"
        if check_in is not None and check_in < today:
            errors["check_in"] = "is in the past"
    else:
        for name, value in (("check_in", check_in), ("check_out", check_out)):
            if value is not None:
                errors[name] = f"a {kind} is waitlisted with date, not check_in/check_out"
        if day is None:
            errors["date"] = f"is required for a {kind}"
        elif day < today:
            errors["date"] = "is in the past"
    if errors:
        raise FieldErrors(errors)
    if kind == "hotel":
        assert check_in is not None and check_out is not None
        return Wanted(quantity, tuple(d.isoformat() for d in _nights(check_in, check_out)),
                      check_in=check_in.isoformat(), check_out=check_out.isoformat())
    assert day is not None
    return Wanted(quantity, (day.isoformat(),), date=day.isoformat())


def slot(listing_id: str, w: Wanted) -> str:
    """A traveler has at most one active entry per (listing, dates): joining again finds it."""
    return f"slot#{listing_id}#{w.date or (str(w.check_in) + '/' + str(w.check_out))}"


def rank(joined_at: float, entry_id: str) -> str:
    """The line's order: join time, then the id (two joins in one microsecond still differ)."""
    return f"{joined_at:020.6f}#{entry_id}"


def shard_of(listing_id: str) -> str:
    return str(int(hashlib.sha256(listing_id.encode()).hexdigest()[:8], 16) % SHARDS)


def all_shards() -> list[str]:
    return [str(n) for n in range(SHARDS)]


def rotated(items: Sequence[str], start: int) -> list[str]:
    """`items` from index `start` (modulo their number) round to the one before it."""
    if not items:
        return []
    start %= len(items)
    return list(items[start:]) + list(items[:start])


def sweep_order(listings: Iterable[str], after: str | None, fallback_start: int) -> list[str]:
    """Every listing once, by id, starting with the first one after `after` (where the last run
    stopped): a sweep that runs out of time goes on from there the next minute, so a long
    backlog is worked through in turn rather than from its head every time. `after` unknown
    (a cold start): from index `fallback_start`."""
    ordered = sorted(set(listings))
    if after is None:
        return rotated(ordered, fallback_start)
    return rotated(ordered, bisect.bisect_right(ordered, after))


# Booking statuses (booking.domain), for the one question the waitlist asks of its holds.
_ENDED_UNCONFIRMED = ("EXPIRED", "FAILED", "CANCELLED")


def hold_lapsed_unseen(status: str, was_confirmed: bool) -> bool:
    """An entry's hold, found again by replaying its key, ended without the traveler taking it
    (expired, failed, cancelled before any confirmation): the entry was not served by it. A
    live one (HELD, being paid for, confirmed) or a confirmed one since cancelled served it."""
    return status in _ENDED_UNCONFIRMED and not was_confirmed


def has_passed(w: Wanted, today: date) -> bool:
    """Its first date is past (everywhere on Earth): a hold could no longer be placed."""
    return date.fromisoformat(w.dates[0]) < today


def shortage(w: Wanted, available: Mapping[str, int]) -> dict[str, int]:
    """The dates of `w` without enough units (date -> units available; a date not on sale: 0)."""
    return {d: int(available.get(d, 0)) for d in w.dates if int(available.get(d, 0)) < w.quantity}


def serves(entry_dates: Iterable[str], freed: Iterable[str] | None) -> bool:
    """Units freed on `freed` (None: any date, the sweep) may serve an entry needing these dates."""
    return freed is None or bool(set(entry_dates) & set(freed))


class Availability:
    """What one offering run knows of the listing's free units, date by date.

    Read once (strongly consistent) and then kept up to date by the run itself: a hold it
    places takes units, a hold another worker is placing is assumed to take its units (the
    safe side: an entry later in line never gets units an earlier one may still receive), a
    SOLD_OUT answer says what is left. An unknown date has no units.

    A run reads the line a page at a time and the counters of each page's new dates before
    offering that page (`read`): no take or hold of an earlier entry touched those dates (had
    one needed them, they were read with its page), so reading them later loses nothing.
    """

    def __init__(self, available: Mapping[str, int] | None = None) -> None:
        self._left: dict[str, int] = {}
        self._known: set[str] = set()
        self.learn(available or {})

    def unknown(self, dates: Iterable[str]) -> list[str]:
        """The dates not read yet, sorted."""
        return sorted(set(dates) - self._known)

    def read(self, dates: Iterable[str], available: Mapping[str, int]) -> None:
        """The counters of `dates` as just read; a date absent from `available` is not on sale."""
        for d in dates:
            self._known.add(d)
            self._left[d] = max(0, int(available.get(d, 0)))

    def fits(self, w: Wanted) -> bool:
        return all(self._left.get(d, 0) >= w.quantity for d in w.dates)

    def take(self, w: Wanted) -> None:
        for d in w.dates:
            self._left[d] = max(0, self._left.get(d, 0) - w.quantity)

    def learn(self, available: Mapping[str, int]) -> None:
        for d, n in available.items():
            self._known.add(d)
            self._left[d] = max(0, int(n))

    def any_left(self, dates: Iterable[str]) -> bool:
        return any(self._left.get(d, 0) > 0 for d in dates)
