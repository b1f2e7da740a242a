"""The local stack behind `make run`: emulator, resources, demo data, API, workers, schedules, web app.

    python -m tools.stack    (ports from ITINERA_AWS_PORT / ITINERA_API_PORT / ITINERA_WEB_PORT)

Starts moto in server mode as the embedded AWS (tools/emulator.py), bootstraps every resource (idempotently),
seeds demo users and the demo catalog, serves the API with Chalice's local server, runs the
local event runner (SQS entry points and schedules of app.py) in this process, and serves the
web app with the API under /api (tools/web_server.py). Ctrl-C or SIGTERM stops everything it
started.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".itinera"


class StackError(Exception):
    """A problem the user can fix, reported as one line."""


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_http(url: str, deadline_seconds: float, proc: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{url} did not come up: its process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers; the status does not matter here
        except OSError:
            time.sleep(0.1)
    raise StackError(f"{url} did not answer within {deadline_seconds:.0f} s")


def stack_environment(aws_port: int) -> dict[str, str]:
    endpoint = f"http://127.0.0.1:{aws_port}"
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "ITINERA_STAGE": "local",
        "ITINERA_COGNITO_ENDPOINT": endpoint,
        "POWERTOOLS_METRICS_NAMESPACE": "Itinera",
        # EMF lines on stdout stay; the "no metrics" warning on every request does not.
        "PYTHONWARNINGS": "ignore::UserWarning",
    }


class Stack:
    def __init__(self, *, aws_port: int, api_port: int, web_port: int = 8080, seed: bool = True,
                 quiet: bool = False) -> None:
        self.aws_port = aws_port
        self.api_port = api_port
        self.web_port = web_port
        self.web: Any = None
        self.seed = seed
        self.quiet = quiet
        self.processes: list[subprocess.Popen[Any]] = []
        self.stop_event = threading.Event()
        self.runner_thread: threading.Thread | None = None
        self.highlights: list[str] = []  # what the demo data invites to try (banner)

    def say(self, line: str) -> None:
        if not self.quiet:
            print(line, flush=True)

    def start(self) -> dict[str, Any]:
        for name, port in (("ITINERA_AWS_PORT", self.aws_port), ("ITINERA_API_PORT", self.api_port),
                           ("ITINERA_WEB_PORT", self.web_port)):
            if not port_free("127.0.0.1", port):
                raise StackError(f"port {port} on 127.0.0.1 is already in use: stop what uses it "
                                 f"or set {name} to a free port")
        LOG_DIR.mkdir(exist_ok=True)
        os.environ.update(stack_environment(self.aws_port))
        self.say(f"Starting the embedded AWS (moto) on 127.0.0.1:{self.aws_port} ...")
        moto_log = open(LOG_DIR / "moto.log", "w")  # noqa: SIM115 (lives as long as the process)
        self._spawn([sys.executable, "-m", "tools.emulator", "--port", str(self.aws_port)],
                    stdout=moto_log, stderr=subprocess.STDOUT)
        wait_for_http(f"http://127.0.0.1:{self.aws_port}/moto-api/", 30, self.processes[-1])

        import boto3

        from chalicelib.core.config import settings
        from tools.bootstrap import bootstrap

        self.say("Creating tables, queues, user pool, sender identity and demo users ...")
        outputs = bootstrap(boto3.session.Session(), sender=settings().sender_email)
        os.environ["ITINERA_USER_POOL_ID"] = outputs["user_pool_id"]
        os.environ["ITINERA_USER_POOL_CLIENT_ID"] = outputs["client_id"]
        settings.cache_clear()
        if self.seed:
            self._seed()

        self.say(f"Starting the API on http://127.0.0.1:{self.api_port} ...")
        self._spawn([sys.executable, "-m", "tools.api_server", "--port", str(self.api_port),
                     "--stage", "local"])
        wait_for_http(f"http://127.0.0.1:{self.api_port}/health", 60, self.processes[-1])
        self._start_event_runner()
        self._start_web()
        return outputs

    def _start_web(self) -> None:
        from chalicelib.core.config import settings
        from tools.web_server import WebServer, site_config

        if not (ROOT / "web" / "node_modules" / "swagger-ui-dist").is_dir():
            self.say("  (web/node_modules is missing: /docs needs `npm ci --prefix web`; make run does it)")
        config = site_config(stage=settings().stage, payment_provider=settings().payment_provider,
                             stripe_publishable_key=os.environ.get("ITINERA_STRIPE_PUBLISHABLE_KEY") or None)
        self.say(f"Starting the web app on http://127.0.0.1:{self.web_port} ...")
        self.web = WebServer(self.web_port, self.api_port, config).start()

    def _seed(self) -> None:
        try:
            from tools.seed import seed_demo_catalog
        except ImportError:  # the catalog arrives with the inventory context
            return
        seed_demo_catalog(progress=self.say)
        # The end-to-end tests' stacks make their own bookings and skip the demo experience (its
        # 30 guest trips take half a minute); tests/integration/test_demo_experience_seed.py covers it.
        if os.environ.get("ITINERA_DEMO_EXPERIENCE", "true") == "false":
            return
        from tools.seed_experience import seed_demo_experience

        self.highlights = seed_demo_experience(progress=self.say)

    def _spawn(self, argv: list[str], **kwargs: Any) -> None:
        # Own session: Ctrl-C reaches only this runner, which then stops children in order.
        self.processes.append(subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy(),
                                               start_new_session=True, **kwargs))

    def _start_event_runner(self) -> None:
        import boto3

        import app as app_module
        from tools.event_runner import EventRunner, serialize_service_metrics

        # ITINERA_SCHEDULE_SCALE (default 1) shortens every schedule's period, e.g. 0.1 runs the
        # one-minute sweeper every 6 s: for tests that wait on it.
        scale = float(os.environ.get("ITINERA_SCHEDULE_SCALE", "1"))
        serialize_service_metrics()  # the API and every queue's handler share one Metrics here
        runner = EventRunner(app_module.app, app_module, boto3.session.Session().client("sqs"), rate_scale=scale)
        self.runner_thread = threading.Thread(target=runner.run, args=(self.stop_event,),
                                              name="event-runner", daemon=True)
        self.runner_thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.web is not None:
            self.web.stop()
        if self.runner_thread is not None:
            self.runner_thread.join(timeout=10)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def banner(api_port: int, aws_port: int, highlights: list[str] | None = None, web_port: int = 8080) -> str:
    from tools.demo_users import DEFAULT_PASSWORD, DEMO_USERS

    password = os.environ.get("ITINERA_DEMO_PASSWORD", DEFAULT_PASSWORD)
    lines = [
        "",
        f"Itinera is running: web app http://127.0.0.1:{web_port}  API http://127.0.0.1:{api_port}  "
        f"(embedded AWS http://127.0.0.1:{aws_port})",
        f"  health   curl http://127.0.0.1:{api_port}/health",
        f"  API doc  http://127.0.0.1:{web_port}/docs/  (OpenAPI: http://127.0.0.1:{api_port}/openapi.json)",
        "Demo logins (web app's Sign in, or POST /auth/login):",
    ]
    for user in DEMO_USERS:
        extra = f"  vendor_id={user.vendor_id}" if user.vendor_id else ""
        lines.append(f"  {user.group:<10} {user.email:<24} {password}{extra}")
    lines += highlights or []
    lines.append(f"Emulator log: {LOG_DIR / 'moto.log'}.  Press Ctrl-C to stop.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the whole Itinera stack locally.")
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("ITINERA_AWS_PORT", "5000")))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("ITINERA_API_PORT", "8000")))
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("ITINERA_WEB_PORT", "8080")))
    parser.add_argument("--no-seed", action="store_true", help="skip the demo catalog")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    # The workers run in this process: Powertools warns on every invoke that emits no metric.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    stack = Stack(aws_port=args.aws_port, api_port=args.api_port, web_port=args.web_port, seed=not args.no_seed)
    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        print(banner(args.api_port, args.aws_port, stack.highlights, args.web_port), flush=True)
        while not stopping.is_set():
            for proc in stack.processes:
                if proc.poll() is not None:
                    raise StackError(f"{' '.join(proc.args[1:4])} exited with {proc.returncode}")
            stopping.wait(0.5)
        print("\nStopping Itinera ...", flush=True)
        return 0
    except StackError as exc:
        print(f"itinera: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        stack.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
