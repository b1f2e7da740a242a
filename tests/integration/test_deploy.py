"""tools.deploy: what it sends to AWS, against moto (S3) and botocore's Stubber (CloudFormation,
whose Serverless transform moto does not run). A real deployment cannot run here."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from tools import deploy

URL = "https://bucket.s3.us-east-1.amazonaws.com/dev/abc.json"


def test_every_function_runs_the_uploaded_package_and_nothing_else_changes():
    template = {"Resources": {
        "Api": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip", "Handler": "app.app"}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "t"}}}}

    out = deploy.with_code_location(template, "b", "dev/k.zip")

    assert out["Resources"]["Api"]["Properties"] == {"CodeUri": {"Bucket": "b", "Key": "dev/k.zip"}, "Handler": "app.app"}
    assert out["Resources"]["Table"] == template["Resources"]["Table"]
    assert template["Resources"]["Api"]["Properties"]["CodeUri"] == "./deployment.zip"  # a copy


def test_parameters_are_key_value_pairs():
    assert deploy.parse_parameters(["SenderEmail=a=b@example.com"]) == [
        {"ParameterKey": "SenderEmail", "ParameterValue": "a=b@example.com"}]
    with pytest.raises(deploy.DeployError):
        deploy.parse_parameters(["novalue"])


@mock_aws
def test_the_artifacts_bucket_is_created_once_private_and_versioned(tmp_path):
    s3 = boto3.client("s3", region_name="eu-west-1")
    deploy.ensure_bucket(s3, "itinera-artifacts-1-eu-west-1", "eu-west-1")
    deploy.ensure_bucket(s3, "itinera-artifacts-1-eu-west-1", "eu-west-1")

    assert s3.get_bucket_versioning(Bucket="itinera-artifacts-1-eu-west-1")["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket="itinera-artifacts-1-eu-west-1")["PublicAccessBlockConfiguration"]
    assert all(block.values())


@mock_aws
def test_an_unchanged_package_is_uploaded_under_the_same_key(tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    deploy.ensure_bucket(s3, "itinera-artifacts-b", "us-east-1")
    package = tmp_path / "deployment.zip"
    package.write_bytes(b"zip bytes")

    first, second = deploy.upload(s3, "itinera-artifacts-b", "dev", package), deploy.upload(s3, "itinera-artifacts-b", "dev", package)

    assert first == second and first.startswith("dev/") and first.endswith(".zip")
    assert len(s3.list_objects_v2(Bucket="itinera-artifacts-b")["Contents"]) == 1


def stubbed_cloudformation():
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    return cfn, Stubber(cfn)


def test_a_new_stack_is_created_through_a_change_set():
    cfn, stub = stubbed_cloudformation()
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id itinera-dev does not exist")
    stub.add_response("create_change_set", {"Id": "cs"}, {
        "StackName": "itinera-dev", "ChangeSetName": ANY, "TemplateURL": URL, "Parameters": [],
        "Capabilities": deploy.CAPABILITIES, "ChangeSetType": "CREATE", "Tags": ANY})
    stub.add_response("describe_change_set", {"Status": "CREATE_COMPLETE", "Changes": []}, None)
    stub.add_response("execute_change_set", {}, None)
    stub.add_response("describe_stacks", {"Stacks": [{"StackName": "itinera-dev", "CreationTime": "2026-12-01",
                                                      "StackStatus": "CREATE_COMPLETE"}]}, None)
    with stub:
        assert deploy.deploy_stack(cfn, "itinera-dev", URL, [], "dev") == "created"
    stub.assert_no_pending_responses()


def test_an_update_without_changes_executes_nothing():
    cfn, stub = stubbed_cloudformation()
    stub.add_response("describe_stacks", {"Stacks": [{"StackName": "itinera-dev", "CreationTime": "2026-12-01",
                                                      "StackStatus": "UPDATE_COMPLETE"}]}, None)
    stub.add_response("create_change_set", {"Id": "cs"}, None)
    failed = {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes.", "Changes": []}
    stub.add_response("describe_change_set", failed, None)  # the waiter sees FAILED
    stub.add_response("describe_change_set", failed, None)  # we ask why
    stub.add_response("delete_change_set", {}, None)
    with stub:
        assert deploy.deploy_stack(cfn, "itinera-dev", URL, [], "dev") == "unchanged"
    stub.assert_no_pending_responses()


def test_a_stack_whose_first_creation_failed_must_be_destroyed_first():
    cfn, stub = stubbed_cloudformation()
    stub.add_response("describe_stacks", {"Stacks": [{"StackName": "itinera-dev", "CreationTime": "2026-12-01",
                                                      "StackStatus": "ROLLBACK_COMPLETE"}]}, None)
    with stub, pytest.raises(deploy.DeployError, match="destroy"):
        deploy.deploy_stack(cfn, "itinera-dev", URL, [], "dev")


def test_the_local_stage_is_not_deployed(capsys):
    assert deploy.main(["deploy", "--stage", "local"]) == 2
    assert "make run" in capsys.readouterr().err


@mock_aws
def test_the_first_admin_is_created_in_the_admins_group():
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="itinera-dev", UsernameAttributes=["email"])["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool, GroupName="admins")

    deploy.create_admin(cognito, pool, "ops@example.com")

    groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username="ops@example.com")["Groups"]
    assert [g["GroupName"] for g in groups] == ["admins"]


@mock_aws
def test_a_support_agent_is_created_in_the_agents_group_and_nothing_else_is_staff():
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    pool = cognito.create_user_pool(PoolName="itinera-dev", UsernameAttributes=["email"])["UserPool"]["Id"]
    cognito.create_group(UserPoolId=pool, GroupName="agents")

    deploy.create_admin(cognito, pool, "desk@example.com", "agents")

    groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username="desk@example.com")["Groups"]
    assert [g["GroupName"] for g in groups] == ["agents"]
    with pytest.raises(deploy.DeployError):
        deploy.create_admin(cognito, pool, "v@example.com", "vendors")
