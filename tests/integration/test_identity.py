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


# --- the pool's configuration, as bootstrap creates it ------------------------------------------

def test_bootstrap_lets_users_write_only_email_and_name_and_fixes_vendor_id(aws_env):
    """custom:vendor_id is neither user-writable (app client) nor mutable (schema).

    moto 5.2.5 enforces neither rule on UpdateUserAttributes (it applies whatever it is given),
    so this checks the configuration the emulator holds; real Cognito enforces both."""
    import boto3

    from tools.bootstrap import create_user_pool

    idp = boto3.client("cognito-idp")
    pool_id, client_id = aws_env["user_pool_id"], aws_env["client_id"]
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert sorted(client["WriteAttributes"]) == ["email", "name"]
    assert "custom:vendor_id" in client["ReadAttributes"]
    schema = {a["Name"]: a for a in idp.describe_user_pool(UserPoolId=pool_id)["UserPool"]["SchemaAttributes"]}
    assert schema["custom:vendor_id"]["Mutable"] is False

    # A client left with looser settings (an older bootstrap) is brought back in line.
    idp.update_user_pool_client(UserPoolId=pool_id, ClientId=client_id,
                                WriteAttributes=["email", "name", "custom:vendor_id"])
    assert create_user_pool(idp) == (pool_id, client_id)
    client = idp.describe_user_pool_client(UserPoolId=pool_id, ClientId=client_id)["UserPoolClient"]
    assert sorted(client["WriteAttributes"]) == ["email", "name"]


# --- first sign-in of a vendor an admin created ---------------------------------------------------

def test_a_vendor_created_by_an_admin_sets_a_password_and_signs_in(api, tokens):
    created = api.post("/admin/vendors", {"name": "Harbor Tours", "email": "harbor@example.com"},
                       token=tokens["admin"])
    assert created.status_code == 201, created.data
    vendor = created.data
    temporary = vendor["temporary_password"]

    first = api.post("/auth/login", {"email": "harbor@example.com", "password": temporary})
    assert first.status_code == 401
    assert first.data["error"]["details"]["challenge"] == "NEW_PASSWORD_REQUIRED"
    assert "/auth/new-password" in first.data["error"]["message"]

    weak = api.post("/auth/new-password", {"email": "harbor@example.com", "temporary_password": temporary,
                                           "new_password": "short"})
    assert weak.status_code == 400
    assert weak.data["error"]["code"] == "VALIDATION_ERROR"
    assert set(weak.data["error"]["details"]["fields"]) == {"new_password"}

    wrong = api.post("/auth/new-password", {"email": "harbor@example.com", "temporary_password": "Not-it-123",
                                            "new_password": "Harbor-pass-1"})
    assert wrong.status_code == 401
    assert wrong.data["error"]["code"] == "UNAUTHENTICATED"

    done = api.post("/auth/new-password", {"email": "harbor@example.com", "temporary_password": temporary,
                                           "new_password": "Harbor-pass-1"})
    assert done.status_code == 200, done.data
    assert set(done.data) == {"id_token", "access_token", "refresh_token", "expires_in"}
    me = api.get("/me", token=done.data["id_token"]).data
    assert me["roles"] == ["vendors"] and me["vendor_id"] == vendor["vendor_id"]

    token = api.login("harbor@example.com", "Harbor-pass-1")
    me = api.get("/me", token=token)
    assert me.status_code == 200
    assert me.data["roles"] == ["vendors"] and me.data["vendor_id"] == vendor["vendor_id"]
    assert me.data["email"] == "harbor@example.com" and me.data["name"] == "Harbor Tours"

    # Done once: the temporary password is gone, and the real one needs no new password.
    again = api.post("/auth/new-password", {"email": "harbor@example.com", "temporary_password": temporary,
                                            "new_password": "Harbor-pass-2"})
    assert again.status_code == 401
    settled = api.post("/auth/new-password", {"email": "harbor@example.com",
                                              "temporary_password": "Harbor-pass-1",
                                              "new_password": "Harbor-pass-2"})
    assert settled.status_code == 409 and settled.data["error"]["code"] == "INVALID_STATE"


def test_new_password_is_in_the_openapi_document(api):
    operation = api.get("/openapi.json").data["paths"]["/auth/new-password"]["post"]
    assert "requestBody" in operation
    response = api.post("/auth/new-password", {"email": "nobody@example.com"})
    assert response.status_code == 400
    assert {"temporary_password", "new_password"} <= set(response.data["error"]["details"]["fields"])


# --- Cognito's own error text stays out of answers ----------------------------------------------

def test_signup_parameter_errors_name_the_field_without_cognitos_text(api, monkeypatch):
    from chalicelib.core import aws
    from chalicelib.identity import service

    real = aws.client("cognito-idp")

    class Refusing:
        exceptions = real.exceptions

        def sign_up(self, **_):
            raise real.exceptions.InvalidParameterException(
                {"Error": {"Code": "InvalidParameterException",
                           "Message": "1 validation error detected: Value at 'username' internal-detail"}},
                "SignUp")

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(service, "_cognito", Refusing)
    response = api.post("/auth/signup", {"email": "odd@example.com", "password": "Sunny-days-9", "name": "Odd"})
    assert response.status_code == 400
    fields = response.data["error"]["details"]["fields"]
    assert set(fields) == {"email"}
    assert "internal-detail" not in str(response.data) and "validation error detected" not in str(response.data)


def _unconfirmed_account(aws_env, email: str, password: str = "Sunny-days-9") -> None:
    """A signed-up account awaiting its code (the local stage confirms its own sign-ups at once)."""
    from chalicelib.core import aws

    aws.client("cognito-idp").sign_up(ClientId=aws_env["client_id"], Username=email, Password=password,
                                      UserAttributes=[{"Name": "email", "Value": email}])


def assert_wrong_code(response) -> None:
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert response.data["error"]["details"]["fields"] == {"code": "is wrong or has expired"}


def test_a_made_up_code_for_a_confirmed_account_is_400_naming_the_code(api):
    assert_wrong_code(api.post("/auth/confirm", {"email": "traveler@example.com", "code": "000000"}))


def test_a_wrong_code_for_an_unconfirmed_account_is_400_naming_the_code(api, aws_env, monkeypatch):
    """Cognito checks the code (the emulator does not: it confirms whatever the code)."""
    from chalicelib.core import aws

    _unconfirmed_account(aws_env, "pending@example.com")
    idp = aws.client("cognito-idp")

    def mismatch(**_):
        raise idp.exceptions.CodeMismatchException(
            {"Error": {"Code": "CodeMismatchException", "Message": "Invalid verification code provided"}},
            "ConfirmSignUp")

    monkeypatch.setattr(idp, "confirm_sign_up", mismatch)
    assert_wrong_code(api.post("/auth/confirm", {"email": "pending@example.com", "code": "000000"}))


def test_the_emailed_code_confirms_an_account_which_can_then_sign_in(api, aws_env):
    _unconfirmed_account(aws_env, "pending@example.com")
    before = api.post("/auth/login", {"email": "pending@example.com", "password": "Sunny-days-9"})
    assert before.status_code == 401 and before.data["error"]["details"]["reason"] == "USER_NOT_CONFIRMED"

    confirmed = api.post("/auth/confirm", {"email": "pending@example.com", "code": "123456"})

    assert confirmed.status_code == 200 and confirmed.data == {"confirmed": True}
    assert api.post("/auth/login", {"email": "pending@example.com", "password": "Sunny-days-9"}).status_code == 200


def test_confirming_an_unknown_account_is_404(api):
    response = api.post("/auth/confirm", {"email": "nobody@example.com", "code": "123456"})
    assert response.status_code == 404
    assert response.data["error"]["code"] == "NOT_FOUND"
