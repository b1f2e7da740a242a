"""Pure catalog rules: stays, prices, locations, policies, availability plans. No AWS."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.inventory import domain
from chalicelib.inventory.domain import CancellationPolicy, DaySetting, DayState, FieldErrors

D = date(2027, 3, 1)


def test_the_nights_of_a_stay_end_the_night_before_check_out():
    assert domain.nights(D, date(2027, 3, 4)) == [D, date(2027, 3, 2), date(2027, 3, 3)]
    assert domain.nights(date(2027, 2, 27), date(2027, 3, 2)) == [date(2027, 2, 27), date(2027, 2, 28), D]
    assert domain.nights(D, D) == []


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 60))
def test_a_stay_has_one_night_per_day_between(check_in, length):
    nights = domain.nights(check_in, check_in + timedelta(days=length))
    assert len(nights) == length and len(set(nights)) == length
    assert all(b - a == timedelta(days=1) for a, b in zip(nights, nights[1:]))


def test_price_total_is_the_sum_of_unit_prices_times_quantity():
    assert domain.price_total([10000, 12000, 11000], 1) == 33000
    assert domain.price_total([10000, 12000, 11000], 2) == 66000
    assert domain.price_total([4500], 3) == 13500


@given(st.lists(st.integers(0, 10**8), max_size=30), st.integers(1, 100))
def test_price_total_is_exact_integer_arithmetic(prices, quantity):
    total = domain.price_total(prices, quantity)
    assert isinstance(total, int) and total == sum(p * quantity for p in prices)


def test_the_past_starts_when_today_has_ended_everywhere():
    just_after_midnight_utc = datetime(2027, 3, 2, 0, 30, tzinfo=timezone.utc)
    assert domain.earliest_today(just_after_midnight_utc) == date(2027, 3, 1)  # still Mar 1 in Hawaii
    assert domain.earliest_today(datetime(2027, 3, 2, 13, 0, tzinfo=timezone.utc)) == date(2027, 3, 2)


@pytest.mark.parametrize("kind, city, origin, destination, expected", [
    ("flight", None, "CDG", "JFK", {}),
    ("flight", None, None, None, {"origin", "destination"}),
    ("flight", None, "CDG", None, {"destination"}),
    ("flight", None, "CDG", "CDG", {"destination"}),
    ("flight", "PAR", "CDG", "JFK", {"city"}),
    ("flight", None, "Paris", "JFK", {"origin"}),
    ("hotel", "PAR", None, None, {}),
    ("hotel", None, None, None, {"city"}),
    ("event", "Lisboa", None, None, {"city"}),
    ("service", "LIS", "LIS", None, {"origin"}),
])
def test_where_a_listing_is_sold(kind, city, origin, destination, expected):
    assert set(domain.location_errors(kind, city, origin, destination)) == set(expected)


def test_currency_codes():
    assert domain.currency_error("EUR") is None and domain.currency_error("JPY") is None
    assert domain.currency_error("XYZ") and domain.currency_error("EURO") and domain.currency_error("eur")


def test_cancellation_policy_refunds():
    policy = CancellationPolicy(free_until_hours=48, refund_percent_after=30)
    starts = datetime(2027, 3, 10, 15, 0, tzinfo=timezone.utc)
    assert policy.refund(10000, starts, starts - timedelta(hours=49)) == 10000
    assert policy.refund(10000, starts, starts - timedelta(hours=48)) == 10000  # the boundary is free
    assert policy.refund(10000, starts, starts - timedelta(hours=47)) == 3000
    assert policy.refund(999, starts, starts) == 299  # rounded down: never refund more than the policy
    assert CancellationPolicy(0, 0).refund(5000, starts, starts + timedelta(hours=1)) == 0


def test_rating_average():
    assert domain.rating_average(0, 0) is None
    assert domain.rating_average(14, 3) == 4.67
    assert domain.rating_average(10, 2) == 5.0


def test_search_keys():
    assert domain.search_key("hotel", D, city="PAR") == "hotel#PAR#2027-03-01"
    assert domain.search_key("flight", "2027-03-01", origin="CDG", destination="JFK") == "flight#CDG#JFK#2027-03-01"


def test_ids_in_paths():
    assert domain.is_valid_id("lst_abc123", "lst")
    assert not domain.is_valid_id("ven_abc", "lst")
    assert not domain.is_valid_id("lst_" + "a" * 100, "lst")
    assert not domain.is_valid_id("lst_a/b", "lst")


# --- availability updates -----------------------------------------------------------------------

def test_a_range_expands_to_every_date_inclusive():
    settings = domain.expand_days(D, date(2027, 3, 3), 5, 100, None, today=D)
    assert settings == {D: DaySetting(5, 100), date(2027, 3, 2): DaySetting(5, 100),
                        date(2027, 3, 3): DaySetting(5, 100)}
    assert len(domain.expand_days(D, D + timedelta(days=365), 1, 1, None, today=D)) == 366


@pytest.mark.parametrize("args, field", [
    ((D, D - timedelta(days=1), 1, 1, None), "to"),
    ((D, D + timedelta(days=366), 1, 1, None), "to"),
    ((D - timedelta(days=1), D, 1, 1, None), "from"),
    ((None, D, 1, 1, None), "from"),
    ((D, D, None, 1, None), "capacity"),
    ((None, None, None, None, [(D, 1, 1), (D, 2, 2)]), "days.1.date"),
    ((None, None, None, None, [(D - timedelta(days=1), 1, 1)]), "days.0.date"),
    ((None, None, None, None, []), "days"),
    ((D, None, None, None, [(D, 1, 1)]), "days"),
    ((None, None, None, None, [(D + timedelta(days=i), 1, 1) for i in range(367)]), "days"),
])
def test_bad_availability_requests_name_the_field(args, field):
    with pytest.raises(FieldErrors) as raised:
        domain.expand_days(*args, today=D)
    assert field in raised.value.fields


def test_the_plan_writes_drops_first_and_flags_dates_below_committed():
    settings = {D: DaySetting(3, 100), date(2027, 3, 2): DaySetting(8, 100),
                date(2027, 3, 3): DaySetting(5, 200), date(2027, 3, 4): DaySetting(5, 100),
                date(2027, 3, 5): DaySetting(1, 100)}
    current = {D: DayState(5, 1, 1, 3, 100),  # drop to 3 >= 2 committed
               date(2027, 3, 2): DayState(5, 0, 0, 5, 100),  # rise
               date(2027, 3, 3): DayState(5, 0, 0, 5, 100),  # price only
               date(2027, 3, 4): DayState(5, 2, 0, 3, 100),  # unchanged: skipped
               date(2027, 3, 5): DayState(4, 1, 1, 2, 100)}  # drop to 1 < 2 committed
    shrinks, others, below = domain.plan_changes(settings, current)
    assert [c.date for c in shrinks] == [D, date(2027, 3, 5)]
    assert [c.date for c in others] == [date(2027, 3, 2), date(2027, 3, 3)]
    assert below == [date(2027, 3, 5)]
    assert shrinks[0].delta == -2 and others[0].delta == 3 and others[1].delta == 0

    new_date = {date(2027, 4, 1): DaySetting(2, 10)}
    shrinks, others, below = domain.plan_changes(new_date, {})
    assert shrinks == [] and below == [] and others[0].current is None and others[0].delta == 2


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(0, 50))
def test_a_date_is_below_committed_exactly_when_capacity_is_under_held_plus_sold(capacity, held, sold, new):
    current = {D: DayState(capacity, held, sold, capacity - held - sold, 1)}
    _, _, below = domain.plan_changes({D: DaySetting(new, 1)}, current)
    assert (below == [D]) == (new < held + sold)
