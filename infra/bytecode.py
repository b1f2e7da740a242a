"""Precompiled bytecode in the deployment package (DESIGN pitfall 12).

Lambda unpacks the package into /var/task, which is read-only: Python cannot write the .pyc
files it compiles there, so without shipped bytecode every cold start compiles every module it
imports (app, chalicelib, pydantic, Powertools, PynamoDB...), which was about half of the
import time of app.py measured from the unzipped package.

`add_bytecode` adds `<dir>/__pycache__/<module>.cpython-311.pyc` next to every .py in the zip.
Each is compiled with `py_compile.PycInvalidationMode.UNCHECKED_HASH`: the import system uses
such a file without comparing it with its source. Timestamp-based pycs would not do: they
record the source's mtime and size, and zip keeps mtimes at 2-second resolution (Chalice even
normalizes every entry to 1980-01-01), so the check could fail on Lambda and Python would
compile the source again, silently. Hash-*checked* pycs would read and hash every imported
source at every cold start, for nothing: the package never changes after this build, which
writes each pyc together with its source. Unchecked it is.

The bytecode only fits the interpreter that wrote it (magic number and `cache_tag`), so the
build must run on the Lambda runtime's Python version; `add_bytecode` refuses another one.
"""
from __future__ import annotations

import os
import posixpath
import py_compile
import sys
import tempfile
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

# Chalice writes every entry with this date (reproducible packages); the pycs follow suit.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # regular file, rw-r--r--
_POOL_THRESHOLD = 200  # sources below which starting processes costs more than it saves


@dataclass
class BytecodeResult:
    compiled: int = 0  # .pyc files added
    bytes_added: int = 0  # compressed size they add to the zip
    skipped: list[str] = field(default_factory=list)  # sources the interpreter cannot compile


def runtime_tag(runtime: str) -> str:
    """`python3.11` -> `cpython-311`, the cache tag of that Lambda runtime's interpreter."""
    major, _, minor = runtime.removeprefix("python").partition(".")
    return f"cpython-{major}{minor}"


def pyc_name(source_name: str) -> str:
    """The zip entry of a source's bytecode: `pkg/mod.py` -> `pkg/__pycache__/mod.cpython-311.pyc`
    (the running interpreter's tag), where importlib looks for it. Not cache_from_source itself:
    a PYTHONPYCACHEPREFIX in the build's environment would move its answer out of the package."""
    head, tail = posixpath.split(source_name)
    return posixpath.join(head, "__pycache__", f"{tail[:-3]}.{sys.implementation.cache_tag}.pyc")


def _compile(job: tuple[str, str, str]) -> bool:
    """Compile one extracted source to its pyc; False when it does not compile."""
    source_path, pyc_path, name = job
    try:
        # dfile: the path recorded in the code object, the same on every build (the import
        # system replaces it with the real location when it loads the pyc).
        py_compile.compile(source_path, cfile=pyc_path, dfile=name, doraise=True, optimize=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except py_compile.PyCompileError:
        return False
    return True


def add_bytecode(zip_path: str, runtime: str | None = None, workers: int | None = None) -> BytecodeResult:
    """Append an unchecked-hash .pyc for every .py of `zip_path` that has none.

    `runtime` ("python3.11") is the Lambda runtime the package is for; the running interpreter
    must be that version, or the bytecode would be ignored there (another cache tag) at best.
    A source that does not compile (a vendored file for another Python version, a template
    with a .py suffix) is skipped, as compileall does: importing it would fail anyway.
    Compiling is CPU-bound (~2,400 files, Stripe's SDK most of them): a large package is
    compiled by `workers` processes (default: one per CPU).
    """
    if runtime is not None and runtime_tag(runtime) != sys.implementation.cache_tag:
        raise ValueError(f"the package is for {runtime} ({runtime_tag(runtime)}), but this build runs "
                         f"{sys.implementation.cache_tag}: its bytecode would not be used there")
    result = BytecodeResult()
    with zipfile.ZipFile(zip_path, "a", compression=zipfile.ZIP_DEFLATED) as package, \
            tempfile.TemporaryDirectory(prefix="itinera-pyc-") as work:
        names = set(package.namelist())
        sources = sorted(n for n in names if n.endswith(".py") and pyc_name(n) not in names)
        jobs = []
        for i, name in enumerate(sources):
            path = os.path.join(work, f"{i}.py")
            with open(path, "wb") as out:
                out.write(package.read(name))
            jobs.append((path, os.path.join(work, f"{i}.pyc"), name))
        workers = workers or os.cpu_count() or 1
        if workers > 1 and len(jobs) >= _POOL_THRESHOLD:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                compiled = list(pool.map(_compile, jobs, chunksize=32))
        else:
            compiled = [_compile(job) for job in jobs]
        for (_, pyc_path, name), ok in zip(jobs, compiled):  # in source order: same zip every build
            if not ok:
                result.skipped.append(name)
                continue
            info = zipfile.ZipInfo(pyc_name(name), date_time=ZIP_EPOCH)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(pyc_path, "rb") as pyc:
                package.writestr(info, pyc.read())
            result.compiled += 1
            result.bytes_added += package.getinfo(info.filename).compress_size
    return result
