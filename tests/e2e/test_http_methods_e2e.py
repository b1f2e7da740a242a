"""The local HTTP server's own answers: any method token, HEAD, OPTIONS, malformed requests.

http.server answers a method it has no handler for with a 501 HTML page; the local gateway must
answer like the API instead (API.md: JSON error shape, 405 with `Allow`, X-Request-Id always).
Raw http.client / sockets, so the exact method token and bytes reach the server.
"""
from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlparse

import pytest


def send(stack, method: str, path: str, headers: dict[str, str] | None = None):
    url = urlparse(stack.api_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response, body
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW", "DELETE"])
def test_a_method_the_path_does_not_take_is_a_json_405_with_allow(stack, method):
    response, body = send(stack, method, "/health")

    assert response.status == 405
    assert response.getheader("Content-Type") == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert response.getheader("Allow") == "GET, HEAD, OPTIONS"
    assert error["details"]["allowed_methods"] == ["GET", "HEAD", "OPTIONS"]


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
def test_any_method_on_an_unknown_path_is_a_json_404(stack, method):
    response, body = send(stack, method, "/no/such/route")

    assert response.status == 404
    assert json.loads(body)["error"]["code"] == "NOT_FOUND"


def test_head_answers_what_get_answers_without_the_body(stack):
    get, get_body = send(stack, "GET", "/openapi.json")
    head, head_body = send(stack, "HEAD", "/openapi.json")

    assert head.status == get.status == 200
    assert head_body == b""
    assert int(head.getheader("Content-Length")) == len(get_body)
    assert head.getheader("Content-Type") == get.getheader("Content-Type")


def test_head_on_a_path_without_get_is_the_405_get_would_be(stack):
    response, body = send(stack, "HEAD", "/auth/login")

    assert response.status == 405 and body == b""
    assert response.getheader("Allow") == "OPTIONS, POST"
    assert int(response.getheader("Content-Length")) > 0


def test_options_lists_the_methods_of_the_path(stack):
    known, known_body = send(stack, "OPTIONS", "/health")
    unknown, unknown_body = send(stack, "OPTIONS", "/no/such/route")

    assert known.status == 204 and known_body == b""
    assert known.getheader("Allow") == "GET, HEAD, OPTIONS"
    assert unknown.status == 404
    assert json.loads(unknown_body)["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("method, path", [
    ("PROPFIND", "/health"), ("TRACE", "/no/such/route"), ("HEAD", "/health"), ("OPTIONS", "/health"),
])
def test_the_gateways_own_answers_echo_the_request_id(stack, method, path):
    response, _ = send(stack, method, path, {"X-Request-Id": "gateway-echo-1"})

    assert response.getheader("X-Request-Id") == "gateway-echo-1"


def test_a_malformed_request_line_is_a_json_400(stack):
    url = urlparse(stack.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"GET /health EXTRA-WORD HTTP/1.1\r\n\r\n")  # four words: bad syntax
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")

    assert head.startswith(b"HTTP/1.") and b" 400 " in head.split(b"\r\n")[0]
    assert b"Content-Type: application/json" in head and b"X-Request-Id: " in head
    assert json.loads(body)["error"]["code"] == "VALIDATION_ERROR"
