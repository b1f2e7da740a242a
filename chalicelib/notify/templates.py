"""Booking emails as text: subject, plain-text body and HTML body. Pure, no AWS.

Each event's wording is decided once, as a list of blocks, and drawn twice: as plain text and
as HTML. Everything that came from a user (names, titles, even currency codes) is escaped in
the HTML renderer, in one place, so no template can forget it.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

EVENTS = ("confirmed", "cancelled", "expired", "failed", "refunded", "held_from_waitlist")

# ISO 4217 minor-unit exponents that are not 2. Amounts everywhere are integers in minor units.
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                     "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}

REFUND_TIMING = "Refunds reach your original payment method within 5–10 business days."


def format_money(money: dict[str, Any]) -> str:
    """{"amount": 12900, "currency": "EUR"} -> "129.00 EUR"; 12900 JPY -> "12,900 JPY".

    One style for every currency: the ISO code after the number, since a symbol such as "$"
    does not say which dollar.
    """
    currency = str(money["currency"]).upper()
    amount = int(money["amount"])
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10 ** exponent)
    number = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    return f"{sign}{number} {currency}"


def format_date(value: str) -> str:
    """"2027-03-01" -> "Mon 1 Mar 2027" (unambiguous wherever the reader lives)."""
    day = date.fromisoformat(value)
    return f"{day:%a} {day.day} {day:%b %Y}"


def format_instant(value: str) -> str:
    """"2027-03-01T10:15:00Z" -> "Mon 1 Mar 2027, 10:15 UTC"."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return f"{format_date(moment.date().isoformat())}, {moment:%H:%M} UTC"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


@dataclass
class Item:
    title: str
    details: list[str]
    amount: str | None


@dataclass
class Email:
    """What one email says, before it is drawn as text or HTML."""
    subject: str
    name: str
    reference: str
    intro: str
    items: list[Item]
    totals: list[tuple[str, str]] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)


def _item(raw: dict[str, Any]) -> Item:
    details = []
    if raw.get("check_in") and raw.get("check_out"):
        nights = (date.fromisoformat(raw["check_out"]) - date.fromisoformat(raw["check_in"])).days
        details.append(f"Check-in {format_date(raw['check_in'])}, check-out "
                       f"{format_date(raw['check_out'])} ({_plural(nights, 'night')})")
    elif raw.get("date"):
        details.append(f"Date: {format_date(raw['date'])}")
    details.append(f"Quantity: {raw['quantity']}")
    amount = format_money(raw["amount"]) if raw.get("amount") else None
    return Item(title=str(raw["title"]), details=details, amount=amount)


def _money_or_zero(booking: dict[str, Any], key: str) -> dict[str, Any]:
    """An amount such as captured_amount: money, a bare int in the booking currency, or absent."""
    value = booking.get(key)
    if isinstance(value, dict):
        return value
    return {"amount": int(value or 0), "currency": booking["amount"]["currency"]}


def compose(event: str, booking: dict[str, Any], refund: dict[str, Any] | None = None) -> Email:
    if event not in EVENTS:
        raise ValueError(f"unknown booking email event {event!r}; expected one of {EVENTS}")
    if event == "refunded" and refund is None:
        raise ValueError("a 'refunded' email needs the refund amount")

    reference = str(booking["reference"])
    total = format_money(booking["amount"])
    captured = _money_or_zero(booking, "captured_amount")
    email = Email(subject="", name=str(booking["contact"].get("name") or "").strip(),
                  reference=reference, intro="", items=[_item(i) for i in booking["items"]])

    if event == "confirmed":
        email.subject = f"Booking {reference} confirmed"
        email.intro = "Your booking is confirmed. Here are the details."
        email.totals = [("Total paid", format_money(captured) if captured["amount"] else total)]
        email.next_steps = ["Keep your reference handy: quote it whenever you contact us or the provider.",
                            "You can cancel from your bookings page; the cancellation policy of your "
                            "booking decides the refund."]
    elif event == "cancelled":
        email.subject = f"Booking {reference} cancelled"
        email.intro = "Your booking has been cancelled."
        email.totals = [("Booking total", total)]
        if refund and refund["amount"] > 0:
            email.totals.append(("Refund", format_money(refund)))
            email.next_steps = [REFUND_TIMING]
        elif captured["amount"] > 0:
            email.next_steps = ["Under the cancellation policy of your booking, no refund is due."]
        else:
            email.next_steps = ["Nothing was charged, and the places you held have been released."]
    elif event == "expired":
        email.subject = f"Your hold {reference} has expired"
        expired_at = f" at {format_instant(booking['expires_at'])}" if booking.get("expires_at") else ""
        email.intro = f"Your hold expired{expired_at} before payment was completed."
        email.totals = [("Booking total", total)]
        email.next_steps = ["Nothing was charged, and the places you held have been released.",
                            "Availability changes quickly: search again to book."]
    elif event == "failed":
        email.subject = f"Booking {reference} could not be completed"
        email.intro = "We could not take the payment for your booking, so it was not confirmed."
        email.totals = [("Booking total", total)]
        email.next_steps = ["Nothing was charged: the amount reserved on your card has been released.",
                            "The places you held have been released; search again to book with another "
                            "payment method."]
    elif event == "refunded":
        email.subject = f"Refund for booking {reference}"
        email.intro = f"We have refunded {format_money(refund)} for your booking."
        email.totals = [("Refund", format_money(refund)), ("Booking total", total)]
        email.next_steps = [REFUND_TIMING]
    else:  # held_from_waitlist
        email.subject = f"Booking {reference}: your waitlist place is on hold"
        email.intro = "Places you were waiting for came free, and we are holding them for you."
        email.totals = [("Total to pay", total)]
        until = f" by {format_instant(booking['expires_at'])}" if booking.get("expires_at") else " soon"
        email.next_steps = [f"Pay{until} to confirm; after that the hold expires and the places are "
                            "released to other travelers."]
    return email


def render_text(email: Email) -> str:
    lines = [f"Hello {email.name}," if email.name else "Hello,", "", email.intro, "",
             f"Reference: {email.reference}", ""]
    for item in email.items:
        lines.append(f"- {item.title}" + (f": {item.amount}" if item.amount else ""))
        lines.extend(f"  {detail}" for detail in item.details)
    lines.append("")
    lines.extend(f"{label}: {value}" for label, value in email.totals)
    if email.next_steps:
        lines.append("")
        lines.extend(email.next_steps)
    lines.extend(["", "Itinera"])
    return "\n".join(lines) + "\n"


def render_html(email: Email) -> str:
    e = html.escape  # every value below may carry user input
    greeting = f"Hello {e(email.name)}," if email.name else "Hello,"
    items = "".join(
        f"<li><strong>{e(item.title)}</strong>"
        + (f" &mdash; {e(item.amount)}" if item.amount else "")
        + "".join(f"<br>{e(detail)}" for detail in item.details) + "</li>"
        for item in email.items)
    totals = "".join(f"<tr><td>{e(label)}</td><td><strong>{e(value)}</strong></td></tr>"
                     for label, value in email.totals)
    steps = "".join(f"<p>{e(step)}</p>" for step in email.next_steps)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(email.subject)}</title></head>"
        '<body style="font-family: sans-serif; line-height: 1.5">'
        f"<p>{greeting}</p><p>{e(email.intro)}</p>"
        f"<p>Reference: <strong>{e(email.reference)}</strong></p>"
        f"<ul>{items}</ul><table>{totals}</table>{steps}<p>Itinera</p>"
        "</body></html>"
    )


def render_booking_email(event: str, booking: dict[str, Any],
                         refund: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """(subject, text, html) for one booking event. ValueError for an unknown event."""
    email = compose(event, booking, refund)
    return email.subject, render_text(email), render_html(email)


# --- support cases ------------------------------------------------------------------------------

SUPPORT_EVENTS = ("support_answered",)


def render_support_email(event: str, case: dict[str, Any],
                         answers: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(subject, text, html) telling a traveler an agent answered their case.

    `case`: case_id, subject, traveler_name, booking_reference (optional); `answers`: the agent
    messages not emailed yet, each {"at": ISO instant, "body": text}. Bodies are the agents'
    text as written: shown line by line, escaped in the HTML like everything a user wrote.
    """
    if event not in SUPPORT_EVENTS:
        raise ValueError(f"unknown support email event {event!r}; expected one of {SUPPORT_EVENTS}")
    if not answers:
        raise ValueError("a 'support_answered' email needs at least one answer")
    topic = str(case["subject"])
    subject = f"Support: an answer about \u201c{topic[:80]}\u201d"
    name = str(case.get("traveler_name") or "").strip()
    intro = ("A support agent answered your case." if len(answers) == 1
             else f"A support agent answered your case ({len(answers)} messages).")
    about = [f"Case: {case['case_id']}", f"Subject: {topic}"]
    if case.get("booking_reference"):
        about.append(f"Booking reference: {case['booking_reference']}")
    closing = ("Reply from the case in your account if you need more help; if your question is "
               "answered, you can mark the case resolved there.")

    lines = [f"Hello {name}," if name else "Hello,", "", intro, "", *about, ""]
    for answer in answers:
        lines += [f"{format_instant(answer['at'])}:", *str(answer["body"]).splitlines(), ""]
    lines += [closing, "", "Itinera"]
    text = "\n".join(lines) + "\n"

    e = html.escape
    bodies = "".join(
        f"<p><em>{e(format_instant(answer['at']))}</em><br>"
        + "<br>".join(e(line) for line in str(answer["body"]).splitlines()) + "</p>"
        for answer in answers)
    markup = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(subject)}</title></head>"
        '<body style="font-family: sans-serif; line-height: 1.5">'
        f"<p>{e(f'Hello {name},' if name else 'Hello,')}</p><p>{e(intro)}</p>"
        + "".join(f"<p>{e(line)}</p>" for line in about)
        + f"<blockquote>{bodies}</blockquote><p>{e(closing)}</p><p>Itinera</p>"
        "</body></html>"
    )
    return subject, text, markup


# --- weekly recommendations ---------------------------------------------------------------------


def _pick_lines(pick: dict[str, Any]) -> tuple[str, list[str]]:
    """A recommendation's title line and its details. `pick`: title, kind, place, price (money),
    dated (the price of the dates shown, else a starting price), date | check_in + check_out."""
    price = format_money(pick["price"])
    title = f"{pick['title']}: {price}" if pick.get("dated") else f"{pick['title']}: from {price}"
    details = [f"{str(pick.get('kind') or '').capitalize()} in {pick.get('place') or ''}".strip()]
    if pick.get("check_in") and pick.get("check_out"):
        details.append(f"Check-in {format_date(pick['check_in'])}, check-out {format_date(pick['check_out'])}")
    elif pick.get("date"):
        details.append(f"Date: {format_date(pick['date'])}")
    return title, details


def render_picks_email(name: str, picks: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(subject, text, html) of a traveler's weekly top picks. Titles are the vendors' text:
    escaped in the HTML like everything a user wrote."""
    if not picks:
        raise ValueError("a picks email needs at least one pick")
    name = str(name or "").strip()
    subject = "Your picks for this week"
    intro = "Chosen from your trips and from what travelers like you booked."
    closing = ("Prices and availability change quickly: book from the app. To stop these emails, turn "
               "them off in your preferences.")
    drawn = [_pick_lines(p) for p in picks]
    lines = [f"Hello {name}," if name else "Hello,", "", intro, ""]
    for title, details in drawn:
        lines.append(f"- {title}")
        lines.extend(f"  {detail}" for detail in details)
    lines += ["", closing, "", "Itinera"]
    text = "\n".join(lines) + "\n"

    e = html.escape
    items = "".join(f"<li><strong>{e(title)}</strong>" + "".join(f"<br>{e(d)}" for d in details) + "</li>"
                    for title, details in drawn)
    markup = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(subject)}</title></head>"
        '<body style="font-family: sans-serif; line-height: 1.5">'
        f"<p>{e(f'Hello {name},' if name else 'Hello,')}</p><p>{e(intro)}</p>"
        f"<ul>{items}</ul><p>{e(closing)}</p><p>Itinera</p>"
        "</body></html>"
    )
    return subject, text, markup
