"""The SQS queues of the service, by logical name, and sending to them.

Each queue has a dead-letter queue `<name>-dlq` (maxReceiveCount 5); infra and the local
bootstrap both create exactly the queues listed here.
"""
from __future__ import annotations

import json
from typing import Any

from . import aws
from .config import queue_name

CONFIRMATIONS = "confirmations"
CANCELLATIONS = "cancellations"
NOTIFICATIONS = "notifications"

ALL_QUEUES = (CONFIRMATIONS, CANCELLATIONS, NOTIFICATIONS)
MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_SECONDS = 30

_urls: dict[str, str] = {}


def queue_url(name: str) -> str:
    if name not in _urls:
        _urls[name] = aws.client("sqs").get_queue_url(QueueName=queue_name(name))["QueueUrl"]
    return _urls[name]


def send(name: str, message: dict[str, Any]) -> None:
    attributes = {"kind": {"DataType": "String", "StringValue": str(message.get("type", ""))}}
    aws.client("sqs").send_message(QueueUrl=queue_url(name), MessageBody=json.dumps(message),
                                   MessageAttributes=attributes)


def reset_queue_urls() -> None:
    _urls.clear()
