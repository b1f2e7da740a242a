"""HTTP middleware: request ids, the error model, and JSON for every answer.

Registered on the app in app.py. It runs around every view, including Chalice's own early
answers (405 for a wrong method, 415, a bad JSON body), so clients only ever see
`{"error": {...}}` and an `X-Request-Id`.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable

from chalice import Response

from .errors import ApiError
from .observability import logger

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

# Chalice's built-in error bodies are {"Code": ..., "Message": ...}; map them onto our codes.
_CHALICE_CODES = {
    400: "VALIDATION_ERROR", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "INVALID_STATE", 413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR", 429: "RATE_LIMITED",
}


def request_id_from(headers: Any) -> str:
    given = headers.get("x-request-id") if headers is not None else None
    return given if given and _REQUEST_ID.match(given) else str(uuid.uuid4())


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _normalize_chalice_error(response: Response) -> Response:
    body = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            return response
    if not (isinstance(body, dict) and "Code" in body and "error" not in body):
        return response
    status = response.status_code
    code = _CHALICE_CODES.get(status, "INTERNAL_ERROR")
    message = str(body.get("Message") or "")
    if status >= 500:
        message = "Something went wrong on our side; the request id helps support find it."
    details: dict[str, Any] = {}
    if status == 405 and response.headers.get("Allow"):
        details["allowed_methods"] = [m.strip() for m in response.headers["Allow"].split(",")]
    if status == 400 and "JSON" in message:
        details["fields"] = {"body": "is not valid JSON"}
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    return Response(body=error_body(code, message, details), status_code=status, headers=headers)


def http_middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
    request_id = request_id_from(getattr(event, "headers", None))
    logger.set_correlation_id(request_id)
    try:
        response = get_response(event)
    except ApiError as exc:
        if exc.status >= 500:
            logger.exception("request failed", extra={"code": exc.code})
        response = Response(body=exc.body(), status_code=exc.status,
                            headers={"Content-Type": "application/json", **exc.headers})
    except Exception:
        logger.exception("unhandled error")
        response = Response(
            body=error_body("INTERNAL_ERROR",
                            "Something went wrong on our side; the request id helps support find it."),
            status_code=500, headers={"Content-Type": "application/json"})
    else:
        if response.status_code >= 400:
            response = _normalize_chalice_error(response)
    response.headers["X-Request-Id"] = request_id
    logger.info("request", extra={"method": getattr(event, "method", None),
                                  "path": getattr(event, "path", None),
                                  "status": response.status_code})
    return response
