"""Request and response shapes of the waitlist routes (API.md "Waitlist")."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictInt

from ..core.schemas import Cursor, Input, IsoDate, Limit, Output, Page, Query
from . import domain

Status = Literal["WAITING", "OFFERING", "OFFERED", "LEFT", "EXPIRED"]
assert set(Status.__args__) == set(domain.STATUSES)  # type: ignore[attr-defined]


class JoinRequest(Input):
    """A flight, event or service: `date`. A hotel: `check_in` and `check_out` (the listing's
    kind decides; the other shape is refused naming its field)."""
    quantity: StrictInt = Field(ge=1, le=1000, description="Units wanted; at most 10 by default")
    date: IsoDate | None = Field(default=None, description="Flight, event or service date")
    check_in: IsoDate | None = Field(default=None, description="Hotel: first night")
    check_out: IsoDate | None = Field(default=None, description="Hotel: departure day (not a night)")


class MyWaitlistQuery(Query):
    limit: Limit = 20
    cursor: Cursor | None = None


class EntryOut(Output):
    entry_id: str
    listing_id: str
    status: Status = Field(description="WAITING in line; OFFERING while its hold is being placed; OFFERED "
                                       "(booking_id: a HELD booking to pay before it expires); LEFT; "
                                       "EXPIRED (its date passed)")
    quantity: int
    date: str | None = None
    check_in: str | None = None
    check_out: str | None = None
    joined_at: str
    booking_id: str | None = None
    reference: str | None = None


class EntryPage(Page):
    entries: list[EntryOut]
