"""A labelled TransactWrite: which of our operations made a transaction fail, and why.

PynamoDB sends condition checks, then deletes, puts and updates, and DynamoDB answers with
one cancellation reason per item in that order. Labelling each operation lets the services
turn a cancelled transaction into the right answer (sold out on which date, key reused, ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pynamodb.exceptions import TransactWriteError

from ..core.tables import transaction

CHECK, DELETE, PUT, UPDATE = "check", "delete", "put", "update"
_ORDER = (CHECK, DELETE, PUT, UPDATE)


@dataclass(frozen=True)
class Failure:
    label: Any
    code: str  # ConditionalCheckFailed, TransactionConflict, ...
    item: dict[str, Any] | None


@dataclass
class LabelledTransaction:
    tx: Any = field(default_factory=transaction)
    labels: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in _ORDER})

    def add(self, kind: str, label: Any, operation: Callable[[Any], None]) -> None:
        """`operation(tx)` adds exactly one item of `kind` to the transaction."""
        operation(self.tx)
        self.labels[kind].append(label)

    def commit(self) -> list[Failure]:
        """Commits; returns [] on success, else the failed operations with their reasons."""
        try:
            with self.tx:
                pass  # leaving the block commits: PynamoDB's TransactWrite protocol
            return []
        except TransactWriteError as exc:
            if exc.cause_response_code != "TransactionCanceledException":
                raise
            ordered = [label for kind in _ORDER for label in self.labels[kind]]
            failures = []
            for label, reason in zip(ordered, exc.cancellation_reasons):
                if reason is not None and reason.code not in ("None", None):
                    failures.append(Failure(label, reason.code, reason.raw_item))
            return failures or [Failure(None, "TransactionCanceled", None)]
