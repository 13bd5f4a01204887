"""Fixtures of the viewer tests: real starter-suite runs (reference and perturbed), made once per session."""

from __future__ import annotations

import pytest

from viewer_helpers import find_chromium, make_run


@pytest.fixture(scope="session")
def starter_runs(tmp_path_factory):
    """``(reference.jsonl, perturbed.jsonl)``: the whole starter suite through `cm2 run`."""
    d = tmp_path_factory.mktemp("viewer_runs")
    return (make_run(d / "reference.jsonl", "reference"),
            make_run(d / "perturbed.jsonl", "perturbed", "--agent-arg", "fault_rate=0.5"))


@pytest.fixture(scope="session")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("no chromium (CI installs Debian's package in .ci/run)")
    return path
