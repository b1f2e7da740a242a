"""Identity use cases, through Cognito (the emulator's Cognito locally)."""
from __future__ import annotations

from typing import Any

from ..core import aws
from ..core.config import settings
from ..core.errors import InvalidState, NotFound, Unauthenticated, ValidationError

TRAVELERS = "travelers"
NEW_PASSWORD_REQUIRED = "NEW_PASSWORD_REQUIRED"
UNCONFIRMED = "UNCONFIRMED"  # Cognito's UserStatus of a signed-up account awaiting its code
PASSWORD_POLICY_MESSAGE = ("does not meet the password policy: at least 8 characters with upper "
                           "and lower case letters and a digit")


def _cognito() -> Any:
    return aws.client("cognito-idp")


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def signup(email: str, password: str, name: str) -> dict[str, Any]:
    s = settings()
    idp = _cognito()
    try:
        result = idp.sign_up(ClientId=s.user_pool_client_id, Username=email, Password=password,
                             UserAttributes=[{"Name": "email", "Value": email},
                                             {"Name": "name", "Value": name}])
    except idp.exceptions.InvalidPasswordException as exc:
        raise ValidationError.for_fields({"password": PASSWORD_POLICY_MESSAGE}) from exc
    except idp.exceptions.UsernameExistsException as exc:
        raise InvalidState("An account with this email already exists.", {"field": "email"}) from exc
    except idp.exceptions.InvalidParameterException as exc:
        # Cognito's own text (which may quote the input or the pool's internals) stays in the logs.
        raise ValidationError.for_fields(
            {"email": "is not accepted as a sign-in email address"}) from exc
    idp.admin_add_user_to_group(UserPoolId=s.user_pool_id, Username=email, GroupName=TRAVELERS)
    confirmed = bool(result.get("UserConfirmed"))
    if s.auto_confirm_signups and not confirmed:
        idp.admin_confirm_sign_up(UserPoolId=s.user_pool_id, Username=email)
        confirmed = True
    return {"user_id": result["UserSub"], "confirmed": confirmed}


def confirm(email: str, code: str) -> dict[str, Any]:
    """Confirm a signed-up account with the code Cognito emailed.

    Only an UNCONFIRMED account has a code outstanding, so for any other account every code is
    a wrong one: 400 naming `code`, the same answer as a mistyped code (which also tells nobody
    whether the account is confirmed). Asked first, not left to ConfirmSignUp: Cognito refuses
    a confirmed account with NotAuthorized, but the emulator's Cognito confirms any account
    again whatever the code, and the local stage must answer as production does.
    """
    s = settings()
    idp = _cognito()
    try:
        user = idp.admin_get_user(UserPoolId=s.user_pool_id, Username=email)
    except idp.exceptions.UserNotFoundException as exc:
        raise NotFound("No account with this email.") from exc
    if user.get("UserStatus") != UNCONFIRMED:
        raise _wrong_code()
    try:
        idp.confirm_sign_up(ClientId=s.user_pool_client_id, Username=email, ConfirmationCode=code)
    except (idp.exceptions.CodeMismatchException, idp.exceptions.ExpiredCodeException,
            idp.exceptions.NotAuthorizedException) as exc:  # NotAuthorized: confirmed meanwhile
        raise _wrong_code() from exc
    except idp.exceptions.UserNotFoundException as exc:
        raise NotFound("No account with this email.") from exc
    return {"confirmed": True}


def _wrong_code() -> ValidationError:
    return ValidationError.for_fields(
        {"code": "is wrong or has expired"},
        "The confirmation code is wrong or has expired. An account that is already confirmed "
        "needs no code: sign in.")


def _tokens(result: dict[str, Any], refresh_token: str | None = None) -> dict[str, Any]:
    auth = result.get("AuthenticationResult")
    if not auth:
        challenge = result.get("ChallengeName")
        if challenge == NEW_PASSWORD_REQUIRED:  # a user created by an admin (a vendor)
            raise Unauthenticated(
                "This account still has its temporary password: choose a new one with "
                "POST /auth/new-password {email, temporary_password, new_password}.",
                {"challenge": challenge, "next": "/auth/new-password"})
        raise Unauthenticated("Sign-in needs another step.", {"challenge": challenge})
    return {"id_token": auth["IdToken"], "access_token": auth["AccessToken"],
            "refresh_token": auth.get("RefreshToken") or refresh_token or "",
            "expires_in": int(auth.get("ExpiresIn", 3600))}


def login(email: str, password: str) -> dict[str, Any]:
    idp = _cognito()
    try:
        result = idp.initiate_auth(ClientId=settings().user_pool_client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": email, "PASSWORD": password})
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException) as exc:
        raise Unauthenticated("The email or password is wrong.") from exc
    except idp.exceptions.UserNotConfirmedException as exc:
        raise Unauthenticated("Confirm your email address before signing in.",
                              {"reason": "USER_NOT_CONFIRMED"}) from exc
    return _tokens(result)


def set_new_password(email: str, temporary_password: str, new_password: str) -> dict[str, Any]:
    """First sign-in of a user an admin created: temporary password in, own password set, tokens out."""
    idp = _cognito()
    client_id = settings().user_pool_client_id
    try:
        started = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                    AuthParameters={"USERNAME": email, "PASSWORD": temporary_password})
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException) as exc:
        raise Unauthenticated("The email or temporary password is wrong.") from exc
    except idp.exceptions.UserNotConfirmedException as exc:
        raise Unauthenticated("Confirm your email address before signing in.",
                              {"reason": "USER_NOT_CONFIRMED"}) from exc
    if started.get("AuthenticationResult"):
        raise InvalidState("This account has no temporary password any more: sign in with /auth/login.")
    if started.get("ChallengeName") != NEW_PASSWORD_REQUIRED:
        return _tokens(started)  # another step (e.g. MFA): 401 naming the challenge
    parameters = started.get("ChallengeParameters") or {}
    username = parameters.get("USER_ID_FOR_SRP") or parameters.get("USERNAME") or email
    try:
        result = idp.respond_to_auth_challenge(
            ClientId=client_id, ChallengeName=NEW_PASSWORD_REQUIRED, Session=started["Session"],
            ChallengeResponses={"USERNAME": username, "NEW_PASSWORD": new_password})
    except idp.exceptions.InvalidPasswordException as exc:
        raise ValidationError.for_fields({"new_password": PASSWORD_POLICY_MESSAGE}) from exc
    except idp.exceptions.InvalidParameterException as exc:
        raise ValidationError.for_fields({"new_password": "was not accepted"}) from exc
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.CodeMismatchException,
            idp.exceptions.ExpiredCodeException) as exc:
        raise Unauthenticated("The sign-in session expired: try again.") from exc
    return _tokens(result)


def refresh(refresh_token: str) -> dict[str, Any]:
    idp = _cognito()
    try:
        result = idp.initiate_auth(ClientId=settings().user_pool_client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                   AuthParameters={"REFRESH_TOKEN": refresh_token})
    except (idp.exceptions.NotAuthorizedException, idp.exceptions.UserNotFoundException) as exc:
        raise Unauthenticated("The refresh token is not valid.") from exc
    return _tokens(result, refresh_token)


def client_config() -> dict[str, Any]:
    s = settings()
    endpoint = s.cognito_endpoint or f"https://cognito-idp.{s.region}.amazonaws.com"
    return {"region": s.region, "user_pool_id": s.user_pool_id, "client_id": s.user_pool_client_id,
            "endpoint": endpoint}
