"""HTTP routes of the booking context (thin: parse, call one use case, shape)."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
views = lazy_module(__package__ + ".views")  # the presenter, loaded with the service it presents
schemas = lazy_models(__package__ + ".schemas")
hold_plain = lazy_module(__package__ + ".hold_plain")
TRAVELERS = ("travelers",)
TRAVELERS_AND_STAFF = ("travelers", "agents", "admins")
AGENTS = ("agents",)
STAFF = ("agents", "admins")


def _respond(status: int, body: Any) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


def _booking(result: Any, call: Call, status: int) -> Response:
    """A use case's booking shown to the caller, or the Idempotency-Key's first answer as stored."""
    from ..core.idempotency import Replay  # with PynamoDB: loaded by the service already

    if isinstance(result, Replay):
        return _respond(result.status, result.body)
    return _respond(status, views.booking_view(result, call.user))


def _plain_hold(body: dict[str, Any]) -> Any:
    return hold_plain.parse_hold(body)


# The usual hold body is read without pydantic (hold_plain); anything else goes to the model.
@endpoint(bp, "POST", "/holds", roles=TRAVELERS, body=schemas.HoldRequest, response=schemas.BookingOut,
          status=201, plain_body=_plain_hold,
          idempotent=True, summary="Hold units of one or more listings (a trip) for a while",
          errors=("SOLD_OUT", "RATE_LIMITED", "PROMO_INVALID", "IDEMPOTENCY_KEY_REUSED", "REQUEST_IN_PROGRESS"))
def place_hold(call: Call) -> Response:
    return _booking(service.place_hold(call.user, call.body, call.idempotency_key), call, 201)


@endpoint(bp, "GET", "/bookings/{booking_id}", roles=TRAVELERS_AND_STAFF, response=schemas.BookingOut,
          summary="A booking with its timeline and what the caller may do next", errors=("NOT_FOUND",))
def get_booking(call: Call) -> Response:
    return _booking(service.get_booking(call.user, call.params["booking_id"]), call, 200)


@endpoint(bp, "GET", "/me/bookings", roles=TRAVELERS, query=schemas.MyBookingsQuery,
          response=schemas.BookingPage,
          summary="My bookings, newest first")
def my_bookings(call: Call) -> dict[str, Any]:
    q = call.query
    return service.list_my_bookings(call.user, status=q.status, limit=q.limit, cursor=q.cursor)


@endpoint(bp, "GET", "/agent/bookings", roles=AGENTS, query=schemas.AgentBookingsQuery,
          response=schemas.BookingPage,
          summary="The support desk: bookings by reference (any case) or by contact email, with timelines")
def agent_bookings(call: Call) -> dict[str, Any]:
    q = call.query
    return service.find_bookings(call.user, reference=q.reference, email=q.email, limit=q.limit, cursor=q.cursor)


@endpoint(bp, "GET", "/vendor/bookings", roles=("vendors",), query=schemas.VendorBookingsQuery,
          response=schemas.VendorBookingPage,
          summary="Bookings that include my listings, by first date")
def vendor_bookings(call: Call) -> dict[str, Any]:
    q = call.query
    return service.list_vendor_bookings(
        call.user, start=q.from_.isoformat() if q.from_ else None, end=q.to.isoformat() if q.to else None,
        status=q.status, limit=q.limit, cursor=q.cursor)


@endpoint(bp, "POST", "/bookings/{booking_id}/payment", roles=TRAVELERS, body=schemas.PaymentRequest,
          response=schemas.BookingOut, status=202, idempotent=True,
          summary="Authorize the payment of a hold; the booking confirms shortly after",
          errors=("RAW_CARD_NUMBER", "PAYMENT_DECLINED", "NOT_FOUND", "HOLD_EXPIRED", "INVALID_STATE",
                  "IDEMPOTENCY_KEY_REUSED", "REQUEST_IN_PROGRESS", "RATE_LIMITED", "SERVICE_UNAVAILABLE"))
def pay(call: Call) -> Response:
    return _booking(service.pay(call.user, call.params["booking_id"], call.body, call.idempotency_key), call, 202)


@endpoint(bp, "GET", "/bookings/{booking_id}/cancellation-quote", roles=TRAVELERS_AND_STAFF,
          response=schemas.CancellationQuote, summary="What cancelling now would refund",
          errors=("NOT_FOUND", "INVALID_STATE"))
def cancellation_quote(call: Call) -> dict[str, Any]:
    quote = service.cancellation_quote(call.user, call.params["booking_id"])
    until = views.iso(quote.valid_until) if quote.valid_until is not None else None
    # Dumped with its nulls: `valid_until` is always present (null when the refund never changes).
    return schemas.CancellationQuote(refund=views.money(quote.refund, quote.currency), policy=quote.policy,
                                     valid_until=until).model_dump(mode="json")


@endpoint(bp, "POST", "/bookings/{booking_id}/cancel", roles=TRAVELERS_AND_STAFF,
          body=schemas.CancelRequest,
          response=schemas.BookingOut, status=202, other_statuses=(200,),
          summary="Cancel: a hold at once (200), a confirmed booking through the refund worker (202)",
          errors=("NOT_FOUND", "INVALID_STATE", "REQUEST_IN_PROGRESS"))
def cancel(call: Call) -> Response:
    booking = service.cancel(call.user, call.params["booking_id"], call.body.reason)
    # A hold is cancelled at once (200); a paid booking is accepted for cancellation (202).
    return _booking(booking, call, 200 if booking.status == "CANCELLED" else 202)


@endpoint(bp, "POST", "/bookings/{booking_id}/refunds", roles=STAFF, body=schemas.RefundRequest,
          response=schemas.RefundOut,
          status=201, idempotent=True, summary="Refund part or all of what was captured (agents)",
          errors=("NOT_FOUND", "INVALID_STATE", "REFUND_EXCEEDS_CAPTURED", "IDEMPOTENCY_KEY_REUSED"))
def refund(call: Call) -> Response:
    from ..core.idempotency import Replay  # with PynamoDB: loaded by the service already

    result = service.refund(call.user, call.params["booking_id"], call.body.amount, call.body.reason,
                            call.idempotency_key)
    if isinstance(result, Replay):
        return _respond(result.status, result.body)
    return _respond(201, result.body())


@endpoint(bp, "GET", "/bookings/{booking_id}/audit", roles=STAFF, response=schemas.AuditOut,
          summary="Every money movement and staff action on a booking, oldest first", errors=("NOT_FOUND",))
def audit(call: Call) -> dict[str, Any]:
    return service.booking_audit(call.user, call.params["booking_id"])
