"""The traveler FAQ served at GET /faq. Answers must match what the service really does."""
from __future__ import annotations

from ..core.config import settings

PAYMENT_SAFETY = "payment_safety"
BOOKING_PROBLEMS = "booking_problems"
CANCELLATIONS = "cancellations_and_refunds"
QUALITY = "quality_complaints"


def entries() -> list[dict[str, str]]:
    hold_minutes = max(1, settings().hold_seconds // 60)
    return [
        {"topic": PAYMENT_SAFETY, "question": "Is it safe to pay on Itinera?",
         "answer": "Yes. Your card details go straight from the payment form to our payment "
                   "provider, which turns them into a one-time token; Itinera only ever receives "
                   "that token, never your card number, expiry date or security code, and stores "
                   "none of them. If anything ever asks you to type a card number into a chat, "
                   "an email or a form that is not the payment step, do not: we will never ask."},
        {"topic": PAYMENT_SAFETY, "question": "When is my card charged?",
         "answer": "When you pay, the amount is only authorized (reserved) on your card. It is "
                   "captured once the booking is confirmed, usually within seconds. If the "
                   "booking cannot be confirmed, the authorization is released and nothing is "
                   "charged."},
        {"topic": BOOKING_PROBLEMS, "question": "How long are my seats or rooms kept while I pay?",
         "answer": f"Starting a booking places a hold: the units are set aside for you for "
                   f"{hold_minutes} minutes and the booking shows when the hold expires. Pay "
                   f"before then; after that the units go back on sale and you can start again."},
        {"topic": BOOKING_PROBLEMS, "question": "My payment was declined. What now?",
         "answer": "Your hold stays in place until it expires, so you can try again with another "
                   "card or payment method without losing the booking. A decline comes from your "
                   "bank or card issuer; they can tell you the reason. Nothing is charged for a "
                   "declined attempt."},
        {"topic": BOOKING_PROBLEMS,
         "question": "Something went wrong while booking. Was I charged, and is my booking real?",
         "answer": "Open the booking in your account: its status and timeline show every step "
                   "(held, paying, confirmed, cancelled) as it happens. It is only confirmed when "
                   "the status says CONFIRMED and you receive the confirmation email. If a "
                   "request timed out, retrying it is safe: the same request is never carried "
                   "out twice. If the status still looks wrong, open a support case from your account "
                   "and choose the booking it is about (its 6-character reference, letters and "
                   "digits, is attached for you): an agent, who can see the booking's full "
                   "history, answers in the case and you get an email with each answer. Reply "
                   "in the same case; either of you marks it resolved when it is sorted out."},
        {"topic": BOOKING_PROBLEMS, "question": "The dates I want are sold out. Can I be told if something frees up?",
         "answer": "Yes: join the waitlist for the listing and dates. When units come free, the "
                   "oldest matching waitlist entry receives an automatic hold and an email, and "
                   "you then have the usual time to pay."},
        {"topic": CANCELLATIONS, "question": "How do I cancel, and how much is refunded?",
         "answer": "Cancel from the booking page. Before you cancel you can ask for a cancellation "
                   "quote showing exactly what you would get back now. Each listing has its own "
                   "policy: a full refund until a set number of hours before the first date, "
                   "then the percentage the policy states. The policy that applies is the one "
                   "shown when you booked; a vendor changing it later does not affect you. An "
                   "unpaid hold can be cancelled at any time at no cost."},
        {"topic": CANCELLATIONS, "question": "When will I see my refund?",
         "answer": "We send the refund to the card you paid with as soon as the cancellation is "
                   "processed, and email you when it is issued. Banks usually show it within 5 "
                   "to 10 business days. You can follow it in the booking's timeline."},
        {"topic": QUALITY, "question": "What if the room, trip or event was not as described?",
         "answer": "Tell us as soon as possible, ideally while you are still there, so the vendor "
                   "has a chance to fix it. Contact support with your booking reference, what "
                   "was wrong, and photos if you can. Support agents can contact the vendor and "
                   "can issue a full or partial refund; every refund is recorded in the "
                   "booking's history and confirmed to you by email."},
        {"topic": QUALITY, "question": "How do reviews work?",
         "answer": "After a confirmed booking you can rate the listing from 1 to 5 stars and "
                   "leave a comment, once per booking. Only travelers who booked can review, so "
                   "ratings in search reflect real stays and trips."},
    ]
