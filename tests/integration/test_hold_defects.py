"""Holds: a policy changed within a second, trips too big for one transaction, late replays."""
from __future__ import annotations

import copy
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.booking import holds, service
from chalicelib.booking.models import Booking
from chalicelib.booking.schemas import HoldRequest
from chalicelib.booking.views import booking_view
from chalicelib.core import tables
from chalicelib.core.auth import Principal
from chalicelib.core.errors import IdempotencyKeyReused
from chalicelib.inventory import domain as inventory_domain
from chalicelib.inventory import reservations
from chalicelib.inventory import service as inventory
from chalicelib.inventory.models import AvailabilityDay, Listing
from tests.integration.booking_helpers import TODAY, day, hold_body, key, make_listing

NEW_POLICY = {"free_until_hours": 0, "refund_percent_after": 0}


@pytest.fixture
def frozen_inventory_clock(monkeypatch):
    """Every listing write in the test happens in the same second."""
    instant = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(inventory_domain, "utc_now", lambda: instant)
    return instant


def _policy_of_hold(api, token: str, listing_id: str, offset: int) -> dict:
    """Hold one unit on day(offset); the quote of that date stays cached for the next hold."""
    held = api.post("/holds", hold_body({"listing_id": listing_id, "quantity": 1, "date": day(offset)}),
                    token=token, headers=key())
    assert held.status_code == 201, held.data
    return held.data["items"][0]["cancellation_policy"]


# --- 1. a snapshot is guarded by the listing's version, not by its updated_at second ---------

def test_a_policy_changed_in_the_second_of_a_cached_quote_is_copied_by_the_next_hold(
        api, tokens, frozen_inventory_clock):
    listing_id = make_listing(api, tokens["vendor"], kind="event", policy=(48, 50))
    before = api.get(f"/listings/{listing_id}").data["updated_at"]
    assert _policy_of_hold(api, tokens["traveler"], listing_id, 5) == {  # the quote is now cached
        "free_until_hours": 48, "refund_percent_after": 50}

    patched = api.patch(f"/vendor/listings/{listing_id}", {"cancellation_policy": NEW_POLICY},
                        token=tokens["vendor"])

    assert patched.status_code == 200, patched.data
    assert patched.data["updated_at"] == before  # the same second: a timestamp cannot tell them apart
    assert _policy_of_hold(api, tokens["traveler"], listing_id, 5) == NEW_POLICY


def test_every_listing_change_adds_one_to_its_version(api, tokens):
    listing_id = make_listing(api, tokens["vendor"], kind="event")
    assert int(Listing.get(listing_id, consistent_read=True).version) == 1

    api.patch(f"/vendor/listings/{listing_id}", {"description": "New words"}, token=tokens["vendor"])
    api.patch(f"/vendor/listings/{listing_id}", {"cancellation_policy": NEW_POLICY}, token=tokens["vendor"])

    assert int(Listing.get(listing_id, consistent_read=True).version) == 3


def test_a_listing_stored_without_a_version_is_held_and_its_later_change_is_copied(
        api, tokens, frozen_inventory_clock):
    listing_id = make_listing(api, tokens["vendor"], kind="event", policy=(48, 50))
    Listing(listing_id).update(actions=[Listing.version.remove()])  # as older data was stored
    assert _policy_of_hold(api, tokens["traveler"], listing_id, 5) == {
        "free_until_hours": 48, "refund_percent_after": 50}

    api.patch(f"/vendor/listings/{listing_id}", {"cancellation_policy": NEW_POLICY}, token=tokens["vendor"])

    assert int(Listing.get(listing_id, consistent_read=True).version) == 1
    assert _policy_of_hold(api, tokens["traveler"], listing_id, 5) == NEW_POLICY


# --- 2. the hold transaction's items are counted before it is sent ---------------------------

def _vendors_hotels(api, tokens, count: int) -> list[str]:
    """One hotel per vendor, each vendor onboarded by an admin."""
    listings = []
    for n in range(count):
        email = f"trip-{n}-{uuid.uuid4().hex[:6]}@example.com"
        created = api.post("/admin/vendors", {"name": f"Trip vendor {n}", "email": email}, token=tokens["admin"])
        assert created.status_code == 201, created.data
        vendor_id = created.data["vendor_id"]
        listing = inventory.create_listing(vendor_id, {
            "kind": "hotel", "title": f"Trip hotel {n}", "description": "", "currency": "EUR", "attributes": {},
            "city": "PAR", "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 50}})
        inventory.set_availability(vendor_id, listing.listing_id, first=TODAY, last=TODAY + timedelta(days=20),
                                   capacity=5, price=10000, days=None)
        listings.append(listing.listing_id)
    return listings


def _stay(listing_id: str, nights: int) -> dict:
    return {"listing_id": listing_id, "quantity": 1, "check_in": day(3), "check_out": day(3 + nights)}


@pytest.fixture
def sent_transactions():
    """The TransactItems of every TransactWriteItems that writes a booking (the vendor's
    availability writes go through the same client: every model shares one, core.aws)."""
    sent: list[list] = []

    def grab(params, **kwargs):
        if any(item.get("Put", {}).get("TableName") == Booking.Meta.table_name for item in params["TransactItems"]):
            sent.append(copy.deepcopy(params["TransactItems"]))

    client = tables.transaction()._connection.client
    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", grab)
    yield sent
    client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", grab)


def test_a_trip_needing_more_than_100_transaction_items_is_a_400_naming_items(api, tokens, sent_transactions):
    hotels = _vendors_hotels(api, tokens, 10)
    body = hold_body(*(_stay(h, 8) for h in hotels))  # 80 dates + 10 listings + 10 vendors + 4 = 104

    response = api.post("/holds", body, token=tokens["traveler"], headers=key())

    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    message = response.data["error"]["details"]["fields"]["items"]
    assert "104" in message and "100" in message
    assert sent_transactions == []  # refused before anything was sent
    assert int(AvailabilityDay.get(hotels[0], day(3), consistent_read=True).held) == 0


def test_a_trip_needing_exactly_100_transaction_items_is_held_in_one_transaction(
        api, tokens, sent_transactions):
    hotels = _vendors_hotels(api, tokens, 10)
    body = hold_body(*(_stay(h, 8) for h in hotels[:9]), _stay(hotels[9], 4))  # 76 + 10 + 10 + 4

    response = api.post("/holds", body, token=tokens["traveler"], headers=key())

    assert response.status_code == 201, response.data
    assert [len(items) for items in sent_transactions] == [holds.TRANSACTION_MAX_ITEMS]


# --- 3. a replay gets the first answer even when the request would now be refused ------------

def _traveler() -> Principal:
    name = "usr_" + uuid.uuid4().hex[:12]
    return Principal(user_id=name, email=f"{name}@example.com", name="Tessa", roles=frozenset({"travelers"}))


def _request(listing_id: str, offset: int, quantity: int = 1) -> HoldRequest:
    return HoldRequest.model_validate(hold_body({"listing_id": listing_id, "quantity": quantity,
                                                 "date": day(offset)}))


def test_a_replay_after_the_date_has_passed_returns_the_first_answer(api, tokens):
    listing_id = make_listing(api, tokens["vendor"], kind="event")
    traveler, idempotency_key, now = _traveler(), uuid.uuid4().hex, time.time()
    first = service.place_hold(traveler, _request(listing_id, 2), idempotency_key, now=now)
    assert first.status == "HELD"

    replay = service.place_hold(traveler, _request(listing_id, 2), idempotency_key, now=now + 5 * 86400)

    assert (replay.status, replay.body) == (201, booking_view(first, traveler, now))


def test_a_replay_of_a_date_no_longer_on_sale_returns_the_first_answer(api, tokens):
    listing_id = make_listing(api, tokens["vendor"], kind="event")
    traveler, idempotency_key = _traveler(), uuid.uuid4().hex
    first = service.place_hold(traveler, _request(listing_id, 2), idempotency_key)
    AvailabilityDay(listing_id, day(2)).delete()  # as if the date had never been put on sale
    reservations.forget()  # another container, with a cold quote cache

    replay = service.place_hold(traveler, _request(listing_id, 2), idempotency_key)
    assert replay.status == 201 and replay.body["booking_id"] == first.booking_id


def test_another_request_under_a_used_key_is_422_even_when_it_is_invalid(api, tokens):
    listing_id = make_listing(api, tokens["vendor"], kind="event")
    traveler, idempotency_key, now = _traveler(), uuid.uuid4().hex, time.time()
    service.place_hold(traveler, _request(listing_id, 2), idempotency_key, now=now)

    with pytest.raises(IdempotencyKeyReused):
        service.place_hold(traveler, _request(listing_id, 2, quantity=2), idempotency_key, now=now + 5 * 86400)
