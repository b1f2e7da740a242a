"""Onboarding vendors: the vendor record and its Cognito user, created together."""
from __future__ import annotations

import functools
import secrets
import string
from typing import Any

from ..core import aws, pagination
from ..core.config import settings
from ..core.errors import InvalidState, ValidationError
from ..core.observability import logger, mask_email
from . import domain
from .models import VENDOR_DIRECTORY, Vendor

VENDORS_GROUP = "vendors"
_PASSWORD_LENGTH = 16


def temporary_password(length: int = _PASSWORD_LENGTH) -> str:
    """Meets the pool's policy (upper, lower, digit, 8+) with room to spare; a symbol too, in
    case a stage's policy asks for one."""
    rng = secrets.SystemRandom()
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, "-_.!"]
    chars = [rng.choice(c) for c in classes]
    chars += [rng.choice(string.ascii_letters + string.digits) for _ in range(length - len(chars))]
    rng.shuffle(chars)
    return "".join(chars)


_REFUSED = {
    "email": "is not an email address the sign-in service accepts",
    "name": "is not a name the sign-in service accepts",
}


def _refused_field(exc: Any) -> str:
    """Which of our fields Cognito's InvalidParameterException is about: the user name is the
    email, so the email unless only the `name` attribute is mentioned."""
    text = str(exc.response.get("Error", {}).get("Message", "")).lower()
    if "email" in text or "username" in text:
        return "email"
    return "name" if "name" in text else "email"


def create_vendor(name: str, email: str) -> tuple[Vendor, str | None]:
    """A vendor and its user in the `vendors` group with `custom:vendor_id`.

    The Cognito user comes first: a taken email fails there before anything is stored. Should a
    later step fail, the user is deleted again so the email can be used on a retry.
    Returns the vendor and, on the local stage only, the temporary password.
    """
    s = settings()
    idp = aws.client("cognito-idp")
    vendor_id = "ven_" + secrets.token_hex(8)
    attributes = [{"Name": "email", "Value": email}, {"Name": "name", "Value": name},
                  {"Name": "email_verified", "Value": "true"},
                  {"Name": "custom:vendor_id", "Value": vendor_id}]
    request: dict[str, Any] = {"UserPoolId": s.user_pool_id, "Username": email,
                               "UserAttributes": attributes, "DesiredDeliveryMediums": ["EMAIL"]}
    password = None
    if s.auto_confirm_signups:  # local: no mail goes out, the admin hands the password over
        password = temporary_password()
        request.update(MessageAction="SUPPRESS", TemporaryPassword=password)
    try:
        idp.admin_create_user(**request)
    except idp.exceptions.UsernameExistsException:
        raise InvalidState("An account with this email already exists.", {"field": "email"}) from None
    except idp.exceptions.InvalidParameterException as exc:
        # Cognito's own text names its API and parameters: log it (masked), never return it.
        field = _refused_field(exc)
        logger.warning("Cognito refused a new vendor user",
                       extra={"email": mask_email(email), "field": field,
                              "cognito_error": exc.response.get("Error", {}).get("Code")})
        raise ValidationError.for_fields({field: _REFUSED[field]}) from None
    try:
        idp.admin_add_user_to_group(UserPoolId=s.user_pool_id, Username=email, GroupName=VENDORS_GROUP)
        vendor = Vendor(vendor_id, name=name, email=email,
                        created_at=domain.iso_instant(domain.utc_now()), directory=VENDOR_DIRECTORY)
        vendor.save(condition=Vendor.vendor_id.does_not_exist())
    except Exception:
        logger.exception("vendor onboarding failed; removing the new user",
                         extra={"email": mask_email(email)})
        idp.admin_delete_user(UserPoolId=s.user_pool_id, Username=email)
        raise
    return vendor, password


def list_vendors(limit: int, cursor: str | None) -> tuple[list[Vendor], str | None]:
    return pagination.query_page(functools.partial(Vendor.by_directory.query, VENDOR_DIRECTORY),
                                 limit=limit, cursor=cursor, scope="vendors")
