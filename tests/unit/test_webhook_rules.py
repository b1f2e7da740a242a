"""The pure rules of vendor webhooks: backoff, the retry window, rotation, signatures."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from chalicelib.notify import webhook_rules as rules

DAY = rules.RetrySchedule(base=5, max_delay=3600, window=86400)


@given(attempts=st.integers(min_value=1, max_value=60), rand=st.floats(min_value=0, max_value=1))
def test_a_backoff_is_between_half_and_all_of_its_exponential_ceiling(attempts, rand):
    ceiling = min(5 * 2 ** (attempts - 1), 3600)
    assert ceiling / 2 <= rules.backoff(attempts, DAY, lambda: rand) <= ceiling


def test_backoff_doubles_until_the_maximum_delay():
    waits = [rules.backoff(n, DAY, lambda: 1.0) for n in (1, 2, 3, 4, 12, 30)]
    assert waits == [5, 10, 20, 40, 3600, 3600]


def test_a_failing_receiver_is_tried_for_at_least_the_whole_window_then_given_up():
    now, attempts, tries = 0.0, 0, []
    while True:
        attempts += 1
        tries.append(now)
        later = rules.next_attempt_at(attempts=attempts, now=now, retry_from=0, schedule=DAY)
        if later is None:
            break
        assert later > now
        now = later
    assert tries[-1] >= DAY.window  # the last attempt is at the end of the window, not before
    assert tries[-1] < DAY.window + 1
    assert 25 < attempts < 60  # hourly at the end: a day is some 30 attempts, not thousands


def test_the_window_counts_from_a_replay_not_from_the_event():
    assert rules.next_attempt_at(attempts=1, now=1000, retry_from=0, schedule=rules.RetrySchedule(1, 1, 900)) is None
    assert rules.next_attempt_at(attempts=1, now=1000, retry_from=900, schedule=rules.RetrySchedule(1, 1, 900)) \
        is not None


def test_a_new_secret_is_whsec_and_base64_of_32_bytes():
    import base64
    secret = rules.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert rules.new_secret() != secret


def test_signatures_verify_with_the_standard_webhooks_library():
    secret = rules.new_secret()
    body = rules.event_body(event_id="evt_1", event_type="booking.confirmed", created_at="2026-12-01T00:00:00.000Z",
                            sequence=1, booking={"booking_id": "bk_1", "title": "Café São Paulo"})
    headers = rules.signature_headers(event_id="evt_1", body=body, secrets=[secret], timestamp=time.time())
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_a_body_changed_after_signing_does_not_verify():
    secret = rules.new_secret()
    headers = rules.signature_headers(event_id="evt_1", body='{"a":1}', secrets=[secret], timestamp=time.time())
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a":2}', headers)


def test_during_an_overlap_each_secret_verifies_the_same_message():
    old, new = rules.new_secret(), rules.new_secret()
    headers = rules.signature_headers(event_id="evt_1", body="{}", secrets=[new, old], timestamp=time.time())
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        Webhook(secret).verify("{}", headers)


def test_rotation_keeps_the_old_secret_signing_for_the_overlap_only():
    first = [rules.SigningSecret("whsec_a", created_at=0)]
    rotated = rules.rotate(first, new="whsec_b", now=100, overlap=50)
    assert [s.secret for s in rules.signing_secrets(rotated, now=149)] == ["whsec_b", "whsec_a"]
    assert [s.secret for s in rules.signing_secrets(rotated, now=150)] == ["whsec_b"]


def test_rotating_again_never_signs_with_more_than_three_secrets():
    stored = [rules.SigningSecret("whsec_0", created_at=0)]
    for n in range(1, 6):
        stored = rules.rotate(stored, new=f"whsec_{n}", now=n, overlap=1000)
    assert [s.secret for s in rules.signing_secrets(stored, now=6)] == ["whsec_5", "whsec_4", "whsec_3"]


def test_a_rotation_does_not_extend_an_older_secrets_overlap():
    stored = rules.rotate([rules.SigningSecret("whsec_a", 0)], new="whsec_b", now=10, overlap=100)
    again = rules.rotate(stored, new="whsec_c", now=20, overlap=100)
    assert {s.secret: s.expires_at for s in again} == {"whsec_c": None, "whsec_b": 120, "whsec_a": 110}


def test_streams_spread_over_every_due_shard():
    shards = {rules.due_shard(rules.stream_of("ven_a", f"bk_{n}")) for n in range(200)}
    assert shards == set(rules.all_due_shards())


def test_event_keys_sort_in_time_order_within_a_second():
    earlier = rules.listed_key(rules.stamp(1000.001), "evt_z")
    later = rules.listed_key(rules.stamp(1000.002), "evt_a")
    assert earlier < later
