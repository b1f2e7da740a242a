"""The OpenAPI 3.1 document, built from the operations the routes declared (core.api).

Because the routes and the document come from the same declarations they cannot drift; a test
still compares the document with Chalice's route table.
"""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api import _IDEMPOTENCY_KEY, OPERATIONS, Operation
from .config import VERSION
from .errors import ALL_ERRORS

_REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{([^}]+)}")


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": sorted({e.code for e in ALL_ERRORS})},
                "message": {"type": "string"},
                "details": {"type": "object"},
            }}},
    }


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        params.append({"name": name, "in": "query", "required": name in required,
                       "schema": prop, **({"description": prop["description"]} if "description" in prop else {})})
    schemas.update(schema.get("$defs", {}))
    return params


def _operation(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op), "tags": [op.tag]}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
              for p in _PARAM.findall(op.path)]
    if op.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                  "pattern": _IDEMPOTENCY_KEY.pattern}})  # printable ASCII, as checked
    if op.query is not None:
        params.extend(_query_parameters(op.query, schemas))
    if params:
        out["parameters"] = params
    if op.body is not None:
        # A model with no required field takes an empty body too (core.api reads it as {}).
        required = bool(op.body.model_json_schema().get("required"))
        out["requestBody"] = {"required": required, "content": {"application/json": {
            "schema": {"$ref": _REF.format(model=op.body.__name__)}}}}
    ok: dict[str, Any] = {"description": "OK"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": {"$ref": _REF.format(model=op.response.__name__)}}}
    responses: dict[str, Any] = {str(status): ok for status in (op.status, *op.other_statuses)}
    codes = set(op.errors)
    if op.body is not None or op.query is not None or op.idempotent:
        codes.add("VALIDATION_ERROR")
    if op.body is not None:
        codes.update(("PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE"))  # core.api.check_body
    # DynamoDB busy once botocore's retries are spent (core.api): any operation may meet it.
    codes.add("SERVICE_UNAVAILABLE")
    if op.roles is not None:
        codes.add("UNAUTHENTICATED")
    if op.roles:
        codes.add("FORBIDDEN")
    by_code = {e.code: e.status for e in ALL_ERRORS}
    for status in sorted({by_code[c] for c in codes if c in by_code}):
        names = sorted(c for c in codes if by_code.get(c) == status)
        responses[str(status)] = {"description": ", ".join(names), "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
    out["responses"] = responses
    if op.roles is not None:
        out["security"] = [{"cognito": []}]
        if op.roles:
            out["x-roles"] = list(op.roles)
    return out


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).strip("/").replace("-", "_").split("/")
    return op.method.lower() + "_" + "_".join(w for w in words if w)


# OpenAPI links: a booking is born as a hold and moves on by its id (API.md "Holds and bookings"),
# so clients and stateful fuzzers (Schemathesis) can follow hold -> payment -> cancel.
_BOOKING_ID = {"booking_id": "$response.body#/booking_id"}
_BOOKING_LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    ("POST", "/holds", "201"): {
        "PayForBooking": {"operationId": "post_bookings_booking_id_payment", "parameters": _BOOKING_ID,
                          "requestBody": {"payment_method": "tok_visa"}},  # a local test token that succeeds
        "GetBooking": {"operationId": "get_bookings_booking_id", "parameters": _BOOKING_ID},
        "QuoteCancellation": {"operationId": "get_bookings_booking_id_cancellation_quote",
                              "parameters": _BOOKING_ID},
        "CancelBooking": {"operationId": "post_bookings_booking_id_cancel", "parameters": _BOOKING_ID},
    },
    ("POST", "/bookings/{booking_id}/payment", "202"): {
        "GetBooking": {"operationId": "get_bookings_booking_id", "parameters": _BOOKING_ID},
        "QuoteCancellation": {"operationId": "get_bookings_booking_id_cancellation_quote",
                              "parameters": _BOOKING_ID},
        "CancelBooking": {"operationId": "post_bookings_booking_id_cancel", "parameters": _BOOKING_ID},
    },
}


def _add_booking_links(paths: dict[str, dict[str, Any]]) -> None:
    for (method, path, status), links in _BOOKING_LINKS.items():
        responses = paths.get(path, {}).get(method.lower(), {}).get("responses", {})
        if status in responses:  # copy: success statuses of one operation share a response object
            responses[status] = {**responses[status], "links": links}


def build_document() -> dict[str, Any]:
    operations = [op.resolved() for op in OPERATIONS]  # models declared by reference: imported now
    models = {m for op in operations for m in (op.body, op.response) if m is not None}
    _, defs = models_json_schema([(m, "serialization" if m is not None else "validation")
                                  for m in sorted(models, key=lambda m: m.__name__)],
                                 ref_template=_REF)
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
    schemas["Error"] = _error_schema()
    _add_booking_links(paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Itinera API", "version": VERSION,
                 "description": "Search and book flights, rooms, event tickets and services."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                            "description": "Cognito ID token"}},
        },
    }
