"""Adjustments to the template and package Chalice generates, which Chalice cannot express.

Applied by infra.synth after `chalice package`, to every matching resource whatever Chalice
named it, so they keep working as handlers are added to app.py:

- `report_batch_item_failures`: every SQS event source gets
  `FunctionResponseTypes: [ReportBatchItemFailures]` (DESIGN pitfall 2: without it Lambda
  ignores the `batchItemFailures` a worker returns and deletes the failed messages).
- `wire_queue_arns`: an SQS event on one of our queues refers to the queue resource
  (`Fn::GetAtt`), not to an ARN string, so CloudFormation creates the queue first.
- `fit_worker_timeouts`: a worker's timeout may not exceed its queue's visibility timeout
  (Lambda refuses such an event source mapping).
- `add_function_environment`: the user pool and client ids, from the template's own resources,
  and per function what only it gets (the ARNs of the secrets it reads).
- `give_each_function_its_role`: Chalice's roles are replaced by one role per function with the
  policy infra.permissions generates for it (least privilege: only what that function uses).
- `add_resources`, `add_outputs`: what infra.template generates per function (log group, alarms)
  and for the API (its alarm; on deployed stages the web app in front of it, infra.web), named
  after Chalice's logical ids.
- `strip_runtime_packages`: boto3/botocore/s3transfer out of deployment.zip (DESIGN pitfall 11:
  the Lambda runtime provides them; pip pulls botocore in because pynamodb depends on it).

`template_problems` checks the result; the synthesis refuses to write a template that has any
(among them: a function without a role of its own, e.g. one infra.permissions does not declare).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from typing import Any

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer")

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"
SQS_QUEUE = "AWS::SQS::Queue"


def functions(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == SERVERLESS_FUNCTION:
            yield name, resource


def sqs_events(template: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(function id, event id, event properties) for every SQS event of a SAM function."""
    for name, function in functions(template):
        for event_name, event in (function.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") == "SQS":
                yield name, event_name, event.setdefault("Properties", {})


def _is_sqs_arn(value: Any, template: dict[str, Any]) -> bool:
    if isinstance(value, str):
        return ":sqs:" in value
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return ":sqs:" in (sub if isinstance(sub, str) else sub[0])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            target_id = target[0] if isinstance(target, list) else str(target).split(".")[0]
            return template.get("Resources", {}).get(target_id, {}).get("Type") == SQS_QUEUE
    return False


def sqs_event_source_mappings(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Plain event source mappings reading an SQS queue (should a template use them)."""
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == EVENT_SOURCE_MAPPING:
            properties = resource.setdefault("Properties", {})
            if _is_sqs_arn(properties.get("EventSourceArn"), template):
                yield name, properties


def report_batch_item_failures(template: dict[str, Any]) -> list[str]:
    """Turn on partial batch responses for every SQS event source; returns what it patched."""
    patched = []
    for function, event, properties in sqs_events(template):
        _add_response_type(properties)
        patched.append(f"{function}.Events.{event}")
    for mapping, properties in sqs_event_source_mappings(template):
        _add_response_type(properties)
        patched.append(mapping)
    return patched


def _add_response_type(properties: dict[str, Any]) -> None:
    types = properties.setdefault("FunctionResponseTypes", [])
    if REPORT_BATCH_ITEM_FAILURES not in types:
        types.append(REPORT_BATCH_ITEM_FAILURES)


def _queue_name_of(arn: Any) -> str | None:
    """The queue name at the end of the ARN Chalice writes for `on_sqs_message(queue=...)`."""
    if isinstance(arn, dict) and isinstance(arn.get("Fn::Sub"), str):
        arn = arn["Fn::Sub"]
    if isinstance(arn, str) and ":sqs:" in arn:
        return arn.rsplit(":", 1)[-1]
    return None


def wire_queue_arns(template: dict[str, Any], queue_ids: dict[str, str]) -> list[str]:
    """Point SQS events at our queue resources by `Fn::GetAtt`; `queue_ids` maps the physical
    queue name to its logical id. Returns the names of the queues that no resource declares."""
    unknown = []
    for _, _, properties in sqs_events(template):
        name = _queue_name_of(properties.get("Queue"))
        if name is None:
            continue
        if name in queue_ids:
            properties["Queue"] = {"Fn::GetAtt": [queue_ids[name], "Arn"]}
        else:
            unknown.append(name)
    return unknown


def fit_worker_timeouts(template: dict[str, Any]) -> list[str]:
    """Lower a worker's Timeout to its queue's VisibilityTimeout when it is longer.

    Lambda rejects an SQS event source whose function may run longer than the queue hides a
    message; with a longer timeout a slow record would be delivered twice at once anyway.
    """
    changed = []
    resources = template.get("Resources", {})
    for function_id, _, properties in sqs_events(template):
        queue = properties.get("Queue")
        if not (isinstance(queue, dict) and "Fn::GetAtt" in queue):
            continue
        visibility = resources.get(queue["Fn::GetAtt"][0], {}).get("Properties", {}).get(
            "VisibilityTimeout", 30)
        function_props = resources[function_id]["Properties"]
        if int(function_props.get("Timeout", 3)) > int(visibility):
            changed.append(f"{function_id}: Timeout {function_props.get('Timeout')} -> {visibility}")
            function_props["Timeout"] = int(visibility)
    return changed


def function_name(function: dict[str, Any]) -> str:
    """Chalice's name of a function (as in config.json's "lambda_functions"), from its handler:
    `app.app` is the REST API's `api_handler`, `app.<name>` a handler of app.py."""
    handler = function.get("Properties", {}).get("Handler", "")
    attribute = handler.rsplit(".", 1)[-1]
    return "api_handler" if attribute == "app" else attribute


def add_function_environment(template: dict[str, Any], variables: dict[str, Any],
                             per_function: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Add `variables` to every function's environment, and `per_function[name]` to the
    function Chalice calls `name` (values set by config.json win)."""
    names = []
    for name, function in functions(template):
        env = function.setdefault("Properties", {}).setdefault("Environment", {})
        existing = env.setdefault("Variables", {})
        own = (per_function or {}).get(function_name(function), {})
        for key, value in {**variables, **own}.items():
            existing.setdefault(key, value)
        names.append(name)
    return names


LAMBDA_TRUST_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def give_each_function_its_role(template: dict[str, Any], policies: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Replace Chalice's roles: each function whose Chalice name has a policy in `policies`
    gets the role `<function id>Role` with that policy alone. A function without one is left
    without a role (template_problems names it); roles nothing uses any more are removed.
    Returns {function id: role id}."""
    resources = template.setdefault("Resources", {})
    previous = {role for _, function in functions(template) for role in [_role_id(function)] if role}
    assigned = {}
    for function_id, function in list(functions(template)):
        properties = function.setdefault("Properties", {})
        policy = policies.get(function_name(function))
        if policy is None:
            properties.pop("Role", None)
            continue
        role_id = function_id + "Role"
        role: dict[str, Any] = {"AssumeRolePolicyDocument": LAMBDA_TRUST_POLICY}
        if policy.get("Statement"):
            role["Policies"] = [{"PolicyName": function_id + "Access", "PolicyDocument": policy}]
        resources[role_id] = {"Type": "AWS::IAM::Role", "Properties": role}
        properties["Role"] = {"Fn::GetAtt": [role_id, "Arn"]}
        assigned[function_id] = role_id
    for role_id in previous - set(assigned.values()):
        if role_id not in _references(_without(resources, role_id)):
            del resources[role_id]
    return assigned


def _role_id(function: dict[str, Any]) -> str | None:
    role = function.get("Properties", {}).get("Role")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return target[0] if isinstance(target, list) else str(target).split(".")[0]
    return None


def _without(resources: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return {k: v for k, v in resources.items() if k != resource_id}


def add_resources(template: dict[str, Any], new: dict[str, dict[str, Any]]) -> None:
    """Add generated resources; one that would replace a resource already there is a bug."""
    resources = template.setdefault("Resources", {})
    clashes = sorted(set(new) & set(resources))
    if clashes:
        raise ValueError(f"generated resources would replace existing ones: {', '.join(clashes)}")
    resources.update(new)


def add_outputs(template: dict[str, Any], new: dict[str, dict[str, Any]]) -> None:
    """Add generated outputs (infra.web's); one that would replace an output already there is a bug."""
    outputs = template.setdefault("Outputs", {})
    clashes = sorted(set(new) & set(outputs))
    if clashes:
        raise ValueError(f"generated outputs would replace existing ones: {', '.join(clashes)}")
    outputs.update(new)


# ---------------------------------------------------------------------------------------------
# Checks


_SUB_NAME = re.compile(r"\$\{([^}!][^}]*)\}")


def _references(node: Any) -> Iterator[str]:
    """Every logical id a template fragment refers to (Ref, Fn::GetAtt, Fn::Sub, DependsOn)."""
    if isinstance(node, list):
        for item in node:
            yield from _references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield value[0] if isinstance(value, list) else str(value).split(".")[0]
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])
                for name in _SUB_NAME.findall(text):
                    if name.split(".")[0] not in variables:
                        yield name.split(".")[0]
                yield from _references(variables)
            elif key == "DependsOn":
                yield from ([value] if isinstance(value, str) else value)
            else:
                yield from _references(value)


def template_problems(template: dict[str, Any]) -> list[str]:
    """What would make CloudFormation (or our workers) fail: dangling references, a partial
    resource left by the merge, an SQS event source without partial batch responses."""
    problems = []
    resources = template.get("Resources", {})
    known = set(resources) | set(template.get("Parameters", {}))
    for name, resource in resources.items():
        if "Type" not in resource:
            problems.append(f"{name}: no Type (merged into a resource Chalice did not generate)")
        for ref in _references(resource):
            if ref not in known and not ref.startswith("AWS::"):
                problems.append(f"{name}: refers to {ref!r}, which the template does not declare")
    for ref in _references(template.get("Outputs", {})):
        if ref not in known and not ref.startswith("AWS::"):
            problems.append(f"Outputs: refers to {ref!r}, which the template does not declare")
    for function, event, properties in sqs_events(template):
        if REPORT_BATCH_ITEM_FAILURES not in properties.get("FunctionResponseTypes", []):
            problems.append(f"{function}.Events.{event}: no {REPORT_BATCH_ITEM_FAILURES}")
    problems += _role_problems(template)
    for mapping, properties in sqs_event_source_mappings(template):
        if REPORT_BATCH_ITEM_FAILURES not in properties.get("FunctionResponseTypes", []):
            problems.append(f"{mapping}: no {REPORT_BATCH_ITEM_FAILURES}")
    return problems


def _role_problems(template: dict[str, Any]) -> list[str]:
    """Every function has a role, and no other function shares it (least privilege is per
    function: a shared role has the union of their needs)."""
    problems = []
    users: dict[str, list[str]] = {}
    for function_id, function in functions(template):
        role = _role_id(function)
        if role is None:
            problems.append(f"{function_id}: no role of its own (does infra.permissions declare "
                            f"{function_name(function)!r}?)")
        else:
            users.setdefault(role, []).append(function_id)
    for role, function_ids in users.items():
        if len(function_ids) > 1:
            problems.append(f"{role}: shared by {', '.join(sorted(function_ids))}")
    return problems


# ---------------------------------------------------------------------------------------------
# The deployment package


def _distribution(top_level: str) -> str:
    """`botocore` for `botocore/` and `botocore-1.44.5.dist-info`, normalized."""
    name = top_level
    for suffix in (".dist-info", ".egg-info", ".data"):
        if name.endswith(suffix):
            name = name[: -len(suffix)].rsplit("-", 1)[0]
    return name.lower().replace("-", "_")


def runtime_package_entries(names: list[str], packages: tuple[str, ...] = RUNTIME_PACKAGES) -> list[str]:
    """The zip entries that belong to `packages` (their modules and their metadata)."""
    wanted = {p.lower().replace("-", "_") for p in packages}
    return [n for n in names if _distribution(n.split("/", 1)[0]) in wanted]


def strip_runtime_packages(zip_path: str, packages: tuple[str, ...] = RUNTIME_PACKAGES) -> int:
    """Rewrite `zip_path` without `packages`; returns the compressed bytes removed."""
    with zipfile.ZipFile(zip_path) as source:
        infos = source.infolist()
        drop = set(runtime_package_entries([i.filename for i in infos], packages))
        if not drop:
            return 0
        removed = sum(i.compress_size for i in infos if i.filename in drop)
        fd, tmp = tempfile.mkstemp(suffix=".zip", dir=os.path.dirname(os.path.abspath(zip_path)))
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp, "w") as target:
                for info in infos:
                    if info.filename not in drop:
                        # Same compression and attributes (file modes matter on Lambda).
                        target.writestr(info, source.read(info), compress_type=info.compress_type)
            os.chmod(tmp, os.stat(zip_path).st_mode & 0o777)
            shutil.move(tmp, zip_path)
        except BaseException:
            os.unlink(tmp)
            raise
    return removed
