"""Least privilege, derived from the code: each function's role allows what it does, nothing more.

Every entry point of app.py runs here, in this process, against the emulator (moto), through
representative flows: the API (operations, sign-up and sign-in, an admin onboarding a vendor, a
vendor's listings and availability and webhook, search, holds, payments, cancellations, agent
refunds, support cases, Stripe's webhook), each worker with the real messages the API queued
(the webhook worker POSTing to a vendor's receiver served here, on the loopback), the sweeper on
every kind of booking it settles and the webhook relay on an event whose message was lost. A
botocore hook records each AWS call with the function that made it; each call becomes the IAM
actions and resources it needs (a transaction needs PutItem/UpdateItem/DeleteItem/
ConditionCheckItem on each item's table, a query on an index the index's ARN). Each function runs as it is deployed: with the environment the synthesized
template gives it (secrets by ARN, read from the emulator's Secrets Manager), the stage's
payment provider (Stripe, answered by FakePaymentProvider) and no state left by another
function (a fresh "process": caches and clients forgotten between invocations).

The synthesized prod template's roles must allow exactly that, plus the grants of NOT_EXERCISED,
each with the reason no flow here reaches it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from infra import permissions, postprocess, resources, template
from infra.permissions import (CONDITION_CHECK, DELETE, DESCRIBE, GET, PUT, QUERY, READ_SECRET,
                               SEND, SEND_EMAIL, UPDATE, Grant, Resource)

pytestmark = pytest.mark.timeout(600)

# Granted but not reached by the flows below: (function, action, resource) -> why it is kept.
NOT_EXERCISED: dict[tuple[str, str, str], str] = {
    ("send_notifications", SEND_EMAIL, "ses-identity:itinera.example"):
        "SES authorizes a send against the domain's identity when the domain, not the address, "
        "is verified (the usual production setup); the emulator verifies the address",
    ("match_waitlist", GET, "table:IdempotencyTable"):
        "an offer whose hold is refused (its units taken meanwhile) reads the entry's first answer, as "
        "POST /holds does for a refused request (holds.place_hold); a race no flow here stages",
    ("sweep_waitlist", GET, "table:IdempotencyTable"):
        "as match_waitlist: the sweep offers through the same code",
    ("match_waitlist", GET, "table:WaitlistTable"):
        "an entry whose claim fails because it moved after the line was read (the waiting index lags "
        "behind its table on DynamoDB; the emulator's indexes never lag) is read to see whether it "
        "still takes units",
    ("sweep_waitlist", GET, "table:WaitlistTable"):
        "as match_waitlist: the sweep offers through the same code",
    ("api_handler", "dynamodb:BatchGetItem", "table:RecoHistoryTable"):
        "a shortlisted listing the traveler booked longer ago than their recent history read: its "
        "booked dates are read by key (recommendations.history); the flows' travelers have few",
    ("email_recommendations", "dynamodb:BatchGetItem", "table:RecoHistoryTable"):
        "as api_handler: the weekly picks are read the same way",
    ("match_waitlist", GET, "table:BookingsTable"):
        "a replayed offer (its hold placed, the entry not yet marked) reads the booking to see whether "
        "it lapsed meanwhile; a crash no flow here stages",
    ("sweep_waitlist", GET, "table:BookingsTable"):
        "as match_waitlist: the sweep offers through the same code",
    ("email_recommendations", SEND_EMAIL, "ses-identity:itinera.example"):
        "as send_notifications: SES checks the domain's identity when the domain is verified",
    ("sweep_bookings", GET, "table:IdempotencyTable"):
        "a refund the sweeper resumes while the agent's retry records it first: the sweeper then "
        "reads the stored answer (refunds._record / _release); a race no flow here stages",
}

# Cognito calls a client makes with its own credentials or tokens: IAM does not authorize them.
PUBLIC_COGNITO = {"SignUp", "ConfirmSignUp", "InitiateAuth", "RespondToAuthChallenge", "GetUser",
                  "ForgotPassword", "ConfirmForgotPassword", "ResendConfirmationCode", "ChangePassword",
                  "GlobalSignOut", "UpdateUserAttributes", "VerifyUserAttribute", "RevokeToken"}
TRANSACTION_ACTIONS = {"Put": PUT, "Update": UPDATE, "Delete": DELETE, "ConditionCheck": CONDITION_CHECK}
DYNAMODB_ACTIONS = {"GetItem": GET, "PutItem": PUT, "UpdateItem": UPDATE, "DeleteItem": DELETE,
                    "DescribeTable": DESCRIBE, "Query": QUERY, "Scan": "dynamodb:Scan"}


# ---------------------------------------------------------------------------------------------
# AWS calls -> IAM grants


class Names:
    """Physical names (tables, queues, secret ARNs, the pool) -> the template's resources."""

    def __init__(self, user_pool_id: str, secrets: dict[str, str]) -> None:
        from chalicelib.core.config import queue_name

        self.tables = {m.Meta.table_name: template.table_id(m) for m in resources.models()}
        self.queues = {queue_name(q): template.queue_id(q) for q in resources.QUEUES}
        self.queues.update({queue_name(f"{q}-dlq"): template.dead_letter_queue_id(q) for q in resources.QUEUES})
        self.user_pool_id = user_pool_id
        self.secrets = secrets  # ARN -> logical id

    def table(self, name: str, index: str | None = None) -> Resource:
        return Resource("index", self.tables[name], index) if index else Resource("table", self.tables[name])

    def queue(self, name_or_url: str) -> Resource:
        return Resource("queue", self.queues[urlparse(name_or_url).path.rsplit("/", 1)[-1]])


def grants_of(service: str, operation: str, params: dict[str, Any], names: Names) -> set[Grant]:
    """The IAM (action, resource) pairs one AWS call needs. An unknown call fails the test: a
    new kind of call needs a look at how IAM authorizes it."""
    if service == "dynamodb":
        if operation in DYNAMODB_ACTIONS:
            return {(DYNAMODB_ACTIONS[operation], names.table(params["TableName"], params.get("IndexName")))}
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return {(f"dynamodb:{operation}", names.table(t)) for t in params["RequestItems"]}
        if operation == "TransactWriteItems":
            return {(TRANSACTION_ACTIONS[kind], names.table(item[kind]["TableName"]))
                    for item in params["TransactItems"] for kind in item}
        if operation == "TransactGetItems":
            return {(GET, names.table(item["Get"]["TableName"])) for item in params["TransactItems"]}
    if service == "sqs" and operation == "GetQueueUrl":
        return {("sqs:GetQueueUrl", names.queue(params["QueueName"]))}
    if service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        return {(SEND, names.queue(params["QueueUrl"]))}
    if service == "ses" and operation == "SendEmail":
        return {(SEND_EMAIL, Resource("ses-identity", params["Source"]))}
    if service == "cognito-idp":
        if operation in PUBLIC_COGNITO:
            return set()
        assert params["UserPoolId"] == names.user_pool_id, (operation, params)
        return {(f"cognito-idp:{operation}", Resource("user-pool", template.USER_POOL))}
    if service == "secretsmanager" and operation == "GetSecretValue":
        return {(READ_SECRET, Resource("secret", names.secrets[params["SecretId"]]))}
    raise AssertionError(f"no IAM mapping for {service}:{operation} — add one to grants_of")


class Recorder:
    """Records every AWS call made while a function runs (botocore's _make_api_call: boto3
    clients, PynamoDB and Powertools all go through it)."""

    def __init__(self) -> None:
        self.function: str | None = None
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self._fault: list[Any] | None = None  # [operation, calls to let through first]

    def fail_once(self, operation: str, *, after: int = 0) -> None:
        """Fault injection: the call of `operation` after the next `after` ones fails (a
        DynamoDB error that is not retried), to reach the code that cleans up after it."""
        self._fault = [operation, after]

    def _injected(self, operation: str) -> Exception | None:
        from botocore.exceptions import ClientError

        if self._fault is None or self._fault[0] != operation:
            return None
        if self._fault[1] > 0:
            self._fault[1] -= 1
            return None
        self._fault = None
        return ClientError({"Error": {"Code": "ValidationException", "Message": "Injected fault"}}, operation)

    @contextmanager
    def installed(self):
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def recording(client, operation_name, api_params):
            if recorder.function is not None:
                recorder.calls[recorder.function].append(
                    (client.meta.service_model.service_name, operation_name, dict(api_params)))
                fault = recorder._injected(operation_name)
                if fault is not None:
                    raise fault
            return original(client, operation_name, api_params)

        BaseClient._make_api_call = recording
        try:
            yield self
        finally:
            BaseClient._make_api_call = original

    @contextmanager
    def as_function(self, name: str):
        previous, self.function = self.function, name
        try:
            yield
        finally:
            self.function = previous


# ---------------------------------------------------------------------------------------------
# The deployed functions, simulated in this process


def fresh_process() -> None:
    """What a new Lambda process would not have: cached clients, settings, queue URLs, the
    payment provider, quotes and secret values."""
    from aws_lambda_powertools.utilities import parameters

    from chalicelib.booking.payments import reset_provider
    from chalicelib.core import tables
    from chalicelib.inventory import reservations
    from tests.conftest import reset_app_state

    reset_app_state()
    tables.reset_connections()
    reset_provider()
    reservations._cache.clear()
    parameters.clear_caches()


class Stack:
    """The stage's functions as the synthesized template configures them, in the emulator."""

    def __init__(self, sam: dict[str, Any], refs: dict[str, str], recorder: Recorder, client: Any) -> None:
        self.recorder = recorder
        self.client = client
        self.environments = {postprocess.function_name(f): self._environment(f, refs)
                             for _, f in postprocess.functions(sam)}
        # Memory (MB) and timeout (s): the context a worker reads its remaining time from.
        self.sizes = {postprocess.function_name(f): (int(f["Properties"]["MemorySize"]),
                                                     int(f["Properties"]["Timeout"]))
                      for _, f in postprocess.functions(sam)}
        self.provider_errors: list[tuple[str | None, str]] = []

    @staticmethod
    def _environment(function: dict[str, Any], refs: dict[str, str]) -> dict[str, str]:
        variables = {}
        for key, value in function["Properties"]["Environment"]["Variables"].items():
            if isinstance(value, dict):
                assert set(value) == {"Ref"} and value["Ref"] in refs, (key, value)
                value = refs[value["Ref"]]
            variables[key] = value
        # The emulator's tables and queues carry the local stage's names (the models were named
        # when this process imported them); everything else is the deployed stage's.
        variables["ITINERA_STAGE"] = "local"
        return variables

    @contextmanager
    def running(self, function: str):
        """`function` in a fresh process with its own environment (plus the emulator's
        credentials and the JWKS location), its AWS calls recorded as its own."""
        saved = dict(os.environ)
        base = {k: v for k, v in saved.items()
                if not k.startswith(("ITINERA_", "POWERTOOLS_")) or k == "ITINERA_JWKS_URL"}
        os.environ.clear()
        os.environ.update({**base, **self.environments[function]})
        try:
            fresh_process()
            with self.recorder.as_function(function):
                yield
        finally:
            os.environ.clear()
            os.environ.update(saved)
            fresh_process()

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke a handler of app.py as Lambda would: with a context whose remaining time
        counts down from the function's timeout (chalice.test's gives every function 3 s)."""
        from chalice.local import LambdaContext

        from app import app

        memory, timeout = self.sizes[function]
        with self.running(function):
            return app.handler_map[function](event, LambdaContext(function, memory_size=memory,
                                                                  max_runtime_ms=timeout * 1000))

    @contextmanager
    def configured(self, function: str, **variables: str):
        """`function` runs with these variables on top of its template environment (as an
        operator would set them on the deployed function)."""
        saved = dict(self.environments[function])
        self.environments[function].update(variables)
        try:
            yield
        finally:
            self.environments[function] = saved


def function_api(stack: Stack):
    """tests.conftest.Api, each request handled by the API function."""
    from tests.conftest import Api

    class FunctionApi(Api):
        def request(self, method: str, path: str, body=None, **kw):
            with stack.running(permissions.API_FUNCTION):
                return super().request(method, path, body, **kw)

    return FunctionApi(stack.client)


# ---------------------------------------------------------------------------------------------
# The flows


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.data)
    return response.data


def drain(queue: str) -> list[dict[str, Any]]:
    """Take every message off `queue` (as Lambda's event source mapping would), as SQS records."""
    import boto3

    from chalicelib.core.config import queue_name

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=queue_name(queue))["QueueUrl"]
    records = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return records
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            records.append({
                "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"], "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0",
                                                        "SenderId": "x", "ApproximateFirstReceiveTimestamp": "0"},
                "messageAttributes": {}, "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue_name(queue)}",
                "awsRegion": "us-east-1"})


def work(stack: Stack, function: str, queue: str, batch: int = 10) -> int:
    """Run `function` on every message waiting on `queue`, `batch` at a time; none may fail."""
    records = drain(queue)
    for start in range(0, len(records), batch):
        result = stack.invoke(function, {"Records": records[start:start + batch]})
        assert result == {"batchItemFailures": []}, (function, result)
    return len(records)


# The vendor's promotion code the flows' holds use (those that end unconfirmed give it back).
PROMO = "LP-HOTEL"

# The webhook worker's batch size (app.py): a few vendor POSTs per invocation.
WEBHOOK_BATCH = 2


def deliver(stack: Stack) -> int:
    from chalicelib.core.queues import WEBHOOKS

    return work(stack, "deliver_webhooks", WEBHOOKS, batch=WEBHOOK_BATCH)


def work_all(stack: Stack) -> None:
    from chalicelib.core.queues import CANCELLATIONS, CONFIRMATIONS, NOTIFICATIONS, RECOMMENDATIONS

    work(stack, "confirm_bookings", CONFIRMATIONS)
    work(stack, "cancel_bookings", CANCELLATIONS)
    work(stack, "count_cobookings", RECOMMENDATIONS)
    assert work(stack, "send_notifications", NOTIFICATIONS)
    assert deliver(stack)  # every booking change above has its vendor's events


def scheduled_event() -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2027-01-01T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": {}}


def sweep(stack: Stack, after_seconds: float) -> dict[str, int]:
    from chalicelib.core import clock

    clock.advance(after_seconds)
    return stack.invoke("sweep_bookings", scheduled_event())


def stripe_signature(payload: str, secret: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class Flows:
    """The flows every function runs, phase by phase, with real messages between them."""

    def __init__(self, stack: Stack, fake: Any, setup: "Setup", receiver: "Receiver") -> None:
        self.stack, self.fake, self.setup, self.receiver = stack, fake, setup, receiver
        self.api = function_api(stack)
        self.tokens: dict[str, str] = {}
        self.hotel = ""

    def run(self) -> None:
        self.operations_and_identity()
        self.vendor_onboarding()
        self.catalog()
        self.promotions()
        self.vendor_webhook()
        refunded = self.bookings()
        self.reviews_and_recommendations()
        self.waitlist()
        self.agents_desk(refunded)
        self.support(refunded)
        self.sweeper()
        self.webhook_deliveries()

    # -- helpers

    def hold(self, token: str, offset: int, email: str = "tessa@example.com", headers: dict | None = None,
             promo_code: str | None = None) -> str:
        from tests.integration.booking_helpers import day, hold_body, key

        body = hold_body({"listing_id": self.hotel, "quantity": 1, "check_in": day(offset),
                          "check_out": day(offset + 1)}, email=email)
        if promo_code:
            body["promo_code"] = promo_code
        return ok(self.api.post("/holds", body, token=token, headers=headers or key()), 201)["booking_id"]

    def pay(self, token: str, booking_id: str, method: str = "tok_visa", status: int = 202):
        from tests.integration.booking_helpers import key

        return ok(self.api.post(f"/bookings/{booking_id}/payment", {"payment_method": method}, token=token,
                                headers=key()), status)

    def status(self, booking_id: str) -> str:
        return ok(self.api.get(f"/bookings/{booking_id}", token=self.tokens["agent"]))["status"]

    def refund(self, booking_id: str, amount: int, status: int = 201):
        from tests.integration.booking_helpers import key

        return ok(self.api.post(f"/bookings/{booking_id}/refunds", {"amount": amount, "reason": "Noisy room"},
                                token=self.tokens["agent"], headers=key()), status)

    def stripe_event(self, payload: str) -> None:
        ok(self.api.post("/webhooks/stripe", payload,
                         headers={"Stripe-Signature": stripe_signature(payload, self.setup.webhook_secret)}))

    # -- phases

    def operations_and_identity(self) -> None:
        api = self.api
        for path in ("/health", "/openapi.json", "/faq", "/auth/config"):
            ok(api.get(path))
        self.tokens = {name: api.login(f"{name}@example.com")
                       for name in ("traveler", "traveler2", "vendor", "agent", "admin")}
        signed_up = ok(api.post("/auth/signup", {"email": "lena@example.com", "password": "Sunny-days-9",
                                                 "name": "Lena"}), 201)
        assert signed_up["confirmed"] is False  # the deployed stages let Cognito email a code
        ok(api.post("/auth/confirm", {"email": "lena@example.com", "code": "123456"}))
        lena = ok(api.post("/auth/login", {"email": "lena@example.com", "password": "Sunny-days-9"}))
        ok(api.post("/auth/refresh", {"refresh_token": lena["refresh_token"]}))
        ok(api.get("/me", token=lena["id_token"]))
        self.tokens["lena"] = lena["id_token"]  # a third traveler (the waitlist)
        self.setup.create_user_with_temporary_password("nova@example.com", "Temp-pass-9")
        ok(api.post("/auth/new-password", {"email": "nova@example.com", "temporary_password": "Temp-pass-9",
                                           "new_password": "Brand-new-9"}))

    def vendor_onboarding(self) -> None:
        """Two vendors onboarded and listed a page at a time; one onboarding fails half-way
        (its group is gone) and is rolled back."""
        admin = self.tokens["admin"]
        for name, email in (("Lumen Stays", "lumen@example.com"), ("Kestrel Tours", "kestrel@example.com")):
            ok(self.api.post("/admin/vendors", {"name": name, "email": email}, token=admin), 201)
        page = ok(self.api.get("/admin/vendors?limit=1", token=admin))
        ok(self.api.get(f"/admin/vendors?limit=1&cursor={page['next_cursor']}", token=admin))
        with self.setup.without_group("vendors"):
            failed = self.api.post("/admin/vendors", {"name": "Half Done", "email": "half@example.com"}, token=admin)
        assert failed.status_code >= 500, failed.data

    def catalog(self) -> None:
        """A vendor's listings and availability (an update of 120 new dates takes two
        transactions: the second fails, so the dates the first put on sale are deleted again);
        travelers search and read them."""
        from tests.integration.booking_helpers import day, make_listing

        api, vendor = self.api, self.tokens["vendor"]
        self.hotel = make_listing(api, vendor, capacity=20, price=10000, days=40, policy=(960, 50))
        seasonal = make_listing(api, vendor, kind="event", capacity=5, price=2500, days=0)
        ok(api.patch(f"/vendor/listings/{self.hotel}", {"description": "Renovated in 2026"}, token=vendor))
        self.stack.recorder.fail_once("TransactWriteItems", after=1)
        undone = api.put(f"/vendor/listings/{seasonal}/availability",
                         {"from": day(1), "to": day(120), "capacity": 3, "price": 9000}, token=vendor)
        assert undone.status_code >= 500, undone.data
        assert ok(api.get(f"/listings/{seasonal}/availability?from={day(1)}&to={day(30)}"))["days"] == []
        listings = ok(api.get("/vendor/listings?limit=1", token=vendor))
        ok(api.get(f"/vendor/listings?limit=1&cursor={listings['next_cursor']}", token=vendor))
        found = ok(api.get(f"/search?kind=hotel&city=PAR&check_in={day(2)}&check_out={day(4)}&limit=1"))
        assert found["results"], found
        best = ok(api.get(f"/search?kind=hotel&city=PAR&check_in={day(2)}&check_out={day(4)}&sort=rating"))
        assert best["results"], best
        ok(api.get(f"/listings/{self.hotel}"))
        ok(api.get(f"/listings/{self.hotel}/availability?from={day(0)}&to={day(9)}"))

    def promotions(self) -> None:
        """A vendor's code for its hotel and an admin's for a kind, listed a page at a time; the
        code's uses are counted by the holds below and given back by whatever ends them."""
        api, vendor, admin = self.api, self.tokens["vendor"], self.tokens["admin"]
        window = {"valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z"}
        ok(api.post("/vendor/promotions", {"code": PROMO, "percent_off": 10, "max_uses": 50,
                                           "max_uses_per_traveler": 10, "listing_id": self.hotel, **window},
                    token=vendor), 201)
        ok(api.post("/vendor/promotions", {"code": "LP-SECOND", "percent_off": 5, "max_uses": 5,
                                           "max_uses_per_traveler": 1, **window}, token=vendor), 201)
        page = ok(api.get("/vendor/promotions?limit=1", token=vendor))
        ok(api.get(f"/vendor/promotions?limit=1&cursor={page['next_cursor']}", token=vendor))
        ok(api.post("/admin/promotions", {"code": "LP-EVENTS", "amount_off": 500, "currency": "EUR",
                                          "max_uses": 5, "max_uses_per_traveler": 1, "kind": "event", **window},
                    token=admin), 201)
        ok(api.get("/admin/promotions", token=admin))

    def reviews_and_recommendations(self) -> None:
        """Places autocomplete; a stay that has begun is reviewed and the vendor answers; the
        confirmed bookings were counted (their worker ran), so a traveler gets picks; a signed-in
        search records its place; the weekly picks go to the traveler who opted in."""
        from tests.integration.booking_helpers import day

        api, traveler, vendor = self.api, self.tokens["traveler"], self.tokens["vendor"]
        assert ok(api.get("/places?q=par"))["places"], "the hotel's availability put Paris on sale"
        from tests.integration.booking_helpers import hold_body, key, make_listing

        show = make_listing(api, vendor, kind="event", capacity=5, price=3000, days=3)
        tonight = ok(api.post("/holds", hold_body(
            {"listing_id": self.hotel, "quantity": 1, "check_in": day(0), "check_out": day(1)},
            {"listing_id": show, "quantity": 1, "date": day(0)}), token=traveler, headers=key()), 201)["booking_id"]
        self.pay(traveler, tonight)
        work_all(self.stack)  # confirmed, then counted: the hotel and the show are co-booked
        review = ok(api.post(f"/listings/{self.hotel}/reviews", {"rating": 5, "comment": "Lovely"}, token=traveler),
                    201)
        ok(api.get(f"/listings/{self.hotel}/reviews?limit=1", token=traveler))
        reply = f"/vendor/listings/{self.hotel}/reviews/{review['review_id']}/reply"
        ok(api.post(reply, {"body": "Thank you!"}, token=vendor), 201)
        ok(api.post(reply, {"body": "Thanks again!"}, token=vendor), 409)  # answered once
        ok(api.get(f"/search?kind=hotel&city=PAR&check_in={day(2)}&check_out={day(4)}", token=traveler))
        for token in (traveler, self.tokens["traveler2"]):
            ok(api.put("/me/preferences", {"recommendation_emails": True}, token=token))
        ok(api.get("/me/preferences", token=traveler))
        assert ok(api.get("/me/recommendations", token=self.tokens["traveler2"]))["recommendations"] is not None
        ok(api.get("/me/recommendations?limit=3", token=traveler))
        # traveler2 gets what is popular; the traveler has everything there already for their trip.
        sent = self.stack.invoke("email_recommendations", scheduled_event())
        assert (sent["sent"], sent["no_picks"]) == (1, 1), sent

    def waitlist(self) -> None:
        """Sold-out dates: two travelers wait, one leaves again; a cancelled hold frees the unit
        (the API's cancel signals the waitlist worker, which holds it for the first in line and
        queues the email); the vendor raises capacity (a message lost: the sweep offers it)."""
        from chalicelib.core.queues import NOTIFICATIONS, WAITLIST
        from tests.integration.booking_helpers import day, hold_body, key, make_listing

        api, vendor = self.api, self.tokens["vendor"]
        first, second, leaving = self.tokens["traveler2"], self.tokens["lena"], self.tokens["traveler"]
        show = make_listing(api, vendor, kind="event", capacity=1, price=4000, days=3)
        item = {"listing_id": show, "quantity": 1, "date": day(1)}
        held = ok(api.post("/holds", hold_body(item), token=leaving, headers=key()), 201)["booking_id"]
        drain(WAITLIST)  # the listing's first availability signals nobody in line
        for token in (first, second, leaving):
            ok(api.post(f"/listings/{show}/waitlist", {"date": day(1), "quantity": 1}, token=token), 201)
        ok(api.post(f"/listings/{show}/waitlist", {"date": day(1), "quantity": 1}, token=first))  # already in line
        mine = ok(api.get("/me/waitlist?limit=1", token=leaving))["entries"]
        ok(api.delete(f"/me/waitlist/{mine[0]['entry_id']}", token=leaving), 204)
        ok(api.post(f"/bookings/{held}/cancel", {}, token=leaving))
        assert work(self.stack, "match_waitlist", WAITLIST) == 1
        assert [e["status"] for e in ok(api.get("/me/waitlist", token=first))["entries"]] == ["OFFERED"]
        assert work(self.stack, "send_notifications", NOTIFICATIONS)
        ok(api.put(f"/vendor/listings/{show}/availability", {"days": [{"date": day(1), "capacity": 2, "price": 4000}]},
                   token=vendor))
        assert drain(WAITLIST)  # lost: the sweep finds the line and offers the new unit
        self.stack.invoke("sweep_waitlist", scheduled_event())
        assert [e["status"] for e in ok(api.get("/me/waitlist", token=second))["entries"]] == ["OFFERED"]

    def cancelled_hold(self, token: str, offset: int) -> str:
        """A hold whose payment was declined, cancelled by its traveler at once (the API applies
        the transition: the vendor's event is written and its message sent)."""
        booking_id = self.hold(token, offset)
        self.pay(token, booking_id, "tok_chargeDeclined", status=402)
        ok(self.api.post(f"/bookings/{booking_id}/cancel", {}, token=token))
        return booking_id

    def vendor_webhook(self) -> None:
        """The vendor sets up its webhook (its receiver, served here), reads it and rotates its
        secret; the booking changes below are delivered there."""
        api, vendor = self.api, self.tokens["vendor"]
        assert api.get("/vendor/webhook", token=vendor).status_code == 404
        created = ok(api.put("/vendor/webhook", {"url": self.receiver.url}, token=vendor))
        assert created["secret"].startswith("whsec_"), created
        assert "secret" not in ok(api.get("/vendor/webhook", token=vendor))
        rotated = ok(api.post("/vendor/webhook/rotate", {}, token=vendor))
        assert rotated["secret"] != created["secret"] and rotated["previous_secret_expires_at"], rotated

    def bookings(self) -> str:
        """A traveler holds (the same request twice: one hold), pays after a decline, is
        confirmed by the worker, reads their bookings and cancels; a hold with a declined
        attempt is cancelled at once; a capture fails. Returns a confirmed booking."""
        from tests.integration.booking_helpers import day, key

        api, traveler = self.api, self.tokens["traveler"]
        same = key()
        main = self.hold(traveler, 30, email="sam@example.com", headers=same)
        assert self.hold(traveler, 30, email="sam@example.com", headers=same) == main
        self.pay(traveler, main, "tok_chargeDeclined", status=402)
        self.pay(traveler, main)
        refunded = self.hold(traveler, 31, email="sam@example.com")
        self.pay(traveler, refunded)
        failing = self.hold(traveler, 32, promo_code=PROMO)  # its use given back by the worker
        self.pay(traveler, failing, "tok_captureFails")
        work_all(self.stack)
        assert [self.status(b) for b in (main, refunded, failing)] == ["CONFIRMED", "CONFIRMED", "FAILED"]
        ok(api.get(f"/bookings/{main}", token=traveler))
        mine = ok(api.get("/me/bookings?limit=1", token=traveler))
        ok(api.get(f"/me/bookings?limit=1&cursor={mine['next_cursor']}", token=traveler))
        ok(api.get(f"/bookings/{main}/cancellation-quote", token=traveler))
        ok(api.post(f"/bookings/{main}/cancel", {}, token=traveler), 202)
        # Its refund (half, by the policy) stays pending at Stripe: the worker records it to follow.
        self.fake.hold_refunds_pending()
        from chalicelib.core.queues import CANCELLATIONS
        assert work(self.stack, "cancel_bookings", CANCELLATIONS) == 1
        abandoned = self.hold(traveler, 33, promo_code=PROMO)  # its use given back by the API's cancel
        self.pay(traveler, abandoned, "tok_chargeDeclined", status=402)
        ok(api.post(f"/bookings/{abandoned}/cancel", {}, token=traveler))
        ok(api.get(f"/vendor/bookings?from={day(0)}&to={day(40)}&limit=1", token=self.tokens["vendor"]))
        return refunded

    def agents_desk(self, booking_id: str) -> None:
        """Finding bookings; refunds: one succeeds, three stay pending (Stripe's event reverses
        the first, which opens a case; the sweeper settles the others), one's answer is lost (the
        sweeper resumes it); the audit; the case queue; a redelivered Stripe event."""
        from chalicelib.booking.models import RefundRecord

        api, agent = self.api, self.tokens["agent"]
        reference = ok(api.get(f"/bookings/{booking_id}", token=agent))["reference"]
        ok(api.get(f"/agent/bookings?reference={reference.lower()}", token=agent))
        by_email = ok(api.get("/agent/bookings?email=sam@example.com&limit=1", token=agent))
        ok(api.get(f"/agent/bookings?email=sam@example.com&limit=1&cursor={by_email['next_cursor']}", token=agent))
        self.refund(booking_id, 1000)
        self.fake.hold_refunds_pending(times=3)
        assert [self.refund(booking_id, amount)["status"] for amount in (500, 600, 650)] == ["PENDING"] * 3
        self.reversed_refund, self.succeeding_refund, self.failing_refund = sorted(
            (r for r in RefundRecord.query(booking_id) if r.status == "PENDING"), key=lambda r: int(r.amount))
        self.fake.lose_next_answer("refund")
        self.refund(booking_id, 700, status=503)
        ok(api.get(f"/bookings/{booking_id}/audit", token=agent))
        self.stripe_event(json.dumps({
            "id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "refund.updated", "created": 1,
            "data": {"object": {"id": self.reversed_refund.provider_refund_id, "object": "refund",
                                "status": "failed", "amount": 500}}}))
        intent_event = (Path(__file__).resolve().parents[1] / "fixtures" / "stripe"
                        / "event_payment_intent_amount_capturable_updated.json").read_text()
        for _ in range(2):  # the second is a redelivery
            self.stripe_event(intent_event)
        assert ok(api.get("/agent/cases?status=OPEN", token=agent))["cases"], "the reversed refund opened a case"

    def support(self, booking_id: str) -> None:
        """A traveler's case, answered (an email), replied to, resolved."""
        api, traveler, agent = self.api, self.tokens["traveler"], self.tokens["agent"]
        case = ok(api.post("/support/cases", {"subject": "Was I charged twice?", "message": "Two lines on my card.",
                                              "booking_id": booking_id}, token=traveler), 201)["case_id"]
        ok(api.get("/me/support/cases", token=traveler))
        ok(api.post(f"/support/cases/{case}/messages", {"body": "Only once: the other is released."},
                    token=agent), 201)
        ok(api.post(f"/support/cases/{case}/messages", {"body": "Thank you!"}, token=traveler), 201)
        ok(api.get(f"/support/cases/{case}", token=traveler))
        ok(api.post(f"/support/cases/{case}/resolve", {}, token=agent))
        work_all(self.stack)

    def sweeper(self) -> None:
        """What the sweeper settles: a hold that lapses after a declined attempt; a confirmation
        and a cancellation whose workers never ran (their messages lost, twice); a confirmed
        booking whose declined attempt could not be voided yet; the refunds left pending or
        unanswered by the agents' desk; a cancellation whose refund pends; a resumed refund the
        provider refuses."""
        from chalicelib.booking.payments.port import AmountExceeded
        from chalicelib.booking.refunds import PENDING_CHECK_SECONDS
        from chalicelib.core.queues import CANCELLATIONS, CONFIRMATIONS

        traveler = self.tokens["traveler2"]
        lapsing = self.hold(traveler, 5, promo_code=PROMO)  # its use given back by the sweeper
        self.pay(traveler, lapsing, "tok_chargeDeclined", status=402)
        cleanup = self.hold(traveler, 6)
        self.pay(traveler, cleanup, "tok_chargeDeclined", status=402)
        self.pay(traveler, cleanup)
        self.fake.fail_next("void")  # confirming it voids the declined attempt's payment: not this time
        cancelling = self.hold(traveler, 7)
        self.pay(traveler, cancelling)
        work_all(self.stack)
        ok(self.api.post(f"/bookings/{cancelling}/cancel", {}, token=self.tokens["agent"]), 202)  # an agent's
        confirming = self.hold(traveler, 8)
        self.pay(traveler, confirming)
        assert drain(CONFIRMATIONS) and drain(CANCELLATIONS)  # their workers never see these
        first = sweep(self.stack, 70)
        assert (first["redriven"], first["cleaned"], first["refunds_resumed"]) == (2, 1, 1), first
        assert drain(CONFIRMATIONS) and drain(CANCELLATIONS)  # lost again: the sweeper settles them itself
        self.fake.settle_refund(self.succeeding_refund.provider_refund_id, "succeeded")
        self.fake.settle_refund(self.failing_refund.provider_refund_id, "failed")  # reversed, opens a case
        self.fake.hold_refunds_pending()  # the cancellation the sweeper settles: its refund pends
        second = sweep(self.stack, max(PENDING_CHECK_SECONDS, 1000) + 1)
        assert (second["settled"], second["refunds_settled"]) == (2, 2) and second["expired"] >= 1, second
        assert [self.status(b) for b in (confirming, cancelling, lapsing)] == ["CONFIRMED", "CANCELLED", "EXPIRED"]
        # A refund nobody retried, which the provider refuses when the sweeper resumes it: the
        # refusal is audited and reported to the agents.
        self.fake.fail_next("refund")
        self.refund(self.reversed_refund.booking_id, 50, status=503)
        self.fake.fail_next("refund", error=AmountExceeded("Not that much is left."))
        assert sweep(self.stack, 120)["refunds_resumed"] == 1
        work_all(self.stack)

    def webhook_deliveries(self) -> None:
        """The vendor lists its deliveries; its receiver fails until the retry window is over
        (the event is dead-lettered), then the vendor replays what it missed; an event whose
        queue message was lost is started again by the relay; the vendor removes its webhook."""
        from chalicelib.core import clock
        from chalicelib.core.queues import WEBHOOKS, dead_letter_queue
        from chalicelib.notify import webhook_rules
        from chalicelib.notify.workers import RELAY_GRACE_SECONDS

        api, vendor, traveler = self.api, self.tokens["vendor"], self.tokens["traveler2"]
        assert self.receiver.received, "the booking changes were delivered to the vendor's receiver"
        page = ok(api.get("/vendor/webhook/deliveries?limit=1", token=vendor))
        assert [d["outcome"] for d in page["deliveries"]] == ["delivered"], page
        ok(api.get(f"/vendor/webhook/deliveries?limit=1&cursor={page['next_cursor']}", token=vendor))

        # The receiver answers 500 at the end of the window (here: a window of 0 s): given up.
        since = webhook_rules.stamp(clock.now())
        self.receiver.status = 500
        given_up = self.cancelled_hold(traveler, 34)
        with self.stack.configured("deliver_webhooks", ITINERA_WEBHOOK_RETRY_WINDOW_SECONDS="0"):
            assert deliver(self.stack) == 1
        dead = [json.loads(r["body"]) for r in drain(dead_letter_queue(WEBHOOKS))]
        assert [(d["type"], d["booking_id"], d["last_status"]) for d in dead] == [
            ("webhook-dead", given_up, 500)], dead
        self.receiver.status = 200
        # Fixed: the vendor replays since just before it (the worker resets it, then delivers it).
        ok(api.post("/vendor/webhook/replay", {"since": since}, token=vendor), 202)
        received = len(self.receiver.received)
        assert deliver(self.stack) == 1  # the replay: the event is pending again, its stream started
        assert deliver(self.stack) == 1  # its delivery
        assert [json.loads(r)["booking"]["booking_id"]
                for r in self.receiver.received[received:]] == [given_up], self.receiver.received[received:]

        # A change whose message was lost: the relay finds its event in the due index.
        lost = self.cancelled_hold(traveler, 35)
        assert drain(WEBHOOKS)
        clock.advance(RELAY_GRACE_SECONDS + 1)
        assert self.stack.invoke("relay_webhooks", scheduled_event()) == {"streams": 1}
        received = len(self.receiver.received)
        assert deliver(self.stack) == 1
        assert [json.loads(r)["booking"]["booking_id"] for r in self.receiver.received[received:]] == [lost]

        ok(api.delete("/vendor/webhook", token=vendor), 204)
        assert api.get("/vendor/webhook", token=vendor).status_code == 404


# ---------------------------------------------------------------------------------------------
# Fixtures


class Receiver:
    """A vendor's webhook receiver on 127.0.0.1 (the local stage, whose names the functions run
    with, lets a webhook use http and a loopback address): answers `status`, keeps each body."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.status = 200
        self.received: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                receiver.received.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/itinera/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Setup:
    """What the flows arrange behind the functions' backs (not recorded): users Cognito would
    email a temporary password to, a group missing for a moment, the webhook's secret."""

    webhook_secret = "whsec_least_privilege_test"

    def __init__(self, pool_id: str) -> None:
        import boto3

        self.pool_id = pool_id
        self.idp = boto3.client("cognito-idp", region_name="us-east-1")

    def create_user_with_temporary_password(self, email: str, password: str) -> None:
        self.idp.admin_create_user(UserPoolId=self.pool_id, Username=email, TemporaryPassword=password,
                                   MessageAction="SUPPRESS", UserAttributes=[
                                       {"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])

    @contextmanager
    def without_group(self, group: str):
        self.idp.delete_group(UserPoolId=self.pool_id, GroupName=group)
        try:
            yield
        finally:
            self.idp.create_group(UserPoolId=self.pool_id, GroupName=group)


def create_secrets(webhook_secret: str) -> dict[str, str]:
    """The stage's secrets in the emulator: logical id -> ARN."""
    import boto3

    client = boto3.client("secretsmanager", region_name="us-east-1")
    values = {template.CURSOR_SECRET: "cursor-key-" + uuid.uuid4().hex,
              template.STRIPE_API_KEY_SECRET: "sk_test_least_privilege",
              template.STRIPE_WEBHOOK_SECRET: webhook_secret}
    return {logical: client.create_secret(Name=f"least-privilege-{logical}", SecretString=value)["ARN"]
            for logical, value in values.items()}


def serve_fake_stripe(mp: pytest.MonkeyPatch, stack: Stack, fake: Any) -> None:
    """The deployed provider is built as deployed (it reads its API key where the template
    says), then FakePaymentProvider answers for Stripe."""
    from chalicelib.booking.payments.stripe_provider import StripeProvider

    real_from_env = StripeProvider.from_env.__func__

    def from_env(cls):
        try:
            real_from_env(cls)
        except Exception as exc:  # the key is not where the template put it: reported by a test
            stack.provider_errors.append((stack.recorder.function, f"{type(exc).__name__}: {exc}"))
        return fake

    mp.setattr(StripeProvider, "from_env", classmethod(from_env))


def chalice_client(tmp_path_factory) -> Any:
    """chalice.test's client on a stage with no variables: each function gets the template's
    environment instead (Stack.running)."""
    from chalice.test import Client

    from app import app

    project = tmp_path_factory.mktemp("least-privilege-project")
    (project / ".chalice").mkdir()
    (project / ".chalice" / "config.json").write_text(json.dumps(
        {"version": "2.0", "app_name": "itinera", "stages": {"least-privilege": {}}}))
    return Client(app, stage_name="least-privilege", project_dir=str(project))


@pytest.fixture(scope="module")
def derived(synthesized, tmp_path_factory) -> dict[str, Any]:
    """What the flows did: "grants" (function -> the grants its calls needed), "calls" (the
    calls themselves), "provider_errors", "environments" (each function's, as run).
    LEAST_PRIVILEGE_DUMP=<file> writes the grants there (a start for a new function's needs)."""
    import boto3
    import moto

    from chalicelib.booking.payments.fake import FakePaymentProvider
    from chalicelib.core import clock
    from chalicelib.core.config import settings
    from tests.conftest import reset_app_state
    from tools.bootstrap import bootstrap
    from tools.demo_users import DEFAULT_PASSWORD

    recorder = Recorder()
    with pytest.MonkeyPatch.context() as mp, moto.mock_aws(), recorder.installed():
        reset_app_state()
        outputs = bootstrap(boto3.session.Session(), sender=settings().sender_email, demo_password=DEFAULT_PASSWORD)
        setup = Setup(outputs["user_pool_id"])
        secrets = create_secrets(setup.webhook_secret)
        queues = {template.queue_id(name): url for name, url in outputs["queues"].items()}
        refs = {template.USER_POOL: setup.pool_id, template.USER_POOL_CLIENT: outputs["client_id"], **secrets,
                **queues}
        stack = Stack(synthesized.template, refs, recorder, chalice_client(tmp_path_factory))
        fake = FakePaymentProvider()
        serve_fake_stripe(mp, stack, fake)
        receiver = Receiver()
        try:
            Flows(stack, fake, setup, receiver).run()
        finally:
            receiver.close()
            clock.reset()
            fresh_process()
        names = Names(setup.pool_id, {arn: logical for logical, arn in secrets.items()})
        grants = {function: set().union(*(grants_of(s, o, p, names) for s, o, p in calls))
                  for function, calls in recorder.calls.items()}
    if os.environ.get("LEAST_PRIVILEGE_DUMP"):
        Path(os.environ["LEAST_PRIVILEGE_DUMP"]).write_text(json.dumps(
            {f: sorted(f"{a} {r}" for a, r in g) for f, g in grants.items()}, indent=1))
    return {"grants": grants, "calls": recorder.calls, "provider_errors": stack.provider_errors,
            "environments": stack.environments}


def consumed_queues() -> dict[str, set[Grant]]:
    """Lambda's event source mapping polls, deletes and reads attributes with the role of the
    function it feeds: the SQS handlers of app.py, and the queue each reads."""
    from chalice.app import SQSEventConfig

    from app import app
    from chalicelib.core.config import queue_name

    queues = {queue_name(q): template.queue_id(q) for q in resources.QUEUES}
    return {source.name: {(action, Resource("queue", queues[source.queue])) for action in permissions.CONSUME}
            for source in app.event_sources if isinstance(source, SQSEventConfig)}


def needed(derived) -> dict[str, set[Grant]]:
    """What each function's code used, plus what its event source mapping uses."""
    out = defaultdict(set, {f: set(g) for f, g in derived["grants"].items()})
    for function, grants in consumed_queues().items():
        out[function] |= grants
    return out


def prod_stage() -> permissions.StageConfig:
    config = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    env = {**config.get("environment_variables", {}), **config["stages"]["prod"]["environment_variables"]}
    return permissions.StageConfig.from_environment(env)


def declared(function: str) -> set[Grant]:
    return set(permissions.grants(permissions.needs()[function], prod_stage()))


def role_policy(synthesized, function: str) -> dict[str, Any]:
    (function_id,) = [i for i, f in postprocess.functions(synthesized.template)
                      if postprocess.function_name(f) == function]
    role_id = synthesized.resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    (policy,) = synthesized.resources[role_id]["Properties"]["Policies"]
    return policy["PolicyDocument"]


def readable(grants: set[Grant]) -> list[str]:
    return sorted(f"{action} on {resource}" for action, resource in grants)


# ---------------------------------------------------------------------------------------------
# Tests


def test_every_function_of_the_app_was_exercised(derived, synthesized):
    functions = {postprocess.function_name(f) for _, f in postprocess.functions(synthesized.template)}
    assert functions == set(permissions.needs())
    assert {f for f, calls in derived["calls"].items() if calls} == functions


def test_each_role_allows_exactly_what_infra_permissions_declares_for_its_function(synthesized):
    for function in permissions.needs():
        assert permissions.expand(role_policy(synthesized, function)) == permissions.expand(
            permissions.policy(declared(function))), function


def test_no_role_allows_more_than_its_function_uses(derived):
    excess = {}
    for function in permissions.needs():
        extra = {(action, resource) for action, resource in declared(function) - needed(derived)[function]
                 if (function, action, str(resource)) not in NOT_EXERCISED}
        if extra:
            excess[function] = readable(extra)
    assert not excess, f"granted, never used by the flows (remove, or list in NOT_EXERCISED): {excess}"


def test_no_function_uses_more_than_its_role_allows(derived):
    missing = {function: readable(needed(derived)[function] - declared(function)) for function in permissions.needs()}
    missing = {f: grants for f, grants in missing.items() if grants}
    assert not missing, f"used by the code, not granted (declare them in infra.permissions.needs): {missing}"


def test_each_grant_kept_without_a_flow_is_declared_and_really_not_exercised(derived):
    for (function, action, resource), reason in NOT_EXERCISED.items():
        assert reason.strip(), (function, action, resource)
        assert f"{action} on {resource}" in readable(declared(function)), (function, action, resource)
        assert f"{action} on {resource}" not in readable(needed(derived)[function]), (
            f"{function}: {action} on {resource} is exercised now: drop it from NOT_EXERCISED")


def test_the_deployed_functions_read_exactly_the_secrets_they_are_given(derived):
    """Every function that reads a secret found it through the variable the template sets (the
    secret's ARN), and only functions given a secret read it."""
    assert derived["provider_errors"] == []
    for function, needs in permissions.needs().items():
        read = {r.id for a, r in derived["grants"].get(function, ()) if a == READ_SECRET}
        assert read == set(needs.secrets), function
        given = {v for k, v in derived["environments"][function].items() if k.endswith("_SECRET_ID")}
        assert len(given) == len(needs.secrets), function


def test_the_local_payment_provider_uses_only_its_own_table(aws_env):
    """On stages with the local provider (not prod), every function that pays also gets the
    provider's table: exactly what LocalProvider does to it."""
    from chalicelib.booking.payments.local import LocalProvider

    recorder = Recorder()
    provider = LocalProvider()
    with recorder.installed(), recorder.as_function("provider"):
        payment = provider.create(amount=5000, currency="EUR", idempotency_key="lp-1", metadata={"booking_id": "b"})
        provider.confirm(payment, payment_method="tok_visa", idempotency_key="lp-2")
        provider.capture(payment, amount=5000, idempotency_key="lp-3")
        refund = provider.refund(payment, amount=1000, idempotency_key="lp-4")
        provider.retrieve(payment)
        provider.retrieve_refund(refund.refund_id)
        other = provider.create(amount=100, currency="EUR", idempotency_key="lp-5", metadata={"booking_id": "c"})
        provider.void(other, idempotency_key="lp-6")
    names = Names(aws_env["user_pool_id"], {})
    used = set().union(*(grants_of(s, o, p, names) for s, o, p in recorder.calls["provider"]))
    declared = {(action, Resource("table", template.table_id(model)))
                for model, actions in permissions._provider_tables().items() for action in actions}
    assert used == declared
