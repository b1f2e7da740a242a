"""Support cases through the API and the notification worker (API.md "Support cases")."""
from __future__ import annotations

import json
import uuid

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses import ses_backends

from chalicelib.core import clock
from chalicelib.core.config import settings
from chalicelib.support import domain, service
from chalicelib.support.models import SupportCase, SupportMessage
from tests.integration.booking_helpers import hold_a_night, make_listing


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


def open_case(api, token, subject="Was I charged?", message="The page timed out.", **extra):
    response = api.post("/support/cases", {"subject": subject, "message": message, **extra}, token=token)
    assert response.status_code == 201, response.data
    return response.data


def answer(api, token, case_id, body="Hello, we are on it."):
    response = api.post(f"/support/cases/{case_id}/messages", {"body": body}, token=token)
    assert response.status_code == 201, response.data
    return response.data


def sent_messages():
    return ses_backends[DEFAULT_ACCOUNT_ID][settings().region].sent_messages


def waiting_notifications() -> list[dict]:
    """The raw SQS messages on the notifications queue (received and deleted)."""
    import boto3

    from chalicelib.core.queues import NOTIFICATIONS, queue_url
    sqs, url = boto3.client("sqs", region_name="us-east-1"), queue_url(NOTIFICATIONS)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def sqs_event(*bodies: str) -> dict:
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": uuid.uuid4().hex, "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                       "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:itinera-local-notifications",
        "awsRegion": "us-east-1"} for body in bodies]}


def run_notification_worker(client) -> dict:
    bodies = [m["Body"] for m in waiting_notifications()]
    return client.lambda_.invoke("send_notifications", sqs_event(*bodies)).payload


@pytest.fixture
def hotel(api, tokens):
    return make_listing(api, tokens["vendor"], capacity=5, price=12000)


# --- opening -----------------------------------------------------------------------------------


def test_a_traveler_opens_a_case_with_its_first_message(api, tokens):
    case = open_case(api, tokens["traveler"], subject="Double charge?", message="I see two lines.")

    assert case["case_id"].startswith("case_") and case["status"] == "OPEN"
    assert case["subject"] == "Double charge?" and case["message_count"] == 1
    assert case["created_at"].endswith("Z") and case["updated_at"] == case["created_at"]
    assert [(m["from"], m["body"]) for m in case["messages"]] == [("traveler", "I see two lines.")]
    assert "booking_id" not in case and "booking_reference" not in case


def test_a_case_about_my_booking_carries_the_booking_reference(api, tokens, hotel):
    booking_id = hold_a_night(api, tokens["traveler"], hotel)
    reference = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data["reference"]

    case = open_case(api, tokens["traveler"], booking_id=booking_id)

    assert case["booking_id"] == booking_id and case["booking_reference"] == reference


def test_a_case_about_another_travelers_booking_reads_like_a_missing_booking(api, tokens, hotel):
    theirs = hold_a_night(api, tokens["traveler2"], hotel)
    body = {"subject": "Hi", "message": "About this booking"}

    refused = api.post("/support/cases", {**body, "booking_id": theirs}, token=tokens["traveler"])
    missing = api.post("/support/cases", {**body, "booking_id": "bk_" + "0" * 20}, token=tokens["traveler"])

    assert refused.status_code == missing.status_code == 404
    assert refused.data["error"] == missing.data["error"] and refused.data["error"]["code"] == "NOT_FOUND"
    assert list(SupportCase.scan()) == []  # nothing was opened


@pytest.mark.parametrize("body, field", [
    ({"subject": "", "message": "x"}, "subject"),
    ({"subject": "s" * 201, "message": "x"}, "subject"),
    ({"subject": "Hi", "message": ""}, "message"),
    ({"subject": "Hi", "message": "m" * 5001}, "message"),
    ({"subject": "Hi"}, "message"),
    ({"subject": "Hi", "message": "x", "priority": "high"}, "priority"),
])
def test_subject_and_message_lengths_are_checked(api, tokens, body, field):
    response = api.post("/support/cases", body, token=tokens["traveler"])
    assert response.status_code == 400
    assert field in response.data["error"]["details"]["fields"]


def test_the_longest_subject_and_message_are_kept_as_text(api, tokens):
    message = "<b>not markup</b>\n" + "m" * 4982
    case = open_case(api, tokens["traveler"], subject="s" * 200, message=message)
    assert len(case["subject"]) == 200 and case["messages"][0]["body"] == message


@pytest.mark.parametrize("role", ["agent", "admin", "vendor"])
def test_only_travelers_open_cases(api, tokens, role):
    response = api.post("/support/cases", {"subject": "Hi", "message": "x"}, token=tokens[role])
    assert response.status_code == 403 and response.data["error"]["code"] == "FORBIDDEN"


# --- reading -----------------------------------------------------------------------------------


def test_my_cases_are_listed_newest_first_page_by_page(api, tokens):
    opened = []
    for n in range(3):
        opened.append(open_case(api, tokens["traveler"], subject=f"Case {n}")["case_id"])
        clock.advance(1)

    first = api.get("/me/support/cases?limit=2", token=tokens["traveler"])
    second = api.get(f"/me/support/cases?limit=2&cursor={first.data['next_cursor']}", token=tokens["traveler"])

    assert [c["case_id"] for c in first.data["cases"] + second.data["cases"]] == opened[::-1]
    assert second.data["next_cursor"] is None
    assert "messages" not in first.data["cases"][0]  # a list shows summaries


def test_my_cases_show_only_mine(api, tokens):
    open_case(api, tokens["traveler2"])
    assert api.get("/me/support/cases", token=tokens["traveler"]).data == {"cases": [], "next_cursor": None}


def test_a_cursor_of_another_travelers_list_is_refused(api, tokens):
    for _ in range(2):
        open_case(api, tokens["traveler2"])
    cursor = api.get("/me/support/cases?limit=1", token=tokens["traveler2"]).data["next_cursor"]

    response = api.get(f"/me/support/cases?cursor={cursor}", token=tokens["traveler"])

    assert response.status_code == 400 and "cursor" in response.data["error"]["details"]["fields"]


def test_the_owner_and_any_agent_read_the_case(api, tokens):
    case = open_case(api, tokens["traveler"])
    for role in ("traveler", "agent"):
        response = api.get(f"/support/cases/{case['case_id']}", token=tokens[role])
        assert response.status_code == 200 and response.data == case


def test_another_travelers_case_reads_like_a_missing_one(api, tokens):
    case = open_case(api, tokens["traveler"])
    theirs = api.get(f"/support/cases/{case['case_id']}", token=tokens["traveler2"])
    missing = api.get("/support/cases/case_" + "0" * 20, token=tokens["traveler2"])
    malformed = api.get("/support/cases/not-a-case", token=tokens["traveler2"])
    assert theirs.status_code == missing.status_code == malformed.status_code == 404
    assert theirs.data["error"] == missing.data["error"] == malformed.data["error"]


@pytest.mark.parametrize("role", ["vendor", "admin"])
def test_vendors_and_admins_are_not_parties_to_cases(api, tokens, role):
    case = open_case(api, tokens["traveler"])
    for method, suffix, body in (("GET", "", None), ("POST", "/messages", {"body": "x"}), ("POST", "/resolve", None)):
        response = api.request(method, f"/support/cases/{case['case_id']}{suffix}", body, token=tokens[role])
        assert response.status_code == 403, (method, suffix, response.data)


# --- the thread ----------------------------------------------------------------------------------


def test_an_agents_answer_makes_the_case_wait_on_the_traveler(api, tokens):
    case = open_case(api, tokens["traveler"])

    answered = answer(api, tokens["agent"], case["case_id"], "Nothing was charged twice.")

    assert answered["status"] == "WAITING_ON_TRAVELER" and answered["message_count"] == 2
    assert [(m["from"], m["body"]) for m in answered["messages"]][1] == ("agent", "Nothing was charged twice.")


def test_an_agents_answer_is_queued_for_the_notification_worker(api, tokens):
    case = open_case(api, tokens["traveler"])
    waiting_notifications()  # nothing else is waiting

    answer(api, tokens["agent"], case["case_id"])

    [message] = waiting_notifications()
    assert json.loads(message["Body"]) == {"type": "support_email", "event": "support_answered",
                                           "case_id": case["case_id"], "seq": 2}
    assert sent_messages() == []  # the request does not send: the worker does


def test_the_notification_worker_emails_the_answer_to_the_traveler(client, api, tokens):
    case = open_case(api, tokens["traveler"], subject="Where is my refund?")
    answer(api, tokens["agent"], case["case_id"], "It left today.\n<script>x</script>")

    assert run_notification_worker(client) == {"batchItemFailures": []}

    [email] = sent_messages()
    assert email.destinations == {"ToAddresses": ["traveler@example.com"]}
    assert email.source == settings().sender_email
    assert "Where is my refund?" in email.subject
    assert "It left today." in email.body and case["case_id"] in email.body
    assert "&lt;script&gt;" in email.body and "<script>" not in email.body


def test_a_redelivered_answer_email_is_sent_once(client, api, tokens):
    case = open_case(api, tokens["traveler"])
    answer(api, tokens["agent"], case["case_id"])
    [message] = waiting_notifications()

    for _ in range(2):
        client.lambda_.invoke("send_notifications", sqs_event(message["Body"]))

    assert len(sent_messages()) == 1


def test_answers_handled_out_of_order_all_reach_the_traveler(client, api, tokens):
    case = open_case(api, tokens["traveler"])
    answer(api, tokens["agent"], case["case_id"], "First answer")
    answer(api, tokens["agent"], case["case_id"], "Second answer")
    first, second = sorted((m["Body"] for m in waiting_notifications()), key=lambda b: json.loads(b)["seq"])

    client.lambda_.invoke("send_notifications", sqs_event(second))
    client.lambda_.invoke("send_notifications", sqs_event(first))

    [email] = sent_messages()
    assert "First answer" in email.body and "Second answer" in email.body


def test_a_traveler_message_does_not_send_an_email(api, tokens):
    case = open_case(api, tokens["traveler"])
    waiting_notifications()
    answer(api, tokens["traveler"], case["case_id"], "One more detail")
    assert waiting_notifications() == []


def test_a_case_email_and_a_failing_booking_email_are_reported_apart(client, api, tokens):
    case = open_case(api, tokens["traveler"])
    answer(api, tokens["agent"], case["case_id"])
    [ours] = waiting_notifications()
    event = sqs_event(ours["Body"], json.dumps({"type": "email", "event": "confirmed"}))  # no booking_id

    result = client.lambda_.invoke("send_notifications", event).payload

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert len(sent_messages()) == 1


def test_a_travelers_reply_reopens_the_case(api, tokens):
    case = open_case(api, tokens["traveler"])
    answer(api, tokens["agent"], case["case_id"])

    replied = answer(api, tokens["traveler"], case["case_id"], "Thanks, but it is still pending.")

    assert replied["status"] == "OPEN"
    assert [m["from"] for m in replied["messages"]] == ["traveler", "agent", "traveler"]


def test_an_empty_or_overlong_message_is_refused(api, tokens):
    case = open_case(api, tokens["traveler"])
    for body in ({"body": ""}, {"body": "b" * 5001}, {}):
        response = api.post(f"/support/cases/{case['case_id']}/messages", body, token=tokens["traveler"])
        assert response.status_code == 400 and "body" in response.data["error"]["details"]["fields"]


def test_another_traveler_cannot_write_in_my_case(api, tokens):
    case = open_case(api, tokens["traveler"])
    response = api.post(f"/support/cases/{case['case_id']}/messages", {"body": "hi"}, token=tokens["traveler2"])
    assert response.status_code == 404
    assert api.get(f"/support/cases/{case['case_id']}", token=tokens["traveler"]).data["message_count"] == 1


def test_a_case_with_the_most_messages_takes_no_more(api, tokens):
    case = open_case(api, tokens["traveler"])
    SupportCase(case["case_id"]).update(actions=[SupportCase.message_count.set(domain.MAX_MESSAGES)])

    response = api.post(f"/support/cases/{case['case_id']}/messages", {"body": "more"}, token=tokens["agent"])

    assert response.status_code == 409 and response.data["error"]["code"] == "INVALID_STATE"
    assert str(domain.MAX_MESSAGES) in response.data["error"]["message"]


def test_an_answer_racing_another_is_written_after_it_not_over_it(api, tokens, monkeypatch):
    """Two agents read the case at once; the second write fails its version condition, the
    service reads again and appends after the first: no answer is lost."""
    case = open_case(api, tokens["traveler"])
    real_load = service._load
    raced = []

    def load_then_race(case_id):
        loaded = real_load(case_id)
        if not raced:  # another agent answers between our read and our write
            raced.append(True)
            answer(api, tokens["agent"], case_id, "Agent A")
        return loaded

    monkeypatch.setattr(service, "_load", load_then_race)
    result = answer(api, tokens["agent"], case["case_id"], "Agent B")

    assert [m["body"] for m in result["messages"]] == ["The page timed out.", "Agent A", "Agent B"]
    stored = [(int(m.seq), m.body) for m in SupportMessage.query(case["case_id"])]
    assert stored == [(1, "The page timed out."), (2, "Agent A"), (3, "Agent B")]
    assert int(SupportCase.get(case["case_id"]).version) == 3


def test_a_write_with_a_stale_version_changes_nothing(api, tokens):
    case = open_case(api, tokens["traveler"])
    stale = service._load(case["case_id"])
    answer(api, tokens["traveler"], case["case_id"], "newer")

    written = service._write(stale, domain.post_message(stale, domain.AGENT, "late", clock.now()), "agent")

    assert written is False
    assert [m.body for m in SupportMessage.query(case["case_id"])] == ["The page timed out.", "newer"]


# --- resolving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["traveler", "agent"])
def test_the_owner_or_an_agent_resolves_a_case(api, tokens, role):
    case = open_case(api, tokens["traveler"])
    response = api.post(f"/support/cases/{case['case_id']}/resolve", token=tokens[role])
    assert response.status_code == 200 and response.data["status"] == "RESOLVED"


def test_a_resolved_case_takes_no_message(api, tokens):
    case = open_case(api, tokens["traveler"])
    api.post(f"/support/cases/{case['case_id']}/resolve", token=tokens["agent"])
    for role in ("traveler", "agent"):
        response = api.post(f"/support/cases/{case['case_id']}/messages", {"body": "hi"}, token=tokens[role])
        assert response.status_code == 409 and response.data["error"]["code"] == "INVALID_STATE"
        assert response.data["error"]["details"] == {"status": "RESOLVED"}


def test_resolving_a_resolved_case_is_invalid_state(api, tokens):
    case = open_case(api, tokens["traveler"])
    api.post(f"/support/cases/{case['case_id']}/resolve", token=tokens["traveler"])
    again = api.post(f"/support/cases/{case['case_id']}/resolve", token=tokens["agent"])
    assert again.status_code == 409 and again.data["error"]["code"] == "INVALID_STATE"


def test_another_traveler_cannot_resolve_my_case(api, tokens):
    case = open_case(api, tokens["traveler"])
    response = api.post(f"/support/cases/{case['case_id']}/resolve", token=tokens["traveler2"])
    assert response.status_code == 404
    assert api.get(f"/support/cases/{case['case_id']}", token=tokens["traveler"]).data["status"] == "OPEN"


# --- the agents' queue ----------------------------------------------------------------------------


def test_the_queue_is_oldest_waiting_first(api, tokens):
    ids = []
    for n in range(3):
        ids.append(open_case(api, tokens["traveler" if n % 2 else "traveler2"], subject=f"n{n}")["case_id"])
        clock.advance(5)

    queue = api.get("/agent/cases", token=tokens["agent"])

    assert queue.status_code == 200
    assert [c["case_id"] for c in queue.data["cases"]] == ids
    assert queue.data["next_cursor"] is None


def test_a_reply_sends_a_case_to_the_back_of_the_open_queue(api, tokens):
    first, second = open_case(api, tokens["traveler"])["case_id"], None
    clock.advance(5)
    second = open_case(api, tokens["traveler2"])["case_id"]
    clock.advance(5)
    answer(api, tokens["agent"], first)
    clock.advance(5)
    answer(api, tokens["traveler"], first, "still broken")

    queue = api.get("/agent/cases?status=OPEN", token=tokens["agent"]).data["cases"]

    assert [c["case_id"] for c in queue] == [second, first]


def test_the_queue_of_each_status_holds_its_cases(api, tokens):
    open_id = open_case(api, tokens["traveler"])["case_id"]
    waiting = open_case(api, tokens["traveler"])["case_id"]
    answer(api, tokens["agent"], waiting)
    resolved = open_case(api, tokens["traveler"])["case_id"]
    api.post(f"/support/cases/{resolved}/resolve", token=tokens["traveler"])

    seen = {status: [c["case_id"] for c in api.get(f"/agent/cases?status={status}", token=tokens["agent"]).data["cases"]]
            for status in domain.STATUSES}

    assert seen == {"OPEN": [open_id], "WAITING_ON_TRAVELER": [waiting], "RESOLVED": [resolved]}


def test_queued_cases_show_their_bookings_reference_and_status(api, tokens, hotel):
    booking_id = hold_a_night(api, tokens["traveler"], hotel)
    booking = api.get(f"/bookings/{booking_id}", token=tokens["traveler"]).data
    open_case(api, tokens["traveler"], booking_id=booking_id)

    [queued] = api.get("/agent/cases", token=tokens["agent"]).data["cases"]

    assert queued["booking_id"] == booking_id and queued["booking_reference"] == booking["reference"]
    assert queued["booking_status"] == "HELD" and queued["waiting_since"] == queued["created_at"]


def test_the_queue_pages_with_a_cursor(api, tokens):
    ids = []
    for _ in range(3):
        ids.append(open_case(api, tokens["traveler"])["case_id"])
        clock.advance(1)
    first = api.get("/agent/cases?limit=2", token=tokens["agent"]).data
    second = api.get(f"/agent/cases?limit=2&cursor={first['next_cursor']}", token=tokens["agent"]).data
    assert [c["case_id"] for c in first["cases"] + second["cases"]] == ids and second["next_cursor"] is None


def test_a_cursor_of_one_status_is_refused_by_another(api, tokens):
    for _ in range(2):
        open_case(api, tokens["traveler"])
    cursor = api.get("/agent/cases?limit=1", token=tokens["agent"]).data["next_cursor"]
    response = api.get(f"/agent/cases?status=RESOLVED&cursor={cursor}", token=tokens["agent"])
    assert response.status_code == 400


def test_the_queue_is_a_query_never_a_scan(api, tokens, monkeypatch):
    open_case(api, tokens["traveler"])

    def no_scan(*args, **kwargs):
        raise AssertionError("the queue scanned the table")

    monkeypatch.setattr(SupportCase, "scan", no_scan)
    assert len(api.get("/agent/cases", token=tokens["agent"]).data["cases"]) == 1


def test_an_unknown_status_is_refused(api, tokens):
    response = api.get("/agent/cases?status=CLOSED", token=tokens["agent"])
    assert response.status_code == 400 and "status" in response.data["error"]["details"]["fields"]


@pytest.mark.parametrize("role", ["traveler", "vendor", "admin"])
def test_only_agents_see_the_queue(api, tokens, role):
    response = api.get("/agent/cases", token=tokens[role])
    assert response.status_code == 403


# --- the FAQ --------------------------------------------------------------------------------------


def test_the_faq_sends_booking_problems_to_support_cases(api):
    entries = api.get("/faq").data["entries"]
    [answer_text] = [e["answer"] for e in entries if e["question"].startswith("Something went wrong while booking")]
    assert "support case" in answer_text and "reference" in answer_text
