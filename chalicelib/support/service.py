"""The support context's use cases: open a case, read it, answer it, resolve it, and the
lists (a traveler's cases, the agents' queue). They return domain results, never HTTP.

Who may see a case: its traveler and any agent. Another traveler gets 404, as for a case that
does not exist (existence is not revealed); other roles never reach here (routes: 403).
"""
from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass, replace

from pynamodb.exceptions import TransactWriteError

from ..core import clock, pagination
from ..core.auth import Principal
from ..core.errors import InvalidState, NotFound, ServiceUnavailable
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from ..core.tables import transaction
from . import domain
from .models import SupportCase, SupportMessage
from .notifications import enqueue_answer_email

# Another context is reached through its service functions only (DESIGN "Shape").
bookings = lazy_module("chalicelib.booking.service")

AGENTS = ("agents",)
_WRITE_ATTEMPTS = 5  # a racing writer bumps the version; reread and apply again


@dataclass(frozen=True)
class QueueEntry:
    case: domain.Case
    booking_status: str | None  # the booking's status now, when the case is about one


# --- records ------------------------------------------------------------------------------------


def _to_domain(item: SupportCase, messages: tuple[domain.Message, ...] = ()) -> domain.Case:
    return domain.Case(
        case_id=item.case_id, traveler_id=item.traveler_id, traveler_email=item.traveler_email,
        traveler_name=item.traveler_name or "", subject=item.subject, status=item.status,
        created_at=float(item.created_at), updated_at=float(item.updated_at),
        waiting_since=float(item.waiting_since), version=int(item.version),
        message_count=int(item.message_count), booking_id=item.booking_id,
        booking_reference=item.booking_reference, messages=messages,
        opened_by=item.opened_by or domain.TRAVELER)


def _messages(case_id: str, upto: int) -> tuple[domain.Message, ...]:
    """The thread up to message `upto`: a message committed after the case was read (a racing
    answer) waits for the next read rather than showing next to a stale status."""
    return tuple(domain.Message(seq=int(m.seq), at=float(m.at), author=m.author, body=m.body)
                 for m in SupportMessage.query(case_id, SupportMessage.seq <= upto, consistent_read=True))


def _load(case_id: str) -> domain.Case | None:
    if not domain.is_case_id(case_id):
        return None
    try:
        item = SupportCase.get(case_id, consistent_read=True)
    except SupportCase.DoesNotExist:
        return None
    return _to_domain(item)


def _author(viewer: Principal, case: domain.Case) -> str | None:
    """How the viewer takes part in the case: its traveler, an agent, or not at all."""
    if case.traveler_id == viewer.user_id:
        return domain.TRAVELER
    if viewer.has_any(AGENTS):
        return domain.AGENT
    return None


def _load_for(viewer: Principal, case_id: str) -> tuple[domain.Case, str]:
    case = _load(case_id)
    author = _author(viewer, case) if case is not None else None
    if case is None or author is None:
        raise NotFound("No such support case.")
    return case, author


def _write(case: domain.Case, change: domain.Change, author_id: str) -> bool:
    """Writes `change` as one transaction conditioned on the version read. False when the case
    moved in between (another answer, a resolution): the caller rereads and decides again."""
    tx = transaction()
    actions = [SupportCase.status.set(change.status), SupportCase.waiting_since.set(change.waiting_since),
               SupportCase.updated_at.set(change.at), SupportCase.version.set(case.version + 1)]
    if change.message is not None:
        message = change.message
        actions.append(SupportCase.message_count.set(message.seq))
        tx.save(SupportMessage(case.case_id, message.seq, at=message.at, author=message.author,
                               author_id=author_id, body=message.body),
                condition=SupportMessage.seq.does_not_exist())
    tx.update(SupportCase(case.case_id), actions=actions, condition=SupportCase.version == case.version)
    try:
        with tx:
            pass  # leaving the block commits (PynamoDB's TransactWrite protocol)
    except TransactWriteError as exc:
        reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or ())]
        if exc.cause_response_code == "TransactionCanceledException" and \
                all(code in (None, "None", "ConditionalCheckFailed", "TransactionConflict") for code in reasons):
            return False
        raise
    return True


def _change(viewer: Principal, case_id: str, decide) -> tuple[domain.Case, domain.Change, str]:
    """Reads the case, lets `decide(case, author)` say what changes, writes it conditionally;
    on a lost race reads again, so two concurrent answers both land, one after the other."""
    for attempt in range(_WRITE_ATTEMPTS):
        case, author = _load_for(viewer, case_id)
        try:
            change = decide(case, author)
        except domain.CaseStateError as exc:
            raise InvalidState(str(exc), {"status": exc.status})
        if _write(case, change, viewer.user_id):
            return case, change, author
        time.sleep(random.uniform(0.005, 0.03) * (attempt + 1))
    raise ServiceUnavailable("This case is changing a lot right now; retry in a moment.",
                             headers={"Retry-After": "1"})


# --- use cases ----------------------------------------------------------------------------------


def open_case(traveler: Principal, *, subject: str, message: str, booking_id: str | None = None) -> domain.Case:
    """A traveler's new case, optionally about one of their bookings (another's: 404)."""
    reference = None
    if booking_id is not None:
        reference = bookings.get_booking(traveler, booking_id).reference  # NotFound unless theirs
    now = clock.now()
    case = domain.open_case(case_id=domain.new_case_id(), traveler_id=traveler.user_id,
                            traveler_email=traveler.email, traveler_name=traveler.name, subject=subject,
                            body=message, at=now, booking_id=booking_id, booking_reference=reference)
    _create(case, author_id=traveler.user_id)
    count("SupportCaseOpened")
    logger.info("support case opened", extra={"case_id": case.case_id, "booking_id": booking_id})
    return case


def open_system_case(*, occurrence: str, traveler_id: str, traveler_email: str, traveler_name: str,
                     booking_id: str, booking_reference: str, subject: str, message: str) -> bool:
    """A case in the agents' queue about something that went wrong with a traveler's booking
    when nobody was waiting for the answer (a refund the provider failed later). It is the
    traveler's case, so the agent's answer reaches them. One case per `occurrence`: reporting
    it again is a no-op. True when this call opened it."""
    case = domain.open_case(case_id=domain.case_id_for(occurrence), traveler_id=traveler_id,
                            traveler_email=traveler_email, traveler_name=traveler_name, subject=subject,
                            body=message, at=clock.now(), booking_id=booking_id,
                            booking_reference=booking_reference, author=domain.SYSTEM)
    try:
        _create(case, author_id=domain.SYSTEM)
    except TransactWriteError as exc:
        reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or ())]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            return False  # reported before
        raise
    count("SupportSystemCaseOpened")
    logger.warning("support case opened for agents", extra={"case_id": case.case_id, "booking_id": booking_id,
                                                            "subject": subject})
    return True


def _create(case: domain.Case, *, author_id: str) -> None:
    """The case and its first message, in one transaction; the case id must be new."""
    first = case.messages[0]
    tx = transaction()
    tx.save(SupportCase(case.case_id, traveler_id=case.traveler_id, traveler_email=case.traveler_email,
                        traveler_name=case.traveler_name or None, subject=case.subject, status=case.status,
                        booking_id=case.booking_id, booking_reference=case.booking_reference,
                        created_at=case.created_at, updated_at=case.updated_at, waiting_since=case.waiting_since,
                        version=case.version, message_count=case.message_count,
                        opened_by=case.opened_by if case.opened_by != domain.TRAVELER else None),
            condition=SupportCase.case_id.does_not_exist())
    tx.save(SupportMessage(case.case_id, first.seq, at=first.at, author=first.author,
                           author_id=author_id, body=first.body),
            condition=SupportMessage.seq.does_not_exist())
    with tx:
        pass


def get_case(viewer: Principal, case_id: str) -> domain.Case:
    case, _ = _load_for(viewer, case_id)
    return _with_messages(case)


def _with_messages(case: domain.Case) -> domain.Case:
    return replace(case, messages=_messages(case.case_id, case.message_count))


def post_message(viewer: Principal, case_id: str, body: str) -> domain.Case:
    """The traveler's or an agent's message; an agent's answer is emailed to the traveler."""
    case, change, author = _change(viewer, case_id,
                                   lambda c, who: domain.post_message(c, who, body, clock.now()))
    assert change.message is not None
    if author == domain.AGENT:
        # After the commit: the notification worker sends it, retried there if SES fails.
        enqueue_answer_email(case_id, change.message.seq)
    count("SupportAgentAnswer" if author == domain.AGENT else "SupportTravelerMessage")
    return _with_messages(domain.apply(case, change))


def resolve_case(viewer: Principal, case_id: str) -> domain.Case:
    case, change, _ = _change(viewer, case_id, lambda c, who: domain.resolve(c, who, clock.now()))
    count("SupportCaseResolved")
    return _with_messages(domain.apply(case, change))


def list_my_cases(traveler: Principal, *, limit: int, cursor: str | None) -> tuple[list[domain.Case], str | None]:
    """Newest first. The cursor's scope names the traveler: it cannot walk another's cases."""
    query = functools.partial(SupportCase.by_traveler.query, traveler.user_id, scan_index_forward=False)
    items, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor,
                                               scope=f"me-support-cases:{traveler.user_id}")
    return [_to_domain(item) for item in items], next_cursor


def agent_queue(agent: Principal, *, status: str, limit: int,
                cursor: str | None) -> tuple[list[QueueEntry], str | None]:
    """A status's cases, oldest waiting first: one query on the queue index, never a scan."""
    query = functools.partial(SupportCase.by_queue.query, status, scan_index_forward=True)
    items, next_cursor = pagination.query_page(query, limit=limit, cursor=cursor, scope=f"agent-cases:{status}")
    cases = [_to_domain(item) for item in items]
    statuses = _booking_statuses(agent, {c.booking_id for c in cases if c.booking_id})
    return [QueueEntry(c, statuses.get(c.booking_id) if c.booking_id else None) for c in cases], next_cursor


def _booking_statuses(agent: Principal, booking_ids: set[str]) -> dict[str, str]:
    """Each booking's status now, through the booking context's service (one read per distinct
    booking of the page; the reference was copied into the case when it was opened)."""
    now = clock.now()
    found = {}
    for booking_id in sorted(booking_ids):
        try:
            found[booking_id] = bookings.get_booking(agent, booking_id).effective_status(now)
        except NotFound:
            continue
    return found
