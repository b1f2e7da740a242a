"""The merge template, generated from infra.resources: pure functions, no packaging."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection, LocalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.config import table_name
from infra import permissions, resources, template


class ByCity(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-city"
        projection = IncludeProjection(["title", "price"])

    city_date = UnicodeAttribute(hash_key=True)
    starts_at = NumberAttribute(range_key=True)


class ByPrice(LocalSecondaryIndex):
    class Meta:
        index_name = "by-price"
        projection = KeysOnlyProjection()

    listing_id = UnicodeAttribute(hash_key=True)
    price = NumberAttribute(range_key=True)


class Widget(Model):
    """A model with every feature the generator handles."""

    class Meta:
        table_name = table_name("widgets")

    listing_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)
    city_date = UnicodeAttribute()
    starts_at = NumberAttribute()
    price = NumberAttribute()
    title = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    by_city = ByCity()
    by_price = ByPrice()


def test_a_table_has_the_models_keys_indexes_and_ttl_on_demand():
    table = template.table_resource(Widget, "prod")
    props = table["Properties"]

    assert table["Type"] == "AWS::DynamoDB::Table"
    assert props["TableName"] == "itinera-prod-widgets"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"KeyType": "HASH", "AttributeName": "listing_id"},
                                  {"KeyType": "RANGE", "AttributeName": "day"}]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        ("listing_id", "S"), ("day", "S"), ("city_date", "S"), ("starts_at", "N"), ("price", "N")}
    assert props["GlobalSecondaryIndexes"] == [{
        "IndexName": "by-city",
        "KeySchema": [{"AttributeName": "city_date", "KeyType": "HASH"},
                      {"AttributeName": "starts_at", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title", "price"]},
    }]  # no ProvisionedThroughput: on demand
    assert props["LocalSecondaryIndexes"] == [{
        "IndexName": "by-price",
        "KeySchema": [{"AttributeName": "listing_id", "KeyType": "HASH"},
                      {"AttributeName": "price", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Retain"


def test_a_table_without_indexes_or_ttl_declares_none():
    class Plain(Model):
        class Meta:
            table_name = table_name("plain")

        key = UnicodeAttribute(hash_key=True)

    props = template.table_resource(Plain, "dev")["Properties"]
    assert props["TableName"] == "itinera-dev-plain"
    assert not {"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "TimeToLiveSpecification"} & set(props)


def test_a_model_not_named_by_config_is_refused():
    class Stray(Model):
        class Meta:
            table_name = "stray"

        key = UnicodeAttribute(hash_key=True)

    with pytest.raises(ValueError, match="config.table_name"):
        template.table_resource(Stray, "prod")


def test_the_generator_does_not_leak_the_stage_it_renders():
    before = table_name("x")
    template.merge_template("some-other-stage")
    assert table_name("x") == before


def test_every_model_of_resources_becomes_a_table():
    merge = template.merge_template("prod")
    tables = {r["Properties"]["TableName"] for r in merge["Resources"].values()
              if r.get("Type") == "AWS::DynamoDB::Table"}
    expected = {"itinera-prod-" + template.logical_table_name(m) for m in resources.models()}
    assert tables == expected and len(tables) == len(resources.models())


def test_each_queue_has_a_dead_letter_queue_after_five_receives_and_an_alarm_on_it():
    res = template.merge_template("prod")["Resources"]
    for name in resources.QUEUES:
        queue = res[template.queue_id(name)]["Properties"]
        dlq_id = template.dead_letter_queue_id(name)
        assert queue["QueueName"] == f"itinera-prod-{name}"
        assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                                          "maxReceiveCount": 5}
        assert queue["VisibilityTimeout"] == int(resources.QUEUE_ATTRIBUTES["VisibilityTimeout"])
        assert res[dlq_id]["Properties"]["QueueName"] == f"itinera-prod-{name}-dlq"
        alarm = res[template.dead_letter_alarm_id(name)]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
        assert alarm["AlarmActions"] == [{"Ref": template.ALARM_TOPIC}]


def test_bookings_the_sweeper_had_to_settle_raise_an_alarm_on_the_metric_it_emits():
    from chalicelib.booking import expiry
    from chalicelib.core.observability import SERVICE

    alarm = template.merge_template("prod")["Resources"]["BookingsSettledBySweeperAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("Itinera", "BookingsSettledBySweeper", "Sum")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": template.ALARM_TOPIC}]
    assert 'count("BookingsSettledBySweeper")' in Path(expiry.__file__).read_text()


def test_the_user_pool_signs_in_by_email_with_our_policy_schema_groups_and_client():
    res = template.merge_template("prod")["Resources"]
    pool = res[template.USER_POOL]["Properties"]
    assert pool["UserPoolName"] == "itinera-prod"
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["Policies"]["PasswordPolicy"] == resources.PASSWORD_POLICY
    assert {a["Name"] for a in pool["Schema"]} >= {"email", "name", "vendor_id"}  # custom:vendor_id
    groups = {r["Properties"]["GroupName"] for r in res.values() if r.get("Type") == "AWS::Cognito::UserPoolGroup"}
    assert groups == set(resources.GROUPS) == {"travelers", "vendors", "agents", "admins"}
    client = res[template.USER_POOL_CLIENT]["Properties"]
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert "custom:vendor_id" in client["ReadAttributes"]
    assert client["GenerateSecret"] is False


def test_no_user_can_change_their_own_vendor_id():
    """A vendor who could write custom:vendor_id (UpdateUserAttributes with their own access
    token) could become another vendor. The app client lets users write only email and name,
    and the attribute is immutable: set by an admin at creation, never changed."""
    res = template.merge_template("prod")["Resources"]
    client = res[template.USER_POOL_CLIENT]["Properties"]
    assert sorted(client["WriteAttributes"]) == ["email", "name"]
    assert not any(a.startswith("custom:") for a in client["WriteAttributes"])
    (vendor_id,) = [a for a in res[template.USER_POOL]["Properties"]["Schema"] if a["Name"] == "vendor_id"]
    assert vendor_id["Mutable"] is False
    assert sorted(resources.APP_CLIENT["WriteAttributes"]) == ["email", "name"]


def _render(body: str) -> dict:
    """What API Gateway sends: $context variables substituted (messageString comes quoted)."""
    body = body.replace("$context.error.messageString", json.dumps("API Gateway's message"))
    return json.loads(re.sub(r"\$context\.[A-Za-z.]+", "req-1", body))


def test_gateway_responses_answer_in_our_error_shape():
    responses = template.gateway_responses()
    unknown_route = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert unknown_route["statusCode"] == "404"
    assert _render(unknown_route["responseTemplates"]["application/json"])["error"]["code"] == "NOT_FOUND"
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED"} <= set(responses)
    for response_type, response in responses.items():
        error = _render(response["responseTemplates"]["application/json"])["error"]
        assert set(error) == {"code", "message", "details"}, response_type
        assert error["code"].isupper() and error["message"]
    assert "gatewayresponse.header.Retry-After" in responses["THROTTLED"]["responseParameters"]


def test_every_gateway_response_carries_the_request_id_header():
    responses = template.gateway_responses()
    assert set(responses) == set(template.GATEWAY_RESPONSES)
    for response_type, response in responses.items():
        parameters = response.get("responseParameters", {})
        assert parameters.get("gatewayresponse.header.X-Request-Id") == "context.requestId", response_type
    assert responses["THROTTLED"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_every_cognito_admin_call_of_the_code_is_declared_for_the_api():
    """Admin* calls need IAM (the public SignUp/InitiateAuth do not): grep the code for them.
    AdminConfirmSignUp only runs where the stage confirms sign-ups itself (the local one)."""
    root = Path(template.__file__).resolve().parent.parent / "chalicelib"
    calls = {m for f in root.rglob("*.py") for m in re.findall(r"\.(admin_[a-z_]+)\(", f.read_text())}
    actions = {"".join(w.title() for w in call.split("_")) for call in calls}
    api = permissions.needs()[permissions.API_FUNCTION]
    assert actions == set(api.user_pool) | {"AdminConfirmSignUp"}
    assert api.confirms_signups


PROD = permissions.StageConfig(payment_provider="stripe", auto_confirm_signups=False,
                               sender_email="bookings@itinera.example")
LOCAL = permissions.StageConfig(payment_provider="local", auto_confirm_signups=True,
                                sender_email="bookings@itinera.example")


def test_stage_config_reads_the_environment_as_the_app_does(monkeypatch):
    from chalicelib.core.config import settings

    for env in ({"ITINERA_STAGE": "local"},
                {"ITINERA_STAGE": "prod", "ITINERA_PAYMENT_PROVIDER": "stripe", "ITINERA_AUTO_CONFIRM": "false",
                 "ITINERA_SENDER_EMAIL": "hello@example.org"},
                {"ITINERA_STAGE": "dev"}):
        for key in ("ITINERA_PAYMENT_PROVIDER", "ITINERA_AUTO_CONFIRM", "ITINERA_SENDER_EMAIL"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ITINERA_CURSOR_SECRET", "a-cursor-secret-for-this-test")
        settings.cache_clear()
        try:
            app = settings()
            ours = permissions.StageConfig.from_environment(env)
            assert (ours.payment_provider, ours.auto_confirm_signups, ours.sender_email) == (
                app.payment_provider, app.auto_confirm_signups, app.sender_email), env
        finally:
            settings.cache_clear()


def test_only_stages_with_the_local_provider_grant_its_table():
    from chalicelib.booking.payments.models import LocalPayment

    table = permissions.Resource("table", template.table_id(LocalPayment))
    for name, needs in permissions.needs().items():
        prod = {r for _, r in permissions.grants(needs, PROD)}
        local = {r for _, r in permissions.grants(needs, LOCAL)}
        assert table not in prod, name
        assert (table in local) == needs.pays, name


def test_only_stages_that_confirm_sign_ups_themselves_grant_admin_confirm_sign_up():
    api = permissions.needs()[permissions.API_FUNCTION]
    confirm = ("cognito-idp:AdminConfirmSignUp", permissions.Resource("user-pool", template.USER_POOL))
    assert confirm in permissions.grants(api, LOCAL)
    assert confirm not in permissions.grants(api, PROD)


def test_email_is_allowed_from_the_stages_sender_and_its_domain_only():
    notifications = permissions.needs()["send_notifications"]
    sends = {r for a, r in permissions.grants(notifications, PROD) if a == permissions.SEND_EMAIL}
    assert sends == {permissions.Resource("ses-identity", "bookings@itinera.example"),
                     permissions.Resource("ses-identity", "itinera.example")}
    # The weekly picks are sent by their own schedule (one email per opted-in traveler), not queued.
    assert {n for n, needs in permissions.needs().items() if needs.sends_email} == {"send_notifications",
                                                                                   "email_recommendations"}


def test_a_policy_allows_exactly_its_grants_grouped_by_action_set():
    t = permissions.Resource("table", "BookingsTable")
    i = permissions.Resource("index", "BookingsTable", "by-traveler")
    q = permissions.Resource("queue", "NotificationsQueue")
    grants = {(permissions.GET, t), (permissions.UPDATE, t), (permissions.QUERY, i),
              (permissions.SEND, q), (permissions.GET_QUEUE_URL, q)}
    policy = permissions.policy(grants)
    assert permissions.expand(policy) == {(a, json.dumps(permissions.resource_arn(r), sort_keys=True)) for a, r in grants}
    assert len(policy["Statement"]) == 3
    assert {"Fn::Sub": "${BookingsTable.Arn}/index/by-traveler"} in [
        r for s in policy["Statement"] for r in s["Resource"]]
    assert permissions.resource_arn(permissions.Resource("secret", "CursorSecret")) == {"Ref": "CursorSecret"}


def test_the_stage_has_three_secrets_and_no_value_in_any_variable():
    res = template.merge_template("prod")["Resources"]
    for secret, variable in template.SECRET_VARIABLES.items():
        assert res[secret]["Type"] == "AWS::SecretsManager::Secret"
        assert res[secret]["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
        assert variable.endswith("_SECRET_ID")
    assert set(template.SECRET_VARIABLES) == {"CursorSecret", "StripeApiKeySecret", "StripeWebhookSecret"}
    assert "put-secret-value" in res[template.STRIPE_API_KEY_SECRET]["Properties"]["Description"]
    assert all(isinstance(v, dict) and set(v) == {"Ref"} for v in template.FUNCTION_ENVIRONMENT.values())
    api = template.function_environment(permissions.needs()[permissions.API_FUNCTION])
    assert api["ITINERA_CURSOR_SECRET_ID"] == {"Ref": template.CURSOR_SECRET}
    worker = template.function_environment(permissions.needs()["confirm_bookings"])
    assert worker["ITINERA_STRIPE_API_KEY_SECRET_ID"] == {"Ref": template.STRIPE_API_KEY_SECRET}
    assert "ITINERA_CURSOR_SECRET_ID" not in worker


def test_the_rest_api_is_named_per_stage_and_throttled():
    api = template.merge_template("dev")["Resources"][template.REST_API]["Properties"]
    assert api["Name"] == api["DefinitionBody"]["info"]["title"] == "itinera-dev"
    (setting,) = api["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert (setting["ThrottlingRateLimit"], setting["ThrottlingBurstLimit"]) == (100, 200)
    assert "x-amazon-apigateway-gateway-responses" in api["DefinitionBody"]


def test_a_table_alarm_adds_up_throttles_of_the_table_and_each_global_index():
    alarm = template.table_throttle_alarm(Widget, "prod")["Properties"]
    metrics = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert [(m["MetricName"], [d["Name"] for d in m["Dimensions"]]) for m in metrics] == [
        ("ReadThrottleEvents", ["TableName"]), ("WriteThrottleEvents", ["TableName"]),
        ("ReadThrottleEvents", ["TableName", "GlobalSecondaryIndexName"]),
        ("WriteThrottleEvents", ["TableName", "GlobalSecondaryIndexName"])]  # by-city; by-price is local
    assert alarm["AlarmName"] == "itinera-prod-widgets-throttled"


def test_the_attempt_counters_of_the_abuse_limits_are_a_table_whose_windows_expire():
    from chalicelib.core.rate_limits import AttemptCounter

    assert AttemptCounter in resources.models()  # so bootstrap creates it and the policy covers it
    props = template.merge_template("prod")["Resources"][template.table_id(AttemptCounter)]["Properties"]
    assert props["TableName"] == "itinera-prod-rate-limits"
    assert props["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
