"""Pure booking rules: lifecycle, actions, refunds, references, fingerprints."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.booking import domain
from chalicelib.inventory.domain import CancellationPolicy

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_lifecycle_matches_the_contract():
    assert domain.can_move(domain.HELD, domain.CONFIRMING)
    assert domain.can_move(domain.HELD, domain.EXPIRED)
    assert domain.can_move(domain.HELD, domain.CANCELLED)
    assert domain.can_move(domain.CONFIRMING, domain.CONFIRMED)
    assert domain.can_move(domain.CONFIRMING, domain.FAILED)
    assert domain.can_move(domain.CONFIRMED, domain.CANCELLING)
    assert domain.can_move(domain.CANCELLING, domain.CANCELLED)
    for terminal in (domain.CANCELLED, domain.EXPIRED, domain.FAILED):
        assert not any(domain.can_move(terminal, s) for s in domain.STATUSES)
    assert not domain.can_move(domain.CONFIRMED, domain.CANCELLED)  # only through the worker
    assert not domain.can_move(domain.HELD, domain.CONFIRMED)


def test_available_actions_are_the_callers_own():
    later, now = 2_000, 1_000

    def actions(status, *, expires_at=later, owner=True, staff=False, refundable=0, started=False):
        return domain.available_actions(status, expires_at=expires_at, now=now, is_owner=owner, is_staff=staff,
                                        refundable=refundable, started=started)

    assert actions("HELD") == ["pay", "cancel"]
    assert actions("HELD", expires_at=now) == []
    assert actions("HELD", owner=False, staff=True) == ["cancel"]  # agents cancel, never pay
    assert actions("HELD", owner=False) == []  # e.g. the vendor of the listing
    assert actions("CONFIRMED", refundable=500) == ["cancel"]
    assert actions("CONFIRMED", started=True) == []
    assert actions("CONFIRMED", owner=False, staff=True, refundable=500) == ["cancel", "refund"]
    assert actions("CANCELLED", owner=False, staff=True) == []
    assert actions("CONFIRMING", owner=False, staff=True) == []


def test_booking_ids_and_start():
    assert domain.is_booking_id(domain.new_booking_id())
    assert not domain.is_booking_id("bk_" + "x" * 3000) and not domain.is_booking_id("lst_1234")
    assert not domain.has_started("2027-03-02", NOW)
    assert domain.has_started("2027-03-01", NOW)


def test_references_are_phone_friendly():
    for _ in range(200):
        reference = domain.new_reference()
        assert len(reference) == 6 and not set(reference) & set("0O1I")
        assert set(reference) <= set(domain.REFERENCE_ALPHABET)


def test_cancellation_refund_uses_each_items_policy():
    strict = CancellationPolicy(free_until_hours=72, refund_percent_after=0)
    lenient = CancellationPolicy(free_until_hours=24, refund_percent_after=50)
    first = date(2027, 3, 4)  # starts 2027-03-04T00:00Z: 60 h after NOW
    items = [(10_000, strict, first), (8_001, lenient, first)]
    # strict: past its 72 h window -> 0; lenient: still free (24 h) -> all
    assert domain.cancellation_refund(items, now=NOW, captured=18_001, refunded=0) == 8_001
    later = NOW + timedelta(hours=50)  # 10 h before the start
    assert domain.cancellation_refund(items, now=later, captured=18_001, refunded=0) == 4_000  # 50% rounded down
    assert domain.cancellation_refund(items, now=NOW, captured=18_001, refunded=18_000) == 1


@given(amount=st.integers(0, 10**9), percent=st.integers(0, 100), hours=st.integers(0, 1000),
       offset_hours=st.integers(-2000, 2000), refunded=st.integers(0, 10**9))
def test_refund_never_exceeds_what_is_left(amount, percent, hours, offset_hours, refunded):
    policy = CancellationPolicy(hours, percent)
    now = NOW + timedelta(hours=offset_hours)
    refund = domain.cancellation_refund([(amount, policy, NOW.date())], now=now, captured=amount, refunded=refunded)
    assert 0 <= refund <= max(0, amount - refunded)


def test_quote_valid_until_is_the_next_deadline():
    policy = CancellationPolicy(free_until_hours=24, refund_percent_after=50)
    assert domain.quote_valid_until([(policy, date(2027, 3, 5))], NOW) == datetime(2027, 3, 4, tzinfo=timezone.utc)
    assert domain.quote_valid_until([(policy, date(2027, 3, 2))], NOW) is None


def test_fingerprint_is_stable_and_order_independent():
    assert domain.fingerprint("a", {"x": 1, "y": 2}) == domain.fingerprint("a", {"y": 2, "x": 1})
    assert domain.fingerprint("a", {"x": 1}) != domain.fingerprint("a", {"x": 2})


def test_provider_keys_are_derived_from_the_booking():
    assert domain.provider_key("bk_1", "capture") == domain.provider_key("bk_1", "capture")
    assert domain.provider_key("bk_1", "capture") != domain.provider_key("bk_2", "capture")
