"""Cold first requests, from the built package, against the floor every Python function pays.

    python -m tools.bench --only cold      (or python -m tools.bench_cold [--runs N])

Each measurement is a fresh process started the way Lambda starts one for a cold invoke:

- the code is deployment.zip as infra.synth builds it (synthesized first when stale; for this
  machine's architecture when the stage deploys for another, see host_package), unzipped into
  a directory made read-only, with PYTHONDONTWRITEBYTECODE=1: nothing the process compiles is
  kept, as on Lambda, so only the bytecode the package ships helps;
- `python -S` with the package directory as sys.path[0] and, appended after the standard
  library, a directory holding only what the python3.11 runtime provides (boto3, botocore,
  s3transfer and their dependencies jmespath, dateutil, six, urllib3), linked from the venv:
  a dependency the package lacks fails the run instead of coming from the venv, and where
  the package ships its own copy (urllib3, dateutil...) the package's wins, as on Lambda;
- the stage's environment (tools.bench.lambda_environment) pointed at the embedded AWS (a
  moto server in its own process, tables, queues and user pool bootstrapped, a small catalog).

Cases, measured in the same run, interleaved round by round after one discarded warm-up round:

- floor: `import boto3`, a DynamoDB client, one GetItem of a real item (the "hello world" of a
  Python DynamoDB function; any function of ours pays at least this);
- GET /search: `import app`, then `app.app(<API Gateway proxy event>, context)`;
- POST /holds: the same with a traveler's real Cognito ID token (issued by the emulator in the
  set-up process, outside the timed one) and a fresh Idempotency-Key per run;
- confirmation worker: `app.confirm_bookings(<SQS event>, context)`, the event built from the
  real message the payment of a real booking put on the confirmations queue (one booking per
  run, paid with the local provider: the deployed prod stage uses Stripe, which cannot be
  reached from here).

Wall time runs from just before the process is spawned to the moment it prints its answer
(interpreter start-up included, exit excluded); CPU time is the child's own user + system time
up to that moment, which the other load of a shared machine disturbs less. After answering, the
child reports (untimed) where its modules came from: any module neither from the package,
nor the runtime's packages nor the standard library fails the run, and `compiled at import`
counts the modules that had no .pyc to load (0 when the package ships its bytecode).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
# What the Lambda python3.11 runtime provides besides the standard library.
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
MARK = "BENCH-COLD "
CASES = ("floor", "search", "holds", "worker")
LABELS = {"floor": "floor: import boto3, client, one GetItem", "search": "GET /search (first request)",
          "holds": "POST /holds (first request, signed in)", "worker": "confirmation worker (first batch)"}
NIGHTS = 2
HOTELS = 12  # the small catalog: hotels in PAR, all found by the search
# The bench places a hold per run for one traveler; the per-traveler limits stay out of the way.
UNLIMITED = {"ITINERA_MAX_ACTIVE_HOLDS": "100000", "ITINERA_HOLD_ATTEMPTS_PER_MINUTE": "100000",
             "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE": "100000", "ITINERA_PAYMENT_PROVIDER": "local"}

# The timed process. Kept to the standard library until the case itself starts.
_PROBE = r'''
import json, os, sys, time
spec = json.loads(sys.stdin.readline())
sys.path.append(os.environ["BENCH_RUNTIME_PATH"])  # after the standard library, like /var/lang's site-packages


class Context:  # what Lambda passes: Powertools' inject_lambda_context reads these
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "itinera")
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    aws_request_id = spec["request_id"]
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 30000


case = spec["case"]
if case == "floor":
    import boto3
    item = boto3.client("dynamodb").get_item(**spec["get_item"])
    answer = {"found": "Item" in item}
else:
    import app
    if case == "worker":
        answer = app.confirm_bookings(spec["event"], Context())
    else:
        response = app.app(spec["event"], Context())
        answer = {"status": response["statusCode"], "body": response["body"]}
cpu = time.process_time()
sys.stdout.write("BENCH-COLD " + json.dumps({"answer": answer, "cpu_ms": cpu * 1000}) + "\n")
sys.stdout.flush()

# Untimed: where the modules came from, and which had no bytecode to load.
from importlib.util import cache_from_source
task, runtime = os.path.realpath(os.getcwd()), os.environ["BENCH_RUNTIME_PATH"]
stdlib = os.path.realpath(os.path.dirname(os.__file__))
origins = {"package": 0, "runtime": 0, "stdlib": 0}
elsewhere, compiled = [], []
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if not path:
        continue
    if path.startswith(runtime + os.sep):
        origins["runtime"] += 1
    elif os.path.realpath(path).startswith(task + os.sep):
        origins["package"] += 1
    elif os.path.realpath(path).startswith(stdlib + os.sep):
        origins["stdlib"] += 1
    else:
        elsewhere.append(f"{name} ({path})")
    if path.endswith(".py") and not os.path.exists(cache_from_source(path)):
        compiled.append(name)
sys.stdout.write("BENCH-COLD " + json.dumps({"origins": origins, "elsewhere": elsewhere,
                                             "compiled": sorted(compiled)}) + "\n")
'''


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------
# Events, as API Gateway (REST, proxy integration) and the SQS event source send them


def api_event(method: str, route: str, *, params: dict[str, str] | None = None,
              query: dict[str, str] | None = None, body: Any = None,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    path = route.format(**(params or {}))
    all_headers = {"host": "api.itinera.example", "user-agent": "bench-cold", "accept": "application/json",
                   "x-forwarded-proto": "https", **({"content-type": "application/json"} if body is not None else {}),
                   **{k.lower(): v for k, v in (headers or {}).items()}}
    return {
        "resource": route, "path": path, "httpMethod": method,
        "headers": all_headers, "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": params or None, "stageVariables": None,
        "requestContext": {"resourcePath": route, "httpMethod": method, "path": "/api" + path,
                           "stage": "api", "requestId": str(uuid.uuid4()), "accountId": "123456789012",
                           "apiId": "bench", "protocol": "HTTP/1.1", "domainName": "api.itinera.example",
                           "requestTimeEpoch": int(time.time() * 1000),
                           "identity": {"sourceIp": "203.0.113.7", "userAgent": "bench-cold"}},
        "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda event for messages as ReceiveMessage returned them."""
    records = []
    for m in messages:
        attributes = {name: {"stringValue": a.get("StringValue"), "binaryValue": None, "stringListValues": [],
                             "binaryListValues": [], "dataType": a["DataType"]}
                      for name, a in (m.get("MessageAttributes") or {}).items()}
        records.append({"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "0",
                                       **(m.get("Attributes") or {})},
                        "messageAttributes": attributes, "md5OfBody": m.get("MD5OfBody", ""),
                        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"})
    return {"Records": records}


# ---------------------------------------------------------------------------------------------
# Set-up, in a child process of the venv (it imports the app; the bench process must not)


def _invoke(app: Any, event: dict[str, Any], expected: int) -> dict[str, Any]:
    class Context:
        function_name, memory_limit_in_mb, aws_request_id = "bench-setup", 1024, "setup"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-setup"

    response = app(event, Context())
    if response["statusCode"] != expected:
        raise BenchError(f"{event['httpMethod']} {event['path']}: {response['statusCode']} {response['body']}")
    return json.loads(response["body"])


def setup(bookings: int) -> dict[str, Any]:
    """Bootstrap the emulator, publish a small catalog through the vendor API and prepare
    `bookings` paid bookings waiting for the confirmation worker. Returns what the cases need."""
    import boto3

    from chalicelib.core.config import settings
    from chalicelib.core.queues import CONFIRMATIONS, url_variable
    from tools.bootstrap import bootstrap
    from tools.demo_users import DEFAULT_PASSWORD

    outputs = bootstrap(boto3.session.Session(), sender=settings().sender_email, demo_password=DEFAULT_PASSWORD)
    os.environ["ITINERA_USER_POOL_ID"] = outputs["user_pool_id"]
    os.environ["ITINERA_USER_POOL_CLIENT_ID"] = outputs["client_id"]
    settings.cache_clear()
    from app import app
    from chalicelib.inventory.models import Listing

    def login(email: str) -> str:
        body = {"email": email, "password": DEFAULT_PASSWORD}
        return _invoke(app, api_event("POST", "/auth/login", body=body), 200)["id_token"]

    vendor = {"Authorization": "Bearer " + login("vendor@example.com")}
    traveler = login("traveler@example.com")
    check_in = date.today() + timedelta(days=20)
    listings = []
    for n in range(HOTELS):
        listing = _invoke(app, api_event("POST", "/vendor/listings", headers=vendor, body={
            "kind": "hotel", "title": f"Cold start hotel {n}", "currency": "EUR", "city": "PAR",
            "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 50}}), 201)["listing_id"]
        _invoke(app, api_event("PUT", "/vendor/listings/{listing_id}/availability", params={"listing_id": listing},
                               headers=vendor, body={"from": check_in.isoformat(),
                                                     "to": (check_in + timedelta(days=NIGHTS)).isoformat(),
                                                     "capacity": 1000, "price": 9000 + 100 * n}), 200)
        listings.append(listing)
    stay = {"listing_id": listings[0], "quantity": 1, "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=NIGHTS)).isoformat()}
    hold = {"items": [stay], "contact": {"email": "traveler@example.com", "name": "Tessa Traveler"}}
    signed_in = {"Authorization": "Bearer " + traveler}
    booking_ids = []
    for _ in range(bookings):
        held = _invoke(app, api_event("POST", "/holds", body=hold,
                                      headers={**signed_in, "Idempotency-Key": uuid.uuid4().hex}), 201)
        _invoke(app, api_event("POST", "/bookings/{booking_id}/payment", params={"booking_id": held["booking_id"]},
                               body={"payment_method": "tok_visa"},
                               headers={**signed_in, "Idempotency-Key": uuid.uuid4().hex}), 202)
        booking_ids.append(held["booking_id"])

    sqs = boto3.session.Session().client("sqs")
    url = outputs["queues"][CONFIRMATIONS]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    messages: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 30
    while len(messages) < bookings and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                     AttributeNames=["All"], VisibilityTimeout=3600).get("Messages", []):
            messages[json.loads(m["Body"])["booking_id"]] = m
    if set(messages) != set(booking_ids):
        raise BenchError(f"{len(messages)} confirmation messages for {bookings} paid bookings")
    hash_key = Listing._hash_key_attribute().attr_name
    return {
        "user_pool_id": outputs["user_pool_id"], "client_id": outputs["client_id"],
        # As infra gives each function the URLs of the queues it sends to (infra.template).
        "queue_urls": {url_variable(name): url for name, url in outputs["queues"].items()},
        "get_item": {"TableName": Listing.Meta.table_name, "Key": {hash_key: {"S": listings[0]}}},
        "search": {"kind": "hotel", "city": "PAR", "check_in": stay["check_in"], "check_out": stay["check_out"]},
        "hotels": HOTELS, "traveler_token": traveler, "hold": hold,
        "confirmations": [sqs_event([messages[b]], arn) for b in booking_ids],
    }


# ---------------------------------------------------------------------------------------------
# The package, for this machine


HOST_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def stage_architecture(stage: str) -> str:
    """The stage's Lambda architecture in .chalice/config.json (Chalice's default: x86_64)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config.get("stages", {}).get(stage, {}).get(
        "lambda_architecture", config.get("lambda_architecture", "x86_64"))


def host_package(stage: str) -> tuple[Path, str]:
    """(deployment.zip, how it was obtained) that this machine can run.

    The stage's own package (build/infra, synthesized when stale) when the stage deploys for
    this machine's architecture. Otherwise its native extensions (pydantic-core, cryptography)
    cannot load here, so the same synthesis (infra.synth, bytecode included) builds the same
    project for this architecture under build/bench-cold/<architecture>: the same code and
    pins, the same packaging, only the wheels of the native extensions differ.
    """
    from infra import synth
    from tools.bench import deployment_package

    deployed = stage_architecture(stage)
    host = HOST_ARCHITECTURES.get(platform.machine().lower(), platform.machine())
    if deployed == host:
        return deployment_package()[:2]
    out = ROOT / "build" / "bench-cold" / host
    if synth.up_to_date(out, project_dir=ROOT, stage=stage):
        return out / "deployment.zip", f"reused {out.relative_to(ROOT)} ({host}; the stage deploys {deployed})"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="itinera-host-project-") as project_dir:
        project = Path(project_dir)
        shutil.copytree(ROOT / "chalicelib", project / "chalicelib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("app.py", "requirements.txt"):
            shutil.copy2(ROOT / name, project / name)
        config = json.loads((ROOT / ".chalice" / "config.json").read_text())
        config["lambda_architecture"] = host
        config.get("stages", {}).get(stage, {}).pop("lambda_architecture", None)
        (project / ".chalice").mkdir()
        (project / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))
        result = synth.run_synth(stage, out, project_dir=project)
    return Path(result.package), (f"synthesized for {host} in {time.perf_counter() - started:.1f} s "
                                  f"(the stage deploys {deployed}: its native code cannot run here)")


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Sample:
    wall_ms: float
    cpu_ms: float
    answer: Any
    modules: dict[str, Any]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen[Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"the emulator exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise BenchError(f"{url} did not answer within {seconds:.0f} s")


def runtime_directory(target: Path) -> Path:
    """Links to the venv's copies of what the Lambda runtime provides, and nothing else."""
    target.mkdir()
    for name in RUNTIME_MODULES:
        spec = find_spec(name)
        if spec is None or spec.origin is None:
            raise BenchError(f"{name} is not installed in the venv: the runtime's packages come from there")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source, target_is_directory=source.is_dir())
        if source.is_file() and spec.cached and Path(spec.cached).is_file():  # six.py: its pyc too
            (target / "__pycache__").mkdir(exist_ok=True)
            (target / "__pycache__" / Path(spec.cached).name).symlink_to(spec.cached)
    return target


def unpack_read_only(package: Path, target: Path) -> Path:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(target)
    _set_writable(target, False)
    return target


def _set_writable(root: Path, writable: bool) -> None:
    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~bits))


@contextmanager
def writable(root: Path) -> Iterator[None]:
    """Gives `root` its write permission back on the way out, so a temporary directory holding
    it can be removed (by anyone but root, who ignores the permission)."""
    try:
        yield
    finally:
        _set_writable(root, True)


def _file_count(root: Path) -> int:
    return sum(1 for _ in root.rglob("*"))


def run_probe(spec: dict[str, Any], cwd: Path, env: dict[str, str]) -> Sample:
    """One fresh process: spawn, feed it its case, time it until it prints its answer."""
    with tempfile.TemporaryFile(mode="w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-S", "-c", _PROBE], cwd=cwd, env=env, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(spec) + "\n")
        process.stdin.flush()
        result = None
        for line in process.stdout:
            if line.startswith(MARK):
                result = json.loads(line[len(MARK):])
                wall = (time.perf_counter() - started) * 1000
                break
        rest, _ = process.communicate(timeout=120)
        if result is None:
            errors.seek(0)
            raise BenchError(f"the {spec['case']} process gave no answer (exit {process.returncode}):\n"
                             f"{errors.read()[-3000:]}")
        modules = next((json.loads(line[len(MARK):]) for line in rest.splitlines() if line.startswith(MARK)), {})
    return Sample(wall, result["cpu_ms"], result["answer"], modules)


def _check(case: str, sample: Sample, hotels: int) -> None:
    answer = sample.answer
    if case == "floor":
        ok = answer.get("found")
    elif case == "worker":
        ok = answer == {"batchItemFailures": []}
    elif case == "search":  # every hotel of the catalog, or the search did not do its work
        ok = answer.get("status") == 200 and len(json.loads(answer["body"])["results"]) == hotels
    else:
        ok = answer.get("status") == 201 and json.loads(answer["body"])["status"] == "HELD"
    if not ok:
        raise BenchError(f"{case}: unexpected answer {str(answer)[:2000]}")
    if sample.modules.get("elsewhere"):
        raise BenchError(f"{case}: modules from outside the package and the runtime: {sample.modules['elsewhere'][:5]}")


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


@contextmanager
def emulator() -> Iterator[str]:
    """The embedded AWS (tools.emulator) in its own process, on a free port; yields its URL."""
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "tools.emulator", "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/moto-api/", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own process group: the server and nothing else
        process.wait(timeout=30)


def prepare(env: dict[str, str], bookings: int) -> dict[str, Any]:
    """`setup` in a child process of the venv, with the functions' environment."""
    done = subprocess.run([sys.executable, "-m", "tools.bench_cold", "--setup", str(bookings)], cwd=ROOT,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"set-up failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(runs: int, package: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows of the table, package facts). Everything in one run: package, emulator, cases.
    `package`: another deployment.zip than build/infra's (e.g. an older build, to compare)."""
    from tools.bench import STAGE, lambda_environment

    package, how = (package, "given") if package is not None else host_package(STAGE)
    with tempfile.TemporaryDirectory(prefix="itinera-cold-") as work_dir:
        work = Path(work_dir)
        task = unpack_read_only(package, work / "task")
        floor_task = work / "floor"  # the floor's function has nothing but its handler
        floor_task.mkdir()
        _set_writable(floor_task, False)
        runtime = runtime_directory(work / "runtime")
        files_before = _file_count(task)
        with writable(task), writable(floor_task), emulator() as endpoint:
            env = {**lambda_environment(STAGE), **UNLIMITED, "AWS_ENDPOINT_URL": endpoint,
                   "ITINERA_COGNITO_ENDPOINT": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
            prepared = prepare(env, runs + 1)
            child_env = {**env, **prepared["queue_urls"], "ITINERA_USER_POOL_ID": prepared["user_pool_id"],
                         "ITINERA_USER_POOL_CLIENT_ID": prepared["client_id"], "PYTHONDONTWRITEBYTECODE": "1",
                         "BENCH_RUNTIME_PATH": str(runtime), "LAMBDA_TASK_ROOT": str(task)}
            samples: dict[str, list[Sample]] = {case: [] for case in CASES}
            for round_ in range(runs + 1):  # round 0 warms the page cache and the emulator
                for case in CASES:
                    sample = run_probe(_spec(case, prepared, round_), floor_task if case == "floor" else task,
                                       child_env)
                    _check(case, sample, prepared["hotels"])
                    if round_:
                        samples[case].append(sample)
            written = _file_count(task) - files_before
    if written:
        raise BenchError(f"the runs wrote {written} files into the package directory")
    return _rows(samples), {"package": package, "how": how}


def _spec(case: str, prepared: dict[str, Any], round_: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"case": case, "request_id": str(uuid.uuid4())}
    if case == "floor":
        spec["get_item"] = prepared["get_item"]
    elif case == "search":
        spec["event"] = api_event("GET", "/search", query=prepared["search"])
    elif case == "holds":
        spec["event"] = api_event("POST", "/holds", body=prepared["hold"], headers={
            "Authorization": "Bearer " + prepared["traveler_token"], "Idempotency-Key": uuid.uuid4().hex})
    else:
        spec["event"] = prepared["confirmations"][round_]
    return spec


def _rows(samples: dict[str, list[Sample]]) -> list[dict[str, Any]]:
    floor_wall, _ = _stats([s.wall_ms for s in samples["floor"]])
    floor_cpu, _ = _stats([s.cpu_ms for s in samples["floor"]])
    rows = []
    for case in CASES:
        wall, wall_p90 = _stats([s.wall_ms for s in samples[case]])
        cpu, _ = _stats([s.cpu_ms for s in samples[case]])
        modules = samples[case][-1].modules
        ratio = wall / floor_wall
        rows.append({"case": LABELS[case], "runs": len(samples[case]), "median ms": wall, "p90 ms": wall_p90,
                     "x floor": ratio, "cpu ms": cpu, "cpu x floor": cpu / floor_cpu,
                     "target": "-" if case == "floor" else f"<= {TARGET_RATIO}x",
                     "status": "-" if case == "floor" else ("ok" if ratio <= TARGET_RATIO else "OVER"),
                     "modules (package/runtime)": f"{modules['origins']['package']}/{modules['origins']['runtime']}",
                     "compiled at import": len(modules["compiled"])})
    return rows


def package_rows(package: Path | None = None) -> list[dict[str, Any]]:
    """What ships: sizes, and how much of it is bytecode. The stage's package, and the one the
    cold starts ran when the stage deploys for another architecture (host_package)."""
    from tools.bench import STAGE, deployment_package

    if package is not None:
        return [_package_row(package, "given")]
    deployed = deployment_package()
    rows = [_package_row(deployed[0], f"{deployed[1]}, {stage_architecture(STAGE)}")]
    measured = host_package(STAGE)
    if measured[0] != deployed[0]:
        rows.append(_package_row(*measured))
    return rows


def _package_row(package: Path, how: str) -> dict[str, Any]:
    from infra.bytecode import pyc_name

    with zipfile.ZipFile(package) as archive:
        infos = archive.infolist()
    names = {i.filename for i in infos}
    sources = [n for n in names if n.endswith(".py")]
    pycs = [i for i in infos if i.filename.endswith(".pyc")]
    return {"package": str(package.relative_to(ROOT)) if package.is_relative_to(ROOT) else str(package),
            "zipped MB": package.stat().st_size / 1e6, "unzipped MB": sum(i.file_size for i in infos) / 1e6,
            "files": len(infos), ".py": len(sources), ".pyc": len(pycs),
            ".pyc zipped MB": sum(i.compress_size for i in pycs) / 1e6,
            ".py without .pyc": sum(1 for n in sources if pyc_name(n) not in names), "source": how}


def cold_requests() -> list[dict[str, Any]]:
    """The `make bench` section (runs: tools.bench.RUNS, set by --runs)."""
    from tools import bench

    rows, _ = measure(bench.RUNS)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_cold", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--package", type=Path, help="measure this deployment.zip instead of build/infra's")
    parser.add_argument("--setup", type=int, metavar="BOOKINGS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup is not None:  # the set-up child: its last line is what the cases need
        print(json.dumps(setup(args.setup)))
        return 0
    from tools.bench import format_table

    started = time.perf_counter()
    rows, facts = measure(args.runs, args.package)
    print(format_table(f"Cold first requests from {facts['package']} ({facts['how']})  "
                       f"[{time.perf_counter() - started:.1f} s]", rows))
    print(format_table("The package", package_rows(args.package)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
