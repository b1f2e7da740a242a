"""Booking email rendering without AWS: wording per event, money per currency, HTML escaping."""
from __future__ import annotations

import copy
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.notify import EVENTS, format_money, render_booking_email

BOOKING = {
    "booking_id": "bk_123",
    "reference": "K7P2QX",
    "status": "CONFIRMED",
    "contact": {"email": "ana@example.com", "name": "Ana Lima"},
    "items": [
        {"listing_id": "lst_f", "kind": "flight", "title": "Paris CDG to New York JFK", "quantity": 2,
         "date": "2027-03-01", "amount": {"amount": 50000, "currency": "EUR"}},
        {"listing_id": "lst_h", "kind": "hotel", "title": "Hotel Lumiere, double room", "quantity": 1,
         "check_in": "2027-03-01", "check_out": "2027-03-04", "amount": {"amount": 38700, "currency": "EUR"}},
    ],
    "amount": {"amount": 88700, "currency": "EUR"},
    "captured_amount": {"amount": 88700, "currency": "EUR"},
    "refunded_amount": {"amount": 0, "currency": "EUR"},
}
REFUND = {"amount": 44350, "currency": "EUR"}


def booking(**over):
    return {**copy.deepcopy(BOOKING), **over}


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


# --- money -----------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, expected", [
    (12900, "EUR", "129.00 EUR"),
    (5, "EUR", "0.05 EUR"),
    (0, "USD", "0.00 USD"),
    (123456789, "GBP", "1,234,567.89 GBP"),
    (12900, "JPY", "12,900 JPY"),    # no minor unit
    (12900, "jpy", "12,900 JPY"),
    (1500, "KWD", "1.500 KWD"),      # three decimals
    (-2500, "EUR", "-25.00 EUR"),
])
def test_format_money_uses_the_currency_minor_unit(amount, currency, expected):
    assert format_money({"amount": amount, "currency": currency}) == expected


@given(st.integers(min_value=0, max_value=10**12))
def test_format_money_round_trips_two_decimal_currencies(amount):
    number, currency = format_money({"amount": amount, "currency": "EUR"}).split(" ")
    assert currency == "EUR"
    assert Decimal(number.replace(",", "")) * 100 == amount


# --- content of every email --------------------------------------------------------------------

@pytest.mark.parametrize("event", EVENTS)
def test_every_email_names_the_traveler_reference_items_dates_and_amounts(event):
    subject, text, html = render_booking_email(event, booking(expires_at="2027-02-20T10:15:00Z"), REFUND)

    assert "K7P2QX" in subject
    for body in (text, visible_text(html)):
        assert "Hello Ana Lima," in body
        assert "K7P2QX" in body
        assert "Paris CDG to New York JFK" in body and "Hotel Lumiere, double room" in body
        assert "Mon 1 Mar 2027" in body
        assert "Check-in Mon 1 Mar 2027, check-out Thu 4 Mar 2027 (3 nights)" in body
        assert "Quantity: 2" in body and "Quantity: 1" in body
        assert "500.00 EUR" in body and "387.00 EUR" in body and "887.00 EUR" in body


def test_a_one_night_stay_is_singular():
    one_night = booking(items=[{**BOOKING["items"][1], "check_out": "2027-03-02"}])
    _, text, _ = render_booking_email("confirmed", one_night)
    assert "(1 night)" in text


def test_jpy_amounts_have_no_decimals():
    yen = booking(amount={"amount": 12900, "currency": "JPY"}, captured_amount={"amount": 12900, "currency": "JPY"},
                  items=[{**BOOKING["items"][0], "amount": {"amount": 12900, "currency": "JPY"}}])
    _, text, html = render_booking_email("confirmed", yen)
    assert "12,900 JPY" in text and "12,900 JPY" in html
    assert "129.00" not in text


def test_a_bare_integer_captured_amount_is_read_in_the_booking_currency():
    _, text, _ = render_booking_email("confirmed", booking(captured_amount=88700))
    assert "Total paid: 887.00 EUR" in text


# --- what happens next, per event --------------------------------------------------------------

def test_confirmed():
    subject, text, _ = render_booking_email("confirmed", booking())
    assert subject == "Booking K7P2QX confirmed"
    assert "Your booking is confirmed" in text
    assert "Total paid: 887.00 EUR" in text


def test_cancelled_with_a_refund_says_how_much_and_when():
    subject, text, html = render_booking_email("cancelled", booking(status="CANCELLED"), REFUND)
    assert subject == "Booking K7P2QX cancelled"
    assert "Refund: 443.50 EUR" in text
    assert "5–10 business days" in text and "5–10 business days" in html


def test_cancelled_hold_says_nothing_was_charged():
    held = booking(status="CANCELLED", captured_amount={"amount": 0, "currency": "EUR"})
    _, text, _ = render_booking_email("cancelled", held)
    assert "Nothing was charged" in text
    assert "Refund:" not in text and "business days" not in text


def test_cancelled_late_without_refund_says_the_policy_allows_none():
    _, text, _ = render_booking_email("cancelled", booking(status="CANCELLED"), {"amount": 0, "currency": "EUR"})
    assert "no refund is due" in text
    assert "business days" not in text


def test_expired_hold_says_units_released_and_to_search_again():
    subject, text, _ = render_booking_email(
        "expired", booking(status="EXPIRED", captured_amount=None, expires_at="2027-02-20T10:15:00Z"))
    assert subject == "Your hold K7P2QX has expired"
    assert "expired at Sat 20 Feb 2027, 10:15 UTC" in text
    assert "released" in text and "search again" in text
    assert "Nothing was charged" in text


def test_refunded_names_the_refund_and_the_delay():
    subject, text, _ = render_booking_email("refunded", booking(), REFUND)
    assert subject == "Refund for booking K7P2QX"
    assert "We have refunded 443.50 EUR" in text
    assert "5–10 business days" in text


def test_held_from_waitlist_says_pay_before_the_hold_expires():
    subject, text, _ = render_booking_email(
        "held_from_waitlist", booking(status="HELD", captured_amount=None, expires_at="2027-02-20T10:15:00Z"))
    assert "K7P2QX" in subject
    assert "Pay by Sat 20 Feb 2027, 10:15 UTC to confirm" in text


def test_a_missing_name_gets_a_plain_greeting():
    _, text, html = render_booking_email("confirmed", booking(contact={"email": "ana@example.com"}))
    assert text.startswith("Hello,\n")
    assert "<p>Hello,</p>" in html


# --- escaping ------------------------------------------------------------------------------------

def test_html_escapes_every_user_provided_value():
    hostile = booking(
        contact={"email": "ana@example.com", "name": "<script>alert(1)</script>"},
        items=[{**BOOKING["items"][0], "title": 'Tour <b>"bold"</b> & <img src=x onerror=alert(2)>'}],
    )
    _, text, html = render_booking_email("confirmed", hostile)

    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Tour &lt;b&gt;&quot;bold&quot;&lt;/b&gt; &amp; &lt;img src=x onerror=alert(2)&gt;" in html
    # The plain-text body is not markup: it shows the values as typed.
    assert "Hello <script>alert(1)</script>," in text


# --- programming errors --------------------------------------------------------------------------

def test_an_unknown_event_is_a_value_error():
    with pytest.raises(ValueError, match="unknown booking email event"):
        render_booking_email("shipped", booking())


def test_a_refunded_email_needs_the_refund():
    with pytest.raises(ValueError):
        render_booking_email("refunded", booking())
