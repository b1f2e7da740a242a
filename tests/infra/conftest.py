"""Synthesized stacks, built once per session in child processes (Chalice imports app.py).

`synthesized` is the real project's prod stack (chalice package downloads the Lambda wheels
from the package index). `sqs_project` is a small Chalice project with SQS handlers on our
queues, synthesized by the same code: it shows what the post-processing does to the event
sources Chalice really generates, whether or not app.py has SQS handlers yet.
"""
from __future__ import annotations

import pytest

from infra.synth import SynthError, run_synth

from .stacks import SQS_APP, STAGE, Synthesized, child_env, index_reachable, load, make_project


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory) -> Synthesized:
    out = tmp_path_factory.mktemp("synth") / STAGE
    try:
        summary = run_synth(STAGE, out, env=child_env())
    except SynthError:
        reachable, detail = index_reachable()
        if not reachable:
            pytest.skip("chalice package cannot download the Lambda-compatible wheels of "
                        f"requirements.txt: the package index is unreachable ({detail})")
        raise
    return load(out, summary)


@pytest.fixture(scope="session")
def sqs_project(tmp_path_factory) -> Synthesized:
    project = make_project(tmp_path_factory.mktemp("sqs-project"), SQS_APP)
    out = tmp_path_factory.mktemp("sqs-synth") / STAGE
    summary = run_synth(STAGE, out, project_dir=project, env=child_env())
    return load(out, summary)
