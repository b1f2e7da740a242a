"""Operational routes: health and the API description."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
openapi_document = lazy_module("chalicelib.core.openapi")
schemas = lazy_models(__package__ + ".schemas")  # documents /health; built by /openapi.json only


@endpoint(bp, "GET", "/health", response=schemas.Health, summary="Liveness and table reachability",
          errors=("SERVICE_UNAVAILABLE",))
def health(call: Call) -> Any:
    report = service.health()
    return Response(body=report, status_code=200 if report["status"] == "ok" else 503,
                    headers={"Content-Type": "application/json"})


@endpoint(bp, "GET", "/openapi.json", summary="This API as an OpenAPI 3.1 document")
def openapi(call: Call) -> dict[str, Any]:
    return openapi_document.build_document()
