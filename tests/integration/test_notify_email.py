"""Booking emails through the emulator's SES: what SES recorded, and what went over the wire.

moto 5.2.5 records one body per message: the HTML one when both are sent
(moto/ses/responses.py `send_email`). The plain-text part is therefore read from the request
the SES client actually sent, captured with a botocore event hook.
"""
from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from chalicelib.core import aws
from chalicelib.core.config import settings
from chalicelib.notify import render_booking_email, send_booking_email

BOOKING = {
    "booking_id": "bk_123",
    "reference": "K7P2QX",
    "status": "CONFIRMED",
    "contact": {"email": "ana.lima@example.com", "name": "Ana <script>x</script> Lima"},
    "items": [{"listing_id": "lst_h", "kind": "hotel", "title": "Hôtel Lumière", "quantity": 1,
               "check_in": "2027-03-01", "check_out": "2027-03-04",
               "amount": {"amount": 38700, "currency": "EUR"}}],
    "amount": {"amount": 38700, "currency": "EUR"},
    "captured_amount": {"amount": 38700, "currency": "EUR"},
    "refunded_amount": {"amount": 0, "currency": "EUR"},
}


def sent_messages():
    return ses_backends[DEFAULT_ACCOUNT_ID][settings().region].sent_messages


@pytest.fixture
def wire(aws_env):
    """The form fields of every SendEmail request the shared SES client sends."""
    requests: list[dict[str, str]] = []

    def capture(request, **_):
        fields = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
        requests.append({key: values[0] for key, values in fields.items()})

    events = aws.client("ses").meta.events
    events.register("request-created.ses.SendEmail", capture)
    yield requests
    events.unregister("request-created.ses.SendEmail", capture)


def test_sends_both_bodies_to_the_contact_from_the_verified_sender(aws_env, wire):
    subject, text, html = render_booking_email("refunded", BOOKING, {"amount": 10000, "currency": "EUR"})

    message_id = send_booking_email("refunded", BOOKING, refund={"amount": 10000, "currency": "EUR"})

    [message] = sent_messages()
    assert message.id == message_id
    assert message.source == settings().sender_email
    assert message.destinations == {"ToAddresses": ["ana.lima@example.com"]}
    assert message.subject == subject and "K7P2QX" in subject
    assert message.body == html
    assert "Ana &lt;script&gt;x&lt;/script&gt; Lima" in message.body and "<script>" not in message.body
    assert "Hôtel Lumière" in message.body and "100.00 EUR" in message.body

    [request] = wire
    assert request["Message.Body.Text.Data"] == text
    assert request["Message.Body.Html.Data"] == html
    assert "Hello Ana <script>x</script> Lima," in text and "(3 nights)" in text


def test_logs_the_send_with_the_address_masked(aws_env, caplog):
    caplog.set_level("INFO", logger="itinera")  # the test environment logs at WARNING

    message_id = send_booking_email("confirmed", BOOKING)

    [record] = [r for r in caplog.records if r.getMessage() == "email sent"]
    assert record.to == "a***@example.com"
    assert record.message_id == message_id
    assert record.reference == "K7P2QX" and record.email_event == "confirmed"
    assert not [r for r in caplog.records if "ana.lima@example.com" in str(r.__dict__)]


def test_an_unverified_sender_is_refused_and_the_failure_logged_masked(aws_env, monkeypatch, caplog):
    monkeypatch.setenv("ITINERA_SENDER_EMAIL", "nobody@unverified.example")
    settings.cache_clear()

    with pytest.raises(ClientError) as refused:
        send_booking_email("confirmed", BOOKING)

    assert refused.value.response["Error"]["Code"] == "MessageRejected"
    assert sent_messages() == []
    [record] = [r for r in caplog.records if r.getMessage() == "email not sent"]
    assert record.to == "a***@example.com" and record.error_code == "MessageRejected"
    assert not [r for r in caplog.records if "ana.lima@example.com" in str(r.__dict__)]


def test_an_unknown_event_sends_nothing(aws_env):
    with pytest.raises(ValueError):
        send_booking_email("shipped", BOOKING)
    assert sent_messages() == []
