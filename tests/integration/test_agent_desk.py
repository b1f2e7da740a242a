"""The support desk finds bookings: by reference (whatever its case) or by contact email."""
from __future__ import annotations

import pytest

from tests.integration.booking_helpers import day, hold_body, key, make_listing


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=9, price=9000)


def hold(api, tokens, hotel, email: str, offset: int = 3) -> dict:
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(offset),
                                         "check_out": day(offset + 1)}, email=email),
                    token=tokens["traveler"], headers=key())
    assert held.status_code == 201, held.data
    return held.data


def test_an_agent_finds_a_booking_by_its_reference_in_any_case(api, tokens, hotel):
    booking = hold(api, tokens, hotel, "ruth@example.com")
    found = api.get(f"/agent/bookings?reference={booking['reference'].lower()}", token=tokens["agent"])
    assert found.status_code == 200
    [shown] = found.data["bookings"]
    assert shown["booking_id"] == booking["booking_id"]
    assert shown["timeline"] and shown["amount"] == booking["amount"]
    assert "cancel" in shown["available_actions"]


def test_an_unknown_reference_finds_nothing(api, tokens):
    found = api.get("/agent/bookings?reference=ZZZZZZ", token=tokens["agent"])
    assert found.status_code == 200 and found.data == {"bookings": [], "next_cursor": None}


def test_an_agent_finds_bookings_by_contact_email_newest_first_in_pages(api, tokens, hotel):
    first = hold(api, tokens, hotel, "Sam@Example.com", offset=3)
    second = hold(api, tokens, hotel, "sam@example.com", offset=4)
    hold(api, tokens, hotel, "someone.else@example.com", offset=5)
    page = api.get("/agent/bookings?email=SAM@example.com&limit=1", token=tokens["agent"])
    assert [b["booking_id"] for b in page.data["bookings"]] == [second["booking_id"]]
    rest = api.get(f"/agent/bookings?email=sam@example.com&limit=1&cursor={page.data['next_cursor']}",
                   token=tokens["agent"])
    assert [b["booking_id"] for b in rest.data["bookings"]] == [first["booking_id"]]


@pytest.mark.parametrize("query", ["", "?reference=ABC&email=a@example.com"])
def test_exactly_one_of_reference_and_email_is_required(api, tokens, query):
    answer = api.get(f"/agent/bookings{query}", token=tokens["agent"])
    assert answer.status_code == 400 and answer.data["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("role", ["traveler", "vendor", "admin"])
def test_only_agents_use_the_desk(api, tokens, role):
    answer = api.get("/agent/bookings?reference=ABCDEF", token=tokens[role])
    assert answer.status_code == 403 and answer.data["error"]["code"] == "FORBIDDEN"
