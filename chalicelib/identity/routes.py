from __future__ import annotations

from chalice import Blueprint

from ..core.api import SIGNED_IN, Call, endpoint
from ..core.lazy import lazy_module
from .schemas import (AuthConfig, ConfirmRequest, ConfirmResponse, LoginRequest, Me,
                      NewPasswordRequest, RefreshRequest, SignupRequest, SignupResponse, Tokens)

bp = Blueprint(__name__)
service = lazy_module(__package__ + ".service")


@endpoint(bp, "POST", "/auth/signup", body=SignupRequest, response=SignupResponse, status=201,
          summary="Create a traveler account", errors=("VALIDATION_ERROR", "INVALID_STATE"))
def signup(call: Call) -> SignupResponse:
    b = call.body
    return SignupResponse(**service.signup(b.email, b.password, b.name))


@endpoint(bp, "POST", "/auth/confirm", body=ConfirmRequest, response=ConfirmResponse,
          summary="Confirm an account with the emailed code",
          errors=("VALIDATION_ERROR", "NOT_FOUND"))
def confirm(call: Call) -> ConfirmResponse:
    return ConfirmResponse(**service.confirm(call.body.email, call.body.code))


@endpoint(bp, "POST", "/auth/login", body=LoginRequest, response=Tokens,
          summary="Sign in with email and password", errors=("VALIDATION_ERROR", "UNAUTHENTICATED"))
def login(call: Call) -> Tokens:
    return Tokens(**service.login(call.body.email, call.body.password))


@endpoint(bp, "POST", "/auth/new-password", body=NewPasswordRequest, response=Tokens,
          summary="Replace a temporary password (an account an admin created) and sign in",
          errors=("VALIDATION_ERROR", "UNAUTHENTICATED", "INVALID_STATE"))
def new_password(call: Call) -> Tokens:
    b = call.body
    return Tokens(**service.set_new_password(b.email, b.temporary_password, b.new_password))


@endpoint(bp, "POST", "/auth/refresh", body=RefreshRequest, response=Tokens,
          summary="Exchange a refresh token for new tokens", errors=("VALIDATION_ERROR", "UNAUTHENTICATED"))
def refresh(call: Call) -> Tokens:
    return Tokens(**service.refresh(call.body.refresh_token))


@endpoint(bp, "GET", "/auth/config", response=AuthConfig,
          summary="Cognito settings for clients that talk to Cognito directly")
def auth_config(call: Call) -> AuthConfig:
    return AuthConfig(**service.client_config())


@endpoint(bp, "GET", "/me", roles=SIGNED_IN, response=Me, summary="Who am I",
          errors=("UNAUTHENTICATED",))
def me(call: Call) -> Me:
    return Me(**call.user.as_dict())
