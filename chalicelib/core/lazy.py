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

`lazy_models` does the same for the pydantic models a route module declares: building them is
most of the cost of importing a schemas module, and one function serves every route of the
API (and the workers import app.py too), so a cold start should build only the models of the
route it answers.
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


class ModelRef:
    """A class of a module, named without importing the module; `resolve()` imports it.

    Calling the reference builds an instance (`schemas.SearchPage(results=...)`), so views read
    as if they held the class. core.api resolves the references a route declares on the first
    request of that route, and the OpenAPI document resolves them all.
    """

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def resolve(self) -> Any:
        module = importlib.import_module(self.module)
        try:
            return getattr(module, self.name)
        except AttributeError:
            raise ImportError(f"{self.module} has no {self.name!r}") from None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<model {self.module}.{self.name}>"


class _Models:
    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> ModelRef:
        if name.startswith("__"):  # copy, pickle and friends probing for protocols
            raise AttributeError(name)
        return ModelRef(self._module, name)


def lazy_models(name: str) -> Any:
    """`lazy_models("pkg.schemas").X` is a ModelRef to `pkg.schemas.X`; nothing is imported."""
    if importlib.util.find_spec(name) is None:
        raise ImportError(f"no module named {name!r}")
    return _Models(name)


def resolve(model: Any) -> Any:
    """The class behind a ModelRef; anything else as it is."""
    return model.resolve() if isinstance(model, ModelRef) else model
