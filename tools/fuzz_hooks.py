"""Schemathesis hooks for `make fuzz` and tests/e2e/test_fuzz_api.py (loaded through
SCHEMATHESIS_HOOKS=tools.fuzz_hooks by tools.fuzz).

A random `POST /holds` body never names a listing and a date that are on sale, so without help
the stateful phase would never get a 201 and never follow the hold -> payment -> cancel links.
In the stateful phase only, a positive `POST /holds` case is pointed at the listing and date that
tools.fuzz prepared (ITINERA_FUZZ_HOLD_TARGET = {"listing_id", "date"}); the coverage and
fuzzing phases keep their generated bodies untouched.
"""
from __future__ import annotations

import json
import os
from typing import Any

import schemathesis

TARGET_VARIABLE = "ITINERA_FUZZ_HOLD_TARGET"


def _target() -> dict[str, Any] | None:
    raw = os.environ.get(TARGET_VARIABLE)
    return json.loads(raw) if raw else None


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    target = _target()
    if target is None or case.operation.label != "POST /holds":
        return
    meta = getattr(case, "meta", None)
    if meta is None or str(meta.phase.name) != "stateful" or str(meta.generation.mode) != "positive":
        return
    quantity = 1
    body = case.body if isinstance(case.body, dict) else {}
    items = body.get("items") if isinstance(body.get("items"), list) else []
    if items and isinstance(items[0], dict) and isinstance(items[0].get("quantity"), int):
        quantity = min(max(items[0]["quantity"], 1), 3)
    case.body = {"items": [{"listing_id": target["listing_id"], "quantity": quantity, "date": target["date"]}],
                 "contact": {"email": "fuzz@example.com", "name": "Fuzz"}}
