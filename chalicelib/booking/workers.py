"""SQS record handlers and the sweeper schedule; app.py's entry points call these.

Records are processed with Powertools' BatchProcessor: a failing record is reported in
`batchItemFailures` (the event source mapping has ReportBatchItemFailures, see infra) and
comes back after the visibility timeout; the others are deleted. Handlers are idempotent
because SQS delivers at least once and out of order.

Each worker is a Lambda function of its own: a handler imports only its own use case, so the
confirmation worker's cold start does not load cancellations, refunds and the sweeper.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def _body(record: SQSRecord) -> dict[str, Any]:
    message = json.loads(record.body)
    if not isinstance(message, dict) or not message.get("booking_id"):
        raise ValueError("message without booking_id")
    return message


def _confirm(record: SQSRecord) -> str:
    from . import confirmation

    return confirmation.confirm_booking(_body(record)["booking_id"])


def _cancel(record: SQSRecord) -> str:
    from . import cancellation

    return cancellation.process_cancellation(_body(record)["booking_id"])


def _email(record: SQSRecord) -> bool:
    from . import notifications

    message = _body(record)
    return notifications.send_booking_event_email(message["booking_id"], message["event"],
                                                  message.get("refund"), message.get("key"))


def _process(event: dict[str, Any], context: Any, handler: Callable[[SQSRecord], Any]) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=handler,
                                    processor=BatchProcessor(event_type=EventType.SQS), context=context)


def handle_confirmations(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _process(event, context, _confirm)


def handle_cancellations(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _process(event, context, _cancel)


def handle_notifications(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _process(event, context, _email)


def sweep() -> dict[str, int]:
    from . import expiry

    return expiry.release_expired_holds()
