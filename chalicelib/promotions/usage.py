"""Counting uses of a promotion, for the booking context's transactions.

Kept apart from `service` (creating and listing) so that a hold and a lifecycle transition load
only the models and these few expressions, not the catalog the creation checks listings with.

A hold that uses a code adds two items to its own transaction (`take`):
- the promotion's `uses` + 1, conditioned on `uses < max_uses` and on the window at the hold's
  instant: concurrent holds can never pass the maximum, and a promotion that ends between the
  read and the write is refused;
- the traveler's `PromotionUse.uses` + 1, conditioned on `uses < max_uses_per_traveler`.
A hold that ends unconfirmed (expired, cancelled while held, payment failed) gives both back in
the transition's transaction (`give_back`), which is conditioned on the booking's status: a
duplicate message or a retried request gives back nothing twice.
"""
from __future__ import annotations

from typing import Any, Callable

from . import domain
from .models import Promotion, PromotionUse

# Labels of the two items in a labelled transaction (booking.transactions).
PROMOTION, TRAVELER_USE = "promotion", "promotion-use"
Operation = Callable[[Any], None]  # adds one item to a TransactWrite


def terms_of(record: Promotion) -> domain.Terms:
    return domain.Terms(
        code=record.code, vendor_id=record.vendor_id,
        percent_off=None if record.percent_off is None else int(record.percent_off),
        amount_off=None if record.amount_off is None else int(record.amount_off), currency=record.currency,
        valid_from=int(record.valid_from), valid_to=int(record.valid_to), max_uses=int(record.max_uses),
        max_uses_per_traveler=int(record.max_uses_per_traveler), listing_id=record.listing_id,
        kind=record.kind, uses=int(record.uses or 0), owner=record.owner, created_at=record.created_at)


def load(raw_code: str) -> domain.Terms:
    """The promotion of a code given at POST /holds (one consistent GetItem); 422 not_found."""
    code = domain.normalize_code(raw_code)
    if code is None:
        raise domain.refused(domain.NOT_FOUND)
    try:
        return terms_of(Promotion.get(code, consistent_read=True))
    except Promotion.DoesNotExist:
        raise domain.refused(domain.NOT_FOUND) from None


def take(terms: domain.Terms, traveler_id: str, now: float) -> list[tuple[str, Operation]]:
    """The two updates a hold adds to its transaction, with their labels."""
    at = int(now)

    def promotion(tx: Any) -> None:
        tx.update(Promotion(terms.code), actions=[Promotion.uses.add(1)],
                  condition=(Promotion.uses < Promotion.max_uses) & (Promotion.valid_from <= at)
                  & (Promotion.valid_to > at))

    def traveler(tx: Any) -> None:
        tx.update(PromotionUse(terms.code, traveler_id), actions=[PromotionUse.uses.add(1)],
                  condition=PromotionUse.uses.does_not_exist()
                  | (PromotionUse.uses < terms.max_uses_per_traveler))

    return [(PROMOTION, promotion), (TRAVELER_USE, traveler)]


def give_back(code: str, traveler_id: str) -> list[tuple[str, Operation]]:
    """The two updates that return a use (a hold that ended unconfirmed). Conditioned on
    `uses > 0`: the transition is applied once, so failing it would mean a broken count; then
    `booking.lifecycle.apply` applies the transition without it and reports the drift (a log
    error and the PromotionGiveBackSkipped metric) rather than leave the booking stuck."""

    def promotion(tx: Any) -> None:
        tx.update(Promotion(code), actions=[Promotion.uses.add(-1)], condition=Promotion.uses > 0)

    def traveler(tx: Any) -> None:
        tx.update(PromotionUse(code, traveler_id), actions=[PromotionUse.uses.add(-1)],
                  condition=PromotionUse.uses > 0)

    return [(PROMOTION, promotion), (TRAVELER_USE, traveler)]


def refusal_reason(code: str, now: float) -> str:
    """Why a hold transaction's promotion condition failed: read it again (it ended, started
    later than thought, or its last use went to another hold)."""
    try:
        terms = terms_of(Promotion.get(code, consistent_read=True))
    except Promotion.DoesNotExist:
        return domain.NOT_FOUND
    return terms.window_reason(int(now)) or domain.EXHAUSTED
