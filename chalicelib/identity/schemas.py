from __future__ import annotations

from pydantic import Field

from ..core.schemas import Email, Input, Output


class SignupRequest(Input):
    email: Email
    password: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=120)


class SignupResponse(Output):
    user_id: str
    confirmed: bool


class ConfirmRequest(Input):
    email: Email
    code: str = Field(min_length=1, max_length=64)


class ConfirmResponse(Output):
    confirmed: bool


class LoginRequest(Input):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class NewPasswordRequest(Input):
    """The first sign-in of an account an admin created (a vendor): its temporary password is
    exchanged for one the user chooses."""
    email: Email
    temporary_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256,
                              description="Cognito's password policy applies: at least 8 characters "
                                          "with upper and lower case letters and a digit")


class RefreshRequest(Input):
    refresh_token: str = Field(min_length=1, max_length=4096)


class Tokens(Output):
    id_token: str
    access_token: str
    refresh_token: str
    expires_in: int


class AuthConfig(Output):
    region: str
    user_pool_id: str
    client_id: str
    endpoint: str = Field(description="Cognito endpoint URL (the emulator's locally)")


class Me(Output):
    user_id: str
    email: str
    name: str
    roles: list[str]
    vendor_id: str | None = None
