"""API fuzzing with Schemathesis against the local stack (`make fuzz`; a bounded run in `make test`).

    python -m tools.fuzz [--max-examples 50] [--seed 20270301] [--roles traveler,vendor]
                         [--api-url http://127.0.0.1:8000]   (default: start a fresh stack)

Starts the stack as `make run` does (with hold limits raised so stateful sequences are not all
429), logs in every demo role, prepares one listing on sale for the stateful phase's holds
(tools/fuzz_hooks.py), then runs `st run` once per caller with all phases (examples, coverage,
fuzzing, stateful), all checks and a fixed seed:

- anonymous: the public operations, no token (every role run's `ignored_auth` check also sends
  its secured operations without a token and requires the documented 401);
- traveler, vendor, agent, admin: the operations their role may call (the document's `x-roles`,
  plus the routes any signed-in user may call), with their ID token.

It prints Schemathesis's report (seed, failures with their reproduction curl), a table of test
cases and API calls per role and phase, and exits non-zero on any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "schemathesis.toml"
SEED = 20270301
PHASES = ("examples", "coverage", "fuzzing", "stateful")
ROLES = {  # caller -> (demo user, the group its token carries)
    "anonymous": (None, None),
    "traveler": ("traveler@example.com", "travelers"),
    "vendor": ("vendor@example.com", "vendors"),
    "agent": ("agent@example.com", "agents"),
    "admin": ("admin@example.com", "admins"),
}
# The stack under fuzzing: limits against hoarding and abuse raised so the stateful phase's many
# holds and payments reach the code behind them instead of stopping at 429.
FUZZ_ENV = {
    "ITINERA_MAX_ACTIVE_HOLDS": "100000",
    "ITINERA_HOLD_ATTEMPTS_PER_MINUTE": "100000",
    "ITINERA_PAYMENT_ATTEMPTS_PER_MINUTE": "100000",
}
TIMEOUT = 10


@dataclass
class RoleRun:
    role: str
    returncode: int
    output: str
    seconds: float
    cases: Counter = field(default_factory=Counter)  # phase -> test cases
    calls: Counter = field(default_factory=Counter)  # phase -> API calls

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class FuzzResult:
    runs: list[RoleRun]
    seed: int

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    def table(self) -> str:
        head = f"{'caller':<10} " + " ".join(f"{p:>17}" for p in PHASES) + f" {'seconds':>8}  result"
        lines = ["test cases / API calls per phase (seed %d)" % self.seed, head]
        total_cases, total_calls = Counter(), Counter()
        for run in self.runs:
            cells = " ".join(f"{run.cases[p]:>8} / {run.calls[p]:<6}" for p in PHASES)
            lines.append(f"{run.role:<10} {cells} {run.seconds:>8.1f}  {'ok' if run.ok else 'FAILED'}")
            total_cases.update(run.cases)
            total_calls.update(run.calls)
        cells = " ".join(f"{total_cases[p]:>8} / {total_calls[p]:<6}" for p in PHASES)
        lines.append(f"{'total':<10} {cells} {sum(r.seconds for r in self.runs):>8.1f}")
        return "\n".join(lines)

    def report(self) -> str:
        parts = [f"===== schemathesis as {run.role} (exit {run.returncode}) =====\n{run.output}"
                 for run in self.runs if not run.ok]
        return "\n".join(parts + [self.table()])


def role_operations(document: dict[str, Any], group: str | None) -> list[str]:
    """Operation ids a caller runs: the public ones anonymously, else the secured ones its group may
    call. (Each role run's `ignored_auth` check also calls its operations without a token and
    requires the documented 401, so the anonymous run need not repeat the secured ones.)"""
    ids = []
    for ops in document["paths"].values():
        for op in ops.values():
            if group is None:
                if "security" not in op:
                    ids.append(op["operationId"])
            elif "security" in op and ("x-roles" not in op or group in op["x-roles"]):
                ids.append(op["operationId"])
    return sorted(ids)


def prepare_hold_target(api_url: str, vendor_token: str) -> dict[str, str]:
    """A listing on sale with room for every hold the stateful phase makes."""
    headers = {"Authorization": f"Bearer {vendor_token}"}
    created = requests.post(f"{api_url}/vendor/listings", headers=headers, timeout=TIMEOUT, json={
        "kind": "event", "title": f"Fuzz event {uuid.uuid4().hex[:6]}", "description": "API fuzzing",
        "currency": "EUR", "city": "LIS", "attributes": {},
        "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 50}})
    created.raise_for_status()
    listing_id = created.json()["listing_id"]
    when = (date.today() + timedelta(days=30)).isoformat()
    put = requests.put(f"{api_url}/vendor/listings/{listing_id}/availability", headers=headers, timeout=TIMEOUT,
                       json={"from": when, "to": when, "capacity": 100000, "price": 1500})
    put.raise_for_status()
    return {"listing_id": listing_id, "date": when}


def login(api_url: str, email: str) -> str:
    from tools.demo_users import DEFAULT_PASSWORD

    response = requests.post(f"{api_url}/auth/login", json={"email": email, "password": DEFAULT_PASSWORD},
                             timeout=TIMEOUT)
    response.raise_for_status()
    return response.json()["id_token"]


def _count(ndjson: Path, run: RoleRun) -> None:
    if not ndjson.exists():
        return
    with ndjson.open() as events:
        for line in events:
            if not line.startswith('{"ScenarioFinished"'):
                continue
            scenario = json.loads(line)["ScenarioFinished"]
            recorder = scenario.get("recorder") or {}
            run.cases[scenario["phase"]] += len(recorder.get("cases") or {})
            run.calls[scenario["phase"]] += len(recorder.get("interactions") or {})


def run_role(api_url: str, role: str, token: str | None, operations: list[str], *, max_examples: int,
             seed: int, workers: int, hold_target: dict[str, str] | None, max_steps: int | None = None,
             stream: bool = False) -> RoleRun:
    with tempfile.TemporaryDirectory(prefix=f"itinera-fuzz-{role}-") as report_dir:
        ndjson = Path(report_dir) / "events.ndjson"
        argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color", "run",
                f"{api_url}/openapi.json", "--checks", "all", "--phases", ",".join(PHASES),
                "--max-examples", str(max_examples), "--seed", str(seed), "--workers", str(workers),
                "--generation-database", "none", "--request-timeout", "30",
                "--report", "ndjson", "--report-ndjson-path", str(ndjson), "--report-dir", report_dir]
        for operation_id in operations:
            argv += ["--include-operation-id", operation_id]
        if token:
            argv += ["-H", f"Authorization: Bearer {token}"]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tools.fuzz_hooks", "PYTHONPATH": str(ROOT)}
        if hold_target:
            env["ITINERA_FUZZ_HOLD_TARGET"] = json.dumps(hold_target)
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if stream:
                print(line, end="", flush=True)
        process.wait()
        run = RoleRun(role, process.returncode, "".join(lines), time.monotonic() - started)
        _count(ndjson, run)
        if token:
            run.output = run.output.replace(token, "<token>")
        return run


def fuzz(api_url: str, *, roles: tuple[str, ...] = tuple(ROLES), max_examples: int, seed: int = SEED,
         workers: int = 1, stream: bool = False, together: bool = False) -> FuzzResult:
    """One Schemathesis run per caller, one after another, or all at once with `together` (the
    runs wait on the API far more than they compute: at once they take the longest one's time,
    and the API also meets every caller's requests interleaved, as it does in production)."""
    document = requests.get(f"{api_url}/openapi.json", timeout=TIMEOUT).json()
    tokens = {role: login(api_url, email) for role, (email, _) in ROLES.items() if email and role in roles}
    vendor_token = tokens.get("vendor") or login(api_url, ROLES["vendor"][0])
    hold_target = prepare_hold_target(api_url, vendor_token)

    def run(role: str) -> RoleRun:
        return run_role(api_url, role, tokens.get(role), role_operations(document, ROLES[role][1]),
                        max_examples=max_examples, seed=seed, workers=workers, hold_target=hold_target,
                        stream=stream and not together)

    if not together:
        return FuzzResult([run(role) for role in roles], seed)
    with ThreadPoolExecutor(max_workers=len(roles)) as pool:
        return FuzzResult(list(pool.map(run, roles)), seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz the Itinera API with Schemathesis, as every role.")
    parser.add_argument("--max-examples", type=int, default=50, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--roles", default=",".join(ROLES), help="comma-separated: " + ",".join(ROLES))
    parser.add_argument("--together", action="store_true",
                        help="fuzz every caller at once, as `make test` does (its output is not streamed)")
    parser.add_argument("--workers", type=int, default=1,
                        help="more than 1 races in Hypothesis's (not thread-safe) caches")
    parser.add_argument("--api-url", help="fuzz a stack that is already running (its limits as they are)")
    args = parser.parse_args(argv)
    roles = tuple(r for r in args.roles.split(",") if r)
    unknown = set(roles) - set(ROLES)
    if unknown:
        parser.error(f"unknown roles: {', '.join(sorted(unknown))}")
    stack = None
    api_url = args.api_url
    if api_url is None:
        from tests.e2e.conftest import start_stack

        print("Starting the local stack for fuzzing ...", flush=True)
        stack = start_stack(FUZZ_ENV)
        api_url = stack.api_url
    try:
        result = fuzz(api_url.rstrip("/"), roles=roles, max_examples=args.max_examples, seed=args.seed,
                      workers=args.workers, stream=True, together=args.together)
    finally:
        if stack is not None:
            from tests.e2e.conftest import stop_stack

            stop_stack(stack)
    print()
    print(result.table())
    if not result.ok:
        print(f"\nFAILED as {', '.join(r.role for r in result.runs if not r.ok)}; replay with --seed {args.seed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
