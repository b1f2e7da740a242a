"""POST /webhooks/stripe through the app: Stripe's signature scheme, redeliveries, bad input."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from chalicelib.booking.payments.models import StripeEvent

SECRET = "whsec_itinera_test_secret"
EVENT = (Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
         / "event_payment_intent_amount_capturable_updated.json").read_text()


def stripe_signature(payload: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """What Stripe sends: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>" keyed with the secret>."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@pytest.fixture
def webhook(api, monkeypatch):
    monkeypatch.setenv("ITINERA_STRIPE_WEBHOOK_SECRET", SECRET)

    def post(payload: str = EVENT, signature: str | None = "sign", **headers: str):
        if signature == "sign":
            signature = stripe_signature(payload)
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return api.post("/webhooks/stripe", payload, headers=headers)

    return post


def assert_names_the_signature(response):
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert "Stripe-Signature" in response.data["error"]["details"]["fields"]


def test_a_signed_event_is_received_and_recorded(webhook):
    response = webhook()

    assert response.status_code == 200, response.data
    assert response.data == {"received": True, "type": "payment_intent.amount_capturable_updated",
                             "duplicate": False}
    stored = StripeEvent.get("evt_3QkFtbLkdIwHu7ix0kQ1Xq9R")
    assert (stored.type, stored.object_id, stored.livemode) == (
        "payment_intent.amount_capturable_updated", "pi_3QkFtbLkdIwHu7ix0ZDyr5Qm", False)


def test_a_redelivered_event_is_acknowledged_but_not_processed_again(webhook):
    first = webhook()
    stored = StripeEvent.get("evt_3QkFtbLkdIwHu7ix0kQ1Xq9R")
    stored.update(actions=[StripeEvent.received_at.set(1)])  # a mark a second processing would erase

    again = webhook()

    assert first.data["duplicate"] is False
    assert again.status_code == 200
    assert again.data == {"received": True, "type": "payment_intent.amount_capturable_updated", "duplicate": True}
    assert StripeEvent.get("evt_3QkFtbLkdIwHu7ix0kQ1Xq9R").received_at == 1
    assert StripeEvent.count() == 1


def test_stripe_sends_json_with_a_charset(webhook):
    response = webhook(**{"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.data


def test_during_a_secret_roll_any_matching_v1_signature_is_enough(webhook):
    timestamp = int(time.time())
    old = stripe_signature(EVENT, "whsec_old_secret", timestamp).split(",")[1]
    current = stripe_signature(EVENT, SECRET, timestamp)
    response = webhook(signature=f"{current.split(',')[0]},{old},{current.split(',')[1]}")
    assert response.status_code == 200, response.data


def test_a_missing_signature_is_a_400_naming_the_header(webhook):
    assert_names_the_signature(webhook(signature=None))


# Built at run time (signatures carry the time), under stable ids for pytest-xdist.
@pytest.mark.parametrize("make_signature", [
    lambda: "garbage",
    lambda: "t=notanumber,v1=abc",
    lambda: "t=1700000000",  # no v1 signature at all
    lambda: stripe_signature(EVENT, secret="whsec_someone_else"),
    lambda: stripe_signature(EVENT).replace("v1=", "v0="),
], ids=["garbage", "bad-timestamp", "no-v1", "other-secret", "other-scheme"])
def test_a_wrong_or_malformed_signature_is_a_400(webhook, make_signature):
    assert_names_the_signature(webhook(signature=make_signature()))
    assert StripeEvent.count() == 0


def test_a_tampered_payload_is_a_400(webhook):
    signature = stripe_signature(EVENT)
    tampered = EVENT.replace('"amount": 12900', '"amount": 1')
    assert tampered != EVENT
    assert_names_the_signature(webhook(tampered, signature=signature))


def test_an_old_signature_is_a_replay_and_a_400(webhook):
    old = stripe_signature(EVENT, timestamp=int(time.time()) - 600)
    response = webhook(signature=old)
    assert_names_the_signature(response)
    assert "tolerance" in response.data["error"]["details"]["fields"]["Stripe-Signature"]


def test_a_signed_body_that_is_not_an_event_is_a_400_naming_the_body(webhook):
    response = webhook(json.dumps({"hello": "world"}))
    assert response.status_code == 400
    assert "body" in response.data["error"]["details"]["fields"]


def test_a_body_that_is_not_json_is_a_400(webhook):
    response = webhook("not json at all")
    assert response.status_code == 400
    assert response.data["error"]["code"] == "VALIDATION_ERROR"


def test_a_stage_without_a_configured_secret_has_no_stripe_webhook_route(api, monkeypatch):
    """No secret: the stage takes no Stripe events, so the route is a 404, not a fault of ours (5xx)."""
    monkeypatch.delenv("ITINERA_STRIPE_WEBHOOK_SECRET", raising=False)
    response = api.post("/webhooks/stripe", EVENT, headers={"Stripe-Signature": stripe_signature(EVENT)})
    assert response.status_code == 404
    assert response.data["error"]["code"] == "NOT_FOUND"
    assert StripeEvent.count() == 0


def test_a_stage_without_a_configured_secret_answers_404_to_unsigned_posts_too(api, monkeypatch):
    monkeypatch.delenv("ITINERA_STRIPE_WEBHOOK_SECRET", raising=False)
    response = api.post("/webhooks/stripe", EVENT)
    assert response.status_code == 404
    assert response.data["error"]["code"] == "NOT_FOUND"


def test_the_route_is_in_the_openapi_document(api):
    document = api.get("/openapi.json").data
    operation = document["paths"]["/webhooks/stripe"]["post"]
    assert "security" not in operation  # Stripe signs; it has no bearer token
    assert set(operation["responses"]) >= {"200", "400", "404"}
    # An unconfigured stage is a 404, never a 5xx; 503 is only DynamoDB busy (Stripe retries it).
    assert operation["responses"]["503"]["description"] == "SERVICE_UNAVAILABLE"
