"""HTTP routes of support cases (thin: parse, call one use case, shape).

Who: travelers open and list their cases; a case is read, answered and resolved by its
traveler or any agent (API.md: "the owner or any agent"); the queue is the agents'. Vendors
and admins are not parties to cases: 403.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from ..core.api import Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .schemas import CaseOut, CasePage, QueuePage

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
schemas = lazy_models(__package__ + ".schemas")  # built by the first request that uses them
TRAVELERS = ("travelers",)
AGENTS = ("agents",)
PARTIES = ("travelers", "agents")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(case: Any) -> dict[str, Any]:
    return {"case_id": case.case_id, "status": case.status, "subject": case.subject,
            "booking_id": case.booking_id, "booking_reference": case.booking_reference,
            "created_at": _iso(case.created_at), "updated_at": _iso(case.updated_at),
            "message_count": case.message_count}


def _case(case: Any) -> CaseOut:
    return schemas.CaseOut(**_summary(case), messages=[
        schemas.MessageOut(at=_iso(m.at), from_=m.author, body=m.body) for m in case.messages])


@endpoint(bp, "POST", "/support/cases", roles=TRAVELERS, body=schemas.NewCase, response=schemas.CaseOut,
          status=201, tag="support", summary="Open a support case, optionally about one of my bookings",
          errors=("NOT_FOUND",))
def open_case(call: Call) -> CaseOut:
    b = call.body
    return _case(service.open_case(call.user, subject=b.subject, message=b.message, booking_id=b.booking_id))


@endpoint(bp, "GET", "/me/support/cases", roles=TRAVELERS, query=schemas.MyCasesQuery,
          response=schemas.CasePage, tag="support", summary="My support cases, newest first")
def my_cases(call: Call) -> CasePage:
    cases, next_cursor = service.list_my_cases(call.user, limit=call.query.limit, cursor=call.query.cursor)
    return schemas.CasePage(cases=[schemas.CaseSummary(**_summary(c)) for c in cases],
                            next_cursor=next_cursor)


@endpoint(bp, "GET", "/support/cases/{case_id}", roles=PARTIES, response=schemas.CaseOut, tag="support",
          summary="A support case with its messages (its traveler or an agent)", errors=("NOT_FOUND",))
def get_case(call: Call) -> CaseOut:
    return _case(service.get_case(call.user, call.params["case_id"]))


@endpoint(bp, "POST", "/support/cases/{case_id}/messages", roles=PARTIES, body=schemas.NewMessage,
          response=schemas.CaseOut,
          status=201, tag="support", errors=("NOT_FOUND", "INVALID_STATE"),
          summary="Write in a case: an agent's answer waits on the traveler (and is emailed), "
                  "the traveler's message reopens it")
def post_message(call: Call) -> CaseOut:
    return _case(service.post_message(call.user, call.params["case_id"], call.body.body))


@endpoint(bp, "POST", "/support/cases/{case_id}/resolve", roles=PARTIES, body=schemas.ResolveRequest,
          response=schemas.CaseOut, tag="support", errors=("NOT_FOUND", "INVALID_STATE"),
          summary="Resolve a case (its traveler or an agent)")
def resolve_case(call: Call) -> CaseOut:
    return _case(service.resolve_case(call.user, call.params["case_id"]))


@endpoint(bp, "GET", "/agent/cases", roles=AGENTS, query=schemas.AgentCasesQuery, response=schemas.QueuePage,
          tag="support",
          summary="The support queue of a status, oldest waiting first, with each booking's reference and status")
def agent_cases(call: Call) -> QueuePage:
    q = call.query
    entries, next_cursor = service.agent_queue(call.user, status=q.status, limit=q.limit, cursor=q.cursor)
    return schemas.QueuePage(cases=[schemas.QueuedCase(**_summary(e.case), waiting_since=_iso(e.case.waiting_since),
                                                       booking_status=e.booking_status) for e in entries],
                             next_cursor=next_cursor)
