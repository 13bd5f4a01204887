"""Fuzzing `step` with random and malformed actions: never an uncaught exception, observations always valid."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cm2_env
from cm2_env.parsing import PARSERS, parse_action
from cm2_env.records import ERROR_KINDS

ENV = cm2_env.make("cm2/ToolTask-v0", max_steps_per_turn=4)
TOOL_NAMES = sorted({n for t in ENV.tasks for n in t.tool_names})

json_scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True)
                | st.text(max_size=20) | st.text(st.characters(codec=None, categories=["Cs", "Cc"]), max_size=4))
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


# ------------------------------------------------------------------ hostile inputs, every registered parser


def _circular_dict_action() -> dict:
    args: dict = {"city": "Paris"}
    args["self"] = args
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": TOOL_NAMES[0], "arguments": args}}]}


def _circular_content() -> dict:
    content: list = ["x"]
    content.append(content)
    return {"role": "assistant", "content": content}


def _deep_list(n: int) -> list:
    out: list = []
    for _ in range(n):
        out = [out]
    return out


def _call(args_text: str) -> str:
    return f'<tool_call>{{"name": "{TOOL_NAMES[0]}", "arguments": {args_text}}}</tool_call>'


HOSTILE = {
    "deep_json_1000": _call("[" * 1000 + "]" * 1000),
    "deep_json_unclosed_100k": _call("[" * 100_000),
    "deep_object_1000": _call('{"a": ' * 1000 + "1" + "}" * 1000),
    "deep_dict_action": {"role": "assistant", "content": "", "tool_calls": [
        {"id": "d1", "function": {"name": TOOL_NAMES[0], "arguments": {"a": _deep_list(5000)}}}]},
    "deep_content": {"role": "assistant", "content": _deep_list(5000)},
    "deep_list_action": _deep_list(5000),
    "circular_arguments": _circular_dict_action(),
    "circular_content": _circular_content(),
    "huge_text": "x" * 2_000_000,
    "huge_call": _call('{"q": "' + "y" * 1_000_000 + '"}'),
    "many_calls": "".join(_call("{}") for _ in range(2000)),
    "lone_surrogates": "reply \ud800 with \udfff surrogates " + _call('{"q": "\ud83d"}'),
    "surrogate_escape_json": _call('{"q": "\\ud800"}'),
    "nul_and_controls": "a\x00b\x1b[31m" + _call('{"q": "\x00"}'),
    "unterminated_everything": "<think><tool_call>{\"name\": \"" + "\\" * 1001,
}


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_actions_are_data_in_every_parser(parser, case):
    env = cm2_env.make("cm2/ToolTask-v0", parser=parser, max_steps_per_turn=4)
    obs, _ = env.reset(seed=0)
    t0 = time.perf_counter()
    obs, reward, terminated, truncated, info = env.step(HOSTILE[case])
    assert time.perf_counter() - t0 < 10
    assert env.observation_space.contains(obs) and isinstance(reward, float)
    kinds = {e["type"] for e in info["errors"]}
    assert kinds <= ERROR_KINDS
    if case.startswith(("deep_json", "deep_object", "deep_dict", "circular_arg")):
        assert "malformed_tool_call" in kinds and info["tool_results"][0]["error"] == "malformed_tool_call"
    json.dumps(info, default=str)  # info is loggable
    # the episode goes on: a plain reply ends the turn normally
    obs, reward, terminated, truncated, info = env.step("ok")
    assert env.observation_space.contains(obs)
    env.close()
