"""Storage of the promotions context.

- `Promotion`: one item per code (the code, upper case, is the key: codes are unique across
  vendors, and a hold finds its promotion with one GetItem). `uses` is the counter the hold's
  transaction adds to, conditioned on `uses < max_uses` and the validity window, so the
  maximum holds under any concurrency; a hold that ends unconfirmed gives its use back in the
  transaction that ends it (booking.lifecycle). A GSI by owner (a vendor id, or "admin") lists
  an owner's promotions newest first.
- `PromotionUse`: one item per (code, traveler): the traveler's uses of the code, counted in
  the same transactions against `max_uses_per_traveler`.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)

ADMIN_OWNER = "admin"  # `owner` of a promotion an administrator created


class OwnerIndex(GlobalSecondaryIndex["Promotion"]):
    """An owner's promotions by creation time (queried newest first). All attributes: a list
    shows every field, and promotions are small and written once (then only `uses` moves)."""

    class Meta:
        index_name = "by-owner"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Promotion(Model):
    class Meta:
        table_name = table_name("promotions")
        billing_mode = "PAY_PER_REQUEST"

    code = UnicodeAttribute(hash_key=True)  # upper case
    owner = UnicodeAttribute()  # vendor id, or ADMIN_OWNER
    vendor_id = UnicodeAttribute(null=True)  # a vendor's promotion applies to its listings only
    percent_off = NumberAttribute(null=True)  # 1..100; or
    amount_off = NumberAttribute(null=True)  # minor units of `currency`
    currency = UnicodeAttribute(null=True)  # with amount_off only
    valid_from = NumberAttribute()  # epoch seconds, inclusive
    valid_to = NumberAttribute()  # epoch seconds, exclusive
    max_uses = NumberAttribute()
    max_uses_per_traveler = NumberAttribute()
    listing_id = UnicodeAttribute(null=True)  # scope: one listing, or
    kind = UnicodeAttribute(null=True)  # scope: one kind of listing
    uses = NumberAttribute(default=0)  # holds that used it and did not end unconfirmed
    created_at = UnicodeAttribute()  # ISO instant, milliseconds (the index's order)
    created_by = UnicodeAttribute()  # the user who created it
    # The creating request's fingerprint: the same request again (a retry after a lost answer)
    # gets the promotion back instead of 409 PROMO_CODE_TAKEN.
    request_hash = UnicodeAttribute()

    by_owner = OwnerIndex()


class PromotionUse(Model):
    class Meta:
        table_name = table_name("promotion-uses")
        billing_mode = "PAY_PER_REQUEST"

    code = UnicodeAttribute(hash_key=True)
    traveler_id = UnicodeAttribute(range_key=True)
    uses = NumberAttribute(default=0)


def all_models() -> list[type[Model]]:
    return [Promotion, PromotionUse]
