"""Request and response shapes of the promotion routes (API.md "Vendors", administrators)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictInt, WithJsonSchema, model_validator

from ..core.errors import FieldError
from ..core.schemas import Cursor, Input, Limit, Output, Page, Query
from . import domain

_ID = r"^[A-Za-z0-9_-]{1,80}$"
# Instants far outside any promotion's life are refused rather than overflowing a datetime.
_EARLIEST, _LATEST = 946684800, 4102444800  # 2000-01-01, 2100-01-01 (UTC)
Kind = Literal["flight", "hotel", "event", "service"]
assert set(Kind.__args__) == set(domain.KINDS)  # type: ignore[attr-defined]


def _instant(value: Any) -> float:
    """Epoch seconds, or an ISO 8601 instant with its offset (a local time without one is
    ambiguous: refused)."""
    if isinstance(value, bool):
        raise ValueError("must be epoch seconds or an ISO 8601 instant with a time zone")
    if isinstance(value, int):
        # Range-checked as an integer: float() of a huge one (10**400) raises OverflowError,
        # which is no ValueError, so it would escape validation as a 500.
        if not _EARLIEST <= value <= _LATEST:
            raise ValueError("must be between 2000 and 2100")
        epoch = float(value)
    elif isinstance(value, float):
        epoch = value  # inf and nan fail the range check below
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO 8601 instant with a time zone") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("needs a time zone (e.g. 2027-03-01T00:00:00Z)")
        epoch = moment.timestamp()
    else:
        raise ValueError("must be epoch seconds or an ISO 8601 instant with a time zone")
    if not _EARLIEST <= epoch <= _LATEST:
        raise ValueError("must be between 2000 and 2100")
    return epoch


Instant = Annotated[float, BeforeValidator(_instant), WithJsonSchema({
    "oneOf": [{"type": "integer", "minimum": _EARLIEST, "maximum": _LATEST, "description": "epoch seconds"},
              {"type": "string", "format": "date-time"}]})]


class NewPromotion(Input):
    code: str = Field(pattern=domain.CODE_PATTERN, description="3-40 of A-Z, 0-9, - and _; any case, stored "
                                                               "in upper case; unique")
    percent_off: StrictInt | None = Field(default=None, ge=1, le=100)
    amount_off: StrictInt | None = Field(default=None, ge=1, le=100_000_000, description="Minor units")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$",
                                 description="Of amount_off; defaults to the listing's with listing_id")
    valid_from: Instant
    valid_to: Instant = Field(description="Exclusive")
    max_uses: StrictInt = Field(ge=1, le=10_000_000)
    max_uses_per_traveler: StrictInt = Field(ge=1, le=10_000_000)
    listing_id: str | None = Field(default=None, pattern=_ID, description="Only this listing")
    kind: Kind | None = Field(default=None, description="Only listings of this kind")

    @model_validator(mode="after")
    def _consistent(self) -> "NewPromotion":
        if (self.percent_off is None) == (self.amount_off is None):
            raise FieldError("give exactly one of `percent_off` and `amount_off`", "percent_off", "amount_off")
        if self.currency is not None and self.amount_off is None:
            raise FieldError("goes with `amount_off` only", "currency")
        if self.listing_id is not None and self.kind is not None:
            raise FieldError("give `listing_id` or `kind`, not both", "listing_id", "kind")
        if self.valid_to <= self.valid_from:
            raise FieldError("must be after `valid_from`", "valid_to")
        if self.max_uses_per_traveler > self.max_uses:
            raise FieldError("must not exceed `max_uses`", "max_uses_per_traveler")
        return self


class PromotionOut(Output):
    promotion_id: str = Field(description="The code, in upper case")
    code: str
    percent_off: int | None = None
    amount_off: int | None = Field(default=None, description="Minor units of `currency`")
    currency: str | None = None
    valid_from: str
    valid_to: str
    max_uses: int
    max_uses_per_traveler: int
    listing_id: str | None = None
    kind: str | None = None
    vendor_id: str | None = Field(default=None, description="A vendor's promotion applies to its listings only")
    uses: int = Field(description="Holds that used the code and did not end unconfirmed")
    created_at: str


class PromotionPage(Page):
    promotions: list[PromotionOut]


class PromotionsQuery(Query):
    limit: Limit = 20
    cursor: Cursor | None = None


class AdminPromotionsQuery(Query):
    vendor_id: str | None = Field(default=None, pattern=_ID,
                                  description="A vendor's promotions; without it, the administrators' own")
    limit: Limit = 20
    cursor: Cursor | None = None
