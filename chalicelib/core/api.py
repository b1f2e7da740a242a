"""Declaring an HTTP operation once: Chalice route, auth, input parsing, OpenAPI entry.

A route module writes

    @endpoint(bp, "POST", "/auth/signup", body=SignupRequest, response=SignupResponse,
              status=201, summary="Create a traveler account")
    def signup(call: Call) -> SignupResponse: ...

and gets: the Chalice route, the bearer token verified and the role enforced (`roles=`), the
JSON body and the query string validated by pydantic (400 naming each bad field), the result
serialized, and the operation recorded for `GET /openapi.json`. Views stay thin.

The models may be given as references (core.lazy.lazy_models): they are imported and built on
the first request of the route, and pydantic itself is imported by the first request that
validates or returns a model, so a cold start pays for the models of its own route only.

A route may also give `plain_query` / `plain_body`: a function that parses the usual query
string / JSON object without pydantic and answers None for anything it does not take, which
then goes to the `query` / `body` model (its answer, errors included, is the contract). A view
may return a plain dict, sent as it is. GET /search (inventory.search_plain) and POST /holds
(booking.hold_plain) do so, so their usual cold start never imports pydantic.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from chalice import Blueprint, Chalice, Response

from .errors import (PayloadTooLarge, ServiceUnavailable, UnsupportedMediaType, ValidationError,
                     from_pydantic, is_transient)
from .lazy import ModelRef, resolve

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .auth import Principal

PUBLIC = None  # roles=PUBLIC: no token needed
SIGNED_IN: tuple[str, ...] = ()  # any valid token


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    status: int
    tag: str
    roles: tuple[str, ...] | None
    body: type[BaseModel] | ModelRef | None
    query: type[BaseModel] | ModelRef | None
    response: type[BaseModel] | ModelRef | None
    errors: tuple[str, ...]
    idempotent: bool
    other_statuses: tuple[int, ...] = ()  # further success statuses the view may answer with

    def resolved(self) -> Operation:
        """The operation with its models imported (the OpenAPI document needs the classes)."""
        return dataclasses.replace(self, body=resolve(self.body), query=resolve(self.query),
                                   response=resolve(self.response))


OPERATIONS: list[Operation] = []


@dataclass
class Call:
    """What a view receives: the parsed inputs and who is calling."""
    request: Any
    params: dict[str, str]
    principal: Principal | None = None
    body: Any = None
    query: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def user(self) -> Principal:
        assert self.principal is not None, "route declared without roles"
        return self.principal

    @property
    def idempotency_key(self) -> str:
        return self.headers.get("idempotency-key", "")


_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,254}$")

MAX_BODY_BYTES = 64 * 1024  # API.md: a body over 64 KB is 413 PAYLOAD_TOO_LARGE
# application/json or any application/<something>+json (RFC 6839), parameters such as charset aside.
_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[a-z0-9!#$&^_.-]+\+)?json$")


def check_body(raw: bytes | str | None, content_type: str | None) -> None:
    """413 for a body over 64 KB, 415 for a body whose Content-Type is not JSON. No body, no check.

    Only routes that take a body check it (the OpenAPI document declares 413 and 415 on those).
    """
    if raw in (None, b"", ""):
        return
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body is {size} bytes; at most {MAX_BODY_BYTES} are accepted.",
                              {"max_bytes": MAX_BODY_BYTES, "bytes": size})
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not _JSON_MEDIA_TYPE.match(media_type):
        raise UnsupportedMediaType("The request body must be JSON (Content-Type: application/json).",
                                   {"content_type": (content_type or "")[:100], "accepted": ["application/json"]})


def load_json_object(raw: bytes | str | None) -> dict[str, Any]:
    """The body as a JSON object ({} when there is none); 400 naming `body` otherwise."""
    if raw in (None, b"", ""):
        return {}
    try:
        data = json.loads(raw)  # type: ignore[arg-type]
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ValidationError.for_fields({"body": "is not valid JSON"}, "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ValidationError.for_fields({"body": "must be a JSON object"})
    return data


def validate_body(data: dict[str, Any], model: type[BaseModel]) -> BaseModel:
    from pydantic import ValidationError as PydanticValidationError  # loaded with `model`

    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise from_pydantic(exc)


def parse_query(params: Mapping[str, str] | None, model: type[BaseModel]) -> BaseModel:
    from pydantic import ValidationError as PydanticValidationError  # loaded with `model`

    try:
        return model.model_validate(dict(params or {}))
    except PydanticValidationError as exc:
        # Errors name the query parameters; one about the query as a whole is "query", never "body".
        raise from_pydantic(exc, root="query")


def endpoint(target: Blueprint | Chalice, method: str, path: str, *, summary: str,
             roles: tuple[str, ...] | None = PUBLIC, body: type[BaseModel] | ModelRef | None = None,
             query: type[BaseModel] | ModelRef | None = None,
             response: type[BaseModel] | ModelRef | None = None,
             status: int = 200, tag: str = "", errors: tuple[str, ...] = (),
             idempotent: bool = False,
             other_statuses: tuple[int, ...] = (),
             plain_query: Callable[[dict[str, str]], Any] | None = None,
             plain_body: Callable[[dict[str, Any]], Any] | None = None,
             ) -> Callable[[Callable[[Call], Any]], Callable[..., Any]]:
    """Register a view; see the module docstring."""

    def decorate(view: Callable[[Call], Any]) -> Callable[..., Any]:
        OPERATIONS.append(Operation(method, path, summary, status, tag or path.strip("/").split("/")[0],
                                    roles, body, query, response, errors, idempotent, other_statuses))

        @functools.wraps(view)
        def handler(**params: str) -> Response:
            request = target.current_request
            headers = request.headers
            call = Call(request=request, params=params, headers=headers)
            if roles is not None:
                # Here, not at the top: a public route's cold start (search) never loads token checks.
                from .auth import authenticate, require_role

                call.principal = authenticate(headers)
                if roles:
                    require_role(call.principal, roles)
            if idempotent:
                key = headers.get("idempotency-key")
                if key is None or not _IDEMPOTENCY_KEY.match(key):
                    raise ValidationError.for_fields(
                        {"Idempotency-Key": "header is required: 1-255 printable ASCII characters"})
            if query is not None:
                params = dict(request.query_params or {})
                call.query = plain_query(params) if plain_query is not None else None
                if call.query is None:
                    call.query = parse_query(params, resolve(query))
            if body is not None:
                check_body(request.raw_body, headers.get("content-type"))
                data = load_json_object(request.raw_body)
                call.body = plain_body(data) if plain_body is not None else None
                if call.body is None:
                    call.body = validate_body(data, resolve(body))
            try:
                result = view(call)
            except Exception as exc:
                if is_transient(exc):  # DynamoDB busy: nothing was written, the client may retry
                    raise ServiceUnavailable("We are busy right now; retry in a moment.",
                                             headers={"Retry-After": "1"}) from exc
                raise
            if isinstance(result, Response):
                return result
            if "pydantic" in sys.modules:  # a view cannot have built a model without it
                from pydantic import BaseModel
                if isinstance(result, BaseModel):
                    result = result.model_dump(mode="json", exclude_none=True)
            return Response(body=result, status_code=status,
                            headers={"Content-Type": "application/json"})

        # Chalice passes path parameters by name; the wrapper takes them all.
        target.route(path, methods=[method], content_types=["application/json", "*/*"])(handler)
        return handler

    return decorate
