"""The local event runner against moto in server mode: Lambda's SQS and schedule semantics."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import boto3
import pytest
from chalice import Chalice, Rate
from moto.server import ThreadedMotoServer

from tools.event_runner import EventRunner, parse_schedule

MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def sqs() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield boto3.client("sqs", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        finally:
            server.stop()


@dataclass
class Worker:
    """A small Chalice app with one SQS handler and two schedules, plus what they saw."""

    app: Chalice
    module: types.ModuleType
    queue_url: str
    dlq_url: str
    queue_arn: str
    seen: list[dict[str, Any]] = field(default_factory=list)  # every record delivered
    processed: list[str] = field(default_factory=list)  # bodies handled successfully
    batches: list[list[str]] = field(default_factory=list)  # message ids per invocation
    scheduled: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)


def make_worker(sqs: Any, *, batch_size: int, on_failure: str) -> Worker:
    """on_failure: 'raise' (whole batch fails), 'report' (batchItemFailures), 'bogus' (unknown id)."""
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    app = Chalice(app_name="runner-test")
    worker = Worker(app, types.ModuleType("app"), queue_url, dlq_url, queue_arn)

    @app.on_sqs_message(queue=name, batch_size=batch_size)
    def handle_jobs(event: Any) -> dict[str, Any]:
        failures = []
        batch = []
        for record in event:
            raw = record.to_dict()
            worker.seen.append({**raw, "context": record.context})
            batch.append(raw["messageId"])
            if "fail" in record.body:
                failures.append({"itemIdentifier": raw["messageId"]})
            else:
                worker.processed.append(record.body)
        worker.batches.append(batch)
        if failures and on_failure == "raise":
            raise RuntimeError("job failed")
        if failures and on_failure == "bogus":
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        return {"batchItemFailures": failures}

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def every_minute(event: Any) -> None:
        worker.scheduled.append(("every_minute", event.to_dict(), event.context))

    @app.schedule("cron(0 3 * * ? *)")
    def nightly(event: Any) -> None:
        worker.scheduled.append(("nightly", event.to_dict(), event.context))

    # Stand-in for app.py: the runner resolves handler strings like "app.handle_jobs" here.
    for attr, value in {"app": app, "handle_jobs": handle_jobs, "every_minute": every_minute, "nightly": nightly}.items():
        setattr(worker.module, attr, value)
    return worker


def runner_for(worker: Worker, sqs: Any, **kwargs: Any) -> EventRunner:
    return EventRunner(worker.app, worker.module, sqs, **kwargs)


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_for(condition: Callable[[], bool], timeout: float, step: Callable[[], Any] = lambda: time.sleep(0.05)) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        step()
    return condition()


def test_success_is_processed_once_and_deleted(sqs: Any) -> None:
    worker = make_worker(sqs, batch_size=1, on_failure="raise")
    runner = runner_for(worker, sqs)
    sent = sqs.send_message(
        QueueUrl=worker.queue_url,
        MessageBody="book 42",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "confirm"}},
    )

    assert runner.poll_once() == 1
    assert worker.processed == ["book 42"]
    # Deleted, not merely in flight.
    assert queue_counts(sqs, worker.queue_url) == (0, 0)

    record = worker.seen[0]
    assert record["messageId"] == sent["MessageId"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == worker.queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["md5OfBody"] == sent["MD5OfMessageBody"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "confirm", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    context = record["context"]
    assert context.function_name == "runner-test-local-handle_jobs"
    assert context.invoked_function_arn.endswith(":function:runner-test-local-handle_jobs")
    assert context.memory_limit_in_mb == 128 and context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 60_000

    time.sleep(VISIBILITY_TIMEOUT_S + 0.2)  # a message left in flight would be visible again now
    assert runner.poll_once() == 0
    assert worker.processed == ["book 42"]


def test_failure_is_redelivered_then_dead_lettered(sqs: Any, caplog: pytest.LogCaptureFixture) -> None:
    worker = make_worker(sqs, batch_size=1, on_failure="raise")
    runner = runner_for(worker, sqs)
    sent = sqs.send_message(QueueUrl=worker.queue_url, MessageBody="please fail")
    sqs.send_message(QueueUrl=worker.queue_url, MessageBody="fine")

    dead: list[dict[str, Any]] = []

    def poll_and_check_dlq() -> None:
        runner.poll_once()
        dead.extend(sqs.receive_message(QueueUrl=worker.dlq_url, WaitTimeSeconds=0).get("Messages", []))

    with caplog.at_level(logging.ERROR, logger="tools.event_runner"):
        assert wait_for(lambda: bool(dead), timeout=20, step=poll_and_check_dlq), "never dead-lettered"

    failing = [r for r in worker.seen if r["body"] == "please fail"]
    # The handler saw it exactly maxReceiveCount times, with the redrive counter climbing ...
    assert [int(r["attributes"]["ApproximateReceiveCount"]) for r in failing] == list(
        range(1, MAX_RECEIVE_COUNT + 1)
    )
    assert {r["messageId"] for r in failing} == {sent["MessageId"]}
    # ... then the emulator's redrive policy, not the runner, moved it to the DLQ.
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(sent["MessageId"], "please fail")]
    assert queue_counts(sqs, worker.queue_url) == (0, 0)
    # The failing message did not stop the other one.
    assert worker.processed == ["fine"]
    # Every failure is logged with its traceback.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert len(errors) == MAX_RECEIVE_COUNT
    assert all(r.exc_info[0] is RuntimeError for r in errors)


def test_partial_batch_failure_deletes_only_successes(sqs: Any) -> None:
    worker = make_worker(sqs, batch_size=10, on_failure="report")
    runner = runner_for(worker, sqs)
    bodies = ["ok a", "fail b", "ok c"]
    sqs.send_message_batch(
        QueueUrl=worker.queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )

    assert runner.poll_once() == 3
    assert len(worker.batches) == 1 and len(set(worker.batches[0])) == 3  # one batch, distinct ids
    assert sorted(worker.processed) == ["ok a", "ok c"]
    assert queue_counts(sqs, worker.queue_url) == (0, 1)  # only the failed one is left, in flight

    assert wait_for(lambda: len(worker.batches) > 1, timeout=5, step=runner.poll_once)
    again = worker.seen[3:]
    assert [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in again] == [("fail b", "2")]
    assert sorted(worker.processed) == ["ok a", "ok c"]


def test_unknown_batch_item_failure_fails_whole_batch(sqs: Any) -> None:
    worker = make_worker(sqs, batch_size=10, on_failure="bogus")
    runner = runner_for(worker, sqs)
    sqs.send_message_batch(
        QueueUrl=worker.queue_url,
        Entries=[{"Id": "0", "MessageBody": "ok a"}, {"Id": "1", "MessageBody": "fail b"}],
    )

    assert runner.poll_once() == 2
    # As in Lambda, an itemIdentifier that is not in the batch fails every record.
    assert queue_counts(sqs, worker.queue_url) == (0, 2)


def test_schedules_run_at_start_then_on_their_rate(sqs: Any) -> None:
    worker = make_worker(sqs, batch_size=1, on_failure="raise")
    runner = runner_for(worker, sqs, account_id="111122223333", region="eu-west-1")
    start = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)

    assert runner.run_schedules_due(start) == 2  # both run on the first check
    assert runner.run_schedules_due(start + dt.timedelta(seconds=59)) == 0
    assert runner.run_schedules_due(start + dt.timedelta(seconds=60)) == 2  # rate(1 minute); cron runs every minute
    assert [name for name, _, _ in worker.scheduled] == ["every_minute", "nightly"] * 2

    _, event, context = worker.scheduled[0]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["version"] == "0" and event["detail"] == {}
    assert event["time"] == "2025-01-01T12:00:00Z"
    assert event["account"] == "111122223333" and event["region"] == "eu-west-1"
    assert event["resources"] == ["arn:aws:events:eu-west-1:111122223333:rule/runner-test-local-every_minute"]
    assert event["id"] != worker.scheduled[2][1]["id"]
    assert context.function_name == "runner-test-local-every_minute"


def test_rate_scale_shortens_intervals(sqs: Any) -> None:
    worker = make_worker(sqs, batch_size=1, on_failure="raise")
    runner = runner_for(worker, sqs, rate_scale=0.01)  # a minute becomes 0.6 s
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert runner.run_schedules_due(start) == 2
    assert runner.run_schedules_due(start + dt.timedelta(seconds=0.5)) == 0
    assert runner.run_schedules_due(start + dt.timedelta(seconds=0.6)) == 2


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(3 days)", 3 * 86400),
        ("cron(0 3 * * ? *)", 60),
    ],
)
def test_parse_schedule(expression: str, seconds: int) -> None:
    assert parse_schedule(expression) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("expression", ["rate(0 minutes)", "rate(5 weeks)", "every 5 minutes", ""])
def test_parse_schedule_rejects(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(expression)


def test_run_loops_until_stopped_and_returns_promptly(sqs: Any) -> None:
    worker = make_worker(sqs, batch_size=1, on_failure="raise")
    runner = runner_for(worker, sqs)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        sqs.send_message(QueueUrl=worker.queue_url, MessageBody="please fail")
        sqs.send_message(QueueUrl=worker.queue_url, MessageBody="book 7")
        assert wait_for(lambda: worker.processed == ["book 7"], timeout=10)
        assert wait_for(lambda: len(worker.scheduled) == 2, timeout=5)  # once, shortly after start
        # The raising handler did not stop the loop: it keeps redelivering the failure.
        assert wait_for(lambda: sum(r["body"] == "please fail" for r in worker.seen) >= 2, timeout=10)
    finally:
        stop.set()
        stopped_at = time.monotonic()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 2.0
    assert worker.processed == ["book 7"]


def test_run_a_blocked_handler_does_not_delay_another_queue(sqs: Any) -> None:
    # As on AWS, where each queue's function runs on its own: a handler stuck on a slow
    # webhook receiver must not hold back booking confirmations on another queue.
    suffix = uuid.uuid4().hex[:8]
    slow_queue, fast_queue = f"webhooks-{suffix}", f"confirmations-{suffix}"
    slow_url = sqs.create_queue(QueueName=slow_queue)["QueueUrl"]
    fast_url = sqs.create_queue(QueueName=fast_queue)["QueueUrl"]
    app = Chalice(app_name="runner-test")
    slow_entered, release, slow_returned = threading.Event(), threading.Event(), threading.Event()
    # (body, whether the slow handler was blocked at that moment)
    confirmed: list[tuple[str, bool]] = []

    @app.on_sqs_message(queue=slow_queue, batch_size=1)
    def call_webhooks(event: Any) -> None:
        slow_entered.set()
        release.wait(10)  # a receiver that does not answer
        slow_returned.set()

    @app.on_sqs_message(queue=fast_queue, batch_size=1)
    def confirm(event: Any) -> None:
        for record in event:
            confirmed.append((record.body, slow_entered.is_set() and not slow_returned.is_set()))

    module = types.ModuleType("app")
    for attr, value in {"app": app, "call_webhooks": call_webhooks, "confirm": confirm}.items():
        setattr(module, attr, value)
    runner = EventRunner(app, module, sqs)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        sqs.send_message(QueueUrl=slow_url, MessageBody="webhook 1")
        assert slow_entered.wait(5), "the slow handler never ran"
        sqs.send_message(QueueUrl=fast_url, MessageBody="book 7")
        assert wait_for(lambda: bool(confirmed), timeout=5), "the other queue waited for the blocked handler"
        assert confirmed == [("book 7", True)]
        # handled and deleted meanwhile (the delete follows the handler's return: wait for it)
        assert wait_for(lambda: queue_counts(sqs, fast_url) == (0, 0), timeout=5), queue_counts(sqs, fast_url)
    finally:
        release.set()
        stop.set()
        stopped_at = time.monotonic()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 2.0
    assert slow_returned.is_set()
