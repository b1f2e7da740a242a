"""core.lazy: a deferred module imports once, completely, whoever touches it first; a library's
unused submodule loads when read; the cold start's loading runs without cyclic GC."""
from __future__ import annotations

import gc
import importlib
import importlib.util
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chalicelib.core.lazy import _Unused, collecting_later, defer_unused, lazy_module

ROOT = Path(__file__).resolve().parents[2]

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


# -- defer_unused: a submodule a library imports eagerly, loaded when something reads it -----------

PACKAGE_INIT = ""
SUBMODULE = "import sys\nsys.modules[__name__.rpartition('.')[0]].loaded = True\nVALUE = 7\n"
LIBRARY = "from {package} import heavy\n\ndef use():\n    return heavy.VALUE\n"


@pytest.fixture
def package_with_heavy_submodule(tmp_path, monkeypatch):
    name = f"itinera_pkg_{threading.get_ident()}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(PACKAGE_INIT)
    (tmp_path / name / "heavy.py").write_text(SUBMODULE)
    (tmp_path / f"{name}_library.py").write_text(LIBRARY.format(package=name))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m.startswith(name)]:
        sys.modules.pop(module, None)


def test_a_deferred_submodule_loads_on_first_read_only(package_with_heavy_submodule):
    name = package_with_heavy_submodule
    defer_unused(f"{name}.heavy")
    library = importlib.import_module(f"{name}_library")  # `from package import heavy`
    package = sys.modules[name]
    assert not getattr(package, "loaded", False)
    assert library.use() == 7  # the first read imports the real module
    assert package.loaded
    real = sys.modules[f"{name}.heavy"]
    assert real is package.heavy and real.VALUE == 7 and not isinstance(real, type(library.heavy))
    assert importlib.import_module(f"{name}.heavy") is real


def test_import_statements_after_deferring_get_the_real_module(package_with_heavy_submodule):
    name = package_with_heavy_submodule
    defer_unused(f"{name}.heavy")
    heavy = importlib.import_module(f"{name}.heavy")  # `import package.heavy`: the stand-in
    assert heavy.VALUE == 7
    assert sys.modules[name].heavy.VALUE == 7


def test_a_submodule_imported_first_loads_once_and_stays_reachable(package_with_heavy_submodule, tmp_path):
    name = package_with_heavy_submodule
    (tmp_path / name / "heavy").mkdir()
    (tmp_path / name / "heavy.py").unlink()
    (tmp_path / name / "heavy" / "__init__.py").write_text("from .part import VALUE\n")
    (tmp_path / name / "heavy" / "part.py").write_text("VALUE = object()\n")
    defer_unused(f"{name}.heavy")
    assert importlib.util.find_spec(f"{name}.heavy") is not None  # answers as for the real package

    part = importlib.import_module(f"{name}.heavy.part")  # through the stand-in's path, before the package
    package = sys.modules[name]
    assert package.heavy.VALUE is part.VALUE  # the package loaded now, reusing the part loaded once
    assert package.heavy.part is part


def test_deferring_a_loaded_or_unknown_module():
    defer_unused("json.decoder")  # already imported: left alone
    assert not isinstance(sys.modules["json.decoder"], _Unused)
    with pytest.raises(ImportError):
        defer_unused("json.no_such_module")


def test_pyjwt_verifies_without_x509_and_x509_still_works():
    code = (
        "import sys\n"
        "from chalicelib.core import auth\n"
        "jwt = auth._pyjwt()\n"
        "assert 'cryptography.x509.base' not in sys.modules, 'x509 imported'\n"
        "from cryptography.hazmat.primitives.asymmetric import rsa\n"
        "key = rsa.generate_private_key(public_exponent=65537, key_size=2048)\n"
        "token = jwt.encode({'sub': 'u'}, key, algorithm='RS256')\n"
        "assert jwt.decode(token, key.public_key(), algorithms=['RS256'])['sub'] == 'u'\n"
        "assert 'cryptography.x509.base' not in sys.modules, 'x509 imported by RS256'\n"
        "from cryptography import x509\n"
        "assert x509.Certificate.__name__ == 'Certificate'\n"
        "import cryptography.x509.oid\n"
        "assert sys.modules['cryptography.x509'] is cryptography.x509 and 'cryptography.x509.base' in sys.modules\n"
    )
    _run_fresh(code)


# -- collecting_later: no cyclic GC during a cold start's loading, then what it made is frozen -----

def test_collecting_later_pauses_then_freezes():
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    try:
        with collecting_later():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()  # the rest of the test session collects as before


def test_collecting_later_leaves_a_disabled_collector_alone():
    gc.disable()
    try:
        frozen = gc.get_freeze_count()
        with collecting_later():
            pass
        assert not gc.isenabled() and gc.get_freeze_count() == frozen
    finally:
        gc.enable()


def test_app_collects_again_after_import_and_after_its_first_invocation():
    code = (
        "import gc\n"
        "import app\n"
        "assert gc.isenabled() and gc.get_freeze_count() > 0\n"
        "seen = []\n"
        "def probe(event, get_response):\n"
        "    seen.append(gc.isenabled())\n"
        "    return get_response(event)\n"
        "app.first_invocation(None, lambda e: probe(e, lambda _: 'one'))\n"
        "app.first_invocation(None, lambda e: probe(e, lambda _: 'two'))\n"
        "assert seen == [False, True], seen\n"
        "assert gc.isenabled()\n"
    )
    _run_fresh(code)


def _run_fresh(code: str) -> None:
    """Runs `code` in a new interpreter (a cold start's import state); its assertions must hold."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
