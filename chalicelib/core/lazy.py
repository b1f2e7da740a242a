"""Deferred imports for cold start.

app.py imports every route module at cold start, and route modules need their schemas then
(for validation and the OpenAPI document) but not the services behind them, which pull in
PynamoDB, botocore, the payment SDKs. `lazy_module` returns the module object at once and runs
its code on first attribute access (the standard library's LazyLoader recipe), so a Lambda
pays for a context's services only when a request needs them.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
