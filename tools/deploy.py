"""Deploy a stage to AWS from the synthesized template, with boto3 only (no SAM CLI needed).

    python -m tools.deploy deploy --stage dev [--parameter Key=Value ...]
    python -m tools.deploy outputs --stage dev
    python -m tools.deploy admin --stage dev --email you@example.com [--group agents]
    python -m tools.deploy destroy --stage dev

`deploy` synthesizes the stage (infra.synth, offline), uploads deployment.zip and the template
to an artifacts bucket of the account (`itinera-artifacts-<account>-<region>`, created once,
private, versioned), points every function's CodeUri at the uploaded package, and creates or
updates the stack `itinera-<stage>` through a change set (CloudFormation expands the
AWS::Serverless transform itself). It waits, then prints the outputs: the API URL first.

`admin` creates a staff user in the stage's user pool (AdminCreateUser sends the temporary
password by email; the first sign-in sets a new one) in `admins`, or `agents` with --group
(the API creates vendors, not staff).

`destroy` deletes the stack. Tables and the user pool are kept (DeletionPolicy Retain:
bookings and money must not vanish with a stack); delete them by hand if you mean it.

Credentials and region come from the usual AWS configuration (AWS_PROFILE, AWS_REGION, ...).
Nothing here runs in `make test` against AWS: the template rewriting and the order of calls are
tested against moto and botocore's Stubber (tests/unit/test_deploy.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVERLESS_FUNCTION = "AWS::Serverless::Function"
# Chalice's SAM template uses the Serverless transform and creates roles with generated names.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployError(Exception):
    """The deployment cannot go on; the message says why and what to do."""


def stack_name(stage: str) -> str:
    return f"itinera-{stage}"


def artifacts_bucket(account: str, region: str) -> str:
    return f"itinera-artifacts-{account}-{region}"


def with_code_location(template: dict[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template with every function's local CodeUri replaced by the uploaded package."""
    out = json.loads(json.dumps(template))
    for resource in out.get("Resources", {}).values():
        if resource.get("Type") == SERVERLESS_FUNCTION:
            resource.setdefault("Properties", {})["CodeUri"] = {"Bucket": bucket, "Key": key}
    return out


def parse_parameters(pairs: list[str]) -> list[dict[str, str]]:
    parameters = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise DeployError(f"--parameter takes Key=Value, not {pair!r}")
        parameters.append({"ParameterKey": name, "ParameterValue": value})
    return parameters


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    """The artifacts bucket: private (public access blocked), versioned, created once."""
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"the artifacts bucket {bucket} exists but is not readable: {exc}") from exc
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 refuses an explicit location constraint
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def upload(s3: Any, bucket: str, stage: str, path: Path) -> str:
    """Uploads a file under its content hash (an unchanged package is not sent again)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"{stage}/{digest}{path.suffix}"
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        s3.upload_file(str(path), bucket, key)
    return key


def _stack_exists(cfn: Any, name: str) -> bool:
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except cfn.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return False
        raise
    status = stacks[0]["StackStatus"]
    if status == "ROLLBACK_COMPLETE":
        # A first creation that failed: CloudFormation allows nothing but deleting it.
        raise DeployError(f"stack {name} is ROLLBACK_COMPLETE (its first creation failed): "
                          f"run `make destroy STAGE=...` and deploy again")
    return status != "REVIEW_IN_PROGRESS"


def deploy_stack(cfn: Any, name: str, template_url: str, parameters: list[dict[str, str]],
                 stage: str) -> str:
    """Creates or updates the stack through a change set; returns "created", "updated" or
    "unchanged"."""
    exists = _stack_exists(cfn, name)
    change_set = f"itinera-{secrets.token_hex(6)}"
    cfn.create_change_set(StackName=name, ChangeSetName=change_set, TemplateURL=template_url,
                          Parameters=parameters, Capabilities=CAPABILITIES,
                          ChangeSetType="UPDATE" if exists else "CREATE",
                          Tags=[{"Key": "itinera:stage", "Value": stage}])
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    except Exception as exc:  # the waiter fails on FAILED, which "no changes" also is
        described = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
            return "unchanged"
        raise DeployError(f"the change set failed: {reason or exc}") from exc
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_update_complete" if exists else "stack_create_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig={"Delay": 10, "MaxAttempts": 360})
    except Exception as exc:
        raise DeployError(f"stack {name} did not finish: {exc}; see its events in the CloudFormation "
                          f"console") from exc
    return "updated" if exists else "created"


def outputs(cfn: Any, name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


STAFF_GROUPS = ("admins", "agents")


def create_admin(cognito: Any, pool_id: str, email: str, group: str = "admins") -> None:
    """A staff user: Cognito emails a temporary password, the first sign-in changes it."""
    if group not in STAFF_GROUPS:
        raise DeployError(f"staff are in one of {', '.join(STAFF_GROUPS)}, not {group!r}")
    cognito.admin_create_user(UserPoolId=pool_id, Username=email,
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "email_verified", "Value": "true"}],
                              DesiredDeliveryMediums=["EMAIL"])
    cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)


def _session() -> Any:
    import boto3
    session = boto3.session.Session()
    if not session.region_name:
        raise DeployError("no AWS region: set AWS_REGION (or a profile with a region)")
    return session


def _deploy(stage: str, parameters: list[dict[str, str]]) -> int:
    from infra.synth import DEFAULT_OUT, run_synth

    session = _session()
    region = session.region_name
    account = session.client("sts").get_caller_identity()["Account"]
    out = DEFAULT_OUT.parent / f"deploy-{stage}"
    print(f"synthesizing stage {stage} ...")
    result = run_synth(stage, out)
    s3 = session.client("s3")
    bucket = artifacts_bucket(account, region)
    ensure_bucket(s3, bucket, region)
    package_key = upload(s3, bucket, stage, Path(result.package))
    template = with_code_location(json.loads(Path(result.template).read_text()), bucket, package_key)
    ready = out / "sam.deploy.json"
    ready.write_text(json.dumps(template))
    # Templates over 51,200 bytes must come from S3 (ours does).
    template_key = upload(s3, bucket, stage, ready)
    url = f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"
    name = stack_name(stage)
    print(f"deploying {name} to account {account}, {region} ...")
    outcome = deploy_stack(session.client("cloudformation"), name, url, parameters, stage)
    print(f"stack {name} {outcome}")
    _print_outputs(outputs(session.client("cloudformation"), name))
    return 0


def _print_outputs(values: dict[str, str]) -> None:
    first = [k for k in ("EndpointURL", "UserPoolId", "UserPoolClientId", "AlarmTopicArn") if k in values]
    for key in first + sorted(k for k in values if k not in first):
        print(f"  {key:28} {values[key]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["deploy", "outputs", "admin", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--parameter", action="append", default=[], help="Key=Value, a template parameter")
    parser.add_argument("--email", help="admin: the staff user's email address")
    parser.add_argument("--group", default="admins", choices=STAFF_GROUPS, help="admin: admins or agents")
    args = parser.parse_args(argv)
    if args.stage == "local":
        print("tools.deploy: the local stage runs on this machine (`make run`), not on AWS", file=sys.stderr)
        return 2
    try:
        if args.command == "deploy":
            return _deploy(args.stage, parse_parameters(args.parameter))
        cfn = _session().client("cloudformation")
        name = stack_name(args.stage)
        if args.command == "outputs":
            _print_outputs(outputs(cfn, name))
        elif args.command == "admin":
            if not args.email:
                raise DeployError("admin needs --email (make admin EMAIL=...)")
            create_admin(_session().client("cognito-idp"), outputs(cfn, name)["UserPoolId"], args.email, args.group)
            print(f"{args.email} is in {args.group} of {name}; Cognito emailed a temporary password")
        else:
            cfn.delete_stack(StackName=name)
            cfn.get_waiter("stack_delete_complete").wait(StackName=name,
                                                         WaiterConfig={"Delay": 10, "MaxAttempts": 360})
            print(f"stack {name} deleted; its tables and user pool are retained (DeletionPolicy Retain)")
    except DeployError as exc:
        print(f"tools.deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
