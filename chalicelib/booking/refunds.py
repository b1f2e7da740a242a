"""Agent refunds of a CONFIRMED or CANCELLED booking (API.md "Support agents").

A refund is (booking, agent, Idempotency-Key). Two DynamoDB round trips around the provider:

1. **Reserve** (one transaction): the booking's `refund_room` (captured - refunded - refunds in
   flight) goes down by the amount, conditioned on `refund_room >= amount` and the status, and
   the refund's key joins `refunds_in_flight`; with it the `RefundRecord` (RESERVED) and the
   audit entry of the request. Agents refunding the same booking at once can never pass the
   capture: each reservation is one atomic conditional update, no read-then-write.
2. **The provider** refunds under a key derived from this refund: a retry replays it.
3. **Record** (one transaction): the ledger entry (the next sequence number, conditioned on the
   booking's sequence as read), the booking's `refunded_amount`, the key out of
   `refunds_in_flight`, the refund SUCCEEDED (or PENDING: the provider settles it later, and its
   event settles ours) and the request's idempotency record.

Every outcome is handled: a provider that refuses (less left than we think, not captured)
releases the reservation and leaves no ledger entry; a provider that does not answer (timeout,
busy) leaves the refund RESERVED and answers 503: the agent's retry with the same key resumes
it, and so does the sweeper after `RESUME_AFTER_SECONDS`, so a process that died between the
provider's answer and our record still ends in the ledger. A refusal nobody was waiting for
(the sweeper's) opens a case in the agents' queue. "Less left than we think" also brings the
refund room down to what the provider has left.

A PENDING refund is settled by the provider's event (`settle_pending`): succeeded, or failed
and reversed with a ledger entry of its own and a case in the agents' queue. If the event never
comes, the sweeper asks the provider (`check_pending`) every `PENDING_CHECK_SECONDS`.
"""
from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from pynamodb.exceptions import DoesNotExist, UpdateError

from ..core import clock, idempotency
from ..core.auth import Principal
from ..core.errors import (ApiError, IdempotencyKeyReused, InvalidState, RefundExceedsCaptured,
                           ServiceUnavailable)
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from ..notify.templates import format_money
from . import domain, records, vendor_events
from .audit import audit_entry, staff_actor
from .cancellation import load_for
from .models import Booking, LedgerEntry, RefundRecord, TimelineEntryAttribute
from .notifications import enqueue_email
from .payments import provider as payment_provider
from .payments.port import (REFUND_CANCELED, REFUND_FAILED, REFUND_PENDING, REFUND_SUCCEEDED, AmountExceeded,
                            IdempotencyKeyReused as ProviderKeyReused, InvalidPaymentState, PaymentError,
                            ProviderBusy, ProviderUnavailable, Refund, UnknownPayment)
from .transactions import PUT, UPDATE, LabelledTransaction
from .views import money

# Another context is reached through its service functions only (DESIGN "Shape").
support = lazy_module("chalicelib.support.service")

ROUTE = "POST /bookings/{id}/refunds"
RESERVED, PENDING, SUCCEEDED, FAILED = "RESERVED", "PENDING", "SUCCEEDED", "FAILED"
REPORT = "REPORT"  # `pending` of a final refund whose case the agents' queue has not got yet
REVERSED, REFUSED = "reversed", "refused"  # what the case says (RefundRecord.report)
RESUME_AFTER_SECONDS = 60  # a RESERVED refund older than this is resumed by the sweeper
# A PENDING refund whose provider event has not come after this is asked about (and again
# after as long, while the provider still says pending). Stripe usually decides within minutes.
PENDING_CHECK_SECONDS = 3600
PROVIDER_ACTOR = "payment-provider"
CANCELLATION_KEY = "cancellation"  # the RefundRecord of a cancellation's pending refund
_RECORD_ATTEMPTS = 30  # concurrent refunds of one booking take ledger numbers one at a time


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    amount: int
    currency: str
    status: str

    def body(self) -> dict[str, Any]:
        return {"refund_id": self.refund_id, "amount": money(self.amount, self.currency), "status": self.status}


def refund_id_of(refund_key: str) -> str:
    return "rf_" + refund_key[:24]


def refund(viewer: Principal, booking_id: str, amount: int, reason: str, idempotency_key: str,
           now: float | None = None) -> RefundResult | idempotency.Replay:
    """POST /bookings/{id}/refunds: 201 with the refund, or the key's first answer again."""
    now = clock.now() if now is None else now
    booking = load_for(viewer, booking_id)
    key = idempotency.record_key("refunds", viewer.user_id, idempotency_key)
    request_hash = domain.fingerprint(ROUTE, booking_id, amount, reason)
    previous = idempotency.replay(key, request_hash)
    if previous is not None:
        return previous
    refund_key = domain.attempt_id(key)
    reserved = _reserve(booking, refund_key, amount, reason, staff_actor(viewer), request_hash, key, now)
    if not isinstance(reserved, RefundRecord):
        return reserved  # this key's refund, already answered
    return _complete(reserved)


def _reserve(booking: domain.Booking, refund_key: str, amount: int, reason: str, actor: str,
             request_hash: str, key: str, now: float) -> RefundRecord | RefundResult | idempotency.Replay:
    """Round trip 1, or the refund this key already reserved (a retry, or a twin at once)."""
    existing = _get(booking.booking_id, refund_key)
    if existing is None:
        booking.check_refund(amount)
        at = domain.stamp(now)
        record = RefundRecord(booking.booking_id, refund_key, request_key=key, request_hash=request_hash, amount=amount,
                              currency=booking.currency, reason=reason, actor=actor, status=RESERVED,
                              created_at=at, updated_at=at, pending=RESERVED,
                              pending_until=int(now) + RESUME_AFTER_SECONDS)
        t = LabelledTransaction()
        t.add(PUT, ("refund",), lambda tx: tx.save(record, condition=RefundRecord.refund_key.does_not_exist()))
        t.add(PUT, ("audit",), lambda tx: tx.save(audit_entry(booking.booking_id, actor, "refund_requested", now,
                                                              amount=amount, reason=reason)))
        t.add(UPDATE, ("booking",), lambda tx: tx.update(
            Booking(booking.booking_id),
            actions=[Booking.refund_room.add(-amount), Booking.refunds_in_flight.add({refund_key})],
            condition=Booking.status.is_in(domain.CONFIRMED, domain.CANCELLED) & (Booking.refund_room >= amount)))
        failures = t.commit()
        if not failures:
            count("RefundsRequested")
            return record
        labels = {f.label[0] for f in failures if f.label}
        if "refund" not in labels:
            if any(f.code == "TransactionConflict" for f in failures):
                raise ServiceUnavailable("The booking is busy; retry with the same Idempotency-Key.",
                                         headers={"Retry-After": "1"})
            # The booking moved since we read it (another refund took the room, it is cancelling).
            (records.load(booking.booking_id) or booking).check_refund(amount)
            raise InvalidState("The booking changed while refunding; retry.", {"status": booking.status})
        existing = _get(booking.booking_id, refund_key)
        if existing is None:
            raise ServiceUnavailable("Retry with the same Idempotency-Key.", headers={"Retry-After": "1"})
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.",
                                   {"header": "Idempotency-Key"})
    if existing.status in (SUCCEEDED, PENDING):  # recorded meanwhile (a twin, or the sweeper)
        return RefundResult(refund_id_of(refund_key), int(existing.amount), existing.currency, existing.status)
    if existing.status == FAILED:
        return idempotency.replay(key, request_hash) or idempotency.Replay(
            409, InvalidState(f"The refund was refused: {existing.failure}").body())
    return existing


def _complete(record: RefundRecord, *, unattended: bool = False) -> RefundResult | idempotency.Replay:
    """The provider, then round trip 2 (or the release when the provider refused). `unattended`:
    the sweeper finishing it, no agent waiting for the answer, so a refusal goes to the queue."""
    booking = records.load(record.booking_id)
    assert booking is not None, "a reserved refund's booking exists"
    provider = payment_provider()
    try:
        done = provider.refund(booking.payment_id or "", amount=int(record.amount),
                               idempotency_key=domain.provider_key(booking.booking_id, "refund", record.refund_key))
    except (ProviderUnavailable, ProviderBusy) as exc:
        # Unknown whether the provider did it: the reservation stays, a retry (or the sweeper)
        # asks again under the same key.
        logger.warning("refund not answered by the provider", extra={"booking_id": booking.booking_id,
                                                                     "error": str(exc)})
        raise ServiceUnavailable("The payment provider did not answer; retry with the same Idempotency-Key.",
                                 headers={"Retry-After": "2"}) from None
    except (AmountExceeded, InvalidPaymentState, UnknownPayment, ProviderKeyReused) as exc:
        return _refused(booking, record, exc, unattended)
    if done.status in (REFUND_FAILED, REFUND_CANCELED):
        # Already failed when we heard of it (a replay after the refund failed): nothing moved.
        return _refused(booking, record, PaymentError(f"the refund {done.refund_id} {done.status}."), unattended)
    return _record(booking, record, done)


def _refused(booking: domain.Booking, record: RefundRecord, exc: PaymentError,
             unattended: bool) -> idempotency.Replay:
    """Nothing was refunded: the reservation is released and the refusal is the key's answer.
    Nobody waiting (the sweeper's): the agents' queue is told. Told only if this call released
    it: a twin may have recorded the refund meanwhile."""
    error: ApiError = (RefundExceedsCaptured(f"The payment provider refused the refund: {exc}")
                       if isinstance(exc, AmountExceeded) else InvalidState(f"The refund was refused: {exc}"))
    answer, released = _release(booking, record, error, report=REFUSED if unattended else None)
    if released and unattended:
        _deliver_report(record.booking_id, record.refund_key)
    if released and isinstance(exc, AmountExceeded):
        _align_with_provider(booking.booking_id)
    return answer


def _record(booking: domain.Booking, record: RefundRecord, done: Refund) -> RefundResult | idempotency.Replay:
    amount, status = int(record.amount), PENDING if done.status == REFUND_PENDING else SUCCEEDED
    result = RefundResult(refund_id_of(record.refund_key), amount, booking.currency, status)
    now = clock.now()
    at = domain.stamp(now)

    announced: list[vendor_events.Announcement] = []

    def build(booking: domain.Booking, seq: int) -> LabelledTransaction:
        t = LabelledTransaction()
        t.add(PUT, ("ledger",), lambda tx: tx.save(
            LedgerEntry(booking.booking_id, seq, at=at, kind="refund", amount=amount, currency=booking.currency,
                        actor=record.actor, reason=record.reason, provider_ref=done.refund_id),
            condition=LedgerEntry.seq.does_not_exist()))
        # The vendors hear of it in the same transaction (booking.vendor_events).
        after = vendor_events.next_number(dataclasses.replace(booking, refunded_amount=booking.refunded_amount + amount))
        # Stamped at this try, not before the first: a twin's event may have taken the number
        # meanwhile, and a booking's events are in time order as in sequence order.
        announcement = vendor_events.announce(after, "booking.refunded", clock.now(), extra={"refund": {
            "refund_id": result.refund_id, "amount": money(amount, booking.currency), "status": status}})
        announced[:] = [announcement]
        for kind, label, operation in announcement.operations:
            t.add(kind, label, operation)
        t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, record.request_key, record.request_hash,
                                                                          201, result.body(), now))
        entry = TimelineEntryAttribute(at=at, event="refund_pending" if status == PENDING else "refunded",
                                       by=record.actor, note=record.reason, amount=amount)
        t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=[
            Booking.refunded_amount.add(amount), Booking.refunds_in_flight.delete({record.refund_key}),
            Booking.ledger_seq.set(seq), Booking.updated_at.set(at),
            Booking.timeline.set(Booking.timeline.append([entry])), announcement.booking_action()],
            condition=(Booking.ledger_seq == booking.ledger_seq) & Booking.refunds_in_flight.contains(record.refund_key)))
        t.add(UPDATE, ("refund",), lambda tx: tx.update(RefundRecord(record.booking_id, record.refund_key), actions=[
            RefundRecord.status.set(status), RefundRecord.ledger_seq.set(seq), RefundRecord.updated_at.set(at),
            RefundRecord.provider_refund_id.set(done.refund_id),
            # A pending refund is asked about again if the provider's event has not come by then.
            *([RefundRecord.pending.set(PENDING), RefundRecord.pending_until.set(int(now) + PENDING_CHECK_SECONDS)]
              if status == PENDING else [RefundRecord.pending.remove(), RefundRecord.pending_until.remove()])],
            condition=RefundRecord.status == RESERVED))
        return t

    if _append_to_ledger(booking, build):
        # A twin (the same request at once, or the sweeper) recorded it first.
        return idempotency.replay(record.request_key, record.request_hash) or result
    announced[0].dispatch()
    count("RefundsIssued")
    logger.info("refund recorded", extra={"booking_id": booking.booking_id, "amount": amount, "status": status})
    enqueue_email(booking.booking_id, "refunded", refund=amount, key=f"refund:{record.refund_key}")
    return result


def _append_to_ledger(booking: domain.Booking, build: Callable[[domain.Booking, int], LabelledTransaction]) -> bool:
    """Commits `build(booking, seq)`: a transaction writing ledger entry `seq` (the booking's next
    number) with the booking conditioned on the `ledger_seq` it was built from. Another writer
    taking that number first fails only the "ledger"/"booking" conditions: reread, build again.
    Returns False once committed, True when another of its conditions failed: a twin did this
    work first. (Only ConditionalCheckFailed says so; a TransactionConflict is tried again.)"""
    for attempt in range(_RECORD_ATTEMPTS):
        failures = build(booking, booking.ledger_seq + 1).commit()
        if not failures:
            return False
        # "webhook": the vendors' event takes the booking's next event number, which another
        # writer may have taken first, exactly like the ledger's.
        if any(f.code == "ConditionalCheckFailed" and f.label and f.label[0] not in ("ledger", "booking", "webhook")
               for f in failures):
            return True
        time.sleep(random.uniform(0.005, 0.03) * min(attempt + 1, 5))
        booking = records.load(booking.booking_id) or booking
    raise ServiceUnavailable("The booking is busy; retry with the same Idempotency-Key.", headers={"Retry-After": "1"})


def _release(booking: domain.Booking, record: RefundRecord, error: ApiError, *,
             report: str | None = None) -> tuple[idempotency.Replay, bool]:
    """The provider refused: give the room back, no ledger entry, the refusal audited (with the
    provider's words, for agents); the answer is kept for the key. Returns it, and whether this
    call released the reservation."""
    now = clock.now()
    at = domain.stamp(now)
    t = LabelledTransaction()
    t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, record.request_key, record.request_hash,
                                                                      error.status, error.body(), now))
    t.add(PUT, ("audit",), lambda tx: tx.save(audit_entry(booking.booking_id, PROVIDER_ACTOR, "refund_refused", now,
                                                          amount=int(record.amount), reason=error.message[:300])))
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=[
        Booking.refund_room.add(int(record.amount)), Booking.refunds_in_flight.delete({record.refund_key})],
        condition=Booking.refunds_in_flight.contains(record.refund_key)))
    t.add(UPDATE, ("refund",), lambda tx: tx.update(RefundRecord(record.booking_id, record.refund_key), actions=[
        RefundRecord.status.set(FAILED), RefundRecord.failure.set(error.message[:300]),
        RefundRecord.updated_at.set(at), *_report_actions(report, now)],
        condition=RefundRecord.status == RESERVED))
    failures = t.commit()
    if failures:
        previous = idempotency.replay(record.request_key, record.request_hash)
        if previous is not None:
            return previous, False
    logger.warning("refund refused by the provider", extra={"booking_id": booking.booking_id,
                                                            "error": error.message})
    return idempotency.Replay(error.status, error.body()), not failures


def _report_actions(report: str | None, now: float) -> list[Any]:
    """The refund leaves the pending index, or waits in it (REPORT) until its case exists."""
    if report is None:
        return [RefundRecord.pending.remove(), RefundRecord.pending_until.remove()]
    return [RefundRecord.pending.set(REPORT), RefundRecord.pending_until.set(int(now)),
            RefundRecord.report.set(report)]


def resume_reserved(now: float | None = None) -> int:
    """The sweeper: finish refunds left RESERVED (the provider's answer never recorded)."""
    now = clock.now() if now is None else now
    finished = 0
    for record in RefundRecord.by_pending.query(RESERVED, RefundRecord.pending_until <= int(now)):
        try:
            stored = _get(record.booking_id, record.refund_key)
            if stored is not None and stored.status == RESERVED:
                _complete(stored, unattended=True)
                finished += 1
        except Exception:  # one refund must not stop the others
            logger.exception("could not resume a refund", extra={"booking_id": record.booking_id})
    return finished


def deliver_reports(now: float | None = None) -> int:
    """The sweeper: cases the agents' queue has not been given yet (the process died between
    deciding a refund and opening its case)."""
    now = clock.now() if now is None else now
    delivered = 0
    for record in RefundRecord.by_pending.query(REPORT, RefundRecord.pending_until <= int(now)):
        try:
            delivered += _deliver_report(record.booking_id, record.refund_key)
        except Exception:
            logger.exception("could not report a refund", extra={"booking_id": record.booking_id})
    return delivered


def _deliver_report(booking_id: str, refund_key: str) -> bool:
    """Opens the case a refund's `report` asks for (once: the case id is the occurrence's),
    then clears the marker. Safe to call twice, at once or after a crash."""
    record = _get(booking_id, refund_key)
    booking = records.load(booking_id)
    if record is None or record.pending != REPORT or booking is None:
        return False
    amount, reference = _format(record), booking.reference
    if record.report == REVERSED:
        _report(booking, f"refund-failed:{booking_id}:{refund_key}", "A refund did not go through",
                f"The refund of {amount} on booking {reference} did not go through at the payment provider: "
                f"the money was not returned. An agent will look into it and answer here.")
    else:
        _report(booking, f"refund-refused:{booking_id}:{refund_key}", "A refund could not be issued",
                f"The refund of {amount} on booking {reference} could not be issued by the payment provider. "
                f"An agent will look into it and answer here.")
    try:
        RefundRecord(booking_id, refund_key).update(
            actions=[RefundRecord.pending.remove(), RefundRecord.pending_until.remove(), RefundRecord.report.remove()],
            condition=RefundRecord.pending == REPORT)
    except UpdateError:
        pass  # a twin cleared it: the case is the same one
    return True


def _align_with_provider(booking_id: str) -> None:
    """The provider refused a refund as more than is left, so it holds less refundable than our
    ledger says (money refunded outside Itinera, e.g. from Stripe's dashboard). The refund room
    comes down to what the provider has left, so agents are not offered money that cannot go
    back, with an audit entry and a case in the agents' queue. Only on a CONFIRMED or CANCELLED
    booking with no other refund in flight (theirs, or a cancellation's, may be part of the
    difference); a later refusal aligns again."""
    booking = records.load(booking_id)
    if booking is None or booking.refunds_in_flight or not booking.payment_id or \
            booking.status not in (domain.CONFIRMED, domain.CANCELLED):
        return
    try:
        state = payment_provider().retrieve(booking.payment_id)
    except PaymentError as exc:
        logger.warning("could not read the payment to align refunds", extra={"booking_id": booking_id,
                                                                            "error": str(exc)})
        return
    left = max(0, state.captured_amount - state.refunded_amount)
    if booking.refund_room <= left:
        return
    now = clock.now()
    shown_left, shown_room = (format_money(money(n, booking.currency)) for n in (left, booking.refund_room))
    # The case first (its id is this discrepancy's): it is true whether or not the write below
    # wins, and a crash after the write cannot lose it.
    _report(booking, f"refund-room-aligned:{booking_id}:{booking.ledger_seq}:{left}",
            "The refunds of a booking need checking",
            f"The payment provider reports {shown_left} left to refund on booking {booking.reference}, less "
            f"than our records ({shown_room}). Refunds are limited to what the provider has left; an agent "
            f"will check this booking's refunds.")
    why = (f"the payment provider has {left} left to refund, our ledger {booking.refund_room}: "
           f"refunded outside Itinera")
    t = LabelledTransaction()
    t.add(PUT, ("audit",), lambda tx: tx.save(audit_entry(booking_id, PROVIDER_ACTOR, "refund_room_aligned", now,
                                                          amount=booking.refund_room - left, reason=why)))
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking_id), actions=[
        Booking.refund_room.set(left), Booking.updated_at.set(domain.stamp(now))],
        condition=(Booking.ledger_seq == booking.ledger_seq) & (Booking.refund_room == booking.refund_room) &
        Booking.refunds_in_flight.does_not_exist() & Booking.status.is_in(domain.CONFIRMED, domain.CANCELLED)))
    if t.commit():
        return  # the booking moved meanwhile
    count("RefundRoomAligned")
    logger.warning("refund room aligned with the provider", extra={"booking_id": booking_id, "left": left})


def settle_pending(provider_refund_id: str, provider_status: str) -> str:
    """The provider's later word on a refund it reported pending (Stripe's refund.updated, or
    the sweeper asking): succeeded settles ours; failed or canceled reverses it (the money did
    not go back), and the agents' queue gets a case about it."""
    keys = list(RefundRecord.by_provider_id.query(provider_refund_id))
    if not keys:
        return "unknown"
    record = _get(keys[0].booking_id, keys[0].refund_key)
    if record is None or record.status != PENDING:
        return "skipped"
    now = clock.now()
    at = domain.stamp(now)
    if provider_status == REFUND_SUCCEEDED:
        try:
            RefundRecord(record.booking_id, record.refund_key).update(actions=[
                RefundRecord.status.set(SUCCEEDED), RefundRecord.updated_at.set(at), RefundRecord.pending.remove(),
                RefundRecord.pending_until.remove()], condition=RefundRecord.status == PENDING)
        except UpdateError:
            return "skipped"  # a twin (the same event at once, the sweeper) settled it
        return "succeeded"
    if provider_status not in (REFUND_FAILED, REFUND_CANCELED):
        return "skipped"
    amount = int(record.amount)

    def build(booking: domain.Booking, seq: int) -> LabelledTransaction:
        t = LabelledTransaction()
        t.add(PUT, ("ledger",), lambda tx: tx.save(
            LedgerEntry(booking.booking_id, seq, at=at, kind="refund_reversal", amount=amount,
                        currency=booking.currency, actor=PROVIDER_ACTOR, reason=f"refund {provider_status}",
                        provider_ref=provider_refund_id), condition=LedgerEntry.seq.does_not_exist()))
        entry = TimelineEntryAttribute(at=at, event="refund_failed", by=PROVIDER_ACTOR, amount=amount)
        t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=[
            Booking.refunded_amount.add(-amount), Booking.refund_room.add(amount), Booking.ledger_seq.set(seq),
            Booking.updated_at.set(at), Booking.timeline.set(Booking.timeline.append([entry]))],
            condition=Booking.ledger_seq == booking.ledger_seq))
        t.add(UPDATE, ("refund",), lambda tx: tx.update(RefundRecord(record.booking_id, record.refund_key), actions=[
            RefundRecord.status.set(FAILED), RefundRecord.failure.set(f"the provider reported it {provider_status}"),
            RefundRecord.updated_at.set(at), *_report_actions(REVERSED, now)],
            condition=RefundRecord.status == PENDING))
        return t

    booking = records.load(record.booking_id)
    assert booking is not None, "a recorded refund's booking exists"
    if _append_to_ledger(booking, build):
        return "skipped"  # settled meanwhile (a redelivered event, the sweeper)
    count("RefundsReversed")
    logger.warning("refund failed at the provider; reversed", extra={"booking_id": booking.booking_id})
    try:
        _deliver_report(record.booking_id, record.refund_key)
    except Exception:  # the marker stays: the sweeper opens the case
        logger.exception("could not report a reversed refund yet", extra={"booking_id": booking.booking_id})
    return "reversed"


def check_pending(now: float | None = None) -> int:
    """The sweeper: a refund still PENDING when its check time came (the provider's event was
    lost, or is late) is asked about; settled if the provider has decided, asked again later
    if not. A provider that does not know the refund (or answers nonsense) is asked again at
    the same pace, and the agents' queue gets one case about it. Returns how many settled."""
    now = clock.now() if now is None else now
    settled = 0
    for item in RefundRecord.by_pending.query(PENDING, RefundRecord.pending_until <= int(now)):
        try:
            record = _get(item.booking_id, item.refund_key)
            if record is None or record.status != PENDING or not record.provider_refund_id:
                continue
            try:
                state = payment_provider().retrieve_refund(record.provider_refund_id)
            except (ProviderUnavailable, ProviderBusy):
                continue  # asked again at the next sweep
            except PaymentError as exc:
                _later(record, now)
                booking = records.load(record.booking_id)
                assert booking is not None, "a recorded refund's booking exists"
                _report(booking, f"refund-unknown:{record.booking_id}:{record.refund_key}",
                        "A refund needs checking",
                        f"The refund of {_format(record)} on booking {booking.reference} is still "
                        f"waiting for the payment provider, which cannot say what became of it. An agent will "
                        f"check it and answer here.")
                logger.error("pending refund unknown to the provider", extra={"booking_id": record.booking_id,
                                                                              "error": str(exc)})
                continue
            if state.status == REFUND_PENDING:
                _later(record, now)
                continue
            settled += settle_pending(record.provider_refund_id, state.status) in ("succeeded", "reversed")
        except Exception:  # one refund must not stop the others; the next sweep asks again
            logger.exception("could not check a pending refund", extra={"booking_id": item.booking_id})
    return settled


def _later(record: RefundRecord, now: float) -> None:
    try:
        RefundRecord(record.booking_id, record.refund_key).update(
            actions=[RefundRecord.pending_until.set(int(now) + PENDING_CHECK_SECONDS)],
            condition=RefundRecord.status == PENDING)
    except UpdateError:
        pass  # settled meanwhile (its event came)


def _report(booking: domain.Booking, occurrence: str, subject: str, message: str) -> None:
    """A case in the agents' queue on the traveler's booking, once per occurrence. The traveler
    reads it too: the text says what happened to their money, the audit has the details."""
    support.open_system_case(occurrence=occurrence, traveler_id=booking.traveler_id,
                             traveler_email=booking.contact.email, traveler_name=booking.contact.name,
                             booking_id=booking.booking_id, booking_reference=booking.reference,
                             subject=subject, message=message)


def _format(record: RefundRecord) -> str:
    return format_money(money(int(record.amount), record.currency))


def pending_cancellation_refund(booking: domain.Booking, amount: int, provider_refund_id: str | None, actor: str,
                                now: float) -> tuple[str, Any, Callable[[Any], None]]:
    """The record of a cancellation's refund the provider settles later, for the transaction
    that finishes the cancellation: `settle_pending` and `check_pending` then follow it like an
    agent's (a failure is reversed and reported)."""
    at = domain.stamp(now)
    record = RefundRecord(booking.booking_id, CANCELLATION_KEY, request_key=f"cancellation:{booking.booking_id}",
                          request_hash="-", amount=amount, currency=booking.currency, reason="cancellation",
                          actor=actor, status=PENDING, provider_refund_id=provider_refund_id,
                          ledger_seq=booking.ledger_seq + 1, created_at=at, updated_at=at, pending=PENDING,
                          pending_until=int(now) + PENDING_CHECK_SECONDS)
    return PUT, ("refund",), lambda tx: tx.save(record, condition=RefundRecord.refund_key.does_not_exist())


def _get(booking_id: str, refund_key: str) -> RefundRecord | None:
    try:
        return RefundRecord.get(booking_id, refund_key, consistent_read=True)
    except DoesNotExist:
        return None
