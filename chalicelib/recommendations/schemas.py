"""Request and response shapes of the recommendations routes (API.md "Reviews and recommendations")."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool

from ..core.schemas import Input, Money, Output, Query

Reason = Literal["also_booked", "your_places", "popular_in_searched", "popular"]


class RecommendationsQuery(Query):
    limit: int = Field(default=10, ge=1, le=50, description="How many recommendations, 1-50 (default 10)")


class RatingOut(Output):
    average: float | None = None
    count: int


class RecommendationOut(Output):
    listing_id: str
    kind: str
    title: str
    city: str | None = None
    origin: str | None = None
    destination: str | None = None
    rating: RatingOut
    reason: Reason = Field(description="also_booked: travelers who booked what you booked also booked it; "
                                       "your_places: sells where you go; popular_in_searched: sells where you "
                                       "searched; popular: sells everywhere")
    price_from: Money | None = Field(default=None, description="Undated: the lowest unit price over the next days")
    price: Money | None = Field(default=None, description="Dated (your trip's dates): the price of one unit "
                                                          "for those dates")
    date: str | None = None
    check_in: str | None = None
    check_out: str | None = None


class RecommendationList(Output):
    recommendations: list[RecommendationOut]


class PreferencesIn(Input):
    recommendation_emails: StrictBool = Field(description="A weekly email of top picks, to the account's address")


class PreferencesOut(Output):
    recommendation_emails: bool
