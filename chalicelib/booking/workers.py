"""SQS record handlers and the sweeper schedule; app.py's entry points call these.

Records are processed by core.sqs_batch: a failing record is reported in
`batchItemFailures` (the event source mapping has ReportBatchItemFailures, see infra) and
comes back after the visibility timeout; the others are deleted. Handlers are idempotent
because SQS delivers at least once and out of order.

Each worker is a Lambda function of its own: a handler imports only its own use case, so the
confirmation worker's cold start does not load cancellations, refunds and the sweeper.
"""
from __future__ import annotations

import json
from typing import Any

from ..core import sqs_batch
from ..core.sqs_batch import Record


def _body(record: Record) -> dict[str, Any]:
    message = json.loads(record["body"])
    if not isinstance(message, dict) or not message.get("booking_id"):
        raise ValueError("message without booking_id")
    return message


def _confirm(record: Record) -> str:
    from . import confirmation

    return confirmation.confirm_booking(_body(record)["booking_id"])


def _cancel(record: Record) -> str:
    from . import cancellation

    return cancellation.process_cancellation(_body(record)["booking_id"])


def _email(record: Record) -> bool:
    from . import notifications

    message = _body(record)
    return notifications.send_booking_event_email(message["booking_id"], message["event"],
                                                  message.get("refund"), message.get("key"))


def handle_confirmations(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch.process(event, _confirm)


def handle_cancellations(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch.process(event, _cancel)


def handle_notifications(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch.process(event, _email)


def sweep() -> dict[str, int]:
    from . import expiry

    return expiry.release_expired_holds()
