"""Inputs that used to get past validation and broke later: nulls in a PATCH, numbers DynamoDB
cannot store, unbounded integers in a filter, Cognito's raw error text in a 400."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core import aws
from chalicelib.inventory.domain import utc_now

HOTEL = {"kind": "hotel", "title": "Canal view double", "description": "Two guests, breakfast.",
         "currency": "EUR", "city": "PAR", "attributes": {"room_type": "double", "beds": 1},
         "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 30}}
FLIGHT = {"kind": "flight", "title": "CDG → LIS 07:10", "currency": "EUR", "origin": "CDG",
          "destination": "LIS", "cancellation_policy": {"free_until_hours": 24, "refund_percent_after": 0}}
DAY = (utc_now().date() + timedelta(days=30)).isoformat()


def fields_of(response) -> dict:
    assert response.status_code == 400, (response.status_code, response.data)
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    return response.data["error"]["details"]["fields"]


@pytest.fixture
def hotel(api, tokens):
    response = api.post("/vendor/listings", HOTEL, token=tokens["vendor"])
    assert response.status_code == 201, response.data
    listing = response.data
    on_sale = api.put(f"/vendor/listings/{listing['listing_id']}/availability",
                      {"from": DAY, "to": DAY, "capacity": 3, "price": 10000}, token=tokens["vendor"])
    assert on_sale.status_code == 200, on_sale.data
    return listing


def still_readable(api, tokens, listing) -> None:
    """Every read that shows the listing answers, and shows it unchanged."""
    lid = listing["listing_id"]
    public = api.get(f"/listings/{lid}")
    assert public.status_code == 200, public.data
    assert public.data == listing
    own = api.get("/vendor/listings", token=tokens["vendor"])
    assert own.status_code == 200, own.data
    assert [x for x in own.data["listings"] if x["listing_id"] == lid] == [listing]
    found = api.get(f"/search?kind=hotel&city=PAR&check_in={DAY}&check_out="
                    f"{(utc_now().date() + timedelta(days=31)).isoformat()}")
    assert found.status_code == 200, found.data
    assert [r["title"] for r in found.data["results"] if r["listing_id"] == lid] == [listing["title"]]


# --- 1. explicit nulls in a PATCH ---------------------------------------------------------------

@pytest.mark.parametrize("field", ["title", "cancellation_policy", "kind", "currency", "city",
                                   "origin", "destination"])
def test_patch_cannot_clear_a_required_field(api, tokens, hotel, field):
    path = f"/vendor/listings/{hotel['listing_id']}"
    fields = fields_of(api.patch(path, {field: None}, token=tokens["vendor"]))
    assert field in fields
    still_readable(api, tokens, hotel)


def test_patch_null_with_a_valid_change_writes_nothing(api, tokens, hotel):
    path = f"/vendor/listings/{hotel['listing_id']}"
    body = {"title": None, "description": "New text", "cancellation_policy": None}
    assert {"title", "cancellation_policy"} <= set(fields_of(api.patch(path, body, token=tokens["vendor"])))
    still_readable(api, tokens, hotel)


def test_patch_clears_description_and_attributes(api, tokens, hotel):
    path = f"/vendor/listings/{hotel['listing_id']}"
    cleared = api.patch(path, {"description": None, "attributes": None}, token=tokens["vendor"])
    assert cleared.status_code == 200, cleared.data
    assert cleared.data["description"] == "" and cleared.data["attributes"] == {}
    assert cleared.data["title"] == hotel["title"]
    still_readable(api, tokens, cleared.data)


# --- 2. attributes DynamoDB can store ---------------------------------------------------------

@pytest.mark.parametrize("raw_attributes", [
    '{"a": 1e400}', '{"a": -1e400}', '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
    '{"a": [1, {"b": NaN}]}', '{"a": 1e300}', '{"a": 1e-200}',
    '{"a": 123456789012345678901234567890123456789}',  # 39 significant digits
    '{"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}',  # too deep
    '{"": 1}', '{"a": {"": 1}}', '{"%s": 1}' % ("k" * 65),
    '{"a": "%s"}' % ("x" * 5000),
])
def test_attributes_must_be_storable(api, tokens, hotel, raw_attributes):
    import json

    base = json.dumps({k: v for k, v in HOTEL.items() if k != "attributes"})
    created = api.post("/vendor/listings", base[:-1] + ', "attributes": ' + raw_attributes + "}",
                       token=tokens["vendor"])
    assert any(f == "attributes" or f.startswith("attributes.") for f in fields_of(created))
    path = f"/vendor/listings/{hotel['listing_id']}"
    patched = api.patch(path, '{"attributes": ' + raw_attributes + "}", token=tokens["vendor"])
    assert any(f == "attributes" or f.startswith("attributes.") for f in fields_of(patched))
    still_readable(api, tokens, hotel)


def test_storable_attributes_round_trip(api, tokens):
    attributes = {"beds": 2, "area_m2": 18.5, "big": 12345678901234567890123456789012345678,
                  "round": 10 ** 60, "tags": ["quiet", "view"], "wifi": True, "pets": None,
                  "floor": {"level": -1, "lift": {"a": {"b": "deep enough"}}}}
    created = api.post("/vendor/listings", {**HOTEL, "attributes": attributes}, token=tokens["vendor"])
    assert created.status_code == 201, created.data
    assert api.get(f"/listings/{created.data['listing_id']}").data["attributes"] == attributes


# --- 3. bounded integers in queries -----------------------------------------------------------

@pytest.mark.parametrize("max_price", ["9" * 40, "1" + "0" * 13, "-1", "1e3"])
def test_search_max_price_is_bounded(api, tokens, max_price):
    response = api.get(f"/search?kind=flight&origin=CDG&destination=LIS&date={DAY}&max_price={max_price}")
    assert "max_price" in fields_of(response)


def test_search_max_price_within_bounds_still_filters(api, tokens):
    created = api.post("/vendor/listings", FLIGHT, token=tokens["vendor"]).data
    api.put(f"/vendor/listings/{created['listing_id']}/availability",
            {"from": DAY, "to": DAY, "capacity": 3, "price": 10000}, token=tokens["vendor"])
    base = f"/search?kind=flight&origin=CDG&destination=LIS&date={DAY}"
    assert len(api.get(base + f"&max_price={3 * 10 ** 12}").data["results"]) == 1
    assert len(api.get(base + "&max_price=9999").data["results"]) == 0


# --- 4. Cognito's own words stay out of the answer --------------------------------------------

def test_onboarding_hides_cognito_error_text(api, tokens, monkeypatch):
    idp = aws.client("cognito-idp")
    raw = ("An error occurred (InvalidParameterException) when calling the AdminCreateUser "
           "operation: Invalid email address format.")

    def refuse(**_kwargs):
        raise idp.exceptions.InvalidParameterException(
            {"Error": {"Code": "InvalidParameterException", "Message": "Invalid email address format."}},
            "AdminCreateUser")

    monkeypatch.setattr(idp, "admin_create_user", refuse)
    response = api.post("/admin/vendors", {"name": "Harbor", "email": "ops@harbor.example"},
                        token=tokens["admin"])
    fields = fields_of(response)
    assert set(fields) == {"email"}
    text = str(response.data)
    assert "InvalidParameterException" not in text and "AdminCreateUser" not in text
    assert raw not in text and "An error occurred" not in text
    assert api.get("/admin/vendors", token=tokens["admin"]).data["vendors"] == []
