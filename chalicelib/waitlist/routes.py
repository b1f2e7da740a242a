"""HTTP routes of the waitlist (thin: parse, call one use case, shape). Travelers only."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .schemas import EntryPage

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
schemas = lazy_models(__package__ + ".schemas")  # built by the first request that uses them
TRAVELERS = ("travelers",)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(entry: Any) -> dict[str, Any]:
    w = entry.wanted
    out = schemas.EntryOut(entry_id=entry.entry_id, listing_id=entry.listing_id, status=entry.status,
                           quantity=w.quantity, date=w.date, check_in=w.check_in, check_out=w.check_out,
                           joined_at=_iso(entry.joined_at), booking_id=entry.booking_id, reference=entry.reference)
    return out.model_dump(mode="json", exclude_none=True)


@endpoint(bp, "POST", "/listings/{listing_id}/waitlist", roles=TRAVELERS, body=schemas.JoinRequest,
          response=schemas.EntryOut, status=201, other_statuses=(200,), tag="waitlist",
          errors=("NOT_FOUND", "INVALID_STATE", "RATE_LIMITED"),
          summary="Join the waitlist of sold-out dates (200: already waiting for them with this quantity, "
                  "that entry; with another quantity, 409 INVALID_STATE naming it: leave it and join again)")
def join(call: Call) -> Response:
    b = call.body
    joined = service.join(call.user, call.params["listing_id"], quantity=b.quantity, day=b.date,
                          check_in=b.check_in, check_out=b.check_out)
    return Response(body=_entry(joined.entry), status_code=201 if joined.created else 200,
                    headers={"Content-Type": "application/json"})


@endpoint(bp, "GET", "/me/waitlist", roles=TRAVELERS, query=schemas.MyWaitlistQuery, response=schemas.EntryPage,
          tag="waitlist", summary="My waitlist entries, newest first")
def my_waitlist(call: Call) -> EntryPage:
    entries, next_cursor = service.list_mine(call.user, limit=call.query.limit, cursor=call.query.cursor)
    return schemas.EntryPage(entries=[schemas.EntryOut(**_entry(e)) for e in entries], next_cursor=next_cursor)


@endpoint(bp, "DELETE", "/me/waitlist/{entry_id}", roles=TRAVELERS, status=204, tag="waitlist",
          errors=("NOT_FOUND", "INVALID_STATE"),
          summary="Leave a waitlist (an entry that already received its hold: 409, cancel the hold instead)")
def leave(call: Call) -> Response:
    service.leave(call.user, call.params["entry_id"])
    return Response(body="", status_code=204)
