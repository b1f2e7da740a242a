"""Support cases: the status rule, in one place. Plain data and pure functions, no I/O.

A case is OPEN while the traveler waits for an agent, WAITING_ON_TRAVELER once an agent has
answered, and RESOLVED when either side closes it. Every message and every resolution goes
through `post_message` / `resolve`, which say what changes or raise `CaseStateError`.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace

OPEN = "OPEN"
WAITING_ON_TRAVELER = "WAITING_ON_TRAVELER"
RESOLVED = "RESOLVED"
STATUSES = (OPEN, WAITING_ON_TRAVELER, RESOLVED)

TRAVELER = "traveler"
AGENT = "agent"
# The service itself, opening a case for agents about something that went wrong with a
# traveler's booking after nobody was waiting for the answer (a refund the provider failed
# later): it only ever writes a case's first message.
SYSTEM = "system"
AUTHORS = (TRAVELER, AGENT)  # who may post to a case

# Messages are items of their own (a case item never grows with its thread); the cap keeps a
# case's page bounded: 200 messages of at most 5000 characters.
MAX_MESSAGES = 200
MAX_SUBJECT = 200
MAX_BODY = 5000

# (status, who writes) -> status after the message. RESOLVED is absent: a closed case takes
# no message (the traveler opens a new one).
_AFTER_MESSAGE = {
    (OPEN, TRAVELER): OPEN,
    (WAITING_ON_TRAVELER, TRAVELER): OPEN,
    (OPEN, AGENT): WAITING_ON_TRAVELER,
    (WAITING_ON_TRAVELER, AGENT): WAITING_ON_TRAVELER,
}
_RESOLVABLE = (OPEN, WAITING_ON_TRAVELER)


class CaseStateError(Exception):
    """The case's status (or its full thread) does not allow this."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Message:
    seq: int  # 1, 2, ... in the order written
    at: float  # epoch seconds
    author: str  # traveler | agent | system (only a system case's first message)
    body: str


@dataclass(frozen=True)
class Case:
    case_id: str
    traveler_id: str
    traveler_email: str
    traveler_name: str
    subject: str
    status: str
    created_at: float
    updated_at: float
    waiting_since: float  # when the case entered its status: the queue's order
    version: int  # every write increments it and is conditioned on it
    message_count: int
    booking_id: str | None = None
    booking_reference: str | None = None
    messages: tuple[Message, ...] = ()
    opened_by: str = TRAVELER  # or SYSTEM: a case about money owed, which only an agent closes


@dataclass(frozen=True)
class Change:
    """What one message or resolution changes. `message` is None for a resolution."""
    status: str
    waiting_since: float
    at: float
    message: Message | None = None


def new_case_id() -> str:
    return "case_" + secrets.token_hex(10)


def case_id_for(occurrence: str) -> str:
    """The id of the system's case about one occurrence: reporting it twice (a redelivered
    event, a retry after a crash) finds the same case instead of opening another."""
    return "case_" + hashlib.sha256(occurrence.encode()).hexdigest()[:20]


def is_case_id(value: str) -> bool:
    """Path ids are checked before they reach DynamoDB (an over-long key is a 5xx there)."""
    return len(value) == 25 and value.startswith("case_") and all(c in "0123456789abcdef" for c in value[5:])


def open_case(*, case_id: str, traveler_id: str, traveler_email: str, traveler_name: str, subject: str,
              body: str, at: float, booking_id: str | None = None,
              booking_reference: str | None = None, author: str = TRAVELER) -> Case:
    """A new case, waiting for an agent; opened by its traveler, or by the system for them."""
    if author not in (TRAVELER, SYSTEM):
        raise ValueError(f"a case is not opened by {author!r}")
    first = Message(seq=1, at=at, author=author, body=body)
    return Case(case_id=case_id, traveler_id=traveler_id, traveler_email=traveler_email,
                traveler_name=traveler_name, subject=subject, status=OPEN, created_at=at, updated_at=at,
                waiting_since=at, version=1, message_count=1, booking_id=booking_id,
                booking_reference=booking_reference, messages=(first,), opened_by=author)


def _moved(case: Case, status: str, at: float) -> float:
    """The queue orders by how long a case has waited in its status: an unchanged status keeps
    its place (a traveler adding a detail does not send their case to the back)."""
    return case.waiting_since if status == case.status else at


def post_message(case: Case, author: str, body: str, at: float) -> Change:
    if author not in AUTHORS:
        raise ValueError(f"unknown author {author!r}")
    if case.status == RESOLVED:
        raise CaseStateError("This case is resolved; open a new case to ask something else.", case.status)
    if case.message_count >= MAX_MESSAGES:
        raise CaseStateError(f"This case has reached {MAX_MESSAGES} messages; open a new case to go on.",
                             case.status)
    status = _AFTER_MESSAGE[(case.status, author)]
    message = Message(seq=case.message_count + 1, at=at, author=author, body=body)
    return Change(status=status, waiting_since=_moved(case, status, at), at=at, message=message)


def resolve(case: Case, author: str, at: float) -> Change:
    if case.status not in _RESOLVABLE:
        raise CaseStateError("This case is already resolved.", case.status)
    if case.opened_by == SYSTEM and author != AGENT:
        # It stands for money the traveler may be owed: closing it must not drop it from the
        # agents' queue before an agent has dealt with it.
        raise CaseStateError("An agent resolves this case once the refund is dealt with.", case.status)
    return Change(status=RESOLVED, waiting_since=_moved(case, RESOLVED, at), at=at)


def apply(case: Case, change: Change) -> Case:
    """The case after `change` (as the conditional write stores it)."""
    messages = case.messages + ((change.message,) if change.message else ())
    return replace(case, status=change.status, waiting_since=change.waiting_since, updated_at=change.at,
                   version=case.version + 1,
                   message_count=change.message.seq if change.message else case.message_count,
                   messages=messages)
