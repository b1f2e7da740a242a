"""Storage of the support context.

- `SupportCase`: one item per case (no thread inside, so it never grows). `version` guards
  every write; `message_count` is the sequence number of the last message.
  Two indexes answer the two lists: a traveler's cases by creation time, and the agents'
  queue by status and the time the case entered it (oldest waiting first).
- `SupportMessage`: one item per message, keyed (case, seq); written in the same transaction
  as the case's version bump, with `attribute_not_exists`, so two concurrent answers can
  never take the same place in the thread.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from ..core.aws import share_aws_clients
from ..core.config import table_name

share_aws_clients()  # one botocore loader and DynamoDB client for every model (core.aws)


class TravelerCasesIndex(GlobalSecondaryIndex["SupportCase"]):
    class Meta:
        index_name = "by-traveler"
        projection = AllProjection()

    traveler_id = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class QueueIndex(GlobalSecondaryIndex["SupportCase"]):
    """The agents' queue: a status's cases, oldest waiting first. Three statuses make three
    partitions; a support desk's volume is far below one partition's throughput."""

    class Meta:
        index_name = "by-status-waiting"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    waiting_since = NumberAttribute(range_key=True)


class SupportCase(Model):
    class Meta:
        table_name = table_name("support-cases")
        billing_mode = "PAY_PER_REQUEST"

    case_id = UnicodeAttribute(hash_key=True)
    traveler_id = UnicodeAttribute()
    traveler_email = UnicodeAttribute()  # where answers are emailed
    traveler_name = UnicodeAttribute(null=True)
    subject = UnicodeAttribute()
    status = UnicodeAttribute()
    booking_id = UnicodeAttribute(null=True)
    booking_reference = UnicodeAttribute(null=True)
    created_at = NumberAttribute()  # epoch seconds (fractions kept: the lists' order)
    updated_at = NumberAttribute()
    waiting_since = NumberAttribute()
    version = NumberAttribute()
    message_count = NumberAttribute()
    emailed_seq = NumberAttribute(default=0)  # the last agent message emailed to the traveler
    opened_by = UnicodeAttribute(null=True)  # "system" for a case the service opened; else the traveler

    by_traveler = TravelerCasesIndex()
    by_queue = QueueIndex()


class SupportMessage(Model):
    class Meta:
        table_name = table_name("support-messages")
        billing_mode = "PAY_PER_REQUEST"

    case_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    at = NumberAttribute()
    author = UnicodeAttribute()  # traveler | agent
    author_id = UnicodeAttribute()  # the user who wrote it (which agent answered)
    body = UnicodeAttribute()


def all_models() -> list[type[Model]]:
    return [SupportCase, SupportMessage]
