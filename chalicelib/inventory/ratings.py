"""A listing's rating, changed in the same transaction as what it counts (a review).

`add_rating` reads the listing's rating_sum and rating_count (one consistent GetItem), then
commits ONE TransactWriteItems: the listing's new sum, count and rating-index rank
(models.rating_actions), conditioned on rating_count still being the value read, together with
the caller's own items (the review and its uniqueness markers). Optimistic: a concurrent review
of the same listing changes the count, this one's condition fails, it reads again and adds on
top, so every review counts and the average stays exact. Listing.version is not touched: holds
never retry because of a review.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from ..core.errors import NotFound, ServiceUnavailable
from ..core.tables import transaction
from . import domain
from .models import Listing, rating_actions

ATTEMPTS = 8  # each lost race is one other review committed: a burst of 8 on one listing still lands
_BACKOFF_SECONDS = (0.005, 0.03)
_RETRYABLE = (None, "None", "ConditionalCheckFailed", "TransactionConflict")


@dataclass(frozen=True)
class Rating:
    rating_sum: int
    rating_count: int

    @property
    def average(self) -> float | None:
        return domain.rating_average(self.rating_sum, self.rating_count)


class ItemsRefused(Exception):
    """A condition on one of the caller's items failed (nothing was written): the caller reads
    again and decides what that means. `reasons`: the transaction's, for the logs."""

    def __init__(self, reasons: list[str | None]) -> None:
        super().__init__(f"transaction refused: {reasons}")
        self.reasons = reasons


def _read(listing_id: str) -> Rating:
    if not domain.is_valid_id(listing_id, "lst"):
        raise NotFound("No such listing.")
    try:
        item = Listing.get(listing_id, consistent_read=True,
                           attributes_to_get=["listing_id", "rating_sum", "rating_count"])
    except DoesNotExist:
        raise NotFound("No such listing.") from None
    return Rating(int(item.rating_sum or 0), int(item.rating_count or 0))


def _count_is(count: int) -> Any:
    """The listing exists and nobody changed its rating since it was read. A listing written
    before ratings existed has no count: that reads as 0."""
    unchanged = Listing.rating_count == count
    if count == 0:
        unchanged = Listing.rating_count.does_not_exist() | unchanged
    return Listing.listing_id.exists() & unchanged


def _reasons(exc: TransactWriteError) -> list[str | None] | None:
    if exc.cause_response_code != "TransactionCanceledException":
        return None
    return [None if getattr(r, "code", None) in (None, "None") else r.code
            for r in (exc.cancellation_reasons or ())]


def add_rating(listing_id: str, stars: int, add_items: Callable[[Any], None]) -> Rating:
    """Adds `stars` to the listing's rating in one transaction with the items `add_items(tx)`
    puts into it (PynamoDB TransactWrite: `tx.save`, `tx.condition_check`, ...). Returns the
    listing's rating after it. NotFound for an unknown listing; ItemsRefused when a caller's
    condition failed (nothing was written); 503 when the listing stayed too busy."""
    before = _read(listing_id)
    for attempt in range(ATTEMPTS):
        after = Rating(before.rating_sum + stars, before.rating_count + 1)
        tx = transaction()
        tx.update(Listing(listing_id), actions=rating_actions(listing_id, after.rating_sum, after.rating_count),
                  condition=_count_is(before.rating_count))
        add_items(tx)
        try:
            with tx:
                pass  # leaving the block commits (PynamoDB's TransactWrite protocol)
            return after
        except TransactWriteError as exc:
            reasons = _reasons(exc)
            if reasons is None or any(r not in _RETRYABLE for r in reasons):
                raise  # core.api answers 503 for a throttle; anything else is a bug to see
        # PynamoDB sends items grouped by operation, not in the order added, so the reasons do
        # not say whose condition failed; the listing does. A count that only ever grows and
        # did not move means the listing's condition held: one of the caller's failed.
        now = _read(listing_id)
        if "ConditionalCheckFailed" in reasons and now.rating_count == before.rating_count:
            raise ItemsRefused(reasons)
        before = now  # another review landed first (or DynamoDB saw a conflict): add on top
        time.sleep(random.uniform(*_BACKOFF_SECONDS) * (attempt + 1))
    raise ServiceUnavailable("This listing is being rated by many travelers right now; retry in a moment.",
                             headers={"Retry-After": "1"})
