"""GET /places through the API: prefixes, accents, codes, only what is on sale, one Query; and
the index kept by vendors' availability updates."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from chalicelib.inventory import place_index
from chalicelib.inventory.domain import utc_now
from chalicelib.inventory.models import PlaceEntry
from chalicelib.inventory.places import describe

START = utc_now().date() + timedelta(days=30)
POLICY = {"free_until_hours": 24, "refund_percent_after": 0}


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


def listing(api, token, kind="hotel", **place) -> str:
    body = {"kind": kind, "title": "A listing", "currency": "EUR", "cancellation_policy": POLICY, **place}
    response = api.post("/vendor/listings", body, token=token)
    assert response.status_code == 201, response.data
    return response.data["listing_id"]


def put_days(api, token, listing_id, *entries) -> None:
    """entries: (offset, capacity)."""
    body = {"days": [{"date": day(o), "capacity": c, "price": 10000} for o, c in entries]}
    response = api.put(f"/vendor/listings/{listing_id}/availability", body, token=token)
    assert response.status_code == 200, response.data


def on_sale(api, token, kind="hotel", **place) -> str:
    lid = listing(api, token, kind, **place)
    put_days(api, token, lid, (0, 5))
    return lid


def places(api, q, **params):
    query = "&".join([f"q={quote(q)}"] + [f"{k}={v}" for k, v in params.items()])
    response = api.get(f"/places?{query}")
    assert response.status_code == 200, response.data
    return response.data["places"]


def codes(api, q, **params) -> list[str]:
    return [p["code"] for p in places(api, q, **params)]


def fields_of(response) -> dict:
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    return response.data["error"]["details"]["fields"]


def items_of(code: str) -> list[PlaceEntry]:
    """Every entry of a place (tests only: a scan of the test's small table)."""
    return [e for e in PlaceEntry.scan() if e.code == code]


# --- finding -----------------------------------------------------------------------------------

def test_lis_finds_lisbon_with_the_kinds_on_sale_there(api, tokens):
    v = tokens["vendor"]
    on_sale(api, v, "hotel", city="LIS")
    on_sale(api, v, "event", city="LIS")
    for q in ("lis", "Lisb", "LISBON"):
        assert places(api, q) == [{"code": "LIS", "type": "city", "name": "Lisbon", "city": "Lisbon",
                                   "country": "PT", "kinds": ["hotel", "event"]}], q


@pytest.mark.parametrize("q", ["sao", "SÃO", "São P", "são paulo", "paulo"])
def test_sao_paulo_is_found_with_or_without_accents(api, tokens, q):
    on_sale(api, tokens["vendor"], "service", city="SAO")
    assert [(p["code"], p["name"]) for p in places(api, q)] == [("SAO", "São Paulo")]


def test_a_city_code_finds_the_city_first_then_its_airports_with_flights(api, tokens):
    v = tokens["vendor"]
    on_sale(api, v, "hotel", city="PAR")
    assert codes(api, "PAR") == ["PAR"]  # no flight yet: no airport to offer

    on_sale(api, v, "flight", origin="CDG", destination="LIS")
    found = places(api, "PAR")
    assert [(p["code"], p["type"], p["kinds"]) for p in found] == [
        ("PAR", "city", ["flight", "hotel"]), ("CDG", "airport", ["flight"])]
    assert found[1]["name"] == "Paris Charles de Gaulle" and found[1]["city"] == "Paris"
    assert codes(api, "cdg") == ["CDG"]
    assert codes(api, "gaulle") == ["CDG"]
    # The destination airport's city is listed too; LIS is both, so one place.
    assert [(p["code"], p["kinds"]) for p in places(api, "lis")] == [("LIS", ["flight"])]


def test_an_unknown_code_is_found_by_its_code(api, tokens):
    on_sale(api, tokens["vendor"], "flight", origin="XQZ", destination="JFK")
    assert places(api, "xq") == [{"code": "XQZ", "type": "city", "name": "XQZ", "city": "XQZ",
                                  "country": None, "kinds": ["flight"]}]
    assert codes(api, "new york") == ["NYC", "JFK"]


def test_limit_caps_the_answer(api, tokens):
    v = tokens["vendor"]
    for origin in ("LHR", "LGW", "STN"):
        on_sale(api, v, "flight", origin=origin, destination="CDG")
    assert codes(api, "lon") == ["LON", "LGW", "LHR", "STN"]
    assert codes(api, "lon", limit=2) == ["LON", "LGW"]


def test_a_place_is_listed_only_once_something_is_put_on_sale(api, tokens):
    v = tokens["vendor"]
    lid = listing(api, v, "hotel", city="ROM")
    assert codes(api, "rom") == []  # published, nothing on sale
    put_days(api, v, lid, (0, 0), (1, 0))  # dates with no units
    assert codes(api, "rom") == []
    put_days(api, v, lid, (1, 2))
    assert codes(api, "rom") == ["ROM"]


def test_past_dates_list_nothing(api, tokens):
    past = utc_now().date() - timedelta(days=3)
    place_index.extend_listing("hotel", past, city="MIL")
    place_index.extend_listing("flight", past, origin="MXP", destination="FCO")
    assert codes(api, "mil") == []
    place_index.extend_listing("event", utc_now().date() + timedelta(days=2), city="MIL")
    assert [(p["code"], p["kinds"]) for p in places(api, "mil")] == [("MIL", ["event"])]


def test_a_places_query_is_one_dynamodb_query(api, tokens):
    v = tokens["vendor"]
    on_sale(api, v, "hotel", city="PAR")
    on_sale(api, v, "flight", origin="ORY", destination="BCN")
    calls = []
    client = PlaceEntry._get_connection().connection.client

    def record(model, params, **_):
        calls.append((model.name, params.get("TableName"), params.get("KeyConditionExpression")))

    client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        assert codes(api, "pa") == ["PAR", "ORY"]
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert calls == [("Query", PlaceEntry.Meta.table_name, "initial = :i AND begins_with(term_code, :p)")]


def _count_queries(client, calls):
    def record(model, params, **_):
        if model.name == "Query" and params.get("TableName") == PlaceEntry.Meta.table_name:
            calls.append(params.get("Limit"))
    client.meta.events.register("provide-client-params.dynamodb.*", record)
    return record


def _past_places(prefix: str, count: int) -> None:
    """`count` places (unknown codes <prefix>AA, <prefix>AB, ...) whose dates are all past."""
    past = utc_now().date() - timedelta(days=3)
    codes_ = [prefix + chr(ord("A") + n // 26) + chr(ord("A") + n % 26) for n in range(count)]
    place_index.extend("hotel", past, [describe(code) for code in codes_])


def test_past_entries_ahead_of_a_place_on_sale_are_read_past(api, tokens):
    _past_places("L", 25)  # LAA..LAY, sorted before "lon": more than one page of limit=1 (20)
    on_sale(api, tokens["vendor"], "hotel", city="LON")
    client = PlaceEntry._get_connection().connection.client
    calls: list = []
    record = _count_queries(client, calls)
    try:
        assert codes(api, "l", limit=1) == ["LON"]
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert calls == [place_index.read_budget(1), place_index.READ_MAX]  # one more page, a full one


def test_a_prefix_full_of_past_entries_stops_after_max_pages(api, tokens, monkeypatch):
    _past_places("L", 12)
    on_sale(api, tokens["vendor"], "hotel", city="LON")
    monkeypatch.setattr(place_index, "READ_MIN", 2)
    monkeypatch.setattr(place_index, "READ_PER_PLACE", 2)
    monkeypatch.setattr(place_index, "READ_MAX", 2)
    client = PlaceEntry._get_connection().connection.client
    calls: list = []
    record = _count_queries(client, calls)
    try:
        assert codes(api, "l", limit=1) == []  # 4 pages of 2 past entries: the answer is bounded
        assert len(calls) == place_index.MAX_PAGES
        monkeypatch.setattr(place_index, "READ_MAX", 20)
        calls.clear()
        assert codes(api, "l", limit=1) == ["LON"]
        assert len(calls) == 2
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)


def test_a_query_longer_than_any_term_finds_nothing_and_sends_no_query(api, tokens):
    on_sale(api, tokens["vendor"], "hotel", city="PAR")
    client = PlaceEntry._get_connection().connection.client
    calls: list = []
    record = _count_queries(client, calls)
    try:
        # U+FDFA: one character NFKD expands to 18 (1,650 bytes for 50), past DynamoDB's
        # 1,024-byte sort key: sent as a key prefix it would be a 5xx on real DynamoDB.
        assert places(api, "\ufdfa" * 50) == []
        assert calls == []
        assert codes(api, "par") == ["PAR"]
        assert len(calls) == 1
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)


@pytest.mark.parametrize("query, field", [
    ("", "q"),
    ("q=", "q"),
    ("q=%20%20%20", "q"),
    ("q=%23%21%2D", "q"),  # no letter or digit
    ("q=" + "a" * 51, "q"),
    ("q=par&limit=0", "limit"),
    ("q=par&limit=51", "limit"),
    ("q=par&limit=ten", "limit"),
    ("q=par&kind=hotel", "kind"),
])
def test_bad_parameters_are_400_naming_the_field(api, query, field):
    assert field in fields_of(api.get(f"/places?{query}"))


def test_places_need_no_token(api):
    assert api.get("/places?q=par").status_code == 200


# --- keeping the index -------------------------------------------------------------------------

def _count_place_calls(client, calls):
    def record(model, params, **_):
        if params.get("TableName") == PlaceEntry.Meta.table_name or PlaceEntry.Meta.table_name in str(
                params.get("RequestItems", "")):
            calls.append(model.name)
    client.meta.events.register("provide-client-params.dynamodb.*", record)
    return record


def test_an_update_of_dates_already_listed_reads_the_index_once_and_writes_nothing(api, tokens):
    v = tokens["vendor"]
    lid = on_sale(api, v, "hotel", city="BCN")
    client = PlaceEntry._get_connection().connection.client
    calls: list[str] = []
    record = _count_place_calls(client, calls)
    try:
        put_days(api, v, lid, (0, 9))  # re-sized: the index is read (it might be behind), not written
        assert calls == ["BatchGetItem"]
        calls.clear()
        put_days(api, v, lid, (5, 1))  # a later date: read, then the place's entries extended
        assert calls[0] == "BatchGetItem" and set(calls[1:]) == {"UpdateItem"}
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    assert {e.until_hotel for e in items_of("BCN")} == {day(5)}


def test_the_index_never_moves_a_date_back(api, tokens):
    v = tokens["vendor"]
    later = START + timedelta(days=90)
    place_index.extend_listing("hotel", later, city="TYO")
    on_sale(api, v, "hotel", city="TYO")  # on sale until START: earlier than what is listed
    entries = items_of("TYO")
    assert entries and {e.until_hotel for e in entries} == {later.isoformat()}
    assert place_index.extend_listing("hotel", later, city="TYO") == 0  # nothing behind: no write


def test_an_index_failure_does_not_fail_the_vendor_and_heals_with_the_next_later_date(
        api, tokens, monkeypatch):
    v = tokens["vendor"]
    lid = listing(api, v, "hotel", city="CPT")
    real = place_index._extend_item

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB unreachable")

    monkeypatch.setattr(place_index, "_extend_item", broken)
    monkeypatch.setattr(place_index.time, "sleep", lambda _: None)
    failures = []
    monkeypatch.setattr(place_index, "count", lambda name, value=1: failures.append(name))
    put_days(api, v, lid, (0, 3))  # 200 whatever the index does
    assert failures == ["PlaceIndexFailures"]
    assert codes(api, "cape") == []

    monkeypatch.setattr(place_index, "_extend_item", real)
    put_days(api, v, lid, (1, 3))
    assert codes(api, "cape") == ["CPT"]


def test_the_same_update_retried_after_the_index_failed_lists_the_place(api, tokens, monkeypatch):
    """A vendor retrying an update whose process died (or whose index write failed) after the
    availability commit: its dates are saved already, the index is still behind, the retry
    repairs it."""
    v = tokens["vendor"]
    lid = listing(api, v, "hotel", city="CPT")

    def broken(*args, **kwargs):
        raise RuntimeError("DynamoDB unreachable")

    monkeypatch.setattr(place_index, "_extend_item", broken)
    monkeypatch.setattr(place_index.time, "sleep", lambda _: None)
    monkeypatch.setattr(place_index, "count", lambda name, value=1: None)
    put_days(api, v, lid, (0, 3), (1, 3))
    assert codes(api, "cape") == []
    monkeypatch.undo()
    put_days(api, v, lid, (0, 3), (1, 3))  # the very same update
    assert codes(api, "cape") == ["CPT"]


def test_an_entry_expires_some_days_after_its_latest_date_of_any_kind(api, tokens):
    def expires() -> set[int]:
        return {int(e.expires_at.timestamp()) for e in items_of("LIS")}

    later, earlier, latest = (START + timedelta(days=n) for n in (10, 5, 20))
    place_index.extend_listing("hotel", later, city="LIS")
    assert expires() == {place_index.expiry(later.isoformat())}
    place_index.extend_listing("event", earlier, city="LIS")  # listed, but the TTL stays later
    assert {e.until_event for e in items_of("LIS")} == {earlier.isoformat()}
    assert expires() == {place_index.expiry(later.isoformat())}
    place_index.extend_listing("event", latest, city="LIS")
    assert expires() == {place_index.expiry(latest.isoformat())}
    assert {e.until_hotel for e in items_of("LIS")} == {later.isoformat()}


def test_the_ttl_attribute_is_declared_on_the_model():
    """infra.template enables the table's TimeToLiveSpecification from the model's TTLAttribute."""
    from pynamodb.attributes import TTLAttribute

    ttl = [a.attr_name for a in PlaceEntry.get_attributes().values() if isinstance(a, TTLAttribute)]
    assert ttl == ["expires_at"]


def test_neither_the_app_nor_the_availability_code_imports_the_index_at_start():
    """Cold starts: search (through inventory.service and .availability) and every other route
    load without the index; GET /places and availability writes import it when they run."""
    check = ("import sys, app; import chalicelib.inventory.service, chalicelib.inventory.availability; "
             "assert 'chalicelib.inventory.place_index' not in sys.modules, 'place_index imported'")
    result = subprocess.run([sys.executable, "-c", check], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True,
                            env={"PATH": "", "ITINERA_STAGE": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stderr


def test_entries_are_keyed_by_first_character_and_term(aws_env):
    place_index.extend("hotel", date(2099, 1, 1), [place_index.places_of_listing("hotel", city="SAO")[0]])
    keys = sorted((e.initial, e.term_code) for e in PlaceEntry.scan())
    assert keys == [("p", "paulo#SAO"), ("s", "sao paulo#SAO"), ("s", "sao#SAO")]
