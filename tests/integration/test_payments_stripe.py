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
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from chalicelib.booking.payments import (AmountExceeded, AuthorizationGone, Capture, Declined,
                                         IdempotencyKeyReused, InvalidPaymentMethod, InvalidPaymentState,
                                         PaymentState, ProviderBusy, ProviderUnavailable, Refund,
                                         UnknownPayment, provider, reset_provider)
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


def create(provider: StripeProvider, *, key: str = "attempt-42", amount: int = 12900) -> str:
    return provider.create(amount=amount, currency="EUR", idempotency_key=key,
                           metadata={"booking_id": "bk_7Q2M9X", "reference": "K7M4QZ"})


def confirm(provider: StripeProvider, *, token: str = "tok_visa", key: str = "attempt-42"):
    return provider.confirm(PI, payment_method=token, idempotency_key=key)


# -- create, then confirm ---------------------------------------------------------------------

def test_create_makes_a_manual_capture_payment_intent_without_confirming_it(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_payment_method")

    assert create(stripe_provider) == PI

    path, form, headers = sent(stripe_http)
    assert path == "/v1/payment_intents"
    assert form == {
        "amount": ["12900"], "currency": ["eur"], "capture_method": ["manual"],
        "payment_method_types[0]": ["card"],
        "metadata[booking_id]": ["bk_7Q2M9X"], "metadata[reference]": ["K7M4QZ"],
    }
    assert headers["Idempotency-Key"] == "itinera-create-attempt-42"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Stripe-Version"]


def test_confirm_authorizes_the_created_intent_under_its_own_key(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_payment_method")
    replay(stripe_http, "payment_intent_confirm_requires_capture")

    authorization = stripe_provider.confirm(create(stripe_provider), payment_method="tok_visa",
                                            idempotency_key="attempt-42")

    assert (authorization.payment_id, authorization.amount, authorization.currency, authorization.status) == (
        PI, 12900, "EUR", "authorized")
    assert len(stripe_http.calls) == 2
    path, form, headers = sent(stripe_http)
    assert path == f"/v1/payment_intents/{PI}/confirm"
    assert form == {"payment_method_data[type]": ["card"], "payment_method_data[card][token]": ["tok_visa"]}
    assert headers["Idempotency-Key"] == "itinera-confirm-attempt-42"
    assert sent(stripe_http, 0)[2]["Idempotency-Key"] == "itinera-create-attempt-42"


def test_a_payment_method_from_stripe_js_is_confirmed_as_is(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_requires_capture")

    confirm(stripe_provider, token="pm_1QkFtaLkdIwHu7ixrWr8QJqK")

    _, form, _ = sent(stripe_http)
    assert form == {"payment_method": ["pm_1QkFtaLkdIwHu7ixrWr8QJqK"]}


def test_a_repeated_create_sends_the_same_key_and_gets_the_same_payment(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_create_requires_payment_method")
    replay(stripe_http, "payment_intent_create_requires_payment_method")  # Stripe replays the first answer

    assert create(stripe_provider) == create(stripe_provider) == PI
    assert [c.request.headers["Idempotency-Key"] for c in stripe_http.calls] == ["itinera-create-attempt-42"] * 2


def test_a_create_key_reused_with_another_amount_is_refused(stripe_http, stripe_provider):
    replay(stripe_http, "idempotency_error")

    with pytest.raises(IdempotencyKeyReused):
        create(stripe_provider, amount=13900)


@pytest.mark.parametrize("value, accepted", [
    ("tok_visa", True), ("pm_1QkFtaLkdIwHu7ixrWr8QJqK", True), ("tok_", False), ("pm_", False),
    ("card_1QkFta", False), ("", False), ("4242424242424242", False),
])
def test_accepts_stripe_payment_methods_and_tokens_only(value, accepted):
    assert StripeProvider(API_KEY).accepts(value) is accepted


@pytest.mark.parametrize("recording, token, reason", [
    ("payment_intent_confirm_card_declined", "tok_chargeDeclined", "generic_decline"),
    ("payment_intent_confirm_insufficient_funds", "tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
def test_card_errors_on_confirm_are_declines_with_stripes_decline_code(stripe_http, stripe_provider,
                                                                      recording, token, reason):
    replay(stripe_http, recording)

    with pytest.raises(Declined) as declined:
        confirm(stripe_provider, token=token)

    assert declined.value.reason == reason
    assert declined.value.message == fixture(recording)["response"]["body"]["error"]["message"]


def test_a_token_stripe_does_not_know_is_an_invalid_payment_method(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_no_such_token")

    with pytest.raises(InvalidPaymentMethod) as invalid:
        confirm(stripe_provider, token="tok_captureFails")
    assert "tok_captureFails" not in invalid.value.message


def test_a_card_number_is_never_sent(stripe_http, stripe_provider):
    stripe_http.assert_all_requests_are_fired = False
    with pytest.raises(InvalidPaymentMethod) as invalid:
        confirm(stripe_provider, token="4242 4242 4242 4242")
    assert "4242" not in invalid.value.message
    assert len(stripe_http.calls) == 0


def test_an_intent_that_needs_3d_secure_is_not_an_authorization(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_requires_action")

    with pytest.raises(Declined) as declined:
        confirm(stripe_provider, token="tok_threeDSecure2Required")
    assert declined.value.reason == "authentication_required"


def test_confirming_a_cancelled_intent_is_authorization_gone(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_canceled")

    with pytest.raises(AuthorizationGone):
        confirm(stripe_provider)


def test_a_confirm_while_the_same_key_is_running_is_provider_busy(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_idempotency_key_in_use")

    with pytest.raises(ProviderBusy):
        confirm(stripe_provider)


# -- a replayed confirm answers from the PaymentIntent now -------------------------------------

def test_a_replayed_confirm_reads_the_intent_and_answers_its_authorization(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_replayed")
    replay(stripe_http, "payment_intent_retrieve_requires_capture")

    authorization = confirm(stripe_provider)

    assert (authorization.payment_id, authorization.status) == (PI, "authorized")
    assert [c.request.method for c in stripe_http.calls] == ["POST", "GET"]


def test_a_replayed_confirm_of_an_intent_cancelled_since_is_authorization_gone(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_replayed")  # says requires_capture, as it was then
    replay(stripe_http, "payment_intent_retrieve_canceled")

    with pytest.raises(AuthorizationGone):
        confirm(stripe_provider)

    path, _, _ = sent(stripe_http)
    assert path.startswith(f"/v1/payment_intents/{PI}?")


def test_a_replayed_confirm_of_an_intent_captured_since_says_captured(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_replayed")
    replay(stripe_http, "payment_intent_retrieve_succeeded_partly_refunded")

    assert confirm(stripe_provider).status == "captured"


def test_a_fresh_confirm_is_answered_without_reading_the_intent_again(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_confirm_requires_capture")  # no Idempotent-Replayed header

    confirm(stripe_provider)

    assert len(stripe_http.calls) == 1


# -- capture, void, refund --------------------------------------------------------------------

def test_capture_sends_amount_to_capture_under_its_own_key(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_succeeded")

    capture = stripe_provider.capture(PI, amount=12900, idempotency_key="attempt-42")

    assert capture == Capture(PI, 12900, "ch_3QkFtbLkdIwHu7ix0Vq2bEJN")
    path, form, headers = sent(stripe_http)
    assert path == f"/v1/payment_intents/{PI}/capture"
    assert form == {"amount_to_capture": ["12900"]}
    assert headers["Idempotency-Key"] == "itinera-capture-attempt-42"


def test_capturing_an_already_captured_intent_returns_its_capture(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_already_succeeded")
    replay(stripe_http, "payment_intent_retrieve_succeeded_partly_refunded")

    capture = stripe_provider.capture(PI, amount=12900, idempotency_key="another-key")

    assert capture == Capture(PI, 12900, "ch_3QkFtbLkdIwHu7ix0Vq2bEJN")


def test_an_expired_authorization_is_authorization_gone_at_capture(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_expired")

    with pytest.raises(AuthorizationGone):
        stripe_provider.capture(PI, amount=12900, idempotency_key="attempt-42")


def test_capturing_a_cancelled_intent_is_authorization_gone(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_capture_unexpected_state")

    with pytest.raises(AuthorizationGone):
        stripe_provider.capture(PI, amount=12900, idempotency_key="attempt-42")


def test_capturing_an_unconfirmed_intent_is_an_invalid_state(stripe_http, stripe_provider):
    body = fixture("payment_intent_capture_unexpected_state")["response"]["body"]
    body["error"]["payment_intent"]["status"] = "requires_payment_method"
    replay(stripe_http, "payment_intent_capture_unexpected_state", body_override=body)

    with pytest.raises(InvalidPaymentState):
        stripe_provider.capture(PI, amount=12900, idempotency_key="attempt-42")


def test_void_cancels_the_payment_intent_by_id(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_cancel_canceled")

    assert stripe_provider.void(PI, idempotency_key="attempt-42") is None

    path, form, headers = sent(stripe_http)
    assert path == f"/v1/payment_intents/{PI}/cancel"
    assert form == {}
    assert headers["Idempotency-Key"] == "itinera-void-attempt-42"


def test_voiding_a_cancelled_intent_is_a_no_op(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_cancel_unexpected_state")

    assert stripe_provider.void(PI, idempotency_key="retry-under-a-new-key") is None


def test_voiding_a_captured_intent_is_an_invalid_state(stripe_http, stripe_provider):
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


def test_a_refund_that_requires_action_is_pending(stripe_http, stripe_provider):
    body = fixture("refund_create_succeeded")["response"]["body"]
    body["status"] = "requires_action"
    replay(stripe_http, "refund_create_succeeded", body_override=body)

    assert stripe_provider.refund(PI, amount=5000, idempotency_key="refund-1").status == "pending"


# -- retrieve_refund --------------------------------------------------------------------------

RE = "re_3QkFtbLkdIwHu7ix0mJxZ2Lp"


def test_retrieve_refund_reads_the_refund_by_id(stripe_http, stripe_provider):
    replay(stripe_http, "refund_retrieve_pending")

    stripe_provider.retrieve_refund(RE)

    request = stripe_http.calls[0].request
    assert (request.method, request.path_url) == ("GET", f"/v1/refunds/{RE}")
    assert "Idempotency-Key" not in request.headers


def test_retrieve_refund_of_a_pending_refund_is_pending(stripe_http, stripe_provider):
    replay(stripe_http, "refund_retrieve_pending")

    assert stripe_provider.retrieve_refund(RE) == Refund(RE, PI, 5000, "pending")


def test_retrieve_refund_of_a_failed_refund_is_failed(stripe_http, stripe_provider):
    replay(stripe_http, "refund_retrieve_failed")

    assert stripe_provider.retrieve_refund(RE) == Refund(RE, PI, 5000, "failed")


@pytest.mark.parametrize("stripe_status, status", [
    ("requires_action", "pending"), ("succeeded", "succeeded"), ("canceled", "canceled"),
])
def test_retrieve_refund_maps_stripes_status_to_the_ports(stripe_http, stripe_provider, stripe_status, status):
    body = fixture("refund_retrieve_pending")["response"]["body"]
    body["status"] = stripe_status
    replay(stripe_http, "refund_retrieve_pending", body_override=body)

    assert stripe_provider.retrieve_refund(RE).status == status


def test_retrieve_refund_takes_the_payment_id_from_an_expanded_payment_intent(stripe_http, stripe_provider):
    body = fixture("refund_retrieve_pending")["response"]["body"]
    body["payment_intent"] = {"id": PI, "object": "payment_intent", "amount": 12900, "status": "succeeded"}
    replay(stripe_http, "refund_retrieve_pending", body_override=body)

    assert stripe_provider.retrieve_refund(RE).payment_id == PI


def test_retrieve_refund_of_an_unknown_refund_is_unknown_payment(stripe_http, stripe_provider):
    replay(stripe_http, "refund_retrieve_missing")

    with pytest.raises(UnknownPayment):
        stripe_provider.retrieve_refund(RE)


def test_retrieve_refund_when_stripe_fails_is_provider_unavailable(stripe_http, stripe_provider):
    stripe_http.add("GET", f"{API}/v1/refunds/{RE}", body=requests.ConnectionError("connection reset"))

    with pytest.raises(ProviderUnavailable):
        stripe_provider.retrieve_refund(RE)


# -- retrieve ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stripe_status, state", [
    ("requires_payment_method", "created"), ("requires_confirmation", "created"),
    ("requires_action", "created"), ("processing", "created"),
    ("requires_capture", "authorized"), ("canceled", "voided"),
])
def test_retrieve_maps_stripes_status_to_the_ports(stripe_http, stripe_provider, stripe_status, state):
    body = fixture("payment_intent_retrieve_requires_capture")["response"]["body"]
    body["status"] = stripe_status
    replay(stripe_http, "payment_intent_retrieve_requires_capture", body_override=body)

    assert stripe_provider.retrieve(PI) == PaymentState(PI, state, 12900, 0, 0)


def test_retrieve_of_a_captured_intent_reports_captured_and_refunded_amounts(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_retrieve_succeeded_partly_refunded")

    assert stripe_provider.retrieve(PI) == PaymentState(PI, "captured", 12900, 12900, 5000)

    request = stripe_http.calls[0].request
    assert request.method == "GET"
    assert parse_qs(urlparse(request.url).query) == {"expand[0]": ["latest_charge"]}


def test_retrieve_of_an_unknown_intent_is_unknown_payment(stripe_http, stripe_provider):
    replay(stripe_http, "payment_intent_retrieve_missing")

    with pytest.raises(UnknownPayment):
        stripe_provider.retrieve(PI)


# -- Stripe unavailable -----------------------------------------------------------------------

def test_connection_failures_and_stripe_errors_are_provider_unavailable(stripe_http, stripe_provider):
    stripe_http.add("POST", f"{API}/v1/payment_intents/{PI}/capture",
                    body=requests.ConnectionError("connection reset"))
    with pytest.raises(ProviderUnavailable):
        stripe_provider.capture(PI, amount=12900, idempotency_key="attempt-42")

    replay(stripe_http, "api_error")
    with pytest.raises(ProviderUnavailable):
        stripe_provider.capture(PI, amount=12900, idempotency_key="attempt-42")


def test_retries_reuse_the_idempotency_key_so_stripe_replays_instead_of_repeating(stripe_http, monkeypatch):
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, retries: 0)
    retrying = StripeProvider(API_KEY, max_network_retries=2)
    replay(stripe_http, "api_error")
    replay(stripe_http, "payment_intent_capture_succeeded")

    capture = retrying.capture(PI, amount=12900, idempotency_key="attempt-42")

    assert capture.amount == 12900
    assert [c.request.headers["Idempotency-Key"] for c in stripe_http.calls] == ["itinera-capture-attempt-42"] * 2


def test_the_library_retries_a_busy_key_before_it_becomes_provider_busy(stripe_http, monkeypatch):
    from stripe._http_client import HTTPClient

    monkeypatch.setattr(HTTPClient, "_sleep_time_seconds", lambda self, retries: 0)
    retrying = StripeProvider(API_KEY, max_network_retries=2)
    replay(stripe_http, "payment_intent_confirm_idempotency_key_in_use")
    replay(stripe_http, "payment_intent_confirm_requires_capture")

    assert confirm(retrying).status == "authorized"
    assert [c.request.headers["Idempotency-Key"] for c in stripe_http.calls] == ["itinera-confirm-attempt-42"] * 2


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
