"""The waitlist's pure rules: what an entry waits for, which freed units may serve it, and what
one offering run knows of the free units."""
from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.waitlist import domain

TODAY = date(2027, 3, 1)


def wanted(kind="event", quantity=1, day=date(2027, 3, 10), check_in=None, check_out=None, max_units=10):
    return domain.wanted(kind, quantity=quantity, day=day, check_in=check_in, check_out=check_out, today=TODAY,
                         max_units=max_units)


def field_errors(**kwargs) -> dict[str, str]:
    with pytest.raises(domain.FieldErrors) as caught:
        wanted(**kwargs)
    return caught.value.fields


def test_an_event_waits_for_its_date():
    assert wanted(quantity=2) == domain.Wanted(2, ("2027-03-10",), date="2027-03-10")


def test_a_hotel_waits_for_every_night_of_the_stay_not_the_departure_day():
    w = wanted("hotel", day=None, check_in=date(2027, 3, 30), check_out=date(2027, 4, 2))
    assert w.dates == ("2027-03-30", "2027-03-31", "2027-04-01")
    assert (w.check_in, w.check_out, w.date) == ("2027-03-30", "2027-04-02", None)


@pytest.mark.parametrize("kind", ["flight", "event", "service"])
def test_a_dated_listing_refuses_a_stay_naming_the_fields(kind):
    errors = field_errors(kind=kind, day=None, check_in=date(2027, 3, 10), check_out=date(2027, 3, 11))
    assert set(errors) == {"date", "check_in", "check_out"}


def test_a_hotel_refuses_a_date_naming_it_and_the_missing_stay():
    assert set(field_errors(kind="hotel")) == {"date", "check_in", "check_out"}


def test_a_stay_must_end_after_it_starts():
    assert "check_out" in field_errors(kind="hotel", day=None, check_in=date(2027, 3, 10),
                                       check_out=date(2027, 3, 10))


def test_a_stay_is_at_most_thirty_nights():
    assert "check_out" in field_errors(kind="hotel", day=None, check_in=date(2027, 3, 10),
                                       check_out=date(2027, 4, 10))


def test_a_past_date_is_refused():
    assert "date" in field_errors(day=date(2027, 2, 28))
    assert "check_in" in field_errors(kind="hotel", day=None, check_in=date(2027, 2, 28),
                                      check_out=date(2027, 3, 2))


@given(st.integers(min_value=-5, max_value=30))
def test_quantity_is_between_one_and_the_per_item_maximum(quantity):
    if 1 <= quantity <= 10:
        assert wanted(quantity=quantity).quantity == quantity
    else:
        assert "quantity" in field_errors(quantity=quantity)


def test_the_slot_differs_by_listing_and_dates_only():
    a = wanted(quantity=1)
    assert domain.slot("lst_a", a) == domain.slot("lst_a", wanted(quantity=3))
    assert domain.slot("lst_a", a) != domain.slot("lst_b", a)
    assert domain.slot("lst_a", a) != domain.slot("lst_a", wanted(day=date(2027, 3, 11)))


@given(st.integers(min_value=1_600_000_000_000_000, max_value=4_000_000_000_000_000),
       st.integers(min_value=1, max_value=10**12))
def test_rank_orders_by_join_time_to_the_microsecond(earlier_us, gap_us):
    earlier, later = earlier_us / 1e6, (earlier_us + gap_us) / 1e6
    assert domain.rank(earlier, "wl_b") < domain.rank(later, "wl_a")


def test_rank_breaks_a_tie_by_entry_id():
    assert domain.rank(1.5, "wl_a") < domain.rank(1.5, "wl_b")


def test_shards_are_stable_and_in_range():
    assert domain.shard_of("lst_abc") == domain.shard_of("lst_abc")
    assert {domain.shard_of(f"lst_{n}") for n in range(200)} == set(domain.all_shards())


def test_freed_units_serve_entries_sharing_a_date():
    assert domain.serves(("2027-03-10", "2027-03-11"), ["2027-03-11"])
    assert not domain.serves(("2027-03-10",), ["2027-03-11"])
    assert domain.serves(("2027-03-10",), None)  # the sweep: any date


def test_an_entry_has_passed_once_its_first_date_has():
    w = wanted("hotel", day=None, check_in=date(2027, 3, 10), check_out=date(2027, 3, 12))
    assert not domain.has_passed(w, date(2027, 3, 10))
    assert domain.has_passed(w, date(2027, 3, 11))


def test_shortage_names_the_dates_without_enough_units():
    w = wanted("hotel", quantity=2, day=None, check_in=date(2027, 3, 10), check_out=date(2027, 3, 13))
    assert domain.shortage(w, {"2027-03-10": 2, "2027-03-11": 1}) == {"2027-03-11": 1, "2027-03-12": 0}
    assert domain.shortage(w, {d: 2 for d in w.dates}) == {}


def test_a_stay_fits_only_when_every_night_has_the_units():
    w = wanted("hotel", quantity=2, day=None, check_in=date(2027, 3, 10), check_out=date(2027, 3, 12))
    assert not domain.Availability({"2027-03-10": 2, "2027-03-11": 1}).fits(w)
    assert domain.Availability({"2027-03-10": 2, "2027-03-11": 3}).fits(w)


def test_taking_units_leaves_none_for_the_next_entry():
    view = domain.Availability({"2027-03-10": 1})
    first = wanted(quantity=1)
    view.take(first)
    assert not view.fits(first) and not view.any_left(["2027-03-10"])


def test_a_larger_entry_that_does_not_fit_leaves_the_units_to_a_smaller_one():
    view = domain.Availability({"2027-03-10": 1})
    assert not view.fits(wanted(quantity=2))
    assert view.fits(wanted(quantity=1))


def test_learning_replaces_what_was_known():
    view = domain.Availability({"2027-03-10": 3})
    view.learn({"2027-03-10": 0})
    assert not view.any_left(["2027-03-10"])


@given(st.lists(st.integers(min_value=1, max_value=4), max_size=12), st.integers(min_value=0, max_value=8))
def test_an_offering_run_never_hands_out_more_than_is_free(quantities, free):
    view = domain.Availability({"2027-03-10": free})
    given_out = 0
    for quantity in quantities:
        w = wanted(quantity=quantity)
        if view.fits(w):
            view.take(w)
            given_out += quantity
    assert given_out <= free


def test_a_live_claim_belongs_to_another_worker_until_it_lapses():
    entry = domain.Entry(entry_id="wl_" + "0" * 20, traveler_id="t", traveler_email="t@example.com",
                         traveler_name="T", listing_id="lst_a", wanted=wanted(), status=domain.OFFERING,
                         joined_at=1.0, updated_at=1.0, claim="x", claimed_until=100.0)
    assert entry.claimed_by_other(99.0)
    assert not entry.claimed_by_other(100.0)


def test_entry_ids_are_checked_before_they_reach_dynamodb():
    assert domain.is_entry_id(domain.new_entry_id())
    assert not domain.is_entry_id("wl_" + "g" * 20)
    assert not domain.is_entry_id("x" * 2000)


def test_a_date_read_but_not_on_sale_is_known_with_no_units():
    view = domain.Availability()
    assert view.unknown(["2027-03-11", "2027-03-10"]) == ["2027-03-10", "2027-03-11"]
    view.read(["2027-03-10", "2027-03-11"], {"2027-03-10": 2})
    assert view.unknown(["2027-03-10", "2027-03-11", "2027-03-12"]) == ["2027-03-12"]
    assert view.fits(domain.Wanted(2, ("2027-03-10",)))
    assert not view.any_left(["2027-03-11"])


def test_rotated_starts_anywhere_and_keeps_every_item_once():
    assert domain.rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert domain.rotated([], 3) == []


def test_the_sweep_goes_on_after_the_listing_it_stopped_at():
    assert domain.sweep_order(["c", "a", "b", "a"], "a", 0) == ["b", "c", "a"]
    assert domain.sweep_order(["a", "c"], "b", 0) == ["c", "a"]  # "b" has no line any more
    assert domain.sweep_order(["a", "b"], "z", 0) == ["a", "b"]  # past the last: round again
    assert domain.sweep_order(["a", "b", "c"], None, 2) == ["c", "a", "b"]  # a cold start


@given(st.sets(st.text(min_size=1, max_size=3), max_size=8), st.text(max_size=3), st.integers(0, 20))
def test_every_listing_is_swept_once_whatever_the_resume_point(listings, after, start):
    for resume in (after, None):
        assert sorted(domain.sweep_order(listings, resume, start)) == sorted(listings)


@pytest.mark.parametrize("status, was_confirmed, lapsed", [
    ("EXPIRED", False, True), ("FAILED", False, True), ("CANCELLED", False, True),
    ("HELD", False, False), ("CONFIRMING", False, False), ("CONFIRMED", True, False),
    ("CANCELLED", True, False),
])
def test_only_a_hold_that_ended_unconfirmed_did_not_serve_its_entry(status, was_confirmed, lapsed):
    assert domain.hold_lapsed_unseen(status, was_confirmed) is lapsed

