"""Pure rules of recommendations: counting plans, taste, trips, offers and ranking."""
from __future__ import annotations

from datetime import date

import pytest

from chalicelib.recommendations import domain
from chalicelib.recommendations.domain import (ALSO_BOOKED, POPULAR, YOUR_PLACES, Booked, Candidate, Day, Past,
                                               Window)

TODAY = date(2027, 3, 1)


def past(listing_id, *, kind="hotel", place="LIS", level=7, dates=("2027-03-10",), at=1.0, bookings=1):
    return Past(listing_id, kind, place, level, tuple(dates), at, bookings)


def booked(listing_id, *, kind="hotel", place="LIS"):
    return Booked(listing_id, kind, place, 7, ("2027-03-10",))


def edges(plan):
    return {(e.listing_id, e.other_id) for e in plan.edges}


def test_a_first_time_listing_is_paired_both_ways_with_recent_history():
    [plan] = domain.plan_counts([booked("lst_x")], {}, [past("lst_a"), past("lst_b")])
    assert plan.first_time
    assert edges(plan) == {("lst_x", "lst_a"), ("lst_a", "lst_x"), ("lst_x", "lst_b"), ("lst_b", "lst_x")}


def test_a_repeat_booking_adds_no_co_bookings():
    [plan] = domain.plan_counts([booked("lst_x")], {"lst_x": past("lst_x")}, [past("lst_x"), past("lst_a")])
    assert not plan.first_time and plan.edges == ()


def test_two_new_listings_of_one_booking_are_paired_once():
    plans = domain.plan_counts([booked("lst_b"), booked("lst_a")], {}, [])
    all_edges = [(e.listing_id, e.other_id) for p in plans for e in p.edges]
    assert sorted(all_edges) == [("lst_a", "lst_b"), ("lst_b", "lst_a")]


def test_a_redelivery_after_some_listings_were_counted_plans_the_same_pairs():
    first = domain.plan_counts([booked("lst_a"), booked("lst_b")], {}, [], "bk_1")
    counted_a = Past("lst_a", "hotel", "LIS", 7, ("2027-03-10",), 2.0, 1, first_booking="bk_1")
    again = domain.plan_counts([booked("lst_a"), booked("lst_b")], {"lst_a": counted_a}, [counted_a], "bk_1")
    assert again == first  # lst_a's marker stops its second write; lst_b does not pair with it twice


def test_a_new_listing_is_paired_with_a_repeat_of_the_same_booking():
    plans = {p.listing.listing_id: p for p in domain.plan_counts(
        [booked("lst_a"), booked("lst_z")], {"lst_z": past("lst_z")}, [])}
    assert edges(plans["lst_a"]) == {("lst_a", "lst_z"), ("lst_z", "lst_a")}
    assert plans["lst_z"].edges == ()


def test_pairing_takes_only_the_ten_most_recent_and_every_transaction_fits():
    recent = [past(f"lst_{i:02d}", at=100 - i) for i in range(30)]
    ten_items = [booked(f"lst_n{i}") for i in range(10)]
    plans = domain.plan_counts(ten_items, {}, recent)
    partners = {e.other_id for e in plans[0].edges if e.listing_id == plans[0].listing.listing_id}
    assert {f"lst_{i:02d}" for i in range(10)} <= partners and "lst_10" not in partners
    assert max(p.items for p in plans) <= 100


def test_the_same_listing_twice_in_a_booking_is_one_plan_with_both_dates():
    a = Booked("lst_a", "event", "LIS", 5, ("2027-03-02",))
    b = Booked("lst_a", "event", "LIS", 5, ("2027-03-05",))
    [plan] = domain.plan_counts([a, b], {}, [])
    assert plan.listing.dates == ("2027-03-02", "2027-03-05")


def test_history_keeps_every_date_still_to_come_merged_soonest_first_and_capped():
    assert domain.booked_dates(("2027-03-09", "2027-02-20"), ("2027-03-05", "2027-03-09"), TODAY) == \
        ("2027-03-05", "2027-03-09")  # merged; 20 Feb is gone by
    many = [date.fromordinal(TODAY.toordinal() + i).isoformat() for i in range(domain.MAX_BOOKED_DATES + 10)]
    kept = domain.booked_dates(many[5:], many[:5], TODAY)
    assert kept == tuple(many[:domain.MAX_BOOKED_DATES])


def test_a_first_booking_brings_the_listing_in_with_its_dates():
    item = Booked("lst_a", "event", "LIS", 5, ("2027-03-05",))
    assert domain.remembered(None, item, 50.0, TODAY, "bk_1") == \
        Past("lst_a", "event", "LIS", 5, ("2027-03-05",), 50.0, 1, "bk_1")


def test_an_older_booking_counted_late_adds_its_dates_but_moves_nothing_back():
    newer = Past("lst_a", "event", "LIS", 9, ("2027-03-09",), 100.0, 1, "bk_2")
    older = Booked("lst_a", "event", "LIS", 5, ("2027-03-05",))
    after = domain.remembered(newer, older, 50.0, TODAY, "bk_1")
    assert after == Past("lst_a", "event", "LIS", 9, ("2027-03-05", "2027-03-09"), 100.0, 2, "bk_2")
    later = domain.remembered(after, Booked("lst_a", "event", "LIS", 6, ("2027-03-07",)), 150.0, TODAY, "bk_3")
    assert (later.price_level, later.last_at, later.dates) == (6, 150.0, ("2027-03-05", "2027-03-07", "2027-03-09"))


def test_price_level_doubles_per_level_and_compares_major_units():
    assert domain.price_level(20000, "EUR") == domain.price_level(10000, "EUR") + 1
    assert domain.price_level(10000, "EUR") == domain.price_level(100, "JPY") == 7  # 100 major units either way
    assert domain.price_level(100000, "KWD") == domain.price_level(10000, "EUR")  # KWD has 3 decimals


def test_upcoming_trip_spans_from_the_first_future_date_to_the_last_within_two_weeks():
    history = [past("lst_f", kind="flight", dates=("2027-03-05",)),
               past("lst_h", dates=("2027-03-05", "2027-03-06", "2027-03-07")),
               past("lst_old", dates=("2027-02-01",)),
               past("lst_far", dates=("2027-05-01",))]
    trips = domain.upcoming_trips(history, TODAY)
    assert trips["LIS"] == ("2027-03-05", "2027-03-06", "2027-03-07")


def test_without_a_trip_the_window_is_the_next_days():
    window = domain.window_for("BCN", {"LIS": ("2027-03-05",)}, TODAY)
    assert not window.dated and window.dates[0] == "2027-03-02" and len(window.dates) == domain.NEXT_DAYS


def cand(listing_id="lst_c", reason=ALSO_BOOKED, kind="hotel", place="LIS", strength=1):
    return Candidate(listing_id, kind, place, reason, strength)


def test_a_dated_stay_needs_every_night_and_prices_them_all():
    window = Window(("2027-03-05", "2027-03-06"), dated=True)
    offer = domain.make_offer(cand(), "hotel", "EUR", window,
                              {"2027-03-05": Day(1, 100), "2027-03-06": Day(3, 120)}, ())
    assert (offer.check_in, offer.check_out, offer.price) == ("2027-03-05", "2027-03-07", 220)
    assert domain.make_offer(cand(), "hotel", "EUR", window,
                             {"2027-03-05": Day(1, 100), "2027-03-06": Day(0, 120)}, ()) is None


def test_sold_out_over_the_whole_window_is_no_offer():
    window = Window(("2027-03-02", "2027-03-03"), dated=False)
    assert domain.make_offer(cand(), "event", "EUR", window, {"2027-03-02": Day(0, 10)}, ()) is None
    offer = domain.make_offer(cand(), "event", "EUR", window, {"2027-03-02": Day(0, 10), "2027-03-03": Day(2, 30)}, ())
    assert offer.price == 30 and not offer.dated


def test_dates_the_traveler_already_has_are_not_offered():
    window = Window(("2027-03-05", "2027-03-06"), dated=True)
    days = {"2027-03-05": Day(5, 100), "2027-03-06": Day(5, 100)}
    assert domain.make_offer(cand(), "hotel", "EUR", window, days, {"2027-03-06"}) is None
    event = domain.make_offer(cand(), "event", "EUR", window, days, {"2027-03-05"})
    assert event.date == "2027-03-06"
    assert domain.make_offer(cand(), "event", "EUR", window, days, {"2027-03-05", "2027-03-06"}) is None


def test_the_stronger_reason_wins_when_a_listing_comes_from_two_sources():
    [merged] = domain.merge([cand(reason=POPULAR, strength=50), cand(reason=ALSO_BOOKED, strength=1)])
    assert merged.reason == ALSO_BOOKED


@pytest.mark.parametrize("liked_kind, liked_place", [("hotel", "LIS"), ("event", "BCN")])
def test_history_kinds_and_places_shape_the_shortlist(liked_kind, liked_place):
    history = [past("lst_h", kind=liked_kind, place=liked_place)]
    candidates = [cand("lst_1", YOUR_PLACES, "hotel", "LIS", 3), cand("lst_2", YOUR_PLACES, "event", "BCN", 3)]
    best = domain.shortlist(candidates, domain.taste(history), 1)[0]
    assert (best.kind, best.place) == (liked_kind, liked_place)


def test_history_price_level_ranks_the_usual_price_first():
    traveler = domain.taste([past("lst_h", level=domain.price_level(10000, "EUR"))])
    c_cheap, c_dear = cand("lst_1", YOUR_PLACES), cand("lst_2", YOUR_PLACES)
    usual = domain.Offer("lst_1", "hotel", YOUR_PLACES, 11000, "EUR", 11000, False)
    dear = domain.Offer("lst_2", "hotel", YOUR_PLACES, 90000, "EUR", 90000, False)
    assert domain.rank([(dear, c_dear), (usual, c_cheap)], traveler, 2) == [usual, dear]


def test_taken_dates_join_history_and_live_bookings():
    taken = domain.taken_dates([past("lst_a", dates=("2027-03-05",))], [("lst_a", ["2027-03-09"]), ("lst_b", ["x"])])
    assert taken == {"lst_a": {"2027-03-05", "2027-03-09"}, "lst_b": {"x"}}


def test_the_picks_email_escapes_titles_and_shows_dated_and_undated_prices():
    from chalicelib.notify.templates import render_picks_email

    subject, text, markup = render_picks_email("Ana <i>", [
        {"title": "Hôtel <script>x</script>", "kind": "hotel", "place": "LIS", "dated": True,
         "price": {"amount": 22000, "currency": "EUR"}, "check_in": "2027-03-05", "check_out": "2027-03-07"},
        {"title": "Fado night", "kind": "event", "place": "LIS", "dated": False,
         "price": {"amount": 3000, "currency": "EUR"}}])
    assert subject == "Your picks for this week"
    assert "<script>" not in markup and "Hôtel &lt;script&gt;x&lt;/script&gt;: 220.00 EUR" in markup
    assert "Hello Ana &lt;i&gt;," in markup
    assert "- Fado night: from 30.00 EUR" in text and "Check-in Fri 5 Mar 2027, check-out Sun 7 Mar 2027" in text


def test_the_picks_email_needs_a_pick():
    from chalicelib.notify.templates import render_picks_email

    with pytest.raises(ValueError):
        render_picks_email("Ana", [])
