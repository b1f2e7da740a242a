"""What the service needs from AWS, declared once.

Both the local bootstrap (tools/bootstrap.py, against the emulator) and the CloudFormation
synthesis (infra/synth.py) read these declarations, so local and deployed resources match.
"""
from __future__ import annotations

from typing import Any

from pynamodb.models import Model

from chalicelib.core.auth import ROLES
from chalicelib.core.queues import ALL_QUEUES, MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS


def models() -> list[type[Model]]:
    """Every PynamoDB model: one table each. A context that adds a model lists it here."""
    from chalicelib.booking.models import all_models as booking_models
    from chalicelib.booking.payments.models import LocalPayment, StripeEvent
    from chalicelib.core.models import IdempotencyRecord
    from chalicelib.core.rate_limits import AttemptCounter
    from chalicelib.inventory.models import all_models as inventory_models
    from chalicelib.notify.models import all_models as notify_models
    from chalicelib.promotions.models import all_models as promotion_models
    from chalicelib.recommendations.models import all_models as recommendation_models
    from chalicelib.reviews.models import all_models as review_models
    from chalicelib.support.models import all_models as support_models
    from chalicelib.waitlist.models import all_models as waitlist_models

    return [IdempotencyRecord, AttemptCounter, LocalPayment, StripeEvent, *inventory_models(), *booking_models(),
            *support_models(), *notify_models(), *review_models(), *promotion_models(), *waitlist_models(),
            *recommendation_models()]


QUEUES = ALL_QUEUES
QUEUE_ATTRIBUTES = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS)}
DLQ_MAX_RECEIVE_COUNT = MAX_RECEIVE_COUNT
DLQ_RETENTION_SECONDS = 14 * 24 * 3600

GROUPS = ROLES

PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 8, "RequireUppercase": True, "RequireLowercase": True,
    "RequireNumbers": True, "RequireSymbols": False, "TemporaryPasswordValidityDays": 7,
}

USER_POOL_SCHEMA: list[dict[str, Any]] = [
    {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
    {"Name": "name", "AttributeDataType": "String", "Required": False, "Mutable": True},
    # Immutable: set once, by an admin, when the vendor's user is created (AdminCreateUser);
    # nobody can change it afterwards, not even through the admin API.
    {"Name": "vendor_id", "AttributeDataType": "String", "Mutable": False,
     "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "64"}},
]

# What a user may change about themselves with their own access token (UpdateUserAttributes).
# Never custom:vendor_id: a vendor who could write it could become another vendor.
USER_WRITABLE_ATTRIBUTES = ["email", "name"]

APP_CLIENT: dict[str, Any] = {
    "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    "ReadAttributes": ["email", "name", "custom:vendor_id"],
    "WriteAttributes": USER_WRITABLE_ATTRIBUTES,
    "GenerateSecret": False,
}


def pool_name(stage: str) -> str:
    return f"itinera-{stage}"
