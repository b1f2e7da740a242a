"""StripeProvider against Stripe's HTTP answers replayed from tests/fixtures/stripe.

The `stripe` library runs for real (its default `requests` HTTP client, its encoder, its error
classes); the `responses` library stands in for api.stripe.com at the transport adapter, serves
a fixture, and keeps each request so the tests can check what we would have sent: the path, the
form parameters and the Idempotency-Key header. No network, no Stripe account.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses

from chalicelib.booking.payments import (AmountExceeded, Capture, CaptureFailed, Declined, IdempotencyKeyReused,
                                         InvalidPaymentMethod, InvalidPaymentState, ProviderUnavailable,
                                         provider, reset_provider)
from chalicelib.booking.payments.stripe_provider import StripeProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
API = "https://api.stripe.com"
PI = "pi_3QkFtbLkdIwHu7ix0ZDyr5Qm"
API_KEY = "sk_test_itinera_replay_only"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def replay(mock: responses.RequestsMock, name: str, *, body_override: dict | None = None) -> None:
    """Serve one recorded exchange for the request it answers."""
    exchange = fixture(name)
    answer = exchange["response"]
    mock.add(exchange["request"]["method"], API + exchange["request"]["path"],
             json=body_override or answer["body"], status=answer["status"],
             headers={k: v for k, v in answer["headers"].items() if k != "Content-Type"})


def sent(mock: responses.RequestsMock, index: int = -1) -> tuple[str, dict[str, list[str]], dict[str, str]]:
    request = mock.calls[index].request
    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    return request.path_url, parse_qs(body), dict(request.headers)


@pytest.fixture
def stripe_http():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def stripe_provider(monkeypatch) -> StripeProvider:
    from stripe._http_client import HTTPClient

    # The library's retry backoff sleeps at least 0.5 s; the replayed server needs no patience.
    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, retries: 0)
    return StripeProvider(API_KEY, max_network_retries=0)


def authorize(provider: StripeProvider, *, token: str = "tok_visa", key: str = "hold-42", amount: int = 12900):
    return provider.authorize(amount=amount, currency="EUR", payment_method=token, idempotency_key=key,
                              metadata={"booking_id": "bk_7Q2M9X", "reference": "K7M4QZ"})


# -- authorize --------------------------------------------------------------------------------

def test_authorize_creates_a_manual_capture_payment_intent(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_capture")

    authorization = authorize(stripe_provider)

    assert (authorization.payment_id, authorization.amount, authorization.currency, authorization.status) == (
        PI, 12900, "EUR", "authorized")
    path, form, headers = sent(stripe_http)
    assert path == "/v1/payment_intents"
    assert form == {
        "amount": ["12900"], "currency": ["eur"], "capture_method": ["manual"], "confirm": ["true"],
        "payment_method_types[0]": ["card"],
        "payment_method_data[type]": ["card"], "payment_method_data[card][token]": ["tok_visa"],
        "metadata[booking_id]": ["bk_7Q2M9X"], "metadata[reference]": ["K7M4QZ"],
    }
    assert headers["Idempotency-Key"] == "itinera-authorize-hold-42"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Stripe-Version"]


def test_a_payment_method_from_stripe_js_is_passed_as_is(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_capture")

    authorize(stripe_provider, token="pm_1QkFtaLkdIwHu7ixrWr8QJqK")

    _, form, _ = sent(stripe_http)
    assert form["payment_method"] == ["pm_1QkFtaLkdIwHu7ixrWr8QJqK"]
    assert not any(name.startswith("payment_method_data") for name in form)


def test_a_retry_sends_the_same_idempotency_key_and_gets_the_same_payment(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_capture")
    replay(stripe_http, "payment_intent_create_requires_capture")  # Stripe replays the first answer

    first, second = authorize(stripe_provider), authorize(stripe_provider)

    assert first == second
    keys = [call.request.headers["Idempotency-Key"] for call in stripe_http.calls]
    assert keys == ["itinera-authorize-hold-42"] * 2


@pytest.mark.parametrize("recording, token, reason", [
    ("payment_intent_create_card_declined", "tok_chargeDeclined", "generic_decline"),
    ("payment_intent_create_insufficient_funds", "tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
def test_card_errors_are_declines_with_stripes_decline_code(stripe_http, stripe_provider,
                                                           recording, token, reason):
    replay(stripe_http, recording)

    with pytest.raises(Declined) as declined:
        authorize(stripe_provider, token=token)

    assert declined.value.reason == reason
    assert declined.value.message == fixture(recording)["response"]["body"]["error"]["message"]


def test_a_token_stripe_does_not_know_is_an_invalid_payment_method(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_no_such_token")

    with pytest.raises(InvalidPaymentMethod) as invalid:
        authorize(stripe_provider, token="tok_captureFails")
    assert "tok_captureFails" not in invalid.value.message


def test_a_card_number_is_never_sent(stripe_http, stripe_provider):
    stripe_http.assert_all_requests_are_fired = False
    with pytest.raises(InvalidPaymentMethod) as invalid:
        authorize(stripe_provider, token="4242 4242 4242 4242")
    assert "4242" not in invalid.value.message
    assert len(stripe_http.calls) == 0


def test_an_intent_that_needs_3d_secure_is_not_an_authorization(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_action")

    with pytest.raises(Declined) as declined:
        authorize(stripe_provider, token="tok_threeDSecure2Required")
    assert declined.value.reason == "authentication_required"


def test_a_key_reused_with_another_amount_is_refused(stripe_http, stripe_provider):
    replay(stripe_http, "idempotency_error")

    with pytest.raises(IdempotencyKeyReused):
        authorize(stripe_provider, amount=13900)


# -- capture, void, refund --------------------------------------------------------------------

def test_capture_sends_amount_to_capture_under_its_own_key(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_succeeded")

    capture = stripe_provider.capture(PI, amount=12900, idempotency_key="hold-42")

    assert capture == Capture(PI, 12900, "ch_3QkFtbLkdIwHu7ix0Vq2bEJN")
    path, form, headers = sent(stripe_http)
    assert path == f"/v1/payment_intents/{PI}/capture"
    assert form == {"amount_to_capture": ["12900"]}
    assert headers["Idempotency-Key"] == "itinera-capture-hold-42"


def test_an_expired_authorization_is_a_failed_capture(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_expired")

    with pytest.raises(CaptureFailed) as failed:
        stripe_provider.capture(PI, amount=12900, idempotency_key="hold-42")
    assert failed.value.reason == "charge_expired_for_capture"


def test_capture_after_void_is_an_invalid_state(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_unexpected_state")

    with pytest.raises(InvalidPaymentState):
        stripe_provider.capture(PI, amount=12900, idempotency_key="hold-42")


def test_void_cancels_the_payment_intent(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_cancel_canceled")

    assert stripe_provider.void(PI, idempotency_key="hold-42") is None

    path, form, headers = sent(stripe_http)
    assert path == f"/v1/payment_intents/{PI}/cancel"
    assert form == {}
    assert headers["Idempotency-Key"] == "itinera-void-hold-42"


def test_voiding_a_cancelled_intent_is_done_but_voiding_a_captured_one_is_not(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_cancel_unexpected_state")
    stripe_provider.void(PI, idempotency_key="retry-under-a-new-key")

    captured = fixture("payment_intent_cancel_unexpected_state")["response"]["body"]
    captured["error"]["payment_intent"]["status"] = "succeeded"
    replay(stripe_http, "payment_intent_cancel_unexpected_state", body_override=captured)
    with pytest.raises(InvalidPaymentState):
        stripe_provider.void(PI, idempotency_key="after-capture")


def test_refund_creates_a_refund_for_the_payment_intent(stripe_http, stripe_provider):
    replay(stripe_http, "refund_create_succeeded")

    refund = stripe_provider.refund(PI, amount=5000, idempotency_key="refund-1")

    assert (refund.refund_id, refund.payment_id, refund.amount, refund.status) == (
        "re_3QkFtbLkdIwHu7ix0mJxZ2Lp", PI, 5000, "succeeded")
    path, form, headers = sent(stripe_http)
    assert path == "/v1/refunds"
    assert form == {"payment_intent": [PI], "amount": ["5000"]}
    assert headers["Idempotency-Key"] == "itinera-refund-refund-1"


def test_a_refund_above_what_is_left_is_refused(stripe_http, stripe_provider):
    replay(stripe_http, "refund_create_exceeds_captured")

    with pytest.raises(AmountExceeded):
        stripe_provider.refund(PI, amount=15000, idempotency_key="refund-2")


# -- Stripe unavailable -----------------------------------------------------------------------

def test_connection_failures_and_stripe_errors_are_provider_unavailable(stripe_http, stripe_provider):
    stripe_http.add("POST", f"{API}/v1/payment_intents/{PI}/capture",
                    body=requests.ConnectionError("connection reset"))
    with pytest.raises(ProviderUnavailable):
        stripe_provider.capture(PI, amount=12900, idempotency_key="hold-42")

    replay(stripe_http, "api_error")
    with pytest.raises(ProviderUnavailable):
        stripe_provider.capture(PI, amount=12900, idempotency_key="hold-42")


def test_retries_reuse_the_idempotency_key_so_stripe_replays_instead_of_repeating(stripe_http, monkeypatch):
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, retries: 0)
    retrying = StripeProvider(API_KEY, max_network_retries=2)
    replay(stripe_http, "api_error")
    replay(stripe_http, "payment_intent_capture_succeeded")

    capture = retrying.capture(PI, amount=12900, idempotency_key="hold-42")

    assert capture.amount == 12900
    assert [c.request.headers["Idempotency-Key"] for c in stripe_http.calls] == ["itinera-capture-hold-42"] * 2


# -- wiring -----------------------------------------------------------------------------------

def test_the_factory_picks_the_configured_provider(monkeypatch):
    from chalicelib.booking.payments.local import LocalProvider
    from chalicelib.core.config import settings

    try:
        monkeypatch.delenv("ITINERA_PAYMENT_PROVIDER", raising=False)
        settings.cache_clear()
        reset_provider()
        assert isinstance(provider(), LocalProvider)

        monkeypatch.setenv("ITINERA_PAYMENT_PROVIDER", "stripe")
        monkeypatch.delenv("ITINERA_STRIPE_API_KEY", raising=False)
        settings.cache_clear()
        reset_provider()
        with pytest.raises(RuntimeError, match="ITINERA_STRIPE_API_KEY"):
            provider()

        monkeypatch.setenv("ITINERA_STRIPE_API_KEY", API_KEY)
        chosen = provider()
        assert isinstance(chosen, StripeProvider) and chosen.name == "stripe"
        assert provider() is chosen
    finally:
        monkeypatch.undo()
        settings.cache_clear()
        reset_provider()


def test_the_app_starts_without_importing_stripe():
    root = Path(__file__).resolve().parents[2]
    check = "import sys, app; assert 'stripe' not in sys.modules, 'stripe imported at cold start'"
    result = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True, text=True,
                            env={"PATH": "", "ITINERA_STAGE": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    assert result.returncode == 0, result.stderr
