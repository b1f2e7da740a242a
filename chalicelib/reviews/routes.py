"""HTTP routes of reviews (thin: parse, call one use case, shape).

Who: anyone reads a listing's reviews; travelers write them (the service checks the booking);
the listing's vendor answers one, once.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .schemas import ReviewOut, ReviewPage

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
schemas = lazy_models(__package__ + ".schemas")  # built by the first request that uses them
TRAVELERS = ("travelers",)
VENDORS = ("vendors",)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _review(review: Any) -> ReviewOut:
    reply = schemas.ReplyOut(body=review.reply.body, created_at=_iso(review.reply.created_at)) \
        if review.reply is not None else None
    return schemas.ReviewOut(review_id=review.review_id, listing_id=review.listing_id, rating=review.rating,
                             comment=review.comment, author=review.author, created_at=_iso(review.created_at),
                             reply=reply)


@endpoint(bp, "POST", "/listings/{listing_id}/reviews", roles=TRAVELERS, body=schemas.NewReview,
          response=schemas.ReviewOut, status=201, tag="reviews",
          errors=("NOT_FOUND", "ALREADY_REVIEWED"),
          summary="Review a listing I booked (a confirmed booking whose date has come): one review per "
                  "booking; without booking_id, only while I have no review of the listing")
def post_review(call: Call) -> ReviewOut:
    b = call.body
    return _review(service.post_review(call.user, call.params["listing_id"], rating=b.rating, comment=b.comment,
                                       booking_id=b.booking_id))


@endpoint(bp, "GET", "/listings/{listing_id}/reviews", query=schemas.ReviewsQuery,
          response=schemas.ReviewPage, tag="reviews", errors=("NOT_FOUND",),
          summary="A listing's reviews, newest first")
def list_reviews(call: Call) -> ReviewPage:
    reviews, next_cursor = service.list_reviews(call.params["listing_id"], limit=call.query.limit,
                                                cursor=call.query.cursor)
    return schemas.ReviewPage(reviews=[_review(r) for r in reviews], next_cursor=next_cursor)


@endpoint(bp, "POST", "/vendor/listings/{listing_id}/reviews/{review_id}/reply", roles=VENDORS,
          body=schemas.NewReply, response=schemas.ReviewOut, status=201, tag="reviews",
          errors=("NOT_FOUND", "ALREADY_REPLIED"),
          summary="Answer a review of my listing, once")
def reply(call: Call) -> ReviewOut:
    return _review(service.reply(call.user, call.params["listing_id"], call.params["review_id"], call.body.body))
