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
def _mangle(text: str, how: int) -> str:
    """Valid JSON, or the kind of breakage the env's parser repairs (or rejects)."""
    return [text, text[:-1], text[:-1] + ",}", text.replace('"', "'", 1), "```json\n" + text + "\n```"][how]


call = st.builds(
    lambda i, n, a, how: {"id": i, "type": "function", "function": {"name": n, "arguments": _mangle(json.dumps(a), how)}},
    st.sampled_from(["x", "y", "call_0"]), st.sampled_from(NAMES) | st.text(max_size=8), args, st.integers(0, 4))
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for t in ENV.tasks for tool in t.tools}
WORDS = st.sampled_from(["..", "temp", "document", "final_report.pdf", "card_1496", "USD", "GBP", "AAPL", "LAX",
                         "JFK", "driver", "START", "alex", "#tag", "@user", "economy", "2024-11-15", "x"])


def value_for(schema: dict) -> st.SearchStrategy:
    t = schema.get("type")
    t = t[0] if isinstance(t, list) else t
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if t == "string":
        return WORDS | st.text(max_size=10)
    if t == "integer":
        return st.integers(-5, 50) | st.integers(-10**9, schema.get("maximum", 10**9))
    if t == "number":
        return st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-100, 100)
    if t == "boolean":
        return st.booleans()
    if t == "array":
        return st.lists(value_for(schema.get("items") or {"type": "string"}), max_size=4)
    if t == "object":
        props = schema.get("properties") or {}
        if props:
            return st.fixed_dictionaries({}, optional={k: value_for(v) for k, v in props.items()})
        return st.dictionaries(st.text(max_size=5), json_value, max_size=3)
    return json_value


@st.composite
def valid_call(draw, names):
    name = draw(st.sampled_from(names))
    props = SCHEMAS[name].get("properties") or {}
    required = set(SCHEMAS[name].get("required") or []) if draw(st.integers(0, 4)) else set()
    args = draw(st.fixed_dictionaries({k: value_for(v) for k, v in props.items() if k in required},
                                      optional={k: value_for(v) for k, v in props.items() if k not in required}))
    return {"id": draw(st.sampled_from(["x", "call_0", "y"])), "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}


def actions_for(task_id: str) -> st.SearchStrategy:
    names = ENV._by_id[task_id].tool_names
    valid_step = st.builds(lambda cs: {"content": "", "tool_calls": cs}, st.lists(valid_call(names), min_size=1, max_size=3))
    action = st.one_of(
        valid_step, valid_step, valid_step, valid_step,
        st.builds(lambda cs: {"content": "", "tool_calls": cs}, st.lists(call, min_size=1, max_size=3)),
        st.just({"content": "done"}),
        st.text(max_size=40),
        st.builds(lambda n, a: f'<tool_call>{{"name": "{n}", "arguments": {a}</tool_call>', st.sampled_from(names),
                  st.text(max_size=20)),
    )
    return st.lists(action, min_size=4, max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_actions_never_crash_and_always_get_an_official_verdict(data):
    task_id = data.draw(st.sampled_from(TASK_IDS))
    actions = data.draw(actions_for(task_id))

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
    # the judge's re-derivation of the executed calls (no session) equals the session's own record
    from cm2_env.benchmarks.bfcl.episode import executed_calls

    derived = [c for t in executed_calls(ENV.task, ENV.messages) for s in t for c in s]
    record = [(c.name, c.arguments) for c in ENV._ep.tool_session.executed]
    assert derived == record
    official = info["evaluations"]["bfcl"]
    assert isinstance(official.get("valid"), bool), official
    assert not official.get("checker_error"), official
    assert info["counts"]["error"] == 0, info["verdicts"]
