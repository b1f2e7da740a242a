"""The booking state machine under any sequence of events (hypothesis, stateful).

Each example is one booking of a listing of its own, driven through the real service layer
(the emulator's DynamoDB in-process) with the FakePaymentProvider: payments good and declined,
the same payment twice, keys reused, worker messages delivered any number of times and in any
order, provider outages and lost answers, authorizations expiring behind our back,
cancellations, and time passing with the sweeper. After every step:

- the booking is in a status of the lifecycle, and its units are where its status says;
- nothing is captured unless the booking is (or was) CONFIRMED, and at most once;
- a settled booking leaves no authorization open at the provider.

At the end, time passes and the sweeper runs: no booking is left CONFIRMING or CANCELLING.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chalicelib.booking import domain, holds, records, service
from chalicelib.booking.models import Booking
from chalicelib.booking.payments import use_provider
from chalicelib.booking.payments.fake import FakePaymentProvider
from chalicelib.booking.schemas import HoldRequest, PaymentRequest
from chalicelib.core.auth import Principal
from chalicelib.core.config import settings as settings_of_stage
from chalicelib.core.errors import ApiError
from chalicelib.inventory.models import AvailabilityDay
from tests.integration.booking_helpers import make_listing

QUANTITY = 2
TOKENS = ("tok_visa", "tok_chargeDeclined", "tok_captureFails", "tok_amex")
STAFF = Principal(user_id="agent-1", email="agent@example.com", name="Agent", roles=frozenset({"agents"}))


class BookingMachine(RuleBasedStateMachine):
    listing_id: str = ""
    start: float = 0.0
    stay: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakePaymentProvider()
        use_provider(self.fake)
        self.now = self.start
        self.user = Principal(user_id=f"traveler-{uuid.uuid4().hex}", email="t@example.com", name="Tessa",
                              roles=frozenset({"travelers"}))
        # Examples share the listing's date; earlier examples' settled bookings stay counted.
        before = AvailabilityDay.get(self.listing_id, self.stay, consistent_read=True)
        self.base_held, self.base_sold = int(before.held), int(before.sold)
        request = HoldRequest.model_validate({
            "items": [{"listing_id": self.listing_id, "quantity": QUANTITY, "date": self.stay}],
            "contact": {"email": "t@example.com", "name": "Tessa"}})
        self.booking_id = holds.place_hold(self.user, request, uuid.uuid4().hex, now=self.now).booking_id
        self.keys: list[str] = []
        self.ever_confirmed = False

    # -- what happens --------------------------------------------------------------------------

    def _pay(self, key: str, token: str) -> None:
        try:
            service.pay(self.user, self.booking_id, PaymentRequest(payment_method=token), key, now=self.now)
        except ApiError:
            pass  # declined, expired, in progress, refused: the booking must stay consistent

    @rule(token=st.sampled_from(TOKENS))
    def pay_with_a_new_key(self, token: str) -> None:
        self.keys.append(uuid.uuid4().hex)
        self._pay(self.keys[-1], token)

    @rule(token=st.sampled_from(TOKENS))
    def pay_again_with_the_last_key(self, token: str) -> None:
        if self.keys:
            self._pay(self.keys[-1], token)

    @rule(operation=st.sampled_from(("create", "confirm", "capture", "void", "refund")))
    def provider_fails_next(self, operation: str) -> None:
        self.fake.fail_next(operation)

    @rule(operation=st.sampled_from(("confirm", "capture", "refund")))
    def provider_loses_next_answer(self, operation: str) -> None:
        self.fake.lose_next_answer(operation)

    @rule()
    def authorization_expires_at_the_issuer(self) -> None:
        for payment in self.fake.payments():
            if payment.status == "authorized":
                self.fake.expire_authorization(payment.payment_id)

    @rule()
    def confirmation_message_arrives(self) -> None:
        try:
            service.confirm_booking(self.booking_id, now=self.now)
        except Exception:
            pass  # the worker raised: SQS delivers the message again later (or the sweeper settles)

    @rule()
    def cancellation_message_arrives(self) -> None:
        try:
            service.process_cancellation(self.booking_id, now=self.now)
        except Exception:
            pass

    @rule(staff=st.booleans())
    def cancel(self, staff: bool) -> None:
        try:
            service.cancel(STAFF if staff else self.user, self.booking_id, None, now=self.now)
        except ApiError:
            pass

    @rule(minutes=st.integers(min_value=1, max_value=20))
    def time_passes_and_the_sweeper_runs(self, minutes: int) -> None:
        self.now += minutes * 60
        service.release_expired_holds(now=self.now)

    # -- what must always be true --------------------------------------------------------------

    def _booking(self) -> domain.Booking:
        booking = records.load(self.booking_id)
        assert booking is not None
        return booking

    @invariant()
    def status_is_in_the_lifecycle(self) -> None:
        assert self._booking().status in domain.STATUSES

    @invariant()
    def units_are_where_the_status_says(self) -> None:
        booking = self._booking()
        day = AvailabilityDay.get(self.listing_id, self.stay, consistent_read=True)
        held = QUANTITY if booking.status in (domain.HELD, domain.CONFIRMING) else 0
        sold = QUANTITY if booking.status in (domain.CONFIRMED, domain.CANCELLING) else 0
        assert (int(day.held) - self.base_held, int(day.sold) - self.base_sold) == (held, sold), booking.status
        assert int(day.available) == int(day.capacity) - int(day.held) - int(day.sold)

    @invariant()
    def nothing_is_captured_without_a_confirmed_booking(self) -> None:
        booking = self._booking()
        self.ever_confirmed |= booking.status in (domain.CONFIRMED, domain.CANCELLING, domain.CANCELLED)
        captured = [p for p in self.fake.payments() if p.status == "captured"]
        assert len(captured) <= 1
        if captured:
            assert booking.status in (domain.CONFIRMED, domain.CANCELLING, domain.CANCELLED)
            assert captured[0].payment_id == booking.payment_id
            assert booking.captured_amount == captured[0].captured_amount
            assert booking.refunded_amount == captured[0].refunded_amount

    def _open_authorizations(self) -> list[str]:
        return [p.payment_id for p in self.fake.payments() if p.status == "authorized"]

    @invariant()
    def a_settled_booking_leaves_no_authorization_open(self) -> None:
        # Unless a void failed: then it stays pending as CLEANUP until the sweeper voids them.
        booking = self._booking()
        if booking.settled and Booking.get(self.booking_id, consistent_read=True).pending != domain.CLEANUP:
            assert not self._open_authorizations(), booking.status

    def teardown(self) -> None:
        # Once the provider is healthy again and the sweeper has run long enough after, nothing
        # is left waiting (faults still queued would only delay it, one sweep per fault).
        self.fake.recover()
        self.now += settings_of_stage().hold_seconds
        for _ in range(3):
            self.now += domain.SETTLE_AFTER_SECONDS + 60
            service.release_expired_holds(now=self.now)
        assert self._booking().status in (domain.CONFIRMED, domain.CANCELLED, domain.EXPIRED, domain.FAILED)
        assert not self._open_authorizations()


@pytest.fixture
def machine(api, tokens):
    from chalicelib.booking.payments import reset_provider

    stay = date.today() + timedelta(days=30)
    BookingMachine.listing_id = make_listing(api, tokens["vendor"], kind="event", capacity=1000, price=4500,
                                             days=31, policy=(24, 50))
    BookingMachine.stay = stay.isoformat()
    import time
    BookingMachine.start = time.time()
    yield BookingMachine
    reset_provider()


def test_no_sequence_of_events_breaks_a_booking(machine):
    run_state_machine_as_test(machine, settings=settings(
        max_examples=20, stateful_step_count=20, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
