"""The faults the fault-injection run injects into the service, on purpose and counted.

- DynamoDB: `ThrottlingException` on a share of every call and `TransactionConflict` on a share
  of transactions, raised where botocore would raise them once its retries are spent (the
  emulator never raises either by itself).
- The payment provider: timeouts before the provider did anything and, worse, after it did the
  work (the answer is lost), and process deaths before and after a provider call (in a worker:
  the batch is redelivered; in the API: the client's connection drops with no answer).
- SQS (chaos.runner): every message delivered twice, batches in random order.
- Vendor webhooks (chaos.webhooks): receivers that answer 500/503, time out, answer slowly or
  are down; the webhook worker dying right after a delivery, before recording it.

A crash is `SimulatedCrash`, a BaseException: no `except Exception` in the service can catch it,
just as no handler runs when Lambda's process dies.
"""
from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from chalicelib.booking.payments.port import PaymentProvider, ProviderUnavailable


class SimulatedCrash(BaseException):
    """The process died here."""


@dataclass
class FaultRates:
    throttle: float = 0.02  # of every DynamoDB call
    transaction_conflict: float = 0.04  # of TransactWriteItems
    provider_timeout_before: float = 0.03  # of provider calls that change something
    provider_timeout_after: float = 0.05
    crash_before_provider: float = 0.03
    crash_after_provider: float = 0.05
    webhook_crash_after_post: float = 0.02  # of the webhook worker's POSTs


@dataclass
class FaultPlan:
    """Seeded fault decisions, counted per kind. Thread-safe; `active` turns all of it off."""
    seed: int
    rates: FaultRates = field(default_factory=FaultRates)
    active: bool = False
    injected: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def roll(self, kind: str) -> bool:
        rate = getattr(self.rates, kind)
        with self._lock:
            hit = self.active and self._rng.random() < rate
            if hit:
                self.injected[kind] += 1
            return hit

    def count(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.injected[kind] += n

    def choice(self, options: list[Any]) -> Any:
        with self._lock:
            return self._rng.choice(options)


# --- DynamoDB ----------------------------------------------------------------------------------

def _client_error(code: str, message: str, operation: str, **extra: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, **extra,
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def install_dynamodb_faults(plan: FaultPlan) -> Callable[[], None]:
    """Patch every botocore client of this process; returns the function that undoes it."""
    original = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            if operation == "TransactWriteItems" and plan.roll("transaction_conflict"):
                items = params.get("TransactItems", [])
                # DynamoDB names one reason per item; the conflicting item says TransactionConflict.
                conflicting = plan.choice(list(range(len(items)))) if items else 0
                reasons = [{"Code": "TransactionConflict" if i == conflicting else "None"}
                           for i in range(max(1, len(items)))]
                raise _client_error("TransactionCanceledException",
                                    "Transaction cancelled, please refer cancellation reasons for specific "
                                    "reasons [TransactionConflict]", operation, CancellationReasons=reasons)
            if plan.roll("throttle"):
                raise _client_error("ThrottlingException", "Rate of requests exceeds the allowed throughput.",
                                    operation)
        return original(client, operation, params)

    BaseClient._make_api_call = make_api_call  # type: ignore[method-assign]

    def undo() -> None:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
    return undo


# --- the payment provider ----------------------------------------------------------------------

class ChaosProvider:
    """Wraps the real (local) provider; calls that change something may time out or crash."""

    _CHANGING = ("create", "confirm", "capture", "void", "refund")

    def __init__(self, inner: PaymentProvider, plan: FaultPlan) -> None:
        self._inner = inner
        self._plan = plan

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self._CHANGING:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            plan = self._plan
            if plan.roll("crash_before_provider"):
                raise SimulatedCrash(f"died before provider.{name}")
            if plan.roll("provider_timeout_before"):
                raise ProviderUnavailable(f"provider.{name} timed out (chaos, before the work)")
            result = target(*args, **kwargs)
            if plan.roll("crash_after_provider"):
                raise SimulatedCrash(f"died after provider.{name}")
            if plan.roll("provider_timeout_after"):
                raise ProviderUnavailable(f"provider.{name} timed out (chaos, after the work)")
            return result
        return call
