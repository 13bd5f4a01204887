"""Attach programmatic checks to labelled items that need no LLM judge (``cm2 data derive-checks``).

    cm2 data derive-checks labelled.jsonl --out labelled_checked.jsonl

No LLM. An item gets a check only when its text pins the whole condition, so that the check decides what the
item asks — no more, no less — and the check is then **verified on the reference trajectory with the runtime
rule engine** (:func:`cm2_env.judge.rule.decide`): a check that would not pass the reference is never attached.
Conservative by construction; today one shape is derived:

- ``focus_on: assistant.tool_calls`` whose pass condition names exactly one of the record's tools and gives,
  for every parameter of that tool it mentions, one literal value (``arguments.city == "Paris"``,
  ``units="metric"``, ``days: 3``) → ``tool_called`` with ``equals`` constraints (other arguments free).
  Conditions with any hedge or structure a single call constraint cannot express — tolerance ("similar",
  "approximately", "e.g."), alternatives ("or", "any"), negation, order ("before", "after"), counts ("at
  least", "twice"), several tools, a parameter mentioned without a value, "arguments"/"parameters" spoken of
  without naming one — are left to the judge.

Items that already carry a check are kept as they are. Records are never dropped; each kept record gets
``meta.derive_checks`` ({items, covered}). The report gives the fraction of items covered (all variants) and
the judge calls saved per episode on the active variant (0): per-item judging saves one call per covered item;
batched judging saves one call per turn whose items are all covered.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from ..judge.checks import CheckContext
from ..judge.rule import decide
from ..tasks.cm2_format import cm2_task_dict
from ..tasks.models import ChecklistItem, Task
from .io import StageOutput, iter_records
from .stage import StageOptions, StageSpec

HEDGES = re.compile(
    r"\b(similar|approximate(ly)?|approx|roughly|about|around|equivalent|tolerance|toleran\w*|close|case[- ]"
    r"insensitive|variants?|variations?|synonyms?|e\.g|such as|like|or|any|either|at least|at most|more than|"
    r"less than|before|after|then|first|second|not|no|without|never|none|only|each|every|all|both|multiple|"
    r"twice|times|order|sequence|includ\w*|contain\w*|mention\w*|valid|correct|appropriate|reasonable|"
    r"plausible|relevant|suitable|corresponding|derived|inferred|format\w*)\b",
    re.I,
)
_VALUE = r'("(?:[^"\\]|\\.)*"|\'[^\']*\'|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b|true\b|false\b|null\b)'
_ARG_WORDS = re.compile(r"\b(argument|arguments|parameter|parameters|param|params)\b(?!\.\w)", re.I)
"""Arguments spoken of (not ``arguments.NAME``, which names one)."""


class Options(StageOptions):
    pass


def _word(name: str) -> re.Pattern:
    return re.compile(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])")


def _tool_schemas(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for t in tools or []:
        fn = t.get("function", t) if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
            out[fn["name"]] = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    return out


def _literal(text: str) -> Any:
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1]
    return json.loads(text)


def _coerced(value: Any, schema: dict[str, Any]) -> list[Any]:
    """The value, and the value in the parameter's JSON type when the text spelled it as another."""
    out = [value]
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(value, str) and t in ("integer", "number"):
        try:
            out.append(int(value) if t == "integer" else float(value))
        except ValueError:
            pass
    if isinstance(value, (int, float)) and not isinstance(value, bool) and t == "string":
        out.append(str(value))
    return out


def derive_item(item: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """Candidate checks for one item (most literal first), or ([], why none)."""
    if item.get("focus_on") != "assistant.tool_calls":
        return [], "not_tool_calls"
    cond = str(item.get("pass_condition") or "")
    text = cond
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', '""', cond)  # hedge words inside quoted values do not count
    if HEDGES.search(unquoted):
        return [], "hedged"
    names = [n for n in schemas if _word(n).search(text)]
    if len(names) != 1:
        return [], "no_tool_name" if not names else "several_tools"
    name = names[0]
    props = schemas[name]
    mentioned = [p for p in props if _word(p).search(re.sub(re.escape(name), " ", cond))]
    if not mentioned and _ARG_WORDS.search(cond):
        return [], "unpinned_argument"
    options: list[dict[str, Any]] = [{}]
    for p in mentioned:
        m = re.search(r"(?<![A-Za-z0-9_])(?:arguments\.)?" + re.escape(p) + r"\s*(?:==|=|:|equals|is|set to)\s*"
                      + _VALUE, cond)
        if not m:
            return [], "unpinned_argument"
        try:
            value = _literal(m.group(1))
        except ValueError:
            return [], "unpinned_argument"
        options = [{**o, p: v} for o in options for v in _coerced(value, props.get(p) or {})]
    checks = [{"type": "tool_called", "name": name, "args": {k: {"equals": v} for k, v in o.items()}}
              for o in options]
    return checks, "derived"


def passes_reference(task: Task, turn: int, item: dict[str, Any], check: dict[str, Any]) -> bool:
    """Whether the check passes the reference's own turn (the rule engine, as at run time)."""
    turns = task.reference_turns()
    if turn >= len(turns):
        return False
    history = [m for t in turns[:turn] for m in t]
    if task.system_prompt:
        history = [{"role": "system", "content": task.system_prompt}, *history]
    it = ChecklistItem.model_validate({**{k: v for k, v in item.items() if k != "check"}, "check": check})
    ctx = CheckContext(task=task, turn=turn, turn_messages=turns[turn], history=history)
    return decide(it, ctx).status == "passed"


def derive_record(record: dict[str, Any]) -> tuple[dict[str, Any], Counter, dict[str, float]]:
    """(the record with checks attached, why items were or were not covered, per-episode savings)."""
    why: Counter = Counter()
    saved = {"per_item": 0.0, "batched": 0.0}
    variants = record.get("checklists")
    if not isinstance(variants, list) or not variants:
        why["record_unlabelled"] += 1
        return record, why, saved
    try:
        doc = cm2_task_dict({"id": record.get("id"), "messages": record.get("messages"),
                             "tools": record.get("tools"), "checklists": variants})
        task = Task.model_validate(doc)
    except Exception as exc:  # noqa: BLE001 - a record the env could not load gets no checks
        why["record_not_loadable"] += 1
        out = dict(record)
        out["meta"] = {**(record.get("meta") or {}),
                       "derive_checks": {"items": 0, "covered": 0, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}}
        return out, why, saved
    schemas = _tool_schemas(record.get("tools") or [])
    new_variants = []
    n_items = n_cov = 0
    for v, variant in enumerate(variants):
        new_turns = []
        for t, items in enumerate(variant):
            new_items = []
            covered_turn = 0
            for item in items:
                item = dict(item)
                n_items += 1
                if item.get("check") is not None:
                    why["existing_check"] += 1
                    covered_turn += 1
                    n_cov += 1
                    new_items.append(item)
                    continue
                checks, reason = derive_item(item, schemas)
                chosen = next((c for c in checks if passes_reference(task, t, item, c)), None)
                if checks and chosen is None:
                    reason = "fails_reference"
                if chosen is not None:
                    item["check"] = chosen
                    covered_turn += 1
                    n_cov += 1
                why[reason] += 1
                new_items.append(item)
            if v == 0:
                saved["per_item"] += covered_turn
                saved["batched"] += 1 if items and covered_turn == len(items) else 0
            new_turns.append(new_items)
        new_variants.append(new_turns)
    out = dict(record)
    out["checklists"] = new_variants
    out["meta"] = {**(record.get("meta") or {}), "derive_checks": {"items": n_items, "covered": n_cov}}
    return out, why, saved


def run_derive_checks(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    with StageOutput(out, "derive-checks", resume=resume, options=options.model_dump(mode="json"),
                     input=str(inp), options_changed="fresh") as so:
        why: Counter = Counter()
        saved = {"per_item": 0.0, "batched": 0.0}
        records = 0

        def add(rec: dict[str, Any], w: Counter, s: dict[str, float]) -> None:
            nonlocal records
            why.update(w)
            for k in saved:
                saved[k] += s[k]
            if not w["record_unlabelled"]:
                records += 1  # an episode: a labelled record

        if so.done and so.out.exists():  # an earlier run's records count in the report too
            from .io import iter_jsonl

            for row in iter_jsonl(so.out):
                if row.value is not None:
                    _, w, s = _recount(row.value)
                    add(row.value, w, s)
        for _, rec in iter_records(inp, so):
            new, w, s = derive_record(rec)
            so.keep(new)
            add(new, w, s)
        items = sum(why.values()) - why["record_unlabelled"] - why["record_not_loadable"]
        covered = why["derived"] + why["existing_check"]
        return so.finish(
            items=items,
            items_covered=covered,
            fraction_covered=round(covered / items, 4) if items else 0.0,
            judge_calls_saved_per_episode={k: round(v / records, 4) if records else 0.0 for k, v in saved.items()},
            outcomes=dict(sorted(why.items())),
        )


def _recount(record: dict[str, Any]) -> tuple[None, Counter, dict[str, float]]:
    """The report figures of a record an earlier run wrote (its checks are already attached)."""
    why: Counter = Counter()
    saved = {"per_item": 0.0, "batched": 0.0}
    variants = record.get("checklists")
    if not isinstance(variants, list) or not variants:
        why["record_unlabelled"] += 1
        return None, why, saved
    for v, variant in enumerate(variants):
        for items in variant if isinstance(variant, list) else []:
            cov = sum(1 for it in items if isinstance(it, dict) and it.get("check") is not None)
            why["derived"] += cov
            why["not_covered"] += len(items) - cov
            if v == 0:
                saved["per_item"] += cov
                saved["batched"] += 1 if items and cov == len(items) else 0
    return None, why, saved


STAGE = StageSpec("derive-checks", Options, run_derive_checks,
                  "attach programmatic checks where a labelled item needs no LLM judge (verified on the reference)")
add_parser, run = STAGE.cli()
