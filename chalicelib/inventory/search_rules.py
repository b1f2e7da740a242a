"""Pure rules of search: which parameters a kind needs, which lists it reads, what an offer is."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .domain import (KINDS, MAX_PRICE, MAX_STAY_NIGHTS, FieldErrors, nights, place_key, price_total,
                     rating_average, search_key)
from .places import airports

SORTS = ("price", "rating")
MAX_QUANTITY = 1000
# The dearest total a search can find (every unit at the top price, every night of the longest
# stay): a larger max_price filters nothing, and unbounded numbers must not reach DynamoDB.
MAX_PRICE_TOTAL = MAX_PRICE * MAX_QUANTITY * MAX_STAY_NIGHTS
# Parameters each kind needs; every other place/date parameter is refused for that kind so a
# mistyped search says so instead of silently searching something else.
REQUIRED = {
    "hotel": ("city", "check_in", "check_out"),
    "flight": ("origin", "destination", "date"),
    "event": ("city", "date"),
    "service": ("city", "date"),
}
_PLACE_AND_DATE = ("city", "origin", "destination", "date", "check_in", "check_out")


@dataclass(frozen=True)
class SearchParams:
    kind: str
    quantity: int = 1
    city: str | None = None
    origin: str | None = None
    destination: str | None = None
    date: date | None = None
    check_in: date | None = None
    check_out: date | None = None
    max_price: int | None = None
    currency: str | None = None
    sort: str = "price"

    def errors(self, today: date) -> dict[str, str]:
        if self.kind not in KINDS:
            return {"kind": f"must be one of {', '.join(KINDS)}"}
        errors: dict[str, str] = {}
        needed = REQUIRED[self.kind]
        for name in _PLACE_AND_DATE:
            value = getattr(self, name)
            if name in needed and value is None:
                errors[name] = f"is required when kind={self.kind}"
            elif name not in needed and value is not None:
                errors[name] = f"does not apply when kind={self.kind}"
        if self.sort not in SORTS:
            errors["sort"] = "must be price or rating"
        if self.quantity < 1:
            errors["quantity"] = "must be at least 1"
        if self.kind == "flight" and self.origin and self.destination:
            if self.origin == self.destination:
                errors["destination"] = "must differ from origin"
            elif set(airports(self.origin)) & set(airports(self.destination)):
                errors["destination"] = "is in the origin city: give an airport or city outside it"
        first = self.check_in if self.kind == "hotel" else self.date
        if first is not None and first < today:
            errors["check_in" if self.kind == "hotel" else "date"] = "is in the past"
        if self.check_in and self.check_out:
            if self.check_out <= self.check_in:
                errors["check_out"] = "must be after check_in"
            elif (self.check_out - self.check_in).days > MAX_STAY_NIGHTS:
                errors["check_out"] = f"a stay is at most {MAX_STAY_NIGHTS} nights"
        return errors

    def validate(self, today: date) -> "SearchParams":
        errors = self.errors(today)
        if errors:
            raise FieldErrors(errors)
        return self

    @property
    def dates(self) -> list[date]:
        """The dates every one of which must have the units: the nights, or the one date."""
        if self.kind == "hotel":
            assert self.check_in and self.check_out
            return nights(self.check_in, self.check_out)
        assert self.date
        return [self.date]

    def partition_groups(self) -> list[list[str]]:
        """The search index partitions to read, one group per date: a listing is on offer on a
        date if it is in any partition of that date's group (several for a flight between city
        codes: one per airport pair), and it is a result if it is on offer on every date.

        At most one group of MAX_AIRPORTS_PER_CITY ** 2 keys for a flight, MAX_STAY_NIGHTS
        groups of one key for a stay: the cost never grows with the catalog.
        """
        if self.kind == "flight":
            assert self.date and self.origin and self.destination
            return [[search_key("flight", self.date, origin=o, destination=d)
                     for o in airports(self.origin) for d in airports(self.destination) if o != d]]
        return [[search_key(self.kind, d, city=self.city)] for d in self.dates]

    def partition_keys(self) -> list[str]:
        return [key for group in self.partition_groups() for key in group]

    def place_keys(self) -> list[str]:
        """The rating index partitions to read: the place, or every airport pair of a flight."""
        if self.kind == "flight":
            assert self.origin and self.destination
            return [place_key("flight", origin=o, destination=d)
                    for o in airports(self.origin) for d in airports(self.destination) if o != d]
        return [place_key(self.kind, city=self.city)]

    def max_unit_total(self) -> int | None:
        """The budget per unit, summed over the dates.

        unit_total * quantity <= max_price  <=>  unit_total <= floor(max_price / quantity).
        """
        if self.max_price is None:
            return None
        return self.max_price // self.quantity

    def fingerprint(self) -> str:
        """Identifies the search a cursor belongs to (everything but the page size)."""
        fields = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in vars(self).items()}
        raw = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass
class Offer:
    listing_id: str
    available: int
    unit_total: int  # sum of the per-date unit prices
    currency: str
    quantity: int
    rating_sum: float = 0
    rating_count: int = 0
    listing: Any = field(default=None, repr=False)

    @property
    def price_total(self) -> int:
        return price_total([self.unit_total], self.quantity)

    @property
    def rating(self) -> float | None:
        return rating_average(self.rating_sum, self.rating_count)
