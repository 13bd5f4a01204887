"""Property: whatever document comes in, the loader answers with located errors or tasks that run.

Documents are generated from valid ones (a native task file, the project's CM2 sample) by random mutations —
wrong types, deleted fields, huge and deep values, bad weights, bad ``$ref``s, bad regexes, bad dependence and
cycles, odd Unicode with lone surrogates — and some are random JSON outright. For each:

* ``validate_document`` returns a list of :class:`TaskError` (never raises, never an internal error);
* ``parse_tasks`` and ``load_tasks``/``validate_file`` (through a temporary file, sometimes written as invalid
  UTF-8) raise nothing but :class:`TaskFileError`, and agree with ``validate_document``;
* a document that validates runs whole episodes in ``cm2/ToolTask-v0`` (offline backends) driven by the
  perturbed agent until terminated/truncated, without an uncaught exception.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cm2_env
from agents.perturbed import PerturbedAgent
from cm2_env.tasks import TaskError, TaskFileError, load_tasks, parse_tasks, validate_document, validate_file

from test_loader import make_task

SAMPLE = Path(__file__).resolve().parent / "data" / "cm2_sample.json"
CM2_RECORDS = json.loads(SAMPLE.read_text(encoding="utf-8"))
MAX_EPISODE_STEPS = 80

# ----------------------------------------------------------------------------------------------- values

ODD_STRINGS = ["\ud800", "a\udc00b", "\udfff\ud800", "\x00", "\u202e rtl", "\ufeffbom", "e\u0301", "𝔘𝔫𝔦🙂",
               "\n\t\r", "", " ", "C0", "C1", "*", "get_balance", "<tool_call>", "</think>", "{\"a\": 1}"]
odd_text = st.sampled_from(ODD_STRINGS) | st.text(max_size=12) | st.builds(
    lambda a, s, b: a + s + b, st.text(max_size=4), st.sampled_from(ODD_STRINGS), st.text(max_size=4))
scalars = (st.none() | st.booleans() | st.integers(-10, 10) | st.sampled_from([10**400, -(10**30), 2**63])
           | st.floats(allow_nan=True, allow_infinity=True) | odd_text)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(odd_text, c, max_size=3),
                           max_leaves=8)
WEIGHTS = [float("inf"), float("-inf"), float("nan"), 1e308, 1e308, 1.7e308, 10**400, -0.0, 0, 1, 0.5, "0.5", True, None, -1]
REGEXES = ["(", "[z-a]", "a{2,1}", "(?P<x>", "\\", "*", "\\d+", "(a+)+$", ".*", "(?i)acc\\d", "\\p{L}+"]
REFS = [{"$ref": "#/nowhere"}, {"$ref": "#"}, {"$ref": "#/properties"}, {"$ref": "#/required"},
        {"$ref": "https://example.com/x.json"}, {"$ref": "#/$defs/a"}, {"$ref": 5},
        {"allOf": [{"$ref": "#"}]}, {"items": {"$ref": "#"}}, {"$ref": "#/properties/account"}]
REVEALS = [["get_balance"], None, "x", {"get_balance": "x"}, {"get_balance": -1}, {"get_balance": 1.5},
           {"get_balance": True}, {"nope": 1}, {"get_balance": 1}, {"get_balance": 0}, {"get_balance": 99}, {}]


def deep_value(depth: int, as_dict: bool) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value} if as_dict else [value]
    return value


# ----------------------------------------------------------------------------------------------- paths


def walk(doc: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    out = [(path, doc)]
    stack = [(doc, path)]
    while stack:
        value, p = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            out.append(((*p, k), v))
            if len(p) < 12:
                stack.append((v, (*p, k)))
    return out


def get_at(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def set_at(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    get_at(doc, path[:-1])[path[-1]] = value
    return doc


def delete_at(doc: Any, path: tuple) -> Any:
    if path:
        del get_at(doc, path[:-1])[path[-1]]
    return doc


def items_of(doc: Any) -> list[tuple[tuple, dict]]:
    """Checklist items (native turns, variants, CM2 checklists): dicts with a question and a weight."""
    return [(p, v) for p, v in walk(doc) if isinstance(v, dict) and "question" in v and "weight" in v]


def tools_of(doc: Any) -> list[tuple[tuple, dict]]:
    return [(p, v) for p, v in walk(doc) if isinstance(v, dict) and isinstance(v.get("function"), dict)
            and len(p) >= 2 and p[-2] == "tools"]


# ----------------------------------------------------------------------------------------------- mutations


@st.composite
def mutate(draw, doc: Any) -> Any:
    op = draw(st.sampled_from(["leaf", "delete", "weight", "dependence", "cycle", "regex", "check", "ref",
                               "reveal", "unicode", "deep", "huge", "duplicate", "args", "benign"]))
    nodes = walk(doc)
    if op == "leaf":
        path, _ = draw(st.sampled_from(nodes))
        return set_at(doc, path, draw(json_values))
    if op == "delete":
        path, _ = draw(st.sampled_from(nodes))
        return delete_at(doc, path)
    if op == "unicode":
        strings = [p for p, v in nodes if isinstance(v, str)] or [()]
        return set_at(doc, draw(st.sampled_from(strings)), draw(odd_text))
    if op == "benign":  # keeps a valid document valid (mostly): other user text, other prose
        keys = ("user", "content", "question", "system_prompt", "pass_condition", "description")
        strings = [p for p, v in nodes if isinstance(v, str) and p and p[-1] in keys] or [()]
        return set_at(doc, draw(st.sampled_from(strings)), draw(st.text(max_size=30)))
    if op == "deep":
        path, _ = draw(st.sampled_from(nodes))
        depth = draw(st.sampled_from([5, 40, 95, 99, 100, 101, 150, 300]))
        return set_at(doc, path, deep_value(depth, draw(st.booleans())))
    if op == "huge":
        strings = [p for p, v in nodes if isinstance(v, str)] or [()]
        big = draw(st.sampled_from(["x" * 100_000, "(" * 5000, "\ud800" * 1000]))
        return set_at(doc, draw(st.sampled_from(strings)), big)
    if op == "duplicate":
        lists = [(p, v) for p, v in nodes if isinstance(v, list) and v]
        if lists:
            path, value = draw(st.sampled_from(lists))
            value.append(copy.deepcopy(draw(st.sampled_from(value))))
        return doc
    if op == "args":
        calls = [(p, v) for p, v in nodes if isinstance(v, dict) and "arguments" in v]
        if calls:
            path, fn = draw(st.sampled_from(calls))
            fn["arguments"] = draw(st.sampled_from(["", "{}", "[1]", "{", "null", '{"account": "ACC2"}',
                                                    '{"account": 5}', '{"title": "x", "extra": [1, 2]}']))
        return doc
    items = items_of(doc)
    if op in ("weight", "dependence", "cycle", "regex", "check") and not items:
        return doc
    if op == "weight":
        _, item = draw(st.sampled_from(items))
        item["weight"] = draw(st.sampled_from(WEIGHTS))
        return doc
    if op in ("dependence", "cycle"):
        path, item = draw(st.sampled_from(items))
        siblings = [v for p, v in items if p[:-1] == path[:-1]]
        ids = [s.get("id") for s in siblings] + ["C9", 5, None]
        if op == "dependence":
            item["dependence"] = draw(st.lists(st.sampled_from(ids), max_size=3))
        else:
            ring = draw(st.lists(st.sampled_from(siblings), min_size=1, max_size=3, unique_by=id))
            for a, b in zip(ring, ring[1:] + ring[:1]):
                a["dependence"] = [b.get("id")]
        return doc
    if op == "regex":
        _, item = draw(st.sampled_from(items))
        pattern = draw(st.sampled_from(REGEXES))
        item["check"] = draw(st.sampled_from([
            {"type": "reply_matches", "regex": pattern},
            {"type": "tool_result_matches", "regex": pattern, "none": ["error"]},
            {"type": "tool_called", "name": "get_balance", "args": {"account": {"regex": pattern}}},
        ]))
        return doc
    if op == "check":  # a valid-looking check on one of the document's tools (or on an unknown one)
        _, item = draw(st.sampled_from(items))
        names = [t["function"].get("name") for _, t in tools_of(doc)] + ["nope", "*"]
        name = draw(st.sampled_from(names))
        item["check"] = draw(st.sampled_from([
            {"type": "tool_called", "name": name},
            {"type": "tool_called", "name": name, "args": {"account": {"equals": "ACC1"}}, "min_count": 2},
            {"type": "tool_not_called", "name": name},
            {"type": "reply_matches", "any": ["100", "Yes"], "final_only": True},
            {"type": "tool_result_matches", "name": name, "all": ["a"]},
            {"type": "tool_called", "name": name, "args": {"x": {"approx": 1e999}}, "after": [name]},
        ]))
        return doc
    if op == "ref":
        tools = tools_of(doc)
        if tools:
            _, tool = draw(st.sampled_from(tools))
            params = tool["function"].setdefault("parameters", {"type": "object"})
            ref = copy.deepcopy(draw(st.sampled_from(REFS)))
            if isinstance(params, dict) and draw(st.booleans()):
                params.setdefault("properties", {})["account"] = ref
            else:
                tool["function"]["parameters"] = ref
        return doc
    if op == "reveal":
        owners = [(p, v) for p, v in walk(doc) if isinstance(v, dict) and ("metadata" in v or "uuid" in v)]
        if owners:
            _, owner = draw(st.sampled_from(owners))
            meta = owner.setdefault("metadata", {}) if "metadata" in owner else owner  # CM2: a top-level extra
            if isinstance(meta, dict):
                meta["tools_available_from_turn"] = copy.deepcopy(draw(st.sampled_from(REVEALS)))
        return doc
    raise AssertionError(op)


@st.composite
def documents(draw) -> Any:
    kind = draw(st.sampled_from(["native", "native", "bare", "cm2", "cm2", "cm2-one", "random"]))
    if kind == "random":
        return draw(json_values)
    if kind == "native":
        doc: Any = {"version": 1, "tasks": [make_task("a"), make_task("b")][: draw(st.integers(1, 2))]}
    elif kind == "bare":
        doc = [make_task("a")]
    elif kind == "cm2":
        doc = copy.deepcopy(CM2_RECORDS)
    else:
        doc = copy.deepcopy(draw(st.sampled_from(CM2_RECORDS)))
    for _ in range(draw(st.integers(0, 3))):
        doc = draw(mutate(doc))
    return doc


# ----------------------------------------------------------------------------------------------- the property


def _check_errors(errors: Any, file: str) -> None:
    assert isinstance(errors, list)
    for e in errors:
        assert isinstance(e, TaskError) and e.file == file
        assert isinstance(e.path, str) and e.path.startswith("$") and isinstance(e.message, str) and e.message
        assert e.task_id is None or isinstance(e.task_id, str)
        assert "internal error" not in e.message, str(e)


def _run_episodes(tasks, seed: int) -> None:
    env = cm2_env.make("cm2/ToolTask-v0", tasks=tasks, max_steps_per_turn=8)
    agent = PerturbedAgent(fault_rate=0.5, seed=seed)
    try:
        for task in tasks[:2]:
            obs, info = env.reset(seed=seed, options={"task_id": task.id})
            agent.reset(task, seed)
            done = False
            for _ in range(MAX_EPISODE_STEPS):
                obs, reward, terminated, truncated, info = env.step(asyncio.run(agent.act(obs, info)))
                assert math.isfinite(reward)
                if terminated or truncated:
                    done = True
                    break
            assert done, f"episode of {task.id!r} did not end in {MAX_EPISODE_STEPS} steps"
    finally:
        env.close()


def _write(doc: Any, folder: Path, raw_utf8: bool) -> Path | None:
    try:
        text = json.dumps(doc, ensure_ascii=not raw_utf8)
    except (ValueError, TypeError, RecursionError):
        return None
    f = folder / "tasks.json"
    f.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates, written raw, are invalid UTF-8
    return f


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=documents(), seed=st.integers(0, 2**16), raw_utf8=st.booleans())
def test_loader_answers_with_located_errors_or_tasks_that_run(doc, seed, raw_utf8):
    original = copy.deepcopy(doc)
    errors = validate_document(doc)
    _check_errors(errors, "<memory>")
    assert doc == original or doc != doc, "validation must not mutate its input"  # (NaN is never equal)

    try:
        tasks = parse_tasks(doc)
    except TaskFileError as e:
        assert errors, "parse_tasks refused a document validate_document accepted"
        _check_errors(e.errors, "<memory>")
        tasks = None
    else:
        assert not errors

    with tempfile.TemporaryDirectory() as tmp:
        f = _write(doc, Path(tmp), raw_utf8)
        if f is not None:
            file_errors = validate_file(f)
            _check_errors(file_errors, str(f))
            try:
                loaded = load_tasks(f)
            except TaskFileError as e:
                assert file_errors
                _check_errors(e.errors, str(f))
            else:
                assert not file_errors
                assert [t.id for t in loaded] == [t.id for t in tasks or []]
            if not raw_utf8:  # the file holds the same document (lone surrogates escaped): the same answer
                assert [(e.path, e.message) for e in file_errors] == [(e.path, e.message) for e in errors]

    if tasks:
        _run_episodes(tasks, seed)
