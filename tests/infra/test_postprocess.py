"""The post-processing of Chalice's template and package, on synthetic inputs."""
from __future__ import annotations

import copy
import stat
import zipfile

import pytest

from infra import postprocess
from infra.synth import missing_requirements, requirements


def chalice_like_template() -> dict:
    """What `chalice package` writes for two SQS handlers and the API (trimmed)."""
    def function(handler, events=None, timeout=60):
        props = {"Handler": handler, "Runtime": "python3.11", "Timeout": timeout,
                 "CodeUri": "./deployment.zip",
                 "Environment": {"Variables": {"ITINERA_STAGE": "prod"}},
                 "Role": {"Fn::GetAtt": ["DefaultRole", "Arn"]}}
        if events:
            props["Events"] = events
        return {"Type": "AWS::Serverless::Function", "Properties": props}

    def sqs(queue):
        return {"Type": "SQS", "Properties": {
            "Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:" + queue},
            "BatchSize": 10, "MaximumBatchingWindowInSeconds": 0}}

    return {"Resources": {
        "DefaultRole": {"Type": "AWS::IAM::Role", "Properties": {}},
        "APIHandler": function("app.app"),
        "HandleConfirmations": function("app.handle_confirmations",
                                        {"HandleConfirmationsSqsEventSource": sqs("itinera-prod-confirmations")}),
        "HandleNotifications": function("app.handle_notifications",
                                        {"HandleNotificationsSqsEventSource": sqs("itinera-prod-notifications")},
                                        timeout=10),
        "ConfirmationsQueue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}},
        "NotificationsQueue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 30}},
        "UserPool": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
        "UserPoolClient": {"Type": "AWS::Cognito::UserPoolClient", "Properties": {}},
    }}


QUEUE_IDS = {"itinera-prod-confirmations": "ConfirmationsQueue",
             "itinera-prod-notifications": "NotificationsQueue"}


def test_every_sqs_event_source_gets_report_batch_item_failures():
    template = chalice_like_template()
    assert len(list(postprocess.sqs_events(template))) == 2  # the check below is not vacuous

    patched = postprocess.report_batch_item_failures(template)

    assert sorted(patched) == ["HandleConfirmations.Events.HandleConfirmationsSqsEventSource",
                               "HandleNotifications.Events.HandleNotificationsSqsEventSource"]
    for _, _, props in postprocess.sqs_events(template):
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Events" not in template["Resources"]["APIHandler"]["Properties"]


def test_the_patch_is_idempotent_and_keeps_other_response_types():
    template = chalice_like_template()
    props = template["Resources"]["HandleConfirmations"]["Properties"]["Events"][
        "HandleConfirmationsSqsEventSource"]["Properties"]
    props["FunctionResponseTypes"] = ["SomethingElse"]
    postprocess.report_batch_item_failures(template)
    postprocess.report_batch_item_failures(template)
    assert props["FunctionResponseTypes"] == ["SomethingElse", "ReportBatchItemFailures"]


def test_plain_event_source_mappings_on_sqs_are_patched_too():
    template = {"Resources": {
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "ByGetAtt": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["Q", "Arn"]}, "FunctionName": "f"}},
        "ByArn": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": "arn:aws:sqs:us-east-1:1:q", "FunctionName": "f"}},
        "Stream": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s", "FunctionName": "f"}},
    }}
    assert sorted(postprocess.report_batch_item_failures(template)) == ["ByArn", "ByGetAtt"]
    assert "FunctionResponseTypes" not in template["Resources"]["Stream"]["Properties"]


def test_template_problems_names_an_sqs_event_without_partial_batch_responses():
    template = chalice_like_template()
    problems = postprocess.template_problems(template)
    assert any("HandleConfirmations" in p and "ReportBatchItemFailures" in p for p in problems)
    postprocess.report_batch_item_failures(template)
    assert not [p for p in postprocess.template_problems(template) if "ReportBatchItemFailures" in p]


def test_queue_arns_are_wired_to_the_queue_resources_and_unknown_queues_reported():
    template = chalice_like_template()
    template["Resources"]["HandleNotifications"]["Properties"]["Events"][
        "HandleNotificationsSqsEventSource"]["Properties"]["Queue"] = "arn:aws:sqs:eu-west-1:1:someone-elses"

    unknown = postprocess.wire_queue_arns(template, QUEUE_IDS)

    assert unknown == ["someone-elses"]
    confirmations = template["Resources"]["HandleConfirmations"]["Properties"]["Events"][
        "HandleConfirmationsSqsEventSource"]["Properties"]
    assert confirmations["Queue"] == {"Fn::GetAtt": ["ConfirmationsQueue", "Arn"]}


def test_a_worker_may_not_outlive_its_queues_visibility_timeout():
    template = chalice_like_template()
    postprocess.wire_queue_arns(template, QUEUE_IDS)

    lowered = postprocess.fit_worker_timeouts(template)

    assert lowered == ["HandleConfirmations: Timeout 60 -> 30"]
    assert template["Resources"]["HandleConfirmations"]["Properties"]["Timeout"] == 30
    assert template["Resources"]["HandleNotifications"]["Properties"]["Timeout"] == 10
    assert template["Resources"]["APIHandler"]["Properties"]["Timeout"] == 60


def test_every_function_gets_the_pool_ids_but_config_values_win():
    template = chalice_like_template()
    template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]["ITINERA_USER_POOL_ID"] = "fixed"
    env = {"ITINERA_USER_POOL_ID": {"Ref": "UserPool"}, "ITINERA_USER_POOL_CLIENT_ID": {"Ref": "UserPoolClient"}}

    names = postprocess.add_function_environment(template, env)

    assert sorted(names) == ["APIHandler", "HandleConfirmations", "HandleNotifications"]
    variables = template["Resources"]["HandleConfirmations"]["Properties"]["Environment"]["Variables"]
    assert variables["ITINERA_USER_POOL_ID"] == {"Ref": "UserPool"}
    assert variables["ITINERA_STAGE"] == "prod"
    assert template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"][
        "ITINERA_USER_POOL_ID"] == "fixed"


def test_chalice_names_functions_after_their_handlers():
    template = chalice_like_template()
    names = {i: postprocess.function_name(f) for i, f in postprocess.functions(template)}
    assert names == {"APIHandler": "api_handler", "HandleConfirmations": "handle_confirmations",
                     "HandleNotifications": "handle_notifications"}


def test_some_variables_go_to_one_function_only():
    template = chalice_like_template()
    postprocess.add_function_environment(template, {"SHARED": "1"},
                                         per_function={"api_handler": {"ONLY_API": {"Ref": "Secret"}}})
    variables = {i: f["Properties"]["Environment"]["Variables"] for i, f in postprocess.functions(template)}
    assert variables["APIHandler"]["ONLY_API"] == {"Ref": "Secret"} and variables["APIHandler"]["SHARED"] == "1"
    assert "ONLY_API" not in variables["HandleConfirmations"] and variables["HandleConfirmations"]["SHARED"] == "1"


POLICY = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Grant1", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": ["arn:aws:sqs:::q"]}]}


def test_each_function_gets_a_role_of_its_own_and_chalices_shared_role_goes():
    template = chalice_like_template()
    policies = {name: {**POLICY, "Id": name} for name in ("api_handler", "handle_confirmations", "handle_notifications")}

    roles = postprocess.give_each_function_its_role(template, policies)

    assert roles == {"APIHandler": "APIHandlerRole", "HandleConfirmations": "HandleConfirmationsRole",
                     "HandleNotifications": "HandleNotificationsRole"}
    resources = template["Resources"]
    assert "DefaultRole" not in resources
    for function_id, role_id in roles.items():
        assert resources[function_id]["Properties"]["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
        role = resources[role_id]["Properties"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        (policy,) = role["Policies"]
        assert policy["PolicyDocument"] == policies[postprocess.function_name(resources[function_id])]
    postprocess.report_batch_item_failures(template)
    assert postprocess.template_problems(template) == []


def test_a_function_without_a_policy_is_left_without_a_role_and_named_as_a_problem():
    template = chalice_like_template()
    postprocess.report_batch_item_failures(template)

    postprocess.give_each_function_its_role(template, {"api_handler": POLICY, "handle_confirmations": POLICY})

    assert "Role" not in template["Resources"]["HandleNotifications"]["Properties"]
    assert postprocess.template_problems(template) == [
        "HandleNotifications: no role of its own (does infra.permissions declare 'handle_notifications'?)"]


def test_a_role_shared_by_two_functions_is_a_problem():
    template = chalice_like_template()
    postprocess.report_batch_item_failures(template)
    assert postprocess.template_problems(template) == [
        "DefaultRole: shared by APIHandler, HandleConfirmations, HandleNotifications"]


def test_generated_resources_never_replace_chalices():
    template = chalice_like_template()
    postprocess.add_resources(template, {"NewAlarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}}})
    assert "NewAlarm" in template["Resources"]
    with pytest.raises(ValueError, match="APIHandler"):
        postprocess.add_resources(template, {"APIHandler": {"Type": "AWS::SNS::Topic"}})


def test_template_problems_finds_dangling_references_and_partial_merges():
    template = copy.deepcopy(chalice_like_template())
    postprocess.report_batch_item_failures(template)
    template["Resources"]["Alarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmActions": [{"Ref": "MissingTopic"}],
        "Dimensions": [{"Value": {"Fn::GetAtt": ["MissingQueue", "QueueName"]}}],
        "AlarmDescription": {"Fn::Sub": ["${AWS::Region} ${Bound} ${Gone.Arn} ${!Literal}", {"Bound": "x"}]}}}
    template["Resources"]["RestAPI"] = {"Properties": {"DefinitionBody": {}}}

    problems = postprocess.template_problems(template)

    assert any("'MissingTopic'" in p for p in problems)
    assert any("'MissingQueue'" in p for p in problems)
    assert any("'Gone'" in p for p in problems)
    assert not any("Bound" in p or "Literal" in p or "AWS::Region" in p for p in problems)
    assert any(p.startswith("RestAPI: no Type") for p in problems)


def _zip(path, names):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            z.writestr(info, b"x" * 100, compress_type=zipfile.ZIP_DEFLATED)


def test_boto3_botocore_and_s3transfer_are_stripped_from_the_package(tmp_path):
    package = tmp_path / "deployment.zip"
    _zip(package, ["app.py", "botocore/__init__.py", "botocore/data/s3.json", "botocore-1.44.5.dist-info/RECORD",
                   "boto3/__init__.py", "s3transfer/__init__.py", "pynamodb/__init__.py",
                   "botocore_extra/__init__.py", "chalicelib/boto3_helpers.py"])

    removed = postprocess.strip_runtime_packages(str(package))

    with zipfile.ZipFile(package) as z:
        assert z.namelist() == ["app.py", "pynamodb/__init__.py", "botocore_extra/__init__.py",
                                "chalicelib/boto3_helpers.py"]
        assert z.getinfo("app.py").external_attr >> 16 & 0o777 == 0o755
        assert z.read("app.py") == b"x" * 100
    assert removed > 0
    assert postprocess.strip_runtime_packages(str(package)) == 0


def test_requirements_missing_from_the_package_are_named(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\naws-lambda-powertools==3.37.0\npyjwt[crypto]==2.15.1  # tokens\n"
                   "PyNamoDB==6.1.0\n-r other.txt\n")
    pins = requirements(req)
    assert pins == {"aws_lambda_powertools": "3.37.0", "pyjwt": "2.15.1", "pynamodb": "6.1.0"}
    names = ["aws_lambda_powertools-3.37.0.dist-info/METADATA", "PyJWT-2.15.1.dist-info/METADATA",
             "pynamodb-6.0.0.dist-info/METADATA"]
    assert missing_requirements(names, pins) == ["pynamodb==6.1.0"]
