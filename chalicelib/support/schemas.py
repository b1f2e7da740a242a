"""Request and response shapes of the support routes (API.md "Support cases")."""
from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from ..core.schemas import Cursor, Input, Limit, Output, Page, Query
from . import domain

_BOOKING_ID = r"^[A-Za-z0-9_-]{1,80}$"
Status = Literal["OPEN", "WAITING_ON_TRAVELER", "RESOLVED"]
assert set(Status.__args__) == set(domain.STATUSES)  # type: ignore[attr-defined]


class NewCase(Input):
    subject: str = Field(min_length=1, max_length=domain.MAX_SUBJECT)
    message: str = Field(min_length=1, max_length=domain.MAX_BODY, description="Plain text")
    booking_id: str | None = Field(default=None, pattern=_BOOKING_ID,
                                   description="One of the traveler's own bookings")


class NewMessage(Input):
    body: str = Field(min_length=1, max_length=domain.MAX_BODY, description="Plain text")


class ResolveRequest(Input):
    """No fields: send `{}` or no body at all."""


class MyCasesQuery(Query):
    limit: Limit = 20
    cursor: Cursor | None = None


class AgentCasesQuery(Query):
    status: Status = Field(default="OPEN", description="The queue to work; default OPEN (waiting on an agent)")
    limit: Limit = 20
    cursor: Cursor | None = None


class MessageOut(Output):
    # `from` is a Python keyword: the field is from_, always read and written as "from".
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)

    at: str
    # "system": the first message of a case the service opened for agents (a failed refund).
    from_: Literal["traveler", "agent", "system"] = Field(alias="from")
    body: str


class CaseSummary(Output):
    case_id: str
    status: Status
    subject: str
    booking_id: str | None = None
    booking_reference: str | None = None
    created_at: str
    updated_at: str
    message_count: int


class CaseOut(CaseSummary):
    messages: list[MessageOut]


class CasePage(Page):
    cases: list[CaseSummary]


class QueuedCase(CaseSummary):
    waiting_since: str = Field(description="When the case entered its status: the queue's order")
    booking_status: str | None = Field(default=None, description="The booking's status now")


class QueuePage(Page):
    cases: list[QueuedCase]
