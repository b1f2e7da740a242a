"""tools/web_server.py: the local site serves the app's files and forwards /api to the API as it
is, answering JSON (never an HTML page) when something is missing or the API is down."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tools.web_server import WEB_ROOT, WebServer, site_config


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _EchoApi(BaseHTTPRequestHandler):
    """Answers every request with what it received, as the API would answer JSON."""

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        payload = json.dumps({"method": self.command, "path": self.path, "body": body,
                              "authorization": self.headers.get("Authorization"),
                              "idempotency_key": self.headers.get("Idempotency-Key"),
                              "host": self.headers.get("Host")}).encode()
        self.send_response(418 if self.path.startswith("/teapot") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Request-Id", "req-1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site():
    api_port = _free_port()
    api = ThreadingHTTPServer(("127.0.0.1", api_port), _EchoApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    web_port = _free_port()
    server = WebServer(web_port, api_port, site_config(stage="local", payment_provider="local")).start()
    yield f"http://127.0.0.1:{web_port}"
    server.stop()
    api.shutdown()
    api.server_close()


def test_the_start_page_is_the_app_with_a_same_origin_content_policy(site):
    response = requests.get(site + "/", timeout=5)
    assert response.status_code == 200
    assert '<script type="module" src="/src/main.js">' in response.text
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "http" not in policy


def test_config_tells_the_app_its_api_base_and_payment_provider(site):
    assert requests.get(site + "/config.json", timeout=5).json() == {
        "api": "/api", "stage": "local", "payment_provider": "local", "stripe_publishable_key": None}


def test_api_requests_are_forwarded_as_they_are(site):
    response = requests.post(site + "/api/holds?x=1", json={"items": []}, timeout=5,
                             headers={"Authorization": "Bearer t", "Idempotency-Key": "k-1"})
    echoed = response.json()
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "req-1"
    assert echoed["method"] == "POST" and echoed["path"] == "/holds?x=1"
    assert json.loads(echoed["body"]) == {"items": []}
    assert echoed["authorization"] == "Bearer t" and echoed["idempotency_key"] == "k-1"


def test_the_api_status_comes_back_unchanged(site):
    assert requests.delete(site + "/api/teapot", timeout=5).status_code == 418


def test_an_unreachable_api_is_a_json_502():
    server = WebServer(_free_port(), _free_port()).start()  # nothing listens on the API port
    try:
        response = requests.get(f"http://127.0.0.1:{server.httpd.server_address[1]}/api/health", timeout=5)
    finally:
        server.stop()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "BAD_GATEWAY"


@pytest.mark.parametrize("path", ["/src/", "/no-such-file.js", "/node_modules/swagger-ui-dist/package.json",
                                  "/package.json", "/../app.py", "/%2e%2e/app.py", "/./package.json",
                                  "/%70ackage.json", "/src/../package-lock.json",
                                  "/./node_modules/swagger-ui-dist/package.json", "/src/%2e%2e/node_modules/axe-core/axe.js"])
def test_what_is_not_a_site_file_is_a_json_404(site, path):
    response = requests.get(site + path, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_swagger_ui_comes_from_the_locked_npm_package(site):
    if not (WEB_ROOT / "node_modules" / "swagger-ui-dist").is_dir():
        pytest.fail("web/node_modules is missing: the Makefile runs npm ci before the tests")
    response = requests.get(site + "/vendor/swagger-ui/swagger-ui-bundle.js", timeout=5)
    assert response.status_code == 200 and "javascript" in response.headers["Content-Type"]


def test_writing_to_a_site_file_is_a_json_405(site):
    response = requests.post(site + "/index.html", data=b"x", timeout=5)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD" and response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_with_stripe_the_policy_lets_stripe_js_in_and_nothing_else():
    server = WebServer(_free_port(), _free_port(), site_config(payment_provider="stripe",
                                                                 stripe_publishable_key="pk_test_x")).start()
    try:
        port = server.httpd.server_address[1]
        policy = requests.get(f"http://127.0.0.1:{port}/", timeout=5).headers["Content-Security-Policy"]
        config = requests.get(f"http://127.0.0.1:{port}/config.json", timeout=5).json()
    finally:
        server.stop()
    assert "script-src 'self' https://js.stripe.com;" in policy
    assert config["stripe_publishable_key"] == "pk_test_x"


def _raw(site: str, request: bytes) -> bytes:
    """Sends raw bytes on one connection and reads until the server closes it."""
    host, port = site.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except socket.timeout:
            pass
    return b"".join(chunks)


SMUGGLED = b"GET /api/smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_a_chunked_body_is_refused_and_nothing_after_it_runs(site):
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
    answer = _raw(site, b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert answer.startswith(b"HTTP/1.0 411") or answer.startswith(b"HTTP/1.1 411")
    assert b"LENGTH_REQUIRED" in answer and b"/smuggled" not in answer


def test_a_body_over_the_limit_is_refused_and_its_bytes_never_run_as_a_request(site):
    from tools.web_server import MAX_BODY

    head = b"POST /api/holds HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
    answer = _raw(site, head + SMUGGLED)
    assert b" 413 " in answer.split(b"\r\n", 1)[0] and b"/smuggled" not in answer


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3"])
def test_a_malformed_content_length_is_a_json_400(site, length):
    answer = _raw(site, b"POST /api/holds HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}")
    assert b" 400 " in answer.split(b"\r\n", 1)[0] and b"VALIDATION_ERROR" in answer


def test_a_forwarded_answer_carries_one_date_and_one_server_header(site):
    answer = _raw(site, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.count(b"\r\ndate:") == 1 and head.count(b"\r\nserver:") == 1
