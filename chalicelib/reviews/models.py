"""Storage of the reviews context.

- `Review`: a listing's reviews, keyed (listing_id, sort_key) where the sort key is the
  microsecond instant then the review id (domain.sort_key): the public list is one Query read
  backwards, newest first, whose cost grows with the page, not with the listing's reviews.
- `ReviewRef`: one item per review id, which is derived from (booking, listing)
  (domain.review_id_for). Put with `attribute_not_exists` in the same transaction as the review
  and the listing's new rating, it is what makes "one review per booking" hold under retries
  and racing twins; it also finds a review from its id alone (a vendor's reply).
  The same table holds one more item per (traveler, listing) that has a review, keyed
  `rt_...` (domain.traveler_review_key; never a review id): a copy of the traveler's first
  review's ref, put with `attribute_not_exists` in that review's transaction. A review that
  names no booking is written only where it is absent, so a retried request is a 409, never a
  review of another stay; its GetItem also names the earlier review in that 409.

No index: both access patterns are key lookups.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)


class ReplyAttribute(MapAttribute[str, Any]):
    body = UnicodeAttribute()
    created_at = NumberAttribute()  # epoch seconds


class Review(Model):
    class Meta:
        table_name = table_name("reviews")
        billing_mode = "PAY_PER_REQUEST"

    listing_id = UnicodeAttribute(hash_key=True)
    sort_key = UnicodeAttribute(range_key=True)  # <instant, microseconds>#<review_id>
    review_id = UnicodeAttribute()
    booking_id = UnicodeAttribute()
    traveler_id = UnicodeAttribute()
    author = UnicodeAttribute()  # the first name shown with it, copied when it was written
    rating = NumberAttribute()
    comment = UnicodeAttribute(null=True)  # plain text as written; absent when empty
    created_at = NumberAttribute()  # epoch seconds
    reply = ReplyAttribute(null=True)  # the vendor's one answer


class ReviewRef(Model):
    class Meta:
        table_name = table_name("review-ids")
        billing_mode = "PAY_PER_REQUEST"

    review_id = UnicodeAttribute(hash_key=True)  # a review id, or a (traveler, listing) key "rt_..."
    listing_id = UnicodeAttribute()
    sort_key = UnicodeAttribute()  # the review's key in `Review`
    booking_id = UnicodeAttribute()
    traveler_id = UnicodeAttribute()


def all_models() -> list[type[Model]]:
    return [Review, ReviewRef]
