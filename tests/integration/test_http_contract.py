"""The HTTP conventions of API.md that every route shares."""
from __future__ import annotations

import re

from app import app
from chalicelib.core.openapi import build_document


def test_health_reports_stage_and_version(api):
    response = api.get("/health")
    assert response.status_code == 200
    assert response.data["status"] == "ok"
    assert set(response.data) == {"status", "stage", "version"}


def test_health_is_503_when_tables_are_unreachable(api, monkeypatch):
    from chalicelib.core import tables

    def unreachable():
        raise ConnectionError("no route to DynamoDB")

    monkeypatch.setattr(tables, "ping_tables", unreachable)
    response = api.get("/health")
    assert response.status_code == 503
    assert response.data["status"] == "unavailable"


def test_request_id_is_echoed_or_generated(api):
    echoed = api.get("/health", headers={"X-Request-Id": "req-123"})
    assert echoed.headers["X-Request-Id"] == "req-123"
    generated = api.get("/health")
    assert re.match(r"^[0-9a-f-]{36}$", generated.headers["X-Request-Id"])
    # A header that could smuggle log lines is replaced, not echoed.
    assert api.get("/health", headers={"X-Request-Id": "bad id\twith tab"}).headers["X-Request-Id"] != "bad id\twith tab"


def test_errors_carry_request_id_and_the_error_shape(api):
    response = api.get("/me", headers={"X-Request-Id": "abc"})
    assert response.status_code == 401
    assert response.headers["X-Request-Id"] == "abc"
    assert set(response.data["error"]) == {"code", "message", "details"}


def test_malformed_json_is_400_not_500(api):
    response = api.post("/auth/login", "{not json")
    assert response.status_code == 400
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert response.data["error"]["details"]["fields"] == {"body": "is not valid JSON"}
    array = api.post("/auth/login", "[1, 2]")
    assert array.status_code == 400


def test_wrong_method_is_a_json_405(api):
    response = api.request("DELETE", "/health")
    assert response.status_code == 405
    assert response.data["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert response.data["error"]["details"]["allowed_methods"] == ["GET"]


def test_openapi_document_matches_the_routes(api):
    document = api.get("/openapi.json").data
    assert document["openapi"].startswith("3.1")
    spec = {(path, method.upper()) for path, ops in document["paths"].items() for method in ops}
    routes = {(path, method) for path, methods in app.routes.items() for method in methods}
    assert routes - spec == set(), "routes missing from /openapi.json"
    assert spec - routes == set(), "/openapi.json names routes that do not exist"


def test_openapi_operations_have_schemas():
    document = build_document()
    schemas = document["components"]["schemas"]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                assert body["$ref"].rsplit("/", 1)[1] in schemas
            if method in ("post", "put", "patch") and path not in ("/auth/config",):
                assert body is not None, f"{method.upper()} {path} declares no request schema"
    assert "Error" in schemas


def test_absurdly_nested_json_is_400_not_500(api):
    # 60,000 bytes: under the 64 KB body limit (a larger body is 413), far over the nesting json takes.
    response = api.post("/auth/login", "[" * 30_000 + "]" * 30_000)
    assert response.status_code == 400
    assert response.data["error"]["details"]["fields"] == {"body": "is not valid JSON"}


def test_openapi_document_is_a_valid_openapi_3_1_document():
    from openapi_spec_validator import validate

    validate(build_document())  # raises on any schema error


def test_a_query_parameter_error_names_the_parameter_not_the_body(api, tokens):
    response = api.get("/vendor/bookings?from=2027-03-10&to=2027-03-01", token=tokens["vendor"])
    assert response.status_code == 400
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert response.data["error"]["details"]["fields"] == {"to": "must not be before `from`"}
