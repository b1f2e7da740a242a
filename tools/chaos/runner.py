"""The local event runner with SQS's worst manners: every message delivered twice, batches in
random order, duplicates arriving after newer messages, and workers that die mid-batch.

It is `tools.event_runner.EventRunner` (Lambda's event source mapping: delete on success, leave
failures for redelivery, the queue's redrive policy dead-letters) with three changes:
- each received batch is shuffled;
- every record a handler processed is delivered again later, on its own, out of order with
  whatever arrived in between (SQS is at-least-once; the copy's outcome changes nothing on the
  queue, as the original was already deleted);
- a `SimulatedCrash` fails the whole batch, as a dead process would, instead of stopping the runner.
"""
from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from typing import Any

from tools.event_runner import _FAILED, EventRunner, _SqsSource

from .faults import FaultPlan, SimulatedCrash


class ChaosEventRunner(EventRunner):
    def __init__(self, *args: Any, plan: FaultPlan, seed: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan = plan
        self.duplicates = True
        self._rng = random.Random(seed)
        self._echoes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        # messageId -> why each delivery of it failed (the report says why a message dead-lettered).
        self.failures: dict[str, list[str]] = defaultdict(list)
        # Copies that failed while no fault was injected: a handler that is not idempotent.
        # Counted from every source's polling thread (tools.event_runner polls each queue in a
        # thread of its own), so under a lock of its own: `+= 1` is a read and a write.
        self.clean_duplicate_failures = 0
        self._failures_lock = threading.Lock()
        # Invocations per entry point (queues and schedules): the report shows that the
        # waitlist's sweep ran on its schedule, and how often its worker was called.
        self.invocations: Counter = Counter()

    def pending_echoes(self) -> int:
        with self._lock:
            return sum(len(records) for records in self._echoes.values())

    def _poll_source(self, source: _SqsSource) -> int:
        self._deliver_echoes(source)
        return super()._poll_source(source)

    def _handled(self, source: _SqsSource, records: list[dict[str, Any]]) -> None:
        if self.duplicates:
            with self._lock:
                self._echoes[source.name].extend(records)

    def _deliver_echoes(self, source: _SqsSource) -> None:
        """Deliver copies of some records handled earlier, in random order: a batch now and then
        while duplicates are on, all of them when duplicates are being wound down (one batch per
        poll would make the drain wait a long poll per batch)."""
        while True:
            with self._lock:
                echoes = self._echoes[source.name]
                if not echoes or (self.duplicates and self._rng.random() < 0.5):
                    return  # leave them for later: a copy overtaken by newer messages is the point
                self._rng.shuffle(echoes)
                batch, echoes[:] = echoes[:source.batch_size], echoes[source.batch_size:]
            self.plan.count("sqs_duplicate", len(batch))
            # Faults off for the whole invocation (they are never turned back on): read before it
            # starts, as a copy started with faults on may fail of one and return after they stopped.
            clean = not self.plan.active
            # The copy's outcome changes nothing on the queue; a failed copy is only counted.
            result = self._invoke(source.name, source.handler, source.function_name, {"Records": batch})
            if result is _FAILED or (isinstance(result, dict) and result.get("batchItemFailures")):
                self.plan.count("sqs_duplicate_failed")
                if clean:
                    with self._failures_lock:
                        self.clean_duplicate_failures += 1
            if self.duplicates:
                return

    def _invoke(self, name: str, handler: Any, function_name: str, event: dict[str, Any]) -> Any:
        with self._lock:
            self._rng.shuffle(event.get("Records", []))  # a batch in any order
            self.invocations[name] += 1
        try:
            result = super()._invoke(name, handler, function_name, event)
        except SimulatedCrash as crash:
            self._failed([(r["messageId"], str(crash)) for r in event.get("Records", [])])
            return _FAILED
        if result is _FAILED:
            self._failed([(r["messageId"], "the handler raised") for r in event.get("Records", [])])
        elif isinstance(result, dict):
            self._failed([(item.get("itemIdentifier", ""), "reported as a batch item failure")
                          for item in result.get("batchItemFailures") or []])
        return result

    def _failed(self, why: list[tuple[str, str]]) -> None:
        with self._failures_lock:
            for message_id, reason in why:
                self.failures[message_id].append(reason)

    def failures_seen(self) -> dict[str, list[str]]:
        with self._failures_lock:
            return {message_id: list(why) for message_id, why in self.failures.items()}

    def duplicate_failures(self) -> int:
        with self._failures_lock:
            return self.clean_duplicate_failures


def serialize_metrics() -> None:
    """Found by the run (seed 2): see tools.event_runner.serialize_service_metrics."""
    from tools.event_runner import serialize_service_metrics

    serialize_service_metrics()
