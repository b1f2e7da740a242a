"""The rules of reviews, without AWS: ratings and text, who is named, which booking a review is for."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from chalicelib.reviews import domain
from chalicelib.reviews.domain import BookingOfListing

LISTING = "lst_abcdefghijklmnop"


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=timezone.utc).timestamp()


def booking(n: int, first_date: str = "2027-03-01", created_at: str | None = None) -> BookingOfListing:
    return BookingOfListing(f"bk_{n:020x}", created_at or f"2027-01-{n:02d}T10:00:00Z", first_date)


# --- rating and text ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
def test_whole_stars_from_1_to_5_are_ratings(value):
    assert domain.rating_problem(value) is None


@pytest.mark.parametrize("value", [0, 6, -1, 3.5, 5.0, "5", True, False, None, [5]])
def test_anything_else_is_not_a_rating(value):
    assert domain.rating_problem(value) is not None


def test_plain_text_with_markup_newlines_and_tabs_is_kept():
    assert domain.text_problem('<script>alert("x")</script>\n\ttab & "quotes" é 😀', 2000) is None


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\r", "\x7f", "\x85", "\ud800"])
def test_control_characters_and_lone_surrogates_are_refused(char):
    assert "control characters" in domain.text_problem(f"a{char}b", 2000)


def test_text_is_limited_in_length():
    assert domain.text_problem("x" * 2000, 2000) is None
    assert domain.text_problem("x" * 2001, 2000) == "must be at most 2000 characters"


@pytest.mark.parametrize("name, shown", [
    ("Tessa Traveler", "Tessa"), ("  Nora  ", "Nora"), ("", "Traveler"), (None, "Traveler"),
    ("tessa@example.com", "Traveler"), ("x" * 41, "Traveler"), ("Bad\x00Name", "Traveler"),
])
def test_the_author_is_the_first_name_or_traveler(name, shown):
    assert domain.author_name(name) == shown


# --- eligibility -------------------------------------------------------------------------------


def test_a_booking_can_be_reviewed_from_midnight_utc_of_its_first_date():
    b = booking(1, first_date="2027-03-01")
    assert not domain.has_taken_place(b, at("2027-02-28T23:59:59"))
    assert domain.has_taken_place(b, at("2027-03-01T00:00:00"))
    assert domain.has_taken_place(b, at("2028-01-01T00:00:00"))


def test_no_booking_at_all_is_not_eligible():
    with pytest.raises(domain.NotEligible):
        domain.choose_booking([], at("2027-03-05T00:00:00"))


def test_only_future_bookings_are_not_eligible():
    with pytest.raises(domain.NotEligible):
        domain.choose_booking([booking(1, "2027-04-01")], at("2027-03-05T00:00:00"))


def test_the_first_booking_given_whose_date_has_come_is_chosen():
    newest_future, newer, older = booking(3, "2027-06-01"), booking(2), booking(1)
    assert domain.choose_booking([newest_future, newer, older], at("2027-03-05T00:00:00")) == newer


def test_the_choice_reads_no_further_than_the_booking_chosen():
    read: list[str] = []

    def lazily():
        for b in (booking(3, "2027-06-01"), booking(2), booking(1)):
            read.append(b.booking_id)
            yield b

    domain.choose_booking(lazily(), at("2027-03-05T00:00:00"))
    assert read == [booking(3).booking_id, booking(2).booking_id]


# --- identity and order ------------------------------------------------------------------------


def test_a_review_id_is_one_per_booking_and_listing():
    a = domain.review_id_for("bk_1", LISTING)
    assert a == domain.review_id_for("bk_1", LISTING) and domain.is_review_id(a)
    assert a != domain.review_id_for("bk_2", LISTING) and a != domain.review_id_for("bk_1", "lst_other")


def test_a_travelers_review_key_is_one_per_traveler_and_listing_and_never_a_review_id():
    key = domain.traveler_review_key("u1", LISTING)
    assert key == domain.traveler_review_key("u1", LISTING) and not domain.is_review_id(key)
    assert key != domain.traveler_review_key("u2", LISTING) and key != domain.traveler_review_key("u1", "lst_other")
    assert key != domain.review_id_for("u1", LISTING)


@pytest.mark.parametrize("value", ["", "rv_", "rv_" + "g" * 20, "rv_" + "0" * 21, "xx_" + "0" * 20])
def test_malformed_review_ids_are_refused(value):
    assert not domain.is_review_id(value)


@given(st.floats(min_value=1.6e9, max_value=4e9), st.floats(min_value=0.000002, max_value=1e6))
def test_a_later_review_sorts_after_an_earlier_one(first, gap):
    assert domain.sort_key(first, "rv_b") < domain.sort_key(first + gap, "rv_a")


def test_a_new_review_checks_its_input():
    b = booking(1)
    review = domain.new_review(booking=b, listing_id=LISTING, traveler_id="u1", traveler_name="Ada Lovelace",
                               rating=4, comment="Fine", now=at("2027-03-05T00:00:00"))
    assert (review.review_id, review.author, review.booking_id) == (
        domain.review_id_for(b.booking_id, LISTING), "Ada", b.booking_id)
    with pytest.raises(ValueError):
        domain.new_review(booking=b, listing_id=LISTING, traveler_id="u1", traveler_name="A", rating=6,
                          comment="", now=0)
