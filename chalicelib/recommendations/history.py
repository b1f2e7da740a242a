"""Reading a traveler's History items by key (the worker and the read both do).

One BatchGetItem per 100 keys. Keys DynamoDB leaves unprocessed (throttling) are asked again
after a growing, jittered pause, at most ATTEMPTS calls, then ServiceUnavailable: a request
answers 503 with Retry-After, a worker's message fails and SQS brings it back. (PynamoDB's
batch_get asks again at once, for as long as DynamoDB refuses.)
"""
from __future__ import annotations

import random
import time
from typing import Any, Iterable

from ..core.errors import ServiceUnavailable
from . import domain
from .models import History

BATCH_KEYS = 100  # BatchGetItem's limit per request
ATTEMPTS = 5
BACKOFF_BASE = 0.05  # seconds before the second call; doubles each time
BACKOFF_CAP = 1.0


def to_past(item: History) -> domain.Past:
    return domain.Past(item.listing_id, item.kind, item.place, int(item.price_level), tuple(item.dates or ()),
                       float(item.last_at), int(item.bookings or 0), item.first_booking)


def get_items(traveler_id: str, listing_ids: Iterable[str], *, consistent: bool = False) -> list[History]:
    """The traveler's History items with these listing ids (absent ones left out)."""
    table = History.Meta.table_name
    keys = [{"traveler_id": {"S": traveler_id}, "listing_id": {"S": i}} for i in dict.fromkeys(listing_ids)]
    client = History._get_connection().connection.client  # the models' one client (core.aws)
    found: list[History] = []
    for start in range(0, len(keys), BATCH_KEYS):
        pending: dict[str, Any] = {table: {"Keys": keys[start:start + BATCH_KEYS], "ConsistentRead": consistent}}
        for attempt in range(ATTEMPTS + 1):
            if not pending:
                break
            if attempt == ATTEMPTS:
                raise ServiceUnavailable("Recommendations are busy right now; try again shortly.",
                                         headers={"Retry-After": "1"})
            if attempt:
                pause = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
                time.sleep(random.uniform(pause / 2, pause))
            response = client.batch_get_item(RequestItems=pending)
            found.extend(History.from_raw_data(raw) for raw in response["Responses"].get(table, []))
            pending = response.get("UnprocessedKeys") or {}
    return found
