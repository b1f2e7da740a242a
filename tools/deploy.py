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

After the stack, `deploy` publishes the web app (infra.web: a private bucket behind CloudFront,
which also sends /api/* to the API): the files `site_files` picks from web/ (and Swagger UI's
from web/node_modules, installed by `npm ci --prefix web --ignore-scripts`), a /config.json for
the stage, each with its Content-Type and Cache-Control; then files left from an earlier
version are deleted and CloudFront's cache is invalidated. The site is the WebUrl output.

`destroy` empties the web app's bucket (CloudFormation cannot delete a bucket that holds
objects; the files are rebuilt from web/ at every deployment), then deletes the stack. Tables
and the user pool are kept (DeletionPolicy Retain: bookings and money must not vanish with a
stack); delete them by hand if you mean it.

Credentials and region come from the usual AWS configuration (AWS_PROFILE, AWS_REGION, ...).
Nothing here runs in `make test` against AWS: the template rewriting and the order of calls are
tested against moto and botocore's Stubber (tests/integration/test_deploy.py), the site's files
and their upload in tests/integration/test_deploy_site.py.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import os
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
SERVERLESS_FUNCTION = "AWS::Serverless::Function"
# Chalice's SAM template uses the Serverless transform and creates roles with generated names.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")

# The web app (infra.web). Outputs of the stack that say where it goes.
WEB_ROOT = ROOT / "web"
WEB_URL_OUTPUT, WEB_BUCKET_OUTPUT, WEB_DISTRIBUTION_OUTPUT = "WebUrl", "WebBucket", "WebDistributionId"
NPM_CI = "npm ci --prefix web --ignore-scripts"
# Swagger UI for /docs, served under vendor/swagger-ui/ as tools/web_server.py serves it: these
# two, and whatever else the site's pages name under /vendor/swagger-ui/. Nothing else of
# node_modules is published.
SWAGGER_UI_DIST = Path("node_modules") / "swagger-ui-dist"
SWAGGER_UI_PREFIX = "vendor/swagger-ui/"
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
_SWAGGER_UI_REFERENCE = re.compile(r"/vendor/swagger-ui/([A-Za-z0-9._-]+)")
# Never published from web/: npm's files (and node_modules, but for Swagger UI's files above).
NOT_PUBLISHED = ("node_modules", "package.json", "package-lock.json")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",  # RFC 9239; ES modules need a JavaScript type
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".woff2": "font/woff2",
}
# Cache-Control per kind of file (CloudFront's managed CachingOptimized policy follows it too;
# each deployment also invalidates CloudFront's copies). The pages and /config.json are
# revalidated at every load (a 304 when unchanged), so a deployment reaches every visitor at
# once. The app's own modules and styles keep their names from one version to the next (no
# build step, no content hash in the name): 5 minutes bounds how long a browser may run an
# old module beside a new page. Swagger UI and the icon change only with their version.
NO_CACHE = "no-cache"
SHORT_CACHE = "public, max-age=300"
LONG_CACHE = "public, max-age=86400"


class SiteFile(NamedTuple):
    key: str  # the object's key, the site's path without its leading /
    path: Path
    content_type: str
    cache_control: str


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


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    # The site is served with X-Content-Type-Options: nosniff, so a wrong type breaks the file.
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _cache_control(key: str) -> str:
    if key.endswith(".html") or key == "config.json":
        return NO_CACHE
    if key.startswith(SWAGGER_UI_PREFIX) or key == "favicon.svg":
        return LONG_CACHE
    return SHORT_CACHE


def site_files(web_root: Path = WEB_ROOT) -> list[SiteFile]:
    """What the web app's bucket holds but /config.json (`site_config`): every file under
    `web_root` (index.html, favicon.svg, styles.css, src/**, docs/**) except npm's and hidden
    ones, and Swagger UI's files from node_modules under vendor/swagger-ui/. Raises DeployError
    when node_modules has no Swagger UI (`npm ci` was not run), before anything is deployed."""
    web_root = Path(web_root)
    if not (web_root / "index.html").is_file():
        raise DeployError(f"{web_root} has no index.html: not the web app's directory")
    files = []
    for path in sorted(web_root.rglob("*")):
        relative = path.relative_to(web_root)
        if not path.is_file() or relative.parts[0] in NOT_PUBLISHED or any(
                part.startswith(".") for part in relative.parts):
            continue
        key = relative.as_posix()
        files.append(SiteFile(key, path, content_type(key), _cache_control(key)))
    swagger = web_root / SWAGGER_UI_DIST
    if not swagger.is_dir():
        raise DeployError(f"{swagger} is missing: /docs needs Swagger UI from npm; run `{NPM_CI}` "
                          "first (make deploy runs it before tools.deploy)")
    wanted = set(SWAGGER_UI_FILES)
    for site_file in files:
        if site_file.key.endswith((".html", ".js", ".css")):
            wanted.update(_SWAGGER_UI_REFERENCE.findall(site_file.path.read_text(errors="replace")))
    for name in sorted(wanted):
        path = swagger / name
        if not path.is_file():
            raise DeployError(f"{path} is missing (the site names /{SWAGGER_UI_PREFIX}{name}): run `{NPM_CI}`")
        key = SWAGGER_UI_PREFIX + name
        files.append(SiteFile(key, path, content_type(key), _cache_control(key)))
    return files


def stage_environment(stage: str, project_dir: Path = ROOT) -> dict[str, str]:
    """The stage's environment as .chalice/config.json gives it to the functions."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}),
            **config.get("stages", {}).get(stage, {}).get("environment_variables", {})}


def site_config(stage: str, environment: dict[str, str], stripe_publishable_key: str | None) -> dict[str, Any]:
    """/config.json of a deployed stage, the shape tools/web_server.py serves locally (web/src/
    config.js reads it): the API through the same origin, the stage, its payment provider (as
    the functions read it, infra.permissions.StageConfig) and Stripe's publishable key, or null.
    The key is public by design (the browser uses it); a secret key (sk_, rk_) is refused."""
    from tools.web_server import site_config as local_site_config

    provider = environment.get("ITINERA_PAYMENT_PROVIDER", "local")  # StageConfig's default
    key = stripe_publishable_key or None
    if key is not None and not key.startswith("pk_"):
        raise DeployError("the Stripe publishable key starts with pk_; a secret or restricted key "
                          "(sk_, rk_) must never be in a public file: set it as a secret (README)")
    return local_site_config(stage=stage, payment_provider=provider, stripe_publishable_key=key)


def upload_site(s3: Any, bucket: str, files: list[SiteFile], config: dict[str, Any]) -> dict[str, Any]:
    """Put every file with its Content-Type and Cache-Control, the pages and /config.json last
    (a visitor never gets a page whose modules are not there yet), then delete what an earlier
    version left. Returns {"uploaded": [keys], "deleted": [keys]}."""
    def put(key: str, body: bytes, kind: str, cache_control: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, CacheControl=cache_control)
        uploaded.append(key)

    if any(f.key == "config.json" for f in files):
        raise DeployError("web/config.json would take the place of the stage's /config.json: remove it")
    uploaded: list[str] = []
    pages = [f for f in files if f.key.endswith(".html")]
    for site_file in [f for f in files if f not in pages]:
        put(site_file.key, site_file.path.read_bytes(), site_file.content_type, site_file.cache_control)
    put("config.json", json.dumps(config).encode(), CONTENT_TYPES[".json"], NO_CACHE)
    for site_file in pages:
        put(site_file.key, site_file.path.read_bytes(), site_file.content_type, site_file.cache_control)
    keep = set(uploaded)
    stale = [key for key in _keys(s3, bucket) if key not in keep]
    _delete(s3, bucket, stale)
    return {"uploaded": uploaded, "deleted": stale}


def _keys(s3: Any, bucket: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _delete(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = keys[start:start + 1000]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if answer.get("Errors"):
            raise DeployError(f"could not delete from {bucket}: {answer['Errors'][:3]}")


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object of the site's bucket (not versioned: no versions to delete)."""
    keys = _keys(s3, bucket)
    _delete(s3, bucket, keys)
    return len(keys)


def invalidate(cloudfront: Any, distribution_id: str) -> str:
    """Invalidate every path ("/*" counts as one path against CloudFront's free 1,000 a month),
    so edges fetch the new files now rather than when their copies expire. Returns its id; it
    completes within minutes, and nothing waits for it."""
    answer = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
        "Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": f"itinera-{time.time_ns()}"})
    return answer["Invalidation"]["Id"]


def publish_site(session: Any, stage: str, stack_outputs: dict[str, str], files: list[SiteFile],
                 stripe_publishable_key: str | None) -> None:
    missing = [k for k in (WEB_BUCKET_OUTPUT, WEB_DISTRIBUTION_OUTPUT) if k not in stack_outputs]
    if missing:
        raise DeployError(f"the stack has no {', '.join(missing)} output: was it synthesized without "
                          "the web app (infra.web)?")
    environment = stage_environment(stage)
    config = site_config(stage, environment, stripe_publishable_key)
    if config["payment_provider"] == "stripe" and config["stripe_publishable_key"] is None:
        print("  warning: the stage pays with Stripe but has no publishable key: pass "
              "--stripe-publishable-key pk_... (or ITINERA_STRIPE_PUBLISHABLE_KEY)", file=sys.stderr)
    bucket = stack_outputs[WEB_BUCKET_OUTPUT]
    print(f"uploading the web app ({len(files)} files and config.json) to {bucket} ...")
    done = upload_site(session.client("s3"), bucket, files, config)
    if done["deleted"]:
        print(f"  deleted {len(done['deleted'])} files of an earlier version")
    invalidation = invalidate(session.client("cloudfront"), stack_outputs[WEB_DISTRIBUTION_OUTPUT])
    print(f"  CloudFront invalidation {invalidation} of /* under way; the site: "
          f"{stack_outputs.get(WEB_URL_OUTPUT, '?')}")


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


def _deploy(stage: str, parameters: list[dict[str, str]], stripe_publishable_key: str | None = None) -> int:
    from infra.synth import DEFAULT_OUT, run_synth

    files = site_files(WEB_ROOT)  # before anything is deployed: node_modules may be missing
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
    values = outputs(session.client("cloudformation"), name)
    publish_site(session, stage, values, files, stripe_publishable_key)
    _print_outputs(values)
    return 0


def _print_outputs(values: dict[str, str]) -> None:
    first = [k for k in (WEB_URL_OUTPUT, "EndpointURL", "UserPoolId", "UserPoolClientId", "AlarmTopicArn")
             if k in values]
    for key in first + sorted(k for k in values if k not in first):
        print(f"  {key:28} {values[key]}")


def _web_bucket(cfn: Any, name: str) -> str | None:
    """The stack's WebBucket output, or None (no such stack, or one without the web app)."""
    try:
        return outputs(cfn, name).get(WEB_BUCKET_OUTPUT)
    except cfn.exceptions.ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["deploy", "outputs", "admin", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--parameter", action="append", default=[], help="Key=Value, a template parameter")
    parser.add_argument("--email", help="admin: the staff user's email address")
    parser.add_argument("--group", default="admins", choices=STAFF_GROUPS, help="admin: admins or agents")
    parser.add_argument("--stripe-publishable-key", default=os.environ.get("ITINERA_STRIPE_PUBLISHABLE_KEY"),
                        help="deploy: Stripe's publishable key (pk_...) for the web app's /config.json "
                             "(default: $ITINERA_STRIPE_PUBLISHABLE_KEY, else none)")
    args = parser.parse_args(argv)
    if args.stage == "local":
        print("tools.deploy: the local stage runs on this machine (`make run`), not on AWS", file=sys.stderr)
        return 2
    try:
        if args.command == "deploy":
            return _deploy(args.stage, parse_parameters(args.parameter), args.stripe_publishable_key)
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
            bucket = _web_bucket(cfn, name)
            if bucket:
                print(f"emptying the web app's bucket {bucket}: {empty_bucket(_session().client('s3'), bucket)} files")
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
