"""Deferred imports for cold start.

app.py imports every route module at cold start, and route modules need their schemas then
(for validation and the OpenAPI document) but not the services behind them, which pull in
PynamoDB, botocore, the payment SDKs. `lazy_module` returns a stand-in at once and imports the
real module on first attribute access, so a Lambda pays for a context's services only when a
request needs them.

Not the standard library's LazyLoader: on Python 3.11 it is not thread-safe (fixed in 3.12,
CPython gh-114763). Two requests reaching a lazy module at once on the local server's threads
saw it half-executed ("module has no attribute 'place_hold'", found by the fault-injection run).
`importlib.import_module` takes the import system's per-module lock, so the first access of
every thread waits for one complete import.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


class _Deferred(ModuleType):
    """Stands for module `__name__` until first used; then forwards every attribute to it."""

    def __getattr__(self, attribute: str) -> Any:
        # Only called for attributes the stand-in lacks: everything but its own module fields.
        return getattr(importlib.import_module(self.__name__), attribute)


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    if importlib.util.find_spec(name) is None:
        raise ImportError(f"no module named {name!r}")
    return _Deferred(name)
