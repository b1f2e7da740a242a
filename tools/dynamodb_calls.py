"""Counting DynamoDB round trips with botocore event hooks (benchmarks only).

Every botocore client created after `install()` gets a `before-send.dynamodb` hook, so
PynamoDB's clients and our boto3 clients are counted alike, retries included: each send is one
round trip. Counting is per thread, so concurrent benchmark threads do not mix their figures.

    install()
    with counting() as calls:
        place_hold(...)
    calls.total, calls.by_operation
"""
from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

_local = threading.local()
_installed = False


@dataclass
class Calls:
    by_operation: Counter[str] = field(default_factory=Counter)
    items_read: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


# Set by counting(all_threads=True): every thread's calls go there (an operation that runs its
# reads in parallel threads); the lock keeps the threads' increments whole.
_shared: Calls | None = None
_shared_lock = threading.Lock()


def _current() -> Calls | None:
    return getattr(_local, "calls", None) or _shared


def _on_send(request: Any, **kwargs: Any) -> None:
    calls = _current()
    if calls is None or getattr(_local, "paused", False):
        return
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    with _shared_lock:
        calls.by_operation[target.rsplit(".", 1)[-1] or "?"] += 1


def _on_response(parsed: Any = None, **kwargs: Any) -> None:
    calls = _current()
    if calls is None or not isinstance(parsed, dict) or getattr(_local, "paused", False):
        return
    with _shared_lock:
        if "Items" in parsed:
            calls.items_read += len(parsed["Items"])
        elif "Item" in parsed:
            calls.items_read += 1
        elif "Responses" in parsed and isinstance(parsed["Responses"], dict):
            calls.items_read += sum(len(items) for items in parsed["Responses"].values())


def install() -> None:
    """Hook every botocore client created from now on."""
    global _installed
    if _installed:
        return
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-send.dynamodb", _on_send)
        client.meta.events.register("after-call.dynamodb", _on_response)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    _installed = True


@contextmanager
def counting(*, all_threads: bool = False) -> Iterator[Calls]:
    """The calls of this thread, or with `all_threads` of every thread (nothing else may run)."""
    global _shared
    calls = Calls()
    if all_threads:
        _shared = calls
        try:
            yield calls
        finally:
            _shared = None
        return
    previous = getattr(_local, "calls", None)
    _local.calls = calls
    try:
        yield calls
    finally:
        _local.calls = previous


@contextmanager
def not_counted() -> Iterator[None]:
    """Calls made inside (e.g. by the payment provider) are not the operation's own."""
    before = getattr(_local, "paused", False)
    _local.paused = True
    try:
        yield
    finally:
        _local.paused = before
