"""The error model of API.md: a stable code, a human message, optional details.

`ApiError` derives from `ChaliceUnhandledError` so that Chalice re-raises it out of the view and
our HTTP middleware (core.http) turns it into `{"error": {...}}` with the right status.
"""
from __future__ import annotations

from typing import Any

from chalice import ChaliceUnhandledError


class ApiError(ChaliceUnhandledError):
    status = 400
    code = "VALIDATION_ERROR"

    def __init__(self, message: str, details: dict[str, Any] | None = None,
                 *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def _error(status: int, code: str) -> type[ApiError]:
    return type(code.title().replace("_", "") + "Error", (ApiError,), {"status": status, "code": code})


class ValidationError(ApiError):
    status, code = 400, "VALIDATION_ERROR"

    @classmethod
    def for_fields(cls, fields: dict[str, str], message: str | None = None) -> "ValidationError":
        names = ", ".join(sorted(fields))
        return cls(message or f"Invalid value for: {names}", {"fields": fields})


RawCardNumber = _error(400, "RAW_CARD_NUMBER")
Unauthenticated = _error(401, "UNAUTHENTICATED")
PaymentDeclined = _error(402, "PAYMENT_DECLINED")
Forbidden = _error(403, "FORBIDDEN")
NotFound = _error(404, "NOT_FOUND")
MethodNotAllowed = _error(405, "METHOD_NOT_ALLOWED")
SoldOut = _error(409, "SOLD_OUT")
InvalidState = _error(409, "INVALID_STATE")
HoldExpired = _error(409, "HOLD_EXPIRED")
CapacityBelowCommitted = _error(409, "CAPACITY_BELOW_COMMITTED")
RefundExceedsCaptured = _error(409, "REFUND_EXCEEDS_CAPTURED")
RequestInProgress = _error(409, "REQUEST_IN_PROGRESS")
AlreadyReviewed = _error(409, "ALREADY_REVIEWED")
AlreadyReplied = _error(409, "ALREADY_REPLIED")
PayloadTooLarge = _error(413, "PAYLOAD_TOO_LARGE")
UnsupportedMediaType = _error(415, "UNSUPPORTED_MEDIA_TYPE")
IdempotencyKeyReused = _error(422, "IDEMPOTENCY_KEY_REUSED")
PromoInvalid = _error(422, "PROMO_INVALID")
PromoCodeTaken = _error(409, "PROMO_CODE_TAKEN")
RateLimited = _error(429, "RATE_LIMITED")
ServiceUnavailable = _error(503, "SERVICE_UNAVAILABLE")
InternalError = _error(500, "INTERNAL_ERROR")

# DynamoDB's answers that mean "busy, try again" once botocore's own retries are spent. The
# request changed nothing (every write is conditional and all-or-nothing), so the client may
# safely retry: the API answers 503 with Retry-After (core.api), not a 500 that reads like a bug.
_TRANSIENT = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
              "TransactionConflictException", "TransactionInProgressException", "InternalServerError",
              "ServiceUnavailable"}
# Cancellation reasons of a transaction that mean the same.
_TRANSIENT_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def is_transient(exc: BaseException | None) -> bool:
    """True when `exc`, or what it was explicitly raised from, is DynamoDB being busy or out of
    reach. Only `__cause__` is followed: a bug raised while handling a throttle is still a bug."""
    from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError

    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ApiError):
            return False  # already the answer the service chose, whatever it was handling
        if isinstance(exc, (BotoConnectionError, HTTPClientError)) or getattr(exc, "transient", False):
            return True
        code = getattr(exc, "cause_response_code", None) or \
            (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
        if code in _TRANSIENT:
            return True
        if code == "TransactionCanceledException" and any(
                getattr(r, "code", None) in _TRANSIENT_REASONS for r in getattr(exc, "cancellation_reasons", None) or ()):
            return True
        cause = getattr(exc, "cause", None)  # PynamoDB keeps botocore's error here
        exc = exc.__cause__ or (cause if isinstance(cause, BaseException) else None)
        seen += 1
    return False


# Every code a client can see, with its status: the OpenAPI document lists them.
ALL_ERRORS: tuple[type[ApiError], ...] = (
    ValidationError, RawCardNumber, Unauthenticated, PaymentDeclined, Forbidden, NotFound,
    MethodNotAllowed, SoldOut, InvalidState, HoldExpired, CapacityBelowCommitted,
    RefundExceedsCaptured, RequestInProgress, AlreadyReviewed, AlreadyReplied, PayloadTooLarge, UnsupportedMediaType,
    IdempotencyKeyReused, PromoInvalid, PromoCodeTaken, RateLimited, ServiceUnavailable, InternalError,
)


class FieldError(ValueError):
    """A model-level rule broken by particular fields: raise it from a pydantic model validator
    and `from_pydantic` names those fields (by their public names, aliases included) instead of
    the whole body or query string.

        raise FieldError("must not be before `from`", "to")
    """

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        self.fields = fields


def from_pydantic(exc: Any, prefix: str = "", root: str = "body") -> ValidationError:
    """Turn a pydantic ValidationError into ours, naming each bad field by its dotted path.

    `root` names what was validated (`body`, or `query` for a query string): it stands for an
    error about the whole input that no field or `FieldError` narrows down.
    """
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        cause = (err.get("ctx") or {}).get("error")
        named = cause.fields if isinstance(cause, FieldError) else ()
        paths = [f"{path}.{field}" if path else field for field in named] or [path]
        message = err.get("msg", "invalid")
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        for each in paths:
            name = f"{prefix}{each}" if each else (prefix.rstrip(".") or root)
            fields.setdefault(name, message)
    return ValidationError.for_fields(fields)
