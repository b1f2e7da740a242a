"""The reads of a search (topk.Store) on DynamoDB, with the least parsing per row.

Rows are read as botocore returns them and only the attributes a search needs are turned into
numbers: no model object is built for a row the search then discards. The search index
projects only available, price and currency (models.SearchIndex), the rating index only keys.
"""
from __future__ import annotations

import itertools
import random
import time
from typing import Any, Sequence

from .domain import price_prefix
from .models import AvailabilityDay, Listing
from .topk import Row, Stream

BATCH_GET_MAX = 100  # keys per BatchGetItem
UNPROCESSED_MAX_PAUSE_S = 1.0
_ROW_ATTRIBUTES = {"ProjectionExpression": "listing_id, #d, available, price, currency",
                   "ExpressionAttributeNames": {"#d": "date"}}


def _client() -> Any:
    return AvailabilityDay._get_connection().connection.client  # the models' one client (core.aws)


def _row(item: dict[str, Any]) -> Row:
    return Row(item["listing_id"]["S"], item["date"]["S"], int(item["available"]["N"]),
               int(item["price"]["N"]), item["currency"]["S"])


class IndexStore:
    """Reads the search and rating indexes and the availability table."""

    def __init__(self, max_unit_total: int | None = None) -> None:
        # No single date of a stay costs more than the whole budget (prices are never negative),
        # so the budget ends each date's price-ordered list early, in the key condition itself.
        self._below = None if max_unit_total is None else price_prefix(max_unit_total + 1)

    def offers(self, stream: Stream, limit: int) -> tuple[list[Row], str | None]:
        index = AvailabilityDay.by_search.Meta
        condition, values = "search_key = :k", {":k": {"S": stream.key}}
        if self._below is not None:
            condition += " AND search_rank < :b"
            values[":b"] = {"S": self._below}
        request: dict[str, Any] = {"TableName": AvailabilityDay.Meta.table_name, "IndexName": index.index_name,
                                   "KeyConditionExpression": condition, "ExpressionAttributeValues": values,
                                   "Limit": limit}
        if stream.position is not None:
            request["ExclusiveStartKey"] = {
                "search_key": {"S": stream.key}, "search_rank": {"S": stream.position},
                "listing_id": {"S": stream.position.split("#", 1)[1]}, "date": {"S": stream.date}}
        response = _client().query(**request)
        last = response.get("LastEvaluatedKey")
        return [_row(item) for item in response.get("Items", [])], last["search_rank"]["S"] if last else None

    def listings(self, stream: Stream, limit: int) -> tuple[list[str], str | None]:
        request: dict[str, Any] = {"TableName": Listing.Meta.table_name, "IndexName": Listing.by_rating.Meta.index_name,
                                   "KeyConditionExpression": "place_key = :k",
                                   "ExpressionAttributeValues": {":k": {"S": stream.key}}, "Limit": limit}
        if stream.position is not None:
            request["ExclusiveStartKey"] = {
                "place_key": {"S": stream.key}, "rating_rank": {"S": stream.position},
                "listing_id": {"S": stream.position.rsplit("#", 1)[1]}}
        response = _client().query(**request)
        last = response.get("LastEvaluatedKey")
        return [item["rating_rank"]["S"] for item in response.get("Items", [])], (
            last["rating_rank"]["S"] if last else None)

    def rows(self, keys: Sequence[tuple[str, str]]) -> list[Row]:
        table = AvailabilityDay.Meta.table_name
        found: list[Row] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            pending: dict[str, Any] = {table: {"Keys": [{"listing_id": {"S": i}, "date": {"S": d}}
                                                        for i, d in keys[start:start + BATCH_GET_MAX]],
                                               **_ROW_ATTRIBUTES}}
            for attempt in itertools.count():
                response = _client().batch_get_item(RequestItems=pending)
                found.extend(_row(item) for item in response["Responses"].get(table, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
                # Keys left unprocessed mean the table is throttling: ask again after a pause
                # that grows, with jitter, as DynamoDB's documentation asks of BatchGetItem.
                time.sleep(random.uniform(0, min(UNPROCESSED_MAX_PAUSE_S, 0.02 * 2 ** attempt)))
        return found
