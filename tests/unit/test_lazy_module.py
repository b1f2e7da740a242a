"""core.lazy: a deferred module imports once, completely, whoever touches it first."""
from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.core.lazy import lazy_module

SLOW_MODULE = """
import time
time.sleep(0.2)  # a module whose import takes a while, like the booking services on a cold start
def answer():
    return 42
"""


@pytest.fixture
def slow_module(tmp_path, monkeypatch):
    name = f"itinera_slow_{threading.get_ident()}"
    (tmp_path / f"{name}.py").write_text(SLOW_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_nothing_is_imported_before_first_use(slow_module):
    lazy_module(slow_module)
    assert slow_module not in sys.modules


def test_threads_touching_it_at_once_all_see_the_whole_module(slow_module):
    module = lazy_module(slow_module)
    barrier = threading.Barrier(8)

    def first_use(_):
        barrier.wait()
        return module.answer()

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(first_use, range(8))) == [42] * 8


def test_an_unknown_module_fails_at_once():
    with pytest.raises(ImportError):
        lazy_module("chalicelib.no_such_module")
