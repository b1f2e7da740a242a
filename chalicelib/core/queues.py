"""The SQS queues of the service, by logical name, and sending to them.

Each queue has a dead-letter queue `<name>-dlq` (maxReceiveCount 5); infra and the local
bootstrap both create exactly the queues listed here.
"""
from __future__ import annotations

import json
import os
from typing import Any

from . import aws
from .config import queue_name

CONFIRMATIONS = "confirmations"
CANCELLATIONS = "cancellations"
NOTIFICATIONS = "notifications"
WEBHOOKS = "webhooks"  # vendor webhook deliveries (notify.delivery); its DLQ holds the given-up events
WAITLIST = "waitlist"  # units came free on (listing, dates): offer them to the waitlist (waitlist.workers)
RECOMMENDATIONS = "recommendations"  # a booking was confirmed: count it in the co-bookings

ALL_QUEUES = (CONFIRMATIONS, CANCELLATIONS, NOTIFICATIONS, WEBHOOKS, WAITLIST, RECOMMENDATIONS)
MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_SECONDS = 30

_urls: dict[str, str] = {}


def url_variable(name: str) -> str:
    """The variable in which infra gives a function the URL of a queue it sends to."""
    return "ITINERA_QUEUE_URL_" + name.upper().replace("-", "_")


def queue_url(name: str) -> str:
    if name not in _urls:
        # Deployed, the URL comes with the function (infra): a GetQueueUrl round trip less per
        # queue on a cold start (three on a confirmation). Elsewhere SQS is asked, once.
        _urls[name] = (os.environ.get(url_variable(name))
                       or aws.client("sqs").get_queue_url(QueueName=queue_name(name))["QueueUrl"])
    return _urls[name]


# SQS delays a message at most 15 minutes.
MAX_DELAY_SECONDS = 900


def dead_letter_queue(name: str) -> str:
    return f"{name}-dlq"


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    return {"kind": {"DataType": "String", "StringValue": str(message.get("type", ""))}}


def send(name: str, message: dict[str, Any], *, delay_seconds: int = 0) -> None:
    """`delay_seconds` (0-900): the message is invisible to consumers until then."""
    extra = {"DelaySeconds": max(0, min(int(delay_seconds), MAX_DELAY_SECONDS))} if delay_seconds else {}
    aws.client("sqs").send_message(QueueUrl=queue_url(name), MessageBody=json.dumps(message),
                                   MessageAttributes=_attributes(message), **extra)


def send_all(name: str, messages: list[dict[str, Any]]) -> None:
    """Ten messages per SendMessageBatch; raises if any entry was not taken."""
    client = aws.client("sqs")
    for start in range(0, len(messages), 10):
        chunk = messages[start:start + 10]
        response = client.send_message_batch(QueueUrl=queue_url(name), Entries=[
            {"Id": str(i), "MessageBody": json.dumps(m), "MessageAttributes": _attributes(m)}
            for i, m in enumerate(chunk)])
        if response.get("Failed"):
            raise RuntimeError(f"{len(response['Failed'])} of {len(chunk)} messages not sent to {name}: "
                               f"{response['Failed'][0].get('Code')}")


def reset_queue_urls() -> None:
    _urls.clear()
