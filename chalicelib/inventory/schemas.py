"""Request and response shapes of the catalog, vendor and admin routes (API.md)."""
from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BeforeValidator, ConfigDict, Field, StrictInt,
                      model_serializer, model_validator)
from pydantic import ValidationError as PydanticValidationError

from ..core.errors import ValidationError, from_pydantic
from ..core.pagination import Cursor, Limit, Page
from ..core.schemas import Email, Input, Money, Output, Query
from . import domain

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """Only YYYY-MM-DD: pydantic alone would also take 1700000000 as a date."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("is not a real calendar date") from None


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _currency(value: str) -> str:
    error = domain.currency_error(value)
    if error:
        raise ValueError(error)
    return value


def _attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > 50 or any(not k or len(k) > 64 for k in value):
        raise ValueError("at most 50 keys of 1-64 characters")
    if len(json.dumps(value)) > 8192:
        raise ValueError("must be at most 8 KB as JSON")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Place = Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z]{3}$",
                                                      description="IATA code, e.g. PAR or CDG")]
Currency = Annotated[str, BeforeValidator(_upper), AfterValidator(_currency),
                     Field(description="ISO 4217 code, e.g. EUR")]
Attributes = Annotated[dict[str, Any], AfterValidator(_attributes)]
Kind = Literal["flight", "hotel", "event", "service"]
Capacity = Annotated[StrictInt, Field(ge=0, le=domain.MAX_CAPACITY)]
UnitPrice = Annotated[StrictInt, Field(ge=0, le=domain.MAX_PRICE,
                                       description="Minor units per unit, in the listing's currency")]


# --- listings -------------------------------------------------------------------------------

class PolicyIn(Input):
    free_until_hours: Annotated[StrictInt, Field(ge=0, le=domain.MAX_POLICY_HOURS)]
    refund_percent_after: Annotated[StrictInt, Field(ge=0, le=100)]


class NewListing(Input):
    kind: Kind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    currency: Currency
    city: Place | None = None
    origin: Place | None = None
    destination: Place | None = None
    attributes: Attributes = Field(default_factory=dict)
    cancellation_policy: PolicyIn

    @model_validator(mode="wrap")
    @classmethod
    def _every_bad_field(cls, data: Any, handler: Any) -> Any:
        """Field errors and the kind's location rules in one answer, not one round at a time."""
        fields: dict[str, str] = {}
        model = None
        try:
            model = handler(data)
        except PydanticValidationError as exc:
            fields = from_pydantic(exc).details["fields"]
        if isinstance(data, dict) and data.get("kind") in domain.KINDS:
            place = {k: _upper(data.get(k)) or None for k in ("city", "origin", "destination")}
            for name, message in domain.location_errors(data["kind"], **place).items():
                fields.setdefault(name, message)
        if fields:
            raise ValidationError.for_fields(fields)
        return model


def _immutable(value: Any) -> Any:
    raise ValueError("cannot be changed; create a new listing instead")


Immutable = Annotated[Any, AfterValidator(_immutable)]


class ListingPatch(Input):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    attributes: Attributes | None = None
    cancellation_policy: PolicyIn | None = None
    # What a listing is and where it is sold stay fixed: bookings and search keys depend on them.
    kind: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    currency: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    city: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    origin: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    destination: Immutable = Field(default=None, json_schema_extra={"readOnly": True})

    @model_validator(mode="after")
    def _not_empty(self) -> "ListingPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of title, description, attributes, cancellation_policy")
        return self


class Policy(Output):
    free_until_hours: int
    refund_percent_after: int


class Rating(Output):
    average: float | None = Field(description="1-5, two decimals; null before the first review")
    count: int

    @model_serializer(mode="wrap")
    def _keep_average(self, handler: Any):  # type: ignore[no-untyped-def]
        # No return annotation on purpose: with one, pydantic documents the model as `{}`.
        data = handler(self)
        data.setdefault("average", self.average)  # null means "no reviews yet", keep it
        return data


class ListingOut(Output):
    listing_id: str
    vendor_id: str
    kind: Kind
    title: str
    description: str
    currency: str
    city: str | None = None
    origin: str | None = None
    destination: str | None = None
    attributes: dict[str, Any]
    cancellation_policy: Policy
    rating: Rating
    created_at: str
    updated_at: str


class ListingPage(Page):
    listings: list[ListingOut]


class PageQuery(Query):
    limit: Limit = 20
    cursor: Cursor | None = None


# --- availability -----------------------------------------------------------------------------

class DayIn(Input):
    date: IsoDate
    capacity: Capacity
    price: UnitPrice


class AvailabilityUpdate(Input):
    """Either a closed range with one capacity and price, or a list of days."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: IsoDate | None = Field(default=None, alias="from")
    to: IsoDate | None = None
    capacity: Capacity | None = None
    price: UnitPrice | None = None
    days: list[DayIn] | None = Field(default=None, max_length=domain.MAX_AVAILABILITY_DATES)


class Updated(Output):
    updated: int = Field(description="Dates set by this request")


class AvailabilityQuery(Query):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: IsoDate | None = Field(default=None, alias="from", description="Default: today (UTC)")
    to: IsoDate | None = Field(default=None, description="Default: from + 29 days; at most 366 dates")


class DayOut(Output):
    date: str
    capacity: int
    available: int
    price: Money


class AvailabilityOut(Output):
    days: list[DayOut]


# --- search -----------------------------------------------------------------------------------

class SearchQuery(Query):
    kind: Kind
    city: Place | None = None
    origin: Place | None = None
    destination: Place | None = None
    date: IsoDate | None = Field(default=None, description="flight, event, service")
    check_in: IsoDate | None = Field(default=None, description="hotel: first night")
    check_out: IsoDate | None = Field(default=None, description="hotel: day of departure")
    quantity: int = Field(default=1, ge=1, le=1000, description="Seats, rooms, tickets or slots")
    max_price: int | None = Field(default=None, ge=0, description="Upper bound of price_total (minor units)")
    currency: Currency | None = Field(default=None, description="Only results priced in this currency")
    sort: Literal["price", "rating"] = "price"
    limit: Limit = 20
    cursor: Cursor | None = None


class SearchResult(Output):
    listing_id: str
    kind: Kind
    title: str
    vendor_id: str
    city: str | None = None
    origin: str | None = None
    destination: str | None = None
    date: str | None = None
    check_in: str | None = None
    check_out: str | None = None
    available: int = Field(description="Units left (the fewest over the nights of a stay)")
    price_total: Money
    rating: Rating


class SearchPage(Page):
    results: list[SearchResult]


# --- FAQ, vendors -----------------------------------------------------------------------------

class FaqEntry(Output):
    question: str
    answer: str
    topic: str


class Faq(Output):
    entries: list[FaqEntry]


class NewVendor(Input):
    name: str = Field(min_length=1, max_length=120)
    email: Email


class VendorOut(Output):
    vendor_id: str
    name: str
    email: str
    created_at: str
    temporary_password: str | None = Field(
        default=None, description="Local stage only; elsewhere Cognito emails it to the vendor")


class VendorPage(Page):
    vendors: list[VendorOut]
