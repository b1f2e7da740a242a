"""The catalog over HTTP against the local stack: demo catalog, search, vendors, admins, races."""
from __future__ import annotations

import random
import string
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

TABLE = "itinera-local-availability"  # the stack runs stage `local`
POLICY = {"free_until_hours": 24, "refund_percent_after": 0}
TODAY = datetime.now(timezone.utc).date()


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def unique_city() -> str:
    """A city code no demo data and no other test uses, so results are ours alone."""
    return "Q" + "".join(random.choices(string.ascii_uppercase, k=2))


@pytest.fixture(scope="module")
def auth(stack):
    return {who: stack.auth(f"{who}@example.com") for who in ("vendor", "vendor2", "traveler", "admin")}


def get(stack, path, **kw):
    return stack.http.get(stack.url(path), timeout=30, **kw)


def search(stack, **params):
    response = get(stack, "/search", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def new_listing(stack, headers, **fields) -> str:
    body = {"title": "E2E listing", "currency": "EUR", "cancellation_policy": POLICY, **fields}
    response = stack.http.post(stack.url("/vendor/listings"), json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["listing_id"]


def put_availability(stack, headers, listing_id, body):
    return stack.http.put(stack.url(f"/vendor/listings/{listing_id}/availability"), json=body,
                          headers=headers, timeout=60)


def hold(dynamodb, listing_id: str, on: str, units: int, *, release: bool = False) -> bool:
    """A hold (or its release) exactly as the booking context writes it."""
    if release:
        update, condition = "SET held = held - :q, available = available + :q, version = version + :one", "held >= :q"
    else:
        update, condition = "SET available = available - :q, held = held + :q, version = version + :one", "available >= :q"
    try:
        dynamodb.transact_write_items(TransactItems=[{"Update": {
            "TableName": TABLE, "Key": {"listing_id": {"S": listing_id}, "date": {"S": on}},
            "UpdateExpression": update, "ConditionExpression": condition,
            "ExpressionAttributeValues": {":q": {"N": str(units)}, ":one": {"N": "1"}}}}])
        return True
    except dynamodb.exceptions.TransactionCanceledException:
        return False


def items(dynamodb, listing_id: str) -> dict[str, dict[str, int]]:
    pages = dynamodb.get_paginator("query").paginate(
        TableName=TABLE, KeyConditionExpression="listing_id = :l", ConsistentRead=True,
        ExpressionAttributeValues={":l": {"S": listing_id}})
    return {i["date"]["S"]: {k: int(i[k]["N"]) for k in ("capacity", "held", "sold", "available")}
            for page in pages for i in page["Items"]}


# --- the demo catalog -------------------------------------------------------------------------

def test_the_demo_catalog_is_searchable_in_every_kind(stack):
    hotels = search(stack, kind="hotel", city="PAR", check_in=day(10), check_out=day(13), limit=100)["results"]
    assert len(hotels) >= 4 and {h["vendor_id"] for h in hotels} == {"ven_aurora"}
    assert all(h["price_total"]["currency"] == "EUR" and h["available"] >= 1 for h in hotels)
    totals = [h["price_total"]["amount"] for h in hotels]
    assert totals == sorted(totals)
    for kind, params in [("flight", {"origin": "CDG", "destination": "JFK", "date": day(5)}),
                         ("flight", {"origin": "LIS", "destination": "BCN", "date": day(5)}),
                         ("service", {"city": "TYO", "date": day(5)}),
                         ("hotel", {"city": "CPT", "check_in": day(3), "check_out": day(5)})]:
        assert search(stack, kind=kind, **params)["results"], (kind, params)
    events = [search(stack, kind="event", city=c, date=day(d))["results"]
              for c in ("PAR", "LIS", "BCN", "NYC", "TYO", "CPT") for d in range(7)]
    assert sum(map(len, events)) > 10

    listing = get(stack, f"/listings/{hotels[0]['listing_id']}").json()
    assert listing["city"] == "PAR" and listing["cancellation_policy"]["free_until_hours"] == 48
    calendar = get(stack, f"/listings/{listing['listing_id']}/availability",
                   params={"from": day(0), "to": day(119)}).json()["days"]
    assert len(calendar) == 120


def test_walking_the_pages_of_a_search(stack):
    params = {"kind": "hotel", "city": "LIS", "check_in": day(20), "check_out": day(22)}
    everything = search(stack, **params, limit=100)["results"]
    walked, cursor = [], None
    while True:
        page = search(stack, **params, limit=2, **({"cursor": cursor} if cursor else {}))
        walked += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [r["listing_id"] for r in walked] == [r["listing_id"] for r in everything]
    assert len({r["listing_id"] for r in walked}) == len(walked) >= 4


def test_bad_searches_are_400_naming_the_field(stack):
    cases = [({"kind": "hotel", "city": "PAR", "check_in": day(5), "check_out": day(5)}, "check_out"),
             ({"kind": "hotel", "city": "PAR", "check_in": day(5), "check_out": day(40)}, "check_out"),
             ({"kind": "event", "city": "PAR", "date": day(-3)}, "date"),
             ({"kind": "event", "city": "PAR", "date": day(1), "sort": "cheap"}, "sort"),
             ({"kind": "boat", "city": "PAR", "date": day(1)}, "kind"),
             ({"kind": "event", "city": "PAR", "date": day(1), "quantity": -1}, "quantity"),
             ({"kind": "flight", "origin": "CDG", "date": day(1)}, "destination"),
             ({"kind": "event", "city": "PAR", "date": day(1), "cursor": "forged.cursor"}, "cursor")]
    for params, field in cases:
        response = get(stack, "/search", params=params)
        assert response.status_code == 400, params
        assert field in response.json()["error"]["details"]["fields"], params


def test_faq(stack):
    entries = get(stack, "/faq").json()["entries"]
    assert {"payment_safety", "booking_problems", "cancellations_and_refunds", "quality_complaints"} <= \
        {e["topic"] for e in entries}


# --- vendors ------------------------------------------------------------------------------------

def test_a_vendor_publishes_sets_availability_and_travelers_find_it(stack, auth):
    city = unique_city()
    full_stay = new_listing(stack, auth["vendor"], kind="hotel", city=city, title="Every night")
    gap = new_listing(stack, auth["vendor"], kind="hotel", city=city, title="One night full")
    assert put_availability(stack, auth["vendor"], full_stay,
                            {"from": day(30), "to": day(33), "capacity": 2, "price": 10000}).json() == {"updated": 4}
    put_availability(stack, auth["vendor"], gap, {"days": [
        {"date": day(30), "capacity": 2, "price": 5000}, {"date": day(31), "capacity": 0, "price": 5000},
        {"date": day(32), "capacity": 2, "price": 5000}]})
    results = search(stack, kind="hotel", city=city, check_in=day(30), check_out=day(33), quantity=2)["results"]
    assert [r["listing_id"] for r in results] == [full_stay]
    assert results[0]["price_total"] == {"amount": 60000, "currency": "EUR"}
    one_night = search(stack, kind="hotel", city=city, check_in=day(30), check_out=day(31))["results"]
    assert [r["listing_id"] for r in one_night] == [gap, full_stay]

    patched = stack.http.patch(stack.url(f"/vendor/listings/{full_stay}"), json={"title": "Every night, renovated"},
                               headers=auth["vendor"], timeout=30)
    assert patched.status_code == 200 and patched.json()["title"] == "Every night, renovated"
    own = get(stack, "/vendor/listings", headers=auth["vendor"], params={"limit": 100}).json()
    assert {full_stay, gap} <= {x["listing_id"] for x in own["listings"]}


def test_vendors_cannot_touch_each_others_listings(stack, auth):
    theirs = new_listing(stack, auth["vendor2"], kind="event", city=unique_city())
    for response in (
            stack.http.patch(stack.url(f"/vendor/listings/{theirs}"), json={"title": "mine now"},
                             headers=auth["vendor"], timeout=30),
            put_availability(stack, auth["vendor"], theirs, {"from": day(1), "to": day(2), "capacity": 1, "price": 1})):
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert stack.http.post(stack.url("/vendor/listings"), json={}, headers=auth["traveler"], timeout=30).status_code == 403
    bad = stack.http.post(stack.url("/vendor/listings"), headers=auth["vendor"], timeout=30, json={
        "kind": "flight", "title": "", "currency": "EURO", "origin": "CDG", "destination": "CDG",
        "cancellation_policy": {"free_until_hours": -1, "refund_percent_after": 0}})
    assert bad.status_code == 400
    assert {"title", "currency", "destination", "cancellation_policy.free_until_hours"} <= \
        set(bad.json()["error"]["details"]["fields"])


def test_capacity_below_committed_over_http(stack, auth):
    dynamodb = stack.aws_client("dynamodb")
    listing_id = new_listing(stack, auth["vendor"], kind="service", city=unique_city())
    put_availability(stack, auth["vendor"], listing_id, {"from": day(10), "to": day(160), "capacity": 5, "price": 2500})
    assert hold(dynamodb, listing_id, day(12), 3) and hold(dynamodb, listing_id, day(150), 4)
    before = items(dynamodb, listing_id)
    response = put_availability(stack, auth["vendor"], listing_id,
                                {"from": day(10), "to": day(160), "capacity": 2, "price": 2000})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "CAPACITY_BELOW_COMMITTED" and error["details"]["dates"] == [day(12), day(150)]
    assert items(dynamodb, listing_id) == before
    bad = put_availability(stack, auth["vendor"], listing_id, {"from": day(1), "to": day(400), "capacity": 1, "price": 1})
    assert bad.status_code == 400 and "to" in bad.json()["error"]["details"]["fields"]


def test_capacity_updates_racing_holds_over_http(stack, auth):
    """Vendors lower capacity over HTTP while travelers hold units on the same dates."""
    dynamodb = stack.aws_client("dynamodb")
    listing_id = new_listing(stack, auth["vendor"], kind="event", city=unique_city())
    dates = [day(50 + i) for i in range(3)]
    put_availability(stack, auth["vendor"], listing_id, {"from": dates[0], "to": dates[-1], "capacity": 20, "price": 100})
    held: Counter[str] = Counter()
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    failures: list[BaseException] = []

    def holder(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(25):
            on, units = rng.choice(dates), rng.randint(1, 3)
            if hold(dynamodb, listing_id, on, units):
                with lock:
                    held[on] += units

    def vendor(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(8):
            body = {"from": dates[0], "to": dates[-1], "capacity": rng.randint(2, 20), "price": 100}
            statuses[put_availability(stack, auth["vendor"], listing_id, body).status_code] += 1

    def run(target, seed):
        try:
            target(seed)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(holder, i)) for i in range(4)]
    threads += [threading.Thread(target=run, args=(vendor, 10 + i)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert set(statuses) <= {200, 409} and statuses[200] > 0, statuses
    for on, item in items(dynamodb, listing_id).items():
        assert item["held"] + item["sold"] <= item["capacity"], (on, item)
        assert item["available"] == item["capacity"] - item["held"] - item["sold"], (on, item)
        assert item["held"] == held[on], (on, item)


# --- administrators -----------------------------------------------------------------------------

def test_admin_onboards_a_vendor_who_can_sign_in(stack, auth):
    email = f"e2e-vendor-{random.randrange(10**8)}@example.com"
    created = stack.http.post(stack.url("/admin/vendors"), json={"name": "E2E Vendor", "email": email},
                              headers=auth["admin"], timeout=30)
    assert created.status_code == 201, created.text
    vendor = created.json()
    # The temporary password is right: Cognito asks for a new one instead of refusing it.
    first = stack.http.post(stack.url("/auth/login"), json={"email": email, "password": vendor["temporary_password"]},
                            timeout=30)
    assert first.status_code == 401 and first.json()["error"]["details"]["challenge"] == "NEW_PASSWORD_REQUIRED"
    idp = stack.aws_client("cognito-idp")
    pool_id = get(stack, "/auth/config").json()["user_pool_id"]
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password="E2e-vendor-1", Permanent=True)
    me = get(stack, "/me", headers=stack.auth(email, "E2e-vendor-1")).json()
    assert me["roles"] == ["vendors"] and me["vendor_id"] == vendor["vendor_id"]

    listed, cursor = [], None
    while True:
        page = get(stack, "/admin/vendors", headers=auth["admin"],
                   params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        listed += page["vendors"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [v["vendor_id"] for v in listed]
    assert {"ven_aurora", "ven_meridian", vendor["vendor_id"]} <= set(ids) and len(ids) == len(set(ids))
    assert get(stack, "/admin/vendors", headers=auth["vendor"]).status_code == 403
