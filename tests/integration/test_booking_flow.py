"""Holds, payment, confirmation, cancellation and expiry through the API and the workers."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.booking import service
from chalicelib.booking.models import ActiveHolds, LedgerEntry
from chalicelib.inventory.models import AvailabilityDay
from tests.integration.booking_helpers import day, hold_body, key, make_listing


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], kind="hotel", capacity=5, price=12000)


@pytest.fixture
def flight(api, tokens):
    return make_listing(api, tokens["vendor2"], kind="flight", capacity=3, price=30000)


def counters(listing_id: str, date: str) -> tuple[int, int, int, int]:
    d = AvailabilityDay.get(listing_id, date, consistent_read=True)
    return int(d.capacity), int(d.held), int(d.sold), int(d.available)


def drain(sqs_queue: str) -> list[dict]:
    """Run the worker for one queue over whatever is waiting, like the event runner would."""
    import boto3

    from chalicelib.core.queues import queue_url
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=queue_url(sqs_queue), MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url(sqs_queue), ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def test_trip_hold_pay_confirm_cancel(api, tokens, hotel, flight):
    body = hold_body({"listing_id": flight, "quantity": 2, "date": day(10)},
                     {"listing_id": hotel, "quantity": 1, "check_in": day(10), "check_out": day(13)})
    held = api.post("/holds", body, token=tokens["traveler"], headers=key())
    assert held.status_code == 201, held.data
    booking = held.data
    assert booking["status"] == "HELD"
    assert booking["amount"] == {"amount": 2 * 30000 + 3 * 12000, "currency": "EUR"}
    assert booking["available_actions"] == ["pay", "cancel"]
    assert len(booking["reference"]) == 6 and not set(booking["reference"]) & set("01OI")
    assert counters(flight, day(10)) == (3, 2, 0, 1)
    assert [counters(hotel, day(d)) for d in (10, 11, 12, 13)] == [(5, 1, 0, 4)] * 3 + [(5, 0, 0, 5)]

    booking_id = booking["booking_id"]
    paid = api.post(f"/bookings/{booking_id}/payment", {"payment_method": "tok_visa"},
                    token=tokens["traveler"], headers=key())
    assert paid.status_code == 202, paid.data
    assert paid.data["status"] == "CONFIRMING"
    assert drain("confirmations") == [{"type": "confirm", "booking_id": booking_id}]
    assert service.confirm_booking(booking_id) == "confirmed"
    assert service.confirm_booking(booking_id) == "skipped"  # a duplicate message changes nothing

    confirmed = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["captured_amount"]["amount"] == 96000
    assert [e.get("status") or e.get("event") for e in confirmed["timeline"]] == [
        "HELD", "payment_authorized", "CONFIRMING", "payment_captured", "CONFIRMED"]
    assert counters(flight, day(10)) == (3, 0, 2, 1)
    assert int(ActiveHolds.get(_traveler_id(api, tokens)).count) == 0  # paid: no longer an active hold

    quote = api.get(f"/bookings/{booking_id}/cancellation-quote", token=tokens["traveler"]).data
    assert quote["refund"] == {"amount": 96000, "currency": "EUR"}  # 10 days ahead: free cancellation
    cancelled = api.post(f"/bookings/{booking_id}/cancel", {}, token=tokens["traveler"])
    assert cancelled.status_code == 202 and cancelled.data["status"] == "CANCELLING"
    assert cancelled.data["refund_quote"]["amount"] == 96000
    assert service.process_cancellation(booking_id) == "cancelled"
    assert service.process_cancellation(booking_id) == "skipped"
    final = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    assert final["status"] == "CANCELLED" and final["refunded_amount"]["amount"] == 96000
    assert counters(flight, day(10)) == (3, 0, 0, 3)
    kinds = [e.kind for e in LedgerEntry.query(booking_id)]
    assert kinds == ["authorization", "capture", "refund"]


def _traveler_id(api, tokens) -> str:
    return api.get("/me", token=tokens["traveler"]).data["user_id"]


def test_same_key_same_body_replays_and_other_body_is_422(api, tokens, hotel):
    body = hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(5), "check_out": day(6)})
    headers = key()
    first = api.post("/holds", body, token=tokens["traveler"], headers=headers)
    again = api.post("/holds", body, token=tokens["traveler"], headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.data == again.data
    assert counters(hotel, day(5))[1] == 1  # held once
    other = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 2, "check_in": day(5),
                                          "check_out": day(6)}), token=tokens["traveler"], headers=headers)
    assert other.status_code == 422 and other.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    missing = api.post("/holds", body, token=tokens["traveler"])
    assert missing.status_code == 400 and "Idempotency-Key" in missing.data["error"]["details"]["fields"]


def test_sold_out_names_item_and_dates_and_holds_nothing(api, tokens, hotel, flight):
    body = hold_body({"listing_id": flight, "quantity": 1, "date": day(3)},
                     {"listing_id": hotel, "quantity": 6, "check_in": day(3), "check_out": day(5)})
    response = api.post("/holds", {**body, "items": [body["items"][0], {**body["items"][1], "quantity": 6}]},
                        token=tokens["traveler"], headers=key())
    assert response.status_code == 409 and response.data["error"]["code"] == "SOLD_OUT"
    items = response.data["error"]["details"]["items"]
    assert items == [{"item": 1, "listing_id": hotel, "dates": [{"date": day(3), "available": 5},
                                                                 {"date": day(4), "available": 5}]}]
    assert counters(flight, day(3)) == (3, 0, 0, 3)  # the flight was not held either


def test_hold_limits(api, tokens, hotel):
    too_many = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 11, "check_in": day(1),
                                             "check_out": day(2)}), token=tokens["traveler"], headers=key())
    assert too_many.status_code == 400 and "items.0.quantity" in too_many.data["error"]["details"]["fields"]
    for i in range(5):
        ok = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(20 + i),
                                           "check_out": day(21 + i)}), token=tokens["traveler2"], headers=key())
        assert ok.status_code == 201, ok.data
    sixth = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(30),
                                          "check_out": day(31)}), token=tokens["traveler2"], headers=key())
    assert sixth.status_code == 429 and sixth.data["error"]["code"] == "RATE_LIMITED"
    assert sixth.headers["Retry-After"]
    assert counters(hotel, day(30))[1] == 0


def test_bad_input_names_fields(api, tokens, hotel):
    cases = [
        ({"items": [], "contact": {"email": "a@b.co", "name": "A"}}, "items"),
        (hold_body({"listing_id": hotel, "quantity": 1}), "items.0"),
        (hold_body({"listing_id": hotel, "quantity": 1, "date": day(1)}), "items.0.date"),
        (hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(3), "check_out": day(2)}), "items.0.check_out"),
        (hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(-3), "check_out": day(2)}), "items.0.check_in"),
        (hold_body({"listing_id": "lst_nope", "quantity": 1, "date": day(2)}), "items.0.listing_id"),
        ({**hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(1), "check_out": day(2)}),
          "contact": {"email": "nope", "name": ""}}, "contact.email"),
    ]
    for body, field in cases:
        response = api.post("/holds", body, token=tokens["traveler"], headers=key())
        assert response.status_code == 400, (field, response.data)
        assert field in response.data["error"]["details"]["fields"], (field, response.data)


def test_other_travelers_booking_is_404_and_roles_are_enforced(api, tokens, hotel):
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    path = f"/bookings/{held['booking_id']}"
    assert api.get(path, token=tokens["traveler2"]).status_code == 404
    assert api.post(path + "/payment", {"payment_method": "tok_visa"}, token=tokens["traveler2"],
                    headers=key()).status_code == 404
    assert api.get(path, token=tokens["agent"]).status_code == 200
    assert api.post("/holds", {}, token=tokens["vendor"], headers=key()).status_code == 403


def test_payment_declined_keeps_the_hold_and_replays(api, tokens, hotel):
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    path = f"/bookings/{held['booking_id']}/payment"
    headers = key()
    declined = api.post(path, {"payment_method": "tok_chargeDeclinedInsufficientFunds"}, token=tokens["traveler"],
                        headers=headers)
    assert declined.status_code == 402
    assert declined.data["error"]["details"]["reason"] == "insufficient_funds"
    assert api.post(path, {"payment_method": "tok_chargeDeclinedInsufficientFunds"}, token=tokens["traveler"],
                    headers=headers).data == declined.data
    retry = api.post(path, {"payment_method": "tok_mastercard"}, token=tokens["traveler"], headers=key())
    assert retry.status_code == 202


def test_raw_card_number_is_refused_and_not_stored(api, tokens, hotel, caplog):
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    card = "4242 4242 4242 4242"
    response = api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": card},
                        token=tokens["traveler"], headers=key())
    assert response.status_code == 400 and response.data["error"]["code"] == "RAW_CARD_NUMBER"
    assert "4242" not in json.dumps(response.data) and "4242" not in caplog.text
    assert api.get(f"/bookings/{held['booking_id']}", token=tokens["traveler"]).data["status"] == "HELD"


def test_payment_replay_after_lost_response_authorizes_once(api, tokens, hotel):
    from chalicelib.booking.payments.models import LocalPayment
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    headers = key()
    path = f"/bookings/{held['booking_id']}/payment"
    first = api.post(path, {"payment_method": "tok_visa"}, token=tokens["traveler"], headers=headers)
    second = api.post(path, {"payment_method": "tok_visa"}, token=tokens["traveler"], headers=headers)
    assert first.status_code == second.status_code == 202 and first.data == second.data
    assert LocalPayment.count() >= 1
    ledger = [e.kind for e in LedgerEntry.query(held["booking_id"])]
    assert ledger == ["authorization"]


def test_capture_failure_fails_booking_and_releases(api, tokens, hotel):
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 2, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": "tok_captureFails"},
             token=tokens["traveler"], headers=key())
    assert service.confirm_booking(held["booking_id"]) == "failed"
    booking = api.get(f"/bookings/{held['booking_id']}", token=tokens["traveler"]).data
    assert booking["status"] == "FAILED" and booking["captured_amount"]["amount"] == 0
    assert counters(hotel, day(2)) == (5, 0, 0, 5)
    assert [e.kind for e in LedgerEntry.query(held["booking_id"])] == ["authorization", "void"]


def test_cancel_held_releases_at_once(api, tokens, hotel):
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 2, "check_in": day(2),
                                         "check_out": day(4)}), token=tokens["traveler"], headers=key()).data
    cancelled = api.post(f"/bookings/{held['booking_id']}/cancel", {}, token=tokens["traveler"])
    assert cancelled.status_code == 200 and cancelled.data["status"] == "CANCELLED"
    assert counters(hotel, day(2)) == (5, 0, 0, 5)
    again = api.post(f"/bookings/{held['booking_id']}/cancel", {}, token=tokens["traveler"])
    assert again.status_code == 409 and again.data["error"]["code"] == "INVALID_STATE"


def test_expiry_releases_and_payment_after_expiry_is_409(api, tokens, hotel):
    import time
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    later = time.time() + 16 * 60
    from chalicelib.booking.payment import pay
    from chalicelib.booking.schemas import PaymentRequest
    from chalicelib.core.auth import principal_from_claims
    import jwt
    user = principal_from_claims(jwt.decode(tokens["traveler"], options={"verify_signature": False}))
    with pytest.raises(Exception) as refused:
        pay(user, held["booking_id"], PaymentRequest(payment_method="tok_visa"), uuid.uuid4().hex, now=later)
    assert getattr(refused.value, "code", None) == "HOLD_EXPIRED"
    assert service.release_expired_holds(now=later)["expired"] == 1
    assert service.release_expired_holds(now=later)["expired"] == 0
    assert counters(hotel, day(2)) == (5, 0, 0, 5)
    assert api.get(f"/bookings/{held['booking_id']}", token=tokens["traveler"]).data["status"] == "EXPIRED"


def _requests(operation: str) -> list:
    from chalicelib.booking.payments.models import LocalPaymentRequest
    return [r for r in LocalPaymentRequest.scan() if r.pk.startswith(f"request#{operation}#")]


def test_worker_crash_after_capture_then_redelivery_captures_once(api, tokens, hotel, monkeypatch):
    from chalicelib.booking import transactions
    from chalicelib.booking.payments.models import LocalPayment

    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(4),
                                         "check_out": day(6)}), token=tokens["traveler"], headers=key()).data
    booking_id = held["booking_id"]
    assert api.post(f"/bookings/{booking_id}/payment", {"payment_method": "tok_visa"},
                    token=tokens["traveler"], headers=key()).status_code == 202
    real_commit = transactions.LabelledTransaction.commit

    def crash(self):
        raise ConnectionError("the Lambda died after capturing, before writing")

    monkeypatch.setattr(transactions.LabelledTransaction, "commit", crash)
    with pytest.raises(ConnectionError):
        service.confirm_booking(booking_id)
    monkeypatch.setattr(transactions.LabelledTransaction, "commit", real_commit)
    assert service.confirm_booking(booking_id) == "confirmed"  # the redelivered message
    assert service.confirm_booking(booking_id) == "skipped"

    assert len(_requests("capture")) == 1
    payment = LocalPayment.get(LocalPayment.key(_payment_id(booking_id)))
    assert payment.status == "captured" and int(payment.captured_amount) == 24000
    assert [e.kind for e in LedgerEntry.query(booking_id)] == ["authorization", "capture"]
    assert counters(hotel, day(4)) == (5, 0, 1, 4)


def _payment_id(booking_id: str) -> str:
    from chalicelib.booking.models import Booking
    return Booking.get(booking_id).payment_id


def test_lost_payment_response_retry_authorizes_once_at_the_provider(api, tokens, hotel):
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    headers = key()
    for _ in range(3):
        response = api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": "tok_visa"},
                            token=tokens["traveler"], headers=headers)
        assert response.status_code == 202
    assert len(_requests("confirm")) == 1  # one authorization at the provider


def test_vendor_sees_only_bookings_of_its_listings(api, tokens, hotel, flight):
    api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(8), "check_out": day(9)}),
             token=tokens["traveler"], headers=key())
    api.post("/holds", hold_body({"listing_id": flight, "quantity": 1, "date": day(9)}),
             token=tokens["traveler"], headers=key())
    mine = api.get("/vendor/bookings", token=tokens["vendor"]).data
    assert [item["listing_id"] for b in mine["bookings"] for item in b["items"]] == [hotel]
    assert "contact" not in mine["bookings"][0]  # an unpaid hold does not reveal who the traveler is
    theirs = api.get(f"/vendor/bookings?from={day(9)}&to={day(9)}", token=tokens["vendor2"]).data
    assert [item["listing_id"] for b in theirs["bookings"] for item in b["items"]] == [flight]
    assert api.get(f"/vendor/bookings?from={day(10)}", token=tokens["vendor2"]).data["bookings"] == []
    assert api.get("/vendor/bookings?status=CONFIRMED", token=tokens["vendor"]).data["bookings"] == []
    bad = api.get(f"/vendor/bookings?from={day(9)}&to={day(1)}", token=tokens["vendor"])
    assert bad.status_code == 400
    assert api.get("/vendor/bookings", token=tokens["traveler"]).status_code == 403


def test_my_bookings_newest_first_paginated_and_filtered(api, tokens, hotel):
    ids = []
    for i in range(3):
        held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(10 + i),
                                             "check_out": day(11 + i)}), token=tokens["traveler"], headers=key())
        ids.append(held.data["booking_id"])
    api.post(f"/bookings/{ids[0]}/cancel", {}, token=tokens["traveler"])
    seen, cursor = [], None
    while True:
        page = api.get("/me/bookings?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=tokens["traveler"]).data
        seen += [b["booking_id"] for b in page["bookings"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    held = api.get("/me/bookings?status=HELD", token=tokens["traveler"]).data
    assert [b["booking_id"] for b in held["bookings"]] == list(reversed(ids[1:]))
    assert api.get("/me/bookings", token=tokens["traveler2"]).data["bookings"] == []
    assert api.get("/me/bookings?cursor=forged", token=tokens["traveler"]).status_code == 400
    assert api.get("/me/bookings?status=NOPE", token=tokens["traveler"]).status_code == 400


def test_business_metrics_are_emitted_as_emf(api, tokens, hotel, capsys):
    capsys.readouterr()
    api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2), "check_out": day(3)}),
             token=tokens["traveler"], headers=key())
    api.post("/holds", hold_body({"listing_id": hotel, "quantity": 9, "check_in": day(2), "check_out": day(3)}),
             token=tokens["traveler"], headers=key())
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    names = [m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert "HoldsPlaced" in names and "SoldOut" in names
    assert all(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Itinera" for doc in emitted)


def test_review_fixes_trip_shapes_free_bookings_and_odd_ids(api, tokens, hotel, flight):
    # Two flights on one listing, different dates: both dates are quoted (not a false SOLD_OUT).
    two = api.post("/holds", hold_body({"listing_id": flight, "quantity": 1, "date": day(3)},
                                       {"listing_id": flight, "quantity": 1, "date": day(4)}),
                   token=tokens["traveler"], headers=key())
    assert two.status_code == 201, two.data
    # Too many (listing, date) pairs for one transaction: 400, not 500.
    stays = [{"listing_id": hotel, "quantity": 1, "check_in": day(1 + 9 * i), "check_out": day(10 + 9 * i)}
             for i in range(4)]
    many = [{"listing_id": make_listing(api, tokens["vendor"], days=60), "quantity": 1, "check_in": day(1),
             "check_out": day(30)} for _ in range(3)]
    big = api.post("/holds", hold_body(*(stays[:1] + many)), token=tokens["traveler"], headers=key())
    assert big.status_code == 400 and "items" in big.data["error"]["details"]["fields"]
    # Booleans are not quantities.
    assert api.post("/holds", hold_body({"listing_id": flight, "quantity": True, "date": day(5)}),
                    token=tokens["traveler"], headers=key()).status_code == 400
    # Odd booking ids are simply not found.
    for bad in ("bk_" + "f" * 3000, "nope", "bk_ZZZ"):
        assert api.get(f"/bookings/{bad}", token=tokens["traveler"]).status_code == 404
        assert api.post(f"/bookings/{bad}/payment", {"payment_method": "tok_visa"}, token=tokens["traveler"],
                        headers=key()).status_code == 404


def test_a_free_booking_confirms_without_the_provider(api, tokens):
    free = make_listing(api, tokens["vendor"], kind="event", price=0)
    held = api.post("/holds", hold_body({"listing_id": free, "quantity": 2, "date": day(6)}),
                    token=tokens["traveler"], headers=key()).data
    assert held["amount"]["amount"] == 0
    paid = api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": "tok_visa"},
                    token=tokens["traveler"], headers=key())
    assert paid.status_code == 202, paid.data
    assert service.confirm_booking(held["booking_id"]) == "confirmed"
    assert list(LedgerEntry.query(held["booking_id"])) == []  # no money moved, nothing to record
    assert counters(free, day(6))[2] == 2


def test_key_reused_with_another_payment_method_leaves_nothing_open(api, tokens, hotel):
    from chalicelib.booking.payments.models import LocalPayment
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    path = f"/bookings/{held['booking_id']}/payment"
    headers = key()
    assert api.post(path, {"payment_method": "tok_chargeDeclined"}, token=tokens["traveler"],
                    headers=headers).status_code == 402
    reused = api.post(path, {"payment_method": "tok_visa"}, token=tokens["traveler"], headers=headers)
    assert reused.status_code == 422 and reused.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    payments = [p for p in LocalPayment.scan() if p.pk.startswith("payment#")]
    assert payments and not any(p.status == "authorized" for p in payments)  # nothing left reserved
    assert api.post(path, {"payment_method": "tok_visa"}, token=tokens["traveler"], headers=key()).status_code == 202


def test_agents_cancel_but_do_not_pay_and_started_bookings_cannot_be_cancelled(api, tokens, hotel):
    import time as clock
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    assert api.get(f"/bookings/{held['booking_id']}", token=tokens["agent"]).data["available_actions"] == ["cancel"]
    api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": "tok_visa"}, token=tokens["traveler"],
             headers=key())
    service.confirm_booking(held["booking_id"])
    from chalicelib.booking.cancellation import cancel
    from chalicelib.core.auth import principal_from_claims
    import jwt
    user = principal_from_claims(jwt.decode(tokens["traveler"], options={"verify_signature": False}))
    with pytest.raises(Exception) as refused:
        cancel(user, held["booking_id"], None, now=clock.time() + 3 * 86400)
    assert getattr(refused.value, "code", None) == "INVALID_STATE"


def test_vendor_sees_only_its_own_items_of_a_trip_and_pages_end_exactly(api, tokens, hotel, flight):
    trip = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(8), "check_out": day(9)},
                                        {"listing_id": flight, "quantity": 2, "date": day(8)}),
                    token=tokens["traveler"], headers=key()).data
    aurora = api.get("/vendor/bookings", token=tokens["vendor"]).data["bookings"]
    assert [i["listing_id"] for i in aurora[0]["items"]] == [hotel]
    assert aurora[0]["amount"]["amount"] == 12000  # its own item, not the trip's total
    api.post(f"/bookings/{trip['booking_id']}/payment", {"payment_method": "tok_visa"}, token=tokens["traveler"],
             headers=key())
    service.confirm_booking(trip["booking_id"])
    paid = api.get("/vendor/bookings", token=tokens["vendor2"]).data["bookings"][0]
    assert paid["contact"]["name"] == "Tessa Traveler" and paid["amount"]["amount"] == 60000
    api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(9), "check_out": day(10)}),
             token=tokens["traveler"], headers=key())
    first = api.get("/vendor/bookings?limit=1", token=tokens["vendor"]).data
    assert first["next_cursor"]
    second = api.get(f"/vendor/bookings?limit=1&cursor={first['next_cursor']}", token=tokens["vendor"]).data
    assert len(second["bookings"]) == 1 and second["next_cursor"] is None  # exactly full last page
    assert second["bookings"][0]["booking_id"] != first["bookings"][0]["booking_id"]


def test_an_authorization_orphaned_by_a_crash_is_voided_when_the_hold_expires(api, tokens, hotel, monkeypatch):
    import time as clock

    from chalicelib.booking import transactions
    from chalicelib.booking.payments.models import LocalPayment

    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    real_commit = transactions.LabelledTransaction.commit

    def crash(self):
        raise ConnectionError("the Lambda died after the provider authorized, before our write")

    monkeypatch.setattr(transactions.LabelledTransaction, "commit", crash)
    response = api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": "tok_visa"},
                        token=tokens["traveler"], headers=key())
    assert response.status_code == 500
    monkeypatch.setattr(transactions.LabelledTransaction, "commit", real_commit)
    payments = [p for p in LocalPayment.scan() if p.pk.startswith("payment#")]
    assert [p.status for p in payments] == ["authorized"]  # money reserved, nothing points at it

    assert service.release_expired_holds(now=clock.time() + 16 * 60)["expired"] == 1
    payments = [p for p in LocalPayment.scan() if p.pk.startswith("payment#")]
    assert [p.status for p in payments] == ["voided"]


def test_a_kept_authorization_is_not_voided(api, tokens, hotel):
    from chalicelib.booking.payments.models import LocalPayment
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(2),
                                         "check_out": day(3)}), token=tokens["traveler"], headers=key()).data
    path = f"/bookings/{held['booking_id']}/payment"
    assert api.post(path, {"payment_method": "tok_chargeDeclined"}, token=tokens["traveler"],
                    headers=key()).status_code == 402
    assert api.post(path, {"payment_method": "tok_visa"}, token=tokens["traveler"], headers=key()).status_code == 202
    assert service.confirm_booking(held["booking_id"]) == "confirmed"
    payments = {p.payment_id: p.status for p in LocalPayment.scan() if p.pk.startswith("payment#")}
    kept = _payment_id(held["booking_id"])
    assert payments.pop(kept) == "captured"
    assert list(payments.values()) == ["voided"]  # the declined attempt's payment, never authorized
