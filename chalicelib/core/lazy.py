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

import gc
import importlib
import importlib.util
import sys
import threading
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Iterator


class _Deferred(ModuleType):
    """Stands for module `__name__` until first used; then forwards every attribute to it."""

    def __getattr__(self, attribute: str) -> Any:
        # Only called for attributes the stand-in lacks: everything but its own module fields.
        return getattr(importlib.import_module(self.__name__), attribute)


@contextmanager
def collecting_later() -> Iterator[None]:
    """No cyclic garbage collection inside; then what was made is frozen out of later collections
    (gc.freeze) and collection resumes. For cold starts: importing makes thousands of long-lived
    objects and next to no garbage, and the collector would scan them again and again (~10% of
    a cold first request's CPU, a full collection included). Does nothing if collection is
    already off (an enclosing block, another thread's, or someone who wants it off)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


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


class _Unused(ModuleType):
    """Stands in sys.modules for a module a library imports but the code here never uses: the
    first attribute read imports the real module (which replaces the stand-in) and forwards."""

    def __getattr__(self, attribute: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            with _unused_lock:  # check-and-remove only: the import itself takes the module's lock
                if sys.modules.get(self.__name__) is self:
                    del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            for key, value in list(vars(self).items()):  # submodules imported through the stand-in
                if isinstance(value, ModuleType) and not hasattr(real, key):
                    setattr(real, key, value)
            self.__dict__["_real"] = real
        return getattr(real, attribute)


_unused_lock = threading.Lock()


def defer_unused(name: str) -> None:
    """Until something reads it, `import name` / `from parent import name` give a stand-in that
    imports the real module on first use. For a submodule a library imports eagerly but the
    code here does not need: PyJWT imports cryptography.x509 (~20 ms of a cold start) only to
    tell an HMAC secret from a DER certificate, and only RS256 is accepted here (core.auth).
    Does nothing once the module is imported."""
    parent_name, _, child = name.rpartition(".")
    parent = importlib.import_module(parent_name)
    with _unused_lock:
        if name in sys.modules:
            return
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ImportError(f"no module named {name!r}")
        stand_in = _Unused(name)
        # The real spec and path: find_spec answers as for the real module, and a submodule
        # imported first (`import package.name.sub`) loads from disk once, not via __getattr__.
        stand_in.__spec__ = spec
        if spec.submodule_search_locations is not None:
            stand_in.__path__ = list(spec.submodule_search_locations)
        sys.modules[name] = stand_in
        setattr(parent, child, stand_in)  # the import system replaces it when the real one loads
