"""TokenVerifier and JwksCache without AWS: keys made here, JWKS served by a fake fetch."""
from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.core.auth import JwksCache, TokenVerifier, authenticate, principal_from_claims, require_role
from chalicelib.core.errors import Forbidden, Unauthenticated

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
CLIENT = "client-123"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key, kid):
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


def _claims(**over):
    now = int(time.time())
    return {"sub": "u-1", "iss": ISSUER, "aud": CLIENT, "token_use": "id", "iat": now, "exp": now + 600,
            "email": "a@example.com", "name": "A", "cognito:groups": ["travelers", "unknown-group"], **over}


class FakeJwks:
    def __init__(self, *documents):
        self.documents = list(documents)
        self.calls = 0

    def __call__(self, url):
        self.calls += 1
        return self.documents[min(self.calls - 1, len(self.documents) - 1)]


def test_valid_token_gives_principal_with_known_roles_only():
    key = _key()
    fetch = FakeJwks({"keys": [_jwk(key, "k1")]})
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, jwks=JwksCache("u", fetch))
    principal = verifier.verify(jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"}))
    assert principal.user_id == "u-1" and principal.roles == frozenset({"travelers"})


def test_unknown_kid_refetches_once_then_accepts_rotated_key():
    old, new = _key(), _key()
    fetch = FakeJwks({"keys": [_jwk(old, "old")]}, {"keys": [_jwk(old, "old"), _jwk(new, "new")]})
    clock = [0.0]
    cache = JwksCache("u", fetch, clock=lambda: clock[0])
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, jwks=cache)
    verifier.verify(jwt.encode(_claims(), old, algorithm="RS256", headers={"kid": "old"}))
    clock[0] = 100.0
    verifier.verify(jwt.encode(_claims(), new, algorithm="RS256", headers={"kid": "new"}))
    assert fetch.calls == 2


def test_forged_kids_do_not_hammer_the_jwks_endpoint():
    key = _key()
    fetch = FakeJwks({"keys": [_jwk(key, "k1")]})
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, jwks=JwksCache("u", fetch, clock=lambda: 5.0))
    verifier.verify(jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"}))
    for i in range(5):
        with pytest.raises(Unauthenticated):
            verifier.verify(jwt.encode(_claims(), _key(), algorithm="RS256", headers={"kid": f"x{i}"}))
    assert fetch.calls == 1


@pytest.mark.parametrize("change", [
    {"exp": int(time.time()) - 60}, {"iss": ISSUER + "x"}, {"aud": "other"}, {"token_use": "access"},
])
def test_claim_checks(change):
    key = _key()
    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, jwks=JwksCache("u", FakeJwks({"keys": [_jwk(key, "k")]})))
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode(_claims(**change), key, algorithm="RS256", headers={"kid": "k"}))


def test_jwks_down_is_401_not_500():
    def down(url):
        raise OSError("connection refused")

    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, jwks=JwksCache("u", down))
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode(_claims(), _key(), algorithm="RS256", headers={"kid": "k"}))


def test_header_parsing_and_roles():
    with pytest.raises(Unauthenticated):
        authenticate({})
    with pytest.raises(Unauthenticated):
        authenticate({"authorization": "Token abc"})
    principal = principal_from_claims(_claims(**{"cognito:groups": ["vendors"], "custom:vendor_id": "ven_1"}))
    assert principal.vendor_id == "ven_1"
    assert require_role(principal, ["vendors", "admins"]) is principal
    with pytest.raises(Forbidden):
        require_role(principal, ["agents"])
