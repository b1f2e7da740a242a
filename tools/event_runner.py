"""Local stand-in for Lambda's SQS event source mapping and EventBridge schedules.

The local stack runs the API and the workers on a laptop against the emulator
(moto in server mode). Nothing there delivers queue messages or fires schedules,
so this runner does it: it reads the app's event sources from the Chalice app
object itself and calls the same entry points Lambda would call (found through
each source's handler string, e.g. ``app.confirm_bookings``) with real event
shapes and a Lambda-like context.

SQS semantics follow the event source mapping with ``ReportBatchItemFailures``
enabled (our infra always sets it, see DESIGN.md pitfall 2):

* success (any return value without failures)  -> delete every record;
* the handler raises                           -> delete nothing;
* ``{"batchItemFailures": [...]}``             -> delete only records not listed;
  a listed id that is empty or not in the batch fails the whole batch, as Lambda does.

A failed record is never deleted or moved by the runner: it becomes visible again
after the queue's visibility timeout and the emulator's redrive policy
(``maxReceiveCount``) is what dead-letters it, exactly as in AWS.

Schedules: ``rate(N minute|minutes|hour|hours|day|days)`` runs every N units
(times ``rate_scale``). A ``cron(...)`` expression is NOT evaluated: it runs
every minute (times ``rate_scale``) so that cron jobs get exercised locally
without a cron parser. Every schedule runs once on the first check after start.
Failed scheduled invocations are logged and not retried (EventBridge would
retry asynchronously; handlers must be idempotent anyway).

Concurrency: ``run()`` gives every SQS source its own polling thread, as each
source is its own Lambda function on AWS: a handler that blocks (a slow vendor
webhook, say) delays only its own queue. Schedules fire from one loop in the
calling thread. Unlike on AWS, all handlers share one process, so module-level
state of the app (Powertools' Logger keys and Metrics set, caches) is shared by
concurrent invocations; the runner itself serialises only its own bookkeeping,
never the handlers.

Other event source types (S3, SNS, Kinesis, DynamoDB streams, event patterns,
websockets) are not emulated; they are logged and skipped.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping, Optional

from chalice import Chalice
from chalice.app import ScheduledEventConfig, ScheduleExpression, SQSEventConfig

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]

# SQS returns at most 10 messages per ReceiveMessage. Lambda can gather bigger
# batches across several receives within a batching window; locally one receive
# per batch is close enough.
_SQS_MAX_BATCH = 10
# Short long-poll: avoids hammering the emulator while idle, and bounds how long
# run() takes to notice that it must stop.
_WAIT_TIME_SECONDS = 1
# Chalice's defaults for lambda_memory_size and lambda_timeout.
_MEMORY_LIMIT_IN_MB = 128
_TIMEOUT_MS = 60_000
# Pause after an infrastructure error (emulator down, queue deleted) so the
# loop does not spin on connection errors.
_ERROR_BACKOFF_S = 1.0
# Sleep between schedule checks in run(); also bounds how long it takes to notice stop.
_SCHEDULE_TICK_S = 0.5

_RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON_RE = re.compile(r"^cron\(.+\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Sentinel for "the handler raised": distinct from any value a handler can return.
_FAILED: Any = object()


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers (and Powertools) read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = _MEMORY_LIMIT_IN_MB
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default_factory=lambda: time.monotonic() + _TIMEOUT_MS / 1000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class _SqsSource:
    name: str
    handler: Handler
    function_name: str
    queue_url: str
    queue_arn: str
    batch_size: int


@dataclass
class _Schedule:
    name: str
    handler: Handler
    function_name: str
    expression: str
    rule_arn: str
    interval: dt.timedelta
    # None means "never ran": due on the first check after start.
    next_due: Optional[dt.datetime] = None


def parse_schedule(expression: str) -> dt.timedelta:
    """Interval of a schedule expression; cron expressions run every minute (see module doc)."""
    match = _RATE_RE.match(expression.strip())
    if match:
        value = int(match.group(1))
        if value <= 0:
            raise ValueError(f"rate must be positive: {expression!r}")
        return dt.timedelta(seconds=value * _UNIT_SECONDS[match.group(2).rstrip("s")])
    if _CRON_RE.match(expression.strip()):
        return dt.timedelta(minutes=1)
    raise ValueError(f"unsupported schedule expression: {expression!r}")


def _lambda_message_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Convert boto3's MessageAttributes to the lowercase shape Lambda puts in SQS events."""
    converted: dict[str, Any] = {}
    for name, attr in attributes.items():
        value: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": attr["DataType"],
        }
        if "StringValue" in attr:
            value["stringValue"] = attr["StringValue"]
        if "BinaryValue" in attr:
            # boto3 has already base64-decoded it; Lambda delivers base64 text.
            value["binaryValue"] = base64.b64encode(attr["BinaryValue"]).decode("ascii")
        converted[name] = value
    return converted


class EventRunner:
    """Polls the app's SQS sources and fires its schedules, as Lambda would."""

    def __init__(
        self,
        app: Chalice,
        module: ModuleType,
        sqs_client: Any,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        stage: str = "local",
        rate_scale: float = 1.0,
    ) -> None:
        if rate_scale <= 0:
            raise ValueError("rate_scale must be positive")
        self._app = app
        self._module = module
        self._sqs = sqs_client
        self._region = region
        self._account_id = account_id
        self._stage = stage
        self._sqs_sources: list[_SqsSource] = []
        self._schedules: list[_Schedule] = []
        # Guards the runner's shared bookkeeping (schedules' next_due, the _handled hook)
        # between the polling threads of run() and any other caller; never held while a
        # handler runs. Not named _lock: subclasses (tools/chaos/runner.py) use that name.
        self._bookkeeping_lock = threading.Lock()
        # Configuration errors (unknown queue, missing entry point, bad expression)
        # raise here, at start, rather than being logged on every poll.
        for source in app.event_sources:
            if isinstance(source, SQSEventConfig):
                self._sqs_sources.append(self._sqs_source(source))
            elif isinstance(source, ScheduledEventConfig):
                self._schedules.append(self._schedule(source, rate_scale))
            else:
                logger.warning(
                    "event source %s (%s) is not emulated locally; skipped",
                    source.name,
                    type(source).__name__,
                )

    # -- public API -------------------------------------------------------

    @property
    def queue_urls(self) -> list[str]:
        return [source.queue_url for source in self._sqs_sources]

    def poll_once(self) -> int:
        """One ReceiveMessage per queue; returns how many records were handed to handlers."""
        return sum(self._poll_source(source) for source in self._sqs_sources)

    def run_schedules_due(self, now: Optional[dt.datetime] = None) -> int:
        """Invoke every schedule due at ``now`` (aware UTC); returns how many ran."""
        now = now or dt.datetime.now(dt.timezone.utc)
        # Claim the due schedules under the lock (two concurrent callers never both run
        # one), then invoke them without it.
        with self._bookkeeping_lock:
            due = [s for s in self._schedules if s.next_due is None or now >= s.next_due]
            for schedule in due:
                # Next run counts from now: a laptop waking from sleep gets one run,
                # not a backlog (EventBridge does not backfill either).
                schedule.next_due = now + schedule.interval
        for schedule in due:
            event = self._scheduled_event(schedule, now)
            self._invoke(schedule.name, schedule.handler, schedule.function_name, event)
        return len(due)

    def run(self, stop: threading.Event) -> None:
        """Poll queues and fire schedules until ``stop`` is set.

        Each SQS source is polled by its own thread, as each is its own function in
        Lambda; schedules fire from this thread. Returns once every polling thread has
        ended: within ~1 s of ``stop`` (one long-poll), unless a handler is still running,
        which is waited for as Lambda would let an invocation finish.
        """
        logger.info(
            "event runner started: queues=%s schedules=%s",
            [s.name for s in self._sqs_sources],
            [s.name for s in self._schedules],
        )
        # The pollers watch an event of their own, set when this thread leaves its loop for
        # any reason (stop, or an exception such as KeyboardInterrupt): run() never returns
        # with pollers still running, and the caller's event is left untouched.
        halt = threading.Event()
        pollers = [
            threading.Thread(
                target=self._poll_loop, args=(source, halt), name=f"event-runner:{source.name}", daemon=True
            )
            for source in self._sqs_sources
        ]
        try:
            for poller in pollers:
                poller.start()
            while not stop.is_set():
                self._guarded(stop, self.run_schedules_due)
                stop.wait(_SCHEDULE_TICK_S)
        finally:
            halt.set()
            for poller in pollers:
                if poller.ident is not None:  # started
                    poller.join()
        logger.info("event runner stopped")

    def _poll_loop(self, source: _SqsSource, halt: threading.Event) -> None:
        """One source's event source mapping: long-poll, invoke, delete, until ``halt``."""
        while not halt.is_set():
            # Errors pause this source only; the other sources and the schedules go on.
            self._guarded(halt, self._poll_source, source)

    # -- discovery ----------------------------------------------------------

    def _resolve_handler(self, handler_string: str) -> Handler:
        """Find the entry point the way Lambda does: import the module, take the attribute."""
        module_name, _, attribute = handler_string.rpartition(".")
        if module_name == "app":
            module = self._module
        else:
            # Blueprint handlers live outside app.py, so app-level middleware does
            # not wrap them in Lambda either (DESIGN.md pitfall 3).
            logger.warning("handler %s is outside app.py: app middleware will not run", handler_string)
            module = importlib.import_module(module_name)
        handler = getattr(module, attribute, None)
        if not callable(handler):
            raise LookupError(f"entry point {handler_string!r} not found in {module.__name__}")
        return handler

    def _function_name(self, name: str) -> str:
        # Chalice names event handler functions <app>-<stage>-<handler name>.
        return f"{self._app.app_name}-{self._stage}-{name}"

    def _sqs_source(self, config: SQSEventConfig) -> _SqsSource:
        queue_name = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
        queue_url = self._sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        attrs = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return _SqsSource(
            name=config.name,
            handler=self._resolve_handler(config.handler_string),
            function_name=self._function_name(config.name),
            queue_url=queue_url,
            queue_arn=attrs["Attributes"]["QueueArn"],
            batch_size=max(1, min(config.batch_size, _SQS_MAX_BATCH)),
        )

    def _schedule(self, config: ScheduledEventConfig, rate_scale: float) -> _Schedule:
        expression = config.schedule_expression
        if isinstance(expression, ScheduleExpression):
            expression = expression.to_string()
        function_name = self._function_name(config.name)
        return _Schedule(
            name=config.name,
            handler=self._resolve_handler(config.handler_string),
            function_name=function_name,
            expression=expression,
            rule_arn=f"arn:aws:events:{self._region}:{self._account_id}:rule/{function_name}",
            interval=parse_schedule(expression) * rate_scale,
        )

    # -- SQS --------------------------------------------------------------

    def _poll_source(self, source: _SqsSource) -> int:
        response = self._sqs.receive_message(
            QueueUrl=source.queue_url,
            MaxNumberOfMessages=source.batch_size,
            # MessageSystemAttributeNames is the current name of AttributeNames.
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=_WAIT_TIME_SECONDS,
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        records = [self._sqs_record(source, message) for message in messages]
        result = self._invoke(source.name, source.handler, source.function_name, {"Records": records})
        failed = self._failed_ids(source, messages, result)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._delete(source, done)
        handled = [r for r in records if r["messageId"] not in failed]
        with self._bookkeeping_lock:
            self._handled(source, handled)
        return len(messages)

    def _handled(self, source: _SqsSource, records: list[dict[str, Any]]) -> None:
        """Called with the records of a batch that were processed and deleted (a hook for the
        fault-injection runner, which delivers them again later).

        run() polls sources from several threads; this hook is called under the runner's
        bookkeeping lock, one call at a time, so an override may update plain lists and
        dicts. It must be quick and must not invoke handlers or take that lock itself."""

    def _sqs_record(self, source: _SqsSource, message: Mapping[str, Any]) -> dict[str, Any]:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": source.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record

    @staticmethod
    def _failed_ids(source: _SqsSource, messages: list[dict[str, Any]], result: Any) -> set[str]:
        """Message ids to leave on the queue, per Lambda's ReportBatchItemFailures rules."""
        all_ids = {m["MessageId"] for m in messages}
        if result is _FAILED:
            return all_ids
        if not isinstance(result, Mapping) or not result.get("batchItemFailures"):
            return set()
        failures = result["batchItemFailures"]
        ids = {item.get("itemIdentifier") if isinstance(item, Mapping) else None for item in failures}
        if not ids <= all_ids:
            # Lambda treats a missing, empty or unknown itemIdentifier as a failure of the whole batch.
            logger.error("%s returned invalid batchItemFailures %r; whole batch fails", source.name, failures)
            return all_ids
        logger.warning("%s reported %d failed record(s) of %d", source.name, len(ids), len(messages))
        return ids  # type: ignore[return-value]  # None was ruled out above

    def _delete(self, source: _SqsSource, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        response = self._sqs.delete_message_batch(QueueUrl=source.queue_url, Entries=entries)
        for failure in response.get("Failed", []):
            # The message will be redelivered; handlers are idempotent, so this is a warning only.
            logger.warning("could not delete a message from %s: %s", source.name, failure)

    # -- invocation -------------------------------------------------------

    def _invoke(self, name: str, handler: Handler, function_name: str, event: dict[str, Any]) -> Any:
        """Call an entry point as Lambda would; returns _FAILED if it raised."""
        context = LambdaContext(
            function_name=function_name,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account_id}:function:{function_name}",
        )
        try:
            return handler(event, context)
        except Exception:
            # One bad handler must not stop the runner: log with traceback and go on.
            logger.exception("handler %s failed (request id %s)", name, context.aws_request_id)
            return _FAILED

    def _scheduled_event(self, schedule: _Schedule, now: dt.datetime) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            # Chalice's CloudWatchEvent reads account and region: they are required.
            "account": self._account_id,
            "time": now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [schedule.rule_arn],
            "detail": {},
        }

    @staticmethod
    def _guarded(stop: threading.Event, func: Callable[..., Any], *args: Any) -> None:
        """Run one step of a loop; infrastructure errors are logged and retried after a pause
        (which ``stop`` cuts short). In run() each thread guards its own steps."""
        try:
            func(*args)
        except Exception:
            logger.exception(
                "event runner step %s failed in %s; retrying",
                getattr(func, "__name__", func),
                threading.current_thread().name,
            )
            stop.wait(_ERROR_BACKOFF_S)


def serialize_service_metrics() -> None:
    """Makes the service's Powertools Metrics safe to share between threads.

    On Lambda each invocation has a process of its own; locally the API's requests and every
    queue's handler (each polled by a thread of its own) share one `Metrics` (its metric set is
    module-level), and its flush checks the set, then serializes it: another invocation flushing in between makes the first one
    raise "Must contain at least one metric" (a 500 from the API, a failed worker batch). Found
    by the run (seed 2, 250 operations): `POST /bookings/{id}/payment -> 500` from
    `flush_metrics` -> `SchemaValidationError`. Adding and flushing are serialized here, so the
    run sees what Lambda would."""
    from chalicelib.core.observability import metrics

    provider = metrics.provider
    lock = threading.RLock()  # add_metric flushes by itself at 100 metrics
    add_metric, flush_metrics = provider.add_metric, provider.flush_metrics

    def add(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return add_metric(*args, **kwargs)

    def flush(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return flush_metrics(*args, **kwargs)

    provider.add_metric = add  # type: ignore[method-assign]
    provider.flush_metrics = flush  # type: ignore[method-assign]
