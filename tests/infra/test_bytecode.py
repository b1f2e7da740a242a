"""Bytecode in the package (infra.bytecode): imported as is from a read-only directory."""
from __future__ import annotations

import importlib.util
import json
import marshal
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra.bytecode import ZIP_EPOCH, add_bytecode, pyc_name, runtime_tag

SOURCES = {
    "app.py": "from pkg import mod\nVALUE = mod.VALUE\n",
    "pkg/__init__.py": "",
    "pkg/mod.py": "VALUE = 'compiled'\n",
    "templates/broken.py": "def oops(:\n",  # not Python: shipped as data by some libraries
}

# Imports app.py from the current directory as Lambda would (nothing may be written) and
# reports where each module's code came from.
_PROBE = """
import importlib.util, json, sys
sys.dont_write_bytecode = True
import app, pkg.mod
print(json.dumps({name: {"cached": getattr(sys.modules[name], "__cached__", None),
                         "value": getattr(sys.modules[name], "VALUE", None)}
                  for name in ("app", "pkg", "pkg.mod")}))
"""


def make_zip(path: Path, sources: dict[str, str] = SOURCES) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as package:
        for name, text in sources.items():
            package.writestr(zipfile.ZipInfo(name, date_time=ZIP_EPOCH), text)
    return path


def unzip_read_only(package: Path, target: Path) -> Path:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return target


def test_every_source_gets_its_pyc_where_importlib_looks_for_it(tmp_path):
    package = make_zip(tmp_path / "deployment.zip")

    result = add_bytecode(str(package), f"python{sys.version_info[0]}.{sys.version_info[1]}")

    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        infos = {i.filename: i for i in archive.infolist()}
    compiled = ["app.py", "pkg/__init__.py", "pkg/mod.py"]
    assert result.compiled == 3 and result.bytes_added > 0
    assert result.skipped == ["templates/broken.py"]  # left as it was, like compileall
    for source in compiled:
        assert pyc_name(source) == importlib.util.cache_from_source(source)
        assert pyc_name(source) in names
        assert infos[pyc_name(source)].date_time == ZIP_EPOCH  # like Chalice's own entries
    assert set(SOURCES) <= names  # sources stay: tracebacks show their lines


def test_the_pycs_are_unchecked_hash_based(tmp_path):
    package = make_zip(tmp_path / "deployment.zip")
    add_bytecode(str(package))

    with zipfile.ZipFile(package) as archive:
        header = archive.read(pyc_name("pkg/mod.py"))[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    # PEP 552 flags: bit 0 = hash-based, bit 1 = check the source. Unchecked: 0b01.
    assert int.from_bytes(header[4:8], "little") == 0b01
    assert header[8:16] == importlib.util.source_hash(SOURCES["pkg/mod.py"].encode())


def test_a_read_only_package_imports_its_bytecode_without_compiling(tmp_path):
    package = make_zip(tmp_path / "deployment.zip")
    add_bytecode(str(package))
    task = unzip_read_only(package, tmp_path / "task")
    # Change a source after the build: only a module loaded from its pyc keeps the old value,
    # so the value proves the source was not compiled (an unchecked pyc is never compared).
    mod = task / "pkg" / "mod.py"
    mod.chmod(0o644)
    mod.write_text("VALUE = 'source'\n")
    mod.chmod(0o444)
    before = sorted(p.relative_to(task) for p in task.rglob("*"))

    done = subprocess.run([sys.executable, "-S", "-c", _PROBE], cwd=task, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(task)},
                          timeout=60)

    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert modules["pkg.mod"]["value"] == "compiled"
    assert modules["app"]["value"] == "compiled"
    for name, source in (("app", "app.py"), ("pkg", "pkg/__init__.py"), ("pkg.mod", "pkg/mod.py")):
        assert Path(modules[name]["cached"]) == task / pyc_name(source)
    assert sorted(p.relative_to(task) for p in task.rglob("*")) == before  # nothing written


def test_without_bytecode_the_same_probe_sees_the_source_compiled(tmp_path):
    """The control: with no pyc shipped, the changed source is what runs, and nothing is written."""
    task = unzip_read_only(make_zip(tmp_path / "deployment.zip"), tmp_path / "task")
    mod = task / "pkg" / "mod.py"
    mod.chmod(0o644)
    mod.write_text("VALUE = 'source'\n")
    mod.chmod(0o444)

    done = subprocess.run([sys.executable, "-S", "-c", _PROBE], cwd=task, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(task)},
                          timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pkg.mod"]["value"] == "source"
    assert not list(task.rglob("*.pyc"))


def test_sources_with_a_pyc_already_are_left_alone(tmp_path):
    package = make_zip(tmp_path / "deployment.zip")
    first = add_bytecode(str(package))

    again = add_bytecode(str(package))

    assert first.compiled == 3 and again.compiled == 0
    with zipfile.ZipFile(package) as archive:
        assert len(archive.namelist()) == len(set(archive.namelist()))  # no duplicate entries


def test_bytecode_for_another_runtime_is_refused(tmp_path):
    package = make_zip(tmp_path / "deployment.zip")
    other = "python3.10" if sys.version_info[:2] != (3, 10) else "python3.12"

    with pytest.raises(ValueError, match=runtime_tag(other)):
        add_bytecode(str(package), other)

    with zipfile.ZipFile(package) as archive:
        assert not [n for n in archive.namelist() if n.endswith(".pyc")]


def test_a_large_package_compiled_by_several_processes_gets_the_same_entries(tmp_path):
    sources = {f"pkg{i // 50}/m{i}.py": f"VALUE = {i}\n" for i in range(250)}
    sources.update({f"pkg{i}/__init__.py": "" for i in range(5)})
    serial, pooled = make_zip(tmp_path / "serial.zip", sources), make_zip(tmp_path / "pooled.zip", sources)

    add_bytecode(str(serial), workers=1)
    add_bytecode(str(pooled), workers=2)

    with zipfile.ZipFile(serial) as a, zipfile.ZipFile(pooled) as b:
        assert a.namelist() == b.namelist()
        pycs = [n for n in a.namelist() if n.endswith(".pyc")]
        assert len(pycs) == 255
        # Same header and the same code (marshal's bytes may differ between processes).
        assert all(a.read(n)[:16] == b.read(n)[:16] and
                   marshal.loads(a.read(n)[16:]) == marshal.loads(b.read(n)[16:]) for n in pycs)


def test_the_synthesized_package_ships_the_bytecode_of_every_source(synthesized):
    """infra.synth adds it last, after boto3/botocore are stripped: nothing ships uncompiled."""
    names = set(synthesized.zip_names)
    sources = [n for n in names if n.endswith(".py")]

    assert sources and not [n for n in sources if pyc_name(n) not in names]
    assert pyc_name("app.py") in names and pyc_name("chalicelib/core/lazy.py") in names
    assert synthesized.summary.bytecode_files == len(sources) and not synthesized.summary.bytecode_skipped
    assert not [n for n in names if n.startswith(("boto3/", "botocore/")) and n.endswith(".pyc")]
