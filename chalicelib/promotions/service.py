"""The promotions context's use cases: create a promotion (a vendor for its listings, an
administrator for any), list an owner's promotions. Holds and lifecycle transitions count uses
through `promotions.usage`.
"""
from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from pynamodb.exceptions import PutError

from ..core import clock, pagination
from ..core.auth import Principal
from ..core.errors import NotFound, PromoCodeTaken, ValidationError
from ..core.lazy import lazy_module
from ..core.observability import count
from . import domain
from .models import ADMIN_OWNER, Promotion
from .usage import terms_of

# Another context is reached through its service functions only (DESIGN "Shape").
inventory = lazy_module("chalicelib.inventory.service")
currencies = lazy_module("chalicelib.inventory.currencies")


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fingerprint(owner: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps([owner, fields], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _listing(listing_id: str, vendor_id: str | None) -> Any:
    """The scoped listing: a vendor's own (another vendor's is 404 too: existence is not
    revealed), or any existing one for an administrator."""
    try:
        listing = inventory.get_listing(listing_id)
    except NotFound:
        listing = None
    if listing is None or (vendor_id is not None and listing.vendor_id != vendor_id):
        raise NotFound("No such listing.", {"field": "listing_id"})
    return listing


def create(user: Principal, vendor_id: str | None, fields: dict[str, Any], now: float | None = None) -> domain.Terms:
    """POST /vendor/promotions (`vendor_id`: the caller's vendor) or /admin/promotions (None).

    `fields` is the validated body (promotions.schemas.NewPromotion). The code is unique across
    owners: a code in use is 409 PROMO_CODE_TAKEN, unless it is this very request again (a
    retry after a lost answer), which gets the promotion back.
    """
    now = clock.now() if now is None else now
    owner = vendor_id or ADMIN_OWNER
    code = domain.normalize_code(fields["code"])
    if code is None:  # the schema's pattern already refused it
        raise ValidationError.for_fields({"code": "must be 3 to 40 of A-Z, 0-9, - and _"})
    errors = domain.creation_errors(valid_to=fields["valid_to"], now=now)
    if errors:
        raise ValidationError.for_fields(errors)
    listing = _listing(fields["listing_id"], vendor_id) if fields.get("listing_id") else None
    currency = fields.get("currency")
    if fields.get("amount_off") is not None:
        if currency is None and listing is not None:
            currency = listing.currency
        if currency is None:
            raise ValidationError.for_fields({"currency": "is required with amount_off (or give listing_id, "
                                                          "whose currency is then used)"})
        if not currencies.is_currency(currency):
            raise ValidationError.for_fields({"currency": "is not an ISO 4217 currency code"})
        if listing is not None and listing.currency != currency:
            raise ValidationError.for_fields({"currency": f"the listing is priced in {listing.currency}"})
    record = Promotion(
        code, owner=owner, vendor_id=vendor_id, percent_off=fields.get("percent_off"),
        amount_off=fields.get("amount_off"), currency=currency if fields.get("amount_off") is not None else None,
        valid_from=int(fields["valid_from"]), valid_to=int(fields["valid_to"]), max_uses=fields["max_uses"],
        max_uses_per_traveler=fields["max_uses_per_traveler"], listing_id=fields.get("listing_id"),
        kind=fields.get("kind"), uses=0, created_at=_stamp(now), created_by=user.user_id,
        request_hash=_fingerprint(owner, {**fields, "code": code}))
    try:
        record.save(condition=Promotion.code.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        existing = Promotion.get(code, consistent_read=True)
        if existing.owner == owner and existing.request_hash == record.request_hash:
            return terms_of(existing)  # the same request again: its promotion
        raise PromoCodeTaken("This promotion code is already in use; choose another.", {"field": "code"}) from None
    count("PromotionsCreated")
    return terms_of(record)


def list_for(owner: str, limit: int, cursor: str | None) -> tuple[list[domain.Terms], str | None]:
    """An owner's promotions (a vendor id, or "admin"), newest first; one Query per page."""
    records, next_cursor = pagination.query_page(
        functools.partial(Promotion.by_owner.query, owner, scan_index_forward=False),
        limit=limit, cursor=cursor, scope="promotions:" + owner)
    return [terms_of(r) for r in records], next_cursor


def vendor_of(user: Principal) -> str:
    """The vendor a token acts for (403 for a `vendors` user linked to none)."""
    return inventory.vendor_of(user)
