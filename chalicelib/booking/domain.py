"""Pure rules of bookings: the `Booking` aggregate and its transitions, what a caller may do
next, refunds, references, provider keys.

No I/O here: everything is unit-tested without AWS. A transition method checks the state
machine and returns a `Transition` (the changes it makes); `lifecycle.apply` writes it as one
conditional transaction. An illegal transition raises `IllegalTransition`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from ..core.errors import InvalidState, RefundExceedsCaptured
from ..inventory.domain import CancellationPolicy

HELD = "HELD"
CONFIRMING = "CONFIRMING"
CONFIRMED = "CONFIRMED"
CANCELLING = "CANCELLING"
CANCELLED = "CANCELLED"
EXPIRED = "EXPIRED"
FAILED = "FAILED"
STATUSES = (HELD, CONFIRMING, CONFIRMED, CANCELLING, CANCELLED, EXPIRED, FAILED)

# The lifecycle of API.md; every write is conditioned on the `from` status.
TRANSITIONS: dict[str, frozenset[str]] = {
    HELD: frozenset({CONFIRMING, EXPIRED, CANCELLED}),
    CONFIRMING: frozenset({CONFIRMED, FAILED}),
    CONFIRMED: frozenset({CANCELLING}),
    CANCELLING: frozenset({CANCELLED}),
    CANCELLED: frozenset(), EXPIRED: frozenset(), FAILED: frozenset(),
}

# People read references over the phone: no 0/O, 1/I.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 6


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_booking_id() -> str:
    return "bk_" + secrets.token_hex(10)


def is_expired(expires_at: int, now: int) -> bool:
    return now >= expires_at


def available_actions(status: str, *, expires_at: int, now: int, is_owner: bool, is_staff: bool,
                      refundable: int, started: bool = False) -> list[str]:
    """What the caller may do now, in the order a client would show them: the traveler pays
    and cancels their own booking; agents and admins cancel any booking and refund."""
    actions: list[str] = []
    if status == HELD and not is_expired(expires_at, now):
        if is_owner:
            actions.append("pay")
        if is_owner or is_staff:
            actions.append("cancel")
    elif status == CONFIRMED and not started and (is_owner or is_staff):
        actions.append("cancel")
    if is_staff and status in (CONFIRMED, CANCELLED) and refundable > 0:
        actions.append("refund")
    return actions


def is_booking_id(value: str) -> bool:
    """Path ids are checked before they reach DynamoDB (an over-long key is a 5xx there)."""
    return len(value) == 23 and value.startswith("bk_") and all(c in "0123456789abcdef" for c in value[3:])


def has_started(first_date: str, now: datetime) -> bool:
    """A booking has started at 00:00 UTC of its first date: it can no longer be cancelled."""
    return now >= _starts_at(date.fromisoformat(first_date))


def _starts_at(first_day: date) -> datetime:
    """A booked date starts at 00:00 UTC: the policy's hours count back from there."""
    return datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc)


def cancellation_refund(items: Iterable[tuple[int, CancellationPolicy, date]], *, now: datetime,
                        captured: int, refunded: int) -> int:
    """Each item refunds by its own policy snapshot (taken when the booking was made); the
    total never exceeds what is left to refund."""
    total = sum(policy.refund(amount, _starts_at(first_day), now) for amount, policy, first_day in items)
    return max(0, min(total, captured - refunded))


def quote_valid_until(items: Iterable[tuple[CancellationPolicy, date]], now: datetime) -> datetime | None:
    """The next instant at which the quote changes (a free-cancellation deadline), if any."""
    deadlines = []
    for policy, first_day in items:
        deadline = _starts_at(first_day) - timedelta(hours=policy.free_until_hours)
        if deadline > now:
            deadlines.append(deadline)
    return min(deadlines) if deadlines else None


def fingerprint(*parts: Any) -> str:
    """A stable hash of a request (route, caller, body) for idempotency-key reuse checks."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def provider_key(booking_id: str, step: str, *extra: str) -> str:
    """Idempotency keys sent to the payment provider: derived from the booking, so a retried
    worker or request can never capture, void or refund twice."""
    return ":".join(("itinera", booking_id, step, *extra))


# -- payment attempts ---------------------------------------------------------------------------

MAX_PAYMENT_ATTEMPTS = 10


def attempt_id(idempotency_key: str) -> str:
    """A payment attempt is (booking, Idempotency-Key): the same key is the same attempt."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def attempt_provider_key(booking_id: str, attempt: str) -> str:
    """The provider's key of one attempt: never shared by two attempts, so a voided or failed
    authorization can never come back as another attempt's answer."""
    return provider_key(booking_id, "attempt", attempt)


def capture_key(booking_id: str, attempt: str) -> str:
    return provider_key(booking_id, "capture", attempt)


def void_key(booking_id: str, payment_id: str) -> str:
    return provider_key(booking_id, "void", payment_id)


# -- the aggregate --------------------------------------------------------------------------------

def article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


class IllegalTransition(InvalidState):
    """A transition the state machine does not allow from the booking's status (409)."""

    def __init__(self, status: str, action: str) -> None:
        super().__init__(f"{article(status).capitalize()} {status} booking cannot {action}.", {"status": status})
        self.booking_status, self.action = status, action


@dataclass(frozen=True)
class Contact:
    email: str
    name: str
    phone: str | None = None


@dataclass(frozen=True)
class BookedItem:
    listing_id: str
    kind: str
    title: str
    vendor_id: str
    quantity: int
    dates: tuple[str, ...]  # every (listing, date) whose units the booking holds or sold
    unit_prices: tuple[int, ...]
    amount: int
    policy: CancellationPolicy  # the listing's policy when the booking was made
    date: str | None = None  # flight, event, service
    check_in: str | None = None  # hotel
    check_out: str | None = None
    discount: int = 0  # this item's share of the booking's promotion discount

    @property
    def paid(self) -> int:
        """What the traveler pays for this item: its refunds follow its policy on this."""
        return self.amount - self.discount


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    status: str | None = None
    event: str | None = None
    by: str | None = None
    note: str | None = None
    amount: int | None = None


@dataclass(frozen=True)
class LedgerMove:
    kind: str  # authorization | capture | void | refund
    amount: int
    provider_ref: str | None = None
    reason: str | None = None


# What a transition does to the (listing, date) counters of the booking.
SELL_HELD, RELEASE_HELD, RELEASE_SOLD = "sell-held", "release-held", "release-sold"


@dataclass(frozen=True)
class Transition:
    """The changes of one transition, applied by `lifecycle.apply` as one transaction
    conditioned on `from_status` (and the extra guards below)."""
    name: str
    from_status: str
    to_status: str
    timeline: tuple[TimelineEntry, ...]
    fields: dict[str, Any] = field(default_factory=dict)  # attribute -> new value (None removes)
    units: str | None = None
    ledger: tuple[LedgerMove, ...] = ()
    pending_until: int | None = None  # still waiting on a worker until then; None: not pending
    # What the booking waits for in the pending index (default: its new status). CLEANUP: it is
    # settled, but authorizations of attempts it did not keep are still to be voided.
    pending_as: str | None = None
    hold_ended: bool = False  # the traveler has one live hold fewer
    # Guards on the stored booking besides its status:
    unexpired_at: int | None = None  # expires_at > this (payment)
    expired_at: int | None = None  # expires_at <= this (expiry)
    lock: str | None = None  # payment_lock == this (the attempt that authorized)
    # The booking still lists exactly this many attempts: leaving HELD with the attempt set as
    # read, so cleanup needs no second read to know every attempt.
    attempts: int | None = None
    no_refund_in_flight: bool = False  # no agent refund is between its reservation and its record
    # The booking leaves without having been confirmed (expired, cancelled while held, payment
    # failed): the use of its promotion code, if any, is given back in the same transaction.
    # A booking cancelled after it was confirmed keeps its use (it was sold with the discount).
    promotion_released: bool = False

    @property
    def vendor_event(self) -> str | None:
        """The webhook event this transition announces to the booking's vendors, if any."""
        return VENDOR_EVENTS.get(self.to_status)


# Which statuses vendors hear of (API.md "Vendors", webhooks): a sale, its end, and the end of a
# hold or payment that had their units held. CONFIRMING and CANCELLING are steps on the way.
# Refunds, which change no status, are announced by booking.refunds as "booking.refunded".
VENDOR_EVENTS = {CONFIRMED: "booking.confirmed", CANCELLED: "booking.cancelled", FAILED: "booking.failed",
                 EXPIRED: "booking.expired"}


def stamp(now: float) -> str:
    """An instant as bookings and timelines store it. Milliseconds: bookings are listed newest
    first by this, so a second is too coarse."""
    return datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


CLEANUP = "CLEANUP"


def _cleanup_after(unkept: frozenset[str], now: float) -> dict[str, Any]:
    """A settling transition keeps a booking with unkept attempts in the pending index until
    their authorizations are voided, so a failed or interrupted cleanup is retried."""
    return {"pending_until": int(now), "pending_as": CLEANUP} if unkept else {}


# How long a worker has before the sweeper sends its message again, and when the sweeper stops
# waiting and settles the booking from the provider's real state (API.md: within 5 minutes).
REDRIVE_SECONDS = 60
SETTLE_AFTER_SECONDS = 180


@dataclass(frozen=True)
class Booking:
    """The booking aggregate: plain data, one method per transition."""
    booking_id: str
    reference: str
    traveler_id: str
    contact: Contact
    status: str
    items: tuple[BookedItem, ...]
    currency: str
    amount: int
    expires_at: int
    first_date: str
    created_at: str
    updated_at: str
    authorized_amount: int = 0
    captured_amount: int = 0
    refunded_amount: int = 0
    refund_quote: int | None = None
    payment_provider: str | None = None
    payment_id: str | None = None
    payment_attempt: str | None = None  # the attempt the booking kept (its authorization is ours)
    attempt_ids: frozenset[str] = frozenset()
    payment_lock: str | None = None
    pending_since: int | None = None
    ledger_seq: int = 0
    refund_room: int = 0  # captured - refunded - refunds in flight: what agents may still refund
    refunds_in_flight: frozenset[str] = frozenset()
    timeline: tuple[TimelineEntry, ...] = ()
    notified: tuple[str, ...] = ()
    event_seq: int = 0  # the sequence number of the last webhook event about this booking
    # The promotion code used (upper case) and what it took off: `amount` is what is charged,
    # the items' amounts less this, which the items share (`BookedItem.discount`).
    promo_code: str | None = None
    discount: int = 0

    # -- reading ----------------------------------------------------------------------------

    def effective_status(self, now: float) -> str:
        """A hold whose time is up is EXPIRED at once, whether or not the sweeper has run."""
        if self.status == HELD and is_expired(self.expires_at, int(now)):
            return EXPIRED
        return self.status

    @property
    def was_confirmed(self) -> bool:
        """Paid for and confirmed at some point (it may be cancelled since)."""
        return any(entry.status == CONFIRMED for entry in self.timeline)

    @property
    def refundable(self) -> int:
        return self.captured_amount - self.refunded_amount

    @property
    def unkept_attempts(self) -> frozenset[str]:
        """Attempts whose payments the booking does not use (voided once it settles)."""
        return self.attempt_ids - {self.payment_attempt} if self.amount else frozenset()

    @property
    def settled(self) -> bool:
        return self.status in (CONFIRMED, CANCELLED, EXPIRED, FAILED)

    def with_changes(self, transition: Transition) -> "Booking":
        """The booking as it is once `transition` is applied."""
        changes = dict(transition.fields)
        changes.update(status=transition.to_status, updated_at=transition.timeline[-1].at,
                       timeline=self.timeline + transition.timeline)
        if transition.ledger:
            changes["ledger_seq"] = self.ledger_seq + sum(1 for m in transition.ledger if m.amount)
        return dataclasses.replace(self, **changes)

    # -- transitions --------------------------------------------------------------------------

    def _require(self, target: str, action: str, *, source: str | None = None) -> None:
        """The lifecycle (TRANSITIONS) is the one rule of which status may follow which;
        `source`: the transition leaves only that status (CANCELLED follows HELD too)."""
        if (source is not None and self.status != source) or not can_move(self.status, target):
            raise IllegalTransition(self.status, action)

    def start_payment(self, *, attempt: str, payment_id: str | None, authorized: int, provider: str | None,
                      now: float, by: str = "traveler") -> Transition:
        """HELD -> CONFIRMING: the attempt's authorization is kept; the worker captures it."""
        self._require(CONFIRMING, "be paid")
        if is_expired(self.expires_at, int(now)):
            raise IllegalTransition(EXPIRED, "be paid")
        at = stamp(now)
        return Transition(
            "start_payment", HELD, CONFIRMING,
            (TimelineEntry(at, event="payment_authorized", by=by, amount=authorized),
             TimelineEntry(at, status=CONFIRMING, by=by)),
            fields={"payment_attempt": attempt, "payment_id": payment_id or None,
                    "payment_provider": provider if payment_id else None,
                    "authorized_amount": authorized, "payment_lock": None, "pending_since": int(now)},
            ledger=(LedgerMove("authorization", authorized, payment_id),),
            pending_until=int(now) + REDRIVE_SECONDS, hold_ended=True, unexpired_at=int(now), lock=attempt)

    def confirm(self, *, captured: int, capture_id: str | None, now: float, by: str) -> Transition:
        """CONFIRMING -> CONFIRMED: the capture is in; held units become sold."""
        self._require(CONFIRMED, "be confirmed")
        at = stamp(now)
        return Transition(
            "confirm", CONFIRMING, CONFIRMED,
            (TimelineEntry(at, event="payment_captured", by=by, amount=captured),
             TimelineEntry(at, status=CONFIRMED, by=by)),
            fields={"captured_amount": captured, "refund_room": captured, "pending_since": None}, units=SELL_HELD,
            ledger=(LedgerMove("capture", captured, capture_id),), **_cleanup_after(self.unkept_attempts, now))

    def fail(self, *, reason: str, voided: bool, now: float, by: str) -> Transition:
        """CONFIRMING -> FAILED: nothing can be captured; the held units go back on sale.
        `voided`: the authorization is released (by us, or it was already gone)."""
        self._require(FAILED, "fail")
        at = stamp(now)
        ledger = (LedgerMove("void", self.authorized_amount, self.payment_id, reason),) if voided else ()
        return Transition(
            "fail", CONFIRMING, FAILED,
            (TimelineEntry(at, event="payment_failed", by=by, note=reason), TimelineEntry(at, status=FAILED, by=by)),
            fields={"pending_since": None}, units=RELEASE_HELD, ledger=ledger,
            promotion_released=self.promo_code is not None, **_cleanup_after(self.unkept_attempts, now))

    def expire(self, *, now: float, by: str) -> Transition:
        """HELD -> EXPIRED once `expires_at` has passed: the held units go back on sale."""
        self._require(EXPIRED, "expire")
        if not is_expired(self.expires_at, int(now)):
            raise IllegalTransition(HELD, "expire before its expiry time")
        return Transition("expire", HELD, EXPIRED, (TimelineEntry(stamp(now), status=EXPIRED, by=by),),
                          fields={"payment_lock": None}, units=RELEASE_HELD, hold_ended=True,
                          expired_at=int(now), attempts=len(self.attempt_ids),
                          promotion_released=self.promo_code is not None,
                          **_cleanup_after(self.unkept_attempts, now))

    def cancel(self, *, now: float, by: str, reason: str | None = None) -> Transition:
        """HELD -> CANCELLED at once (nothing was charged); CONFIRMED -> CANCELLING with the
        refund its policy gives now (the cancellation worker refunds and releases)."""
        if self.status == HELD and is_expired(self.expires_at, int(now)):
            raise IllegalTransition(EXPIRED, "be cancelled")
        self._require(CANCELLED if self.status == HELD else CANCELLING, "be cancelled")
        at = stamp(now)
        if self.status == HELD:
            return Transition("cancel", HELD, CANCELLED, (TimelineEntry(at, status=CANCELLED, by=by, note=reason),),
                              fields={"payment_lock": None}, units=RELEASE_HELD, hold_ended=True,
                              unexpired_at=int(now), attempts=len(self.attempt_ids),
                              promotion_released=self.promo_code is not None,
                              **_cleanup_after(self.unkept_attempts, now))
        if has_started(self.first_date, datetime.fromtimestamp(now, tz=timezone.utc)):
            raise BookingStarted(self.first_date)
        if self.refunds_in_flight:
            # The quote is capped by what is left to refund: it must not count an agent's refund twice.
            raise InvalidState("A refund of this booking is being issued; cancel again in a moment.",
                               {"status": self.status})
        refund = self.refund_due(now)
        return Transition("cancel", CONFIRMED, CANCELLING,
                          (TimelineEntry(at, status=CANCELLING, by=by, note=reason),),
                          fields={"refund_quote": refund, "pending_since": int(now)},
                          pending_until=int(now) + REDRIVE_SECONDS, no_refund_in_flight=True)

    def finish_cancellation(self, *, refunded: int, refund_id: str | None, now: float, by: str) -> Transition:
        """CANCELLING -> CANCELLED: the refund is done; the sold units go back on sale."""
        self._require(CANCELLED, "finish cancelling", source=CANCELLING)
        at = stamp(now)
        entries = (TimelineEntry(at, event="refunded", by=by, amount=refunded),) if refunded else ()
        return Transition(
            "finish_cancellation", CANCELLING, CANCELLED, entries + (TimelineEntry(at, status=CANCELLED, by=by),),
            fields={"refunded_amount": self.refunded_amount + refunded, "refund_quote": None, "pending_since": None,
                    "refund_room": self.captured_amount - self.refunded_amount - refunded},
            units=RELEASE_SOLD,
            ledger=(LedgerMove("refund", refunded, refund_id, "cancellation"),) if refunded else ())

    # -- money rules ----------------------------------------------------------------------------

    def policy_items(self) -> list[tuple[int, CancellationPolicy, date]]:
        """Each item's refund base is what was paid for it (its price less its share of a
        promotion's discount), never its list price."""
        return [(item.paid, item.policy, date.fromisoformat(min(item.dates))) for item in self.items]

    def refund_due(self, now: float) -> int:
        """What cancelling now refunds: each item by its own policy snapshot, capped by what is
        left to refund."""
        return cancellation_refund(self.policy_items(), now=datetime.fromtimestamp(now, tz=timezone.utc),
                                   captured=self.captured_amount, refunded=self.refunded_amount)

    def check_refund(self, amount: int) -> None:
        """An agent refund of `amount` is allowed now (API.md: CONFIRMED or CANCELLED bookings,
        at most what was captured and is not refunded or being refunded); raises why not."""
        if self.status not in (CONFIRMED, CANCELLED):
            raise IllegalTransition(self.status, "be refunded")
        if amount > self.refund_room:
            raise RefundExceedsCaptured(
                f"Cannot refund {amount}: {self.refund_room} of the {self.captured_amount} captured is left.",
                {"refundable": self.refund_room, "captured": self.captured_amount,
                 "refunded": self.refunded_amount})

    def cancellation_refund_now(self, now: float) -> int:
        """The refund of the pending cancellation: the quote, never more than is left."""
        return max(0, min(int(self.refund_quote or 0), self.refundable))


class BookingStarted(InvalidState):
    """A booking cannot be cancelled once its first date has begun (00:00 UTC)."""

    def __init__(self, first_date: str) -> None:
        super().__init__("The booking has started (its first date has begun) and can no longer be "
                         "cancelled; contact support.", {"first_date": first_date})
