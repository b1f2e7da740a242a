"""Pure rules of recommendations: what a confirmed booking counts, a traveler's taste, which
dates a candidate is offered for, when it is sold out or already theirs, and the ranking.

No I/O: the worker and the read (service.py) do the reads and writes around these functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable, Mapping

ALSO_BOOKED = "also_booked"
YOUR_PLACES = "your_places"
POPULAR_IN_SEARCHED = "popular_in_searched"
POPULAR = "popular"
REASONS = (ALSO_BOOKED, YOUR_PLACES, POPULAR_IN_SEARCHED, POPULAR)

# How much each source says about this traveler: what people with their bookings also booked
# first, then what sells where they go or look, then what sells anywhere.
SOURCE_WEIGHT = {ALSO_BOOKED: 3.0, YOUR_PLACES: 2.0, POPULAR_IN_SEARCHED: 2.0, POPULAR: 1.0}

MAX_PAST_PAIRED = 10  # a new booking is paired with the traveler's 10 most recent other listings
# History keeps the soonest dates still to come: more than any window a read checks (a trip is
# at most MAX_TRIP_DAYS from its first date), and a year of nights fits one small item.
MAX_BOOKED_DATES = 366
NEXT_DAYS = 5  # an undated recommendation is offered over the next days (limit 10: 15 x 6 keys, one BatchGet)
MAX_TRIP_DAYS = 14  # a trip window (the dates of a recommendation in a place the traveler goes)
LIVE = ("HELD", "CONFIRMING", "CONFIRMED")  # bookings whose dates are the traveler's

# Minor-unit exponents that are not 2 (ISO 4217): a price level compares major units.
_ZERO_DECIMALS = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split())
_THREE_DECIMALS = frozenset("BHD IQD JOD KWD LYD OMR TND".split())


def price_level(unit_price: int, currency: str) -> int:
    """A unit price's order of magnitude: log2 of its major units, rounded (each level is about
    twice the price of the one below). Across currencies it is only a rough comparison."""
    exponent = 0 if currency in _ZERO_DECIMALS else 3 if currency in _THREE_DECIMALS else 2
    major = max(1.0, unit_price / 10 ** exponent)
    return int(round(math.log2(major)))


def unit_price(unit_prices: Iterable[int]) -> int:
    """The average price of one unit on one date of a booked item."""
    prices = [int(p) for p in unit_prices]
    return sum(prices) // len(prices) if prices else 0


# --- counting a confirmed booking ----------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    """One listing of a confirmed booking, with what the history keeps of it."""
    listing_id: str
    kind: str
    place: str
    price_level: int
    dates: tuple[str, ...]


@dataclass(frozen=True)
class Past:
    """One History item: a listing the traveler booked before, with every date still to come
    they booked it for (by any of their bookings)."""
    listing_id: str
    kind: str
    place: str
    price_level: int
    dates: tuple[str, ...]
    last_at: float
    bookings: int = 1
    first_booking: str | None = None  # the booking that brought it into the history


@dataclass(frozen=True)
class Edge:
    """Add one to CoBooking(listing_id, other_id)."""
    listing_id: str
    other_id: str
    other_kind: str
    other_place: str


@dataclass(frozen=True)
class CountPlan:
    """What one listing of a booking adds, written as one transaction with its marker."""
    listing: Booked
    first_time: bool  # the traveler had never booked it: its co-bookings are counted
    edges: tuple[Edge, ...] = ()

    @property
    def items(self) -> int:
        """Items of its TransactWriteItems: marker, history version, history, two popularity
        scopes, edges."""
        return 5 + len(self.edges)


def plan_counts(booked: Iterable[Booked], known: Mapping[str, Past], recent: Iterable[Past],
                booking_id: str | None = None) -> list[CountPlan]:
    """One plan per distinct listing of the booking.

    Co-bookings count travelers, not bookings: a pair is counted when one of its listings
    enters the traveler's history for the first time, paired with the traveler's most recent
    other listings and the booking's other listings. A pair of two first-time listings of the
    same booking is counted once, by the plan of the smaller id.

    `known`: the traveler's History items of these listings (absent: first time); `recent`:
    their most recent History items, newest first. An item this very booking brought in (a
    redelivery after some of its listings were counted) is still a first time: planned the
    same way again, so its pairs are neither lost nor counted twice (its marker stops a second
    write).
    """
    known = {k: p for k, p in known.items() if booking_id is None or p.first_booking != booking_id}
    distinct: dict[str, Booked] = {}
    for item in booked:
        if item.listing_id in distinct:  # the same listing twice in one booking: dates merged
            prior = distinct[item.listing_id]
            item = Booked(item.listing_id, item.kind, item.place, item.price_level,
                          tuple(sorted(set(prior.dates) | set(item.dates))))
        distinct[item.listing_id] = item
    past = [p for p in recent if p.listing_id not in distinct][:MAX_PAST_PAIRED]
    plans = []
    for listing_id in sorted(distinct):
        item = distinct[listing_id]
        if listing_id in known:
            plans.append(CountPlan(item, first_time=False))
            continue
        partners = [(p.listing_id, p.kind, p.place) for p in past]
        partners += [(o.listing_id, o.kind, o.place) for o in distinct.values()
                     if o.listing_id != listing_id and (o.listing_id in known or o.listing_id > listing_id)]
        edges = []
        for other_id, other_kind, other_place in partners:
            edges.append(Edge(listing_id, other_id, other_kind, other_place))
            edges.append(Edge(other_id, listing_id, item.kind, item.place))
        plans.append(CountPlan(item, first_time=True, edges=tuple(edges)))
    return plans


def booked_dates(prior: Iterable[str], new: Iterable[str], today: date) -> tuple[str, ...]:
    """The dates History keeps of a listing: those already kept and the booking's, merged
    (whichever booking's message comes first), without the ones gone by, the soonest
    MAX_BOOKED_DATES."""
    kept = sorted(d for d in set(prior) | set(new) if d >= today.isoformat())
    return tuple(kept[:MAX_BOOKED_DATES])


def remembered(prior: Past | None, item: Booked, at: float, today: date, booking_id: str | None = None) -> Past:
    """The History item once `item`, confirmed at `at`, is counted. Dates are merged; the
    recency (`last_at`) and the price level are the newest booking's, so a delayed message of
    an older booking adds its dates but moves nothing back."""
    dates = booked_dates(prior.dates if prior else (), item.dates, today)
    if prior is None:
        return Past(item.listing_id, item.kind, item.place, item.price_level, dates, at, 1, booking_id)
    newer = at >= prior.last_at
    return Past(item.listing_id, item.kind, item.place, item.price_level if newer else prior.price_level, dates,
                max(at, prior.last_at), prior.bookings + 1, prior.first_booking)


def shard(listing_id: str, shards: int) -> int:
    """The overall-popularity shard of a listing: always the same one (a stable hash)."""
    return sum(listing_id.encode()) % shards


# --- the traveler --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taste:
    """What the history says the traveler likes: shares of kinds and places (0..1) and the
    usual price level (None without history)."""
    kinds: Mapping[str, float] = field(default_factory=dict)
    places: Mapping[str, float] = field(default_factory=dict)
    level: float | None = None

    def bonus(self, kind: str | None, place: str | None, level: int | None = None) -> float:
        score = self.kinds.get(kind or "", 0.0) + self.places.get(place or "", 0.0)
        if level is not None and self.level is not None:
            score += max(-1.0, 1.0 - 0.5 * abs(level - self.level))  # +1 at the usual level, -1 far off
        return score


def taste(history: Iterable[Past]) -> Taste:
    items = list(history)
    if not items:
        return Taste()
    total = sum(max(1, p.bookings) for p in items)
    kinds: dict[str, float] = {}
    places: dict[str, float] = {}
    for p in items:
        weight = max(1, p.bookings) / total
        kinds[p.kind] = kinds.get(p.kind, 0.0) + weight
        places[p.place] = places.get(p.place, 0.0) + weight
    level = sum(p.price_level * max(1, p.bookings) for p in items) / total
    return Taste(kinds, places, level)


def top_places(history: Iterable[Past], n: int) -> list[str]:
    """The places the traveler books most (ties: the most recent first)."""
    weight: dict[str, tuple[int, float]] = {}
    for p in history:
        count, latest = weight.get(p.place, (0, 0.0))
        weight[p.place] = (count + max(1, p.bookings), max(latest, p.last_at))
    return [place for place, _ in sorted(weight.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))][:n]


def upcoming_trips(history: Iterable[Past], today: date) -> dict[str, tuple[str, ...]]:
    """Per place, the days of the traveler's next trip there: from the first booked date on or
    after today to the last booked date within MAX_TRIP_DAYS of it, every day in between."""
    days: dict[str, set[date]] = {}
    for p in history:
        for value in p.dates:
            day = date.fromisoformat(value)
            if day >= today:
                days.setdefault(p.place, set()).add(day)
    trips = {}
    for place, found in days.items():
        first = min(found)
        last = max(d for d in found if d < first + timedelta(days=MAX_TRIP_DAYS))
        trips[place] = tuple((first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1))
    return trips


# --- candidates and offers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    listing_id: str
    kind: str | None
    place: str | None
    reason: str
    strength: int  # co-bookings or bookings behind it


def merge(candidates: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per listing: the strongest reason wins (then the higher count)."""
    best: dict[str, Candidate] = {}
    for c in candidates:
        current = best.get(c.listing_id)
        if current is None or (SOURCE_WEIGHT[c.reason], c.strength) > (SOURCE_WEIGHT[current.reason], current.strength):
            best[c.listing_id] = c
    return list(best.values())


def prescore(candidate: Candidate, traveler: Taste) -> float:
    return SOURCE_WEIGHT[candidate.reason] * (1.0 + math.log1p(candidate.strength)) + \
        traveler.bonus(candidate.kind, candidate.place)


def shortlist(candidates: Iterable[Candidate], traveler: Taste, size: int) -> list[Candidate]:
    """The candidates worth reading availability for, best first."""
    ranked = sorted(merge(candidates), key=lambda c: (-prescore(c, traveler), c.listing_id))
    return ranked[:size]


@dataclass(frozen=True)
class Window:
    dates: tuple[str, ...]
    dated: bool  # a trip's dates: the recommendation is for those dates


def window_for(place: str | None, trips: Mapping[str, tuple[str, ...]], today: date) -> Window:
    """The dates a candidate is offered for: the traveler's upcoming trip to its place, else
    the next days."""
    trip = trips.get(place or "")
    if trip:
        return Window(trip, dated=True)
    return Window(tuple((today + timedelta(days=i)).isoformat() for i in range(1, NEXT_DAYS + 1)), dated=False)


@dataclass(frozen=True)
class Day:
    available: int
    price: int


@dataclass(frozen=True)
class Offer:
    """A candidate that can be booked: undated (from `price`, over the next days) or for the
    trip's dates (`date`, or `check_in`/`check_out` for a stay)."""
    listing_id: str
    kind: str
    reason: str
    price: int  # undated: the lowest unit price of the window; dated: the price of the dates
    currency: str
    unit_price: int
    dated: bool
    date: str | None = None
    check_in: str | None = None
    check_out: str | None = None


def make_offer(candidate: Candidate, kind: str, currency: str, window: Window, days: Mapping[str, Day],
               taken: Iterable[str]) -> Offer | None:
    """The offer, or None: sold out over the window (no date with a unit available), or every
    usable date is one the traveler already booked or holds (`taken`: their dates of it)."""
    taken = set(taken)

    def open_(d: str) -> bool:
        day = days.get(d)
        return day is not None and day.available >= 1

    if window.dated and kind == "hotel":
        nights = window.dates
        if taken.intersection(nights) or not all(open_(d) for d in nights):
            return None  # the stay is theirs already, or some night of it is full
        total = sum(days[d].price for d in nights)
        check_out = (date.fromisoformat(nights[-1]) + timedelta(days=1)).isoformat()
        return Offer(candidate.listing_id, kind, candidate.reason, total, currency, total // len(nights), True,
                     check_in=nights[0], check_out=check_out)
    usable = [d for d in window.dates if open_(d) and d not in taken]
    if not usable:
        return None
    if window.dated:
        first = usable[0]  # the trip's first day they can go
        price = days[first].price
        return Offer(candidate.listing_id, kind, candidate.reason, price, currency, price, True, date=first)
    lowest = min(days[d].price for d in usable)
    return Offer(candidate.listing_id, kind, candidate.reason, lowest, currency, lowest, False)


def score(offer: Offer, candidate: Candidate, traveler: Taste) -> float:
    return SOURCE_WEIGHT[candidate.reason] * (1.0 + math.log1p(candidate.strength)) + \
        traveler.bonus(offer.kind, candidate.place, price_level(offer.unit_price, offer.currency))


def rank(offers: Iterable[tuple[Offer, Candidate]], traveler: Taste, limit: int) -> list[Offer]:
    ranked = sorted(offers, key=lambda oc: (-score(oc[0], oc[1], traveler), oc[0].listing_id))
    return [offer for offer, _ in ranked[:limit]]


def taken_dates(history: Iterable[Past], live: Iterable[tuple[str, Iterable[str]]]) -> dict[str, set[str]]:
    """Per listing, the dates the traveler already has: the booked dates History keeps (every
    one still to come, whichever booking) and the dates of their live bookings ((listing_id,
    dates) pairs: holds, and confirmations not counted yet)."""
    taken: dict[str, set[str]] = {}
    for p in history:
        taken.setdefault(p.listing_id, set()).update(p.dates)
    for listing_id, dates in live:
        taken.setdefault(listing_id, set()).update(dates)
    return taken
