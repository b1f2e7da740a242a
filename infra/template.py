"""The CloudFormation resources of a stage, generated from infra.resources (pure, no I/O).

`merge_template(stage)` is what `chalice package --merge-template` merges into the template
Chalice generates: every table (from the PynamoDB models), every queue with its dead-letter
queue and an alarm on it, the Cognito user pool with its groups and app client, and API
Gateway's own error answers (unknown route, throttling, ...) in our error shape, merged into
the REST API's definition. `lambda_policy()` is the IAM policy of the Lambda role(s).
Chalice's own resources (functions, roles, the REST API) are adjusted after packaging by
infra.postprocess, because their names are Chalice's to choose.

Physical names come from chalicelib.core.config (`table_name`, `queue_name`), the functions the
application itself uses at run time, so the template and the code cannot disagree.
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
from infra import resources

# Logical ids of the resources other parts of the template (and the tests) refer to.
REST_API = "RestAPI"  # Chalice's name for the API Gateway REST API
USER_POOL = "UserPool"
USER_POOL_CLIENT = "UserPoolClient"
ALARM_TOPIC = "OperationsAlarmTopic"
CURSOR_SECRET = "CursorSecret"

# The environment the functions get on top of .chalice/config.json's (see infra.postprocess).
FUNCTION_ENVIRONMENT: dict[str, Any] = {
    "ITINERA_USER_POOL_ID": {"Ref": USER_POOL},
    "ITINERA_USER_POOL_CLIENT_ID": {"Ref": USER_POOL_CLIENT},
    # Resolved by CloudFormation at deploy time (a dynamic reference): the Lambda role needs no
    # access to the secret, and the key never enters the repository or config.json.
    config.CURSOR_SECRET_VARIABLE: {"Fn::Sub": "{{resolve:secretsmanager:${%s}}}" % CURSOR_SECRET},
}

DYNAMODB_ACTIONS = [
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
]  # no Scan: a request path never scans (DESIGN, Data)
SQS_ACTIONS = [
    "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
]  # send from the API, receive/delete/attributes for the event source mappings
SES_ACTIONS = ["ses:SendEmail", "ses:SendRawEmail"]
COGNITO_ACTIONS = [
    "cognito-idp:AdminAddUserToGroup", "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminConfirmSignUp", "cognito-idp:AdminGetUser",
    "cognito-idp:AdminListGroupsForUser", "cognito-idp:AdminUpdateUserAttributes",
    "cognito-idp:AdminCreateUser", "cognito-idp:AdminDeleteUser", "cognito-idp:AdminDisableUser",
    "cognito-idp:ListUsers",
]  # SignUp, ConfirmSignUp and InitiateAuth are public calls of the app client: no IAM needed


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
        dlq: {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": physical_dlq, "MessageRetentionPeriod": resources.DLQ_RETENTION_SECONDS}},
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
           statistic: str, period: int) -> dict[str, Any]:
    """An alarm to the operations topic as soon as the metric is above zero in one period."""
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmName": name, "AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
        "Dimensions": dimensions, "Statistic": statistic, "Period": period, "EvaluationPeriods": 1,
        "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}], "OKActions": [{"Ref": ALARM_TOPIC}]}}


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


def cursor_secret_resource(stage: str) -> dict[str, Any]:
    """The key that signs pagination cursors: generated once per stage, never chosen by hand.

    Unlike the Stripe keys (which come from a Stripe account, so an operator sets them), any
    random value will do, and a stage without one refuses to run (core.config).
    """
    # No fixed Name: a deleted secret keeps its name for its recovery window, which would make
    # recreating the stack fail.
    return {"Type": "AWS::SecretsManager::Secret", "Properties": {
        "Description": f"Itinera {stage}: HMAC key of pagination cursors ({config.CURSOR_SECRET_VARIABLE})",
        "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True}}}


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


def lambda_policy(models: list[type[Model]] | None = None,
                  queues: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The policy of the Lambda role(s): logs, the tables and their indexes, the queues, SES
    sending, and the admin calls on the user pool. It refers to the merge template's resources."""
    models = resources.models() if models is None else models
    queues = resources.QUEUES if queues is None else queues
    tables: list[Any] = []
    for model in models:
        tables.append({"Fn::GetAtt": [table_id(model), "Arn"]})
        tables.append({"Fn::Sub": "${%s.Arn}/index/*" % table_id(model)})
    statements = [
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:*:*:*"}},
        {"Sid": "Tables", "Effect": "Allow", "Action": DYNAMODB_ACTIONS, "Resource": tables},
        {"Sid": "Queues", "Effect": "Allow", "Action": SQS_ACTIONS,
         "Resource": [{"Fn::GetAtt": [queue_id(q), "Arn"]} for q in queues]},
        {"Sid": "Email", "Effect": "Allow", "Action": SES_ACTIONS, "Resource": {
            "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}},
        {"Sid": "UserPool", "Effect": "Allow", "Action": COGNITO_ACTIONS,
         "Resource": {"Fn::GetAtt": [USER_POOL, "Arn"]}},
    ]
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Resource"]]}


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
        outputs[table_id(model) + "Name"] = {"Value": {"Ref": table_id(model)}}
    res[ALARM_TOPIC] = {"Type": "AWS::SNS::Topic", "Properties": {
        "TopicName": f"itinera-{stage}-alarms", "DisplayName": f"Itinera {stage} alarms"}}
    for name in queues:
        res.update(queue_resources(name, stage))
        outputs[queue_id(name) + "Url"] = {"Value": {"Ref": queue_id(name)}}
    res.update(business_alarm_resources(stage))
    res.update(user_pool_resources(stage))
    res[CURSOR_SECRET] = cursor_secret_resource(stage)
    # Deep-merged into Chalice's RestAPI resource (AWS::Serverless::Api) and its swagger.
    res[REST_API] = {"Properties": {"DefinitionBody": {
        "x-amazon-apigateway-gateway-responses": gateway_responses()}}}
    outputs.update({
        "UserPoolId": {"Value": {"Ref": USER_POOL}},
        "UserPoolClientId": {"Value": {"Ref": USER_POOL_CLIENT}},
        "AlarmTopicArn": {"Value": {"Ref": ALARM_TOPIC},
                          "Description": "Subscribe the on-call address to this topic."},
    })
    return {"Resources": res, "Outputs": outputs}
