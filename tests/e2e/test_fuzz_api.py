"""API fuzzing in `make test`: Schemathesis against a stack of its own, as every caller
(anonymous, traveler, vendor, agent, admin), all phases (examples, coverage, fuzzing, stateful
along the hold -> payment -> cancel links) and all checks, with a fixed seed and a small budget.
`make fuzz` runs the same longer (tools/fuzz.py). A failure prints Schemathesis's report: the
seed, each failing request and the curl that reproduces it."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import start_stack, stop_stack
from tools.fuzz import FUZZ_ENV, SEED, fuzz

MAX_EXAMPLES = 3  # per operation and phase: the whole file stays within ~2-3 minutes on 2 cores


@pytest.fixture(scope="module")
def fuzz_stack():
    stack = start_stack(FUZZ_ENV)  # seeded: the demo catalog gives search and listings real data
    yield stack
    stop_stack(stack)


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_failure_as_any_caller(fuzz_stack):
    result = fuzz(fuzz_stack.api_url, max_examples=MAX_EXAMPLES, seed=SEED, together=True)
    print(result.table())
    assert result.ok, "Schemathesis found failures (replay: python -m tools.fuzz --together --seed %d):\n%s" % (
        SEED, result.report())
