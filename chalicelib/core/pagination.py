"""Opaque, tamper-proof pagination cursors (the models of a paginated answer are in core.schemas).

A cursor is `<payload>.<signature>`: the payload is compact JSON in URL-safe base64 and the
signature an HMAC-SHA256 of it with `settings().cursor_secret`. Clients cannot read meaning into
it or forge one (a made-up DynamoDB start key would be an error from DynamoDB, i.e. a 5xx, or
a way into a list the caller may not see), and we stay free to change what is inside. A cursor that fails any check is a 400 naming the
`cursor` parameter, never a 5xx.

    token = encode({"after": [1200, "lst_x"]}, scope="search")
    decode(token, scope="search") == {"after": [1200, "lst_x"]}

`scope` binds a cursor to one list, so a cursor from one route is refused by another.

No pydantic here: the search reads and writes cursors on a path that does not load it
(inventory.search_plain).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
from typing import Any, Callable, TypeVar

from .config import settings
from .errors import ValidationError

LIMIT_DEFAULT = 20
LIMIT_MAX = 100
# Generous for any key we put inside, small enough that nobody ships megabytes through it.
MAX_CURSOR_LENGTH = 4096
_SIGNATURE_BYTES = 16  # 128 bits of HMAC: forging is out of reach, cursors stay short

T = TypeVar("T")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(scope: str, body: str) -> str:
    key = settings().cursor_secret.encode()
    mac = hmac.new(key, f"{scope}\n{body}".encode(), hashlib.sha256).digest()
    return _b64(mac[:_SIGNATURE_BYTES])


def encode(payload: dict[str, Any], *, scope: str = "") -> str:
    """Sign `payload` (JSON-serializable) into an opaque cursor."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sign(scope, body)}"


def invalid_cursor(reason: str = "is not a valid cursor for this list",
                   field: str = "cursor") -> ValidationError:
    return ValidationError.for_fields({field: reason})


def decode(token: str, *, scope: str = "", field: str = "cursor") -> dict[str, Any]:
    """The payload of a cursor made by `encode` with the same scope; 400 otherwise."""
    def bad() -> ValidationError:
        return invalid_cursor(field=field)

    if not isinstance(token, str) or len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
        raise bad()
    body, signature = token.split(".")
    # compare_digest: the time taken does not tell a forger how much of the signature matched
    if not hmac.compare_digest(signature.encode(), _sign(scope, body).encode()):
        raise bad()
    try:
        payload = json.loads(_unb64(body))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad() from None
    if not isinstance(payload, dict):
        raise bad()
    return payload


def query_page(query: Callable[..., Any], *, limit: int, cursor: str | None,
               scope: str) -> tuple[list[T], str | None]:
    """One page of a PynamoDB query, resumable with the returned cursor (None at the end).

    `query` is the model's or index's `query` with its key condition bound, e.g.
    `functools.partial(Listing.by_vendor.query, vendor_id)`. One more item than the page is
    asked for, so the last page says it is the last instead of sending clients to an empty one.
    """
    start = decode(cursor, scope=scope).get("k") if cursor else None
    if start is not None and not isinstance(start, dict):
        raise invalid_cursor()
    results = query(limit=limit + 1, page_size=limit + 1, last_evaluated_key=start)
    items = list(itertools.islice(results, limit))
    resume = results.last_evaluated_key  # the key of the last item taken, even mid-page
    more = next(results, None) is not None
    return items, (encode({"k": resume}, scope=scope) if more and resume else None)
