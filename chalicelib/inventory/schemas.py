"""Request and response shapes of the catalog, vendor and admin routes (API.md)."""
from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BeforeValidator, ConfigDict, Field, StrictInt,
                      model_serializer, model_validator)
from pydantic import ValidationError as PydanticValidationError

from ..core.errors import ValidationError, from_pydantic
from ..core.schemas import Cursor, Limit, Page, PageQuery  # noqa: F401 (PageQuery re-exported)
from ..core.schemas import Email, Input, IsoDate, Money, Output, Policy, Query  # noqa: F401 (re-exported)
from . import domain, places
from .search_rules import MAX_PRICE_TOTAL, MAX_QUANTITY


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _currency(value: str) -> str:
    error = domain.currency_error(value)
    if error:
        raise ValueError(error)
    return value


# Free-form vendor attributes end up in a DynamoDB map: only what DynamoDB stores is accepted.
MAX_ATTRIBUTE_KEYS = 50
MAX_ATTRIBUTE_KEY_LENGTH = 64
MAX_ATTRIBUTE_DEPTH = 5  # the attributes map itself is level 1
MAX_ATTRIBUTES_BYTES = 4096  # as compact UTF-8 JSON
MAX_NUMBER_DIGITS = 38  # DynamoDB numbers: 38 significant digits ...
MAX_NUMBER_MAGNITUDE = 10 ** 126  # ... magnitudes below 1E+126 ...
MIN_NUMBER_MAGNITUDE = 1e-130  # ... and at least 1E-130 (or exactly 0)


def _attribute_error(value: Any, path: str, depth: int) -> str | None:
    """What keeps `value` (at `path` inside attributes) out of DynamoDB, or None."""
    where = f"`{path}` " if path else ""
    if isinstance(value, dict):
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"{where}nests too deep: at most {MAX_ATTRIBUTE_DEPTH} levels of objects and arrays"
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > MAX_ATTRIBUTE_KEY_LENGTH:
                return (f"{where}has a key that is not a string of 1-{MAX_ATTRIBUTE_KEY_LENGTH} "
                        "characters")
            error = _attribute_error(item, f"{path}.{key}" if path else key, depth + 1)
            if error:
                return error
        return None
    if isinstance(value, list):
        if depth > MAX_ATTRIBUTE_DEPTH:
            return f"{where}nests too deep: at most {MAX_ATTRIBUTE_DEPTH} levels of objects and arrays"
        for i, item in enumerate(value):
            error = _attribute_error(item, f"{path}.{i}", depth + 1)
            if error:
                return error
        return None
    if value is None or isinstance(value, (bool, str)):
        return None
    if isinstance(value, int):
        digits = str(abs(value))
        if len(digits.rstrip("0")) > MAX_NUMBER_DIGITS or abs(value) >= MAX_NUMBER_MAGNITUDE:
            return (f"{where}must be a number of at most {MAX_NUMBER_DIGITS} significant digits "
                    "below 1E+126")
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{where}must be a finite number (not NaN or Infinity)"
        if value != 0 and not MIN_NUMBER_MAGNITUDE <= abs(value) < MAX_NUMBER_MAGNITUDE:
            return f"{where}must be 0 or between 1E-130 and 1E+126 in magnitude"
        return None
    return f"{where}must be a string, number, boolean, null, object or array"


def _attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_ATTRIBUTE_KEYS:
        raise ValueError(f"at most {MAX_ATTRIBUTE_KEYS} keys")
    error = _attribute_error(value, "", 1)
    if error:
        raise ValueError(error)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"must be at most {MAX_ATTRIBUTES_BYTES // 1024} KB as JSON")
    return value


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
            # A place that is not a string already has its field error; the rules see it as absent.
            place = {k: (_upper(data[k]) or None) if isinstance(data.get(k), str) else None
                     for k in ("city", "origin", "destination")}
            for name, message in domain.location_errors(data["kind"], **place).items():
                fields.setdefault(name, message)
        if fields:
            raise ValidationError.for_fields(fields)
        return model


def _immutable(value: Any) -> Any:
    raise ValueError("cannot be changed; create a new listing instead")


Immutable = Annotated[Any, AfterValidator(_immutable)]


# What a PATCH may set to null, and what null stands for. Every other field a listing needs.
CLEARABLE: dict[str, Any] = {"description": "", "attributes": {}}
_REQUIRED_ON_PATCH = {
    "title": "cannot be removed; give a title of 1-200 characters",
    "cancellation_policy": "cannot be removed; give free_until_hours and refund_percent_after",
}


def _no_default(schema: dict[str, Any]) -> None:
    """Absent means unchanged; the internal None default is not a value clients may send."""
    schema.pop("default", None)


class ListingPatch(Input):
    """Fields left out stay as they are. Only description and attributes may be null (cleared)."""

    # Not Optional: null is refused (a listing always has a title and a policy); absent is None.
    title: str = Field(default=None, min_length=1, max_length=200,  # type: ignore[assignment]
                       json_schema_extra=_no_default)
    description: str | None = Field(default=None, max_length=5000, description="null clears it")
    attributes: Attributes | None = Field(default=None, description="null clears them")
    cancellation_policy: PolicyIn = Field(default=None,  # type: ignore[assignment]
                                          json_schema_extra=_no_default)
    # What a listing is and where it is sold stay fixed: bookings and search keys depend on them.
    kind: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    currency: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    city: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    origin: Immutable = Field(default=None, json_schema_extra={"readOnly": True})
    destination: Immutable = Field(default=None, json_schema_extra={"readOnly": True})

    @model_validator(mode="wrap")
    @classmethod
    def _every_bad_field(cls, data: Any, handler: Any) -> Any:
        """Nulls that would remove what a listing needs, with the other field errors, at once."""
        fields: dict[str, str] = {}
        if isinstance(data, dict):
            fields = {name: message for name, message in _REQUIRED_ON_PATCH.items()
                      if name in data and data[name] is None}
        model = None
        try:
            model = handler(data)
        except PydanticValidationError as exc:
            for name, message in from_pydantic(exc).details["fields"].items():
                fields.setdefault(name, message)
        if fields:
            raise ValidationError.for_fields(fields)
        for name, empty in CLEARABLE.items():  # an explicit null clears: "" and {}
            if name in model.model_fields_set and getattr(model, name) is None:
                setattr(model, name, type(empty)())
        return model

    @model_validator(mode="after")
    def _not_empty(self) -> "ListingPatch":
        if not self.model_fields_set:
            raise ValueError("give at least one of title, description, attributes, cancellation_policy")
        return self


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
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY, description="Seats, rooms, tickets or slots")
    max_price: int | None = Field(default=None, ge=0, le=MAX_PRICE_TOTAL,
                                  description="Upper bound of price_total (minor units)")
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


# --- places -----------------------------------------------------------------------------------

def _findable(value: str) -> str:
    if not places.normalize(value):
        raise ValueError("must contain a letter or a digit")
    return value


class PlacesQuery(Query):
    q: Annotated[str, Field(min_length=1, max_length=50,
                            description="Start of an IATA code or a name; any case, accents optional"),
                 AfterValidator(_findable)]
    limit: int = Field(default=10, ge=1, le=50, description="Places to return, 1-50")


class PlaceOut(Output):
    code: str = Field(description="IATA city or airport code, as search takes it")
    type: Literal["city", "airport"]
    name: str
    city: str = Field(description="The city's name (a city's own name)")
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2; null if unknown")
    kinds: list[Kind] = Field(description="What is on sale there")

    @model_serializer(mode="wrap")
    def _keep_country(self, handler: Any):  # type: ignore[no-untyped-def]
        data = handler(self)
        data.setdefault("country", self.country)  # every place has the key, null when unknown
        return data


class PlacesOut(Output):
    places: list[PlaceOut]


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
