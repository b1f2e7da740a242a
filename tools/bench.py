"""Benchmarks: `make bench` prints one table per section. Never part of the test suite.

    python -m tools.bench                 every section
    python -m tools.bench --only cold     sections whose title contains "cold"
    python -m tools.bench --runs 20       more cold-start processes

A section is a title and a function that returns rows (dicts: column -> value, first row's
keys give the columns). To add one, append a line to SECTIONS; `lazy("module:function")`
imports its module only when the section runs, so a slow or broken import there cannot hold
up the others:

    ("Search at scale", lazy("tools.bench_search:<function>")),
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
Row = dict[str, Any]
Section = tuple[str, Callable[[], list[Row]]]

COLD_START_TARGET_MS = 250.0
PACKAGE_TARGET_MB = 5.0
RUNS = 10  # fresh processes for the cold start (--runs)
STAGE = "prod"


def lazy(target: str) -> Callable[[], list[Row]]:
    """A section function given as "package.module:function", imported when it runs."""
    module_name, _, function_name = target.partition(":")

    def run() -> list[Row]:
        return getattr(importlib.import_module(module_name), function_name)()

    run.__name__ = function_name
    return run


# ---------------------------------------------------------------------------------------------
# Cold start: importing app.py, the floor of every Lambda cold start


def lambda_environment(stage: str = STAGE) -> dict[str, str]:
    """An environment like the deployed function's: the stage's variables from
    .chalice/config.json, placeholder pool ids and cursor key, a region, and no credentials
    (importing the app must not call AWS; if it tried, the child would fail instead of hanging)."""
    from tools.deploy import stage_environment

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_LAMBDA_FUNCTION_NAME": f"itinera-{stage}", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
           "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "ITINERA_USER_POOL_ID": "us-east-1_bench", "ITINERA_USER_POOL_CLIENT_ID": "bench",
           "ITINERA_CURSOR_SECRET": "bench-cursor-secret"}  # infra gives deployed stages their own
    env.update(stage_environment(stage))
    env.setdefault("ITINERA_STAGE", stage)
    return env


_TIMED_IMPORT = (
    "import time; t = time.perf_counter(); import app; "
    "print(round((time.perf_counter() - t) * 1000, 3))"
)


def _import_app_ms(cwd: Path, env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", _TIMED_IMPORT], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"import app failed in {cwd}:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _stats_row(label: str, samples: list[float], target: float | None) -> Row:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    row: Row = {"measure": label, "runs": len(ordered), "median ms": median, "p90 ms": p90,
                "min ms": ordered[0], "max ms": ordered[-1]}
    row["target ms"] = target if target is not None else "-"
    row["status"] = "-" if target is None else ("ok" if median <= target else "OVER")
    return row


def cold_start() -> list[Row]:
    """The app's import in the venv (bytecode cached: the figure the target is set for), then
    from the deployment package itself, unzipped into a read-only directory with nothing
    written (PYTHONDONTWRITEBYTECODE): as on Lambda, only the .pyc files the package ships
    (infra.bytecode) spare the compilation of its modules. tools.bench_cold measures whole
    first requests the same way."""
    from tools.bench_cold import host_package, unpack_read_only, writable

    env = lambda_environment()
    subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, env=env,
                   capture_output=True, timeout=120)  # fill the bytecode cache once
    rows = [_stats_row("import app (venv, bytecode cached)",
                       [_import_app_ms(ROOT, env) for _ in range(RUNS)], COLD_START_TARGET_MS)]
    try:
        path, _ = host_package(STAGE)  # the stage's, or the same built for this machine's architecture
    except Exception as exc:  # no package (e.g. offline): the venv figure still stands
        rows.append({"measure": "import app from deployment.zip (no package: "
                                f"{str(exc).splitlines()[0][:80]})"})
        return rows
    with tempfile.TemporaryDirectory() as work:
        task = unpack_read_only(path, Path(work) / "task")
        lambda_env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        with writable(task):  # again at the end, so that the temporary directory can go
            rows.append(_stats_row("import app from deployment.zip, read-only, its own .pyc (as on Lambda)",
                                   [_import_app_ms(task, lambda_env) for _ in range(RUNS)], None))
    return rows


PROFILE_RUNS = 5  # -X importtime runs; each module's times are the median over them


def _importtime_run() -> list[tuple[str, int, int, int]]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=ROOT,
                          env=lambda_environment(), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"import app failed:\n{done.stderr[-2000:]}")
    parsed = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)", line)
        if match:
            parsed.append((match.group(4), int(match.group(1)), int(match.group(2)),
                           len(match.group(3)) // 2))
    return parsed


@lru_cache(maxsize=1)
def import_profile() -> tuple[tuple[str, float, float, int, str], ...]:
    """(module, self us, cumulative us, depth, imported by) for each module that app.py
    imports, in the order the imports finished, times as medians of PROFILE_RUNS runs of
    `python -X importtime -c "import app"` (one run is too noisy to rank by)."""
    runs = [_importtime_run() for _ in range(PROFILE_RUNS)]
    parsed = runs[0]
    samples: dict[str, list[tuple[int, int]]] = {}
    for run in runs:
        for name, own, cumulative, _ in run:
            samples.setdefault(name, []).append((own, cumulative))
    # A module is printed after everything it imported, one level deeper: its importer is the
    # next line at a shallower level.
    out = []
    for i, (name, _, _, depth) in enumerate(parsed):
        parent = next((p[0] for p in parsed[i + 1:] if p[3] < depth), "-")
        own = statistics.median(s[0] for s in samples[name])
        cumulative = statistics.median(s[1] for s in samples[name])
        out.append((name, own, cumulative, depth, parent))
    return tuple(out)


def slowest_imports(top: int = 10) -> list[Row]:
    modules = [m for m in import_profile() if m[0] != "app"]
    modules.sort(key=lambda m: m[2], reverse=True)
    return [{"module": name, "cumulative ms": cum / 1000, "self ms": own / 1000, "imported by": parent}
            for name, own, cum, _, parent in modules[:top]]


def heaviest_modules(top: int = 10) -> list[Row]:
    """By self time: the modules whose own top-level code (class bodies, pydantic models,
    compiled regexes, tables built at import) costs most."""
    modules = sorted(import_profile(), key=lambda m: m[1], reverse=True)
    return [{"module": name, "self ms": own / 1000, "cumulative ms": cum / 1000, "imported by": parent}
            for name, own, cum, _, parent in modules[:top]]


def import_time_by_package(top: int = 10) -> list[Row]:
    """Self time summed per top-level package (what dropping or deferring it would save), and
    the module outside the package that first imported it."""
    profile = import_profile()
    by_name = {m[0]: m for m in profile}
    totals: dict[str, list[Any]] = {}
    for name, own, _, depth, _ in profile:
        entry = totals.setdefault(name.split(".")[0], [0.0, 0, None])
        entry[0] += own / 1000
        entry[1] += 1
        if entry[2] is None or depth < by_name[entry[2]][3]:
            entry[2] = name  # the package's outermost import
    rows = []
    whole = sum(t[0] for t in totals.values()) or 1.0
    for package, (ms, count, outermost) in sorted(totals.items(), key=lambda t: t[1][0], reverse=True)[:top]:
        importer = by_name[outermost][4]
        while importer.split(".")[0] == package and importer in by_name:
            importer = by_name[importer][4]
        rows.append({"package": package, "self ms": ms, "modules": count,
                     "share %": 100 * ms / whole, "imported by": importer})
    return rows


# ---------------------------------------------------------------------------------------------
# The deployment package that `chalice package` builds (through infra.synth)


@lru_cache(maxsize=1)
def deployment_package() -> tuple[Path, str, float | None]:
    """(zip path, how it was obtained, chalice package seconds) — reuses build/infra when it
    is newer than every source it was built from, else synthesizes it (in a child process)."""
    from infra import synth

    if synth.up_to_date(synth.DEFAULT_OUT, stage=STAGE):
        summary = json.loads((synth.DEFAULT_OUT / synth.SUMMARY).read_text())
        return synth.DEFAULT_OUT / "deployment.zip", "reused build/infra", summary.get("package_seconds")
    started = time.perf_counter()
    result = synth.run_synth(STAGE, synth.DEFAULT_OUT)
    how = f"synthesized in {time.perf_counter() - started:.1f} s"
    return Path(result.package), how, result.package_seconds


def package_size() -> list[Row]:
    path, how, package_seconds = deployment_package()
    with zipfile.ZipFile(path) as package:
        infos = package.infolist()
    zipped_mb = path.stat().st_size / 1e6
    return [{"package": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
             "zipped MB": zipped_mb, "unzipped MB": sum(i.file_size for i in infos) / 1e6,
             "files": len(infos), "target MB": PACKAGE_TARGET_MB,
             "status": "ok" if zipped_mb <= PACKAGE_TARGET_MB else "OVER",
             "chalice package s": package_seconds if package_seconds is not None else "-",
             "source": how}]


def largest_package_entries(top: int = 10) -> list[Row]:
    path, _, _ = deployment_package()
    sizes: dict[str, list[int]] = {}
    with zipfile.ZipFile(path) as package:
        for info in package.infolist():
            entry = info.filename.split("/", 1)[0] + ("/" if "/" in info.filename else "")
            size = sizes.setdefault(entry, [0, 0])
            size[0] += info.compress_size
            size[1] += info.file_size
    whole = sum(s[0] for s in sizes.values()) or 1
    ranked = sorted(sizes.items(), key=lambda item: item[1][0], reverse=True)[:top]
    return [{"entry": name, "zipped MB": zipped / 1e6, "unzipped MB": unzipped / 1e6,
             "share %": 100 * zipped / whole} for name, (zipped, unzipped) in ranked]


# ---------------------------------------------------------------------------------------------

SECTIONS: list[Section] = [
    (f"Cold start: import app.py in fresh processes, stage {STAGE} (target <= "
     f"{COLD_START_TARGET_MS:.0f} ms)", cold_start),
    (f"Cold first requests from the built package, fresh processes, stage {STAGE}, against the floor of "
     "any Python DynamoDB function (target <= 1.5x the floor's median)", lazy("tools.bench_cold:cold_requests")),
    ("Cold start package: what deployment.zip ships, bytecode included", lazy("tools.bench_cold:package_rows")),
    (f"Slowest imports of app.py (python -X importtime, median of {PROFILE_RUNS} runs)", slowest_imports),
    ("Heaviest modules by self time (same runs)", heaviest_modules),
    ("Import time by top-level package (self time, same runs)", import_time_by_package),
    (f"Deployment package, chalice package --stage {STAGE} (target <= {PACKAGE_TARGET_MB:.0f} MB zipped)",
     package_size),
    ("Largest top-level entries of the package", largest_package_entries),
    ("Search at scale: the same hotel search, catalogs of 1,000 and 20,000 listings "
     "(targets: items read equal, latency ratio <= 1.3)", lazy("tools.bench_search:search_scale_rows")),
    ("Dense city: a 3-night hotel search in one city of 100, 1,000 and 5,000 hotels, pages 1 and 5, "
     "by price and by rating (targets: 5,000 vs 100 <= 3x items read and latency, page 5 vs 1 <= 1.5x)",
     lazy("tools.bench_dense:dense_city_rows")),
    ("DynamoDB round trips per booking operation (botocore event hooks)", lazy("tools.bench_booking:round_trips")),
    ("Hold throughput: service layer vs raw TransactWriteItems of the same shape (target ratio >= 0.6)",
     lazy("tools.bench_booking:hold_throughput")),
    ("DynamoDB round trips of the traveler experience: places, recommendations, a promotion code "
     "(botocore event hooks, every thread)", lazy("tools.bench_experience:round_trips")),
]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def format_table(title: str, rows: list[Row]) -> str:
    if not rows:
        return f"{title}\n  (no rows)\n"
    columns = list(rows[0])
    for row in rows[1:]:
        columns += [c for c in row if c not in columns]
    cells = [[_cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def numeric(i: int) -> bool:
        return all(isinstance(row.get(columns[i]), (int, float)) for row in rows)

    def line(values: list[str]) -> str:
        return "  " + "  ".join(v.rjust(w) if numeric(i) else v.ljust(w)
                                for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    rule = "  " + "  ".join("-" * w for w in widths)
    return "\n".join([title, line(columns), rule, *(line(r) for r in cells)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    global RUNS
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", action="append", default=[],
                        help="run the sections whose title contains this text (repeatable)")
    parser.add_argument("--runs", type=int, default=RUNS, help="fresh processes for the cold start")
    args = parser.parse_args(argv)
    RUNS = args.runs
    # Sections in other modules read tools.bench (RUNS among others): under `python -m` that
    # must be this module, not a second copy with the defaults.
    sys.modules.setdefault("tools.bench", sys.modules[__name__])
    failed = 0
    for title, function in SECTIONS:
        if args.only and not any(o.lower() in title.lower() for o in args.only):
            continue
        started = time.perf_counter()
        try:
            rows = function()
        except Exception:  # one broken section must not hide the others
            failed += 1
            trace = "\n".join("    " + line for line in traceback.format_exc().splitlines())
            print(f"{title}\n  FAILED:\n{trace}\n", flush=True)
            continue
        print(format_table(f"{title}  [{time.perf_counter() - started:.1f} s]", rows), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
