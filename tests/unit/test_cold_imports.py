"""What a cold start imports: the modules a first request loads, in a fresh interpreter.

Not timings (tools.bench_cold measures those): the modules themselves, so a change that brings
a heavy import back onto a cold path fails here. Each case runs in its own Python process with
the emulator in-process (moto) and the test environment of tests/conftest.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What the scripts below start with: their imports, and what Lambda passes the handler.
_PRELUDE = r'''
import json, sys
from datetime import date, timedelta
import moto


class Context:
    function_name, function_version, memory_limit_in_mb = "itinera-test", "$LATEST", 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:itinera-test"
    aws_request_id, log_group_name, log_stream_name = "cold", "/aws/lambda/itinera-test", "cold"

    def get_remaining_time_in_millis(self):
        return 30000
'''

# Seeds two hotels in PAR for two nights with the models (no pydantic), then imports the app
# and answers one GET /search the way Lambda calls the handler; prints what was loaded.
_SEARCH = _PRELUDE + r'''

with moto.mock_aws():
    from chalicelib.inventory import domain
    from chalicelib.inventory.models import AvailabilityDay, Listing

    for model in (Listing, AvailabilityDay):
        model.create_table(wait=True)
    check_in = date.today() + timedelta(days=20)
    for n in range(2):
        listing_id = f"lst_cold{n}"
        Listing(listing_id, vendor_id="ven_cold", kind="hotel", title=f"Hotel {n}", currency="EUR", city="PAR",
                cancellation_policy={"free_until_hours": 48, "refund_percent_after": 50},
                created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z", version=1
                ).with_index_keys().save()
        for day in domain.nights(check_in, check_in + timedelta(days=2)):
            AvailabilityDay(listing_id, day.isoformat(), capacity=5, available=5, price=9000 + n, currency="EUR",
                            search_key=domain.search_key("hotel", day, city="PAR"),
                            search_rank=domain.search_rank(9000 + n, listing_id)).save()
    before = set(sys.modules)

    from tools.bench_cold import api_event
    import app

    after_import = set(sys.modules)
    query = {"kind": "hotel", "city": "PAR", "check_in": check_in.isoformat(),
             "check_out": (check_in + timedelta(days=2)).isoformat()}
    response = app.app(api_event("GET", "/search", query=query), Context())
    print("RESULT " + json.dumps({"status": response["statusCode"], "body": json.loads(response["body"]),
                                 "before": sorted(before), "import": sorted(after_import - before),
                                 "request": sorted(set(sys.modules) - after_import)}))
'''

# Seeds one hotel with the models, then imports the app and places one hold the way Lambda
# calls the handler, as a signed-in traveler (the token check itself is PyJWT's, stood in for
# here: it loads no pydantic either); prints what was loaded.
_HOLD = _PRELUDE + r'''

with moto.mock_aws():
    from tools.bootstrap import create_tables
    from chalicelib.inventory import domain
    from chalicelib.inventory.models import AvailabilityDay, Listing

    create_tables()
    check_in = date.today() + timedelta(days=20)
    Listing("lst_cold", vendor_id="ven_cold", kind="hotel", title="Hotel", currency="EUR", city="PAR",
            cancellation_policy={"free_until_hours": 48, "refund_percent_after": 50},
            created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z", version=1
            ).with_index_keys().save()
    for day in domain.nights(check_in, check_in + timedelta(days=2)):
        AvailabilityDay("lst_cold", day.isoformat(), capacity=5, available=5, price=9000, currency="EUR",
                        search_key=domain.search_key("hotel", day, city="PAR"),
                        search_rank=domain.search_rank(9000, "lst_cold")).save()
    before = set(sys.modules)

    from tools.bench_cold import api_event
    import app
    from chalicelib.core import auth

    class Verifier:
        def verify(self, token):
            return auth.Principal(user_id="usr_cold", email="cold@example.com", name="Cold",
                                  roles=frozenset({"travelers"}))

    auth._verifier = Verifier()

    body = {"items": [{"listing_id": "lst_cold", "quantity": 1, "check_in": check_in.isoformat(),
                       "check_out": (check_in + timedelta(days=2)).isoformat()}],
            "contact": {"email": "cold@example.com", "name": "Cold Traveler"}}
    body.update(json.loads(sys.argv[1]))
    event = api_event("POST", "/holds", body=body, headers={"Authorization": "Bearer t", "Idempotency-Key": "k1"})
    response = app.app(event, Context())
    print("RESULT " + json.dumps({"status": response["statusCode"], "body": json.loads(response["body"]),
                                 "before": sorted(before), "request": sorted(set(sys.modules) - before)}))
'''

_IMPORT = r'''
import json, sys
before = set(sys.modules)
import app
print("RESULT " + json.dumps({"before": sorted(before), "import": sorted(set(sys.modules) - before)}))
'''


def _run(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _top(modules: list[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_a_cold_search_answers_without_pydantic():
    seen = _run(_SEARCH)
    assert seen["status"] == 200, seen["body"]
    assert [r["title"] for r in seen["body"]["results"]] == ["Hotel 0", "Hotel 1"]
    assert "pydantic" not in _top(seen["before"])  # else the check below checks nothing
    loaded = _top(seen["import"]) | _top(seen["request"])
    assert not loaded & {"pydantic", "pydantic_core", "annotated_types"}


def test_a_cold_hold_answers_without_pydantic():
    seen = _run(_HOLD, "{}")
    assert seen["status"] == 201, seen["body"]
    assert seen["body"]["status"] == "HELD"
    assert "pydantic" not in _top(seen["before"])  # else the check below checks nothing
    assert not _top(seen["request"]) & {"pydantic", "pydantic_core", "annotated_types"}


def test_a_cold_hold_the_plain_reader_does_not_take_goes_to_the_model():
    seen = _run(_HOLD, json.dumps({"contact": {"email": " cold@example.com", "name": "Cold"}}))
    assert seen["status"] == 201, seen["body"]
    assert seen["body"]["contact"]["email"] == "cold@example.com"
    assert "pydantic" in _top(seen["request"])


def test_importing_the_app_loads_no_storage_validation_or_token_library():
    seen = _run(_IMPORT)
    assert not _top(seen["before"]) & {"chalicelib", "pydantic", "pynamodb", "botocore"}
    assert not _top(seen["import"]) & {"pydantic", "pynamodb", "boto3", "jwt", "cryptography", "stripe",
                                       "requests"}
    assert "botocore.client" not in seen["import"]  # Powertools imports botocore itself, for its version
