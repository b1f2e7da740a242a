"""The foundation over HTTP: health, identity, tokens, errors, the OpenAPI document."""
from __future__ import annotations

import time
import uuid

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.demo_users import DEMO_USERS


def test_health(stack):
    response = requests.get(stack.url("/health"), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "stage": "local", "version": response.json()["version"]}
    assert response.headers["X-Request-Id"]


def test_the_banner_prints_the_url_and_every_demo_login(stack):
    output = "".join(stack.output)
    assert stack.api_url in output
    for user in DEMO_USERS:
        assert user.email in output


def test_signup_login_me(stack):
    email = f"e2e-{uuid.uuid4().hex[:8]}@example.com"
    created = stack.http.post(stack.url("/auth/signup"), json={"email": email, "password": "Passw0rd-ok", "name": "E2E"}, timeout=10)
    assert created.status_code == 201, created.text
    me = stack.http.get(stack.url("/me"), headers=stack.auth(email, "Passw0rd-ok"), timeout=10)
    assert me.status_code == 200
    assert me.json()["email"] == email and me.json()["roles"] == ["travelers"]


def test_every_demo_user_logs_in_with_their_role(stack):
    for user in DEMO_USERS:
        me = stack.http.get(stack.url("/me"), headers=stack.auth(user.email), timeout=10).json()
        assert me["roles"] == [user.group], user.email
        assert me.get("vendor_id") == user.vendor_id


def test_token_signed_by_another_key_is_refused(stack):
    """The app verifies against the emulator's JWKS served over HTTP (pitfall 10)."""
    real = stack.login("traveler@example.com")
    claims = jwt.decode(real, options={"verify_signature": False})
    header = jwt.get_unverified_header(real)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": header["kid"]})
    unsigned = jwt.encode(claims, None, algorithm="none")
    expired = {**claims, "exp": int(time.time()) - 10}
    for token in (forged, unsigned, jwt.encode(expired, other_key, algorithm="RS256", headers={"kid": header["kid"]}), "x.y.z"):
        response = stack.http.get(stack.url("/me"), headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert stack.http.get(stack.url("/me"), timeout=10).status_code == 401
    assert stack.http.get(stack.url("/me"), headers={"Authorization": f"Bearer {real}"}, timeout=10).status_code == 200


def test_unknown_route_and_wrong_method_are_json(stack):
    missing = requests.get(stack.url("/no/such/route"), timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert missing.headers["X-Request-Id"]
    wrong = requests.delete(stack.url("/health"), timeout=10)
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    bad_json = requests.post(stack.url("/auth/login"), data="{nope", timeout=10,
                             headers={"Content-Type": "application/json"})  # without it: 415
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "VALIDATION_ERROR"


def test_openapi_document_is_served(stack):
    document = requests.get(stack.url("/openapi.json"), timeout=10).json()
    assert document["openapi"] == "3.1.0"
    assert "/auth/login" in document["paths"] and "/me" in document["paths"]


def test_a_port_in_use_gets_one_clear_line(stack):
    """A second stack on the same ports stops at once with one line, not a traceback."""
    aws_port = stack.aws_url.rsplit(":", 1)[1]
    import os
    import subprocess
    import sys
    from tests.e2e.conftest import ROOT
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ITINERA_"))},
           "ITINERA_AWS_PORT": aws_port, "ITINERA_API_PORT": "1"}
    result = subprocess.run([sys.executable, "-m", "tools.stack"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert f"port {aws_port}" in result.stderr and "in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_ctrl_c_stops_everything_cleanly():
    """SIGINT (what Ctrl-C sends) stops the API, the workers and the emulator; the ports are free again."""
    from tests.e2e.conftest import start_stack, stop_stack
    from tools.stack import port_free

    stack = start_stack(args=("--no-seed",))
    api_port = int(stack.api_url.rsplit(":", 1)[1])
    aws_port = int(stack.aws_url.rsplit(":", 1)[1])
    web_port = int(stack.web_url.rsplit(":", 1)[1])
    assert requests.get(stack.url("/health"), timeout=10).status_code == 200
    assert requests.get(stack.web_url + "/api/health", timeout=10).status_code == 200
    assert stop_stack(stack) == 0
    deadline = time.monotonic() + 5
    while "Stopped." not in "".join(stack.output) and time.monotonic() < deadline:
        time.sleep(0.1)  # the reader thread may still be draining the pipe
    output = "".join(stack.output)
    assert "Stopping Itinera" in output and "Stopped." in output
    assert "Traceback" not in output
    deadline = time.monotonic() + 10
    while not all(port_free("127.0.0.1", port) for port in (api_port, aws_port, web_port)):
        assert time.monotonic() < deadline, "a child process still holds a port"
        time.sleep(0.2)


def test_a_vendor_created_by_an_admin_sets_a_new_password_over_http(stack):
    """POST /auth/new-password answers Cognito's NEW_PASSWORD_REQUIRED for a real stack."""
    email = f"e2e-newpass-{uuid.uuid4().hex[:8]}@example.com"
    created = stack.http.post(stack.url("/admin/vendors"), json={"name": "E2E New Password", "email": email},
                              headers=stack.auth("admin@example.com"), timeout=30)
    assert created.status_code == 201, created.text
    vendor = created.json()
    first = stack.http.post(stack.url("/auth/login"), json={"email": email, "password": vendor["temporary_password"]},
                            timeout=10)
    assert first.status_code == 401 and "/auth/new-password" in first.json()["error"]["message"]
    done = stack.http.post(stack.url("/auth/new-password"),
                           json={"email": email, "temporary_password": vendor["temporary_password"],
                                 "new_password": "E2e-newpass-1"}, timeout=10)
    assert done.status_code == 200, done.text
    assert done.headers["X-Request-Id"]
    me = stack.http.get(stack.url("/me"), headers=stack.auth(email, "E2e-newpass-1"), timeout=10).json()
    assert me["roles"] == ["vendors"] and me["vendor_id"] == vendor["vendor_id"]
