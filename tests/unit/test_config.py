"""Per-stage settings: the cursor secret has a default on the local stage only."""
from __future__ import annotations

import pytest

from chalicelib.core import pagination
from chalicelib.core.config import LOCAL_CURSOR_SECRET, ConfigurationError, settings


@pytest.fixture
def stage(monkeypatch):
    """Set the stage and the cursor secret (None: unset) as a deployed function would see them."""
    def use(name: str, secret: str | None = None) -> None:
        monkeypatch.setenv("ITINERA_STAGE", name)
        if secret is None:
            monkeypatch.delenv("ITINERA_CURSOR_SECRET", raising=False)
        else:
            monkeypatch.setenv("ITINERA_CURSOR_SECRET", secret)
        settings.cache_clear()

    yield use
    settings.cache_clear()  # the next settings() reads the restored environment


def test_a_deployed_stage_without_a_cursor_secret_refuses_to_use_one(stage):
    stage("prod")
    with pytest.raises(ConfigurationError, match="ITINERA_CURSOR_SECRET"):
        settings().cursor_secret  # noqa: B018  (the read is the point)


def test_a_worker_without_the_cursor_secret_still_starts(stage):
    stage("prod")  # the workers sign no cursor: the template gives them no cursor secret
    assert settings().stage == "prod"


def test_a_cursor_cannot_be_signed_on_a_deployed_stage_without_a_secret(stage):
    stage("dev")
    with pytest.raises(ConfigurationError, match="ITINERA_CURSOR_SECRET"):
        pagination.encode({"k": 1}, scope="test")


def test_the_local_default_secret_is_refused_outside_the_local_stage(stage):
    stage("prod", LOCAL_CURSOR_SECRET)
    with pytest.raises(ConfigurationError):
        settings().cursor_secret  # noqa: B018


def test_a_deployed_stage_signs_cursors_with_its_own_secret(stage):
    stage("prod", "a-secret-of-prod")
    cursor = pagination.encode({"k": 1}, scope="test")

    assert settings().cursor_secret == "a-secret-of-prod"
    assert pagination.decode(cursor, scope="test") == {"k": 1}
    stage("dev", "another-secret")
    with pytest.raises(pagination.ValidationError):
        pagination.decode(cursor, scope="test")  # another stage's key: forged, as far as it knows


def test_the_local_stage_keeps_a_default_secret(stage):
    stage("local")
    assert settings().cursor_secret == LOCAL_CURSOR_SECRET
