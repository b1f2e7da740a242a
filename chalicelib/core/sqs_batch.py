"""SQS partial batch responses for the workers' entry points.

What Powertools' BatchProcessor does for SQS, in the few lines it takes: each record is
handled on its own; one that raises is logged and reported in `batchItemFailures`, so SQS
redelivers it alone and deletes the others (every SQS event source has
ReportBatchItemFailures, see infra). When every record failed, the invocation fails, as with
Powertools: SQS retries the batch and the function's Errors alarm sees it.

Written here rather than imported because Powertools' batch utility loads asyncio and every
event data class on import: ~40 ms of a confirmation worker's cold start (`-X importtime` on
the built package), a fifth of what the worker adds over the floor `make bench` measures.
"""
from __future__ import annotations

from typing import Any, Callable

from .observability import logger

Record = dict[str, Any]  # one SQS record as Lambda delivers it: messageId, body, attributes...


class BatchFailed(Exception):
    """Every record of the batch failed; raised so the invocation fails and SQS retries it."""


def process(event: dict[str, Any], handler: Callable[[Record], Any]) -> dict[str, list[dict[str, str]]]:
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise ValueError("an SQS event without Records")
    failures = []
    for record in records:
        try:
            handler(record)
        except Exception:  # any failure: this record is retried alone, the others are done
            logger.exception("SQS record failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    if len(failures) == len(records):
        raise BatchFailed(f"all {len(records)} records of the batch failed")
    return {"batchItemFailures": failures}
