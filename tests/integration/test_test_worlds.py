"""The suite's emulator snapshots (tests/conftest.py): a test starts from the bootstrap's state or
a world built once, and nothing another test wrote ever reaches it."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from chalicelib.core.models import IdempotencyRecord
from tests import conftest


def _record(key: str) -> IdempotencyRecord:
    return IdempotencyRecord(f"test#{key}", status="COMPLETED", request_hash="h", created_at=0,
                             expires_at=datetime.now(timezone.utc))


def _exists(key: str) -> bool:
    return IdempotencyRecord.count(f"test#{key}") > 0


def test_a_world_is_copied_back_without_what_tests_wrote_after_it(aws_env):
    world = f"world-{uuid.uuid4().hex}"
    assert conftest.world_once(world, lambda: _record("built").save() and "made") == "made"
    assert _exists("built")
    _record("later").save()

    assert conftest._snapshots[world].restore() == "made"
    assert _exists("built") and not _exists("later")


def test_a_world_is_not_copied_over_what_the_test_already_wrote(aws_env):
    world = f"world-{uuid.uuid4().hex}"
    _record("first").save()
    built = []

    assert conftest.world_once(world, lambda: built.append(1) or "made") == "made"
    assert built == [1] and _exists("first")
    assert world not in conftest._snapshots


def test_a_world_is_not_copied_over_a_change_that_adds_nothing(aws_env, tokens):
    """A changed attribute leaves every count as it was: the write itself keeps the world out."""
    import boto3

    world = f"world-{uuid.uuid4().hex}"
    conftest.world_once(world, lambda: "made")  # stored from the bootstrap's state
    pool = aws_env["user_pool_id"]
    idp = boto3.client("cognito-idp")
    conftest._writes.seen = False  # as if this test had just begun
    idp.admin_update_user_attributes(UserPoolId=pool, Username="traveler@example.com",
                                     UserAttributes=[{"Name": "name", "Value": "Changed"}])

    assert conftest.world_once(world, lambda: "built") == "built"
    attributes = idp.admin_get_user(UserPoolId=pool, Username="traveler@example.com")["UserAttributes"]
    assert {"Name": "name", "Value": "Changed"} in attributes


def test_a_sign_in_made_before_a_world_still_refreshes_after_it(api, aws_env):
    world = f"world-{uuid.uuid4().hex}"
    conftest.world_once(world, lambda: "made")
    conftest._writes.seen = False
    signed_in = api.post("/auth/login", {"email": "traveler@example.com", "password": conftest.DEFAULT_PASSWORD})
    assert signed_in.status_code == 200, signed_in.data

    assert conftest.world_once(world, lambda: "built") == "made"  # copied back over the sign-in
    refreshed = api.post("/auth/refresh", {"refresh_token": signed_in.data["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.data


def test_signing_in_and_reading_leave_a_test_at_the_bootstrap(api, tokens):
    api.get("/me", token=tokens["traveler"])
    assert not conftest._writes.seen
