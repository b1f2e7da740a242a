"""HTTP routes of recommendations (thin: parse, call one use case, shape). Travelers only."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .schemas import PreferencesOut, RecommendationList

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
schemas = lazy_models(__package__ + ".schemas")
TRAVELERS = ("travelers",)


def _money(amount: int, currency: str) -> Any:
    return schemas.Money(amount=amount, currency=currency)


def _out(recommendation: Any) -> Any:
    offer, listing = recommendation.offer, recommendation.listing
    price = {"price": _money(offer.price, offer.currency)} if offer.dated \
        else {"price_from": _money(offer.price, offer.currency)}
    return schemas.RecommendationOut(
        listing_id=listing.listing_id, kind=listing.kind, title=listing.title, city=listing.city,
        origin=listing.origin, destination=listing.destination,
        rating=schemas.RatingOut(average=listing.rating_average, count=listing.rating_count),
        reason=offer.reason, date=offer.date, check_in=offer.check_in, check_out=offer.check_out, **price)


@endpoint(bp, "GET", "/me/recommendations", roles=TRAVELERS, query=schemas.RecommendationsQuery,
          response=schemas.RecommendationList, tag="recommendations",
          summary="Listings for me: what travelers who booked what I booked also booked, what sells where "
                  "I go or searched; never sold out, never what I already booked for the same dates")
def recommendations(call: Call) -> RecommendationList:
    found = service.recommend(call.user, limit=call.query.limit)
    return schemas.RecommendationList(recommendations=[_out(r) for r in found])


@endpoint(bp, "GET", "/me/preferences", roles=TRAVELERS, response=schemas.PreferencesOut,
          tag="recommendations", summary="My email preferences")
def get_preferences(call: Call) -> PreferencesOut:
    return schemas.PreferencesOut(recommendation_emails=service.get_preferences(call.user).recommendation_emails)


@endpoint(bp, "PUT", "/me/preferences", roles=TRAVELERS, body=schemas.PreferencesIn,
          response=schemas.PreferencesOut, tag="recommendations",
          summary="Opt in to (or out of) a weekly email of top picks, sent to my account's address")
def set_preferences(call: Call) -> PreferencesOut:
    chosen = service.set_preferences(call.user, recommendation_emails=call.body.recommendation_emails)
    return schemas.PreferencesOut(recommendation_emails=chosen.recommendation_emails)
