"""Listings, the public catalog, the FAQ and vendor onboarding, through the API."""
from __future__ import annotations

import pytest

HOTEL = {"kind": "hotel", "title": "Canal view double", "description": "Two guests, breakfast.",
         "currency": "EUR", "city": "PAR", "attributes": {"room_type": "double", "beds": 1},
         "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 30}}
FLIGHT = {"kind": "flight", "title": "CDG → LIS 07:10", "currency": "EUR", "origin": "CDG",
          "destination": "LIS", "attributes": {"flight_number": "AU200"},
          "cancellation_policy": {"free_until_hours": 24, "refund_percent_after": 0}}


def create(api, token, body):
    response = api.post("/vendor/listings", body, token=token)
    assert response.status_code == 201, response.data
    return response.data


def fields_of(response) -> dict:
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    return response.data["error"]["details"]["fields"]


# --- publishing listings ------------------------------------------------------------------------

def test_vendor_publishes_and_anyone_reads_a_listing(api, tokens):
    created = create(api, tokens["vendor"], HOTEL)
    assert created["listing_id"].startswith("lst_")
    assert created["vendor_id"] == "ven_aurora"
    assert created["rating"] == {"average": None, "count": 0}
    assert created["cancellation_policy"] == {"free_until_hours": 48, "refund_percent_after": 30}
    assert created["created_at"].endswith("Z")

    public = api.get(f"/listings/{created['listing_id']}")
    assert public.status_code == 200
    assert public.data == created
    assert {"city": "PAR", "attributes": {"room_type": "double", "beds": 1}}.items() <= public.data.items()


def test_flight_has_origin_and_destination_and_no_city(api, tokens):
    created = create(api, tokens["vendor2"], {**FLIGHT, "origin": "cdg"})
    assert (created["origin"], created["destination"], created["vendor_id"]) == ("CDG", "LIS", "ven_meridian")
    assert "city" not in created


def test_every_bad_field_is_named_at_once(api, tokens):
    body = {"kind": "flight", "title": "", "currency": "EURO", "origin": "CDG", "destination": "CDG",
            "cancellation_policy": {"free_until_hours": -1, "refund_percent_after": 150}}
    fields = fields_of(api.post("/vendor/listings", body, token=tokens["vendor"]))
    assert {"title", "currency", "destination", "cancellation_policy.free_until_hours",
            "cancellation_policy.refund_percent_after"} <= set(fields)


@pytest.mark.parametrize("change, field", [
    ({"kind": "cruise"}, "kind"),
    ({"kind": "flight", "city": None}, "origin"),  # a flight without origin/destination
    ({"kind": "flight", "city": None, "origin": "CDG"}, "destination"),
    ({"city": None}, "city"),
    ({"city": "Paris"}, "city"),
    ({"origin": "CDG"}, "origin"),  # origin does not apply to a hotel
    ({"title": "   "}, "title"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": 978}, "currency"),
    ({"cancellation_policy": {"free_until_hours": 2.5, "refund_percent_after": 0}},
     "cancellation_policy.free_until_hours"),
    ({"cancellation_policy": None}, "cancellation_policy"),
    ({"unknown": 1}, "unknown"),
])
def test_listing_validation_names_the_field(api, tokens, change, field):
    body = {k: v for k, v in {**HOTEL, **change}.items() if v is not None}
    assert field in fields_of(api.post("/vendor/listings", body, token=tokens["vendor"]))


def test_only_vendors_publish(api, tokens):
    assert api.post("/vendor/listings", HOTEL).status_code == 401
    for who in ("traveler", "agent", "admin"):
        response = api.post("/vendor/listings", HOTEL, token=tokens[who])
        assert response.status_code == 403, who
        assert response.data["error"]["code"] == "FORBIDDEN"


def test_patch_changes_what_describes_a_listing(api, tokens):
    created = create(api, tokens["vendor"], HOTEL)
    path = f"/vendor/listings/{created['listing_id']}"
    patched = api.patch(path, {"title": "Canal view double, renovated",
                               "cancellation_policy": {"free_until_hours": 72, "refund_percent_after": 0}},
                        token=tokens["vendor"])
    assert patched.status_code == 200, patched.data
    assert patched.data["title"] == "Canal view double, renovated"
    assert patched.data["cancellation_policy"] == {"free_until_hours": 72, "refund_percent_after": 0}
    assert patched.data["description"] == HOTEL["description"]  # untouched
    assert api.get(f"/listings/{created['listing_id']}").data == patched.data

    fields = fields_of(api.patch(path, {"city": "LIS", "currency": "USD", "title": ""}, token=tokens["vendor"]))
    assert {"city", "currency", "title"} <= set(fields)
    assert "body" in fields_of(api.patch(path, {}, token=tokens["vendor"]))


def test_vendors_are_isolated(api, tokens):
    mine = create(api, tokens["vendor"], HOTEL)
    theirs = create(api, tokens["vendor2"], {**HOTEL, "title": "Meridian room"})
    path = f"/vendor/listings/{theirs['listing_id']}"
    for response in (api.patch(path, {"title": "hijacked"}, token=tokens["vendor"]),
                     api.put(path + "/availability", {"from": "2099-01-01", "to": "2099-01-02",
                                                      "capacity": 1, "price": 1}, token=tokens["vendor"])):
        assert response.status_code == 404
        assert response.data["error"]["code"] == "NOT_FOUND"
    assert api.get(f"/listings/{theirs['listing_id']}").data["title"] == "Meridian room"

    own = api.get("/vendor/listings", token=tokens["vendor"]).data
    assert [x["listing_id"] for x in own["listings"]] == [mine["listing_id"]]
    assert own["next_cursor"] is None


def test_vendor_listings_are_paginated(api, tokens):
    ids = [create(api, tokens["vendor2"], {**HOTEL, "title": f"Room {i}"})["listing_id"] for i in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/vendor/listings" + query, token=tokens["vendor2"]).data
        seen += [x["listing_id"] for x in page["listings"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5 and pages == 3
    # A cursor of one vendor's list means nothing in another's.
    first = api.get("/vendor/listings?limit=2", token=tokens["vendor2"]).data["next_cursor"]
    assert "cursor" in fields_of(api.get(f"/vendor/listings?cursor={first}", token=tokens["vendor"]))


def test_unknown_listing_is_404(api, tokens):
    for path in ("/listings/lst_doesnotexist", "/listings/" + "x" * 3000, "/listings/ven_aurora"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.data["error"]["code"] == "NOT_FOUND"
    assert api.patch("/vendor/listings/lst_nope", {"title": "x"}, token=tokens["vendor"]).status_code == 404


# --- FAQ ----------------------------------------------------------------------------------------

def test_faq_answers_the_questions_travelers_ask(api):
    response = api.get("/faq")
    assert response.status_code == 200
    entries = response.data["entries"]
    topics = {e["topic"] for e in entries}
    assert {"payment_safety", "booking_problems", "cancellations_and_refunds", "quality_complaints"} <= topics
    payment = " ".join(e["answer"] for e in entries if e["topic"] == "payment_safety").lower()
    assert "card" in payment and "token" in payment and "never" in payment
    assert all(len(e["answer"]) > 80 and e["question"].endswith("?") for e in entries)


# --- vendor onboarding --------------------------------------------------------------------------

def test_admin_onboards_a_vendor_with_a_cognito_user(api, tokens, aws_env):
    import boto3

    created = api.post("/admin/vendors", {"name": "Harbor Tours", "email": "Ops@Harbor.example"},
                       token=tokens["admin"])
    assert created.status_code == 201, created.data
    vendor = created.data
    assert vendor["vendor_id"].startswith("ven_") and vendor["email"] == "ops@harbor.example"
    password = vendor["temporary_password"]  # the local stage returns it
    assert len(password) >= 8 and any(c.isupper() for c in password) and any(c.isdigit() for c in password)

    idp = boto3.client("cognito-idp", region_name="us-east-1")
    user = idp.admin_get_user(UserPoolId=aws_env["user_pool_id"], Username="ops@harbor.example")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["custom:vendor_id"] == vendor["vendor_id"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    groups = idp.admin_list_groups_for_user(UserPoolId=aws_env["user_pool_id"], Username="ops@harbor.example")
    assert [g["GroupName"] for g in groups["Groups"]] == ["vendors"]

    # The new vendor signs in (after setting a password) and publishes under its own id.
    idp.admin_set_user_password(UserPoolId=aws_env["user_pool_id"], Username="ops@harbor.example",
                                Password="Harbor-pass-1", Permanent=True)
    token = api.login("ops@harbor.example", "Harbor-pass-1")
    assert create(api, token, HOTEL)["vendor_id"] == vendor["vendor_id"]

    listed = api.get("/admin/vendors", token=tokens["admin"]).data
    assert [v["vendor_id"] for v in listed["vendors"]] == [vendor["vendor_id"]]
    assert "temporary_password" not in listed["vendors"][0] and listed["next_cursor"] is None


def test_vendor_onboarding_errors(api, tokens):
    taken = api.post("/admin/vendors", {"name": "Dup", "email": "vendor@example.com"}, token=tokens["admin"])
    assert taken.status_code == 409 and taken.data["error"]["code"] == "INVALID_STATE"
    assert {"name", "email"} <= set(fields_of(api.post("/admin/vendors", {"name": "", "email": "nope"},
                                                        token=tokens["admin"])))
    assert api.post("/admin/vendors", {"name": "X", "email": "x@example.com"},
                    token=tokens["vendor"]).status_code == 403
    assert api.get("/admin/vendors", token=tokens["agent"]).status_code == 403
    assert api.get("/admin/vendors").status_code == 401


def test_admin_vendor_list_is_paginated(api, tokens):
    made = {api.post("/admin/vendors", {"name": f"V{i}", "email": f"v{i}@example.com"},
                     token=tokens["admin"]).data["vendor_id"] for i in range(3)}
    first = api.get("/admin/vendors?limit=2", token=tokens["admin"]).data
    second = api.get(f"/admin/vendors?limit=2&cursor={first['next_cursor']}", token=tokens["admin"]).data
    assert len(first["vendors"]) == 2 and len(second["vendors"]) == 1 and second["next_cursor"] is None
    assert {v["vendor_id"] for v in first["vendors"] + second["vendors"]} == made
    tampered = first["next_cursor"][:-2] + ("AA" if not first["next_cursor"].endswith("AA") else "BB")
    assert "cursor" in fields_of(api.get(f"/admin/vendors?cursor={tampered}", token=tokens["admin"]))
    assert "limit" in fields_of(api.get("/admin/vendors?limit=101", token=tokens["admin"]))


def test_openapi_documents_the_catalog(api):
    document = api.get("/openapi.json").data
    paths = document["paths"]
    for path, method in [("/search", "get"), ("/listings/{listing_id}", "get"),
                         ("/listings/{listing_id}/availability", "get"), ("/faq", "get"),
                         ("/vendor/listings", "post"), ("/vendor/listings/{listing_id}", "patch"),
                         ("/vendor/listings/{listing_id}/availability", "put"),
                         ("/admin/vendors", "post"), ("/admin/vendors", "get")]:
        assert method in paths[path], (method, path)
    put = paths["/vendor/listings/{listing_id}/availability"]["put"]
    assert "409" in put["responses"] and put["x-roles"] == ["vendors"]
    assert {p["name"] for p in paths["/search"]["get"]["parameters"]} >= {
        "kind", "city", "origin", "destination", "date", "check_in", "check_out", "quantity",
        "max_price", "sort", "limit", "cursor"}
    schemas = document["components"]["schemas"]
    assert {"SearchPage", "ListingOut", "AvailabilityUpdate", "VendorOut"} <= set(schemas)
    assert {"results", "next_cursor"} <= set(schemas["SearchPage"]["properties"])
    assert {"average", "count"} <= set(schemas["Rating"]["properties"])
    assert "from" in schemas["AvailabilityUpdate"]["properties"]
