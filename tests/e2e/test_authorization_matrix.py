"""The authorization matrix: every route x method x caller, over HTTP against the local stack.

Issue 8, item 3. The rows come from API.md ("Identity" and the route sections: who may call
each route) and the status rules of its Conventions: no token or a bad one is
`401 UNAUTHENTICATED`, a signed-in caller whose role may not do this is `403 FORBIDDEN`, and
another user's object (a booking, a vendor's listing or its availability) is `404 NOT_FOUND`,
the same answer as an object that does not exist (existence is not revealed).

Each cell is one test with one exact expected status. Callers allowed to act send a valid
request, so the success status is the one expected; actions that consume their object (pay or
cancel a hold) get a fresh object per cell. Refused cells aim at the shared objects: a refused
request changes nothing.

The table must cover exactly the routes the app declares (`app.app.routes`): a new route
without a row fails `test_the_table_has_a_row_for_every_route_of_the_app`.

Travelers are signed up fresh for this module (the demo travelers are left to other tests:
each traveler may have 5 active holds, and hold and payment attempts are rate-limited per
traveler per minute). The owner places 4 holds in all, the holder 4, the other traveler 3.

Staff: agents and admins may read any booking and its cancellation quote and cancel it (API.md:
"Agents may also cancel any booking", the audit is "agents, admins"; that admins share the
agents' access to bookings is the code's reading, `views.STAFF`, which API.md does not forbid).
"""
from __future__ import annotations

import base64
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest

from tests.e2e.test_booking_e2e import TIMEOUT, create_listing, day, wait_for_status

# --- callers ----------------------------------------------------------------------------------

UNAUTHENTICATED = ("anonymous", "malformed token", "forged token", "expired token", "access token")
TRAVELERS = ("traveler", "other traveler")
VENDORS = ("vendor", "other vendor")
STAFF = ("agent", "admin")
SIGNED_IN = TRAVELERS + VENDORS + ("unlinked vendor",) + STAFF
CALLERS = UNAUTHENTICATED + SIGNED_IN
# "traveler" owns the bookings below and "vendor" (ven_aurora) the listing; "other traveler" and
# "other vendor" (ven_meridian) own nothing of theirs. The forged token is the traveler's ID
# token with its claims rewritten to every group and a vendor id, its signature left as it was;
# the expired token is the traveler's claims expired 10 minutes ago, signed with the pool's own
# key (the emulator's Cognito signs with moto's published key, so a test can mint one); the
# access token is the traveler's genuine Cognito access token, sent where the ID token goes.

ERROR_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND"}
PASSWORD = "Matrix-pass-1"


def everyone(status: int) -> dict[str, int]:
    """A public route: the token, good, bad or none, plays no part."""
    return {caller: status for caller in CALLERS}


def only(allowed: dict[str, int]) -> dict[str, int]:
    """A signed-in route: no or a bad token 401, the callers named get their status, every
    other signed-in caller 403 (its role may not do this)."""
    assert set(allowed) <= set(SIGNED_IN), allowed
    return {**{c: 401 for c in UNAUTHENTICATED}, **{c: 403 for c in SIGNED_IN}, **allowed}


def signed_in(status: int) -> dict[str, int]:
    return only({c: status for c in SIGNED_IN})


# --- the shared world -------------------------------------------------------------------------


@dataclass
class World:
    stack: Any
    headers: dict[str, dict[str, str]]  # caller -> its Authorization header (or none)
    owner_email: str
    refresh_token: str
    listing_id: str  # the vendor's (ven_aurora) event listing in LIS, 50 units a day
    booking_id: str  # the traveler's HELD booking: read, and refused writes, aim at it
    holder: dict[str, str]  # a third traveler whose fresh holds staff cancel
    admin: dict[str, str] = field(default_factory=dict)
    case_id: str = ""  # the traveler's open support case: reads, messages and refused writes aim at it
    # Reviews: two confirmed stays of the listing that began today; the first is reviewed (the
    # vendor answers that review), the second is the one the traveler's review cell reviews.
    stays: tuple[str, str] = ("", "")
    review_id: str = ""
    # The waitlist: a listing sold out on day(12) (its one unit held by a traveler of its own),
    # and the traveler's entry in line for day(13), which the traveler's DELETE cell leaves.
    sold_out: str = ""
    entry_id: str = ""

    def hold(self, headers: dict[str, str]) -> str:
        response = self.stack.http.post(
            self.stack.url("/holds"), headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            json=hold_body(self.listing_id), timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        return response.json()["booking_id"]

    def open_case(self) -> str:
        """A new support case of the traveler (the owner)."""
        response = self.stack.http.post(self.stack.url("/support/cases"), headers=self.headers["traveler"],
                                        json=CASE_BODY, timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        return response.json()["case_id"]

    def set_webhook(self, caller: str) -> None:
        """The caller's vendor gets a webhook (to WEBHOOK_URL: nothing listens there)."""
        response = self.stack.http.put(self.stack.url("/vendor/webhook"), headers=self.headers[caller],
                                       json={"url": WEBHOOK_URL}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text


CASE_BODY = {"subject": "Matrix question", "message": "Is my booking real?"}
# Loopback, which the local stage accepts for a webhook; its events fail fast (nothing listens)
# and are skipped once the module removes the webhooks again (`world`).
WEBHOOK_URL = "http://127.0.0.1:9/hook"


def hold_body(listing_id: str) -> dict[str, Any]:
    return {"items": [{"listing_id": listing_id, "quantity": 1, "date": day(10)}],
            "contact": {"email": "matrix@example.com", "name": "Matrix Traveler"}}


def _signup(stack, label: str) -> str:
    email = f"matrix-{label}-{uuid.uuid4().hex[:10]}@example.com"
    created = stack.http.post(stack.url("/auth/signup"), timeout=TIMEOUT,
                              json={"email": email, "password": PASSWORD, "name": f"Matrix {label}"})
    assert created.status_code == 201, created.text
    return email


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
                       for part in token.split(".")[:2])
    return header, payload


def _signed_by_the_pool(id_token: str, **changes: Any) -> str:
    """The token's claims with `changes`, signed RS256 with the emulator's (moto's) pool key."""
    import gzip
    from pathlib import Path

    import jwt
    import moto

    source = Path(moto.__file__).parent / "cognitoidp" / "resources" / "jwks-private.json.gz"
    jwk = json.loads(gzip.decompress(source.read_bytes()))
    header, claims = _claims(id_token)
    assert header.get("kid") == jwk["kid"], "the emulator no longer signs with moto's key: mint another way"
    return jwt.encode({**claims, **changes}, jwt.PyJWK(jwk).key, algorithm="RS256", headers={"kid": jwk["kid"]})


def _expired(id_token: str) -> str:
    now = int(time.time())
    return _signed_by_the_pool(id_token, iat=now - 3600, auth_time=now - 3600, exp=now - 600)


def _unlinked_vendor(stack) -> dict[str, str]:
    """A `vendors` account with no vendor id, made in the emulator's Cognito directly."""
    pool_id = stack.http.get(stack.url("/auth/config"), timeout=TIMEOUT).json()["user_pool_id"]
    email = f"matrix-unlinked-{uuid.uuid4().hex[:10]}@example.com"
    idp = stack.aws_client("cognito-idp")
    idp.admin_create_user(UserPoolId=pool_id, Username=email, MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": email}, {"Name": "name", "Value": "Unlinked"}])
    idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=PASSWORD, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName="vendors")
    return stack.auth(email, PASSWORD)


def _forged(id_token: str) -> str:
    """The token with every group and a vendor id claimed; the signature no longer matches."""
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update({"cognito:groups": ["travelers", "vendors", "agents", "admins"],
                   "custom:vendor_id": "ven_aurora"})
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.fixture(scope="module")
def world(stack) -> Iterator[World]:
    owner_email = _signup(stack, "owner")
    other_email, holder_email = _signup(stack, "other"), _signup(stack, "holder")
    login = stack.http.post(stack.url("/auth/login"), json={"email": owner_email, "password": PASSWORD},
                            timeout=TIMEOUT)
    assert login.status_code == 200, login.text
    owner_token = login.json()["id_token"]
    headers = {
        "anonymous": {},
        "malformed token": {"Authorization": "Bearer not-a-jwt"},
        "forged token": {"Authorization": f"Bearer {_forged(owner_token)}"},
        "expired token": {"Authorization": f"Bearer {_expired(owner_token)}"},
        "access token": {"Authorization": f"Bearer {login.json()['access_token']}"},
        "traveler": {"Authorization": f"Bearer {owner_token}"},
        "other traveler": stack.auth(other_email, PASSWORD),
        "vendor": stack.auth("vendor@example.com"),
        "other vendor": stack.auth("vendor2@example.com"),
        "unlinked vendor": _unlinked_vendor(stack),
        "agent": stack.auth("agent@example.com"),
        "admin": stack.auth("admin@example.com"),
    }
    listing_id = create_listing(stack, headers["vendor"], kind="event", capacity=50, price=2500, city="LIS")
    w = World(stack, headers, owner_email, login.json()["refresh_token"], listing_id, "",
              stack.auth(holder_email, PASSWORD))
    w.booking_id = w.hold(headers["traveler"])
    w.case_id = w.open_case()
    w.stays = (_stay(w), _stay(w))
    w.review_id = _post(stack, f"/listings/{listing_id}/reviews", headers["traveler"],
                        {"rating": 5, "comment": "Matrix", "booking_id": w.stays[0]})["review_id"]
    w.sold_out = create_listing(stack, headers["vendor"], kind="event", capacity=1, price=2000, city="LIS")
    blocker = stack.auth(_signup(stack, "blocker"), PASSWORD)
    for date in (day(12), day(13)):
        _post(stack, "/holds", {**blocker, "Idempotency-Key": uuid.uuid4().hex}, {
            "items": [{"listing_id": w.sold_out, "quantity": 1, "date": date}],
            "contact": {"email": "blocker@example.com", "name": "Matrix Blocker"}})
    w.entry_id = _post(stack, f"/listings/{w.sold_out}/waitlist", headers["traveler"],
                       {"date": day(13), "quantity": 1})["entry_id"]
    yield w
    # The demo vendors' webhooks go with the module: later modules' bookings announce nothing.
    for caller in VENDORS:
        found = stack.http.get(stack.url("/vendor/webhook"), headers=headers[caller], timeout=TIMEOUT)
        if found.status_code == 200 and found.json()["url"] == WEBHOOK_URL:
            stack.http.delete(stack.url("/vendor/webhook"), headers=headers[caller], timeout=TIMEOUT)


def _post(stack, path: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
    response = stack.http.post(stack.url(path), headers=headers, json=body, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()


def _stay(w: World) -> str:
    """A confirmed booking of the traveler's of the listing, for today: reviewable at once."""
    traveler = w.headers["traveler"]
    booking_id = _post(w.stack, "/holds", {**traveler, "Idempotency-Key": uuid.uuid4().hex}, {
        "items": [{"listing_id": w.listing_id, "quantity": 1, "date": day(0)}],
        "contact": {"email": "matrix@example.com", "name": "Matrix Traveler"}})["booking_id"]
    paid = w.stack.http.post(w.stack.url(f"/bookings/{booking_id}/payment"), json={"payment_method": "tok_visa"},
                             headers={**traveler, "Idempotency-Key": uuid.uuid4().hex}, timeout=TIMEOUT)
    assert paid.status_code == 202, paid.text
    wait_for_status(w.stack, booking_id, traveler, "CONFIRMED")
    return booking_id


# --- requests ---------------------------------------------------------------------------------


@dataclass
class Req:
    path: str
    json: Any = None
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


Build = Callable[[World, str], Req]


def fixed(path: str, json_body: Any = None, **params: str) -> Build:
    return lambda w, caller: Req(path, json_body, params or None)


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _signup_cell(w: World, caller: str) -> Req:
    email = f"matrix-signup-{uuid.uuid4().hex[:10]}@example.com"
    return Req("/auth/signup", {"email": email, "password": PASSWORD, "name": "Matrix Signup"})


def _new_password_cell(w: World, caller: str) -> Req:
    """A vendor an admin has just created, still on its temporary password."""
    email = f"matrix-vendor-{uuid.uuid4().hex[:10]}@example.com"
    created = w.stack.http.post(w.stack.url("/admin/vendors"), headers=w.headers["admin"],
                                json={"name": "Matrix Vendor", "email": email}, timeout=TIMEOUT)
    assert created.status_code == 201, created.text
    return Req("/auth/new-password", {"email": email, "temporary_password": created.json()["temporary_password"],
                                      "new_password": PASSWORD})


def _booking(suffix: str = "", body: Any = None, fresh_for: dict[str, str] | None = None,
             extra: Callable[[], dict[str, str]] | None = None) -> Build:
    """A route on a booking. `fresh_for` maps the callers whose request consumes the booking to
    whose fresh hold they act on ("owner": the traveler's, "holder": another traveler's)."""
    def build(w: World, caller: str) -> Req:
        booking_id = w.booking_id
        if fresh_for and caller in fresh_for:
            booking_id = w.hold(w.headers["traveler"] if fresh_for[caller] == "owner" else w.holder)
        return Req(f"/bookings/{booking_id}{suffix}", body, None, extra() if extra else {})
    return build


def _listing(suffix: str = "", body: Any = None, vendor_path: bool = False, **params: str) -> Build:
    prefix = "/vendor/listings/" if vendor_path else "/listings/"
    return lambda w, caller: Req(f"{prefix}{w.listing_id}{suffix}", body, params or None)


def _case(suffix: str = "", body: Any = None, fresh_for: tuple[str, ...] = ()) -> Build:
    """A route on a support case; the callers in `fresh_for` consume theirs (a fresh case of the owner)."""
    def build(w: World, caller: str) -> Req:
        return Req(f"/support/cases/{w.open_case() if caller in fresh_for else w.case_id}{suffix}", body)
    return build


def _webhook(path: str, body: Callable[[], Any] | None = None, **params: str) -> Build:
    """A route on the caller's own webhook: a vendor's cell sets one up first, so that it exists
    to read, rotate, replay to or delete (a DELETE consumes it: the next cell sets it up again)."""
    def build(w: World, caller: str) -> Req:
        if caller in VENDORS:
            w.set_webhook(caller)
        return Req(path, body() if body else None, params or None)
    return build


def _replay_since() -> dict[str, str]:
    """A minute ago: the replay is valid and reaches back over (next to) nothing of other modules."""
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    return {"since": since.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _hold_cell(w: World, caller: str) -> Req:
    return Req("/holds", hold_body(w.listing_id), None, idem())


def _promotion_cell(path: str) -> Build:
    """A new code of the caller's own each time (codes are unique)."""
    return lambda w, caller: Req(path, {"code": f"MX{uuid.uuid4().hex[:10].upper()}", "percent_off": 10,
                                        "valid_from": "2020-01-01T00:00:00Z", "valid_to": "2099-01-01T00:00:00Z",
                                        "max_uses": 5, "max_uses_per_traveler": 1})


def _new_vendor_cell(w: World, caller: str) -> Req:
    return Req("/admin/vendors", {"name": "Matrix Vendor", "email": f"matrix-admin-{uuid.uuid4().hex[:10]}@example.com"})


def _new_listing_cell(w: World, caller: str) -> Req:
    return Req("/vendor/listings", {
        "kind": "event", "title": "Matrix event", "description": "authorization matrix", "currency": "EUR",
        "city": "LIS", "attributes": {}, "cancellation_policy": {"free_until_hours": 48, "refund_percent_after": 50}})


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # exactly as the app declares it
    expect: dict[str, int]
    build: Build
    note: str = ""


OWNER_OR_STAFF = {"traveler": 200, "other traveler": 404, "agent": 200, "admin": 200}
CASE_PARTIES = {"traveler": 200, "other traveler": 404, "agent": 200}
OWN_WEBHOOK = {"vendor": 200, "other vendor": 200}

ROWS: tuple[Row, ...] = (
    # --- public: anyone, the token plays no part ---
    Row("GET", "/health", everyone(200), fixed("/health")),
    Row("GET", "/openapi.json", everyone(200), fixed("/openapi.json")),
    Row("GET", "/faq", everyone(200), fixed("/faq")),
    Row("GET", "/auth/config", everyone(200), fixed("/auth/config")),
    Row("GET", "/search", everyone(200),
        lambda w, c: Req("/search", params={"kind": "event", "city": "LIS", "date": day(10), "quantity": "1"})),
    Row("GET", "/listings/{listing_id}", everyone(200), _listing()),
    Row("GET", "/listings/{listing_id}/availability", everyone(200),
        _listing("/availability", **{"from": day(10), "to": day(12)})),
    Row("POST", "/auth/signup", everyone(201), _signup_cell),
    Row("POST", "/auth/confirm", everyone(400),
        lambda w, c: Req("/auth/confirm", {"email": w.owner_email, "code": "123456"}),
        note="the local stage confirms sign-ups at once, so no code is ever outstanding: any code is "
             "400 VALIDATION_ERROR (production answers 200 to the emailed code), whoever asks"),
    Row("POST", "/auth/login", everyone(200),
        lambda w, c: Req("/auth/login", {"email": w.owner_email, "password": PASSWORD})),
    Row("POST", "/auth/refresh", everyone(200), lambda w, c: Req("/auth/refresh", {"refresh_token": w.refresh_token})),
    Row("POST", "/auth/new-password", everyone(200), _new_password_cell,
        note="not in API.md: the first sign-in of an admin-created vendor; public like /auth/login"),
    Row("POST", "/webhooks/stripe", everyone(404), fixed("/webhooks/stripe", {"id": "evt_matrix", "type": "ping"}),
        note="excluded from token auth on purpose: Stripe authenticates by Stripe-Signature. The local "
             "stage has no signing secret, so the route answers 404 NOT_FOUND to everyone (with a secret: "
             "400 without a valid signature, 200 with one)"),
    # --- any signed-in caller ---
    Row("GET", "/me", signed_in(200), fixed("/me")),
    # --- travelers ---
    Row("POST", "/holds", only({"traveler": 201, "other traveler": 201}), _hold_cell),
    Row("GET", "/me/bookings", only({"traveler": 200, "other traveler": 200}), fixed("/me/bookings")),
    Row("GET", "/bookings/{booking_id}", only(OWNER_OR_STAFF), _booking(),
        note="vendors are 403 even for a booking of their own listing: theirs is GET /vendor/bookings"),
    Row("GET", "/bookings/{booking_id}/cancellation-quote", only(OWNER_OR_STAFF), _booking("/cancellation-quote")),
    Row("POST", "/bookings/{booking_id}/payment", only({"traveler": 202, "other traveler": 404}),
        _booking("/payment", {"payment_method": "tok_visa"}, fresh_for={"traveler": "owner"}, extra=idem)),
    # Staff pass authorization and meet the booking's state: a hold has nothing to refund (409).
    Row("POST", "/bookings/{booking_id}/refunds", only({"agent": 409, "admin": 409}),
        _booking("/refunds", {"amount": 100, "reason": "matrix"}, extra=idem)),
    Row("GET", "/bookings/{booking_id}/audit", only({"agent": 200, "admin": 200}), _booking("/audit")),
    Row("POST", "/bookings/{booking_id}/cancel", only({**OWNER_OR_STAFF}),
        _booking("/cancel", {}, fresh_for={"traveler": "owner", "agent": "holder", "admin": "holder"}),
        note="a HELD booking cancels at once (200); staff may cancel any booking"),
    # --- support cases: travelers open them; the owner or any agent works one (API.md) ---
    Row("POST", "/support/cases", only({"traveler": 201, "other traveler": 201}), fixed("/support/cases", CASE_BODY)),
    Row("GET", "/me/support/cases", only({"traveler": 200, "other traveler": 200}), fixed("/me/support/cases")),
    Row("GET", "/support/cases/{case_id}", only(CASE_PARTIES), _case(),
        note="API.md: \"the owner or any agent\"; admins and vendors are not parties to cases (403)"),
    Row("POST", "/support/cases/{case_id}/messages", only({**CASE_PARTIES, "traveler": 201, "agent": 201}),
        _case("/messages", {"body": "Matrix message"})),
    Row("POST", "/support/cases/{case_id}/resolve", only(CASE_PARTIES), _case("/resolve", fresh_for=("traveler", "agent"))),
    Row("GET", "/agent/cases", only({"agent": 200}), fixed("/agent/cases"), note="API.md: the queue is the agents'"),
    # --- vendors: only their own listings ---
    Row("GET", "/agent/bookings", only({"agent": 200}), fixed("/agent/bookings", reference="ABCDEF")),
    Row("GET", "/vendor/bookings", only({"vendor": 200, "other vendor": 200}), fixed("/vendor/bookings")),
    Row("GET", "/vendor/listings", only({"vendor": 200, "other vendor": 200}), fixed("/vendor/listings")),
    Row("POST", "/vendor/listings", only({"vendor": 201, "other vendor": 201}), _new_listing_cell),
    Row("PATCH", "/vendor/listings/{listing_id}", only({"vendor": 200, "other vendor": 404}),
        _listing("", {"title": "Matrix event (renamed)"}, vendor_path=True)),
    Row("PUT", "/vendor/listings/{listing_id}/availability", only({"vendor": 200, "other vendor": 404}),
        _listing("/availability", {"from": day(200), "to": day(201), "capacity": 5, "price": 1000},
                 vendor_path=True)),
    # --- vendors: their own webhook (each vendor has one; no object of another is named) ---
    Row("PUT", "/vendor/webhook", only(OWN_WEBHOOK), fixed("/vendor/webhook", {"url": WEBHOOK_URL}),
        note="the unlinked vendor (vendors group, no vendor id) is 403: inventory.vendor_of"),
    Row("GET", "/vendor/webhook", only(OWN_WEBHOOK), _webhook("/vendor/webhook")),
    Row("DELETE", "/vendor/webhook", only({"vendor": 204, "other vendor": 204}), _webhook("/vendor/webhook")),
    Row("POST", "/vendor/webhook/rotate", only(OWN_WEBHOOK), _webhook("/vendor/webhook/rotate")),
    Row("GET", "/vendor/webhook/deliveries", only(OWN_WEBHOOK), _webhook("/vendor/webhook/deliveries", limit="5")),
    Row("POST", "/vendor/webhook/replay", only({"vendor": 202, "other vendor": 202}),
        _webhook("/vendor/webhook/replay", _replay_since)),
    # --- administrators ---
    # --- issue 13: places, reviews, promotions, the waitlist, recommendations ---
    Row("GET", "/places", everyone(200), fixed("/places", q="lis")),
    Row("GET", "/listings/{listing_id}/reviews", everyone(200), _listing("/reviews")),
    Row("POST", "/listings/{listing_id}/reviews", only({"traveler": 201, "other traveler": 404}),
        lambda w, c: Req(f"/listings/{w.listing_id}/reviews", {"rating": 4, "comment": "Matrix",
                                                               "booking_id": w.stays[1]}),
        note="another traveler naming the traveler's booking: not found (existence is not revealed)"),
    Row("POST", "/vendor/listings/{listing_id}/reviews/{review_id}/reply", only({"vendor": 201, "other vendor": 404}),
        lambda w, c: Req(f"/vendor/listings/{w.listing_id}/reviews/{w.review_id}/reply", {"body": "Thank you"})),
    Row("POST", "/vendor/promotions", only({"vendor": 201, "other vendor": 201}),
        _promotion_cell("/vendor/promotions")),
    Row("GET", "/vendor/promotions", only({"vendor": 200, "other vendor": 200}), fixed("/vendor/promotions")),
    Row("POST", "/admin/promotions", only({"admin": 201}), _promotion_cell("/admin/promotions")),
    Row("GET", "/admin/promotions", only({"admin": 200}), fixed("/admin/promotions")),
    Row("POST", "/listings/{listing_id}/waitlist", only({"traveler": 201, "other traveler": 201}),
        lambda w, c: Req(f"/listings/{w.sold_out}/waitlist", {"date": day(12), "quantity": 1})),
    Row("GET", "/me/waitlist", only({"traveler": 200, "other traveler": 200}), fixed("/me/waitlist")),
    Row("DELETE", "/me/waitlist/{entry_id}", only({"traveler": 204, "other traveler": 404}),
        lambda w, c: Req(f"/me/waitlist/{w.entry_id}")),
    Row("GET", "/me/recommendations", only({"traveler": 200, "other traveler": 200}), fixed("/me/recommendations")),
    Row("GET", "/me/preferences", only({"traveler": 200, "other traveler": 200}), fixed("/me/preferences")),
    Row("PUT", "/me/preferences", only({"traveler": 200, "other traveler": 200}),
        fixed("/me/preferences", {"recommendation_emails": False})),
    Row("POST", "/admin/vendors", only({"admin": 201}), _new_vendor_cell),
    Row("GET", "/admin/vendors", only({"admin": 200}), fixed("/admin/vendors")),
)

CELLS = [(row, caller) for row in ROWS for caller in CALLERS]


def _app_routes() -> set[tuple[str, str]]:
    import app

    return {(method, path) for path, methods in app.app.routes.items() for method in methods}


def _call(w: World, method: str, req: Req, caller: str):
    return w.stack.http.request(method, w.stack.url(req.path), json=req.json, params=req.params,
                                headers={**w.headers[caller], **req.headers}, timeout=TIMEOUT)


# --- tests ------------------------------------------------------------------------------------


def test_the_table_has_a_row_for_every_route_of_the_app():
    table = [(row.method, row.path) for row in ROWS]
    assert len(table) == len(set(table)), "a route has two rows"
    missing, stale = _app_routes() - set(table), set(table) - _app_routes()
    assert not missing, f"routes without a row in the authorization matrix: {sorted(missing)}"
    assert not stale, f"rows for routes the app does not have: {sorted(stale)}"
    for row in ROWS:
        assert set(row.expect) == set(CALLERS), f"{row.method} {row.path} lacks a cell"


SIZE = f"{len(ROWS)} routes x {len(CALLERS)} callers = {len(CELLS)} cells"


@pytest.mark.parametrize("size", [SIZE], ids=[SIZE])  # the size shows in the test id as well
def test_print_the_matrix_size(capsys, record_property, size):
    record_property("authorization_matrix", size)
    with capsys.disabled():
        print(f"\nauthorization matrix: {size}")
        width = max(len(f"{r.method} {r.path}") for r in ROWS)
        short = [c.replace("other ", "o.").replace(" token", "").replace(" vendor", "")[:9] for c in CALLERS]
        short = [s if s not in ("access", "expired") else s + " t." for s in short]
        print(" " * width + " | " + " ".join(f"{s:>9}" for s in short))
        for row in ROWS:
            print(f"{row.method + ' ' + row.path:<{width}} | " + " ".join(f"{row.expect[c]:>9}" for c in CALLERS))


@pytest.mark.parametrize("row, caller", CELLS,
                         ids=[f"{r.method} {r.path} - {c} -> {r.expect[c]}" for r, c in CELLS])
def test_cell(world, row: Row, caller: str):
    expected = row.expect[caller]
    req = row.build(world, caller)
    response = _call(world, row.method, req, caller)
    assert response.status_code == expected, (
        f"{row.method} {req.path} as {caller}: {response.status_code} {response.text[:500]}")
    if expected == 204:
        assert not response.content, response.text
        return
    body = response.json()
    if expected in ERROR_CODES:
        assert body["error"]["code"] == ERROR_CODES[expected], body
    elif expected < 300:
        assert "error" not in body, body


# Existence is not revealed: another user's object reads exactly like one that does not exist.

def _absent_booking(w: World) -> str:
    return "bk_" + uuid.uuid4().hex[:20]


def _absent_listing(w: World) -> str:
    suffix = list(w.listing_id.split("_", 1)[1])
    random.shuffle(suffix)
    return "lst_" + "".join(suffix)


OBJECT_ROUTES = [row for row in ROWS if "{" in row.path
                 and 404 in (row.expect["other traveler"], row.expect["other vendor"])]


@pytest.mark.parametrize("row", OBJECT_ROUTES, ids=[f"{r.method} {r.path}" for r in OBJECT_ROUTES])
def test_another_users_object_reads_like_a_missing_one(world, row: Row):
    caller = next(c for c in ("other traveler", "other vendor") if row.expect[c] == 404)
    req = row.build(world, caller)
    real = world.booking_id if "{booking_id}" in row.path else world.listing_id
    absent = _absent_booking(world) if "{booking_id}" in row.path else _absent_listing(world)
    if "{case_id}" in row.path:
        real, absent = req.path.split("/")[3], "case_" + uuid.uuid4().hex[:20]
    theirs = _call(world, row.method, req, caller)
    missing = _call(world, row.method, Req(req.path.replace(real, absent), req.json, req.params,
                                           {k: (uuid.uuid4().hex if k == "Idempotency-Key" else v)
                                            for k, v in req.headers.items()}), caller)
    assert theirs.status_code == missing.status_code == 404, (theirs.text, missing.text)
    assert theirs.json()["error"] == missing.json()["error"]


def test_the_expired_token_is_refused_for_its_expiry_alone(world):
    """The same claims signed the same way but not expired are accepted: the expired token's 401
    is the expiry check, not a bad signature."""
    header = {"Authorization": "Bearer " + _signed_by_the_pool(world.headers["traveler"]["Authorization"][7:],
                                                               exp=int(time.time()) + 600)}
    fresh = world.stack.http.get(world.stack.url("/me"), headers=header, timeout=TIMEOUT)
    assert fresh.status_code == 200, fresh.text
    expired = world.stack.http.get(world.stack.url("/me"), headers=world.headers["expired token"], timeout=TIMEOUT)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"], expired.text


# Idempotency-Keys are the caller's own: another user's key never replays that user's answer.

def test_another_travelers_hold_key_places_a_hold_of_ones_own(world):
    key, body, stack = uuid.uuid4().hex, hold_body(world.listing_id), world.stack
    first = stack.http.post(stack.url("/holds"), headers={**world.holder, "Idempotency-Key": key}, json=body,
                            timeout=TIMEOUT)
    again = stack.http.post(stack.url("/holds"), headers={**world.headers["other traveler"], "Idempotency-Key": key},
                            json=body, timeout=TIMEOUT)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json()["booking_id"] != first.json()["booking_id"]
    mine = stack.http.get(stack.url(f"/bookings/{first.json()['booking_id']}"), headers=world.headers["other traveler"],
                          timeout=TIMEOUT)
    assert mine.status_code == 404, mine.text


def test_another_travelers_payment_key_does_not_replay_their_payment(world):
    stack, key = world.stack, uuid.uuid4().hex
    booking_id = world.hold(world.holder)
    url, body = stack.url(f"/bookings/{booking_id}/payment"), {"payment_method": "tok_visa"}
    paid = stack.http.post(url, headers={**world.holder, "Idempotency-Key": key}, json=body, timeout=TIMEOUT)
    assert paid.status_code == 202, paid.text
    replayed = stack.http.post(url, headers={**world.headers["other traveler"], "Idempotency-Key": key}, json=body,
                               timeout=TIMEOUT)
    assert replayed.status_code == 404 and replayed.json()["error"]["code"] == "NOT_FOUND", replayed.text


# Lists answer 200 to every caller of the role, each with only what is theirs.

def _all_pages(world: World, path: str, caller: str, key: str, **params: str) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        page = world.stack.http.get(world.stack.url(path), headers=world.headers[caller], timeout=TIMEOUT,
                                    params={**params, "limit": "100", **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        found += page.json()[key]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return found


def test_lists_show_each_caller_only_its_own(world):
    ids = lambda items, name: {item[name] for item in items}  # noqa: E731
    assert world.booking_id in ids(_all_pages(world, "/me/bookings", "traveler", "bookings"), "booking_id")
    assert world.booking_id not in ids(_all_pages(world, "/me/bookings", "other traveler", "bookings"), "booking_id")
    assert world.listing_id in ids(_all_pages(world, "/vendor/listings", "vendor", "listings"), "listing_id")
    assert world.listing_id not in ids(_all_pages(world, "/vendor/listings", "other vendor", "listings"),
                                       "listing_id")
    on = {"from": day(10), "to": day(10)}
    assert world.booking_id in ids(_all_pages(world, "/vendor/bookings", "vendor", "bookings", **on), "booking_id")
    assert world.booking_id not in ids(_all_pages(world, "/vendor/bookings", "other vendor", "bookings", **on),
                                       "booking_id")


def test_a_vendor_sees_only_its_own_items_of_a_shared_trip(world):
    stack = world.stack
    theirs = create_listing(stack, world.headers["other vendor"], kind="event", capacity=5, price=1000, city="LIS")
    trip = stack.http.post(stack.url("/holds"), headers={**world.headers["other traveler"],
                                                         "Idempotency-Key": uuid.uuid4().hex},
                           timeout=TIMEOUT, json={**hold_body(world.listing_id), "items": [
                               {"listing_id": world.listing_id, "quantity": 1, "date": day(11)},
                               {"listing_id": theirs, "quantity": 1, "date": day(11)}]})
    assert trip.status_code == 201, trip.text
    seen = [b for b in _all_pages(world, "/vendor/bookings", "other vendor", "bookings", **{"from": day(11), "to": day(11)})
            if b["booking_id"] == trip.json()["booking_id"]]
    assert len(seen) == 1, seen
    assert {item["listing_id"] for item in seen[0]["items"]} == {theirs}
    assert "contact" not in seen[0]  # a vendor learns who is coming once the booking is paid for


@pytest.mark.xfail(strict=True, reason=(
    "the emulator's Cognito (moto) ignores the app client's WriteAttributes and the schema's "
    "Mutable=False, so locally a vendor can rewrite its own custom:vendor_id with its access token "
    "and act as another vendor; Cognito refuses the write (infra/resources.py APP_CLIENT). Remove "
    "this marker once tools/emulator.py enforces both"))
def test_a_vendor_cannot_make_itself_another_vendor_through_cognito(world):
    from botocore.exceptions import ClientError

    stack = world.stack
    request = _new_password_cell(world, "admin")
    tokens = stack.http.post(stack.url(request.path), json=request.json, timeout=TIMEOUT)
    assert tokens.status_code == 200, tokens.text
    try:  # /auth/config hands every client the pool and client ids: anyone can call Cognito
        stack.aws_client("cognito-idp").update_user_attributes(
            AccessToken=tokens.json()["access_token"],
            UserAttributes=[{"Name": "custom:vendor_id", "Value": "ven_aurora"}])
    except ClientError:
        pass  # what Cognito answers: NotAuthorizedException
    again = stack.auth(request.json["email"], PASSWORD)
    patched = stack.http.patch(stack.url(f"/vendor/listings/{world.listing_id}"), headers=again,
                               json={"title": "Taken over"}, timeout=TIMEOUT)
    assert patched.status_code == 404, patched.text
