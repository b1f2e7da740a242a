"""The web app of a deployed stage: a private S3 bucket behind a CloudFront distribution that
also sends /api/* to the stage's REST API, so the app calls its API on its own origin (pure, no I/O).

    browser ── https://<distribution>/            ──> S3 bucket (Origin Access Control, private)
            └─ https://<distribution>/api/<path>  ──> <RestAPI>.execute-api.<region>/api/<path>

Why /api/<path> reaches the route /<path> with no rewriting: a REST API's default endpoint
takes the first segment of the path as the name of the stage (https://<id>.execute-api.<region>
.amazonaws.com/<stage>/<resource path>), and Chalice's API Gateway stage of every deployed stage
is "api" (.chalice/config.json, `api_gateway_stage`). CloudFront forwards the viewer's path as
it is when the origin has no OriginPath, so /api/search arrives as stage "api", resource
/search: what the local web server (tools/web_server.py) does by stripping /api in front of the
local API. `web_resources` refuses any other stage name, which this mapping would break.

The app is served as tools/web_server.py serves it locally: the same files (tools.deploy
uploads them after the stack is deployed), the same Content-Security-Policy (only 'self'; on a
stage whose payment provider is Stripe, Stripe.js's origins too), /config.json beside the app,
/docs/ for Swagger UI. `complete_template` (infra.template) adds these resources and outputs on
every stage but local, which runs on the developer's machine.

Nothing here creates a custom domain or certificate: the site is https://<id>.cloudfront.net
(the WebUrl output). A custom domain needs an ACM certificate in us-east-1 and DNS, outside a
stage's stack.
"""
from __future__ import annotations

from typing import Any

from infra.template import REST_API  # Chalice's logical id of the REST API
from tools.web_server import CONTENT_SECURITY_POLICY as LOCAL_CONTENT_SECURITY_POLICY

# Logical ids (the tests and tools.deploy's outputs refer to them).
SITE_BUCKET = "SiteBucket"
SITE_BUCKET_POLICY = "SiteBucketPolicy"
SITE_ORIGIN_ACCESS_CONTROL = "SiteOriginAccessControl"
SITE_HEADERS_POLICY = "SiteResponseHeadersPolicy"
SITE_INDEX_FUNCTION = "SiteIndexFunction"
SITE_DISTRIBUTION = "SiteDistribution"

# Outputs tools.deploy reads to upload the site and invalidate the cache.
OUTPUT_URL = "WebUrl"
OUTPUT_BUCKET = "WebBucket"
OUTPUT_DISTRIBUTION = "WebDistributionId"

# The app's API base (web/src/config.js, /config.json) and, for the mapping above to hold, the
# name of the REST API's stage.
API_PREFIX = "api"
API_PATH_PATTERN = f"/{API_PREFIX}/*"
SITE_ORIGIN, API_ORIGIN = "site", "api"

# CloudFront's managed policies (their ids are the same in every account).
# CachingOptimized: caches by path only, for as long as the object's Cache-Control says (at least
# 1 s, at most a year), gzip and brotli in the key; tools.deploy sets Cache-Control per file.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
# CachingDisabled: every API request goes to the API (answers depend on the caller's token).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# AllViewerExceptHostHeader: the API gets the viewer's headers (with caching disabled, its
# Authorization header too), cookies and query string, but not the viewer's Host: API Gateway
# routes by its own host name and answers 403 to the distribution's.
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
# Two years, as browsers' preload lists ask; cloudfront.net itself cannot be preloaded by us.
HSTS_MAX_AGE_SECONDS = 63_072_000

# What a Stripe stage's pages may load besides their own origin: Stripe.js (a script, and the
# frames its card fields live in) and Stripe's API, which Stripe.js calls from the page.
STRIPE_SOURCES = {"script-src": ("https://js.stripe.com",),
                  "frame-src": ("https://js.stripe.com",),
                  "connect-src": ("https://api.stripe.com",)}

# Viewer-request function of the site's behavior. S3 (through OAC, its REST endpoint) has no
# directory index: only the distribution root gets DefaultRootObject. So /docs/ would be the key
# "docs/", which does not exist; a path ending in "/" gets its index.html, and a path whose last
# segment has no extension (/docs) is redirected to the directory, as tools/web_server.py does.
# The app itself routes by the URL's fragment (/#/...), so no other path needs rewriting.
INDEX_FUNCTION_CODE = """\
function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri.endsWith("/")) {
    request.uri = uri + "index.html";
    return request;
  }
  var last = uri.substring(uri.lastIndexOf("/") + 1);
  if (last.indexOf(".") === -1) {
    return {statusCode: 301, statusDescription: "Moved Permanently",
            headers: {location: {value: uri + "/"}, "cache-control": {value: "max-age=3600"}}};
  }
  return request;
}
"""


def content_security_policy(payment_provider: str) -> str:
    """tools/web_server.py's policy (only 'self'), plus Stripe.js's origins on a Stripe stage.

    A directive the local policy leaves out (frame-src) falls back to default-src in browsers,
    so it starts from default-src's sources before Stripe's are added."""
    directives: dict[str, list[str]] = {}
    for part in LOCAL_CONTENT_SECURITY_POLICY.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    if payment_provider == "stripe":
        for name, sources in STRIPE_SOURCES.items():
            current = directives.setdefault(name, list(directives.get("default-src", [])))
            current.extend(s for s in sources if s not in current)
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


def _account_unique_name(stage: str, what: str) -> dict[str, Any]:
    """CloudFront is global: its policies, functions and access controls need names unique in the
    account, so the same stage deployed in two regions must not collide."""
    return {"Fn::Sub": f"itinera-{stage}-{what}-${{AWS::Region}}"}


def site_bucket() -> dict[str, Any]:
    """Private: every public access blocked, ACLs disabled (the bucket owns every object), and
    encrypted with S3's own keys (SSE-KMS would need the key's policy to let CloudFront decrypt).
    No fixed name (bucket names are global), no versioning: the files are rebuilt from the
    repository at every deployment, and tools.deploy empties the bucket before the stack is
    deleted (CloudFormation cannot delete a bucket that holds objects)."""
    return {"Type": "AWS::S3::Bucket", "Properties": {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}}}


def site_bucket_policy() -> dict[str, Any]:
    """Only this distribution may read objects (CloudFront signs its requests through the OAC;
    AWS:SourceArn names the distribution, so another distribution, even in this account, cannot
    serve the bucket); nothing at all over plain HTTP. No s3:ListBucket: a missing file is S3's
    403, and nobody can list the bucket's keys through the site."""
    bucket_arn = {"Fn::GetAtt": [SITE_BUCKET, "Arn"]}
    objects = {"Fn::Sub": "${%s.Arn}/*" % SITE_BUCKET}
    return {"Type": "AWS::S3::BucketPolicy", "Properties": {
        "Bucket": {"Ref": SITE_BUCKET},
        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, objects], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "AllowThisDistributionToRead", "Effect": "Allow",
             "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
             "Resource": objects,
             "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": (
                 "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${%s}"
                 % SITE_DISTRIBUTION)}}}},
        ]}}}


def origin_access_control(stage: str) -> dict[str, Any]:
    """CloudFront signs every request to the bucket (SigV4), which the bucket policy requires;
    OAC rather than the legacy origin access identity (OAI), which AWS no longer recommends."""
    return {"Type": "AWS::CloudFront::OriginAccessControl", "Properties": {"OriginAccessControlConfig": {
        "Name": _account_unique_name(stage, "site"),
        "Description": f"Itinera {stage}: CloudFront reads the web app's bucket",
        "OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}}}


def response_headers_policy(stage: str, payment_provider: str) -> dict[str, Any]:
    """The headers tools/web_server.py sends, on every answer of the distribution (the API's
    too: HSTS covers the whole host, and the others are harmless on JSON). Override: the
    distribution's values win over whatever an origin sends."""
    return {"Type": "AWS::CloudFront::ResponseHeadersPolicy", "Properties": {"ResponseHeadersPolicyConfig": {
        "Name": _account_unique_name(stage, "site-headers"),
        "Comment": f"Itinera {stage}: the web app's security headers",
        "SecurityHeadersConfig": {
            "ContentSecurityPolicy": {"ContentSecurityPolicy": content_security_policy(payment_provider),
                                      "Override": True},
            "StrictTransportSecurity": {"AccessControlMaxAgeSec": HSTS_MAX_AGE_SECONDS,
                                        "IncludeSubdomains": True, "Preload": False, "Override": True},
            "ContentTypeOptions": {"Override": True},  # X-Content-Type-Options: nosniff
            "FrameOptions": {"FrameOption": "DENY", "Override": True},
            # As the local server: the API and pages see the referrer, other sites do not.
            "ReferrerPolicy": {"ReferrerPolicy": "same-origin", "Override": True},
        }}}}


def index_function(stage: str) -> dict[str, Any]:
    return {"Type": "AWS::CloudFront::Function", "Properties": {
        "Name": _account_unique_name(stage, "site-index"),
        "AutoPublish": True,
        "FunctionCode": INDEX_FUNCTION_CODE,
        "FunctionConfig": {"Comment": "Directory paths to their index.html (/docs/)",
                           "Runtime": "cloudfront-js-2.0"}}}


def api_domain() -> dict[str, Any]:
    """The REST API's default endpoint, as Chalice's EndpointURL output writes it (no stage)."""
    return {"Fn::Sub": "${%s}.execute-api.${AWS::Region}.${AWS::URLSuffix}" % REST_API}


def distribution(stage: str) -> dict[str, Any]:
    headers_policy = {"Ref": SITE_HEADERS_POLICY}
    return {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": {
        "Enabled": True,
        "Comment": f"Itinera {stage}: the web app, and its API under /{API_PREFIX}/",
        "DefaultRootObject": "index.html",
        "HttpVersion": "http2and3",
        "IPV6Enabled": True,
        # The default *.cloudfront.net certificate (no custom domain: see the module's docstring).
        "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
        "Origins": [
            {"Id": SITE_ORIGIN, "DomainName": {"Fn::GetAtt": [SITE_BUCKET, "RegionalDomainName"]},
             # With OAC the legacy identity must be present and empty.
             "S3OriginConfig": {"OriginAccessIdentity": ""},
             "OriginAccessControlId": {"Fn::GetAtt": [SITE_ORIGIN_ACCESS_CONTROL, "Id"]}},
            # No OriginPath: /api/<path> is the stage "api" and its route /<path> (docstring).
            {"Id": API_ORIGIN, "DomainName": api_domain(),
             "CustomOriginConfig": {"OriginProtocolPolicy": "https-only", "HTTPSPort": 443,
                                    "OriginSSLProtocols": ["TLSv1.2"]}},
        ],
        "DefaultCacheBehavior": {
            "TargetOriginId": SITE_ORIGIN,
            "ViewerProtocolPolicy": "redirect-to-https",
            "AllowedMethods": ["GET", "HEAD"], "CachedMethods": ["GET", "HEAD"],
            "Compress": True,
            "CachePolicyId": CACHING_OPTIMIZED,
            "ResponseHeadersPolicyId": headers_policy,
            "FunctionAssociations": [{"EventType": "viewer-request",
                                      "FunctionARN": {"Fn::GetAtt": [SITE_INDEX_FUNCTION, "FunctionARN"]}}],
        },
        "CacheBehaviors": [{
            "PathPattern": API_PATH_PATTERN,
            "TargetOriginId": API_ORIGIN,
            # No redirect for the API: a redirected POST loses its body, and a request that came
            # over plain HTTP has already sent its token in clear. The app calls /api from its
            # https page, so only a hand-typed http:// URL gets the 403.
            "ViewerProtocolPolicy": "https-only",
            "AllowedMethods": ALL_METHODS, "CachedMethods": ["GET", "HEAD"],
            # CloudFront compresses only what its cache policy lets it key by encoding, which
            # CachingDisabled does not: the API's answers pass as API Gateway sends them.
            "Compress": False,
            "CachePolicyId": CACHING_DISABLED,
            "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST_HEADER,
            "ResponseHeadersPolicyId": headers_policy,
        }],
    }}}


def web_resources(stage: str, api_stage: str, payment_provider: str) -> dict[str, dict[str, Any]]:
    """Every resource of the stage's web app. `api_stage` is the REST API's StageName."""
    if api_stage != API_PREFIX:
        raise ValueError(
            f"the REST API's stage is {api_stage!r}: the web app reaches its API at /{API_PREFIX}/<path>, "
            f"which CloudFront forwards unchanged, so the stage must be named {API_PREFIX!r} "
            f"(.chalice/config.json, stages.{stage}.api_gateway_stage)")
    return {
        SITE_BUCKET: site_bucket(),
        SITE_BUCKET_POLICY: site_bucket_policy(),
        SITE_ORIGIN_ACCESS_CONTROL: origin_access_control(stage),
        SITE_HEADERS_POLICY: response_headers_policy(stage, payment_provider),
        SITE_INDEX_FUNCTION: index_function(stage),
        SITE_DISTRIBUTION: distribution(stage),
    }


def web_outputs() -> dict[str, dict[str, Any]]:
    return {
        OUTPUT_URL: {"Value": {"Fn::Sub": "https://${%s.DomainName}" % SITE_DISTRIBUTION},
                     "Description": "The web app (its API is under /api/)."},
        OUTPUT_BUCKET: {"Value": {"Ref": SITE_BUCKET},
                        "Description": "The web app's files (tools.deploy uploads them)."},
        OUTPUT_DISTRIBUTION: {"Value": {"Ref": SITE_DISTRIBUTION},
                              "Description": "The CloudFront distribution (invalidated after each upload)."},
    }
