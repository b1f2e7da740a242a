"""The recommendations worker and the weekly schedule; app.py's entry points call these.

`handle_confirmed`: one record per confirmed booking ({"booking_id"}), from the confirmation
worker. A failing record is reported in `batchItemFailures` and comes back (core.sqs_batch);
counting is idempotent (counting.py), so a record delivered twice counts once.
"""
from __future__ import annotations

import json
from typing import Any

from ..core import sqs_batch
from ..core.sqs_batch import Record


def _count(record: Record) -> str:
    from . import counting

    message = json.loads(record["body"])
    if not isinstance(message, dict) or not isinstance(message.get("booking_id"), str) or not message["booking_id"]:
        raise ValueError("message without booking_id")
    return counting.count_confirmed(message["booking_id"])


def handle_confirmed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return sqs_batch.process(event, _count)


def send_weekly_picks() -> dict[str, int]:
    from . import weekly

    return weekly.send_weekly_picks()
