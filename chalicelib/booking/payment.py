"""Paying for a hold: authorize now, capture later (the confirmation worker).

A payment attempt is (booking, Idempotency-Key). Three DynamoDB round trips plus the provider:

0. one conditional UpdateItem counts the attempt against the traveler's per-minute limit
   (core.rate_limits), so an attempt over it never reaches the provider;
1. one conditional UpdateItem takes the booking's payment lock for the attempt and adds the
   attempt's id to the booking's `attempt_ids` (HELD, not expired, the caller's, at most 10
   attempts) and returns the booking;
2. the provider creates the attempt's payment and confirms (authorizes) it, both under keys
   derived from the attempt, so a retry of the same attempt gets the same payment back and
   another attempt can never get this one's;
3. one transaction applies `start_payment` (HELD -> CONFIRMING, ledger, the traveler's hold
   counter), records the attempt and stores the answer under the Idempotency-Key.

Whatever goes wrong after step 1, the attempt is listed on the booking, so cleanup finds and
voids its authorization unless the booking kept it (payment_cleanup). The request path voids
only what can never be kept: an attempt that lost to another one on a settled booking.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import size

from ..core import clock, idempotency, queues, rate_limits
from ..core.auth import Principal
from ..core.errors import (HoldExpired, IdempotencyKeyReused, NotFound, RateLimited,
                           RawCardNumber, RequestInProgress, ServiceUnavailable, ValidationError)
from ..core.http import error_body
from ..core.observability import count, logger
from . import domain, lifecycle, records
from .models import Booking, PaymentAttempt
from .payment_cleanup import create_payment, void_payment
from .payments import provider as payment_provider
from .payments.port import (AUTHORIZED, CAPTURED, Authorization, AuthorizationGone, InvalidPaymentState, Declined, IdempotencyKeyReused as ProviderKeyReused,
                            InvalidPaymentMethod, PaymentError, ProviderBusy, ProviderUnavailable,
                            looks_like_card_number)
from .schemas import PaymentRequest
from .transactions import PUT, UPDATE, LabelledTransaction
from .views import booking_view

LOCK_SECONDS = 60
ROUTE = "POST /bookings/{id}/payment"


@dataclass(frozen=True)
class _OwnAnswer(idempotency.Replay):
    """This request's own answer, shaped like a stored one (a fresh decline), as opposed to an
    earlier request's answer replayed: only a replay gives its counted attempt back."""


def _take_lock(booking_id: str, user: Principal, attempt: str, now: float) -> domain.Booking | None:
    """Round trip 1: lock the booking for this attempt and list the attempt on it."""
    record = Booking(booking_id)
    attempts = Booking.attempt_ids
    try:
        record.update(
            actions=[Booking.payment_lock.set(attempt), Booking.payment_lock_until.set(int(now) + LOCK_SECONDS),
                     attempts.add({attempt})],
            condition=(Booking.traveler_id == user.user_id) & (Booking.status == domain.HELD)
            & (Booking.expires_at > int(now))
            & (Booking.payment_lock.does_not_exist() | (Booking.payment_lock == attempt)
               | (Booking.payment_lock_until < int(now)))
            & (attempts.does_not_exist() | attempts.contains(attempt)
               | (size(attempts) < domain.MAX_PAYMENT_ATTEMPTS)))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return records.to_domain(record)


def _why_not_payable(booking_id: str, user: Principal, attempt: str, now: float) -> Exception:
    """Why the booking refused this attempt (its lock, or its move to CONFIRMING)."""
    booking = records.load(booking_id)
    if booking is None or booking.traveler_id != user.user_id:
        return NotFound("No such booking.")
    status = booking.effective_status(now)
    if status == domain.EXPIRED:
        return HoldExpired("The hold has expired; its units were released. Place a new hold.")
    if status != domain.HELD:
        return domain.IllegalTransition(status, "be paid")
    if attempt not in booking.attempt_ids and len(booking.attempt_ids) >= domain.MAX_PAYMENT_ATTEMPTS:
        count("PaymentAttemptsLimited")
        return RateLimited(f"This booking has had {domain.MAX_PAYMENT_ATTEMPTS} payment attempts, the most "
                           "it takes; place a new hold once this one expires.",
                           {"max_payment_attempts": domain.MAX_PAYMENT_ATTEMPTS},
                           headers={"Retry-After": str(max(1, booking.expires_at - int(now)))})
    return RequestInProgress("Another payment for this booking is being processed; retry shortly.")


def _release_lock(booking_id: str, attempt: str) -> None:
    try:
        Booking(booking_id).update(actions=[Booking.payment_lock.remove(), Booking.payment_lock_until.remove()],
                                   condition=Booking.payment_lock == attempt)
    except UpdateError:
        pass  # another attempt's lock now, or the booking moved on: nothing of ours to release


def _attempt_record(booking: domain.Booking, attempt: str, method: str, outcome: str, now: float, *,
                    payment_id: str | None = None, reason: str | None = None) -> PaymentAttempt:
    at = datetime.fromtimestamp(now, tz=timezone.utc).isoformat()
    return PaymentAttempt(booking.booking_id, attempt, outcome=outcome, method_hash=domain.fingerprint(method),
                          payment_id=payment_id or None, decline_reason=reason, created_at=at, updated_at=at)


def _declined(user: Principal, booking: domain.Booking, attempt: str, method: str, key: str, request_hash: str,
              reason: str, now: float) -> idempotency.Replay:
    """The hold stays; the decline enters the timeline and is the answer this key replays."""
    count("PaymentsDeclined")
    body = error_body("PAYMENT_DECLINED", "The payment was declined; the hold stays until it expires, "
                      "so you can try another payment method.", {"reason": reason})
    t = LabelledTransaction()
    entry = lifecycle.TimelineEntryAttribute(at=domain.stamp(now), event="payment_declined", by="traveler",
                                             note=reason)
    t.add(UPDATE, ("booking",), lambda tx: tx.update(
        Booking(booking.booking_id),
        actions=[Booking.payment_lock.remove(), Booking.payment_lock_until.remove(),
                 Booking.timeline.set(Booking.timeline.append([entry]))],
        condition=(Booking.payment_lock == attempt) & (Booking.status == domain.HELD)))
    t.add(PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, key, request_hash, 402, body, now))
    record = _attempt_record(booking, attempt, method, "declined", now, reason=reason)
    t.add(PUT, ("attempt",), lambda tx: tx.save(record))
    failures = t.commit()
    if not failures:
        return _OwnAnswer(402, body)
    if "idempotency" in {f.label[0] for f in failures if f.label}:
        # A replay of an earlier decline (or the key came with another request: 422).
        _release_lock(booking.booking_id, attempt)
        previous = idempotency.replay(key, request_hash)
        if previous is not None:
            return previous
    raise _why_not_payable(booking.booking_id, user, attempt, now)


def _authorize(booking: domain.Booking, attempt: str, method: str) -> Authorization:
    """Create the attempt's payment (or find it again), then authorize it."""
    if booking.amount == 0:
        # A free booking (vendors may price a date at 0): nothing to authorize or capture.
        return Authorization(payment_id="", amount=0, currency=booking.currency)
    provider = payment_provider()
    payment_id = create_payment(booking, attempt)
    try:
        return provider.confirm(payment_id, payment_method=method,
                                idempotency_key=domain.attempt_provider_key(booking.booking_id, attempt))
    except InvalidPaymentState:
        # Already confirmed under a key the provider no longer remembers: its state decides.
        state = provider.retrieve(payment_id)
        if state.status in (AUTHORIZED, CAPTURED):
            return Authorization(payment_id=payment_id, amount=state.amount, currency=booking.currency,
                                 status=state.status)
        raise AuthorizationGone(f"The payment is {state.status}.") from None


def pay(user: Principal, booking_id: str, request: PaymentRequest, idempotency_key: str,
        now: float | None = None) -> domain.Booking | idempotency.Replay:
    """POST /bookings/{id}/payment: the booking CONFIRMING, or the key's first answer again."""
    now = clock.now() if now is None else now
    method = request.payment_method
    if looks_like_card_number(method):
        # Refused before anything is stored or logged: card data never enters Itinera.
        raise RawCardNumber("Send a payment provider token, never a card number.", {"field": "payment_method"})
    if not domain.is_booking_id(booking_id):
        raise NotFound("No such booking.")
    provider = payment_provider()
    if not provider.accepts(method):
        # Refused before anything is written: it never becomes an attempt.
        raise ValidationError.for_fields({"payment_method": "is not a payment method the provider accepts"})
    key = idempotency.record_key("payment", user.user_id, idempotency_key)
    request_hash = domain.fingerprint(ROUTE, booking_id, method)
    attempt = domain.attempt_id(idempotency_key)

    # The traveler's per-minute limit (core.rate_limits), counted before anything else is
    # written and before the provider is called: what it stops is card testing, so an attempt
    # over the limit must never reach the provider. That is one UpdateItem more than the two
    # round trips of a payment. Declines count; a replay or a duplicate still in progress (409
    # REQUEST_IN_PROGRESS) gives its unit back, and over the limit a replay is still answered.
    counter = rate_limits.payment_attempt(user.user_id, now)
    try:
        counter.count()
    except rate_limits.AttemptsExceeded:
        previous = idempotency.replay(key, request_hash)
        if previous is not None:
            return previous
        raise
    try:
        result = _attempt_payment(user, booking_id, method, key, request_hash, attempt, now)
    except RequestInProgress:
        counter.give_back()
        raise
    if isinstance(result, idempotency.Replay) and not isinstance(result, _OwnAnswer):
        counter.give_back()
    return result


def _attempt_payment(user: Principal, booking_id: str, method: str, key: str, request_hash: str,
                     attempt: str, now: float) -> domain.Booking | idempotency.Replay:
    """`pay` once the attempt is counted: lock, provider, record."""
    booking = _take_lock(booking_id, user, attempt, now)
    if booking is None:
        previous = idempotency.replay(key, request_hash)
        if previous is not None:
            return previous
        raise _why_not_payable(booking_id, user, attempt, now)

    try:
        authorization = _authorize(booking, attempt, method)
    except Declined as exc:
        return _declined(user, booking, attempt, method, key, request_hash, exc.reason, now)
    except AuthorizationGone:
        # This attempt's payment was voided meanwhile (e.g. by cleanup): it can never pay.
        return _declined(user, booking, attempt, method, key, request_hash, "payment_cancelled", now)
    except ProviderBusy:
        # The same attempt is at the provider right now (a double click): it holds our lock too.
        raise RequestInProgress("This payment is being processed; retry with the same Idempotency-Key.") from None
    except ProviderKeyReused:
        _release_lock(booking_id, attempt)
        previous = idempotency.replay(key, request_hash)  # 422 if the key answered another request
        if previous is not None:
            return previous
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.",
                                   {"header": "Idempotency-Key"}) from None
    except InvalidPaymentMethod as exc:
        _release_lock(booking_id, attempt)
        raise ValidationError.for_fields({"payment_method": "is not a payment method the provider accepts"}) from exc
    except ProviderUnavailable as exc:
        _release_lock(booking_id, attempt)
        raise ServiceUnavailable("The payment provider is unavailable; retry with the same "
                                 "Idempotency-Key.") from exc
    except PaymentError:
        _release_lock(booking_id, attempt)
        raise
    return _record_authorization(user, booking, attempt, method, authorization, key, request_hash, now)


def _record_authorization(user: Principal, booking: domain.Booking, attempt: str, method: str,
                          authorization: Authorization, key: str, request_hash: str,
                          now: float) -> domain.Booking | idempotency.Replay:
    """Round trip 2: HELD -> CONFIRMING with the attempt kept, or say why not."""
    # The hold must still be alive when we write, not only when the request began: the traveler
    # may already read it EXPIRED (and have booked again) while the provider was answering.
    now = max(now, clock.now())
    try:
        transition = booking.start_payment(attempt=attempt, payment_id=authorization.payment_id,
                                           authorized=authorization.amount, provider=payment_provider().name,
                                           now=now)
    except domain.IllegalTransition:
        if authorization.payment_id:
            _void_quietly(booking, authorization.payment_id)  # a lapsed hold can never keep it
        _release_lock(booking.booking_id, attempt)
        raise HoldExpired("The hold expired while the payment was being authorized; nothing was charged. "
                          "Place a new hold.") from None
    confirming = booking.with_changes(transition)
    response = booking_view(confirming, user, now)
    record = _attempt_record(booking, attempt, method, "authorized", now, payment_id=authorization.payment_id)
    extras: tuple[lifecycle.Extra, ...] = (
        (PUT, ("idempotency",), lambda tx: idempotency.save_response(tx, key, request_hash, 202, response, now)),
        (PUT, ("attempt",), lambda tx: tx.save(record)))
    try:
        result = lifecycle.apply(booking, transition, extras=extras)
    except lifecycle.TransactionConflict:
        # Nothing was written; the authorization stays with the attempt for its retry.
        _release_lock(booking.booking_id, attempt)
        raise RequestInProgress("The booking is changing; retry with the same Idempotency-Key.") from None
    if isinstance(result, lifecycle.Applied):
        count("PaymentsAuthorized")
        logger.info("payment authorized", extra={"booking_id": booking.booking_id, "amount": authorization.amount})
        queues.send(queues.CONFIRMATIONS, {"type": "confirm", "booking_id": booking.booking_id})
        return result.booking
    return _not_recorded(user, booking, attempt, authorization, key, request_hash, now)


def _not_recorded(user: Principal, booking: domain.Booking, attempt: str, authorization: Authorization, key: str,
                  request_hash: str, now: float) -> idempotency.Replay:
    """The transaction did not apply. Never void what the booking kept: the same attempt may
    have won in a concurrent request (a double click) and the booking now relies on it."""
    previous = None
    try:
        previous = idempotency.replay(key, request_hash)
    except IdempotencyKeyReused:
        current = records.load(booking.booking_id)
        if authorization.payment_id and current is not None and current.payment_attempt != attempt:
            _void_quietly(booking, authorization.payment_id)
        _release_lock(booking.booking_id, attempt)
        raise
    if previous is not None:
        return previous
    current = records.load(booking.booking_id)
    if current is not None and current.status == domain.HELD and not domain.is_expired(current.expires_at, int(now)):
        # Still payable (another attempt took the lock after ours lapsed): keep the authorization
        # for this attempt's retry; cleanup voids it if the booking never keeps it.
        _release_lock(booking.booking_id, attempt)
        raise RequestInProgress("Another payment for this booking is being processed; retry with the same "
                                "Idempotency-Key.")
    if authorization.payment_id and (current is None or current.payment_attempt != attempt):
        _void_quietly(booking, authorization.payment_id)  # settled without this attempt
    raise _why_not_payable(booking.booking_id, user, attempt, now)


def _void_quietly(booking: domain.Booking, payment_id: str) -> None:
    try:
        void_payment(booking, payment_id)
    except PaymentError:
        logger.exception("could not void an authorization; cleanup will", extra={"booking_id": booking.booking_id})
