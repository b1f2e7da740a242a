from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from ..core.api import SIGNED_IN, Call, endpoint
from ..core.lazy import lazy_models, lazy_module

if TYPE_CHECKING:
    from .schemas import AuthConfig, ConfirmResponse, Me, SignupResponse, Tokens

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")
schemas = lazy_models(__package__ + ".schemas")  # built by the first request that uses them


@endpoint(bp, "POST", "/auth/signup", body=schemas.SignupRequest, response=schemas.SignupResponse,
          status=201, summary="Create a traveler account", errors=("VALIDATION_ERROR", "INVALID_STATE"))
def signup(call: Call) -> SignupResponse:
    b = call.body
    return schemas.SignupResponse(**service.signup(b.email, b.password, b.name))


@endpoint(bp, "POST", "/auth/confirm", body=schemas.ConfirmRequest, response=schemas.ConfirmResponse,
          summary="Confirm an account with the emailed code",
          errors=("VALIDATION_ERROR", "NOT_FOUND"))
def confirm(call: Call) -> ConfirmResponse:
    return schemas.ConfirmResponse(**service.confirm(call.body.email, call.body.code))


@endpoint(bp, "POST", "/auth/login", body=schemas.LoginRequest, response=schemas.Tokens,
          summary="Sign in with email and password", errors=("VALIDATION_ERROR", "UNAUTHENTICATED"))
def login(call: Call) -> Tokens:
    return schemas.Tokens(**service.login(call.body.email, call.body.password))


@endpoint(bp, "POST", "/auth/new-password", body=schemas.NewPasswordRequest, response=schemas.Tokens,
          summary="Replace a temporary password (an account an admin created) and sign in",
          errors=("VALIDATION_ERROR", "UNAUTHENTICATED", "INVALID_STATE"))
def new_password(call: Call) -> Tokens:
    b = call.body
    return schemas.Tokens(**service.set_new_password(b.email, b.temporary_password, b.new_password))


@endpoint(bp, "POST", "/auth/refresh", body=schemas.RefreshRequest, response=schemas.Tokens,
          summary="Exchange a refresh token for new tokens", errors=("VALIDATION_ERROR", "UNAUTHENTICATED"))
def refresh(call: Call) -> Tokens:
    return schemas.Tokens(**service.refresh(call.body.refresh_token))


@endpoint(bp, "GET", "/auth/config", response=schemas.AuthConfig,
          summary="Cognito settings for clients that talk to Cognito directly")
def auth_config(call: Call) -> AuthConfig:
    return schemas.AuthConfig(**service.client_config())


@endpoint(bp, "GET", "/me", roles=SIGNED_IN, response=schemas.Me, summary="Who am I",
          errors=("UNAUTHENTICATED",))
def me(call: Call) -> Me:
    return schemas.Me(**call.user.as_dict())
