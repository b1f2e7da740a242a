"""The support context's records on the notifications queue, and their dispatch.

The notifications queue carries booking emails and case emails; app.py's entry point hands
the batch to `with_case_emails(booking_handler)`: case emails are handled here, every other
record goes to the booking worker unchanged, and the failures of both are reported together
(`batchItemFailures`), so a failing record of either kind is retried alone.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from ..core import sqs_batch
from ..core.observability import logger
from ..core.sqs_batch import Record
from .notifications import MESSAGE_TYPE, send_answer_email

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def is_case_email(record: dict[str, Any]) -> bool:
    try:
        message = json.loads(record.get("body") or "")
    except ValueError:
        return False  # not ours: the booking worker reports it as failed
    return isinstance(message, dict) and message.get("type") == MESSAGE_TYPE


def _email(record: Record) -> bool:
    message = json.loads(record["body"])
    if not message.get("case_id") or not isinstance(message.get("seq"), int):
        raise ValueError("case email without case_id or seq")
    return send_answer_email(message["case_id"], message["seq"])


def handle_case_emails(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch.process(event, _email)


def _failures(handler: Handler, records: list[dict[str, Any]], context: Any) -> list[dict[str, str]]:
    if not records:
        return []
    try:
        return list(handler({"Records": records}, context).get("batchItemFailures", []))
    except Exception:  # sqs_batch raises when every record of a batch failed: all are retried
        logger.exception("notification records failed", extra={"records": len(records)})
        return [{"itemIdentifier": record["messageId"]} for record in records]



def with_case_emails(others: Handler) -> Handler:
    """A notifications handler: case emails here, everything else to `others`."""
    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records", [])
        ours = [r for r in records if is_case_email(r)]
        rest = [r for r in records if not is_case_email(r)]
        return {"batchItemFailures": _failures(handle_case_emails, ours, context) + _failures(others, rest, context)}
    return handle
