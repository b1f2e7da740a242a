"""Pure rules of the catalog: listings, stays, availability changes, refunds. No I/O.

Search-specific rules (parameters, offers, ordering) live in `search_rules.py`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping

from .currencies import is_currency

KINDS = ("flight", "hotel", "event", "service")
PLACE_KINDS = ("hotel", "event", "service")  # sold in a city
MAX_STAY_NIGHTS = 30
MAX_AVAILABILITY_DATES = 366
MAX_CAPACITY = 100_000
MAX_PRICE = 100_000_000  # minor units per unit per date: a million euros is not a hotel room
MAX_POLICY_HOURS = 24 * 366
_PLACE = re.compile(r"^[A-Z]{3}$")  # IATA city (PAR) or airport (CDG) code
_ID = re.compile(r"^(lst|ven)_[A-Za-z0-9_-]{1,64}$")


def earliest_today(now: datetime) -> date:
    """The earliest calendar date that is still "today" somewhere on Earth (UTC-12).

    Travelers and vendors work in their local dates; refusing a date as "past" only once it is
    past everywhere keeps a hotel search for tonight in Honolulu valid after midnight UTC.
    """
    return (now.astimezone(timezone.utc) - timedelta(hours=12)).date()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso_instant(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_valid_id(value: str, prefix: str) -> bool:
    """Ids in paths are checked before they reach DynamoDB (a 2 KB key is a 5xx there)."""
    return bool(_ID.match(value)) and value.startswith(prefix + "_")


# --- listings -------------------------------------------------------------------------------

def location_errors(kind: str, city: str | None, origin: str | None,
                    destination: str | None) -> dict[str, str]:
    """Where a listing is sold: flights between two airports, everything else in a city."""
    errors: dict[str, str] = {}
    if kind == "flight":
        for name, value in (("origin", origin), ("destination", destination)):
            if not value:
                errors[name] = "is required for a flight (a 3-letter airport code)"
            elif not _PLACE.match(value):
                errors[name] = "must be a 3-letter IATA airport code such as CDG"
        if origin and destination and origin == destination and "origin" not in errors:
            errors["destination"] = "must differ from origin"
        if city:
            errors["city"] = "does not apply to a flight; give origin and destination"
    elif kind in PLACE_KINDS:
        if not city:
            errors["city"] = f"is required for a {kind} (a 3-letter city code such as PAR)"
        elif not _PLACE.match(city):
            errors["city"] = "must be a 3-letter IATA city code such as PAR"
        for name, value in (("origin", origin), ("destination", destination)):
            if value:
                errors[name] = f"applies to flights only, not to a {kind}"
    return errors


def currency_error(code: str) -> str | None:
    return None if is_currency(code) else "must be an ISO 4217 currency code such as EUR"


@dataclass(frozen=True)
class CancellationPolicy:
    """Full refund until `free_until_hours` before the first date, then `refund_percent_after`.

    Bounds (0..MAX_POLICY_HOURS, 0..100) are enforced where policies come in (schemas.PolicyIn).
    """
    free_until_hours: int
    refund_percent_after: int

    def refund(self, paid: int, starts_at: datetime, now: datetime) -> int:
        """What a cancellation at `now` gives back of `paid` (minor units, rounded down)."""
        if now <= starts_at - timedelta(hours=self.free_until_hours):
            return paid
        return paid * self.refund_percent_after // 100


def rating_average(rating_sum: float, rating_count: int) -> float | None:
    """Average of 1-5 stars to two decimals, None before the first review."""
    if not rating_count:
        return None
    return round(rating_sum / rating_count, 2)


def search_key(kind: str, day: date | str, *, city: str | None = None, origin: str | None = None,
               destination: str | None = None) -> str:
    """The partition a search reads: everything of one kind, at one place, on one date."""
    day_text = day if isinstance(day, str) else day.isoformat()
    return f"{place_key(kind, city=city, origin=origin, destination=destination)}#{day_text}"


def place_key(kind: str, *, city: str | None = None, origin: str | None = None,
              destination: str | None = None) -> str:
    """Everything of one kind at one place: `hotel#PAR`, `flight#CDG#JFK` (airport pairs)."""
    if kind == "flight":
        return f"flight#{origin}#{destination}"
    return f"{kind}#{city}"


_PRICE_DIGITS = len(str(MAX_PRICE))


def search_rank(price: int, listing_id: str) -> str:
    """Sort key of one date's offers in the search index: by unit price, ties by listing id."""
    return f"{price_prefix(price)}#{listing_id}"


def price_prefix(price: int) -> str:
    """Zero-padded, so the string order of search ranks is the numeric order of their prices:
    every rank of a price below `price` sorts before `price_prefix(price)`."""
    return f"{price:0{_PRICE_DIGITS}d}"


_COUNT_DIGITS = 10


def rating_group(rating_sum: float, rating_count: int) -> str:
    """The rank of a rating among ratings, as a string that sorts best first.

    Rated before unrated, then the average (two decimals, as shown) high to low, then the number
    of reviews high to low. Within a group the rating index orders listings by id (rating_rank).
    """
    average = rating_average(rating_sum, rating_count)
    if average is None:
        return "1"
    return f"0#{999 - round(average * 100):03d}#{10 ** _COUNT_DIGITS - 1 - rating_count:0{_COUNT_DIGITS}d}"


def rating_rank(rating_sum: float, rating_count: int, listing_id: str) -> str:
    """Sort key of a place's listings in the rating index: rating group, then listing id."""
    return f"{rating_group(rating_sum, rating_count)}#{listing_id}"


def rank_group(rating_rank: str) -> str:
    """The rating group at the head of a rating_rank (listing ids hold no '#')."""
    return rating_rank.rsplit("#", 1)[0]


# --- stays ------------------------------------------------------------------------------------

def nights(check_in: date, check_out: date) -> list[date]:
    """The nights of a stay: check_in up to the night before check_out."""
    return [check_in + timedelta(days=i) for i in range((check_out - check_in).days)]


def dates_between(first: date, last: date) -> list[date]:
    """Every date of the closed range first..last."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def price_total(unit_prices: Iterable[int], quantity: int) -> int:
    """Sum of the per-date unit prices (one per night for a stay) times the units."""
    return sum(unit_prices) * quantity


# --- availability changes ---------------------------------------------------------------------

@dataclass(frozen=True)
class DaySetting:
    capacity: int
    price: int


@dataclass(frozen=True)
class DayState:
    capacity: int
    held: int
    sold: int
    available: int
    price: int

    @property
    def committed(self) -> int:
        return self.held + self.sold


@dataclass(frozen=True)
class DayChange:
    """One date of an availability update, planned against what was read."""
    date: date
    setting: DaySetting
    current: DayState | None  # None: the date is put on sale for the first time

    @property
    def delta(self) -> int:
        return self.setting.capacity - (self.current.capacity if self.current else 0)

    @property
    def shrinks(self) -> bool:
        return self.current is not None and self.delta < 0

    @property
    def is_noop(self) -> bool:
        return (self.current is not None and self.delta == 0
                and self.current.price == self.setting.price)


def expand_days(first: date | None, last: date | None, capacity: int | None, price: int | None,
                days: list[tuple[date, int, int]] | None, today: date) -> dict[date, DaySetting]:
    """The dates an availability update sets, from either form; raises FieldErrors."""
    errors: dict[str, str] = {}
    settings: dict[date, DaySetting] = {}
    if days is not None:
        if first or last or capacity is not None or price is not None:
            errors["days"] = "give either days or from/to/capacity/price, not both"
        if not days:
            errors["days"] = "must list at least one date"
        if len(days) > MAX_AVAILABILITY_DATES:
            errors["days"] = f"at most {MAX_AVAILABILITY_DATES} dates per update"
        for i, (day, cap, unit_price) in enumerate(days[:MAX_AVAILABILITY_DATES + 1]):
            if day in settings:
                errors[f"days.{i}.date"] = "appears more than once"
            elif day < today:
                errors[f"days.{i}.date"] = "is in the past"
            settings[day] = DaySetting(cap, unit_price)
    else:
        for name, value in (("from", first), ("to", last), ("capacity", capacity), ("price", price)):
            if value is None:
                errors[name] = "is required (or give days)"
        if first and last:
            if last < first:
                errors["to"] = "must be on or after from"
            elif (last - first).days + 1 > MAX_AVAILABILITY_DATES:
                errors["to"] = f"the range covers more than {MAX_AVAILABILITY_DATES} dates"
            if first < today:
                errors["from"] = "is in the past"
        if not errors:
            assert first and last and capacity is not None and price is not None
            settings = {d: DaySetting(capacity, price) for d in dates_between(first, last)}
    if errors:
        raise FieldErrors(errors)
    return settings


def plan_changes(settings: Mapping[date, DaySetting],
                 current: Mapping[date, DayState]) -> tuple[list[DayChange], list[DayChange], list[date]]:
    """Split an update into (shrinks, others) and list the dates it may not lower that far.

    Shrinks are written first so that, if a later one fails, undoing the earlier ones only ever
    raises capacity again, which no hold can prevent (see inventory.availability).
    """
    shrinks: list[DayChange] = []
    others: list[DayChange] = []
    below: list[date] = []
    for day in sorted(settings):
        change = DayChange(day, settings[day], current.get(day))
        if change.current is not None and change.setting.capacity < change.current.committed:
            below.append(day)
        if change.is_noop:
            continue
        (shrinks if change.shrinks else others).append(change)
    return shrinks, others, below


class FieldErrors(Exception):
    """Bad input found by a pure rule: field name -> what is wrong. Routes turn it into a 400."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(", ".join(sorted(fields)))
        self.fields = dict(fields)
