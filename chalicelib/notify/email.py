"""Send booking emails through Amazon SES.

The sender identity must be verified in SES (DESIGN pitfall 9); tools/bootstrap.py verifies it
in the emulator. A failed send raises, so the SQS worker that called us is retried.
"""
from __future__ import annotations

from typing import Any

from chalicelib.core import aws
from chalicelib.core.config import settings
from chalicelib.core.observability import logger, mask_email

from .templates import render_booking_email


def send_booking_email(event: str, booking: dict[str, Any], *,
                       refund: dict[str, Any] | None = None) -> str:
    """Email the booking's contact about `event`; returns the SES MessageId."""
    subject, text, html = render_booking_email(event, booking, refund)
    return send_email(booking["contact"]["email"], subject, text, html,
                      {"email_event": event, "booking_id": booking.get("booking_id"),
                       "reference": booking.get("reference")})


def send_email(recipient: str, subject: str, text: str, html: str, log: dict[str, Any]) -> str:
    """One email (text and HTML) to one recipient; returns the SES MessageId. `log` names what
    it is about in the log lines (the address itself is only logged masked)."""
    log = {**log, "to": mask_email(recipient)}
    try:
        response = aws.client("ses").send_email(
            Source=settings().sender_email,
            Destination={"ToAddresses": [recipient]},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"},
                         "Html": {"Data": html, "Charset": "UTF-8"}},
            },
        )
    except Exception as error:
        # SES error messages can quote the address: log the code, never the message.
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        logger.warning("email not sent", extra={**log, "error_code": code})
        raise
    message_id = response["MessageId"]
    logger.info("email sent", extra={**log, "message_id": message_id})
    return message_id
