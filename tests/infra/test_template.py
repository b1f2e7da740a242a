"""The synthesized prod stack (`python -m infra.synth`): template and deployment package."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from chalice.app import SQSEventConfig
from chalice.utils import to_cfn_resource_name

from chalicelib.core.config import queue_name
from infra import postprocess, resources, template
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
                    if a["Properties"]["Dimensions"] == [{"Name": "QueueName",
                                                           "Value": {"Fn::GetAtt": [target, "QueueName"]}}]]
        assert len(watching) == 1, name
        assert watching[0]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (watching[0]["ComparisonOperator"], watching[0]["Threshold"]) == ("GreaterThanThreshold", 0)


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


def test_functions_know_the_pool_and_may_use_the_tables_queues_email_and_pool(synthesized):
    functions = dict(postprocess.functions(synthesized.template))
    assert "APIHandler" in functions
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Environment"]["Variables"]["ITINERA_USER_POOL_ID"] == {"Ref": template.USER_POOL}
        assert props["Environment"]["Variables"]["ITINERA_USER_POOL_CLIENT_ID"] == {"Ref": template.USER_POOL_CLIENT}
        assert props["Environment"]["Variables"]["ITINERA_STAGE"] == STAGE
        role = synthesized.resources[props["Role"]["Fn::GetAtt"][0]]
        (policy,) = role["Properties"]["Policies"]
        assert policy["PolicyDocument"] == template.lambda_policy(), name


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
    assert set(events) == {"HandleConfirmations", "HandleCancellations"}
    for function, props in events.items():
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], function
    assert events["HandleConfirmations"]["Queue"] == {"Fn::GetAtt": ["ConfirmationsQueue", "Arn"]}
    assert events["HandleCancellations"]["Queue"] == {"Fn::GetAtt": ["CancellationsQueue", "Arn"]}
    assert events["HandleConfirmations"]["BatchSize"] == 5
    for function in events:
        assert sqs_project.resources[function]["Properties"]["Timeout"] <= 30
    assert postprocess.template_problems(sqs_project.template) == []
    assert sorted(sqs_project.summary.sqs_event_sources) == [
        "HandleCancellations.Events.HandleCancellationsSqsEventSource",
        "HandleConfirmations.Events.HandleConfirmationsSqsEventSource"]


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


def test_the_package_holds_the_app_and_its_requirements_but_not_boto3_or_botocore(synthesized):
    names = synthesized.zip_names
    assert "app.py" in names and "chalicelib/__init__.py" in names
    tops = {n.split("/", 1)[0] for n in names}
    assert not {"boto3", "botocore", "s3transfer"} & tops
    assert not [t for t in tops if t.lower().startswith(("boto3-", "botocore-", "s3transfer-"))]
    assert postprocess.runtime_package_entries(names) == []
    assert {"pynamodb", "pydantic_core", "jwt", "cryptography", "aws_lambda_powertools"} <= tops
    assert not [n for n in names if n.startswith(("tests/", "tools/", "infra/"))]


def _lint(template: dict) -> list[str]:
    """cfn-lint (a dependency of moto[server]): resource types, property names and values,
    Ref/GetAtt targets and attributes, against CloudFormation's schemas."""
    api = pytest.importorskip("cfnlint.api", reason="cfn-lint comes with moto[server] (requirements-dev.txt)")
    # E2533: the python3.11 runtime's deprecation dates; the runtime is the project's choice.
    config = api.ManualArgs(regions=["us-east-1"], ignore_checks=["E2533"])
    return [str(match) for match in api.lint(json.dumps(template), config=config)]


def test_cfn_lint_finds_nothing_in_the_template(synthesized):
    assert _lint(synthesized.template) == []


def test_cfn_lint_finds_nothing_in_a_template_with_sqs_workers(sqs_project):
    assert _lint(sqs_project.template) == []
