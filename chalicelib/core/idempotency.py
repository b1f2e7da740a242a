"""Idempotency-Key handling for requests whose work is one DynamoDB transaction.

The record of a request (its fingerprint and its first answer) is written *in the same
transaction* as the work, so either both exist or neither does: a retry finds the record and
gets the first answer back, never a second hold or a second payment. (Powertools'
`@idempotent` keeps its record in a separate write around the function, which cannot give
that guarantee, and on a Chalice view it hashes the whole event; DESIGN pitfall 5.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pynamodb.transactions import TransactWrite

from . import clock
from .errors import IdempotencyKeyReused
from .models import IdempotencyRecord

RETENTION_SECONDS = 48 * 3600  # API.md promises at least 24 hours
COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class Replay:
    """The first answer to an Idempotency-Key, to be sent again as it was."""
    status: int
    body: Any


def replay(key: str, request_hash: str) -> Replay | None:
    """`previous_response` as a result services return (routes send it as stored)."""
    previous = previous_response(key, request_hash)
    return None if previous is None else Replay(*previous)


def record_key(scope: str, caller: str, key: str) -> str:
    """Keys are per route and per caller: two travelers may pick the same key."""
    return f"{scope}#{caller}#{key}"


def save_response(tx: TransactWrite, key: str, request_hash: str, status: int, body: Any,
                  now: float | None = None) -> None:
    """Add the record to `tx`; the transaction fails if the key was used before."""
    now = clock.now() if now is None else now
    record = IdempotencyRecord(key, request_hash=request_hash, status=COMPLETED, response_status=status,
                               response_body=json.dumps(body, separators=(",", ":")), created_at=int(now),
                               expires_at=datetime.fromtimestamp(now + RETENTION_SECONDS, tz=timezone.utc))
    tx.save(record, condition=IdempotencyRecord.key.does_not_exist())


def previous_response(key: str, request_hash: str) -> tuple[int, Any] | None:
    """The first answer for this key, if any; 422 if the key came with another request."""
    try:
        record = IdempotencyRecord.get(key, consistent_read=True)
    except IdempotencyRecord.DoesNotExist:
        return None
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request.",
            {"header": "Idempotency-Key"})
    return int(record.response_status or 200), json.loads(record.response_body or "null")
