"""The Lambda-compatible dependencies of requirements.txt, built once per set of pins.

`chalice package` downloads and installs the wheels for Lambda's platform (manylinux, the
runtime's Python) itself, but caches the result keyed by the requirements *and every file of
the app*: in a repository where chalicelib changes all day it downloads everything again at
each synthesis (10 to 30 s here). We let Chalice build the dependencies once, in a probe
project that has nothing but requirements.txt, keep them under build/lambda-deps/<key>/
(key: requirements.txt, Python version, architecture, Chalice version), and hand them to the
real packaging as the project's `vendor/` directory, which Chalice copies into the package
as is. boto3/botocore/s3transfer are left out here already (the Lambda runtime has them).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from infra.postprocess import runtime_package_entries

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "build" / "lambda-deps"
KEEP = 3  # sets of dependencies kept (e.g. before and after a change of requirements.txt)

# One function, or Chalice builds no deployment package at all.
_PROBE_APP = '''from chalice import Chalice

app = Chalice(app_name="lambda-deps")


@app.lambda_function()
def probe(event, context):
    return {}
'''


def cache_key(requirements_text: bytes, architecture: str) -> str:
    import chalice

    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    h = hashlib.sha256(requirements_text)
    h.update(f"|{python}|{architecture}|chalice {chalice.__version__}".encode())
    return h.hexdigest()[:20]


def _chalice_package(project: Path, out: Path) -> None:
    """`chalice package <out>` in the probe project, in a child process."""
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
         "package", str(out)],
        cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0 or "Could not install dependencies" in done.stdout:
        raise RuntimeError(f"chalice package of the dependencies failed ({done.returncode}):\n"
                           f"{done.stdout[-3000:]}{done.stderr[-3000:]}")


def _extract(package: Path, target: Path) -> None:
    with zipfile.ZipFile(package) as z:
        skip = set(runtime_package_entries(z.namelist()))
        for info in z.infolist():
            top = info.filename.split("/", 1)[0]
            if info.filename in skip or top in ("app.py", "chalice"):
                continue  # the app and Chalice's runtime stub come with the real package
            path = Path(z.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode and path.is_file():
                os.chmod(path, mode)


def lambda_dependencies(requirements_file: Path, architecture: str = "x86_64",
                        cache_dir: Path = CACHE_DIR) -> tuple[Path | None, bool]:
    """(directory of installed dependencies, whether it came from the cache); no directory
    when requirements.txt lists nothing."""
    text = requirements_file.read_bytes() if requirements_file.is_file() else b""
    if not any(line.split(b"#", 1)[0].strip() for line in text.splitlines()):
        return None, True
    target = cache_dir / cache_key(text, architecture)
    if target.is_dir():
        os.utime(target)  # most recently used: kept by _prune
        return target, True
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".building-") as tmp:
        probe = Path(tmp) / "probe"
        (probe / ".chalice").mkdir(parents=True)
        (probe / "requirements.txt").write_bytes(text)
        (probe / "app.py").write_text(_PROBE_APP)
        (probe / ".chalice" / "config.json").write_text(json.dumps(
            {"version": "2.0", "app_name": "lambda-deps", "lambda_architecture": architecture}))
        _chalice_package(probe, Path(tmp) / "out")
        site = Path(tmp) / "site-packages"
        _extract(Path(tmp) / "out" / "deployment.zip", site)
        try:
            site.rename(target)  # atomic: a concurrent synthesis sees all of it or nothing
        except OSError:
            if not target.is_dir():
                raise
    _prune(cache_dir, keep=KEEP)
    return target, False


def _prune(cache_dir: Path, keep: int) -> None:
    built = [p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith(".building-")]
    built.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in built[keep:]:
        shutil.rmtree(stale, ignore_errors=True)
