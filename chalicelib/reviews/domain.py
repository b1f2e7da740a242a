"""Reviews: the rules, in one place. Plain data and pure functions, no I/O.

A traveler reviews a listing through one of their bookings of it: the booking is CONFIRMED
and the listing's first booked date has come (00:00 UTC of that date, as for cancellations).
One review per (booking, listing): its id is derived from the pair, so a second write of it,
a retry or a racing twin, meets the first one's key.

A request that names no booking reviews "the listing", not a stay: it is written only while the
traveler has no review of the listing at all (through any booking). So the same request sent
again, after an answer that was lost, is a 409 and never a second review of another stay; a
traveler who wants to review another stay names its booking. A vendor answers a review once.
"""
from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

MIN_RATING, MAX_RATING = 1, 5
MAX_COMMENT = 2000
MAX_REPLY = 2000
MAX_AUTHOR = 40
ANONYMOUS = "Traveler"
_ALLOWED_CONTROLS = frozenset("\n\t")


class NotEligible(Exception):
    """No booking of the traveler's lets them review this listing (yet)."""


@dataclass(frozen=True)
class BookingOfListing:
    """A CONFIRMED booking of the traveler's that includes the listing (booking context's facts)."""
    booking_id: str
    created_at: str  # ISO instant: "oldest" is the order bookings were made
    first_date: str  # YYYY-MM-DD: the first date of the listing's items in this booking


@dataclass(frozen=True)
class Reply:
    body: str
    created_at: float


@dataclass(frozen=True)
class Review:
    review_id: str
    listing_id: str
    booking_id: str
    traveler_id: str
    author: str
    rating: int
    comment: str
    created_at: float  # epoch seconds, fractions kept: the list's order
    reply: Reply | None = None

    @property
    def sort_key(self) -> str:
        return sort_key(self.created_at, self.review_id)


# --- input rules (the schemas and the service both apply them) -------------------------------


def rating_problem(value: object) -> str | None:
    """Why `value` is not a rating, or None. Whole stars only: 3.5, "5" and true are refused."""
    if type(value) is not int or not MIN_RATING <= value <= MAX_RATING:
        return f"must be a whole number from {MIN_RATING} to {MAX_RATING}"
    return None


def text_problem(value: str, limit: int) -> str | None:
    """Why `value` cannot be stored as a comment or reply, or None.

    Stored and returned exactly as plain text (clients escape it where they render it), so the
    only refusals are what no reader should receive: control characters other than newline and
    tab (a terminal escape, a NUL), and lone surrogates, which no UTF-8 store can hold.
    """
    if len(value) > limit:
        return f"must be at most {limit} characters"
    for char in value:
        category = unicodedata.category(char)
        if (category == "Cc" and char not in _ALLOWED_CONTROLS) or category == "Cs":
            return "must not contain control characters other than newline and tab"
    return None


def author_name(name: str | None) -> str:
    """What other travelers see: the first name, never the email (or a name that is one)."""
    first = (name or "").strip().split()[0] if (name or "").strip() else ""
    if not first or "@" in first or text_problem(first, MAX_AUTHOR) is not None:
        return ANONYMOUS
    return first


# --- eligibility --------------------------------------------------------------------------------


def utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, tz=timezone.utc).date().isoformat()


def has_taken_place(booking: BookingOfListing, now: float) -> bool:
    """From 00:00 UTC of the listing's first booked date on (a stay under way can be rated)."""
    return booking.first_date <= utc_day(now)


def choose_booking(bookings: Iterable[BookingOfListing], now: float) -> BookingOfListing:
    """The booking a review that names none is written for: the first one, in the order given
    (the booking context gives the traveler's bookings newest first), that has taken place.
    NotEligible when none has. Stops reading `bookings` at the one chosen (a lazy read of the
    traveler's bookings fetches no further page)."""
    for booking in bookings:
        if has_taken_place(booking, now):
            return booking
    raise NotEligible()


# --- identity and order -------------------------------------------------------------------------


def review_id_for(booking_id: str, listing_id: str) -> str:
    """One id per (booking, listing): the uniqueness of reviews rests on this key."""
    return "rv_" + hashlib.sha256(f"{booking_id}#{listing_id}".encode()).hexdigest()[:20]


def traveler_review_key(traveler_id: str, listing_id: str) -> str:
    """One key per (traveler, listing), kept beside the review ids (never a review id: another
    prefix): it holds the traveler's first review of the listing, and a review that names no
    booking is written only where it does not exist yet."""
    return "rt_" + hashlib.sha256(f"{traveler_id}#{listing_id}".encode()).hexdigest()[:32]


def is_review_id(value: str) -> bool:
    """Path ids are checked before they reach DynamoDB (an over-long key is a 5xx there)."""
    return len(value) == 23 and value.startswith("rv_") and all(c in "0123456789abcdef" for c in value[3:])


def sort_key(created_at: float, review_id: str) -> str:
    """A listing's reviews sort by this (newest first when read backwards): microsecond instant,
    then the id, so two reviews of the same instant both keep their place."""
    instant = datetime.fromtimestamp(created_at, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{instant}#{review_id}"


def new_review(*, booking: BookingOfListing, listing_id: str, traveler_id: str, traveler_name: str | None,
               rating: int, comment: str, now: float) -> Review:
    problem = rating_problem(rating) or text_problem(comment, MAX_COMMENT)
    if problem:
        raise ValueError(problem)
    return Review(review_id=review_id_for(booking.booking_id, listing_id), listing_id=listing_id,
                  booking_id=booking.booking_id, traveler_id=traveler_id, author=author_name(traveler_name),
                  rating=rating, comment=comment, created_at=now)
