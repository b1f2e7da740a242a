"""End-to-end tests drive the local stack over HTTP, started exactly as `make run` starts it.

One stack per test worker (session scope), on free ports, stopped with SIGINT like Ctrl-C.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "Itinera is running"
DEMO_PASSWORD = "Itinera-demo-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    api_url: str
    aws_url: str
    process: subprocess.Popen
    web_url: str = ""
    output: list[str] = field(default_factory=list)
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return self.api_url + path

    def login(self, email: str, password: str = DEMO_PASSWORD) -> str:
        response = self.http.post(self.url("/auth/login"), json={"email": email, "password": password}, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["id_token"]

    def auth(self, email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(email, password)}"}

    def new_traveler(self, label: str = "traveler") -> dict[str, str]:
        """A freshly signed-up traveler's auth header: its own active holds and attempt limits,
        untouched by other tests of the session."""
        email, password = f"{label}-{uuid.uuid4().hex[:10]}@example.com", "Fresh-Pass-123"
        created = self.http.post(self.url("/auth/signup"), json={"email": email, "password": password,
                                                                 "name": label.title()}, timeout=10)
        assert created.status_code == 201, created.text
        return self.auth(email, password)

    def aws_client(self, service: str):
        import boto3
        return boto3.session.Session().client(
            service, endpoint_url=self.aws_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing")


def start_stack(extra_env: dict[str, str] | None = None, timeout: float = 120, args: tuple[str, ...] = ()) -> Stack:
    aws_port, api_port, web_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ITINERA_", "PYTEST_"))}
    env.update({"ITINERA_AWS_PORT": str(aws_port), "ITINERA_API_PORT": str(api_port),
                "ITINERA_WEB_PORT": str(web_port),
                "ITINERA_DEMO_EXPERIENCE": "false",  # tools.stack: the demo guests' trips are not needed here
                "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    process = subprocess.Popen([sys.executable, "-m", "tools.stack", *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stack = Stack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{aws_port}", process,
                  web_url=f"http://127.0.0.1:{web_port}")
    ready = threading.Event()

    def pump() -> None:
        for line in process.stdout:
            stack.output.append(line)
            if READY_LINE in line:
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_stack(stack)
            raise RuntimeError("the local stack did not start:\n" + "".join(stack.output[-60:]))
    return stack


def stop_stack(stack: Stack) -> int:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()
    return stack.process.returncode


@pytest.fixture(scope="session")
def stack():
    started = start_stack()
    yield started
    stop_stack(started)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium per test process (tests/e2e/web.py)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.web import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium, stack):
    """A fresh browser context on the stack's web app, desktop-sized; its page errors, console
    errors and 5xx answers fail the test (tests/e2e/web.py watched_page)."""
    from tests.e2e.web import watched_page

    context, page, problems = watched_page(chromium, stack.web_url)
    yield page
    context.close()
    assert not problems, problems
