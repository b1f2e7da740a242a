"""The CloudFormation resources of a stage, generated from infra.resources (pure, no I/O).

`merge_template(stage)` is what `chalice package --merge-template` merges into the template
Chalice generates: every table (from the PynamoDB models) with an alarm on its throttled
requests, every queue with its dead-letter queue and an alarm on it, the Cognito user pool with
its groups and app client, the secrets, and the REST API's name, throttling and API Gateway's
own error answers (unknown route, throttling, ...) in our error shape, merged into the REST
API's definition. Chalice's own resources (functions, roles, the REST API) are adjusted after
packaging by `complete_template`, through infra.postprocess, because their names are Chalice's
to choose: each function gets a role of its own (infra.permissions), its environment, a log
group and alarms on its errors and throttles; the API stage an alarm on its 5xx rate.

Physical names come from chalicelib.core.config (`table_name`, `queue_name`), the functions the
application itself uses at run time, so the template and the code cannot disagree.

Memory, timeout and architecture of each function are Chalice's settings, in
.chalice/config.json (so `chalice` itself agrees); JSON has no comments, so FUNCTION_SIZING
below says what each function gets and why, and a test checks config.json against it.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

from chalicelib.core import config
from chalicelib.core.queues import url_variable
from infra import resources

# Logical ids of the resources other parts of the template (and the tests) refer to.
REST_API = "RestAPI"  # Chalice's name for the API Gateway REST API
USER_POOL = "UserPool"
USER_POOL_CLIENT = "UserPoolClient"
ALARM_TOPIC = "OperationsAlarmTopic"
CURSOR_SECRET = "CursorSecret"
STRIPE_API_KEY_SECRET = "StripeApiKeySecret"
STRIPE_WEBHOOK_SECRET = "StripeWebhookSecret"
API_ERROR_ALARM = "ApiServerErrorRateAlarm"
# The stage that runs on the developer's machine (tools.stack), never deployed: no web app stack.
LOCAL_STAGE = config.LOCAL_STAGE

# The environment every function gets on top of .chalice/config.json's (see infra.postprocess).
FUNCTION_ENVIRONMENT: dict[str, Any] = {
    "ITINERA_USER_POOL_ID": {"Ref": USER_POOL},
    "ITINERA_USER_POOL_CLIENT_ID": {"Ref": USER_POOL_CLIENT},
}

# Secret -> the variable that gives a function which reads it the secret's ARN (its Ref), never
# the value: the function reads the value at run time (chalicelib.core.secrets), so no key is in
# the template, in config.json or in the function's configuration, where the console shows it.
# Which function reads which secret is infra.permissions' `needs()`.
SECRET_VARIABLES: dict[str, str] = {
    CURSOR_SECRET: "ITINERA_CURSOR_SECRET_ID",  # signs pagination cursors (the API)
    STRIPE_API_KEY_SECRET: "ITINERA_STRIPE_API_KEY_SECRET_ID",  # every caller of the payment provider
    STRIPE_WEBHOOK_SECRET: "ITINERA_STRIPE_WEBHOOK_SECRET_ID",  # verifies Stripe's webhooks (the API)
}

# Memory (MB), timeout (s) and why, per function (Chalice's names). .chalice/config.json holds
# the values ("lambda_functions"); a test checks they are these. Lambda gives CPU in proportion
# to memory, one full vCPU at 1769 MB: at Chalice's default of 128 MB a function gets about 7%
# of one, and importing app.py (pydantic models, PynamoDB, Powertools: about 1.7 s on a full
# core here) takes seconds at every cold start (DESIGN pitfall 13). All run on arm64
# (Graviton: about 20% cheaper per GB-second than x86_64, and every dependency ships an
# aarch64 wheel for cp311: infra.dependencies builds the package for the configured one).
FUNCTION_SIZING: dict[str, tuple[int, int, str]] = {
    "api_handler": (1769, 29, "latency-facing: every cold start is a request that waits, so one "
                              "full vCPU (Python runs a request on one thread: more memory buys no "
                              "speed); 29 s is when API Gateway stops waiting, work past it answers "
                              "nobody"),
    "confirm_bookings": (1024, 30, "a batch of 10 provider captures: mostly waiting on Stripe, but "
                                   "the cold start also imports the stripe library and shakes hands "
                                   "over TLS, and a traveler waits for the confirmation; 30 s is the "
                                   "queue's visibility timeout (Lambda refuses longer)"),
    "cancel_bookings": (1024, 30, "as confirm_bookings: a batch of 10 provider refunds or voids"),
    "send_notifications": (512, 30, "one SES call per message and small templates: nobody waits "
                                    "on it, half a vCPU keeps its cold start within a few seconds"),
    "sweep_bookings": (512, 50, "runs every minute, so it is nearly always warm, and mostly waits on "
                                "DynamoDB queries of empty indexes; 50 s ends a run before the next "
                                "minute's starts (overlapping runs are safe, every change is conditional)"),
    "deliver_webhooks": (512, 30, "a batch of 2 messages, each a few POSTs to vendors' servers of up to "
                                  "5 s: nearly all waiting on their answers (signing is one HMAC per "
                                  "secret), and nobody waits on it as on the API; 512 MB (some 30% of a "
                                  "vCPU) keeps the cold start (app.py, urllib3, TLS) to about 6 s, "
                                  "within Lambda's 10 s init phase; 30 s is the queue's "
                                  "visibility timeout (Lambda refuses longer): the worker hands a stream "
                                  "on to a new message when less than an attempt's time is left"),
    "relay_webhooks": (512, 30, "small: every minute (nearly always warm), four keys-only queries of "
                                "a sparse index and at most 25 sends; the memory is for the cold start "
                                "alone (importing app.py, 1.7 s on a full vCPU, would take some 12 s at "
                                "256 MB, past Lambda's 10 s init phase); 30 s leaves room for "
                                "DynamoDB's retries and ends a stuck run "
                                "long before the next minute's (overlapping runs only send a stream twice, "
                                "and every attempt is claimed conditionally)"),
    "match_waitlist": (1024, 30, "places holds for waiting travelers: the hold path of the API (its "
                                 "validation models and one transaction per entry tried) in a batch of 10 "
                                 "messages; a traveler waits for that hold, so its cold start gets most of "
                                 "a vCPU like the booking workers; 30 s is the queue's visibility timeout"),
    "sweep_waitlist": (512, 50, "the waitlist's safety net, every minute (nearly always warm): a few "
                                "queries of a sparse index, and holds only where a message was lost; "
                                "50 s ends a run before the next minute's (every offer is conditional)"),
    "count_cobookings": (512, 30, "one small transaction of counter updates per confirmed booking; nobody "
                                  "waits on it, so half a vCPU for the cold start is enough; 30 s is the "
                                  "queue's visibility timeout"),
    "email_recommendations": (512, 600, "daily: pages through the opted-in travelers not yet emailed "
                                        "this week, a few reads and one SES call each; mostly waiting on "
                                        "DynamoDB and SES, so memory buys little; a run stops starting "
                                        "travelers near its 10 minutes and the next day's run goes on"),
}
LAMBDA_ARCHITECTURE = "arm64"
# How long each function's log group keeps its logs: a month covers an incident's investigation
# and the dead-letter queues' 14 days; longer keeps (masked) personal data and costs for nothing.
LOG_RETENTION_DAYS = 30

# API Gateway's stage-wide limit (every method and path), far below the account's regional
# default (10,000 requests/s shared by every API of the account): a ceiling that protects the
# account, not a per-client limit (core.rate_limits limits each traveler's holds and payments).
# 100 requests/s at about 0.3 s each is some 30 concurrent API functions, leaving most of the
# account's default 1,000 to the workers and other stacks, and it keeps payments (two Stripe
# calls each) well under Stripe's live-mode limit of 100 operations/s. The burst of 200 lets a
# page that fans out a few requests per visitor through when many arrive at once.
API_THROTTLING_RATE_LIMIT = 100
API_THROTTLING_BURST_LIMIT = 200
# The API alarm: more than 1% of the stage's requests answered with a 5xx over 5 minutes.
API_ERROR_RATE_THRESHOLD = 0.01
ALARM_PERIOD_SECONDS = 300


@contextmanager
def _as_stage(stage: str) -> Iterator[None]:
    """Evaluate config's naming functions for `stage` (they read ITINERA_STAGE at call time)."""
    previous = os.environ.get("ITINERA_STAGE")
    os.environ["ITINERA_STAGE"] = stage
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ITINERA_STAGE", None)
        else:
            os.environ["ITINERA_STAGE"] = previous


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def logical_table_name(model: type[Model]) -> str:
    """`idempotency` for `itinera-<stage>-idempotency`, the stage being the one at import time."""
    prefix = config.table_name("")
    name = model.Meta.table_name
    if not name.startswith(prefix):
        raise ValueError(f"{model.__name__}.Meta.table_name {name!r} does not come from "
                         f"config.table_name() (expected the prefix {prefix!r})")
    return name[len(prefix):]


def table_id(model: type[Model]) -> str:
    return _camel(logical_table_name(model)) + "Table"


def queue_id(name: str) -> str:
    return _camel(name) + "Queue"


def dead_letter_queue_id(name: str) -> str:
    return _camel(name) + "DeadLetterQueue"


def dead_letter_alarm_id(name: str) -> str:
    return _camel(name) + "DeadLetterAlarm"


def _key_schema(elements: list[dict[str, str]]) -> list[dict[str, str]]:
    """HASH first, then RANGE, as DynamoDB requires (PynamoDB lists attributes by name)."""
    return sorted(elements, key=lambda e: e["KeyType"] != "HASH")


def _index(schema: dict[str, Any]) -> dict[str, Any]:
    projection = {"ProjectionType": schema["projection"]["ProjectionType"]}
    if schema["projection"].get("NonKeyAttributes"):
        projection["NonKeyAttributes"] = list(schema["projection"]["NonKeyAttributes"])
    return {"IndexName": schema["index_name"], "KeySchema": _key_schema(schema["key_schema"]),
            "Projection": projection}


def table_resource(model: type[Model], stage: str) -> dict[str, Any]:
    """An on-demand AWS::DynamoDB::Table with the model's keys, indexes and TTL attribute."""
    schema = model._get_schema()
    logical = logical_table_name(model)
    with _as_stage(stage):
        physical = config.table_name(logical)
    properties: dict[str, Any] = {
        "TableName": physical,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": list(schema["attribute_definitions"]),
        "KeySchema": _key_schema(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if schema["global_secondary_indexes"]:
        properties["GlobalSecondaryIndexes"] = [_index(i) for i in schema["global_secondary_indexes"]]
    if schema["local_secondary_indexes"]:
        properties["LocalSecondaryIndexes"] = [_index(i) for i in schema["local_secondary_indexes"]]
    ttl = [attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)]
    if ttl:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl[0], "Enabled": True}
    # Bookings and money live here: a stack deletion or replacement must not take them along.
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain", "Properties": properties}


# cfn-lint rules a resource is exempt from, and why (tests/infra/test_template.py runs cfn-lint
# with the serverless rules and checks that these are the only exemptions in the template).
# A dead-letter queue is where messages end: they wait there for an operator's redrive (its alarm
# fires at the first one); a redrive policy of its own would move them out of sight. (The rule
# exempts dead-letter queues only when RedrivePolicy is written as a string.)
DEAD_LETTER_QUEUE_EXEMPTION = ("ES6000",)
# A schedule's event carries nothing to keep: a failed sweep is repeated by the next minute's
# run and reported by the function's Errors alarm; a dead-letter queue or an on-failure
# destination would only collect empty events.
SCHEDULE_EXEMPTION = ("ES4000", "ES1007")


def lint_exemption(rules: tuple[str, ...]) -> dict[str, Any]:
    """A resource's Metadata telling cfn-lint to skip `rules` for it alone."""
    return {"cfn-lint": {"config": {"ignore_checks": list(rules)}}}


def _queue_properties(attributes: dict[str, str]) -> dict[str, Any]:
    """SetQueueAttributes names are CloudFormation property names; numbers become numbers."""
    return {key: int(value) if str(value).isdigit() else value for key, value in attributes.items()}


def queue_resources(name: str, stage: str) -> dict[str, dict[str, Any]]:
    """The queue, its dead-letter queue, and an alarm as soon as anything is dead-lettered."""
    with _as_stage(stage):
        physical, physical_dlq = config.queue_name(name), config.queue_name(f"{name}-dlq")
    dlq = dead_letter_queue_id(name)
    queue_props = {
        "QueueName": physical,
        **_queue_properties(resources.QUEUE_ATTRIBUTES),
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                          "maxReceiveCount": resources.DLQ_MAX_RECEIVE_COUNT},
    }
    return {
        dlq: {"Type": "AWS::SQS::Queue", "Metadata": lint_exemption(DEAD_LETTER_QUEUE_EXEMPTION),
              "Properties": {"QueueName": physical_dlq,
                             "MessageRetentionPeriod": resources.DLQ_RETENTION_SECONDS}},
        queue_id(name): {"Type": "AWS::SQS::Queue", "Properties": queue_props},
        dead_letter_alarm_id(name): _alarm(
            f"{physical_dlq}-not-empty",
            f"Messages of {physical} failed {resources.DLQ_MAX_RECEIVE_COUNT} times and were dead-lettered: "
            "inspect and redrive them.",
            namespace="AWS/SQS", metric="ApproximateNumberOfMessagesVisible",
            dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}],
            statistic="Maximum", period=60),
    }


def _alarm(name: str, description: str, *, namespace: str, metric: str, dimensions: list[dict[str, Any]],
           statistic: str, period: int, threshold: float = 0) -> dict[str, Any]:
    """An alarm to the operations topic as soon as the metric is above `threshold` (by default:
    above zero) in one period. No data (no traffic) is not a breach."""
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
        "Dimensions": dimensions, "Statistic": statistic, "Period": period, "EvaluationPeriods": 1,
        "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}]}}


def _sum_alarm(name: str, description: str, *, namespace: str,
               metrics: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """An alarm as soon as the sum of several metrics ((name, dimensions), Sum over
    ALARM_PERIOD_SECONDS) is above zero. Missing data points count as zero (FILL): a metric
    with no data in the period (nothing throttled) neither hides the others nor alarms."""
    queries: list[dict[str, Any]] = [
        {"Id": f"m{number}", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": ALARM_PERIOD_SECONDS, "Stat": "Sum"}}
        for number, (metric, dimensions) in enumerate(metrics)]
    queries.append({"Id": "total", "Expression": "SUM(FILL(METRICS(), 0))", "Label": description,
                    "ReturnData": True})
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description, "Metrics": queries, "EvaluationPeriods": 1,
        "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}]}}


def table_throttle_alarm_id(model: type[Model]) -> str:
    return table_id(model) + "ThrottleAlarm"


def table_throttle_alarm(model: type[Model], stage: str) -> dict[str, Any]:
    """Requests DynamoDB throttled on the table or any of its global secondary indexes.

    ReadThrottleEvents and WriteThrottleEvents are the metrics DynamoDB reports per TableName
    (ThrottledRequests only per TableName *and* Operation), and per GlobalSecondaryIndexName
    for each index (queries on an index are throttled there, not on the table). On-demand
    tables throttle on a hot partition or a sudden jump past twice the previous peak: either
    means requests were slowed or refused (the API answers them 503).
    """
    logical = logical_table_name(model)  # the model's name, from the stage it was imported with
    with _as_stage(stage):
        physical = config.table_name(logical)
    table = [{"Name": "TableName", "Value": {"Ref": table_id(model)}}]
    metrics = [(metric, table) for metric in ("ReadThrottleEvents", "WriteThrottleEvents")]
    for index in model._get_schema()["global_secondary_indexes"]:
        dimensions = table + [{"Name": "GlobalSecondaryIndexName", "Value": index["index_name"]}]
        metrics += [(metric, dimensions) for metric in ("ReadThrottleEvents", "WriteThrottleEvents")]
    return _sum_alarm(f"{physical}-throttled", f"DynamoDB throttled requests to {physical} (or its indexes).",
                      namespace="AWS/DynamoDB", metrics=metrics)


def function_alarm_ids(function_id: str) -> tuple[str, str]:
    return function_id + "ErrorsAlarm", function_id + "ThrottlesAlarm"


def function_alarms(function_id: str, function_name: str, stage: str) -> dict[str, dict[str, Any]]:
    """A Lambda function's failed invocations (an exception or a timeout: the API turns its own
    errors into answers, so these are crashes; a worker's batch that failed whole) and
    invocations Lambda refused for lack of concurrency, each as soon as there is one."""
    errors, throttles = function_alarm_ids(function_id)
    dimensions = [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    return {
        errors: _alarm(f"itinera-{stage}-{function_name}-errors",
                       f"The {function_name} function failed (an exception or a timeout): see its logs.",
                       namespace="AWS/Lambda", metric="Errors", dimensions=dimensions, statistic="Sum",
                       period=ALARM_PERIOD_SECONDS),
        throttles: _alarm(f"itinera-{stage}-{function_name}-throttles",
                          f"Lambda refused invocations of {function_name} (no concurrency left).",
                          namespace="AWS/Lambda", metric="Throttles", dimensions=dimensions, statistic="Sum",
                          period=ALARM_PERIOD_SECONDS),
    }


def api_error_alarm(stage: str, api_stage: str) -> dict[str, Any]:
    """The share of the API stage's requests answered with a 5xx: API Gateway's 5XXError is 1
    for such a request and 0 for any other, so its Average over a period is the rate."""
    return _alarm(f"itinera-{stage}-api-5xx-rate",
                  f"More than {API_ERROR_RATE_THRESHOLD:.0%} of API requests failed with a 5xx in "
                  f"{ALARM_PERIOD_SECONDS // 60} minutes.",
                  namespace="AWS/ApiGateway", metric="5XXError",
                  dimensions=[{"Name": "ApiName", "Value": api_name(stage)}, {"Name": "Stage", "Value": api_stage}],
                  statistic="Average", period=ALARM_PERIOD_SECONDS, threshold=API_ERROR_RATE_THRESHOLD)


def api_name(stage: str) -> str:
    """The REST API's name, which API Gateway's metrics are reported by (ApiName): one of its
    own per stage, so that two stages in one account do not share metrics."""
    return f"itinera-{stage}"


def function_log_resources(function_id: str, role_id: str) -> dict[str, dict[str, Any]]:
    """The function's log group, kept LOG_RETENTION_DAYS, and the right to write to it only.

    The policy is its own resource, not part of the role: it names the log group, which is
    named after the function, which names the role. The first invocations after the stack is
    created may come before it is attached; their logs are lost, nothing else is.
    """
    log_group = function_id + "LogGroup"
    return {
        log_group: {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": {"Fn::Sub": "/aws/lambda/${%s}" % function_id},
            "RetentionInDays": LOG_RETENTION_DAYS}},
        function_id + "LogsPolicy": {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": function_id + "Logs", "Roles": [{"Ref": role_id}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                # The log group's Arn ends in ":*": its log streams.
                "Resource": {"Fn::GetAtt": [log_group, "Arn"]}}]}}},
    }


# Business metrics that mean something went wrong even though no request failed.
# BookingsSettledBySweeper: a booking's worker never finished and the sweeper had to decide it
# from the provider's state (a stuck queue, a crashing worker, a provider outage).
BUSINESS_ALARMS: dict[str, str] = {
    "BookingsSettledBySweeper": "The sweeper had to settle bookings whose confirmation or "
                                "cancellation worker never finished: check the workers and their queues.",
}


def business_alarm_id(metric: str) -> str:
    return metric + "Alarm"


def business_alarm_resources(stage: str) -> dict[str, dict[str, Any]]:
    """An alarm as soon as any of BUSINESS_ALARMS' metrics (Powertools EMF, namespace and
    `service` dimension as core.observability emits them) is above zero."""
    from chalicelib.core.observability import SERVICE, metrics

    return {business_alarm_id(metric): _alarm(
        f"itinera-{stage}-{metric}", description, namespace=metrics.namespace, metric=metric,
        dimensions=[{"Name": "service", "Value": SERVICE}], statistic="Sum", period=300)
        for metric, description in BUSINESS_ALARMS.items()}


def user_pool_resources(stage: str) -> dict[str, dict[str, Any]]:
    """The pool (sign-in by email), one group per role, and the app's public client."""
    name = resources.pool_name(stage)
    out: dict[str, dict[str, Any]] = {
        USER_POOL: {"Type": "AWS::Cognito::UserPool", "DeletionPolicy": "Retain",
                    "UpdateReplacePolicy": "Retain", "Properties": {
                        "UserPoolName": name,
                        "UsernameAttributes": ["email"],
                        "AutoVerifiedAttributes": ["email"],
                        "Policies": {"PasswordPolicy": dict(resources.PASSWORD_POLICY)},
                        "Schema": [dict(attr) for attr in resources.USER_POOL_SCHEMA],
                    }},
        USER_POOL_CLIENT: {"Type": "AWS::Cognito::UserPoolClient", "Properties": {
            "ClientName": f"{name}-app", "UserPoolId": {"Ref": USER_POOL}, **resources.APP_CLIENT}},
    }
    for group in resources.GROUPS:
        out[_camel(group) + "Group"] = {"Type": "AWS::Cognito::UserPoolGroup", "Properties": {
            "GroupName": group, "UserPoolId": {"Ref": USER_POOL}}}
    return out


def secret_resources(stage: str) -> dict[str, dict[str, Any]]:
    """The stage's secrets, each with a value Secrets Manager generates when it is created.

    The cursor key signs pagination cursors: any random value will do, so the generated one is
    the real one. The Stripe keys come from a Stripe account: theirs is a placeholder that
    nothing accepts (Stripe refuses the API key, no webhook signature matches) until an operator
    sets the real value once per stage, which stack updates then keep (README: `aws
    secretsmanager put-secret-value --secret-id <the stack output's ARN> --secret-string ...`).
    No fixed Name: a deleted secret keeps its name for its recovery window, which would make
    recreating the stack fail.
    """
    def secret(description: str) -> dict[str, Any]:
        return {"Type": "AWS::SecretsManager::Secret", "Properties": {
            "Description": f"Itinera {stage}: {description}",
            "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}}

    return {
        CURSOR_SECRET: secret(f"HMAC key of pagination cursors ({SECRET_VARIABLES[CURSOR_SECRET]})"),
        STRIPE_API_KEY_SECRET: secret(
            f"Stripe secret API key ({SECRET_VARIABLES[STRIPE_API_KEY_SECRET]}); a placeholder until "
            "set with aws secretsmanager put-secret-value"),
        STRIPE_WEBHOOK_SECRET: secret(
            f"Stripe webhook signing secret, whsec_... ({SECRET_VARIABLES[STRIPE_WEBHOOK_SECRET]}); "
            "a placeholder until set with aws secretsmanager put-secret-value"),
    }


def _error_body(code: str, message: str | None) -> str:
    """A gateway response body in API.md's error shape. API Gateway substitutes $context
    variables in it (no VTL); `messageString` is API Gateway's own message, already quoted."""
    text = json.dumps(message) if message is not None else "$context.error.messageString"
    return ('{"error":{"code":"%s","message":%s,"details":{"request_id":"$context.requestId"}}}'
            % (code, text))


# Response type -> (status to answer, or None to keep API Gateway's, code, fixed message).
# No method uses IAM (SigV4) authorization, so API Gateway's auth-token answers only ever mean
# "no route matches this method and path": MISSING_AUTHENTICATION_TOKEN, and the signature
# variants it gives when such a request carries an `Authorization: Bearer` header.
GATEWAY_RESPONSES: dict[str, tuple[str | None, str, str | None]] = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "NOT_FOUND", "No route matches this method and path."),
    "INVALID_SIGNATURE": ("404", "NOT_FOUND", "No route matches this method and path."),
    "EXPIRED_TOKEN": ("404", "NOT_FOUND", "No route matches this method and path."),
    "RESOURCE_NOT_FOUND": ("404", "NOT_FOUND", None),
    "UNAUTHORIZED": ("401", "UNAUTHENTICATED", None),
    "ACCESS_DENIED": ("403", "FORBIDDEN", None),
    "BAD_REQUEST_BODY": ("400", "VALIDATION_ERROR", None),
    "BAD_REQUEST_PARAMETERS": ("400", "VALIDATION_ERROR", None),
    "REQUEST_TOO_LARGE": ("413", "VALIDATION_ERROR", "The request body is too large."),
    "UNSUPPORTED_MEDIA_TYPE": ("415", "UNSUPPORTED_MEDIA_TYPE", None),
    "THROTTLED": ("429", "RATE_LIMITED", "Too many requests: retry after a second."),
    "QUOTA_EXCEEDED": ("429", "RATE_LIMITED", "Too many requests: retry later."),
    "INTEGRATION_TIMEOUT": ("504", "SERVICE_UNAVAILABLE", "The service did not answer in time."),
    "DEFAULT_4XX": (None, "VALIDATION_ERROR", None),
    "DEFAULT_5XX": (None, "INTERNAL_ERROR", "Something went wrong on our side."),
}


def gateway_responses() -> dict[str, dict[str, Any]]:
    """API Gateway's `x-amazon-apigateway-gateway-responses` for the REST API's definition.

    In the definition (not as separate AWS::ApiGateway::GatewayResponse resources) so that they
    are part of what SAM deploys to the stage: separate resources only take effect at the next
    deployment of the API.
    """
    out = {}
    for response_type, (status, code, message) in GATEWAY_RESPONSES.items():
        # Every response carries X-Request-Id (API.md), API Gateway's own answers included.
        parameters = {"gatewayresponse.header.X-Request-Id": "context.requestId"}
        if code == "RATE_LIMITED":
            parameters["gatewayresponse.header.Retry-After"] = "'1'"
        response: dict[str, Any] = {
            "responseParameters": parameters,
            "responseTemplates": {"application/json": _error_body(code, message)}}
        if status is not None:
            response["statusCode"] = status
        out[response_type] = response
    return out


def rest_api_properties(stage: str) -> dict[str, Any]:
    """Merged into Chalice's RestAPI (AWS::Serverless::Api): its name (in the definition's title
    too, which API Gateway takes the name from when it imports the definition), the stage's
    throttling, and the gateway responses."""
    name = api_name(stage)
    return {"Properties": {
        "Name": name,
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*",
                            "ThrottlingRateLimit": API_THROTTLING_RATE_LIMIT,
                            "ThrottlingBurstLimit": API_THROTTLING_BURST_LIMIT}],
        "DefinitionBody": {"info": {"title": name},
                           "x-amazon-apigateway-gateway-responses": gateway_responses()}}}


def merge_template(stage: str, models: list[type[Model]] | None = None,
                   queues: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Everything the stage needs besides what Chalice generates itself.

    Not here, on purpose: the SES sender identity (verified once per account and region, by
    hand or by a separate stack: verification needs a human to click a link or DNS records).
    """
    models = resources.models() if models is None else models
    queues = resources.QUEUES if queues is None else queues
    res: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for model in models:
        res[table_id(model)] = table_resource(model, stage)
        res[table_throttle_alarm_id(model)] = table_throttle_alarm(model, stage)
        outputs[table_id(model) + "Name"] = {"Value": {"Ref": table_id(model)}}
    res[ALARM_TOPIC] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": f"itinera-{stage}-alarms", "DisplayName": f"Itinera {stage} alarms"}}
    for name in queues:
        res.update(queue_resources(name, stage))
        outputs[queue_id(name) + "Url"] = {"Value": {"Ref": queue_id(name)}}
    res.update(business_alarm_resources(stage))
    res.update(user_pool_resources(stage))
    res.update(secret_resources(stage))
    # Deep-merged into Chalice's RestAPI resource (AWS::Serverless::Api) and its swagger.
    res[REST_API] = rest_api_properties(stage)
    outputs.update({
        "UserPoolId": {"Value": {"Ref": USER_POOL}},
        "UserPoolClientId": {"Value": {"Ref": USER_POOL_CLIENT}},
        "AlarmTopicArn": {"Value": {"Ref": ALARM_TOPIC},
                          "Description": "Subscribe the on-call address to this topic."},
        "StripeApiKeySecretArn": {"Value": {"Ref": STRIPE_API_KEY_SECRET},
                                  "Description": "Set the Stripe secret API key here (put-secret-value)."},
        "StripeWebhookSecretArn": {"Value": {"Ref": STRIPE_WEBHOOK_SECRET},
                                   "Description": "Set the Stripe webhook signing secret here (put-secret-value)."},
    })
    return {"Resources": res, "Outputs": outputs}


def function_environment(function_needs: Any) -> dict[str, Any]:
    """What a function gets on top of config.json's environment: the user pool's ids, the
    ARN of each secret it reads and the URL (a queue's Ref) of each queue it sends to, which
    spares it a GetQueueUrl call per queue on a cold start (chalicelib.core.queues)."""
    return {**FUNCTION_ENVIRONMENT,
            **{SECRET_VARIABLES[secret]: {"Ref": secret} for secret in function_needs.secrets},
            **{url_variable(queue): {"Ref": queue_id(queue)} for queue in function_needs.sends_to}}


def complete_template(sam: dict[str, Any], stage_environment: dict[str, str]) -> dict[str, Any]:
    """Give Chalice's functions and API what needs their logical ids (Chalice's to choose), in
    place: per function its own role (infra.permissions), its environment, its log group and
    its alarms; the API stage's 5xx alarm; on every stage but local, the web app in front of the
    API (infra.web) and its outputs. Returns a summary (function -> role id). Raises ValueError
    when the API's stage cannot sit behind the web app's /api/ (infra.web)."""
    from infra import permissions, postprocess

    stage = stage_environment.get("ITINERA_STAGE", LOCAL_STAGE)
    declared = permissions.needs()
    config_of_stage = permissions.StageConfig.from_environment(stage_environment)
    roles = postprocess.give_each_function_its_role(sam, {
        name: permissions.policy(permissions.grants(needs, config_of_stage)) for name, needs in declared.items()})
    postprocess.add_function_environment(sam, FUNCTION_ENVIRONMENT, per_function={
        name: function_environment(needs) for name, needs in declared.items()})
    for function_id, function in list(postprocess.functions(sam)):
        name = postprocess.function_name(function)
        if function_id in roles:
            postprocess.add_resources(sam, function_log_resources(function_id, roles[function_id]))
        postprocess.add_resources(sam, function_alarms(function_id, name, stage))
        events = (function["Properties"].get("Events") or {}).values()
        if any(event.get("Type") == "Schedule" for event in events):
            function.setdefault("Metadata", {}).update(lint_exemption(SCHEDULE_EXEMPTION))
    api = sam.get("Resources", {}).get(REST_API, {})
    if api.get("Type") == "AWS::Serverless::Api":  # an app without routes has none
        api_stage = api["Properties"]["StageName"]
        postprocess.add_resources(sam, {API_ERROR_ALARM: api_error_alarm(stage, api_stage)})
        if stage != LOCAL_STAGE:
            # The web app (infra.web): its bucket and the CloudFront distribution that serves it
            # and sends /api/* to this API. The local stage serves it with tools/web_server.py.
            from infra import web

            postprocess.add_resources(sam, web.web_resources(stage, api_stage, config_of_stage.payment_provider))
            postprocess.add_outputs(sam, web.web_outputs())
    return roles
