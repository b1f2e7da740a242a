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

import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from pynamodb.exceptions import DoesNotExist

from ..core import clock, idempotency
from ..core.auth import Principal
from ..core.errors import (ApiError, IdempotencyKeyReused, InvalidState, RefundExceedsCaptured,
                           ServiceUnavailable)
from ..core.lazy import lazy_module
from ..core.observability import count, logger
from ..notify.templates import format_money
from . import domain, records
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
RESUME_AFTER_SECONDS = 60  # a RESERVED refund older than this is resumed by the sweeper
# A PENDING refund whose provider event has not come after this is asked about (and again
# after as long, while the provider still says pending). Stripe usually decides within minutes.
PENDING_CHECK_SECONDS = 3600
PROVIDER_ACTOR = "payment-provider"
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
    """Nothing was refunded: the reservation is released and the refusal is the key's answer."""
    error: ApiError = (RefundExceedsCaptured(f"The payment provider refused the refund: {exc}")
                       if isinstance(exc, AmountExceeded) else InvalidState(f"The refund was refused: {exc}"))
    answer = _release(booking, record, error)
    if unattended:
        _report(booking.booking_id, f"refund-refused:{booking.booking_id}:{record.refund_key}",
                "A refund was refused",
                f"The payment provider refused the refund of {_format(record)} requested by {record.actor} "
                f"(reason: {record.reason}): {exc} Nothing was refunded.")
    if isinstance(exc, AmountExceeded):
        _align_with_provider(booking.booking_id)
    return answer


def _record(booking: domain.Booking, record: RefundRecord, done: Refund) -> RefundResult | idempotency.Replay:
    amount, status = int(record.amount), PENDING if done.status == REFUND_PENDING else SUCCEEDED
    result = RefundResult(refund_id_of(record.refund_key), amount, booking.currency, status)
    now = clock.now()
    at = domain.stamp(now)

    def build(booking: domain.Booking, seq: int) -> LabelledTransaction:
        t = LabelledTransaction()
        t.add(PUT, ("ledger",), lambda tx: tx.save(
            LedgerEntry(booking.booking_id, seq, at=at, kind="refund", amount=amount, currency=booking.currency,
                        actor=record.actor, reason=record.reason, provider_ref=done.refund_id),
            condition=LedgerEntry.seq.does_not_exist()))
        t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, record.request_key, record.request_hash,
                                                                          201, result.body(), now))
        entry = TimelineEntryAttribute(at=at, event="refund_pending" if status == PENDING else "refunded",
                                       by=record.actor, note=record.reason, amount=amount)
        t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=[
            Booking.refunded_amount.add(amount), Booking.refunds_in_flight.delete({record.refund_key}),
            Booking.ledger_seq.set(seq), Booking.updated_at.set(at),
            Booking.timeline.set(Booking.timeline.append([entry]))],
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
        if any(f.code == "ConditionalCheckFailed" and f.label and f.label[0] not in ("ledger", "booking")
               for f in failures):
            return True
        time.sleep(random.uniform(0.005, 0.03) * min(attempt + 1, 5))
        booking = records.load(booking.booking_id) or booking
    raise ServiceUnavailable("The booking is busy; retry with the same Idempotency-Key.", headers={"Retry-After": "1"})


def _release(booking: domain.Booking, record: RefundRecord, error: ApiError) -> idempotency.Replay:
    """The provider refused: give the room back, no ledger entry; the answer is kept for the key."""
    now = clock.now()
    at = domain.stamp(now)
    t = LabelledTransaction()
    t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, record.request_key, record.request_hash,
                                                                      error.status, error.body(), now))
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=[
        Booking.refund_room.add(int(record.amount)), Booking.refunds_in_flight.delete({record.refund_key})],
        condition=Booking.refunds_in_flight.contains(record.refund_key)))
    t.add(UPDATE, ("refund",), lambda tx: tx.update(RefundRecord(record.booking_id, record.refund_key), actions=[
        RefundRecord.status.set(FAILED), RefundRecord.failure.set(error.message[:300]),
        RefundRecord.updated_at.set(at), RefundRecord.pending.remove(), RefundRecord.pending_until.remove()],
        condition=RefundRecord.status == RESERVED))
    failures = t.commit()
    if failures:
        previous = idempotency.replay(record.request_key, record.request_hash)
        if previous is not None:
            return previous
    logger.warning("refund refused by the provider", extra={"booking_id": booking.booking_id,
                                                            "error": error.message})
    return idempotency.Replay(error.status, error.body())


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


def _align_with_provider(booking_id: str) -> None:
    """The provider refused a refund as more than is left, so it holds less refundable than our
    ledger says (money refunded outside Itinera, e.g. from Stripe's dashboard). The refund room
    comes down to what the provider has left, so agents are not offered money that cannot go
    back, with an audit entry and a case in the agents' queue. Only while no other refund is in
    flight (theirs may be part of the difference); a later refusal aligns again."""
    booking = records.load(booking_id)
    if booking is None or booking.refunds_in_flight or not booking.payment_id:
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
    why = (f"the payment provider has {left} left to refund, our ledger {booking.refund_room}: "
           f"refunded outside Itinera")
    t = LabelledTransaction()
    t.add(PUT, ("audit",), lambda tx: tx.save(audit_entry(booking_id, PROVIDER_ACTOR, "refund_room_aligned", now,
                                                          amount=booking.refund_room - left, reason=why)))
    t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking_id), actions=[
        Booking.refund_room.set(left), Booking.updated_at.set(domain.stamp(now))],
        condition=(Booking.ledger_seq == booking.ledger_seq) & (Booking.refund_room == booking.refund_room) &
        Booking.refunds_in_flight.does_not_exist()))
    if t.commit():
        return  # the booking moved meanwhile
    count("RefundRoomAligned")
    logger.warning("refund room aligned with the provider", extra={"booking_id": booking_id, "left": left})
    _report(booking_id, f"refund-room-aligned:{booking_id}:{booking.ledger_seq}:{left}",
            "The payment provider holds less than our ledger",
            f"The payment provider refused a refund: it has {format_money(money(left, booking.currency))} "
            f"left to refund where our ledger had "
            f"{format_money(money(booking.refund_room, booking.currency))}. Money was refunded outside "
            f"Itinera; the refundable amount is now what the provider has left.")


def settle_pending(provider_refund_id: str, provider_status: str) -> str:
    """The provider's later word on a refund it reported pending (Stripe's refund.updated, or
    the sweeper asking): succeeded settles ours; failed or canceled reverses it (the money did
    not go back), and the agents' queue gets a case about it."""
    keys = list(RefundRecord.by_provider_id.query(provider_refund_id))
    if not keys:
        return "unknown"
    record = _get(keys[0].booking_id, keys[0].refund_key)
    if record is None:
        return "skipped"
    if record.status == FAILED and record.ledger_seq is not None:
        _report_reversal(record)  # reversed before; the report may not have been made (a crash)
        return "skipped"
    if record.status != PENDING:
        return "skipped"
    at = domain.stamp(clock.now())
    if provider_status == REFUND_SUCCEEDED:
        RefundRecord(record.booking_id, record.refund_key).update(actions=[
            RefundRecord.status.set(SUCCEEDED), RefundRecord.updated_at.set(at), RefundRecord.pending.remove(),
            RefundRecord.pending_until.remove()], condition=RefundRecord.status == PENDING)
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
            RefundRecord.updated_at.set(at), RefundRecord.pending.remove(), RefundRecord.pending_until.remove()],
            condition=RefundRecord.status == PENDING))
        return t

    booking = records.load(record.booking_id)
    assert booking is not None, "a recorded refund's booking exists"
    if _append_to_ledger(booking, build):
        return "skipped"  # settled meanwhile (a redelivered event, the sweeper)
    count("RefundsReversed")
    logger.warning("refund failed at the provider; reversed", extra={"booking_id": booking.booking_id})
    _report_reversal(record)
    return "reversed"


def check_pending(now: float | None = None) -> int:
    """The sweeper: a refund still PENDING when its check time came (the provider's event was
    lost, or is late) is asked about; settled if the provider has decided, asked again later
    if not. Returns how many were settled."""
    now = clock.now() if now is None else now
    settled = 0
    for item in RefundRecord.by_pending.query(PENDING, RefundRecord.pending_until <= int(now)):
        try:
            record = _get(item.booking_id, item.refund_key)
            if record is None or record.status != PENDING or not record.provider_refund_id:
                continue
            state = payment_provider().retrieve_refund(record.provider_refund_id)
            if state.status == REFUND_PENDING:
                RefundRecord(record.booking_id, record.refund_key).update(
                    actions=[RefundRecord.pending_until.set(int(now) + PENDING_CHECK_SECONDS)],
                    condition=RefundRecord.status == PENDING)
                continue
            settled += settle_pending(record.provider_refund_id, state.status) in ("succeeded", "reversed")
        except Exception:  # one refund must not stop the others; the next sweep asks again
            logger.exception("could not check a pending refund", extra={"booking_id": item.booking_id})
    return settled


def _report_reversal(record: RefundRecord) -> None:
    """The agents' queue shows a refund the provider failed after we told the traveler it was
    on its way: a case on the traveler's booking, once per refund."""
    _report(record.booking_id, f"refund-failed:{record.booking_id}:{record.refund_key}",
            "A refund did not go through",
            f"The payment provider failed the refund of {_format(record)} issued by {record.actor} "
            f"(reason: {record.reason}). The amount is refundable again: issue a new refund or contact "
            f"the traveler.")


def _report(booking_id: str, occurrence: str, subject: str, message: str) -> None:
    booking = records.load(booking_id)
    assert booking is not None
    support.open_system_case(occurrence=occurrence, traveler_id=booking.traveler_id,
                             traveler_email=booking.contact.email, traveler_name=booking.contact.name,
                             booking_id=booking_id, booking_reference=booking.reference,
                             subject=subject, message=message)


def _format(record: RefundRecord) -> str:
    return format_money(money(int(record.amount), record.currency))


def _get(booking_id: str, refund_key: str) -> RefundRecord | None:
    try:
        return RefundRecord.get(booking_id, refund_key, consistent_read=True)
    except DoesNotExist:
        return None
