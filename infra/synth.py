"""Synthesize the stack of a stage offline: one SAM template and its deployment package.

    python -m infra.synth [--stage prod] [--out build/infra]

1. Generates the merge template (infra.template: tables, queues + DLQs, secrets, user pool,
   the alarm topic, gateway responses), from infra.resources.
2. Runs `chalice package --stage <stage> --merge-template <merge template> <out>` on a
   snapshot of the project (<out>/.project), with a deny-all IAM policy file for Chalice's own
   roles (`iam_policy_file`), which step 3 replaces. It is Chalice's own `package` command,
   called through its Python API for that one extra setting. The Lambda-compatible wheels of
   requirements.txt are built by Chalice once per set of pins and architecture and reused from
   build/lambda-deps (infra.dependencies).
3. Completes what Chalice wrote (infra.postprocess, infra.template.complete_template):
   ReportBatchItemFailures on every SQS event source, queue ARNs wired to the queue
   resources, worker timeouts within the queue's visibility timeout, one least-privilege role
   per function (infra.permissions), each function's environment (user pool, secret ids) and
   log group, stage throttling and the alarms; on every stage but local, the web app's private
   bucket and the CloudFront distribution serving it with /api/* sent to the API (infra.web;
   tools.deploy uploads the files); boto3/botocore out of deployment.zip. Refuses to
   finish when the template has a dangling reference or an SQS event source without
   ReportBatchItemFailures.
4. Adds precompiled bytecode to deployment.zip (infra.bytecode; DESIGN pitfall 12): Lambda's
   code directory is read-only, so a package without .pyc files compiles at every cold start.

Writes <out>/sam.json, <out>/deployment.zip, the generated inputs (merge-template.json,
lambda-policy.json) and <out>/synth.json (a summary with timings, read by tools.bench).
Nothing here calls AWS. Deploy with `make deploy STAGE=...` (tools.deploy).

It imports the project's app.py (Chalice does, to find the handlers): run it in its own
process (`run_synth` does) rather than inside one that already imported the app.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_lambda_architecture

from infra import postprocess
from infra.bytecode import add_bytecode
from infra.dependencies import lambda_dependencies

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "infra"
DEFAULT_STAGE = "prod"
SUMMARY = "synth.json"
# What the package is built from: a newer file here makes a previous synthesis stale.
SOURCES = ("app.py", "chalicelib", "infra", "requirements.txt", ".chalice/config.json")


class SynthError(Exception):
    """The template or package would not deploy or would misbehave; the message says why."""


@dataclass
class SynthResult:
    stage: str
    out: str
    template: str
    package: str
    package_bytes: int
    package_seconds: float
    dependencies_seconds: float
    dependencies: str
    total_seconds: float
    dependencies_cached: bool
    sqs_event_sources: list[str] = field(default_factory=list)
    timeouts_lowered: list[str] = field(default_factory=list)
    runtime_bytes_removed: int = 0
    resource_counts: dict[str, int] = field(default_factory=dict)
    bytecode_files: int = 0  # .pyc files added to the package (infra.bytecode)
    bytecode_bytes: int = 0  # what they add to it, compressed
    bytecode_seconds: float = 0.0
    bytecode_skipped: list[str] = field(default_factory=list)  # sources that do not compile


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _chalice_package(project_dir: Path, stage: str, out: Path, merge_template: Path,
                     policy_file: Path) -> None:
    """`chalice package --stage <stage> --merge-template <file> <out>`, with our policy file."""
    factory = CLIFactory(project_dir=str(project_dir))
    # An absolute iam_policy_file wins over .chalice/ (Chalice joins it with os.path.join), and
    # autogen_policy=False makes every stage use it, even one whose config.json autogenerates.
    config = factory.create_config_obj(
        stage, autogen_policy=False, user_provided_params={"iam_policy_file": str(policy_file)})
    validate_lambda_architecture(config)
    packager = factory.create_app_packager(config, factory.create_package_options(),
                                           "cloudformation", "json", str(merge_template))
    packager.package_app(config, str(out), stage)


def stage_project(project_dir: Path, target: Path, dependencies: Path | None) -> Path:
    """Copy what Chalice packages (app.py, chalicelib/, .chalice/config.json) to `target`, a
    snapshot that colleagues' edits cannot tear, with the prebuilt `dependencies` as its
    vendor/ (plus the project's own vendor/, if any) and nothing left to download."""
    target.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.rmtree(target / "chalicelib", ignore_errors=True)
    if (project_dir / "chalicelib").is_dir():
        shutil.copytree(project_dir / "chalicelib", target / "chalicelib", ignore=ignore)
    vendor = target / "vendor"
    if vendor.is_symlink() or vendor.is_file():
        vendor.unlink()
    shutil.rmtree(vendor, ignore_errors=True)
    if (project_dir / "vendor").is_dir():
        if dependencies is not None:
            shutil.copytree(dependencies, vendor)
        shutil.copytree(project_dir / "vendor", vendor, ignore=ignore, dirs_exist_ok=True)
    elif dependencies is not None:
        vendor.symlink_to(dependencies, target_is_directory=True)
    for name in ("app.py", ".chalice/config.json"):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        if (project_dir / name).is_file():
            shutil.copy2(project_dir / name, target / name)
        else:
            (target / name).unlink(missing_ok=True)
    (target / "requirements.txt").write_text(
        f"# {project_dir / 'requirements.txt'}: installed in vendor/ -> {dependencies}\n")
    return target


def _prune_chalice_cache(cache: Path) -> None:
    """Chalice keeps a zip per version of the app in .chalice/deployments; we never reuse it."""
    for old in cache.glob("*.zip") if cache.is_dir() else ():
        old.unlink(missing_ok=True)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def requirements(path: Path) -> dict[str, str]:
    """{normalized distribution name: pinned version} of a requirements file."""
    pins = {}
    for line in path.read_text().splitlines() if path.is_file() else ():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*==\s*([^\s;]+)", line)
        if match:
            pins[_normalize(match.group(1))] = match.group(3)
    return pins


def missing_requirements(zip_names: list[str], pins: dict[str, str]) -> list[str]:
    """Pinned requirements without their `<name>-<version>.dist-info` in the package.

    Chalice only *prints* a warning when it finds no Lambda-compatible wheel for a dependency
    and builds the package anyway; we refuse such a package.
    """
    present = set()
    for name in zip_names:
        top = name.split("/", 1)[0]
        if top.endswith(".dist-info"):
            dist, _, version = top[: -len(".dist-info")].rpartition("-")
            present.add((_normalize(dist), version))
    return [f"{n}=={v}" for n, v in sorted(pins.items()) if (n, v) not in present]


def synthesize(stage: str = DEFAULT_STAGE, out: Path = DEFAULT_OUT,
               project_dir: Path = ROOT) -> SynthResult:
    started = time.perf_counter()
    out = Path(out).resolve()
    project_dir = Path(project_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("sam.json", "deployment.zip", SUMMARY):
        (out / stale).unlink(missing_ok=True)
    config = CLIFactory(project_dir=str(project_dir)).create_config_obj(stage)

    deps_started = time.perf_counter()
    try:
        dependencies, cached = lambda_dependencies(project_dir / "requirements.txt",
                                                   config.lambda_architecture)
    except RuntimeError as exc:
        raise SynthError(str(exc)) from exc
    deps_seconds = time.perf_counter() - deps_started
    project = stage_project(project_dir, out / ".project", dependencies)

    # From here on everything is read from the snapshot: the resources, the app Chalice
    # imports, and the files it zips. Names (tables, queues) come from ITINERA_STAGE, as in
    # the deployed function; Chalice wants a region for its session (the template has none).
    sys.path.insert(0, str(project))
    os.environ["ITINERA_STAGE"] = config.environment_variables.get("ITINERA_STAGE", stage)
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    from chalicelib.core.config import queue_name
    from infra import permissions, resources, template

    merge_path, policy_path = out / "merge-template.json", out / "lambda-policy.json"
    _write_json(merge_path, template.merge_template(os.environ["ITINERA_STAGE"]))
    _write_json(policy_path, permissions.CHALICE_ROLE_POLICY)  # its roles are replaced: see below
    package_started = time.perf_counter()
    _chalice_package(project, stage, out, merge_path, policy_path)
    package_seconds = time.perf_counter() - package_started
    _prune_chalice_cache(project / ".chalice" / "deployments")

    template_path, zip_path = out / "sam.json", out / "deployment.zip"
    sam = json.loads(template_path.read_text())
    queue_ids = {queue_name(name): template.queue_id(name) for name in resources.QUEUES}
    unknown = postprocess.wire_queue_arns(sam, queue_ids)
    if unknown:
        raise SynthError(f"SQS handlers in app.py read queues that infra.resources.QUEUES does not "
                         f"declare: {', '.join(sorted(set(unknown)))}")
    patched = postprocess.report_batch_item_failures(sam)
    lowered = postprocess.fit_worker_timeouts(sam)
    try:  # roles, environment, logs, alarms; the web app on deployed stages (infra.web)
        template.complete_template(sam, config.environment_variables)
    except ValueError as exc:
        raise SynthError(str(exc)) from exc
    problems = postprocess.template_problems(sam)
    if problems:
        raise SynthError("the synthesized template would not deploy:\n  " + "\n  ".join(problems))
    _write_json(template_path, sam)

    removed = postprocess.strip_runtime_packages(str(zip_path))
    with zipfile.ZipFile(zip_path) as package:
        names = package.namelist()
    left = postprocess.runtime_package_entries(names)
    if left:
        raise SynthError(f"deployment.zip still holds runtime packages: {left[:5]}")
    missing = missing_requirements(names, requirements(project_dir / "requirements.txt"))
    if missing:
        raise SynthError("chalice package found no Lambda-compatible wheel (or could not reach "
                         f"the package index) for: {', '.join(missing)}")

    # Last, once the package holds exactly what ships: its bytecode (DESIGN pitfall 12).
    bytecode_started = time.perf_counter()
    runtimes = {f.get("Properties", {}).get("Runtime") for _, f in postprocess.functions(sam)}
    if len(runtimes) != 1:
        raise SynthError("the functions use several runtimes but share one package: "
                         f"{sorted(map(str, runtimes))}")
    try:
        bytecode = add_bytecode(str(zip_path), runtimes.pop())
    except ValueError as exc:
        raise SynthError(f"cannot precompile the package: {exc}") from exc
    bytecode_seconds = time.perf_counter() - bytecode_started

    counts: dict[str, int] = {}
    for resource in sam["Resources"].values():
        counts[resource["Type"]] = counts.get(resource["Type"], 0) + 1
    result = SynthResult(
        stage=stage, out=str(out), template=str(template_path), package=str(zip_path),
        package_bytes=zip_path.stat().st_size, package_seconds=round(package_seconds, 2),
        dependencies_seconds=round(deps_seconds, 2), dependencies=str(dependencies or "-"),
        total_seconds=round(time.perf_counter() - started, 2), dependencies_cached=cached,
        sqs_event_sources=patched, timeouts_lowered=lowered, runtime_bytes_removed=removed,
        resource_counts=dict(sorted(counts.items())), bytecode_files=bytecode.compiled,
        bytecode_bytes=bytecode.bytes_added, bytecode_seconds=round(bytecode_seconds, 2),
        bytecode_skipped=bytecode.skipped)
    _write_json(out / SUMMARY, asdict(result))
    return result


def run_synth(stage: str = DEFAULT_STAGE, out: Path = DEFAULT_OUT, project_dir: Path = ROOT,
              env: dict[str, str] | None = None) -> SynthResult:
    """Synthesize in a child process (the app is imported there, not here)."""
    cmd = [sys.executable, "-m", "infra.synth", "--stage", stage, "--out", str(out),
           "--project-dir", str(project_dir), "--quiet"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SynthError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return SynthResult(**json.loads((Path(out) / SUMMARY).read_text()))


def up_to_date(out: Path = DEFAULT_OUT, project_dir: Path = ROOT, stage: str = DEFAULT_STAGE) -> bool:
    """Whether <out> holds a synthesis of `stage` newer than every file it was built from."""
    summary = Path(out) / SUMMARY
    if not summary.is_file() or not (Path(out) / "deployment.zip").is_file():
        return False
    if json.loads(summary.read_text()).get("stage") != stage:
        return False
    built = summary.stat().st_mtime
    for source in SOURCES:
        path = Path(project_dir) / source
        files = path.rglob("*.py") if path.is_dir() else [path]
        if any(f.stat().st_mtime > built for f in files if f.exists()):
            return False
    return True


def _report(result: SynthResult) -> str:
    lines = [
        f"stage {result.stage}: {result.template}",
        f"  package  {result.package} ({result.package_bytes / 1e6:.2f} MB zipped; boto3/botocore "
        "left to the Lambda runtime)",
        f"  chalice package took {result.package_seconds:.1f} s; Lambda dependencies "
        + ("none" if result.dependencies == "-" else
           f"reused from {result.dependencies}" if result.dependencies_cached else
           f"built in {result.dependencies_seconds:.1f} s (chalice package of requirements.txt), "
           f"cached in {result.dependencies}")
        + f"; synthesis {result.total_seconds:.1f} s",
        f"  bytecode {result.bytecode_files} .pyc (unchecked-hash, {result.bytecode_bytes / 1e6:.2f} MB "
        f"zipped) compiled in {result.bytecode_seconds:.1f} s"
        + (f"; not compilable, left as source: {', '.join(result.bytecode_skipped)}"
           if result.bytecode_skipped else ""),
        "  resources: " + ", ".join(f"{n} {t}" for t, n in result.resource_counts.items()),
        "  SQS event sources with ReportBatchItemFailures: "
        + (", ".join(result.sqs_event_sources) or "none (app.py has no SQS handler)"),
    ]
    lines += [f"  lowered to the queue's visibility timeout: {t}" for t in result.timeouts_lowered]
    lines.append("  not in the template: the SES sender identity (verify it once per account "
                 "and region).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.synth", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", default=DEFAULT_STAGE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--project-dir", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="only write the files")
    args = parser.parse_args(argv)
    try:
        result = synthesize(args.stage, args.out, args.project_dir)
    except SynthError as exc:
        print(f"infra.synth: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
