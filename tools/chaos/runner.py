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
from collections import defaultdict
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
        self.clean_duplicate_failures = 0

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
        """Deliver copies of some records handled earlier, in random order (all of them when
        duplicates are being wound down)."""
        with self._lock:
            echoes = self._echoes[source.name]
            if not echoes or (self.duplicates and self._rng.random() < 0.5):
                return  # leave them for later: a copy overtaken by newer messages is the point
            self._rng.shuffle(echoes)
            batch, echoes[:] = echoes[:source.batch_size], echoes[source.batch_size:]
        self.plan.count("sqs_duplicate", len(batch))
        # The copy's outcome changes nothing on the queue; a failed copy is only counted.
        result = self._invoke(source.name, source.handler, source.function_name, {"Records": batch})
        if result is _FAILED or (isinstance(result, dict) and result.get("batchItemFailures")):
            self.plan.count("sqs_duplicate_failed")
            if not self.plan.active:
                self.clean_duplicate_failures += 1

    def _invoke(self, name: str, handler: Any, function_name: str, event: dict[str, Any]) -> Any:
        with self._lock:
            self._rng.shuffle(event.get("Records", []))  # a batch in any order
        try:
            result = super()._invoke(name, handler, function_name, event)
        except SimulatedCrash as crash:
            for record in event.get("Records", []):
                self.failures[record["messageId"]].append(str(crash))
            return _FAILED
        if result is _FAILED:
            for record in event.get("Records", []):
                self.failures[record["messageId"]].append("the handler raised")
        elif isinstance(result, dict):
            for item in result.get("batchItemFailures") or []:
                self.failures[item.get("itemIdentifier", "")].append("reported as a batch item failure")
        return result
