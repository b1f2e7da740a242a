"""The synthesized prod stack (`python -m infra.synth`): template and deployment package."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest
from chalice.app import SQSEventConfig
from chalice.utils import to_cfn_resource_name

from chalicelib.core.config import queue_name
from infra import permissions, postprocess, resources, template
from infra.synth import ROOT

from .stacks import STAGE, child_env, make_project

pytestmark = pytest.mark.timeout(600)


def test_the_template_has_no_dangling_reference_and_no_unpatched_sqs_source(synthesized):
    assert postprocess.template_problems(synthesized.template) == []
    assert synthesized.template["Transform"] == "AWS::Serverless-2016-10-31"


def _hash_first(keys):
    return sorted(keys, key=lambda k: k["KeyType"] != "HASH")


def test_each_model_is_a_table_with_its_keys_and_indexes(synthesized):
    tables = {t["Properties"]["TableName"]: t["Properties"]
              for t in synthesized.of_type("AWS::DynamoDB::Table").values()}
    assert len(tables) == len(resources.models())
    for model in resources.models():
        props = tables[f"itinera-{STAGE}-{template.logical_table_name(model)}"]
        schema = model._get_schema()
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["KeySchema"] == _hash_first(schema["key_schema"])
        assert sorted(map(json.dumps, props["AttributeDefinitions"])) == sorted(
            map(json.dumps, schema["attribute_definitions"]))
        for kind, key in (("GlobalSecondaryIndexes", "global_secondary_indexes"),
                          ("LocalSecondaryIndexes", "local_secondary_indexes")):
            expected = {i["index_name"]: (_hash_first(i["key_schema"]), i["projection"]) for i in schema[key]}
            actual = {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in props.get(kind, [])}
            assert actual == expected, (model.__name__, kind)
        ttl = model._ttl_attribute()
        if ttl is not None:
            assert props["TimeToLiveSpecification"] == {"AttributeName": ttl.attr_name, "Enabled": True}
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_each_queue_dead_letters_after_five_receives_and_its_dlq_raises_an_alarm(synthesized):
    res = synthesized.resources
    alarms = list(synthesized.of_type("AWS::CloudWatch::Alarm").values())
    for name in resources.QUEUES:
        queue = res[template.queue_id(name)]["Properties"]
        assert queue["QueueName"] == f"itinera-{STAGE}-{name}"
        target = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert res[target]["Type"] == "AWS::SQS::Queue"
        assert res[target]["Properties"]["QueueName"] == f"itinera-{STAGE}-{name}-dlq"
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 5 == resources.DLQ_MAX_RECEIVE_COUNT
        watching = [a["Properties"] for a in alarms
                    if a["Properties"].get("Dimensions") == [{"Name": "QueueName",
                                                           "Value": {"Fn::GetAtt": [target, "QueueName"]}}]]
        assert len(watching) == 1, name
        assert watching[0]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (watching[0]["ComparisonOperator"], watching[0]["Threshold"]) == ("GreaterThanThreshold", 0)


def test_a_webhook_event_given_up_raises_the_alarm_of_the_webhooks_dlq(synthesized):
    """The webhook worker dead-letters an event it gave up on itself, into the webhooks queue's
    DLQ (notify.delivery): that DLQ's alarm, to the operations topic, is the alarm on it, and
    the worker's role may send there."""
    from chalicelib.core.queues import WEBHOOKS, dead_letter_queue

    dlq = template.dead_letter_queue_id(WEBHOOKS)
    assert synthesized.resources[dlq]["Properties"]["QueueName"] == f"itinera-{STAGE}-{dead_letter_queue(WEBHOOKS)}"
    (alarm,) = [a for a in _alarms(synthesized).values()
                if a.get("Dimensions") == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
        "GreaterThanThreshold", 0, 1)
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": template.ALARM_TOPIC}]
    assert synthesized.resources[template.ALARM_TOPIC]["Type"] == "AWS::SNS::Topic"
    (function,) = [f for _, f in postprocess.functions(synthesized.template)
                   if postprocess.function_name(f) == "deliver_webhooks"]
    role = synthesized.resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
    (policy,) = role["Properties"]["Policies"]
    allowed = permissions.expand(policy["PolicyDocument"])
    assert ("sqs:SendMessage", json.dumps({"Fn::GetAtt": [dlq, "Arn"]}, sort_keys=True)) in allowed


def test_user_pool_groups_and_client(synthesized):
    pools = synthesized.of_type("AWS::Cognito::UserPool")
    assert list(pools) == [template.USER_POOL]
    assert pools[template.USER_POOL]["Properties"]["UsernameAttributes"] == ["email"]
    groups = {g["Properties"]["GroupName"] for g in synthesized.of_type("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"travelers", "vendors", "agents", "admins"}
    (client,) = synthesized.of_type("AWS::Cognito::UserPoolClient").values()
    assert "ALLOW_USER_PASSWORD_AUTH" in client["Properties"]["ExplicitAuthFlows"]
    # Users may not write custom:vendor_id (nor may anyone change it after creation).
    assert sorted(client["Properties"]["WriteAttributes"]) == ["email", "name"]
    schema = {a["Name"]: a for a in pools[template.USER_POOL]["Properties"]["Schema"]}
    assert schema["vendor_id"]["Mutable"] is False


def test_unknown_routes_and_gateway_errors_answer_in_our_error_shape(synthesized):
    api = synthesized.resources[template.REST_API]
    assert api["Type"] == "AWS::Serverless::Api"
    responses = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    assert '"code":"NOT_FOUND"' in responses["MISSING_AUTHENTICATION_TOKEN"]["responseTemplates"]["application/json"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for response_type, response in responses.items():
        assert response["responseParameters"]["gatewayresponse.header.X-Request-Id"] == "context.requestId", \
            response_type
    assert api["Properties"]["DefinitionBody"]["paths"], "Chalice's routes are still there"


def _functions(synthesized) -> dict[str, dict]:
    """Chalice's function name -> the function's properties."""
    return {postprocess.function_name(f): f["Properties"] for _, f in postprocess.functions(synthesized.template)}


def test_functions_know_the_pool_and_the_stage(synthesized):
    functions = _functions(synthesized)
    assert set(functions) == set(permissions.needs())
    for name, props in functions.items():
        variables = props["Environment"]["Variables"]
        assert variables["ITINERA_USER_POOL_ID"] == {"Ref": template.USER_POOL}, name
        assert variables["ITINERA_USER_POOL_CLIENT_ID"] == {"Ref": template.USER_POOL_CLIENT}, name
        assert variables["ITINERA_STAGE"] == STAGE


def test_functions_skip_pydantics_plugin_discovery(synthesized):
    """Without it, pydantic's first model build reads the entry points of every distribution
    in the package, looking for plugins this service does not have: CPU on every cold start."""
    for name, props in _functions(synthesized).items():
        assert props["Environment"]["Variables"]["PYDANTIC_DISABLE_PLUGINS"] == "__all__", name


# -- A: memory, timeout, architecture ----------------------------------------------------------


def test_each_function_gets_the_memory_and_timeout_chosen_for_it_on_arm64(synthesized):
    for name, props in _functions(synthesized).items():
        memory, timeout, why = template.FUNCTION_SIZING[name]
        assert (props["MemorySize"], props["Timeout"]) == (memory, timeout), name
        assert props["Architectures"] == [template.LAMBDA_ARCHITECTURE] == ["arm64"], name
        assert why
    assert synthesized.summary.timeouts_lowered == []  # each worker's timeout fits its queue already
    sizes = {name: size for name, (size, _, _) in template.FUNCTION_SIZING.items()}
    assert sizes["api_handler"] == 1769  # one full vCPU for the latency-facing function
    assert min(sizes.values()) >= 512  # never Chalice's 128 MB default (DESIGN pitfall 13)


def test_chalice_config_holds_the_sizing_for_every_function_of_the_app():
    """config.json is what `chalice` itself reads: it must say what FUNCTION_SIZING says, and
    name every function of app.py (a new one would otherwise get Chalice's 128 MB)."""
    from chalice.app import LambdaFunction

    from app import app

    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    assert config["lambda_architecture"] == template.LAMBDA_ARCHITECTURE
    configured = {name: (c["lambda_memory_size"], c["lambda_timeout"]) for name, c in config["lambda_functions"].items()}
    assert configured == {name: (m, t) for name, (m, t, _) in template.FUNCTION_SIZING.items()}
    handlers = {"api_handler"} | {s.name for s in app.event_sources} | {
        f.name for f in app.pure_lambda_functions if isinstance(f, LambdaFunction)}
    assert handlers == set(configured)
    for stage in config["stages"].values():  # a stage-wide value would override the per-function ones
        assert not {"lambda_memory_size", "lambda_timeout"} & set(stage)


def test_the_package_holds_aarch64_binaries_only(synthesized):
    """Every compiled extension (pydantic-core, cryptography, cffi...) is built for the
    functions' architecture: an x86_64 one would fail to import on Graviton."""
    machines = {}
    with zipfile.ZipFile(synthesized.out / "deployment.zip") as package:
        for name in package.namelist():
            if name.endswith(".so") or ".so." in name:
                header = package.open(name).read(20)
                assert header[:4] == b"\x7fELF", name
                machines[name] = int.from_bytes(header[18:20], "little")
    assert machines, "no compiled extension in the package: the check would be vacuous"
    assert {m for m in machines.values()} == {ELF_AARCH64}, {n: m for n, m in machines.items() if m != ELF_AARCH64}


ELF_AARCH64 = 183  # e_machine of an ARM 64-bit ELF (x86_64 is 62)


# -- B: least privilege (the derivation from the code is tests/infra/test_least_privilege.py) ---


def test_each_function_has_a_role_of_its_own_and_no_other_role_is_left(synthesized):
    roles = [f["Role"]["Fn::GetAtt"][0] for f in _functions(synthesized).values()]
    assert len(set(roles)) == len(roles) == len(permissions.needs())
    assert set(synthesized.of_type("AWS::IAM::Role")) == set(roles)
    for role in roles:
        trust = synthesized.resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                          "Action": "sts:AssumeRole"}]
        assert "ManagedPolicyArns" not in synthesized.resources[role]["Properties"]


def _statements(synthesized):
    for name, resource in synthesized.resources.items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield name, statement
        elif resource["Type"] == "AWS::IAM::Policy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield name, statement


def test_no_policy_allows_a_wildcard_action_or_resource(synthesized):
    statements = list(_statements(synthesized))
    assert statements
    for name, statement in statements:
        assert statement["Effect"] == "Allow", name
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), (name, actions)
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for resource in resources:
            text = json.dumps(resource)
            assert resource != "*" and '"*"' not in text and "/*" not in text and ":*:" not in text, (name, text)


def test_each_function_writes_only_to_its_own_log_group_kept_a_month(synthesized):
    for function_id, function in postprocess.functions(synthesized.template):
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        group = synthesized.resources[function_id + "LogGroup"]["Properties"]
        assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${%s}" % function_id}
        assert group["RetentionInDays"] == template.LOG_RETENTION_DAYS == 30
        policy = synthesized.resources[function_id + "LogsPolicy"]["Properties"]
        assert policy["Roles"] == [{"Ref": role}]
        assert policy["PolicyDocument"]["Statement"] == [{
            "Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": [function_id + "LogGroup", "Arn"]}}]
        # No other statement of the role mentions logs.
        for statement in synthesized.resources[role]["Properties"].get("Policies", [])[0]["PolicyDocument"]["Statement"]:
            assert not any(a.startswith("logs:") for a in statement["Action"])


def test_each_role_policy_fits_iams_size_limit(synthesized):
    """IAM refuses a role whose inline policies exceed 10,240 characters (white space not
    counted) once CloudFormation has put real ARNs in place of the references."""
    def resolved(node):
        text = json.dumps(node, separators=(",", ":"))
        # Generous stand-ins: a 12-digit account, a long region and long physical names.
        return len(text) + 60 * text.count("Fn::")
    for _, function in postprocess.functions(synthesized.template):
        role = synthesized.resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        assert sum(resolved(p["PolicyDocument"]) for p in role["Policies"]) < 10_240


# -- C: throttling and alarms --------------------------------------------------------------------


def test_the_api_stage_is_throttled_and_named_for_its_metrics(synthesized):
    api = synthesized.resources[template.REST_API]["Properties"]
    assert api["MethodSettings"] == [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": 100,
                                      "ThrottlingBurstLimit": 200}]
    assert api["Name"] == api["DefinitionBody"]["info"]["title"] == f"itinera-{STAGE}"


def _alarms(synthesized) -> dict[str, dict]:
    return {k: v["Properties"] for k, v in synthesized.of_type("AWS::CloudWatch::Alarm").items()}


def test_every_alarm_goes_to_the_operations_topic(synthesized):
    alarms = _alarms(synthesized)
    topic = [{"Ref": template.ALARM_TOPIC}]
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == topic, name
        assert alarm["TreatMissingData"] == "notBreaching", name
    expected = (len(resources.models()) + 2 * len(permissions.needs()) + len(resources.QUEUES)
                + len(template.BUSINESS_ALARMS) + 1)
    assert len(alarms) == expected


def test_each_function_alarms_on_its_errors_and_throttles(synthesized):
    alarms = _alarms(synthesized)
    for function_id, _ in postprocess.functions(synthesized.template):
        for alarm_id, metric in zip(template.function_alarm_ids(function_id), ("Errors", "Throttles")):
            alarm = alarms[alarm_id]
            assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", metric, "Sum")
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
            assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Period"]) == (0, "GreaterThanThreshold", 300)


def test_the_api_alarms_on_a_5xx_rate_above_one_percent(synthesized):
    alarm = _alarms(synthesized)[template.API_ERROR_ALARM]
    api = synthesized.resources[template.REST_API]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/ApiGateway", "5XXError", "Average")
    assert alarm["Dimensions"] == [{"Name": "ApiName", "Value": api["Name"]}, {"Name": "Stage", "Value": api["StageName"]}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["Period"], alarm["EvaluationPeriods"]) == (
        0.01, "GreaterThanThreshold", 300, 1)


def test_each_table_alarms_on_throttled_reads_and_writes_of_the_table_and_its_indexes(synthesized):
    alarms = _alarms(synthesized)
    for model in resources.models():
        alarm = alarms[template.table_throttle_alarm_id(model)]
        metrics = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
        table = {"Name": "TableName", "Value": {"Ref": template.table_id(model)}}
        indexes = [i["index_name"] for i in model._get_schema()["global_secondary_indexes"]]
        expected = {(name, json.dumps(dims)) for name in ("ReadThrottleEvents", "WriteThrottleEvents")
                    for dims in [[table]] + [[table, {"Name": "GlobalSecondaryIndexName", "Value": i}] for i in indexes]}
        assert {(m["Metric"]["MetricName"], json.dumps(m["Metric"]["Dimensions"])) for m in metrics} == expected
        assert all(m["Metric"]["Namespace"] == "AWS/DynamoDB" and m["Stat"] == "Sum" and m["Period"] == 300
                   for m in metrics)
        (total,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
        assert total["Expression"] == "SUM(FILL(METRICS(), 0))"
        assert len(alarm["Metrics"]) <= 10  # CloudWatch's limit for an alarm on metric math
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


# -- D: secrets ----------------------------------------------------------------------------------


def test_three_secrets_generated_at_creation_and_their_arns_for_the_operator(synthesized):
    secrets = synthesized.of_type("AWS::SecretsManager::Secret")
    assert set(secrets) == {template.CURSOR_SECRET, template.STRIPE_API_KEY_SECRET, template.STRIPE_WEBHOOK_SECRET}
    for secret in secrets.values():
        assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
        assert "Name" not in secret["Properties"] and "SecretString" not in secret["Properties"]
    outputs = synthesized.template["Outputs"]
    assert outputs["StripeApiKeySecretArn"]["Value"] == {"Ref": template.STRIPE_API_KEY_SECRET}
    assert outputs["StripeWebhookSecretArn"]["Value"] == {"Ref": template.STRIPE_WEBHOOK_SECRET}


def test_no_function_environment_holds_a_secret_value(synthesized):
    """Variables hold the secrets' ARNs (their Ref), never a value nor a dynamic reference that
    CloudFormation would resolve into the function's configuration."""
    text = json.dumps(synthesized.template)
    assert "{{resolve:" not in text
    secrets = set(synthesized.of_type("AWS::SecretsManager::Secret"))
    for name, props in _functions(synthesized).items():
        variables = props["Environment"]["Variables"]
        assert not {"ITINERA_CURSOR_SECRET", "ITINERA_STRIPE_API_KEY", "ITINERA_STRIPE_WEBHOOK_SECRET"} & set(variables)
        for key, value in variables.items():
            if isinstance(value, dict) and value.get("Ref") in secrets:
                assert key == template.SECRET_VARIABLES[value["Ref"]], (name, key)
            else:
                assert "SECRET" not in key and "KEY" not in key.replace("ITINERA_", ""), (name, key)


def test_each_secret_is_named_to_and_readable_by_only_the_functions_that_use_it(synthesized):
    expected = {template.CURSOR_SECRET: {"api_handler"},
                template.STRIPE_WEBHOOK_SECRET: {"api_handler"},
                template.STRIPE_API_KEY_SECRET: {"api_handler", "confirm_bookings", "cancel_bookings", "sweep_bookings"}}
    functions = _functions(synthesized)

    def allowed(props: dict) -> set:
        role = synthesized.resources[props["Role"]["Fn::GetAtt"][0]]["Properties"]
        return set().union(*(permissions.expand(p["PolicyDocument"]) for p in role["Policies"]))

    for secret, users in expected.items():
        variable = template.SECRET_VARIABLES[secret]
        given = {n for n, p in functions.items() if p["Environment"]["Variables"].get(variable) == {"Ref": secret}}
        assert given == users, secret
        read = ("secretsmanager:GetSecretValue", json.dumps({"Ref": secret}, sort_keys=True))
        assert {n for n, p in functions.items() if read in allowed(p)} == users, secret
    for name, statement in _statements(synthesized):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        secret_actions = [a for a in actions if a.startswith("secretsmanager:")]
        assert secret_actions in ([], ["secretsmanager:GetSecretValue"]), (name, actions)


def test_each_function_starts_with_the_environment_the_template_gives_it(synthesized, monkeypatch):
    """The deployed configuration is complete: settings() builds for every function with its
    template environment (stage prod; references replaced by placeholders), without calling AWS."""
    from chalicelib.core.config import settings

    for name, props in _functions(synthesized).items():
        for key in [k for k in os.environ if k.startswith("ITINERA_")]:
            monkeypatch.delenv(key)
        for key, value in props["Environment"]["Variables"].items():
            monkeypatch.setenv(key, value if isinstance(value, str) else f"arn:aws:placeholder:{value['Ref']}")
        settings.cache_clear()
        try:
            assert settings().stage == STAGE, name
        except Exception as exc:
            pytest.fail(f"{name} does not start with its template environment: {type(exc).__name__}: {exc}")
        finally:
            settings.cache_clear()


def test_every_sqs_handler_of_app_py_reports_batch_item_failures(synthesized):
    from app import app

    handlers = [s for s in app.event_sources if isinstance(s, SQSEventConfig)]
    events = list(postprocess.sqs_events(synthesized.template))
    assert len(events) == len(handlers)
    if not handlers:
        pytest.skip("app.py has no @app.on_sqs_message handler yet: the patch is shown on "
                    "Chalice's real output by test_sqs_handlers_of_a_chalice_app_are_patched")
    prefix = queue_name("")
    for handler in handlers:
        function = synthesized.resources[to_cfn_resource_name(handler.name)]["Properties"]
        (event,) = [e for e in function["Events"].values() if e["Type"] == "SQS"]
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], handler.name
        logical = (handler.queue or handler.queue_arn.rsplit(":", 1)[-1])[len(prefix):]
        assert event["Properties"]["Queue"] == {"Fn::GetAtt": [template.queue_id(logical), "Arn"]}
        assert function["Timeout"] <= synthesized.resources[template.queue_id(logical)]["Properties"][
            "VisibilityTimeout"]


def test_sqs_handlers_of_a_chalice_app_are_patched(sqs_project):
    events = {f: p for f, _, p in postprocess.sqs_events(sqs_project.template)}
    assert set(events) == {"ConfirmBookings", "CancelBookings"}
    for function, props in events.items():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], function
    assert events["ConfirmBookings"]["Queue"] == {"Fn::GetAtt": ["ConfirmationsQueue", "Arn"]}
    assert events["CancelBookings"]["Queue"] == {"Fn::GetAtt": ["CancellationsQueue", "Arn"]}
    assert events["ConfirmBookings"]["BatchSize"] == 5
    for function in events:
        assert sqs_project.resources[function]["Properties"]["Timeout"] <= 30
    assert postprocess.template_problems(sqs_project.template) == []
    assert sorted(sqs_project.summary.sqs_event_sources) == [
        "CancelBookings.Events.CancelBookingsSqsEventSource",
        "ConfirmBookings.Events.ConfirmBookingsSqsEventSource"]


def test_a_handler_on_an_undeclared_queue_stops_the_synthesis(tmp_path):
    project = make_project(tmp_path / "project", '''
        from chalice import Chalice
        app = Chalice(app_name="itinera")

        @app.on_sqs_message(queue="itinera-prod-nobody-declared-me")
        def handle(event):
            return None
    ''')
    done = subprocess.run([sys.executable, "-m", "infra.synth", "--project-dir", str(project),
                           "--out", str(tmp_path / "out")], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "itinera-prod-nobody-declared-me" in done.stderr


def test_a_handler_infra_permissions_does_not_declare_stops_the_synthesis(tmp_path):
    project = make_project(tmp_path / "project", '''
        from chalice import Chalice
        app = Chalice(app_name="itinera")

        @app.lambda_function()
        def nobody_declared_me(event, context):
            return None
    ''')
    done = subprocess.run([sys.executable, "-m", "infra.synth", "--project-dir", str(project),
                           "--out", str(tmp_path / "out")], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "NobodyDeclaredMe: no role of its own" in done.stderr and "'nobody_declared_me'" in done.stderr


def test_the_package_holds_the_app_and_its_requirements_but_not_boto3_or_botocore(synthesized):
    names = synthesized.zip_names
    assert "app.py" in names and "chalicelib/__init__.py" in names
    tops = {n.split("/", 1)[0] for n in names}
    assert not {"boto3", "botocore", "s3transfer"} & tops
    assert not [t for t in tops if t.lower().startswith(("boto3-", "botocore-", "s3transfer-"))]
    assert postprocess.runtime_package_entries(names) == []
    assert {"pynamodb", "pydantic_core", "jwt", "cryptography", "aws_lambda_powertools"} <= tops
    assert not [n for n in names if n.startswith(("tests/", "tools/", "infra/"))]


# cfn-lint checks skipped for the whole template, and why. Checks a single resource is exempt
# from are in the template itself, next to the reason (infra.template's lint exemptions).
SKIPPED_CHECKS = {
    # The python3.11 runtime's deprecation dates: the runtime is the project's choice.
    "E2533": "runtime deprecation dates",
    # X-Ray: the app records no traces (Powertools' Tracer needs the X-Ray SDK, which the
    # package does not ship); requests are followed by their request id in the logs. Active
    # tracing would add a cost per request and xray:PutTraceSegments on Resource "*" (X-Ray has
    # no resource-level permissions) to every role.
    "WS1000": "Lambda tracing (X-Ray)",
    "WS2002": "API Gateway tracing (X-Ray)",
    # API Gateway access logs need the account's CloudWatch role (AWS::ApiGateway::Account, one
    # per account and region: not a stage's stack to own). The function logs every failed
    # request with its request id (and every request below prod's WARNING level); what API
    # Gateway answers itself (throttled, no such route) counts in its 4XXError and 5XXError
    # metrics, and the 5xx rate has its alarm.
    "ES2000": "API Gateway access logging",
}


def _lint(template: dict) -> list[str]:
    """cfn-lint (a dependency of moto[server]) with the serverless rules pack
    (cfn-lint-serverless): resource types, property names and values, Ref/GetAtt targets, and
    the serverless best practices (memory and timeout set, log retention, throttling, DLQs...)."""
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint comes with moto[server] (requirements-dev.txt)")
    config = api.ManualArgs(regions=["us-east-1"], ignore_checks=sorted(SKIPPED_CHECKS),
                            append_rules=["cfn_lint_serverless.rules"])
    return [str(match) for match in api.lint(json.dumps(template), config=config)]


def test_the_serverless_rules_pack_is_loaded():
    """A rule pack that failed to load would make every serverless check pass silently."""
    api = pytest.importorskip("cfnlint.api")
    bare = {"AWSTemplateFormatVersion": "2010-09-09", "Transform": "AWS::Serverless-2016-10-31",
            "Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {
                "Runtime": "python3.12", "Handler": "app.app", "CodeUri": "."}}}}
    config = api.ManualArgs(regions=["us-east-1"], append_rules=["cfn_lint_serverless.rules"])
    found = {match.rule.id for match in api.lint(json.dumps(bare), config=config)}
    assert {"ES1005", "ES1006"} <= found  # no MemorySize, no Timeout


def test_cfn_lint_finds_nothing_in_the_template(synthesized):
    assert _lint(synthesized.template) == []


def test_cfn_lint_finds_nothing_in_a_template_with_sqs_workers(sqs_project):
    assert _lint(sqs_project.template) == []


def test_the_only_resource_exemptions_from_cfn_lint_are_the_dead_letter_queues_and_the_schedule(synthesized):
    exempt = {name: tuple(r["Metadata"]["cfn-lint"]["config"]["ignore_checks"])
              for name, r in synthesized.resources.items() if "cfn-lint" in r.get("Metadata", {})}
    dlqs = {template.dead_letter_queue_id(q): template.DEAD_LETTER_QUEUE_EXEMPTION for q in resources.QUEUES}
    scheduled = {f: template.SCHEDULE_EXEMPTION for f, r in postprocess.functions(synthesized.template)
                 if any(e["Type"] == "Schedule" for e in r["Properties"].get("Events", {}).values())}
    assert scheduled == {name: ("ES4000", "ES1007") for name in ("SweepBookings", "RelayWebhooks", "SweepWaitlist",
                                                                 "EmailRecommendations")}
    assert exempt == {**dlqs, **scheduled}
