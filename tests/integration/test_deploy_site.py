"""tools.deploy publishing the web app: which files, with which types and caching, against
moto's S3 and CloudFront. Nothing here reaches AWS."""
from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tools import deploy

REGION = "us-east-1"
BUCKET = "itinera-dev-sitebucket-abc"


def _write(root: Path, relative: str, text: str = "x") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def web_root(tmp_path) -> Path:
    """A web/ like the real one, with what must never be published next to it."""
    root = tmp_path / "web"
    _write(root, "index.html", '<script type="module" src="/src/main.js"></script>')
    _write(root, "favicon.svg", "<svg/>")
    _write(root, "styles.css", "body{}")
    _write(root, "src/main.js", "import './api.js';")
    _write(root, "src/api.js")
    _write(root, "src/vendor/index.js")  # the app's vendor pages, not third-party code
    _write(root, "docs/index.html", '<link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">'
                                    '<script src="/vendor/swagger-ui/swagger-ui-bundle.js"></script>'
                                    '<script src="/vendor/swagger-ui/swagger-ui-standalone-preset.js"></script>')
    _write(root, "docs/docs.js")
    _write(root, "docs/docs.css")
    _write(root, "package.json", "{}")
    _write(root, "package-lock.json", "{}")
    _write(root, ".eslintrc.json", "{}")
    dist = "node_modules/swagger-ui-dist/"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js", "index.html",
                 "swagger-initializer.js", "swagger-ui-bundle.js.map", "package.json", "oauth2-redirect.html"):
        _write(root, dist + name, f"/* {name} */")
    _write(root, "node_modules/@scarf/scarf/report.js")
    _write(root, "node_modules/.package-lock.json", "{}")
    return root


def test_site_files_are_the_apps_files_and_swagger_uis_named_ones(web_root):
    files = {f.key: f for f in deploy.site_files(web_root)}

    assert set(files) == {
        "index.html", "favicon.svg", "styles.css", "src/main.js", "src/api.js", "src/vendor/index.js",
        "docs/index.html", "docs/docs.js", "docs/docs.css",
        # the two /docs needs, and one more because docs/index.html names it
        "vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css",
        "vendor/swagger-ui/swagger-ui-standalone-preset.js"}
    assert not [k for k in files if "node_modules" in k or "package" in k or k.startswith(".")]
    assert files["vendor/swagger-ui/swagger-ui.css"].path == web_root / "node_modules/swagger-ui-dist/swagger-ui.css"
    assert files["src/main.js"].path == web_root / "src/main.js"


def test_each_file_gets_its_content_type_and_cache_control(web_root):
    files = {f.key: f for f in deploy.site_files(web_root)}

    for key, site_file in files.items():
        kind = site_file.content_type.split(";")[0]
        expected = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}
        assert kind == expected[Path(key).suffix], key
    # The pages are revalidated at every load; the app's unversioned modules briefly cached.
    assert files["index.html"].cache_control == files["docs/index.html"].cache_control == "no-cache"
    assert files["src/main.js"].cache_control == "public, max-age=300"
    assert "max-age" in files["vendor/swagger-ui/swagger-ui-bundle.js"].cache_control


def test_the_real_web_app(tmp_path):
    """The repository's web/: the modules, /docs and Swagger UI's two files, nothing of npm's."""
    if not (deploy.WEB_ROOT / "node_modules" / "swagger-ui-dist").is_dir():
        pytest.skip(f"web/node_modules is not installed ({deploy.NPM_CI})")
    keys = {f.key: f for f in deploy.site_files()}
    assert {"index.html", "favicon.svg", "styles.css", "src/main.js", "src/config.js", "src/api.js",
            "docs/index.html", "docs/docs.js", "docs/docs.css"} <= set(keys)
    assert sorted(k for k in keys if k.startswith("vendor/")) == [
        "vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css"]
    assert not [k for k in keys if k.startswith(("node_modules", "package")) or "/node_modules/" in k]
    assert all(f.content_type.startswith("text/javascript") for k, f in keys.items() if k.endswith(".js"))
    on_disk = {p.relative_to(deploy.WEB_ROOT).as_posix() for p in (deploy.WEB_ROOT / "src").rglob("*.js")}
    assert {k for k in keys if k.startswith("src/")} == on_disk


def test_without_node_modules_the_deployment_stops_before_anything_is_sent(web_root):
    import shutil

    shutil.rmtree(web_root / "node_modules")
    with pytest.raises(deploy.DeployError, match="npm ci --prefix web --ignore-scripts"):
        deploy.site_files(web_root)


def test_a_page_naming_a_swagger_file_npm_did_not_install_stops_it(web_root):
    _write(web_root, "docs/extra.html", '<script src="/vendor/swagger-ui/no-such-file.js"></script>')
    with pytest.raises(deploy.DeployError, match="no-such-file.js"):
        deploy.site_files(web_root)


def test_config_json_of_a_stage():
    prod = deploy.site_config("prod", deploy.stage_environment("prod"), None)
    assert prod == {"api": "/api", "stage": "prod", "payment_provider": "stripe", "stripe_publishable_key": None}
    dev = deploy.site_config("dev", deploy.stage_environment("dev"), "pk_test_123")
    assert dev == {"api": "/api", "stage": "dev", "payment_provider": "local", "stripe_publishable_key": "pk_test_123"}


@pytest.mark.parametrize("secret", ["sk_live_abc", "rk_live_abc", "whsec_abc"])
def test_a_secret_stripe_key_is_never_published(secret):
    with pytest.raises(deploy.DeployError, match="pk_"):
        deploy.site_config("prod", {"ITINERA_PAYMENT_PROVIDER": "stripe"}, secret)


def _bucket() -> object:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    return s3


@mock_aws
def test_upload_puts_every_file_with_its_type_and_writes_config_json(web_root):
    s3 = _bucket()
    s3.put_object(Bucket=BUCKET, Key="src/removed-module.js", Body=b"old")  # from an earlier version
    files = deploy.site_files(web_root)
    config = deploy.site_config("dev", {"ITINERA_STAGE": "dev"}, None)

    done = deploy.upload_site(s3, BUCKET, files, config)

    for site_file in files:
        head = s3.head_object(Bucket=BUCKET, Key=site_file.key)
        assert head["ContentType"] == site_file.content_type, site_file.key
        assert head["CacheControl"] == site_file.cache_control, site_file.key
        body = s3.get_object(Bucket=BUCKET, Key=site_file.key)["Body"].read()
        assert body == site_file.path.read_bytes(), site_file.key
    assert s3.head_object(Bucket=BUCKET, Key="src/main.js")["ContentType"].startswith("text/javascript")
    config_object = s3.get_object(Bucket=BUCKET, Key="config.json")
    assert json.loads(config_object["Body"].read()) == {
        "api": "/api", "stage": "dev", "payment_provider": "local", "stripe_publishable_key": None}
    assert config_object["ContentType"] == "application/json"
    assert config_object["CacheControl"] == "no-cache"
    # The stale module is gone; the bucket is exactly the site.
    assert done["deleted"] == ["src/removed-module.js"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {f.key for f in files} | {"config.json"}
    # Modules first, then config.json, the pages last.
    order = done["uploaded"]
    pages = [i for i, key in enumerate(order) if key.endswith(".html")]
    assert min(pages) > order.index("config.json") > max(i for i, k in enumerate(order) if k.endswith(".js"))


@mock_aws
def test_a_config_json_in_web_would_be_refused(web_root):
    _write(web_root, "config.json", "{}")
    with pytest.raises(deploy.DeployError, match="config.json"):
        deploy.upload_site(_bucket(), BUCKET, deploy.site_files(web_root), {})


def _distribution(cloudfront) -> str:
    return cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "test", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "site", "DomainName": f"{BUCKET}.s3.{REGION}.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})["Distribution"]["Id"]


@mock_aws
def test_the_whole_distribution_is_invalidated():
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    distribution = _distribution(cloudfront)

    invalidation = deploy.invalidate(cloudfront, distribution)

    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=invalidation)["Invalidation"]["InvalidationBatch"]
    assert batch["Paths"] == {"Quantity": 1, "Items": ["/*"]}
    assert deploy.invalidate(cloudfront, distribution) != invalidation  # a new CallerReference each time


class _Session:
    """What publish_site uses of a boto3 session."""

    def client(self, name: str):
        return boto3.client(name, region_name=REGION)


@mock_aws
def test_publish_uploads_then_invalidates_and_warns_of_a_stripe_stage_without_a_key(web_root, capsys):
    s3 = _bucket()
    cloudfront = boto3.client("cloudfront", region_name=REGION)
    distribution = _distribution(cloudfront)
    outputs = {"WebUrl": "https://d111.cloudfront.net", "WebBucket": BUCKET, "WebDistributionId": distribution}

    deploy.publish_site(_Session(), "prod", outputs, deploy.site_files(web_root), None)

    config = json.loads(s3.get_object(Bucket=BUCKET, Key="config.json")["Body"].read())
    assert config["payment_provider"] == "stripe" and config["stage"] == "prod"
    assert s3.head_object(Bucket=BUCKET, Key="index.html")["ContentType"].startswith("text/html")
    assert cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Quantity"] == 1
    captured = capsys.readouterr()
    assert "publishable key" in captured.err
    assert "https://d111.cloudfront.net" in captured.out


def test_publish_refuses_a_stack_without_the_web_app(web_root):
    with pytest.raises(deploy.DeployError, match="WebBucket"):
        deploy.publish_site(_Session(), "dev", {"EndpointURL": "https://x"}, [], None)


@mock_aws
def test_destroy_first_empties_the_site_bucket():
    s3 = _bucket()
    for number in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"src/{number}.js", Body=b"x")

    assert deploy.empty_bucket(s3, BUCKET) == 3
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    s3.delete_bucket(Bucket=BUCKET)  # what CloudFormation then can do


def test_the_web_url_is_printed_first(capsys):
    deploy._print_outputs({"AlarmTopicArn": "arn", "EndpointURL": "https://api", "WebUrl": "https://site"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["WebUrl", "https://site"]
