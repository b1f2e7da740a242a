"""Promotions (issue 13, part 4): codes vendors and admins create, applied at POST /holds, counted
in the hold's own transaction and given back when the hold ends unconfirmed."""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.booking import expiry, records, service
from chalicelib.booking.models import Booking
from chalicelib.booking.schemas import HoldRequest
from chalicelib.core import clock
from chalicelib.core.auth import Principal
from chalicelib.core.errors import PromoInvalid
from chalicelib.inventory.models import AvailabilityDay
from chalicelib.promotions import usage
from chalicelib.promotions.models import Promotion, PromotionUse
from tests.integration.booking_helpers import day, hold_body, key, make_listing, pay_booking

HOTEL_PRICE, FLIGHT_PRICE = 10_000, 20_001


@pytest.fixture
def hotel(api, tokens):
    # Free cancellation ended 40 days before the stay: a cancellation refunds half.
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=60, price=HOTEL_PRICE, policy=(960, 50))


@pytest.fixture
def flight(api, tokens):
    return make_listing(api, tokens["vendor"], kind="flight", capacity=60, price=FLIGHT_PRICE)


@pytest.fixture(autouse=True)
def _clock_back():
    yield
    clock.reset()


def promo(api, token, path="/vendor/promotions", **fields):
    body = {"code": "P" + uuid.uuid4().hex[:10], "percent_off": 10, "valid_from": int(time.time()) - 60,
            "valid_to": int(time.time()) + 86_400, "max_uses": 10, "max_uses_per_traveler": 1}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    return api.post(path, body, token=token)


def code_of(api, token, **fields) -> str:
    created = promo(api, token, **fields)
    assert created.status_code == 201, created.data
    return created.data["code"]


def stay(hotel, offset=20, nights=1):
    return {"listing_id": hotel, "quantity": 1, "check_in": day(offset), "check_out": day(offset + nights)}


def hold(api, token, *items, code=None, headers=None):
    body = hold_body(*items)
    if code is not None:
        body["promo_code"] = code
    return api.post("/holds", body, token=token, headers=headers or key())


def uses(code: str) -> int:
    return int(Promotion.get(code.upper(), consistent_read=True).uses)


def traveler_uses(code: str, traveler_id: str) -> int:
    try:
        return int(PromotionUse.get(code.upper(), traveler_id, consistent_read=True).uses)
    except PromotionUse.DoesNotExist:
        return 0


def traveler_id(api, token) -> str:
    return api.get("/me", token=token).data["user_id"]


def assert_refused(response, reason: str) -> None:
    assert response.status_code == 422, response.data
    error = response.data["error"]
    assert error["code"] == "PROMO_INVALID"
    assert error["details"]["field"] == "promo_code" and error["details"]["reason"] == reason, error


# -- discounts on the booking ------------------------------------------------------------------

def test_a_percent_code_discounts_a_trip_and_the_traveler_pays_the_discounted_amount(api, tokens, hotel, flight,
                                                                                      fake):
    code = code_of(api, tokens["vendor"], percent_off=15)
    flight_item = {"listing_id": flight, "quantity": 1, "date": day(20)}

    held = hold(api, tokens["traveler"], stay(hotel, nights=2), flight_item, code=code.lower())

    assert held.status_code == 201, held.data
    full = 2 * HOTEL_PRICE + FLIGHT_PRICE
    off = full * 15 // 100
    assert held.data["discount"] == {"code": code, "amount": {"amount": off, "currency": "EUR"}}
    assert held.data["amount"] == {"amount": full - off, "currency": "EUR"}
    assert sum(i["discount"]["amount"] for i in held.data["items"]) == off
    booking_id = held.data["booking_id"]
    assert api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data["discount"] == held.data["discount"]
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    shown = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    assert shown["captured_amount"]["amount"] == full - off
    assert fake.payment(Booking.get(booking_id).payment_id).captured_amount == full - off


def test_a_fixed_code_takes_its_amount_off(api, tokens, hotel, flight):
    code = code_of(api, tokens["vendor"], percent_off=None, amount_off=2500, currency="EUR")

    held = hold(api, tokens["traveler"], stay(hotel), {"listing_id": flight, "quantity": 1, "date": day(20)},
                code=code)

    assert held.status_code == 201, held.data
    assert held.data["amount"]["amount"] == HOTEL_PRICE + FLIGHT_PRICE - 2500
    assert held.data["discount"]["amount"]["amount"] == 2500
    assert uses(code) == 1


def test_a_discount_never_leaves_less_than_the_providers_minimum_charge_to_pay(api, tokens):
    event = make_listing(api, tokens["vendor"], kind="event", capacity=5, price=1000)
    code = code_of(api, tokens["vendor"], percent_off=None, amount_off=990, currency="EUR")

    held = hold(api, tokens["traveler"], {"listing_id": event, "quantity": 1, "date": day(9)}, code=code)

    assert held.status_code == 201, held.data
    assert held.data["amount"]["amount"] == 50 and held.data["discount"]["amount"]["amount"] == 950


def test_a_code_scoped_to_a_kind_discounts_only_those_items(api, tokens, hotel, flight):
    code = code_of(api, tokens["vendor"], percent_off=50, kind="hotel")

    held = hold(api, tokens["traveler"], stay(hotel), {"listing_id": flight, "quantity": 1, "date": day(20)},
                code=code)

    assert held.status_code == 201, held.data
    assert held.data["amount"]["amount"] == HOTEL_PRICE // 2 + FLIGHT_PRICE
    discounts = {i["kind"]: i.get("discount") for i in held.data["items"]}
    assert discounts == {"hotel": {"amount": HOTEL_PRICE // 2, "currency": "EUR"}, "flight": None}


def test_the_vendor_sees_what_its_items_are_paid(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], percent_off=20)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]

    listed = api.get("/vendor/bookings", token=tokens["vendor"]).data["bookings"]

    [mine] = [b for b in listed if b["booking_id"] == booking_id]
    assert mine["amount"]["amount"] == HOTEL_PRICE * 80 // 100


# -- refusals ------------------------------------------------------------------------------------

def test_an_unknown_code_is_refused(api, tokens, hotel):
    assert_refused(hold(api, tokens["traveler"], stay(hotel), code="NOSUCHCODE"), "not_found")
    assert_refused(hold(api, tokens["traveler"], stay(hotel), code="no such code!"), "not_found")


def test_a_code_before_its_window_is_refused(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], valid_from=int(time.time()) + 3600)

    assert_refused(hold(api, tokens["traveler"], stay(hotel), code=code), "not_started")


def test_a_code_after_its_window_is_refused(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], valid_to=int(time.time()) + 60)
    clock.advance(120)

    assert_refused(hold(api, tokens["traveler"], stay(hotel), code=code), "expired")
    assert uses(code) == 0


def test_another_vendors_code_does_not_apply(api, tokens, hotel):
    code = code_of(api, tokens["vendor2"])

    assert_refused(hold(api, tokens["traveler"], stay(hotel), code=code), "not_applicable")


def test_a_code_for_another_kind_does_not_apply(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], kind="event")

    assert_refused(hold(api, tokens["traveler"], stay(hotel), code=code), "not_applicable")


def test_an_amount_in_another_currency_is_refused(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], percent_off=None, amount_off=500, currency="USD")

    refused = hold(api, tokens["traveler"], stay(hotel), code=code)

    assert_refused(refused, "currency")
    assert refused.data["error"]["details"]["booking_currency"] == "EUR"


def test_a_refused_code_holds_nothing(api, tokens, hotel):
    code = code_of(api, tokens["vendor2"])

    hold(api, tokens["traveler"], stay(hotel), code=code)

    assert int(AvailabilityDay.get(hotel, day(20), consistent_read=True).held) == 0


def test_the_per_traveler_limit_is_enforced_and_other_travelers_still_use_the_code(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=10, max_uses_per_traveler=2)

    assert hold(api, tokens["traveler"], stay(hotel, 20), code=code).status_code == 201
    assert hold(api, tokens["traveler"], stay(hotel, 21), code=code).status_code == 201
    assert_refused(hold(api, tokens["traveler"], stay(hotel, 22), code=code), "per_traveler_limit")
    assert hold(api, tokens["traveler2"], stay(hotel, 22), code=code).status_code == 201

    assert uses(code) == 3
    assert traveler_uses(code, traveler_id(api, tokens["traveler"])) == 2


def test_an_exhausted_code_is_refused(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=1)
    assert hold(api, tokens["traveler"], stay(hotel), code=code).status_code == 201

    assert_refused(hold(api, tokens["traveler2"], stay(hotel), code=code), "exhausted")


def test_a_code_used_up_after_it_was_read_is_refused_by_the_holds_transaction(api, tokens, hotel, monkeypatch):
    code = code_of(api, tokens["vendor"], max_uses=1)
    assert hold(api, tokens["traveler2"], stay(hotel), code=code).status_code == 201
    as_read_before = dataclasses.replace(usage.terms_of(Promotion.get(code)), uses=0)
    monkeypatch.setattr(usage, "load", lambda raw: as_read_before)

    assert_refused(hold(api, tokens["traveler"], stay(hotel), code=code), "exhausted")
    assert uses(code) == 1
    assert int(AvailabilityDay.get(hotel, day(20), consistent_read=True).held) == 1


def test_a_code_that_ended_after_it_was_read_is_refused_by_the_holds_transaction(api, tokens, hotel, monkeypatch):
    code = code_of(api, tokens["vendor"])
    as_read_before = usage.terms_of(Promotion.get(code))
    Promotion(code).update(actions=[Promotion.valid_to.set(int(time.time()) - 1)])  # ended meanwhile
    monkeypatch.setattr(usage, "load", lambda raw: as_read_before)

    assert_refused(hold(api, tokens["traveler"], stay(hotel), code=code), "expired")
    assert uses(code) == 0


# -- the maximum under concurrency --------------------------------------------------------------


def test_fifty_concurrent_holds_never_use_a_code_more_than_its_maximum(api, tokens, hotel, serialized_moto):
    code = code_of(api, tokens["vendor"], max_uses=10, max_uses_per_traveler=1, percent_off=25)
    request = HoldRequest.model_validate({**hold_body(stay(hotel, 4)), "promo_code": code})
    racers = [Principal(user_id=f"racer-{n}-{uuid.uuid4().hex[:6]}", email=f"r{n}@example.com", name="Racer",
                        roles=frozenset({"travelers"})) for n in range(50)]
    barrier = threading.Barrier(50)

    def attempt(racer: Principal):
        barrier.wait()
        try:
            return service.place_hold(racer, request, uuid.uuid4().hex)
        except Exception as exc:  # the outcome is what we assert on
            return exc

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(attempt, racers))

    placed = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, PromoInvalid)]
    assert len(placed) == 10 and len(refused) == 40, [o for o in outcomes if isinstance(o, Exception)
                                                      and not isinstance(o, PromoInvalid)]
    assert {e.details["reason"] for e in refused} == {"exhausted"}
    assert all(b.discount == HOTEL_PRICE // 4 and b.amount == HOTEL_PRICE * 3 // 4 for b in placed)
    assert uses(code) == 10
    assert int(AvailabilityDay.get(hotel, day(4), consistent_read=True).held) == 10


# -- uses given back ------------------------------------------------------------------------------

def test_an_expired_hold_gives_its_use_back_once(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=1)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]
    held = records.load(booking_id)
    later = clock.now() + 16 * 60

    assert service.release_expired_holds(now=later)["expired"] == 1
    assert expiry.expire_hold(held, later) is False  # the same expiry again (a duplicate message)

    assert uses(code) == 0
    assert traveler_uses(code, traveler_id(api, tokens["traveler"])) == 0
    clock.advance(16 * 60)
    assert hold(api, tokens["traveler2"], stay(hotel), code=code).status_code == 201  # usable again


def test_an_expiry_whose_use_counter_is_already_zero_still_expires_and_releases_and_reports_it(
        api, tokens, hotel, capsys, caplog):
    code = code_of(api, tokens["vendor"], max_uses=1)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]
    Promotion(code).update(actions=[Promotion.uses.set(0)])  # a broken count: nothing to give back
    capsys.readouterr()

    assert service.release_expired_holds(now=clock.now() + 16 * 60)["expired"] == 1

    assert records.load(booking_id).status == "EXPIRED"
    assert int(AvailabilityDay.get(hotel, day(20), consistent_read=True).held) == 0
    assert uses(code) == 0  # never below zero
    assert traveler_uses(code, traveler_id(api, tokens["traveler"])) == 0  # the other counter still given back
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [m["Name"] for doc in lines if "_aws" in doc for d in doc["_aws"]["CloudWatchMetrics"]
               for m in d["Metrics"]]
    assert "PromotionGiveBackSkipped" in metrics
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert any(getattr(r, "booking_id", None) == booking_id and getattr(r, "promo_code", None) == code
               and getattr(r, "counters", None) == ["promotion"] for r in errors), errors


def test_an_expiry_whose_counters_are_both_gone_still_expires_and_releases(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=1)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]
    Promotion(code).update(actions=[Promotion.uses.set(0)])
    PromotionUse(code, traveler_id(api, tokens["traveler"])).delete()

    assert service.release_expired_holds(now=clock.now() + 16 * 60)["expired"] == 1

    assert records.load(booking_id).status == "EXPIRED"
    assert int(AvailabilityDay.get(hotel, day(20), consistent_read=True).held) == 0
    assert uses(code) == 0


def test_a_cancelled_hold_gives_its_use_back(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=1)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]

    cancelled = api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"])

    assert cancelled.status_code == 200, cancelled.data
    assert uses(code) == 0
    assert traveler_uses(code, traveler_id(api, tokens["traveler"])) == 0
    assert hold(api, tokens["traveler"], stay(hotel), code=code).status_code == 201


def test_a_failed_capture_gives_its_use_back(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=1)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]

    assert pay_booking(api, tokens["traveler"], booking_id, "tok_captureFails").status_code == 202
    assert service.confirm_booking(booking_id) == "failed"
    assert service.confirm_booking(booking_id) == "skipped"  # the message again

    assert uses(code) == 0
    assert traveler_uses(code, traveler_id(api, tokens["traveler"])) == 0


def test_a_confirmed_booking_cancelled_keeps_its_use_and_refunds_by_the_amount_paid(api, tokens, hotel, fake):
    code = code_of(api, tokens["vendor"], percent_off=20)
    booking_id = hold(api, tokens["traveler"], stay(hotel), code=code).data["booking_id"]
    assert pay_booking(api, tokens["traveler"], booking_id).status_code == 202
    assert service.confirm_booking(booking_id) == "confirmed"
    paid = HOTEL_PRICE * 80 // 100

    quote = api.get(f"/bookings/{booking_id}/cancellation-quote", token=tokens["traveler"])

    assert quote.status_code == 200, quote.data
    assert quote.data["refund"]["amount"] == paid // 2  # half of what was paid, not of the list price
    assert api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"]).status_code == 202
    assert service.process_cancellation(booking_id) == "cancelled"
    done = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    assert done["status"] == "CANCELLED" and done["refunded_amount"]["amount"] == paid // 2
    assert fake.payment(Booking.get(booking_id).payment_id).refunded_amount == paid // 2
    assert uses(code) == 1  # sold with the discount: the use is not given back


# -- idempotency ------------------------------------------------------------------------------------

def test_a_replayed_hold_with_a_code_is_the_same_booking_and_one_use(api, tokens, hotel):
    code = code_of(api, tokens["vendor"], max_uses=1)
    headers = key()

    first = hold(api, tokens["traveler"], stay(hotel), code=code, headers=headers)
    again = hold(api, tokens["traveler"], stay(hotel), code=code, headers=headers)

    assert first.status_code == again.status_code == 201, (first.data, again.data)
    assert again.data == first.data
    assert uses(code) == 1  # and the replay came back although the code is now used up
    assert traveler_uses(code, traveler_id(api, tokens["traveler"])) == 1


# -- creating and listing -------------------------------------------------------------------------

def test_a_vendor_creates_a_promotion_and_reads_it_back(api, tokens, hotel):
    created = promo(api, tokens["vendor"], code="summer-25", listing_id=hotel, percent_off=None,
                    amount_off=1500, valid_from="2026-01-01T00:00:00+01:00", valid_to="2099-01-01T00:00:00Z",
                    max_uses=100, max_uses_per_traveler=2)

    assert created.status_code == 201, created.data
    out = created.data
    assert out["code"] == out["promotion_id"] == "SUMMER-25"
    assert (out["amount_off"], out["currency"], out["listing_id"], out["uses"]) == (1500, "EUR", hotel, 0)
    assert (out["valid_from"], out["valid_to"]) == ("2025-12-31T23:00:00Z", "2099-01-01T00:00:00Z")
    listed = api.get("/vendor/promotions", token=tokens["vendor"]).data
    assert listed["promotions"][0]["code"] == "SUMMER-25" and listed["next_cursor"] is None


def test_promotions_are_listed_newest_first_page_by_page_and_only_the_owners(api, tokens):
    codes = [code_of(api, tokens["vendor"]) for _ in range(3)]

    first = api.get("/vendor/promotions?limit=2", token=tokens["vendor"]).data
    second = api.get(f"/vendor/promotions?limit=2&cursor={first['next_cursor']}", token=tokens["vendor"]).data

    assert [p["code"] for p in first["promotions"] + second["promotions"]] == codes[::-1]
    assert second["next_cursor"] is None
    assert api.get("/vendor/promotions", token=tokens["vendor2"]).data["promotions"] == []


def test_a_vendor_cannot_create_a_promotion_on_another_vendors_listing(api, tokens, hotel):
    refused = promo(api, tokens["vendor2"], listing_id=hotel)

    assert refused.status_code == 404, refused.data
    assert refused.data["error"]["code"] == "NOT_FOUND"
    assert refused.data["error"]["details"]["field"] == "listing_id"


def test_an_admin_creates_a_promotion_on_any_listing_and_lists_it(api, tokens, hotel):
    created = promo(api, tokens["admin"], "/admin/promotions", listing_id=hotel)
    assert created.status_code == 201, created.data
    assert created.data.get("vendor_id") is None

    held = hold(api, tokens["traveler"], stay(hotel), code=created.data["code"])

    assert held.status_code == 201, held.data
    assert held.data["discount"]["amount"]["amount"] == HOTEL_PRICE // 10
    listed = api.get("/admin/promotions", token=tokens["admin"]).data["promotions"]
    assert [p["code"] for p in listed] == [created.data["code"]]
    assert promo(api, tokens["admin"], "/admin/promotions", listing_id="lst_nosuchlisting00").status_code == 404


def test_an_admin_lists_a_vendors_promotions(api, tokens):
    code = code_of(api, tokens["vendor"])
    vendor_id = api.get("/me", token=tokens["vendor"]).data["vendor_id"]

    listed = api.get(f"/admin/promotions?vendor_id={vendor_id}", token=tokens["admin"])

    assert [p["code"] for p in listed.data["promotions"]] == [code]


def test_a_code_in_use_is_409_in_any_case(api, tokens):
    code_of(api, tokens["vendor"], code="TAKEN1")

    taken = promo(api, tokens["vendor2"], code="taken1")

    assert taken.status_code == 409, taken.data
    assert taken.data["error"]["code"] == "PROMO_CODE_TAKEN"


def test_the_same_creation_retried_gets_its_promotion_back(api, tokens):
    fields = dict(code="RETRIED1", valid_from=1_900_000_000, valid_to=1_900_086_400)
    first = promo(api, tokens["vendor"], **fields)
    again = promo(api, tokens["vendor"], **fields)

    assert first.status_code == again.status_code == 201
    assert again.data == first.data
    assert promo(api, tokens["vendor"], **{**fields, "max_uses": 5}).status_code == 409  # another request


@pytest.mark.parametrize("fields, named", [
    ({"percent_off": 10, "amount_off": 100}, "percent_off"),
    ({"percent_off": None}, "percent_off"),
    ({"percent_off": 101}, "percent_off"),
    ({"valid_to": 1_000_000_000}, "valid_to"),
    ({"valid_from": "2027-01-01T00:00:00"}, "valid_from"),
    ({"valid_from": "soon"}, "valid_from"),
    ({"valid_from": True}, "valid_from"),
    ({"max_uses": 0}, "max_uses"),
    ({"max_uses": 2, "max_uses_per_traveler": 3}, "max_uses_per_traveler"),
    ({"listing_id": "lst_x", "kind": "hotel"}, "kind"),
    ({"kind": "cruise"}, "kind"),
    ({"code": "a b"}, "code"),
    ({"code": "AB"}, "code"),
    ({"currency": "EUR"}, "currency"),
    ({"percent_off": None, "amount_off": 100}, "currency"),
    ({"percent_off": None, "amount_off": 100, "currency": "ZZZ"}, "currency"),
])
def test_bad_promotions_are_400_naming_the_field(api, tokens, fields, named):
    refused = promo(api, tokens["vendor"], **fields)  # a None field is left out of the body

    assert refused.status_code == 400, refused.data
    assert named in refused.data["error"]["details"]["fields"], refused.data


def test_a_promotion_that_already_ended_is_400(api, tokens):
    refused = promo(api, tokens["vendor"], valid_from=1_000_000_000, valid_to=1_000_086_400)

    assert refused.status_code == 400 and "valid_to" in refused.data["error"]["details"]["fields"]


@pytest.mark.parametrize("role", ["traveler", "agent"])
def test_only_vendors_and_admins_create_promotions(api, tokens, role):
    assert promo(api, tokens[role]).status_code == 403
    assert promo(api, tokens[role], "/admin/promotions").status_code == 403
