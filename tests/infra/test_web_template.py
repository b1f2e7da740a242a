"""The web app in the synthesized prod stack (infra.web): a private bucket read by CloudFront
alone, HTTPS only, /api/* to the stage's REST API uncached, the local server's security headers."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from infra import template, web
from infra.synth import ROOT
from tools.web_server import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.timeout(600)


def _one(synthesized, cfn_type: str) -> tuple[str, dict]:
    (found,) = synthesized.of_type(cfn_type).items()
    return found[0], found[1]["Properties"]


def _distribution(synthesized) -> dict:
    return synthesized.resources[web.SITE_DISTRIBUTION]["Properties"]["DistributionConfig"]


def _origins(synthesized) -> dict[str, dict]:
    return {origin["Id"]: origin for origin in _distribution(synthesized)["Origins"]}


def test_the_site_bucket_is_private_encrypted_and_owner_enforced(synthesized):
    bucket_id, bucket = _one(synthesized, "AWS::S3::Bucket")
    assert bucket_id == web.SITE_BUCKET
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # Nothing that would publish it by itself.
    assert not {"WebsiteConfiguration", "AccessControl", "CorsConfiguration"} & set(bucket)


def test_the_bucket_policy_lets_only_this_distribution_read_objects_and_only_over_tls(synthesized):
    _, policy = _one(synthesized, "AWS::S3::BucketPolicy")
    assert policy["Bucket"] == {"Ref": web.SITE_BUCKET}
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"DenyInsecureTransport", "AllowThisDistributionToRead"}

    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": [web.SITE_BUCKET, "Arn"]},
                                {"Fn::Sub": "${%s.Arn}/*" % web.SITE_BUCKET}]

    allow = statements["AllowThisDistributionToRead"]
    assert allow["Effect"] == "Allow"
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"  # no ListBucket, no writes
    assert allow["Resource"] == {"Fn::Sub": "${%s.Arn}/*" % web.SITE_BUCKET}  # objects only
    assert allow["Condition"] == {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": (
        "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${%s}" % web.SITE_DISTRIBUTION)}}}
    # The only Allow in any bucket policy of the stack.
    allows = [s for r in synthesized.of_type("AWS::S3::BucketPolicy").values()
              for s in r["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [allow]


def test_cloudfront_reads_the_bucket_through_origin_access_control(synthesized):
    oac_id, oac = _one(synthesized, "AWS::CloudFront::OriginAccessControl")
    config = oac["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"], config["SigningProtocol"]) == (
        "s3", "always", "sigv4")
    site = _origins(synthesized)[web.SITE_ORIGIN]
    assert site["DomainName"] == {"Fn::GetAtt": [web.SITE_BUCKET, "RegionalDomainName"]}
    assert site["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert site["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    assert not synthesized.of_type("AWS::CloudFront::CloudFrontOriginAccessIdentity")


def test_the_site_is_https_only_http2_and_3_compressed_with_index_html_at_the_root(synthesized):
    config = _distribution(synthesized)
    assert config["Enabled"] is True
    assert config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"] == "http2and3"
    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == web.SITE_ORIGIN
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["Compress"] is True
    assert default["CachePolicyId"] == web.CACHING_OPTIMIZED
    assert sorted(default["AllowedMethods"]) == ["GET", "HEAD"]  # the site is read-only
    for behavior in [default, *config["CacheBehaviors"]]:
        assert behavior["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
    # Every origin is reached over TLS too.
    assert _origins(synthesized)[web.API_ORIGIN]["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_api_paths_go_to_the_stages_rest_api_uncached_with_every_method(synthesized):
    config = _distribution(synthesized)
    (behavior,) = config["CacheBehaviors"]
    assert behavior["PathPattern"] == "/api/*"
    assert behavior["TargetOriginId"] == web.API_ORIGIN
    assert behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # managed CachingDisabled
    assert behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
    assert sorted(behavior["AllowedMethods"]) == sorted(["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"])
    assert "FunctionAssociations" not in behavior  # the index rewrite is the site's alone

    api = _origins(synthesized)[web.API_ORIGIN]
    # Chalice's REST API, at the host its EndpointURL output names, with no origin path ...
    assert api["DomainName"] == {"Fn::Sub": "${%s}.execute-api.${AWS::Region}.${AWS::URLSuffix}" % template.REST_API}
    endpoint = synthesized.template["Outputs"]["EndpointURL"]["Value"]["Fn::Sub"]
    assert endpoint.startswith("https://" + api["DomainName"]["Fn::Sub"] + "/")
    assert not api.get("OriginPath")
    # ... so /api/<path> is stage "api", route /<path>: that is the stage Chalice deploys.
    stage_name = synthesized.resources[template.REST_API]["Properties"]["StageName"]
    assert stage_name == "api" == web.API_PREFIX
    assert endpoint.endswith(f"/{stage_name}/")


def test_the_stage_must_be_named_api_for_the_mapping_to_hold():
    with pytest.raises(ValueError, match="api_gateway_stage"):
        web.web_resources("prod", "v1", "stripe")


def test_every_answer_carries_the_local_servers_security_headers(synthesized):
    policy_id, policy = _one(synthesized, "AWS::CloudFront::ResponseHeadersPolicy")
    config = _distribution(synthesized)
    for behavior in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert all(header["Override"] is True for header in headers.values())
    hsts = headers["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= 31_536_000
    assert "ContentTypeOptions" in headers  # nosniff
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "same-origin"


def _directives(policy: str) -> dict[str, list[str]]:
    return {words[0]: words[1:] for words in (part.split() for part in policy.split(";")) if words}


def test_the_content_security_policy_of_a_stripe_stage_adds_stripe_js_and_nothing_else(synthesized):
    """prod pays with Stripe: the local policy plus Stripe.js (script, its frames) and its API."""
    headers = synthesized.resources[web.SITE_HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]
    deployed = _directives(headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    local = _directives(CONTENT_SECURITY_POLICY)
    assert deployed["script-src"] == local["script-src"] + ["https://js.stripe.com"]
    assert deployed["connect-src"] == local["connect-src"] + ["https://api.stripe.com"]
    assert deployed["frame-src"] == local["default-src"] + ["https://js.stripe.com"]
    assert {k: v for k, v in deployed.items() if k not in ("script-src", "connect-src", "frame-src")} == {
        k: v for k, v in local.items() if k not in ("script-src", "connect-src")}
    assert deployed["frame-ancestors"] == ["'none'"] and deployed["default-src"] == ["'self'"]


def test_a_stage_with_the_local_provider_gets_exactly_the_local_servers_policy():
    assert web.content_security_policy("local") == CONTENT_SECURITY_POLICY
    assert "stripe" not in web.content_security_policy("local")


def test_outputs_give_the_url_the_bucket_and_the_distribution(synthesized):
    outputs = synthesized.template["Outputs"]
    assert outputs["WebUrl"]["Value"] == {"Fn::Sub": "https://${%s.DomainName}" % web.SITE_DISTRIBUTION}
    assert outputs["WebBucket"]["Value"] == {"Ref": web.SITE_BUCKET}
    assert outputs["WebDistributionId"]["Value"] == {"Ref": web.SITE_DISTRIBUTION}
    assert len(outputs) <= 200  # CloudFormation's limit


def test_names_unique_in_the_account_per_stage_and_region(synthesized):
    """CloudFront is global: its policies, functions and access controls are named per account."""
    names = [synthesized.resources[web.SITE_ORIGIN_ACCESS_CONTROL]["Properties"]["OriginAccessControlConfig"]["Name"],
             synthesized.resources[web.SITE_HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]["Name"],
             synthesized.resources[web.SITE_INDEX_FUNCTION]["Properties"]["Name"]]
    texts = [name["Fn::Sub"] for name in names]
    assert len(set(texts)) == 3
    assert all(text.startswith("itinera-prod-") and text.endswith("-${AWS::Region}") for text in texts)


def _bare_api_template() -> dict:
    return {"Resources": {template.REST_API: {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api"}}}}


def _stage_environment(stage: str) -> dict[str, str]:
    """The stage's environment, as Chalice gives it to complete_template (.chalice/config.json)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config["environment_variables"], **config["stages"][stage]["environment_variables"]}


@pytest.mark.parametrize("stage, present, provider", [("dev", True, "local"), ("prod", True, "stripe"),
                                                      ("local", False, "local")])
def test_every_stage_but_local_gets_the_web_app(stage, present, provider):
    sam = _bare_api_template()
    environment = _stage_environment(stage)
    assert environment.get("ITINERA_PAYMENT_PROVIDER", "local") == provider
    template.complete_template(sam, environment)
    assert (web.SITE_DISTRIBUTION in sam["Resources"]) is present
    assert ("WebUrl" in sam.get("Outputs", {})) is present
    if present:  # dev uses the local provider: no Stripe origins in its policy
        policy = sam["Resources"][web.SITE_HEADERS_POLICY]["Properties"]["ResponseHeadersPolicyConfig"]
        assert policy["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"] == (
            web.content_security_policy(provider))


def test_an_app_without_routes_gets_no_web_app():
    sam: dict = {"Resources": {}}
    template.complete_template(sam, {"ITINERA_STAGE": "dev"})
    assert not [r for r in sam["Resources"] if r.startswith("Site")]


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the CloudFront function's code")
def test_the_viewer_request_function_serves_directory_indexes():
    """/docs/ is S3's key docs/index.html; /docs is redirected there (as tools/web_server.py)."""
    script = web.INDEX_FUNCTION_CODE + """
const out = {};
for (const uri of ["/", "/docs/", "/docs", "/src/main.js", "/vendor/swagger-ui/swagger-ui.css"]) {
  out[uri] = handler({request: {uri: uri}});
}
console.log(JSON.stringify(out));
"""
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["/"] == {"uri": "/index.html"}
    assert out["/docs/"] == {"uri": "/docs/index.html"}
    assert out["/docs"]["statusCode"] == 301 and out["/docs"]["headers"]["location"] == {"value": "/docs/"}
    assert out["/src/main.js"] == {"uri": "/src/main.js"}
    assert out["/vendor/swagger-ui/swagger-ui.css"] == {"uri": "/vendor/swagger-ui/swagger-ui.css"}


def test_the_function_is_attached_to_the_site_as_a_viewer_request(synthesized):
    function = synthesized.resources[web.SITE_INDEX_FUNCTION]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0" and function["AutoPublish"] is True
    assert _distribution(synthesized)["DefaultCacheBehavior"]["FunctionAssociations"] == [
        {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [web.SITE_INDEX_FUNCTION, "FunctionARN"]}}]
