"""Operational routes: health and the API description."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from ..core.api import Call, endpoint
from ..core.openapi import build_document
from ..core.schemas import Output
from . import service

bp = Blueprint(__name__)


class Health(Output):
    status: str
    stage: str
    version: str


@endpoint(bp, "GET", "/health", response=Health, summary="Liveness and table reachability",
          errors=("SERVICE_UNAVAILABLE",))
def health(call: Call) -> Any:
    report = service.health()
    return Response(body=report, status_code=200 if report["status"] == "ok" else 503,
                    headers={"Content-Type": "application/json"})


@endpoint(bp, "GET", "/openapi.json", summary="This API as an OpenAPI 3.1 document")
def openapi(call: Call) -> dict[str, Any]:
    return build_document()
