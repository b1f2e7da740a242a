"""Create everything the app needs in the emulator (or an account), idempotently.

Running it twice changes nothing and fails on nothing: each step looks before it creates.
Returns the identifiers the app is configured with (pool id, client id).
"""
from __future__ import annotations

import json
import os
from typing import Any

from pynamodb.exceptions import TableError

from chalicelib.core.config import queue_name, stage
from infra import resources
from tools.demo_users import DEFAULT_PASSWORD, DEMO_USERS


def create_tables() -> list[str]:
    return [model.Meta.table_name for model in resources.models() if _create_table(model)]


def _create_table(model: Any) -> bool:
    """One CreateTable (and its TTL); False when the table is already there.

    Not `Model.create_table`: it asks DescribeTable twice before creating and once after, and
    every integration test bootstraps a fresh emulator with all our tables (~30), so those calls
    were a large share of the suite's time. The emulator creates tables ACTIVE at once.
    """
    schema = model._get_schema()
    try:
        model._get_connection().create_table(
            attribute_definitions=schema["attribute_definitions"], key_schema=schema["key_schema"],
            global_secondary_indexes=schema["global_secondary_indexes"],
            local_secondary_indexes=schema["local_secondary_indexes"], billing_mode="PAY_PER_REQUEST")
    except TableError as exc:
        if exc.cause_response_code == "ResourceInUseException":
            return False
        raise
    model.update_ttl(ignore_update_ttl_errors=False)
    return True


def create_queues(sqs: Any) -> dict[str, str]:
    urls = {}
    for name in resources.QUEUES:
        dlq_url = sqs.create_queue(
            QueueName=queue_name(f"{name}-dlq"),
            Attributes={"MessageRetentionPeriod": str(resources.DLQ_RETENTION_SECONDS)})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = dict(resources.QUEUE_ATTRIBUTES)
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(resources.DLQ_MAX_RECEIVE_COUNT)})
        try:
            url = sqs.create_queue(QueueName=queue_name(name), Attributes=attributes)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:
            url = sqs.get_queue_url(QueueName=queue_name(name))["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        urls[name] = url
    return urls


def _find(pages: Any, key: str, name_key: str, name: str) -> dict[str, Any] | None:
    for page in pages:
        for item in page.get(key, []):
            if item.get(name_key) == name:
                return item
    return None


def create_user_pool(idp: Any) -> tuple[str, str]:
    name = resources.pool_name(stage())
    pool = _find(idp.get_paginator("list_user_pools").paginate(MaxResults=60), "UserPools", "Name", name)
    if pool is None:
        pool = idp.create_user_pool(
            PoolName=name, UsernameAttributes=["email"], AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": resources.PASSWORD_POLICY},
            Schema=resources.USER_POOL_SCHEMA)["UserPool"]
    pool_id = pool["Id"]
    existing = {g["GroupName"] for g in idp.list_groups(UserPoolId=pool_id)["Groups"]}
    for group in resources.GROUPS:
        if group not in existing:
            idp.create_group(UserPoolId=pool_id, GroupName=group)
    client_name = f"{name}-app"
    client = _find(idp.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60),
                   "UserPoolClients", "ClientName", client_name)
    if client is None:
        client = idp.create_user_pool_client(UserPoolId=pool_id, ClientName=client_name,
                                             **resources.APP_CLIENT)["UserPoolClient"]
    else:
        # An existing client gets the declared settings again (its read/write attributes
        # included), so a pool bootstrapped by an older version cannot keep looser ones.
        settings = {k: v for k, v in resources.APP_CLIENT.items() if k != "GenerateSecret"}
        idp.update_user_pool_client(UserPoolId=pool_id, ClientId=client["ClientId"],
                                    ClientName=client_name, **settings)
    return pool_id, client["ClientId"]


def verify_sender(ses: Any, sender: str) -> None:
    ses.verify_email_identity(EmailAddress=sender)


def create_demo_users(idp: Any, pool_id: str, password: str) -> None:
    for user in DEMO_USERS:
        attributes = [{"Name": "email", "Value": user.email}, {"Name": "name", "Value": user.name},
                      {"Name": "email_verified", "Value": "true"}]
        if user.vendor_id:
            attributes.append({"Name": "custom:vendor_id", "Value": user.vendor_id})
        try:
            idp.admin_create_user(UserPoolId=pool_id, Username=user.email, UserAttributes=attributes,
                                  MessageAction="SUPPRESS")
        except idp.exceptions.UsernameExistsException:
            pass
        idp.admin_set_user_password(UserPoolId=pool_id, Username=user.email, Password=password,
                                    Permanent=True)
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=user.email, GroupName=user.group)


def bootstrap(session: Any, *, sender: str, demo_password: str | None = None) -> dict[str, Any]:
    """Tables, queues, user pool, sender identity and demo users. Safe to run again."""
    tables = create_tables()
    queues = create_queues(session.client("sqs"))
    idp = session.client("cognito-idp")
    pool_id, client_id = create_user_pool(idp)
    verify_sender(session.client("ses"), sender)
    create_demo_users(idp, pool_id, demo_password or os.environ.get("ITINERA_DEMO_PASSWORD", DEFAULT_PASSWORD))
    return {"user_pool_id": pool_id, "client_id": client_id, "queues": queues, "tables_created": tables}
