"""Fuzzing `step` with random and malformed actions: never an uncaught exception, observations always valid."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cm2_env
from cm2_env.parsing import parse_action

ENV = cm2_env.make("cm2/ToolTask-v0", max_steps_per_turn=4)
TOOL_NAMES = sorted({n for t in ENV.tasks for n in t.tool_names})

json_scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)
names = st.sampled_from(TOOL_NAMES) | st.text(max_size=12)


@st.composite
def jsonish(draw) -> str:
    """A tool-call body: valid JSON, then maybe mangled (truncated, braces/quotes/commas inserted)."""
    obj: object = {"name": draw(names), "arguments": draw(json_values)}
    if draw(st.booleans()):
        obj = draw(json_values)
    elif draw(st.booleans()):
        obj["arguments"] = json.dumps(obj["arguments"], allow_nan=True)  # arguments as a JSON string
    text = json.dumps(obj, allow_nan=True)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "fence", "delete"]))
        if op == "truncate" and text:
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "insert":
            pos = draw(st.integers(0, len(text)))
            text = text[:pos] + draw(st.sampled_from(list('{}[],:"\\') + ["```", "</tool_call>", "<think>"])) + text[pos:]
        elif op == "fence":
            text = f"```json\n{text}\n```"
        elif op == "delete" and text:
            pos = draw(st.integers(0, len(text) - 1))
            text = text[:pos] + text[pos + 1:]
    return text


@st.composite
def text_actions(draw) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "call", "think", "open"]))
        if kind == "text":
            parts.append(draw(st.text(max_size=40)))
        elif kind == "call":
            parts.append(f"<tool_call>{draw(jsonish())}</tool_call>")
        elif kind == "think":
            parts.append(f"<think>{draw(st.text(max_size=20))}<tool_call>{draw(jsonish())}</tool_call></think>")
        else:  # unclosed tags
            parts.append(draw(st.sampled_from(["<tool_call>", "<think>", "</think>", "</tool_call>"])) + draw(jsonish()))
    return draw(st.sampled_from(["", " ", "\n"])).join(parts)


@st.composite
def dict_actions(draw) -> dict:
    calls = draw(st.lists(
        st.fixed_dictionaries({}, optional={
            "id": st.text(max_size=6) | st.integers(),
            "type": st.just("function"),
            "function": st.fixed_dictionaries({}, optional={"name": names | st.integers(), "arguments": json_values | jsonish()}),
        }) | json_values,
        max_size=3,
    ))
    action: dict = {}
    if draw(st.booleans()):
        action["content"] = draw(st.text(max_size=30) | json_values)
    if draw(st.booleans()):
        action["tool_calls"] = calls if draw(st.booleans()) else draw(json_values)
    if draw(st.booleans()):
        action["role"] = draw(st.sampled_from(["assistant", "user", "tool", 5]))
    return action


actions = text_actions() | dict_actions() | json_values | st.binary(max_size=30) | st.sampled_from([None, 0, 1.5, [], ()])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), steps=st.lists(actions, min_size=1, max_size=6))
def test_step_never_raises_and_observations_stay_valid(seed, steps):
    obs, info = ENV.reset(seed=seed)
    assert ENV.observation_space.contains(obs)
    for action in steps:
        obs, reward, terminated, truncated, info = ENV.step(action)
        assert ENV.observation_space.contains(obs), obs[-3:]
        assert isinstance(reward, float) and 0.0 <= reward <= 1.0
        assert isinstance(info.get("errors"), list)
        json.dumps(info, default=str)  # info is loggable
        if terminated or truncated:
            assert "score" in info
            break


@settings(max_examples=200, deadline=None)
@given(action=actions)
def test_parser_never_raises(action):
    parsed = parse_action(action)
    msg = parsed.to_message()
    assert msg["role"] == "assistant" and isinstance(msg["content"], str)
    for call in parsed.tool_calls:
        assert isinstance(call.name, str)
        assert (call.arguments is None) == (call.parse_error is not None)
        assert call.arguments is None or isinstance(call.arguments, dict)
