"""core.sqs_batch: SQS partial batch responses (a failed record is retried alone)."""
from __future__ import annotations

import pytest

from chalicelib.core import sqs_batch


def _event(*bodies: str) -> dict:
    return {"Records": [{"messageId": f"m{n}", "body": body} for n, body in enumerate(bodies)]}


def _handler(record: dict) -> None:
    if record["body"] == "bad":
        raise ValueError("bad record")


def test_a_batch_that_succeeds_reports_no_failure():
    assert sqs_batch.process(_event("ok", "ok"), _handler) == {"batchItemFailures": []}


def test_only_the_failed_record_is_reported():
    assert sqs_batch.process(_event("ok", "bad", "ok"), _handler) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_every_record_is_handled_after_a_failure():
    seen = []
    sqs_batch.process(_event("bad", "ok", "ok"), lambda r: seen.append(r["messageId"]) or _handler(r))
    assert seen == ["m0", "m1", "m2"]


def test_a_batch_where_every_record_failed_fails_the_invocation():
    with pytest.raises(sqs_batch.BatchFailed):
        sqs_batch.process(_event("bad", "bad"), _handler)


def test_an_event_without_records_is_refused():
    with pytest.raises(ValueError):
        sqs_batch.process({}, _handler)
