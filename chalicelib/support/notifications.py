"""Emails of the support context, through the notifications queue like the booking emails:
the request enqueues after its write commits; the notification worker sends (a failed send
is retried there, the answer is not written twice)."""
from __future__ import annotations

from pynamodb.exceptions import UpdateError

from ..core import queues
from ..notify.email import send_email
from ..notify.templates import render_support_email

MESSAGE_TYPE = "support_email"
ANSWERED = "support_answered"


def _iso(epoch: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def enqueue_answer_email(case_id: str, seq: int) -> None:
    queues.send(queues.NOTIFICATIONS, {"type": MESSAGE_TYPE, "event": ANSWERED, "case_id": case_id, "seq": seq})


def send_answer_email(case_id: str, seq: int) -> bool:
    """Email the case's traveler the agent answers up to message `seq` not emailed yet.

    `emailed_seq` on the case remembers the last one sent (a number, not a list: the case item
    never grows), so a duplicate or late message sends nothing; messages handled out of order
    lose nothing, the later one carries both answers. SES has no idempotency key: a crash
    between the send and the mark sends it again (at least once).
    """
    from .models import SupportCase, SupportMessage

    try:
        case = SupportCase.get(case_id, consistent_read=True)
    except SupportCase.DoesNotExist:
        return False
    emailed = int(case.emailed_seq or 0)
    if seq <= emailed:
        return False
    answers = [m for m in SupportMessage.query(case_id, SupportMessage.seq.between(emailed + 1, seq),
                                               consistent_read=True) if m.author == "agent"]
    if not answers:
        return False
    subject, text, markup = render_support_email(
        ANSWERED, {"case_id": case.case_id, "subject": case.subject, "traveler_name": case.traveler_name,
                   "booking_reference": case.booking_reference},
        [{"at": _iso(float(m.at)), "body": m.body} for m in answers])
    send_email(case.traveler_email, subject, text, markup, {"email_event": ANSWERED, "case_id": case_id, "seq": seq})
    try:
        case.update(actions=[SupportCase.emailed_seq.set(seq)],
                    condition=SupportCase.emailed_seq.does_not_exist() | (SupportCase.emailed_seq < seq))
    except UpdateError:
        pass  # a later answer's email was marked first; this one went out too
    return True
