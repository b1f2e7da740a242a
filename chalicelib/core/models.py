"""Storage owned by core: the idempotency records of API requests."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from .aws import share_aws_clients
from .config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)


class IdempotencyRecord(Model):
    """One per (route, caller, Idempotency-Key): the request's fingerprint and its first answer.

    Written in the same transaction as the work it guards (a hold, a payment), so the work and
    the record exist together or not at all. `expires_at` is a TTL attribute (cleanup only).
    """

    class Meta:
        table_name = table_name("idempotency")
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)
    request_hash = UnicodeAttribute()
    status = UnicodeAttribute()  # IN_PROGRESS | COMPLETED
    response_status = NumberAttribute(null=True)
    response_body = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = TTLAttribute()  # cleanup only: TTL may lag for days
