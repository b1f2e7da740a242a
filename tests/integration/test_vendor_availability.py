"""Setting and reading per-date availability; the committed-units rule and all-or-nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.inventory import availability
from chalicelib.inventory.domain import DayState, utc_now
from chalicelib.inventory.models import AvailabilityDay

HOTEL = {"kind": "hotel", "title": "Garden room", "currency": "EUR", "city": "LIS",
         "cancellation_policy": {"free_until_hours": 24, "refund_percent_after": 0}}
START = utc_now().date() + timedelta(days=20)


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


@pytest.fixture
def listing_id(api, tokens):
    return api.post("/vendor/listings", HOTEL, token=tokens["vendor"]).data["listing_id"]


def put(api, token, listing_id, body):
    return api.put(f"/vendor/listings/{listing_id}/availability", body, token=token)


def calendar(api, listing_id, first, last):
    response = api.get(f"/listings/{listing_id}/availability?from={first}&to={last}")
    assert response.status_code == 200, response.data
    return {d["date"]: d for d in response.data["days"]}


def fields_of(response) -> dict:
    assert response.status_code == 400, response.data
    return response.data["error"]["details"]["fields"]


def hold(listing_id: str, on: str, units: int, sold: bool = False) -> None:
    """What a hold (or a confirmed booking) does to the item, as the booking context does it."""
    d = AvailabilityDay
    counter = d.sold if sold else d.held
    AvailabilityDay(listing_id, on).update(
        actions=[d.available.set(d.available - units), counter.set(counter + units),
                 d.version.set(d.version + 1)], condition=d.available >= units)


def test_range_then_days_then_read_back(api, tokens, listing_id):
    response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(9), "capacity": 5, "price": 12000})
    assert response.status_code == 200 and response.data == {"updated": 10}
    response = put(api, tokens["vendor"], listing_id, {"days": [
        {"date": day(2), "capacity": 7, "price": 15000}, {"date": day(12), "capacity": 1, "price": 9900}]})
    assert response.data == {"updated": 2}

    days = calendar(api, listing_id, day(0), day(20))
    assert sorted(days) == [day(i) for i in range(10)] + [day(12)]  # dates never put on sale are absent
    assert days[day(0)] == {"date": day(0), "capacity": 5, "available": 5,
                            "price": {"amount": 12000, "currency": "EUR"}}
    assert days[day(2)]["capacity"] == 7 and days[day(2)]["price"]["amount"] == 15000
    assert days[day(12)]["available"] == 1

    item = AvailabilityDay.get(listing_id, day(2), consistent_read=True)
    assert (item.held, item.sold, item.version, item.search_key) == (0, 0, 2, f"hotel#LIS#{day(2)}")


def test_calendar_defaults_and_limits(api, tokens, listing_id):
    today = utc_now().date()
    put(api, tokens["vendor"], listing_id, {"from": today.isoformat(), "to": (today + timedelta(days=40)).isoformat(),
                                            "capacity": 2, "price": 100})
    default = api.get(f"/listings/{listing_id}/availability").data["days"]
    assert [d["date"] for d in default] == [(today + timedelta(days=i)).isoformat() for i in range(30)]

    assert {"from", "to"} <= set(fields_of(api.get(f"/listings/{listing_id}/availability?from={day(5)}&to={day(1)}")))
    assert "to" in fields_of(api.get(f"/listings/{listing_id}/availability?from={day(0)}&to={day(366)}"))
    assert calendar(api, listing_id, day(0), day(365)) is not None  # 366 days is allowed
    assert "from" in fields_of(api.get(f"/listings/{listing_id}/availability?from=03/01/2027"))
    assert api.get(f"/listings/lst_unknown/availability?from={day(0)}&to={day(1)}").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"from": day(0), "to": day(1), "capacity": -1, "price": 100}, "capacity"),
    ({"from": day(0), "to": day(1), "capacity": 1.5, "price": 100}, "capacity"),
    ({"from": day(0), "to": day(1), "capacity": "3", "price": 100}, "capacity"),
    ({"from": day(0), "to": day(1), "capacity": 3, "price": -5}, "price"),
    ({"from": day(0), "to": day(1), "capacity": 3, "price": 99.99}, "price"),
    ({"from": day(5), "to": day(1), "capacity": 3, "price": 100}, "to"),
    ({"from": day(0), "to": day(366), "capacity": 3, "price": 100}, "to"),
    ({"from": day(0), "capacity": 3, "price": 100}, "to"),
    ({"from": (START - timedelta(days=60)).isoformat(), "to": day(0), "capacity": 3, "price": 100}, "from"),
    ({"from": "2027-02-30", "to": day(0), "capacity": 3, "price": 100}, "from"),
    ({"days": []}, "days"),
    ({"days": [{"date": day(0), "capacity": 1, "price": 1}] * 2}, "days.1.date"),
    ({"days": [{"date": day(i), "capacity": 1, "price": 1} for i in range(367)]}, "days"),
    ({"days": [{"date": day(0), "capacity": -1, "price": 1}]}, "days.0.capacity"),
    ({"days": [{"date": day(0), "capacity": 1, "price": 1}], "capacity": 3}, "days"),
    ({"until": day(0)}, "until"),
])
def test_availability_validation_names_the_field(api, tokens, listing_id, body, field):
    assert field in fields_of(put(api, tokens["vendor"], listing_id, body))
    assert calendar(api, listing_id, day(0), day(365)) == {}  # nothing was written


def test_366_dates_in_one_update(api, tokens, listing_id):
    response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(365), "capacity": 3, "price": 500})
    assert response.data == {"updated": 366}
    days = calendar(api, listing_id, day(0), day(365))
    assert len(days) == 366 and {d["capacity"] for d in days.values()} == {3}


def test_capacity_below_committed_names_the_dates_and_changes_nothing(api, tokens, listing_id):
    put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(199), "capacity": 10, "price": 8000})
    hold(listing_id, day(3), 4)
    hold(listing_id, day(150), 2, sold=True)
    hold(listing_id, day(150), 3)
    before = calendar(api, listing_id, day(0), day(199))

    response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(199), "capacity": 3, "price": 9000})
    assert response.status_code == 409
    error = response.data["error"]
    assert error["code"] == "CAPACITY_BELOW_COMMITTED"
    assert error["details"]["dates"] == [day(3), day(150)]
    assert error["details"]["committed"] == {day(3): 4, day(150): 5}
    assert calendar(api, listing_id, day(0), day(199)) == before

    # Down to exactly what is committed is fine, and keeps available = capacity - held - sold.
    response = put(api, tokens["vendor"], listing_id, {"days": [{"date": day(150), "capacity": 5, "price": 8000}]})
    assert response.status_code == 200
    item = AvailabilityDay.get(listing_id, day(150), consistent_read=True)
    assert (item.capacity, item.held, item.sold, item.available) == (5, 3, 2, 0)


def test_raising_capacity_keeps_the_counters_consistent(api, tokens, listing_id):
    put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(0), "capacity": 4, "price": 100})
    hold(listing_id, day(0), 3)
    put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(0), "capacity": 9, "price": 120})
    item = AvailabilityDay.get(listing_id, day(0), consistent_read=True)
    assert (item.capacity, item.held, item.available, item.price) == (9, 3, 6, 120)


def test_a_hold_between_check_and_write_undoes_the_earlier_transactions(api, tokens, listing_id, monkeypatch):
    """200 dates take three transactions. A hold lands on a date of the third after the check:
    the refused transaction is rolled back by DynamoDB, the two committed ones by us."""
    put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(199), "capacity": 10, "price": 8000})
    hold(listing_id, day(199), 6)  # the check below will not see it
    real_read = availability._read
    reads = []

    def stale_first_read(listing, dates):
        current = real_read(listing, dates)
        reads.append(len(current))
        if len(reads) == 1:  # what a check just before the hold arrived would have seen
            current[START + timedelta(days=199)] = DayState(10, 0, 0, 10, 8000)
        return current

    monkeypatch.setattr(availability, "_read", stale_first_read)
    response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(199), "capacity": 4, "price": 7000})
    assert response.status_code == 409, response.data
    assert response.data["error"]["details"]["dates"] == [day(199)]
    assert reads == [200, 200]  # checked, then re-read after the refusal to name every date

    items = {i.date: i for i in AvailabilityDay.query(listing_id, consistent_read=True)}
    for key, item in items.items():
        held = 6 if key == day(199) else 0
        assert (item.capacity, item.price, item.held, item.available) == (10, 8000, held, 10 - held), key
    # The first two transactions (99 dates each) were written and then undone; the third,
    # holding the last two dates, never applied.
    assert items[day(0)].version == 3 and items[day(197)].version == 3
    assert items[day(198)].version == 1 and items[day(199)].version == 2  # put, then the hold


def test_a_concurrent_update_waits_for_the_lease(api, tokens, listing_id, monkeypatch):
    from chalicelib.inventory.models import Listing

    put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(1), "capacity": 2, "price": 100})
    Listing(listing_id).update(actions=[Listing.availability_lock.set("someone-else"),
                                        Listing.availability_lock_until.set(2**40)])
    monkeypatch.setattr(availability, "LEASE_WAIT_SECONDS", 0.2)
    response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(1), "capacity": 5, "price": 100})
    assert response.status_code == 409 and response.data["error"]["code"] == "REQUEST_IN_PROGRESS"

    # An expired lease (its holder died) is taken over.
    Listing(listing_id).update(actions=[Listing.availability_lock_until.set(1)])
    response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(1), "capacity": 5, "price": 100})
    assert response.status_code == 200
    assert Listing.get(listing_id).availability_lock is None
    assert calendar(api, listing_id, day(0), day(1))[day(1)]["capacity"] == 5


def test_only_the_owner_sets_availability(api, tokens, listing_id):
    body = {"from": day(0), "to": day(1), "capacity": 2, "price": 100}
    assert put(api, tokens["vendor2"], listing_id, body).status_code == 404
    assert put(api, tokens["traveler"], listing_id, body).status_code == 403
    assert api.put(f"/vendor/listings/{listing_id}/availability", body).status_code == 401


class TransactionFaults:
    """moto never raises TransactionConflict (DESIGN pitfall 8): inject it per TransactWriteItems call."""

    def __init__(self, conflicts: list[bool]) -> None:
        self.conflicts = conflicts
        self.calls = 0
        self.client = AvailabilityDay._get_connection().connection.client

    def __call__(self, **_):
        self.calls += 1
        if self.calls <= len(self.conflicts) and self.conflicts[self.calls - 1]:
            reasons = [{"Code": "None"}, {"Code": "TransactionConflict"}]  # the fence passed, a date conflicted
            http = type("Http", (), {"status_code": 400, "headers": {}})()
            return http, {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                          "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    def __enter__(self):
        self.client.meta.events.register("before-call.dynamodb.TransactWriteItems", self)
        return self

    def __exit__(self, *exc):
        self.client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", self)


def test_a_transaction_conflict_is_retried(api, tokens, listing_id):
    with TransactionFaults([True, True, False]) as faults:
        response = put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(2), "capacity": 3, "price": 100})
    assert response.status_code == 200 and faults.calls == 3
    assert {d["capacity"] for d in calendar(api, listing_id, day(0), day(2)).values()} == {3}


def test_when_dynamodb_keeps_refusing_the_committed_transactions_are_undone(api, tokens, listing_id, monkeypatch):
    """Drops commit (1st transaction), then the rises keep conflicting: the drops are undone."""
    monkeypatch.setattr(availability.time, "sleep", lambda seconds: None)
    put(api, tokens["vendor"], listing_id, {"from": day(0), "to": day(9), "capacity": 5, "price": 100})
    hold(listing_id, day(1), 2)
    before = calendar(api, listing_id, day(0), day(20))
    body = {"days": [{"date": day(i), "capacity": 3, "price": 90} for i in range(5)] +  # drops
                    [{"date": day(i), "capacity": 8, "price": 110} for i in range(5, 12)]}  # rises, new dates
    with TransactionFaults([False] + [True] * availability.CONFLICT_RETRIES) as faults:
        response = put(api, tokens["vendor"], listing_id, body)
    assert response.status_code == 503, response.data
    assert response.data["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert faults.calls == 1 + availability.CONFLICT_RETRIES + 1  # drops, the failing rises, the undo
    assert calendar(api, listing_id, day(0), day(20)) == before
    item = AvailabilityDay.get(listing_id, day(1), consistent_read=True)
    assert (item.capacity, item.held, item.available) == (5, 2, 3)
