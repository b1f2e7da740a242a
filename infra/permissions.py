"""What each Lambda function may do in AWS, declared once, and the IAM policy of its own role.

`needs()` is the one place that says, per function (Chalice's names, as in .chalice/config.json's
"lambda_functions"), which tables it reads and writes and with which DynamoDB actions, which
indexes it queries, which queues it sends to (a dead-letter queue too, when the code itself
dead-letters a message) and which one it consumes, whether it sends email,
which Cognito admin calls it makes and which secrets it reads. `policy()` turns that into the
IAM policy of the function's role (infra.postprocess gives every function a role of its own);
tests/infra/test_least_privilege.py runs every entry point under the emulator, records each AWS
call it makes and fails when a role grants more than the code uses, or less.

A few grants depend on the stage's configuration (its environment in .chalice/config.json):
the local payment provider keeps its payments in a table of its own (Stripe keeps them at
Stripe), stages that confirm sign-ups themselves call AdminConfirmSignUp, and email is sent
from the stage's sender address.

IAM evaluates a TransactWriteItems per item (PutItem, UpdateItem, DeleteItem,
ConditionCheckItem on each item's table) and a Query on an index against the index's ARN, so
that is how the actions below are written. Logs are not here: each function writes to its own
log group, granted next to that log group (infra.template.function_log_resources).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.template import (CURSOR_SECRET, STRIPE_API_KEY_SECRET, STRIPE_WEBHOOK_SECRET, USER_POOL,
                            dead_letter_queue_id, queue_id, table_id)

# DynamoDB, as IAM names the actions (transactions included: see the module docstring).
GET, BATCH_GET, QUERY = "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"
PUT, UPDATE, DELETE = "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"
CONDITION_CHECK, DESCRIBE = "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"
# SQS: what the code does to send, and what Lambda's event source mapping does with the role of
# the function it feeds (poll, delete what succeeded, read the queue's attributes).
SEND, GET_QUEUE_URL = "sqs:SendMessage", "sqs:GetQueueUrl"
CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
SEND_EMAIL = "ses:SendEmail"
READ_SECRET = "secretsmanager:GetSecretValue"
COGNITO = "cognito-idp:"

# Chalice's name of the REST API's function; the others are named after their handler.
API_FUNCTION = "api_handler"

# A Chalice role's policy before infra.postprocess replaces the role: it allows nothing, so a
# function left with it fails closed (and template_problems refuses such a template anyway).
CHALICE_ROLE_POLICY = {"Version": "2012-10-17",
                       "Statement": [{"Sid": "ReplacedByInfraPostprocess", "Effect": "Deny",
                                      "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class StageConfig:
    """What of a stage's environment changes its functions' permissions."""
    payment_provider: str
    auto_confirm_signups: bool
    sender_email: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "StageConfig":
        """Read as chalicelib.core.config.settings() reads them (its defaults: a test checks)."""
        stage = env.get("ITINERA_STAGE", "local")
        return cls(
            payment_provider=env.get("ITINERA_PAYMENT_PROVIDER", "local"),
            auto_confirm_signups=env.get("ITINERA_AUTO_CONFIRM", "true" if stage == "local" else "false") == "true",
            sender_email=env.get("ITINERA_SENDER_EMAIL", "bookings@itinera.example"))


@dataclass(frozen=True)
class Resource:
    """What a grant is on, by the logical id of the template's resource (or an SES identity)."""
    kind: str  # table, index, queue, user-pool, secret, ses-identity
    id: str
    index: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" + (f"/index/{self.index}" if self.index else "")


Grant = tuple[str, Resource]  # (IAM action, resource)


@dataclass(frozen=True)
class Needs:
    """What one function does in AWS. Tables and indexes by model class."""
    tables: Mapping[Any, tuple[str, ...]] = field(default_factory=dict)  # model -> DynamoDB actions
    indexes: Mapping[Any, tuple[str, ...]] = field(default_factory=dict)  # model -> index names it queries
    sends_to: tuple[str, ...] = ()  # queues (logical names) it sends messages to
    # Queues (logical names) whose dead-letter queue it sends to itself (not by a redrive policy).
    dead_letters_to: tuple[str, ...] = ()
    consumes: str | None = None  # the queue its SQS event source reads
    sends_email: bool = False
    user_pool: tuple[str, ...] = ()  # Cognito admin actions (public calls like SignUp need none)
    # Confirms sign-ups itself (AdminConfirmSignUp) on stages configured to (the local one).
    confirms_signups: bool = False
    secrets: tuple[str, ...] = ()  # logical ids of the secrets it reads
    # Calls the payment provider: with the local provider, that is the provider's table too.
    pays: bool = False


def _provider_tables() -> dict[Any, tuple[str, ...]]:
    """What LocalProvider does to its own table (requests, payments and refunds share it)."""
    from chalicelib.booking.payments.models import LocalPayment

    return {LocalPayment: (GET, PUT, UPDATE)}


def needs() -> dict[str, Needs]:
    """Every function of app.py and what it needs; derived and checked by the least-privilege test."""
    from chalicelib.booking import models as booking
    from chalicelib.booking.payments.models import StripeEvent
    from chalicelib.core.models import IdempotencyRecord
    from chalicelib.core.queues import (CANCELLATIONS, CONFIRMATIONS, NOTIFICATIONS, RECOMMENDATIONS, WAITLIST,
                                        WEBHOOKS)
    from chalicelib.core.rate_limits import AttemptCounter
    from chalicelib.inventory import models as inventory
    from chalicelib.notify import models as notify
    from chalicelib.promotions import models as promos
    from chalicelib.recommendations import models as reco
    from chalicelib.reviews import models as reviews
    from chalicelib.support import models as support
    from chalicelib.waitlist import models as waitlist

    # A booking changes state in one transaction (lifecycle): the booking, its ledger entry, the
    # units of each (listing, date); every function that moves a booking does all three.
    # The change's vendor webhook events (notify.webhooks' outbox) are put in that transaction
    # too, by it and by a refund's record (refunds._record); their queue message follows it.
    transitions = {booking.Booking: (GET, UPDATE), booking.LedgerEntry: (PUT,),
                   inventory.AvailabilityDay: (UPDATE,), notify.WebhookEvent: (PUT,)}
    # A hold that ends unconfirmed (failed, expired) gives its promotion use back in that same
    # transaction; a confirmed booking keeps it, so the cancellation worker never does.
    promotion_given_back = {promos.Promotion: (UPDATE,), promos.PromotionUse: (UPDATE,)}
    # A hold placed for a waiting traveler: what POST /holds writes (holds._transaction), the
    # quote it reads, and the entry's own claim and offer.
    waitlist_offers = {inventory.Listing: (BATCH_GET, CONDITION_CHECK), inventory.AvailabilityDay: (BATCH_GET, UPDATE),
                       # GetItem: a replayed offer's booking, to see whether it lapsed before it was marked
                       booking.Booking: (GET, PUT), booking.BookingReference: (PUT,), booking.VendorBooking: (PUT,),
                       booking.ActiveHolds: (UPDATE,), IdempotencyRecord: (GET, PUT), AttemptCounter: (UPDATE,),
                       waitlist.WaitlistEntry: (GET, UPDATE), waitlist.WaitlistSlot: (UPDATE, DELETE)}
    # Settling a booking voids the payment attempts it did not keep (payment_cleanup).
    unkept_payments = {booking.PaymentAttempt: (QUERY, UPDATE)}
    # A refund that fails at the provider after it was recorded opens a case for the agents.
    system_cases = {support.SupportCase: (PUT,), support.SupportMessage: (PUT,)}
    return {
        API_FUNCTION: Needs(
            tables={
                booking.Booking: (GET, BATCH_GET, PUT, UPDATE, CONDITION_CHECK),
                booking.BookingReference: (GET, PUT),
                booking.VendorBooking: (PUT, QUERY),
                booking.ActiveHolds: (UPDATE,),
                booking.LedgerEntry: (PUT, QUERY),
                booking.AuditEntry: (PUT, QUERY),
                booking.PaymentAttempt: (PUT, QUERY, UPDATE),
                booking.RefundRecord: (GET, PUT, UPDATE),
                inventory.Vendor: (PUT,),
                inventory.Listing: (GET, BATCH_GET, PUT, UPDATE, CONDITION_CHECK),
                # DeleteItem: an availability update that fails half-way takes the dates it
                # had just put on sale off again.
                inventory.AvailabilityDay: (BATCH_GET, QUERY, UPDATE, DELETE),
                support.SupportCase: (GET, PUT, UPDATE),
                support.SupportMessage: (PUT, QUERY),
                IdempotencyRecord: (GET, PUT, DESCRIBE),  # DescribeTable: /health's probe
                AttemptCounter: (UPDATE,),
                StripeEvent: (GET, PUT),
                # A vendor's webhook: set (created, or its URL changed), read, rotated, removed.
                notify.WebhookEndpoint: (GET, PUT, UPDATE, DELETE),
                notify.WebhookEvent: (PUT,),  # hold cancellations and agents' refunds (transitions)
                # Places autocomplete: a query (a few when old entries fill a page); an availability
                # update reads the index entries of its places and extends those behind.
                inventory.PlaceEntry: (QUERY, BATCH_GET, UPDATE),
                # A review: its per-booking id first (one per booking), then both with the
                # listing's rating in one transaction that checks the booking is still confirmed.
                reviews.Review: (GET, PUT, QUERY, UPDATE),
                reviews.ReviewRef: (GET, PUT),
                # Recommendations: the traveler's history, co-bookings and popular listings (newest
                # or most-counted first), their profile (searched places, the weekly-email choice).
                reco.Profile: (GET, UPDATE), reco.History: (BATCH_GET,),
                # Promotions: created (a retried create reads the first), listed by owner; a hold
                # reads its code, then counts the use and the traveler's use in its transaction.
                promos.Promotion: (GET, PUT, UPDATE), promos.PromotionUse: (UPDATE,),
                # The waitlist: joined and left in one transaction with the traveler's slots (one
                # entry per listing and dates, a cap on active ones); listed by traveler.
                waitlist.WaitlistEntry: (GET, PUT, UPDATE), waitlist.WaitlistSlot: (GET, PUT, UPDATE, DELETE),
            },
            indexes={booking.Booking: ("by-traveler", "by-contact-email"),
                     booking.RefundRecord: ("refunds-by-provider-id",),
                     inventory.Vendor: ("directory",), inventory.Listing: ("by-vendor", "by-rating"),
                     inventory.AvailabilityDay: ("by-search-price",),
                     support.SupportCase: ("by-status-waiting", "by-traveler"),
                     notify.WebhookEvent: ("by-vendor",),  # the deliveries list
                     reco.History: ("by-recency",), reco.CoBooking: ("by-count",),
                     reco.Popularity: ("by-count",), promos.Promotion: ("by-owner",),
                     waitlist.WaitlistEntry: ("by-traveler",)},
            # Webhooks: the events of a change, and a vendor's replay (the worker does it).
            sends_to=(CONFIRMATIONS, CANCELLATIONS, NOTIFICATIONS, WEBHOOKS, WAITLIST),  # + freed units
            user_pool=("AdminAddUserToGroup", "AdminGetUser", "AdminCreateUser",
                       "AdminDeleteUser"),  # AdminDeleteUser: a vendor onboarding that failed half-way
            confirms_signups=True,
            secrets=(CURSOR_SECRET, STRIPE_API_KEY_SECRET, STRIPE_WEBHOOK_SECRET),
            pays=True),
        "confirm_bookings": Needs(
            tables={**transitions, **unkept_payments, **promotion_given_back},
            sends_to=(NOTIFICATIONS, WEBHOOKS, RECOMMENDATIONS, WAITLIST),  # + counts, units freed by failures
            consumes=CONFIRMATIONS,
            secrets=(STRIPE_API_KEY_SECRET,),
            pays=True),
        "cancel_bookings": Needs(
            # A refund Stripe reports pending gets a record to follow it (refunds.settle_pending).
            tables={**transitions, booking.RefundRecord: (PUT,)},
            sends_to=(NOTIFICATIONS, WEBHOOKS, WAITLIST),  # + the cancelled units, to the waitlist
            consumes=CANCELLATIONS,
            secrets=(STRIPE_API_KEY_SECRET,),
            pays=True),
        "send_notifications": Needs(
            tables={booking.Booking: (GET, UPDATE),  # the booking's email, then marked sent
                    support.SupportCase: (GET, UPDATE), support.SupportMessage: (QUERY,)},
            consumes=NOTIFICATIONS,
            sends_email=True),
        "sweep_bookings": Needs(
            tables={**transitions, **unkept_payments, **system_cases, **promotion_given_back,
                    booking.ActiveHolds: (UPDATE,),  # an expired hold is no longer active
                    # Resumed refunds; a settled cancellation's refund that pends gets a record.
                    booking.RefundRecord: (GET, PUT, UPDATE),
                    booking.AuditEntry: (PUT,),  # a resumed refund the provider refuses is audited
                    # A resumed refund records the agent's answer, or reads it when the agent's
                    # retry recorded the refund first.
                    IdempotencyRecord: (GET, PUT)},
            indexes={booking.Booking: ("pending-by-deadline",),
                     booking.RefundRecord: ("refunds-pending", "refunds-by-provider-id")},
            sends_to=(CONFIRMATIONS, CANCELLATIONS, NOTIFICATIONS, WEBHOOKS, RECOMMENDATIONS, WAITLIST),
            secrets=(STRIPE_API_KEY_SECRET,),
            pays=True),
        # A confirmed booking joins its traveler's history, the co-bookings and the popular counts,
        # each listing once (a marker per booking and listing, in the same transaction).
        "count_cobookings": Needs(
            tables={booking.Booking: (GET,), inventory.Listing: (BATCH_GET,),
                    reco.History: (BATCH_GET, PUT, UPDATE), reco.Counted: (PUT,),
                    reco.Popularity: (UPDATE,), reco.CoBooking: (UPDATE,)},
            indexes={reco.History: ("by-recency",)},
            consumes=RECOMMENDATIONS),
        # The weekly picks: the opted-in travelers (a sparse index), each claimed and marked for
        # the week, their recommendations read as the API reads them, one email each.
        "email_recommendations": Needs(
            tables={reco.Profile: (GET, UPDATE), reco.History: (BATCH_GET,), inventory.Listing: (BATCH_GET,),
                    inventory.AvailabilityDay: (BATCH_GET,)},
            indexes={reco.Profile: ("weekly-opted-in",), reco.History: ("by-recency",),
                     reco.CoBooking: ("by-count",), reco.Popularity: ("by-count",),
                     booking.Booking: ("by-traveler",)},
            sends_email=True),
        # Offering freed units: the line of a listing (oldest first), each entry claimed, its hold
        # placed as POST /holds places one (idempotent per entry), the email queued, the entry
        # marked offered with the traveler's slots in one transaction.
        "match_waitlist": Needs(
            tables={**waitlist_offers},
            indexes={waitlist.WaitlistEntry: ("waiting-by-listing",)},
            sends_to=(NOTIFICATIONS,),
            consumes=WAITLIST),
        # The safety net: listings with a line (a sparse sharded index), offered as above; entries
        # whose dates have passed expire.
        "sweep_waitlist": Needs(
            tables={**waitlist_offers},
            indexes={waitlist.WaitlistEntry: ("waiting-by-listing", "waiting-by-shard")},
            sends_to=(NOTIFICATIONS,)),
        "deliver_webhooks": Needs(
            # A stream's waiting events (a consistent query of the table), each attempt claimed
            # and its result recorded by conditional updates; the vendor's endpoint and secrets.
            # A replay puts the vendor's events (by-vendor) back to pending.
            tables={notify.WebhookEvent: (QUERY, UPDATE), notify.WebhookEndpoint: (GET,)},
            indexes={notify.WebhookEvent: ("by-vendor",)},
            sends_to=(WEBHOOKS,),  # delayed retries, streams handed on, a replay's next page
            dead_letters_to=(WEBHOOKS,),  # an event given up: its DLQ alarm tells the operators
            consumes=WEBHOOKS),
        "relay_webhooks": Needs(
            indexes={notify.WebhookEvent: ("by-due",)},  # overdue events, keys only
            sends_to=(WEBHOOKS,)),
    }


def grants(function_needs: Needs, stage: StageConfig) -> frozenset[Grant]:
    """The (action, resource) pairs a function's role allows."""
    tables = dict(function_needs.tables)
    if function_needs.pays and stage.payment_provider == "local":
        for model, actions in _provider_tables().items():
            tables[model] = tuple(sorted(set(tables.get(model, ())) | set(actions)))
    out: set[Grant] = set()
    for model, actions in tables.items():
        out.update((action, Resource("table", table_id(model))) for action in actions)
    for model, indexes in function_needs.indexes.items():
        out.update((QUERY, Resource("index", table_id(model), index)) for index in indexes)
    for queue in function_needs.sends_to:
        # No GetQueueUrl: the function is given the URL (infra.template.function_environment).
        out.add((SEND, Resource("queue", queue_id(queue))))
    for queue in function_needs.dead_letters_to:
        out.update((action, Resource("queue", dead_letter_queue_id(queue))) for action in (GET_QUEUE_URL, SEND))
    if function_needs.consumes:
        out.update((action, Resource("queue", queue_id(function_needs.consumes))) for action in CONSUME)
    if function_needs.sends_email:
        out.update((SEND_EMAIL, Resource("ses-identity", identity)) for identity in sender_identities(stage))
    user_pool = set(function_needs.user_pool)
    if function_needs.confirms_signups and stage.auto_confirm_signups:
        user_pool.add("AdminConfirmSignUp")
    out.update((COGNITO + action, Resource("user-pool", USER_POOL)) for action in user_pool)
    out.update((READ_SECRET, Resource("secret", secret)) for secret in function_needs.secrets)
    return frozenset(out)


def sender_identities(stage: StageConfig) -> tuple[str, str]:
    """SES authorizes a send against the identity that verified the sender: the address itself,
    or its domain when only the domain is verified (the usual production setup)."""
    return stage.sender_email, stage.sender_email.rsplit("@", 1)[-1]


def resource_arn(resource: Resource) -> Any:
    """The resource's ARN in the template (Fn::GetAtt, Ref or Fn::Sub)."""
    if resource.kind == "index":
        return {"Fn::Sub": "${%s.Arn}/index/%s" % (resource.id, resource.index)}
    if resource.kind == "secret":
        return {"Ref": resource.id}  # a secret's Ref is its ARN
    if resource.kind == "ses-identity":
        return {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/" + resource.id}
    return {"Fn::GetAtt": [resource.id, "Arn"]}


def policy(function_grants: Iterable[Grant]) -> dict[str, Any]:
    """An IAM policy allowing exactly `function_grants`: one statement per set of actions, with
    every resource that gets exactly that set (so no statement allows an action on a resource
    that was not granted it)."""
    by_resource: dict[Resource, set[str]] = defaultdict(set)
    for action, resource in function_grants:
        by_resource[resource].add(action)
    by_actions: dict[tuple[str, ...], list[Resource]] = defaultdict(list)
    for resource, actions in by_resource.items():
        by_actions[tuple(sorted(actions))].append(resource)
    statements = []
    for number, (actions, resources) in enumerate(sorted(by_actions.items()), start=1):
        statements.append({"Sid": f"Grant{number}", "Effect": "Allow", "Action": list(actions),
                           "Resource": [resource_arn(r) for r in sorted(resources, key=str)]})
    return {"Version": "2012-10-17", "Statement": statements}


def expand(policy_document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(action, resource as JSON) for every pair an Allow policy's statements allow."""
    pairs = set()
    for statement in policy_document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        pairs.update((a, json.dumps(r, sort_keys=True)) for a in actions for r in resources)
    return pairs
