"""Fuzz the BFCL env with random calls to the real classes: no uncaught exception, verdicts always produced."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("bfcl_eval", reason="needs bfcl-eval: scripts/install_bfcl_env.sh .venv-bfcl")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cm2_env.benchmarks.bfcl.env import BFCLMultiTurnEnv, bfcl_tasks  # noqa: E402

# one task per involved-class combination seen in the first tasks (covers all eight classes)
_TASKS: dict[tuple, str] = {}
for _t in bfcl_tasks("base") + bfcl_tasks("miss_func")[:40]:
    _TASKS.setdefault(tuple(_t.metadata["bfcl"]["involved_classes"]), _t.id)
TASK_IDS = sorted(_TASKS.values())[:12]
ENV = BFCLMultiTurnEnv("base", tasks=[t for t in bfcl_tasks("base") + bfcl_tasks("miss_func") if t.id in TASK_IDS],
                       max_steps_per_turn=6)
NAMES = sorted({n for t in ENV.tasks for n in t.tool_names})
PROPS = sorted({p for t in ENV.tasks for tool in t.tools for p in tool["function"]["parameters"]["properties"]})

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(), st.floats(allow_nan=True),
                      st.text(max_size=12), st.sampled_from(["..", "/", "temp", "document", "", "card_1496"]))
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                          max_leaves=8)
args = st.dictionaries(st.sampled_from(PROPS) | st.text(max_size=6), json_value, max_size=4)
call = st.builds(lambda n, a: {"id": "x", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}},
                 st.sampled_from(NAMES) | st.text(max_size=8), args)
action = st.one_of(
    st.builds(lambda cs: {"content": "", "tool_calls": cs}, st.lists(call, min_size=1, max_size=3)),
    st.just({"content": "done"}),
    st.text(max_size=40),
    st.builds(lambda n, a: f'<tool_call>{{"name": "{n}", "arguments": {a}</tool_call>', st.sampled_from(NAMES), st.text(max_size=20)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(task_id=st.sampled_from(TASK_IDS), actions=st.lists(action, min_size=1, max_size=25))
def test_random_actions_never_crash_and_always_get_an_official_verdict(task_id, actions):
    async def go():
        obs, info = await ENV.areset(seed=0, options={"task_id": task_id})
        for a in actions:
            obs, reward, terminated, truncated, info = await ENV.astep(a)
            if terminated or truncated:
                return info
        # finish the episode with final replies so the evaluators run
        for _ in range(len(ENV.task.turns) + 1):
            obs, reward, terminated, truncated, info = await ENV.astep({"content": "done"})
            if terminated or truncated:
                return info
        raise AssertionError("episode did not end")

    info = asyncio.run(go())
    official = info["evaluations"]["bfcl"]
    assert isinstance(official.get("valid"), bool), official
    assert not official.get("checker_error"), official
    assert info["counts"]["error"] == 0, info["verdicts"]
