"""Identity through the emulator's Cognito, via chalice.test.Client."""
from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa


def test_signup_login_me(api):
    created = api.post("/auth/signup", {"email": "Nora@Example.com", "password": "Sunny-days-9", "name": "Nora"})
    assert created.status_code == 201, created.data
    assert created.data["confirmed"] is True

    token = api.login("nora@example.com", "Sunny-days-9")
    me = api.get("/me", token=token)
    assert me.status_code == 200
    assert me.data == {"user_id": created.data["user_id"], "email": "nora@example.com",
                       "name": "Nora", "roles": ["travelers"]}


def test_weak_password_names_the_field(api):
    response = api.post("/auth/signup", {"email": "weak@example.com", "password": "short", "name": "W"})
    assert response.status_code == 400
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert "password" in response.data["error"]["details"]["fields"]


def test_taken_email_is_invalid_state(api):
    body = {"email": "traveler@example.com", "password": "Sunny-days-9", "name": "Dup"}
    response = api.post("/auth/signup", body)
    assert response.status_code == 409
    assert response.data["error"]["code"] == "INVALID_STATE"


def test_bad_fields_are_each_named(api):
    response = api.post("/auth/signup", {"email": "not-an-email", "name": "", "extra": 1})
    assert response.status_code == 400
    fields = response.data["error"]["details"]["fields"]
    assert {"email", "password", "name", "extra"} <= set(fields)


def test_wrong_password_is_401(api):
    response = api.post("/auth/login", {"email": "traveler@example.com", "password": "Wrong-pass-1"})
    assert response.status_code == 401
    assert response.data["error"]["code"] == "UNAUTHENTICATED"


def test_refresh_gives_a_working_id_token(api):
    tokens = api.post("/auth/login", {"email": "agent@example.com", "password": "Itinera-demo-1"}).data
    refreshed = api.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert api.get("/me", token=refreshed.data["id_token"]).data["roles"] == ["agents"]
    assert api.post("/auth/refresh", {"refresh_token": "nope"}).status_code == 401


def test_demo_users_have_their_roles(api, tokens):
    expected = {"traveler": ["travelers"], "traveler2": ["travelers"], "vendor": ["vendors"],
                "vendor2": ["vendors"], "agent": ["agents"], "admin": ["admins"]}
    for who, roles in expected.items():
        me = api.get("/me", token=tokens[who]).data
        assert me["roles"] == roles, who
    assert api.get("/me", token=tokens["vendor"]).data["vendor_id"] == "ven_aurora"
    assert api.get("/me", token=tokens["vendor2"]).data["vendor_id"] == "ven_meridian"


def test_auth_config(api, aws_env):
    config = api.get("/auth/config").data
    assert config["user_pool_id"] == aws_env["user_pool_id"]
    assert config["client_id"] == aws_env["client_id"]
    assert config["region"] == "us-east-1"


def _forge(claims: dict, *, key=None, alg="RS256", kid="dummy") -> str:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def real_claims(api, tokens):
    return jwt.decode(tokens["traveler"], options={"verify_signature": False})


def test_forged_and_malformed_tokens_are_401(api, real_claims):
    unsigned = jwt.encode(real_claims, None, algorithm="none")
    hs256 = jwt.encode(real_claims, "a-shared-secret-of-decent-length-32b", algorithm="HS256",
                       headers={"kid": "dummy"})
    for token in [_forge(real_claims), unsigned, hs256, "garbage", _forge(real_claims, kid="other-kid")]:
        response = api.get("/me", token=token)
        assert response.status_code == 401, token
        assert response.data["error"]["code"] == "UNAUTHENTICATED"
    assert api.get("/me").status_code == 401
    assert api.get("/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_real_key_but_wrong_claims_is_401(api, tokens, real_claims):
    """Signed by the pool's real key (moto's), so only the claim checks can refuse these."""
    import gzip
    import json
    from pathlib import Path

    import moto
    private = json.loads(gzip.decompress(
        (Path(moto.__file__).parent / "cognitoidp/resources/jwks-private.json.gz").read_bytes()))
    key = jwt.PyJWK(private, algorithm="RS256").key
    now = int(time.time())
    cases = {
        "expired": {**real_claims, "iat": now - 7200, "exp": now - 3600},
        "other pool": {**real_claims, "iss": real_claims["iss"].rsplit("/", 1)[0] + "/us-east-1_other"},
        "other client": {**real_claims, "aud": "another-client"},
        "access token": {**real_claims, "token_use": "access"},
    }
    assert api.get("/me", token=_forge(real_claims, key=key)).status_code == 200  # control
    for name, claims in cases.items():
        response = api.get("/me", token=_forge(claims, key=key))
        assert response.status_code == 401, name
