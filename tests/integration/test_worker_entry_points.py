"""app.py's SQS entry points: real event shapes (distinct ids), partial batch failures."""
from __future__ import annotations

import json
import uuid

from tests.integration.booking_helpers import day, hold_body, key, make_listing


def _sqs_event(*bodies: str) -> dict:
    # chalice.test's generate_sqs_event gives every record the same id (DESIGN pitfall 4).
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": uuid.uuid4().hex, "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                       "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:itinera-local-confirmations",
        "awsRegion": "us-east-1"} for body in bodies]}


def test_confirmation_entry_point_reports_only_the_failed_record(client, api, tokens):
    hotel = make_listing(api, tokens["vendor"], capacity=3)
    held = api.post("/holds", hold_body({"listing_id": hotel, "quantity": 1, "check_in": day(3),
                                         "check_out": day(4)}), token=tokens["traveler"], headers=key()).data
    api.post(f"/bookings/{held['booking_id']}/payment", {"payment_method": "tok_visa"},
             token=tokens["traveler"], headers=key())
    event = _sqs_event(json.dumps({"type": "confirm", "booking_id": held["booking_id"]}), "not json")
    result = client.lambda_.invoke("confirm_bookings", event).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert api.get(f"/bookings/{held['booking_id']}", token=tokens["traveler"]).data["status"] == "CONFIRMED"


def test_sweeper_entry_point_runs(client):
    response = client.lambda_.invoke("sweep_bookings", {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2027-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {}})
    assert response.payload == {"expired": 0, "redriven": 0, "settled": 0, "cleaned": 0, "refunds_resumed": 0,
                                "refunds_settled": 0, "refunds_reported": 0}
