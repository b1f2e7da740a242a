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
provider's answer and our record still ends in the ledger.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from ..core import clock, idempotency
from ..core.auth import Principal
from ..core.errors import (ApiError, IdempotencyKeyReused, InvalidState, RefundExceedsCaptured,
                           ServiceUnavailable)
from ..core.observability import count, logger
from . import domain, records
from .audit import audit_entry, staff_actor
from .cancellation import load_for
from .models import Booking, LedgerEntry, RefundRecord, TimelineEntryAttribute
from .notifications import enqueue_email
from .payments import provider as payment_provider
from .payments.port import (AmountExceeded, IdempotencyKeyReused as ProviderKeyReused, InvalidPaymentState,
                            ProviderBusy, ProviderUnavailable, Refund, UnknownPayment)
from .transactions import PUT, UPDATE, LabelledTransaction
from .views import money

ROUTE = "POST /bookings/{id}/refunds"
RESERVED, PENDING, SUCCEEDED, FAILED = "RESERVED", "PENDING", "SUCCEEDED", "FAILED"
RESUME_AFTER_SECONDS = 60  # a RESERVED refund older than this is resumed by the sweeper
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


def _complete(record: RefundRecord) -> RefundResult | idempotency.Replay:
    """The provider, then round trip 2 (or the release when the provider refused)."""
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
        error: ApiError = (RefundExceedsCaptured(f"The payment provider refused the refund: {exc}")
                           if isinstance(exc, AmountExceeded) else InvalidState(f"The refund was refused: {exc}"))
        return _release(booking, record, error)
    return _record(booking, record, done)


def _record(booking: domain.Booking, record: RefundRecord, done: Refund) -> RefundResult | idempotency.Replay:
    amount, status = int(record.amount), PENDING if done.status == "pending" else SUCCEEDED
    result = RefundResult(refund_id_of(record.refund_key), amount, booking.currency, status)
    for attempt in range(_RECORD_ATTEMPTS):
        now = clock.now()
        at, seq = domain.stamp(now), booking.ledger_seq + 1
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
            *([RefundRecord.pending.set(PENDING)] if status == PENDING else
              [RefundRecord.pending.remove(), RefundRecord.pending_until.remove()])],
            condition=RefundRecord.status == RESERVED))
        failures = t.commit()
        if not failures:
            count("RefundsIssued")
            logger.info("refund recorded", extra={"booking_id": booking.booking_id, "amount": amount,
                                                  "status": status})
            enqueue_email(booking.booking_id, "refunded", refund=amount, key=f"refund:{record.refund_key}")
            return result
        labels = {f.label[0] for f in failures if f.label}
        if "refund" in labels or "idempotency" in labels:
            # A twin (the same request at once, or the sweeper) recorded it first.
            return idempotency.replay(record.request_key, record.request_hash) or result
        time.sleep(random.uniform(0.005, 0.03) * min(attempt + 1, 5))  # another refund took the number
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
                _complete(stored)
                finished += 1
        except Exception:  # one refund must not stop the others
            logger.exception("could not resume a refund", extra={"booking_id": record.booking_id})
    return finished


def settle_pending(provider_refund_id: str, provider_status: str) -> str:
    """The provider's later word on a refund it reported pending (Stripe's refund.updated):
    succeeded settles ours; failed or canceled reverses it (the money did not go back)."""
    keys = list(RefundRecord.by_provider_id.query(provider_refund_id))
    if not keys:
        return "unknown"
    record = _get(keys[0].booking_id, keys[0].refund_key)
    if record is None or record.status != PENDING:
        return "skipped"
    at = domain.stamp(clock.now())
    if provider_status == "succeeded":
        RefundRecord(record.booking_id, record.refund_key).update(actions=[
            RefundRecord.status.set(SUCCEEDED), RefundRecord.updated_at.set(at), RefundRecord.pending.remove(),
            RefundRecord.pending_until.remove()], condition=RefundRecord.status == PENDING)
        return "succeeded"
    if provider_status not in ("failed", "canceled"):
        return "skipped"
    for attempt in range(_RECORD_ATTEMPTS):
        booking = records.load(record.booking_id)
        assert booking is not None
        amount, seq = int(record.amount), booking.ledger_seq + 1
        t = LabelledTransaction()
        t.add(PUT, ("ledger",), lambda tx: tx.save(
            LedgerEntry(booking.booking_id, seq, at=at, kind="refund_reversal", amount=amount,
                        currency=booking.currency, actor="payment-provider", reason=f"refund {provider_status}",
                        provider_ref=provider_refund_id), condition=LedgerEntry.seq.does_not_exist()))
        entry = TimelineEntryAttribute(at=at, event="refund_failed", by="payment-provider", amount=amount)
        t.add(UPDATE, ("booking",), lambda tx: tx.update(Booking(booking.booking_id), actions=[
            Booking.refunded_amount.add(-amount), Booking.refund_room.add(amount), Booking.ledger_seq.set(seq),
            Booking.updated_at.set(at), Booking.timeline.set(Booking.timeline.append([entry]))],
            condition=Booking.ledger_seq == booking.ledger_seq))
        t.add(UPDATE, ("refund",), lambda tx: tx.update(RefundRecord(record.booking_id, record.refund_key), actions=[
            RefundRecord.status.set(FAILED), RefundRecord.failure.set(f"the provider reported it {provider_status}"),
            RefundRecord.updated_at.set(at), RefundRecord.pending.remove(), RefundRecord.pending_until.remove()],
            condition=RefundRecord.status == PENDING))
        failures = t.commit()
        if not failures:
            count("RefundsReversed")
            logger.warning("refund failed at the provider; reversed", extra={"booking_id": booking.booking_id})
            return "reversed"
        if "refund" in {f.label[0] for f in failures if f.label}:
            return "skipped"
        time.sleep(random.uniform(0.005, 0.03))
    raise ServiceUnavailable("The booking is busy; the provider will send the event again.")


def _get(booking_id: str, refund_key: str) -> RefundRecord | None:
    try:
        return RefundRecord.get(booking_id, refund_key, consistent_read=True)
    except DoesNotExist:
        return None
