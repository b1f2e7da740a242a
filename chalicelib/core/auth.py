"""Bearer-token verification, done by the application itself.

`chalice local` and `chalice.test` never check Cognito signatures (DESIGN pitfall 1), so every
protected route verifies the ID token here: RS256 signature against the pool's JWKS, issuer,
audience (the app client id), `token_use == "id"` and expiry. Roles come from `cognito:groups`.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .config import settings
from .errors import Forbidden, Unauthenticated
from .lazy import defer_unused

ROLES = ("travelers", "vendors", "agents", "admins")
# An unknown kid may mean the pool rotated its keys; refetch, but not on every forged token.
_REFETCH_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    vendor_id: str | None = None

    def has_any(self, roles: Iterable[str]) -> bool:
        return bool(self.roles.intersection(roles))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user_id": self.user_id, "email": self.email, "name": self.name,
                               "roles": sorted(self.roles)}
        if self.vendor_id:
            out["vendor_id"] = self.vendor_id
        return out


def fetch_json(url: str, timeout: float = 3.0) -> dict[str, Any]:
    import urllib.request  # deferred, like jwt below: cold start only pays for what it uses

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (configured URL)
        return json.loads(response.read())


class JwksCache:
    """The pool's public keys by kid, fetched lazily and refetched once on an unknown kid."""

    def __init__(self, url: str, fetch: Callable[[str], dict[str, Any]] = fetch_json,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> Any:
        if kid in self._keys:
            return self._keys[kid]
        with self._lock:
            recently = self._fetched_at is not None and \
                self._clock() - self._fetched_at < _REFETCH_INTERVAL_SECONDS
            if kid not in self._keys and not (recently and self._keys):
                self._load()
        if kid not in self._keys:
            raise Unauthenticated("The token was signed by an unknown key.")
        return self._keys[kid]

    def _load(self) -> None:
        jwt = _pyjwt()

        try:
            document = self._fetch(self._url)
        except Exception as exc:  # the JWKS endpoint is down: nobody can be verified
            raise Unauthenticated("The signing keys could not be loaded.") from exc
        keys = {}
        for jwk in document.get("keys", []):
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm="RS256").key
            except (KeyError, jwt.PyJWKError):
                continue
        self._keys = keys
        self._fetched_at = self._clock()


def _pyjwt() -> Any:
    """PyJWT without cryptography.x509 until something uses it: PyJWT imports it (~20 ms of a
    cold start) only to tell an HMAC secret from a DER certificate, and only RS256 gets here."""
    if "jwt" not in sys.modules:
        defer_unused("cryptography.x509")
    import jwt
    return jwt


class TokenVerifier:
    def __init__(self, *, issuer: str, client_id: str, jwks: JwksCache, leeway: int = 5) -> None:
        self._issuer = issuer
        self._client_id = client_id
        self._jwks = jwks
        self._leeway = leeway

    def verify(self, token: str) -> Principal:
        jwt = _pyjwt()  # PyJWT + cryptography: ~30 ms of cold start, paid by the first signed-in call

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The bearer token is malformed.") from exc
        # Only RS256: `alg: none` and HMAC-with-the-public-key tricks stop here.
        if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
            raise Unauthenticated("The bearer token is not an RS256 token with a key id.")
        key = self._jwks.key_for(header["kid"])
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], audience=self._client_id, issuer=self._issuer,
                leeway=self._leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The bearer token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("The bearer token is not valid for this service.") from exc
        if claims.get("token_use") != "id":
            raise Unauthenticated("Send the ID token, not the access token.")
        return principal_from_claims(claims)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    groups = claims.get("cognito:groups") or []
    if isinstance(groups, str):
        groups = [groups]
    return Principal(
        user_id=str(claims["sub"]),
        email=str(claims.get("email", "")),
        name=str(claims.get("name", "")),
        roles=frozenset(g for g in groups if g in ROLES),
        vendor_id=claims.get("custom:vendor_id") or None,
    )


_verifier: TokenVerifier | None = None
_verifier_lock = threading.Lock()


def verifier() -> TokenVerifier:
    """Built on first use, never at import: the pool ids come from the stage's environment."""
    global _verifier
    if _verifier is None:
        with _verifier_lock:
            if _verifier is None:
                s = settings()
                _verifier = TokenVerifier(issuer=s.issuer, client_id=s.user_pool_client_id,
                                          jwks=JwksCache(s.jwks_url))
    return _verifier


def reset_verifier() -> None:
    """For tests and the local runner, after the pool ids change."""
    global _verifier
    _verifier = None


def authenticate(headers: Mapping[str, str]) -> Principal:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send `Authorization: Bearer <ID token>`.")
    return verifier().verify(token.strip())


def require_role(principal: Principal, roles: Iterable[str]) -> Principal:
    roles = tuple(roles)
    if not principal.has_any(roles):
        raise Forbidden("Your role may not do this.", {"required_roles": list(roles)})
    return principal
