"""HTTP routes of promotions (thin: parse, call one use case, shape).

Vendors create and list codes for their own listings; administrators for any listing (or all).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .domain import Terms
    from .schemas import PromotionOut, PromotionPage

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
domain = lazy_module(__package__ + ".domain")
schemas = lazy_models(__package__ + ".schemas")  # built by the first request that uses them
VENDORS = ("vendors",)
ADMINS = ("admins",)
ADMIN_OWNER = "admin"  # = models.ADMIN_OWNER (not imported: the models load PynamoDB)


def _out(terms: Terms) -> PromotionOut:
    return schemas.PromotionOut(
        promotion_id=terms.code, code=terms.code, percent_off=terms.percent_off, amount_off=terms.amount_off,
        currency=terms.currency, valid_from=domain.iso(terms.valid_from), valid_to=domain.iso(terms.valid_to),
        max_uses=terms.max_uses, max_uses_per_traveler=terms.max_uses_per_traveler, listing_id=terms.listing_id,
        kind=terms.kind, vendor_id=terms.vendor_id, uses=terms.uses, created_at=terms.created_at)


def _page(owner: str, limit: int, cursor: str | None) -> PromotionPage:
    promotions, next_cursor = service.list_for(owner, limit, cursor)
    return schemas.PromotionPage(promotions=[_out(p) for p in promotions], next_cursor=next_cursor)


@endpoint(bp, "POST", "/vendor/promotions", roles=VENDORS, body=schemas.NewPromotion,
          response=schemas.PromotionOut, status=201, tag="vendor", errors=("NOT_FOUND", "PROMO_CODE_TAKEN"),
          summary="Create a promotion code for my listings (all, one kind, or one listing)")
def create_vendor_promotion(call: Call) -> PromotionOut:
    vendor_id = service.vendor_of(call.user)
    return _out(service.create(call.user, vendor_id, call.body.model_dump()))


@endpoint(bp, "GET", "/vendor/promotions", roles=VENDORS, query=schemas.PromotionsQuery,
          response=schemas.PromotionPage, tag="vendor", summary="My promotions, newest first")
def list_vendor_promotions(call: Call) -> PromotionPage:
    return _page(service.vendor_of(call.user), call.query.limit, call.query.cursor)


@endpoint(bp, "POST", "/admin/promotions", roles=ADMINS, body=schemas.NewPromotion,
          response=schemas.PromotionOut, status=201, tag="admin", errors=("NOT_FOUND", "PROMO_CODE_TAKEN"),
          summary="Create a promotion code for any listing (all, one kind, or one listing)")
def create_admin_promotion(call: Call) -> PromotionOut:
    return _out(service.create(call.user, None, call.body.model_dump()))


@endpoint(bp, "GET", "/admin/promotions", roles=ADMINS, query=schemas.AdminPromotionsQuery,
          response=schemas.PromotionPage, tag="admin",
          summary="The administrators' promotions, or a vendor's (vendor_id), newest first")
def list_admin_promotions(call: Call) -> PromotionPage:
    q = call.query
    return _page(q.vendor_id or ADMIN_OWNER, q.limit, q.cursor)
