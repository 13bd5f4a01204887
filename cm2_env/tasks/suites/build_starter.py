"""Build the bundled ``starter`` suite: ``python cm2_env/tasks/suites/build_starter.py``.

Every task below is written by hand for this project; this script only removes the boilerplate of the JSON
format: it numbers tool calls, pairs them with their tool messages, derives each checklist item's `evidence`
(a verbatim pointer into the reference), its default question / pass condition / failure examples, normalises
the weights of a turn to 1, and verifies the reference before writing anything:

- every call's arguments conform to the tool's JSON Schema (the env validates before replay);
- identical calls (same name and canonical arguments) in one reference have identical recorded results
  (the offline simulator replays by canonical arguments and memoises per episode);
- the reference passes every programmatic check of its own checklist.

Output: ``cm2_env/tasks/suites/starter/<domain>.json`` (one document per domain).
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

OUT_DIR = Path(__file__).with_name("starter")

# =========================================================================== tool schema helpers


def S(desc: str, **kw) -> dict:
    return {"type": "string", "description": desc, **kw}


def E(desc: str, values: list[str], **kw) -> dict:
    return {"type": "string", "enum": list(values), "description": desc, **kw}


def I(desc: str, **kw) -> dict:
    return {"type": "integer", "description": desc, **kw}


def N(desc: str, **kw) -> dict:
    return {"type": "number", "description": desc, **kw}


def B(desc: str, **kw) -> dict:
    return {"type": "boolean", "description": desc, **kw}


def A(desc: str, items: dict | None = None, **kw) -> dict:
    return {"type": "array", "items": items or {"type": "string"}, "description": desc, **kw}


DATE = r"^\d{4}-\d{2}-\d{2}$"
TIME = r"^\d{2}:\d{2}$"


def fn(name: str, desc: str, required: list[str] | tuple = (), /, **props: dict) -> dict:
    """An OpenAI function tool schema."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": desc,
            "parameters": {
                "type": "object",
                "properties": props,
                "required": list(required),
                "additionalProperties": False,
            },
        },
    }


# =========================================================================== reference steps


@dataclass
class Call:
    name: str
    args: dict
    result: dict


def call(name: str, args: dict, result: dict, text: str = "", think: str | None = None) -> dict:
    """One assistant message with a single call."""
    return {"calls": [Call(name, args, result)], "text": text, "think": think}


def par(*calls: tuple, text: str = "", think: str | None = None) -> dict:
    """One assistant message with several independent (parallel) calls: (name, args, result) tuples."""
    return {"calls": [Call(*c) for c in calls], "text": text, "think": think}


def say(text: str, think: str | None = None) -> dict:
    """The turn's final, user-visible reply."""
    return {"calls": [], "text": text, "think": think}


# =========================================================================== checklist items


@dataclass
class Item:
    check: dict | None
    weight: float
    question: str | None = None
    pass_condition: str | None = None
    focus: str | None = None
    req: bool = False
    dep: list[int] = field(default_factory=list)
    fail: list[str] | None = None
    ev: str | None = None  # evidence snippet for judge items (searched in the turn)


def eq(v):
    return {"equals": v}


def one_of(*vs):
    return {"one_of": list(vs)}


def rx(p: str):
    return {"regex": p}


def has(s: str):
    return {"contains": s}


def approx(v: float, tol: float = 0.01):
    return {"approx": v, "tol": tol}


def present(flag: bool = True):
    return {"present": flag}


def _constraint(v) -> dict:
    if isinstance(v, dict) and len(v) >= 1 and set(v) <= {"equals", "one_of", "regex", "contains", "approx", "tol", "present"}:
        return v
    return {"equals": v}


def TC(name: str, w: float = 1.0, /, *, req: bool = False, dep=(), after=(), exact=False, min_count=1,
       q: str | None = None, pc: str | None = None, fail=None, **args) -> Item:
    """tool_called item; keyword arguments are argument constraints (raw value = equals)."""
    check: dict[str, Any] = {"type": "tool_called", "name": name, "args": {k: _constraint(v) for k, v in args.items()}}
    if exact:
        check["match"] = "exact"
    if after:
        check["after"] = list(after)
    if min_count != 1:
        check["min_count"] = min_count
    return Item(check, w, q, pc, "assistant.tool_calls", req, list(dep), fail)


def TNC(name: str, w: float = 1.0, /, *, q: str | None = None, pc: str | None = None, dep=(), fail=None, **args) -> Item:
    check: dict[str, Any] = {"type": "tool_not_called", "name": name}
    if args:
        check["args"] = {k: _constraint(v) for k, v in args.items()}
    return Item(check, w, q, pc, "assistant.tool_calls", False, list(dep), fail)


def RM(w: float = 1.0, *, any=(), all=(), none=(), regex=None, final=True, q: str | None = None,
       pc: str | None = None, req=False, dep=(), fail=None) -> Item:
    check: dict[str, Any] = {"type": "reply_matches"}
    for k, v in (("any", any), ("all", all), ("none", none)):
        if v:
            check[k] = list(v)
    if regex:
        check["regex"] = regex
    if final:
        check["final_only"] = True
    return Item(check, w, q, pc, "assistant.content.user_visible_reply", req, list(dep), fail)


def TRM(name: str | None, w: float = 1.0, *, any=(), all=(), none=(), regex=None, q: str | None = None,
        pc: str | None = None, req=False, dep=(), fail=None) -> Item:
    check: dict[str, Any] = {"type": "tool_result_matches"}
    if name:
        check["name"] = name
    for k, v in (("any", any), ("all", all), ("none", none)):
        if v:
            check[k] = list(v)
    if regex:
        check["regex"] = regex
    return Item(check, w, q, pc, "tool.content", req, list(dep), fail)


def J(q: str, w: float = 1.0, *, pc: str, focus: str = "assistant.content.user_visible_reply", ev: str | None = None,
      dep=(), fail=None, req=False) -> Item:
    """An LLM-judged item (no programmatic check)."""
    return Item(None, w, q, pc, focus, req, list(dep), fail, ev)


# =========================================================================== check evaluation (offline)

THINK_RE = re.compile(r"<think>.*?</think>", re.S)


def strip_think(text: str | None) -> str:
    return THINK_RE.sub("", text or "").strip()


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _values_equal(a, b) -> bool:
    if _num(a) and _num(b):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _as_text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def constraint_ok(c: dict, args: dict, key: str) -> bool:
    if "present" in c:
        return (key in args) == bool(c["present"])
    if key not in args:
        return False
    v = args[key]
    if "equals" in c:
        return _values_equal(v, c["equals"])
    if "one_of" in c:
        return any(_values_equal(v, o) for o in c["one_of"])
    if "regex" in c:
        return re.fullmatch(c["regex"], _as_text(v)) is not None
    if "contains" in c:
        return c["contains"].lower() in _as_text(v).lower()
    if "approx" in c:
        return _num(v) and abs(float(v) - float(c["approx"])) <= float(c.get("tol", 1e-6))
    raise ValueError(f"unknown constraint {c}")


def _text_ok(check: dict, texts: list[str]) -> bool:
    cs = check.get("case_sensitive", False)
    norm = (lambda s: s) if cs else (lambda s: s.lower())
    blob = "\n".join(texts)
    nb = norm(blob)
    if check.get("any") and not any(norm(s) in nb for s in check["any"]):
        return False
    if check.get("all") and not all(norm(s) in nb for s in check["all"]):
        return False
    if check.get("none") and any(norm(s) in nb for s in check["none"]):
        return False
    if check.get("regex") and not re.search(check["regex"], blob, 0 if cs else re.I):
        return False
    return True


def turn_calls(msgs: list[dict]) -> list[tuple[int, dict, dict]]:
    """(step, call, parsed args) of every assistant call in a turn's messages."""
    out = []
    for step, m in enumerate(msgs):
        if m.get("role") == "assistant":
            for c in m.get("tool_calls") or []:
                out.append((step, c, json.loads(c["function"]["arguments"])))
    return out


def matching_calls(check: dict, msgs: list[dict]) -> list[tuple[int, dict, dict]]:
    calls = turn_calls(msgs)
    out = []
    for i, (step, c, args) in enumerate(calls):
        if c["function"]["name"] != check["name"]:
            continue
        cons = check.get("args", {})
        if not all(constraint_ok(v, args, k) for k, v in cons.items()):
            continue
        if check.get("match") == "exact" and not set(args) <= set(cons):
            continue
        earlier = {cc["function"]["name"] for _, cc, _ in calls[:i]}
        if not all(a in earlier for a in check.get("after", [])):
            continue
        out.append((step, c, args))
    return out


def check_passes(check: dict, msgs: list[dict]) -> bool:
    """Offline semantics of the four programmatic checks on one turn's messages."""
    t = check["type"]
    if t == "tool_called":
        return len(matching_calls(check, msgs)) >= check.get("min_count", 1)
    if t == "tool_not_called":
        for _, c, args in turn_calls(msgs):
            if check["name"] in ("*", c["function"]["name"]) and all(
                constraint_ok(v, args, k) for k, v in check.get("args", {}).items()
            ):
                return False
        return True
    if t == "reply_matches":
        replies = [m for m in msgs if m.get("role") == "assistant"]
        if check.get("final_only"):
            replies = [m for m in replies if not m.get("tool_calls")][-1:]
        return _text_ok(check, [strip_think(m.get("content")) for m in replies])
    if t == "tool_result_matches":
        ids = {c["id"]: c["function"]["name"] for _, c, _ in turn_calls(msgs)}
        texts = [m["content"] for m in msgs if m.get("role") == "tool"
                 and (check.get("name") is None or ids.get(m.get("tool_call_id")) == check["name"])]
        return bool(texts) and _text_ok(check, texts)
    raise ValueError(t)


# =========================================================================== task builder


def _fmt_cons(k: str, c: dict) -> str:
    if "equals" in c:
        return f"{k} = {json.dumps(c['equals'])}"
    if "one_of" in c:
        return f"{k} one of {json.dumps(c['one_of'])}"
    if "regex" in c:
        return f"{k} matching /{c['regex']}/"
    if "contains" in c:
        return f"{k} containing {json.dumps(c['contains'])}"
    if "approx" in c:
        return f"{k} ≈ {c['approx']} (±{c.get('tol', 1e-6)})"
    if "present" in c:
        return f"{k} {'present' if c['present'] else 'absent'}"
    return k


def _default_text(item: Item) -> tuple[str, str, list[str]]:
    c = item.check
    t = c["type"]
    if t == "tool_called":
        cons = [_fmt_cons(k, v) for k, v in c.get("args", {}).items()]
        with_ = f" with {', '.join(cons)}" if cons else ""
        q = f"Did the assistant call {c['name']}{with_}?"
        pc = f"An assistant tool call named {c['name']}" + (f" whose arguments have {', '.join(cons)}" if cons else "")
        if c.get("match") == "exact":
            pc += " and no other arguments"
        if c.get("after"):
            pc += f", made after calling {', '.join(c['after'])} in this turn"
        if c.get("min_count", 1) > 1:
            pc += f" (at least {c['min_count']} such calls)"
        fails = [f"No call to {c['name']}"]
        for k, v in list(c.get("args", {}).items())[:2]:
            fails.append(f"{c['name']} called with {k} not satisfying: {_fmt_cons(k, v)}")
        if c.get("after"):
            fails.append(f"{c['name']} called before {', '.join(c['after'])}")
        if len(fails) < 2:
            fails.append(f"Replies from memory or with invented data instead of calling {c['name']}")
        return q, pc + ".", fails
    if t == "tool_not_called":
        cons = [_fmt_cons(k, v) for k, v in c.get("args", {}).items()]
        with_ = f" with {', '.join(cons)}" if cons else ""
        return (f"Did the assistant avoid calling {c['name']}{with_}?",
                f"No assistant tool call named {c['name']}{with_} in this turn.",
                [f"Calls {c['name']}{with_} although the user did not ask for it",
                 "Takes an irreversible action beyond the user's request in this turn"])
    if t == "reply_matches":
        parts = []
        if c.get("all"):
            parts.append("states all of " + ", ".join(json.dumps(s) for s in c["all"]))
        if c.get("any"):
            parts.append("mentions one of " + ", ".join(json.dumps(s) for s in c["any"]))
        if c.get("none"):
            parts.append("does not say " + ", ".join(json.dumps(s) for s in c["none"]))
        if c.get("regex"):
            parts.append(f"matches /{c['regex']}/")
        what = "; ".join(parts)
        return (f"Does the reply to the user report the facts from the tool results ({what})?",
                f"The {'final ' if c.get('final_only') else ''}user-visible reply {what}.",
                ["The reply omits or misstates the value returned by the tool", "Answers before calling the tool, with invented values"])
    if t == "tool_result_matches":
        parts = []
        if c.get("all"):
            parts.append("contains " + ", ".join(json.dumps(s) for s in c["all"]))
        if c.get("any"):
            parts.append("contains one of " + ", ".join(json.dumps(s) for s in c["any"]))
        if c.get("none"):
            parts.append("does not contain " + ", ".join(json.dumps(s) for s in c["none"]))
        what = "; ".join(parts)
        src = c.get("name") or "any tool"
        return (f"Did a result of {src} in this turn come back as expected ({what})?",
                f"A tool result of {src} {what}.",
                [f"No successful {src} call in this turn", f"The {src} call was made with arguments that return an error"])
    raise ValueError(t)


def _find(hay: str, needle: str) -> str | None:
    i = hay.lower().find(needle.lower())
    return hay[i:i + len(needle)] if i >= 0 else None


class TaskB:
    """Builds one task: tools, turns (user text + reference steps + checklist)."""

    def __init__(self, tid: str, domain: str, system: str, tools: list[dict], *, tags=(), title: str = ""):
        self.tid, self.domain, self.system, self.tools = tid, domain, system, tools
        self.tags = list(tags)
        self.title = title
        self.turns: list[dict] = []
        self.reference: list[dict] = []
        self._turn_msgs: list[list[dict]] = []
        self._n = 0

    def turn(self, user: str, steps: list[dict], items: list[Item]) -> "TaskB":
        msgs: list[dict] = [{"role": "user", "content": user}]
        for st in steps:
            content = st["text"] or ""
            if st.get("think"):
                content = f"<think>\n{st['think']}\n</think>" + ("\n\n" + content if content else "")
            if not st["calls"]:
                msgs.append({"role": "assistant", "content": content})
                continue
            tcs, tms = [], []
            for c in st["calls"]:
                self._n += 1
                cid = f"call_{self._n}"
                tcs.append({"id": cid, "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.args, ensure_ascii=False)}})
                tms.append({"role": "tool", "tool_call_id": cid, "content": json.dumps(c.result, ensure_ascii=False)})
            msgs.append({"role": "assistant", "content": content, "tool_calls": tcs})
            msgs.extend(tms)
        assert msgs[-1]["role"] == "assistant" and not msgs[-1].get("tool_calls"), f"{self.tid}: turn must end with a reply"
        t_index = len(self.turns)
        checklist = [self._item(i, it, msgs, t_index) for i, it in enumerate(items)]
        total = math.fsum(it.weight for it in items)
        ws = [round(it.weight / total, 4) for it in items]
        ws[-1] = round(1.0 - math.fsum(ws[:-1]), 4)
        for ci, w in zip(checklist, ws):
            ci["weight"] = w
        self.turns.append({"user": user, "checklist": checklist})
        self.reference.extend(msgs)
        self._turn_msgs.append(msgs)
        return self

    def _item(self, i: int, it: Item, msgs: list[dict], t: int) -> dict:
        where = f"{self.tid} turn {t} item C{i}"
        evidence: list[dict] = []
        if it.check is not None:
            q, pc, fails = _default_text(it)
            assert check_passes(it.check, msgs), f"{where}: reference fails its own check {it.check}"
            c = it.check
            if c["type"] == "tool_called":
                step, tc, _ = matching_calls(c, msgs)[0]
                evidence.append({"turn": t, "step": step, "from": "assistant.tool_calls",
                                 "snippet": f"{tc['function']['name']}({tc['function']['arguments']})"})
            elif c["type"] == "tool_result_matches":
                ids = {cc["id"]: cc["function"]["name"] for _, cc, _ in turn_calls(msgs)}
                for step, m in enumerate(msgs):
                    if m["role"] == "tool" and (c.get("name") is None or ids.get(m["tool_call_id"]) == c["name"]):
                        for s in list(c.get("all", [])) + list(c.get("any", [])):
                            snip = _find(m["content"], s)
                            if snip:
                                evidence.append({"turn": t, "step": step, "from": "tool.content", "snippet": snip})
                                break
                        if evidence:
                            break
                if not evidence:  # regex / none-only checks: cite the whole result
                    step = max(s for s, m in enumerate(msgs) if m["role"] == "tool")
                    evidence.append({"turn": t, "step": step, "from": "tool.content", "snippet": msgs[step]["content"][:120]})
            else:  # reply_matches / tool_not_called → the final reply
                step = len(msgs) - 1
                reply = strip_think(msgs[step]["content"])
                snip = None
                for s in list(c.get("all", [])) + list(c.get("any", [])):
                    snip = _find(reply, s)
                    if snip:
                        break
                if snip is None and c.get("regex"):
                    mm = re.search(c["regex"], reply, re.I)
                    snip = mm.group(0) if mm else None
                evidence.append({"turn": t, "step": step, "from": "assistant.content.user_visible_reply",
                                 "snippet": snip or reply[:100]})
        else:
            q, pc, fails = it.question, it.pass_condition, []
            focus = it.focus
            # evidence: the given snippet wherever it occurs in the turn, else the final reply's opening
            found = None
            if it.ev:
                for step, m in enumerate(msgs):
                    if m["role"] == "assistant":
                        content = m.get("content") or ""
                        if focus == "assistant.content.thinking":
                            tm = THINK_RE.search(content)
                            content = tm.group(0) if tm else ""
                        elif focus == "assistant.tool_calls":
                            content = " ".join(f"{c['function']['name']}({c['function']['arguments']})" for c in m.get("tool_calls") or [])
                        else:
                            content = strip_think(content)
                        snip = _find(content, it.ev)
                        if snip:
                            found = {"turn": t, "step": step, "from": focus, "snippet": snip}
                            break
                assert found, f"{where}: evidence {it.ev!r} not found under {focus}"
            else:
                step = len(msgs) - 1
                found = {"turn": t, "step": step, "from": "assistant.content.user_visible_reply",
                         "snippet": strip_think(msgs[step]["content"])[:100]}
            evidence.append(found)
        if it.question:
            q = it.question
        if it.pass_condition:
            pc = it.pass_condition
        if it.fail:
            fails = list(it.fail) + fails[:1] if it.check is not None else list(it.fail)
        if len(fails) < 2 and it.check is None:
            if it.focus == "assistant.content.thinking":
                fails += ["No reasoning about this before acting",
                          "Reasoning reaches a conclusion inconsistent with the tool results"]
            else:
                fails += [f"Does not meet: {pc}", "Contradicts or ignores what the tool results say"]
            fails = fails[:max(2, len(it.fail or []))]
        assert len(fails) >= 2, f"{where}: needs failure examples"
        for d in it.dep:
            assert d != i, where
        return {
            "id": f"C{i}",
            "question": q,
            "pass_condition": pc,
            "focus_on": it.focus,
            "evidence": evidence,
            "failure_examples": fails,
            "required_for_next_turn": it.req,
            "dependence": [f"C{d}" for d in it.dep],
            "weight": it.weight,
            **({"check": it.check} if it.check is not None else {}),
        }

    def build(self) -> dict:
        self._verify()
        meta: dict[str, Any] = {"source": "cm2-env starter suite (hand-written)"}
        if self.title:
            meta["title"] = self.title
        tags = list(self.tags)
        if any(len(m.get("tool_calls") or []) > 1 for m in self.reference):
            tags.append("parallel_calls")
        if any(not any(m.get("tool_calls") for m in turn) for turn in self._turn_msgs):
            tags.append("no_tool_turn")
        if len(self.turns) >= 3:
            tags.append("three_plus_turns")
        if tags:
            meta["tags"] = tags
        return {
            "id": self.tid,
            "domain": self.domain,
            "system_prompt": self.system,
            "tools": self.tools,
            "turns": self.turns,
            "reference": self.reference,
            "metadata": meta,
        }

    def _verify(self) -> None:
        schemas = {t["function"]["name"]: t["function"]["parameters"] for t in self.tools}
        assert len(schemas) == len(self.tools), f"{self.tid}: duplicate tool names"
        seen: dict[str, str] = {}
        results = {m["tool_call_id"]: m["content"] for m in self.reference if m["role"] == "tool"}
        for m in self.reference:
            for c in m.get("tool_calls") or []:
                name = c["function"]["name"]
                assert name in schemas, f"{self.tid}: unknown tool {name}"
                args = json.loads(c["function"]["arguments"])
                try:
                    jsonschema.validate(args, schemas[name])
                except jsonschema.ValidationError as e:
                    raise AssertionError(f"{self.tid}: {name} args {args}: {e.message}") from None
                key = name + json.dumps(args, sort_keys=True)
                res = results[c["id"]]
                assert seen.setdefault(key, res) == res, f"{self.tid}: same call {key} recorded with two results"


# =========================================================================== writing

DOMAINS: dict[str, list] = {}


def domain(name: str):
    """Register a function returning the TaskB list of one domain."""
    def deco(f):
        DOMAINS[name] = f
        return f
    return deco


def build_documents() -> dict[str, str]:
    """File name → JSON text of every domain's task document (what ``main`` writes)."""
    out = {}
    for name, f in DOMAINS.items():
        doc = {"version": 1, "name": "starter", "tasks": [t.build() for t in f()]}
        out[f"{name}.json"] = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    return out


def main(argv: list[str]) -> int:
    OUT_DIR.mkdir(exist_ok=True)
    docs = build_documents()
    stale = [p for p in OUT_DIR.glob("*.json") if p.name not in docs]
    for p in stale:  # a renamed domain must not leave its old file in the suite
        p.unlink()
    total = 0
    for fname, text in docs.items():
        path = OUT_DIR / fname
        path.write_text(text, encoding="utf-8")
        n = len(json.loads(text)["tasks"])
        total += n
        print(f"{path}: {n} tasks")
    print(f"total: {total} tasks in {len(docs)} domains")
    return 0


# =========================================================================== the tasks
# (domains follow; each function returns its hand-written tasks)


# --------------------------------------------------------------------------- travel

_TRAVEL_SYS = ("You are a travel booking assistant for SkyWay Travel. Use the tools to search, book, change and cancel "
               "flights and hotels. Never invent prices, flight numbers or booking codes; confirm what you did.")

_T = {
    "search_flights": fn(
        "search_flights", "Search one-way flights on a date. Returns flights with flight_id, times and fare.",
        ["origin", "destination", "date"],
        origin=S("IATA code of the departure airport, e.g. SFO", pattern="^[A-Z]{3}$"),
        destination=S("IATA code of the arrival airport", pattern="^[A-Z]{3}$"),
        date=S("Departure date YYYY-MM-DD", pattern=DATE),
        cabin=E("Cabin class", ["economy", "premium_economy", "business", "first"], default="economy"),
        passengers=I("Number of passengers", minimum=1, maximum=9, default=1),
        nonstop_only=B("Only nonstop flights", default=False)),
    "book_flight": fn(
        "book_flight", "Book a flight found with search_flights. Returns a booking code.",
        ["flight_id", "passenger_name"],
        flight_id=S("flight_id from search_flights"),
        passenger_name=S("Full name of the traveller as on the ID"),
        seat_preference=E("Seat preference", ["window", "aisle", "middle", "none"], default="none")),
    "get_booking": fn(
        "get_booking", "Look up a booking by its booking code.", ["booking_code"],
        booking_code=S("Booking code, e.g. BK-7Q2M")),
    "find_bookings": fn(
        "find_bookings", "Find a traveller's bookings by last name and email.", ["last_name", "email"],
        last_name=S("Traveller's last name"), email=S("Email used for the booking")),
    "cancel_booking": fn(
        "cancel_booking", "Cancel a booking. Returns the refund.", ["booking_code"],
        booking_code=S("Booking code"),
        reason=E("Reason", ["change_of_plans", "schedule_change", "medical", "other"], default="change_of_plans")),
    "change_flight": fn(
        "change_flight", "Move an existing booking to another flight; returns the fare difference.",
        ["booking_code", "new_flight_id"],
        booking_code=S("Booking code"), new_flight_id=S("flight_id of the new flight from search_flights")),
    "search_hotels": fn(
        "search_hotels", "Search hotels in a city for a stay.", ["city", "check_in", "check_out"],
        city=S("City name"), check_in=S("YYYY-MM-DD", pattern=DATE), check_out=S("YYYY-MM-DD", pattern=DATE),
        max_price_per_night=N("Maximum nightly price in USD"), guests=I("Guests", minimum=1, default=1)),
    "book_hotel": fn(
        "book_hotel", "Reserve a hotel room returned by search_hotels.", ["hotel_id", "check_in", "check_out", "guest_name"],
        hotel_id=S("hotel_id from search_hotels"), check_in=S("YYYY-MM-DD", pattern=DATE),
        check_out=S("YYYY-MM-DD", pattern=DATE), guest_name=S("Name for the reservation"),
        room_type=E("Room type", ["standard", "double", "suite"], default="standard")),
    "get_baggage_policy": fn(
        "get_baggage_policy", "Checked and carry-on baggage allowance of an airline for a cabin.", ["airline"],
        airline=S("Two-letter airline code, e.g. UA", pattern="^[A-Z0-9]{2}$"),
        cabin=E("Cabin class", ["economy", "premium_economy", "business", "first"], default="economy")),
}


def _tools(table: dict, *names: str) -> list[dict]:
    return [table[n] for n in names]


@domain("travel")
def travel() -> list[TaskB]:
    out = []

    t = TaskB("travel-001", "travel", _TRAVEL_SYS,
              _tools(_T, "search_flights", "book_flight", "search_hotels", "book_hotel", "get_baggage_policy"),
              title="Book the cheapest nonstop, then a hotel")
    t.turn("Hi! I need to get from San Francisco to Seattle on 2026-03-14, just me. Nonstop please, and book whatever's "
           "cheapest. Name is Priya Raman, window seat if possible.",
           [call("search_flights", {"origin": "SFO", "destination": "SEA", "date": "2026-03-14", "nonstop_only": True},
                 {"flights": [
                     {"flight_id": "AS-1187", "airline": "AS", "depart": "07:05", "arrive": "09:10", "fare_usd": 164.0},
                     {"flight_id": "UA-552", "airline": "UA", "depart": "11:40", "arrive": "13:52", "fare_usd": 139.0},
                     {"flight_id": "DL-2071", "airline": "DL", "depart": "18:15", "arrive": "20:20", "fare_usd": 151.0}]},
                 think="Search nonstop SFO→SEA on 2026-03-14 first, then book the lowest fare."),
            call("book_flight", {"flight_id": "UA-552", "passenger_name": "Priya Raman", "seat_preference": "window"},
                 {"booking_code": "BK-7Q2M", "flight_id": "UA-552", "seat": "23A", "total_usd": 139.0, "status": "confirmed"}),
            say("Done! You're booked on United UA-552, departing SFO 11:40 and arriving in Seattle 13:52 on March 14. "
                "Window seat 23A, total $139.00. Your booking code is BK-7Q2M.")],
           [TC("search_flights", 2, req=True, origin="SFO", destination="SEA", date="2026-03-14"),
            TC("search_flights", 1, nonstop_only=True, q="Did the assistant restrict the search to nonstop flights?"),
            TC("book_flight", 3, req=True, dep=[0], after=["search_flights"], flight_id="UA-552",
               passenger_name=has("Priya Raman"),
               q="Did the assistant book the cheapest nonstop (UA-552) for Priya Raman after searching?",
               fail=["Books AS-1187 or DL-2071, which are not the cheapest", "Books before searching with an invented flight_id"]),
            TC("book_flight", 1, seat_preference="window"),
            TRM("book_flight", 1, all=["BK-7Q2M"], dep=[2], q="Did the booking call come back confirmed (BK-7Q2M)?"),
            RM(2, all=["BK-7Q2M"], any=["$139", "139.00"], dep=[2]),
            J("Does the reply state the departure time and the assigned seat without inventing details?", 1,
              pc="The reply mentions the 11:40 departure and seat 23A, consistent with the tool results.", ev="23A",
              fail=["Omits the departure time", "States a seat that the booking did not return"])])
    t.turn("Great. Can you also find me a hotel in Seattle for the 14th to the 16th, under $200 a night? Book the best-rated one.",
           [call("search_hotels", {"city": "Seattle", "check_in": "2026-03-14", "check_out": "2026-03-16", "max_price_per_night": 200},
                 {"hotels": [
                     {"hotel_id": "H-SEA-3310", "name": "Pike Street Inn", "rating": 4.1, "price_per_night": 179.0},
                     {"hotel_id": "H-SEA-0926", "name": "Lake Union Lodge", "rating": 4.6, "price_per_night": 192.0},
                     {"hotel_id": "H-SEA-1475", "name": "Sodo Budget Suites", "rating": 3.7, "price_per_night": 119.0}]}),
            call("book_hotel", {"hotel_id": "H-SEA-0926", "check_in": "2026-03-14", "check_out": "2026-03-16", "guest_name": "Priya Raman"},
                 {"reservation_id": "HR-55813", "hotel": "Lake Union Lodge", "nights": 2, "total_usd": 384.0, "status": "confirmed"}),
            say("Booked the best-rated option under $200: Lake Union Lodge (4.6★), March 14–16, 2 nights for $384.00 total. "
                "Reservation ID HR-55813.")],
           [TC("search_hotels", 2, req=True, city=has("Seattle"), check_in="2026-03-14", check_out="2026-03-16",
               max_price_per_night=approx(200, 0.5)),
            TC("book_hotel", 3, req=True, dep=[0], after=["search_hotels"], hotel_id="H-SEA-0926",
               check_in="2026-03-14", check_out="2026-03-16", guest_name=has("Raman"),
               q="Did the assistant book the highest-rated hotel under budget (H-SEA-0926) for the requested dates?"),
            TNC("book_flight", 1, q="Did the assistant avoid booking another flight?"),
            TRM("book_hotel", 1, all=["HR-55813"], dep=[1]),
            RM(2, all=["HR-55813"], any=["$384", "384.00"], dep=[1])])
    t.turn("What's the baggage allowance on that flight? I want to bring one checked bag.",
           [call("get_baggage_policy", {"airline": "UA", "cabin": "economy"},
                 {"airline": "UA", "cabin": "economy", "carry_on": "1 bag + 1 personal item",
                  "checked_included": 0, "first_checked_bag_usd": 40.0, "max_weight_kg": 23}),
            say("On United economy, a carry-on plus a personal item are included, but checked bags are not. "
                "Your first checked bag costs $40 (up to 23 kg).")],
           [TC("get_baggage_policy", 3, req=True, airline="UA", cabin=one_of("economy")),
            RM(3, all=["$40"], any=["23 kg", "23kg"]),
            TNC("book_flight", 1),
            J("Does the assistant make clear the checked bag is not included in the fare?", 1,
              pc="The reply says checked bags are not included / cost extra.", ev="checked bags are not",
              fail=["Says the bag is free", "Does not say whether the bag is included"])])
    out.append(t)

    t = TaskB("travel-002", "travel", _TRAVEL_SYS,
              _tools(_T, "get_booking", "find_bookings", "cancel_booking", "search_flights", "book_flight"),
              tags=["error_recovery"], title="Mistyped booking code, then cancel")
    t.turn("hey, can you check booking BK-2291 for me? I think my flight to Denver got moved",
           [call("get_booking", {"booking_code": "BK-2291"},
                 {"error": "not_found", "message": "No booking with code BK-2291"}),
            say("I couldn't find a booking with code BK-2291. Could you give me the last name and the email address "
                "used for the booking so I can look it up?")],
           [TC("get_booking", 3, req=True, booking_code="BK-2291"),
            RM(3, any=["last name", "email"], q="Does the assistant ask for the details needed to search for the booking?"),
            J("Does the assistant tell the user the code was not found rather than inventing booking details?", 2,
              pc="The reply says no booking BK-2291 exists and invents no flight details.", ev="couldn't find",
              fail=["Reports a schedule change that the tool never returned", "Ignores the not_found error"]),
            TNC("cancel_booking", 1)])
    t.turn("Sure — Okafor, chidi.okafor@mailbox.org. Sorry, maybe the code is BK-2219?",
           [call("get_booking", {"booking_code": "BK-2219"},
                 {"error": "not_found", "message": "No booking with code BK-2219"},
                 think="Try the code the user suggests; if it fails, search by last name and email."),
            call("find_bookings", {"last_name": "Okafor", "email": "chidi.okafor@mailbox.org"},
                 {"bookings": [{"booking_code": "BK-9Z21", "route": "ORD-DEN", "date": "2026-04-02", "status": "confirmed"}]}),
            call("get_booking", {"booking_code": "BK-9Z21"},
                 {"booking_code": "BK-9Z21", "passenger": "Chidi Okafor", "flight_id": "UA-1630", "route": "ORD-DEN",
                  "date": "2026-04-02", "depart": "15:20", "previous_depart": "12:45", "status": "schedule_changed",
                  "fare_usd": 212.0, "refundable": True}),
            say("Found it — your booking is BK-9Z21 (BK-2219 doesn't exist either). Your United flight UA-1630 from Chicago "
                "to Denver on April 2 was moved from 12:45 to 15:20. The fare was $212.00 and it's refundable.")],
           [TC("find_bookings", 2, req=True, last_name="Okafor", email="chidi.okafor@mailbox.org"),
            TC("get_booking", 2, req=True, dep=[0], after=["find_bookings"], booking_code="BK-9Z21",
               q="Did the assistant look up the booking code returned by find_bookings (BK-9Z21)?"),
            TRM("get_booking", 2, all=["schedule_changed"], dep=[1],
                q="Did the recovery lookup succeed and return the booking details?"),
            RM(2, all=["BK-9Z21", "15:20"], dep=[1]),
            J("Does the reply explain the schedule change (old vs new departure time)?", 1,
              pc="Mentions both 12:45 and 15:20 or clearly states the flight was moved later.", ev="12:45",
              fail=["Only says 'your flight changed' without times"])])
    t.turn("15:20 doesn't work for me at all. Please cancel it, the airline changed the schedule.",
           [call("cancel_booking", {"booking_code": "BK-9Z21", "reason": "schedule_change"},
                 {"booking_code": "BK-9Z21", "status": "cancelled", "refund_usd": 212.0, "refund_method": "original card",
                  "refund_days": 7}),
            say("Cancelled. Booking BK-9Z21 is void and because the airline changed the schedule you get the full $212.00 "
                "back to your original card within 7 days.")],
           [TC("cancel_booking", 4, req=True, booking_code="BK-9Z21", reason="schedule_change"),
            TNC("book_flight", 1, q="Did the assistant avoid booking a replacement flight nobody asked for?"),
            RM(3, all=["$212"], any=["7 days", "seven days"])])
    out.append(t)

    t = TaskB("travel-003", "travel", _TRAVEL_SYS,
              _tools(_T, "get_booking", "search_flights", "change_flight", "cancel_booking"),
              tags=["error_recovery"], title="Move a booking to an earlier day")
    t.turn("I need to move my trip BK-4LX8 a day earlier. Same flight time-ish if you can.",
           [call("get_booking", {"booking_code": "BK-4LX8"},
                 {"booking_code": "BK-4LX8", "passenger": "Mateo Alvarez", "flight_id": "B6-415", "route": "JFK-MIA",
                  "origin": "JFK", "destination": "MIA", "date": "2026-05-22", "depart": "08:30", "cabin": "economy",
                  "fare_usd": 188.0}),
            call("search_flights", {"origin": "JFK", "destination": "MIA", "date": "2026-05-21"},
                 {"flights": [
                     {"flight_id": "B6-415", "date": "2026-05-21", "depart": "08:30", "arrive": "11:41", "fare_usd": 231.0},
                     {"flight_id": "AA-1299", "date": "2026-05-21", "depart": "13:10", "arrive": "16:25", "fare_usd": 176.0}]},
                 think="Booking is JFK→MIA on 2026-05-22 at 08:30; search the day before for a similar time."),
            say("Your booking BK-4LX8 is JetBlue B6-415, JFK→MIA on May 22 at 08:30. On May 21 the same flight B6-415 leaves "
                "at 08:30 for $231.00 (your current fare is $188.00, so about $43 more). There's also American AA-1299 at "
                "13:10 for $176.00. Which would you like?")],
           [TC("get_booking", 2, req=True, booking_code="BK-4LX8"),
            TC("search_flights", 3, req=True, dep=[0], after=["get_booking"], origin="JFK", destination="MIA",
               date="2026-05-21", q="Did the assistant search the same route (from the booking) one day earlier, 2026-05-21?"),
            TNC("change_flight", 2, q="Did the assistant wait for the user's choice before changing the booking?",
                fail=["Changes the booking to a flight the user has not chosen"]),
            RM(2, all=["08:30", "$231"]),
            J("Does the assistant ask the user to choose between the options?", 1,
              pc="The reply ends with a question asking which flight to take.", ev="Which would you like",
              fail=["Picks an option without asking"])])
    t.turn("Keep the 8:30 one, I'll pay the difference.",
           [call("change_flight", {"booking_code": "BK-4LX8", "new_flight_id": "B6-415"},
                 {"error": "same_flight_id_ambiguous", "message": "B6-415 operates daily; pass the dated id B6-415-0521"}),
            call("change_flight", {"booking_code": "BK-4LX8", "new_flight_id": "B6-415-0521"},
                 {"booking_code": "BK-4LX8", "flight_id": "B6-415", "date": "2026-05-21", "depart": "08:30",
                  "fare_difference_usd": 43.0, "change_fee_usd": 0.0, "status": "confirmed"}),
            say("All set: BK-4LX8 is now on B6-415 on May 21 at 08:30. You were charged the $43.00 fare difference and "
                "no change fee.")],
           [TC("change_flight", 4, req=True, booking_code="BK-4LX8", new_flight_id=rx("B6-415-0521")),
            TRM("change_flight", 2, all=['"status": "confirmed"'], dep=[0]),
            RM(2, all=["$43"], any=["May 21", "2026-05-21"], dep=[0]),
            TNC("cancel_booking", 1)])
    out.append(t)

    t = TaskB("travel-004", "travel", _TRAVEL_SYS,
              _tools(_T, "search_flights", "book_flight", "get_booking", "get_baggage_policy"),
              title="Compare two dates in business, book for two")
    t.turn("Looking at Boston to London in business for two people, either 2026-09-03 or 2026-09-04. Which day is cheaper?",
           [par(("search_flights", {"origin": "BOS", "destination": "LHR", "date": "2026-09-03", "cabin": "business", "passengers": 2},
                 {"flights": [{"flight_id": "BA-212", "depart": "21:30", "fare_usd_total": 7420.0},
                              {"flight_id": "VS-158", "depart": "19:45", "fare_usd_total": 6980.0}]}),
                ("search_flights", {"origin": "BOS", "destination": "LHR", "date": "2026-09-04", "cabin": "business", "passengers": 2},
                 {"flights": [{"flight_id": "BA-238", "depart": "18:10", "fare_usd_total": 6140.0},
                              {"flight_id": "VS-158", "depart": "19:45", "fare_usd_total": 6655.0}]}),
                think="Two independent searches, one per date, same cabin and party size."),
            say("September 4 is cheaper: British Airways BA-238 at 18:10 is $6,140 total for two in business. The best on "
                "September 3 is Virgin VS-158 at 19:45 for $6,980 total.")],
           [TC("search_flights", 2, req=True, origin="BOS", destination="LHR", date="2026-09-03", cabin="business", passengers=2),
            TC("search_flights", 2, req=True, origin="BOS", destination="LHR", date="2026-09-04", cabin="business", passengers=2),
            RM(3, all=["BA-238", "6,140"], dep=[0, 1]),
            TNC("book_flight", 1, q="Did the assistant avoid booking before the user decided?")])
    t.turn("Book the Sept 4 BA one for Hannah Lee and Tom Lee, aisle seats.",
           [par(("book_flight", {"flight_id": "BA-238", "passenger_name": "Hannah Lee", "seat_preference": "aisle"},
                 {"booking_code": "BK-P4N7", "seat": "5C", "status": "confirmed", "total_usd": 3070.0}),
                ("book_flight", {"flight_id": "BA-238", "passenger_name": "Tom Lee", "seat_preference": "aisle"},
                 {"booking_code": "BK-P4N8", "seat": "5D", "status": "confirmed", "total_usd": 3070.0})),
            say("Both booked on BA-238, Sept 4 at 18:10: Hannah Lee — BK-P4N7, seat 5C; Tom Lee — BK-P4N8, seat 5D. "
                "$3,070 each, $6,140 in total.")],
           [TC("book_flight", 2, req=True, flight_id="BA-238", passenger_name=has("Hannah")),
            TC("book_flight", 2, req=True, flight_id="BA-238", passenger_name=has("Tom")),
            TC("book_flight", 1, min_count=2, seat_preference="aisle", q="Were both seats requested as aisle?"),
            RM(3, all=["BK-P4N7", "BK-P4N8"], dep=[0, 1])])
    t.turn("What can we each check in on that ticket? Hannah's booking might be on some saver fare, check it.",
           [call("get_booking", {"booking_code": "BK-P4N7"},
                 {"booking_code": "BK-P4N7", "passenger": "Hannah Lee", "flight_id": "BA-238", "airline": "BA",
                  "cabin": "business", "fare_brand": "Business Standard", "date": "2026-09-04"}),
            call("get_baggage_policy", {"airline": "BA", "cabin": "business"},
                 {"airline": "BA", "cabin": "business", "checked_included": 2, "max_weight_kg": 32, "carry_on": "2 bags"}),
            say("Hannah's ticket is a regular Business Standard fare, not a saver. In BA business each of you can check 2 bags "
                "of up to 32 kg each, plus 2 carry-on bags.")],
           [TC("get_booking", 1, req=True, booking_code="BK-P4N7"),
            TC("get_baggage_policy", 3, req=True, dep=[0], after=["get_booking"], airline="BA", cabin="business"),
            RM(3, all=["32 kg"], any=["2 bags", "two bags", "2 checked"]),
            J("Does the reply make clear the allowance applies to each traveller?", 1, pc="Says 'each' / per person.",
              ev="each of you", fail=["Implies 2 bags shared between both travellers"])])
    out.append(t)

    t = TaskB("travel-005", "travel", _TRAVEL_SYS,
              _tools(_T, "search_hotels", "book_hotel", "search_flights"),
              tags=["error_recovery"], title="Hotel sold out, book the next option")
    t.turn("I need a double room in Lisbon from 2026-06-10 to 2026-06-13 for two, nothing over 150 a night. Reserve the "
           "cheapest for Ana Sousa.",
           [call("search_hotels", {"city": "Lisbon", "check_in": "2026-06-10", "check_out": "2026-06-13",
                                   "max_price_per_night": 150, "guests": 2},
                 {"hotels": [{"hotel_id": "H-LIS-204", "name": "Casa Alfama", "price_per_night": 98.0, "rating": 4.3},
                             {"hotel_id": "H-LIS-377", "name": "Baixa Rooms", "price_per_night": 121.0, "rating": 4.0},
                             {"hotel_id": "H-LIS-118", "name": "Hotel Estrela", "price_per_night": 146.0, "rating": 4.5}]}),
            call("book_hotel", {"hotel_id": "H-LIS-204", "check_in": "2026-06-10", "check_out": "2026-06-13",
                                "guest_name": "Ana Sousa", "room_type": "double"},
                 {"error": "sold_out", "message": "No double rooms left at Casa Alfama for these dates"}),
            call("book_hotel", {"hotel_id": "H-LIS-377", "check_in": "2026-06-10", "check_out": "2026-06-13",
                                "guest_name": "Ana Sousa", "room_type": "double"},
                 {"reservation_id": "HR-80412", "hotel": "Baixa Rooms", "nights": 3, "total_eur": 363.0, "status": "confirmed"},
                 think="Casa Alfama is sold out for doubles; the next cheapest under the limit is Baixa Rooms (H-LIS-377)."),
            say("Casa Alfama was sold out for a double room, so I booked the next cheapest: Baixa Rooms, 3 nights "
                "(June 10–13) at 121/night, 363.00 total. Reservation HR-80412 under Ana Sousa.")],
           [TC("search_hotels", 2, req=True, city="Lisbon", check_in="2026-06-10", check_out="2026-06-13", guests=2,
               max_price_per_night=approx(150, 0.5)),
            TC("book_hotel", 3, req=True, dep=[0], after=["search_hotels"], hotel_id="H-LIS-377", room_type="double",
               guest_name=has("Ana Sousa"), q="After the sold-out error, did the assistant book the next cheapest hotel (H-LIS-377)?"),
            TRM("book_hotel", 2, all=["HR-80412"], dep=[1]),
            RM(2, all=["HR-80412"], any=["sold out", "sold-out"], dep=[1]),
            J("Does the assistant explain why it did not book the cheapest hotel?", 1,
              pc="The reply says Casa Alfama was sold out.", ev="sold out", fail=["Silently books a different hotel"])])
    t.turn("Perfect. Is there a cheap nonstop from Madrid to Lisbon on the 10th in the morning?",
           [call("search_flights", {"origin": "MAD", "destination": "LIS", "date": "2026-06-10", "nonstop_only": True},
                 {"flights": [{"flight_id": "TP-1023", "depart": "07:25", "arrive": "07:40", "fare_usd": 74.0},
                              {"flight_id": "IB-3110", "depart": "10:05", "arrive": "10:20", "fare_usd": 69.0},
                              {"flight_id": "FR-7741", "depart": "16:50", "arrive": "17:05", "fare_usd": 38.0}]}),
            say("Morning nonstops Madrid→Lisbon on June 10: Iberia IB-3110 at 10:05 for $69, and TAP TP-1023 at 07:25 for $74. "
                "(Ryanair has one for $38 but it's at 16:50.) Want me to book one?")],
           [TC("search_flights", 3, req=True, origin="MAD", destination="LIS", date="2026-06-10"),
            RM(3, all=["IB-3110"], any=["$69", "69"]),
            TNC("book_hotel", 1, q="Did the assistant avoid making another hotel booking?"),
            J("Does the assistant respect 'in the morning' when recommending flights?", 1,
              pc="Recommends morning departures and, if it mentions FR-7741, notes it is in the afternoon.", ev="16:50",
              fail=["Recommends the 16:50 flight as a morning option"])])
    out.append(t)
    return out


# --------------------------------------------------------------------------- banking

_BANK_SYS = ("You are the virtual assistant of Harbor Bank. You can look up accounts, balances and transactions, move "
             "money between the customer's accounts, pay bills and manage cards. The customer is already authenticated. "
             "Confirm amounts and accounts; never guess an account or card id.")

_BK = {
    "list_accounts": fn("list_accounts", "List the customer's accounts with ids, types and last four digits.", []),
    "get_balance": fn("get_balance", "Current and available balance of one account.", ["account_id"],
                      account_id=S("Account id from list_accounts, e.g. ACC-…")),
    "list_transactions": fn(
        "list_transactions", "Transactions of an account in a date range, newest first.", ["account_id", "start_date", "end_date"],
        account_id=S("Account id"), start_date=S("YYYY-MM-DD", pattern=DATE), end_date=S("YYYY-MM-DD", pattern=DATE),
        category=E("Optional category filter", ["groceries", "dining", "travel", "utilities", "shopping", "transfer", "other"]),
        min_amount=N("Only transactions of at least this amount", minimum=0)),
    "transfer_funds": fn(
        "transfer_funds", "Move money between two of the customer's accounts.", ["from_account_id", "to_account_id", "amount"],
        from_account_id=S("Source account id"), to_account_id=S("Destination account id"),
        amount=N("Amount in USD", exclusiveMinimum=0), memo=S("Optional memo")),
    "list_payees": fn("list_payees", "The customer's saved bill payees.", []),
    "pay_bill": fn(
        "pay_bill", "Pay a saved payee from an account.", ["payee_id", "from_account_id", "amount"],
        payee_id=S("Payee id from list_payees"), from_account_id=S("Account to pay from"),
        amount=N("Amount in USD", exclusiveMinimum=0), pay_date=S("YYYY-MM-DD; today if omitted", pattern=DATE)),
    "list_cards": fn("list_cards", "The customer's debit and credit cards.", []),
    "freeze_card": fn("freeze_card", "Temporarily block a card.", ["card_id", "reason"],
                      card_id=S("Card id from list_cards"), reason=E("Why", ["lost", "stolen", "suspicious_activity", "travel", "other"])),
    "order_replacement_card": fn(
        "order_replacement_card", "Order a new card to replace a frozen one.", ["card_id"],
        card_id=S("Card id of the card to replace"), shipping=E("Shipping speed", ["standard", "express"], default="standard")),
    "dispute_transaction": fn(
        "dispute_transaction", "Open a dispute for a card transaction.", ["transaction_id", "reason"],
        transaction_id=S("Transaction id from list_transactions"),
        reason=E("Dispute reason", ["unauthorized", "duplicate", "not_received", "wrong_amount"])),
    "get_exchange_rate": fn("get_exchange_rate", "Current exchange rate and the bank's FX fee.", ["from_currency", "to_currency"],
                            from_currency=S("ISO code", pattern="^[A-Z]{3}$"), to_currency=S("ISO code", pattern="^[A-Z]{3}$")),
    "send_international_transfer": fn(
        "send_international_transfer", "Send money abroad to a saved recipient.", ["from_account_id", "recipient_id", "amount", "currency"],
        from_account_id=S("Source account id"), recipient_id=S("Recipient id from add_recipient"),
        amount=N("Amount in the target currency", exclusiveMinimum=0), currency=S("ISO code of the amount", pattern="^[A-Z]{3}$")),
    "add_recipient": fn(
        "add_recipient", "Save an international recipient.", ["name", "iban", "country"],
        name=S("Recipient name"), iban=S("IBAN without spaces", pattern="^[A-Z]{2}[0-9A-Z]{13,32}$"), country=S("ISO country code", pattern="^[A-Z]{2}$")),
}

_ACCTS = {"accounts": [
    {"account_id": "ACC-CHK-20931", "type": "checking", "last4": "2093"},
    {"account_id": "ACC-SAV-77104", "type": "savings", "last4": "7710"},
]}


@domain("banking")
def banking() -> list[TaskB]:
    out = []

    t = TaskB("banking-001", "banking", _BANK_SYS,
              _tools(_BK, "list_accounts", "get_balance", "transfer_funds", "list_transactions"),
              title="Balances, a transfer, then grocery spending")
    t.turn("How much do I have in checking and in savings right now?",
           [call("list_accounts", {}, _ACCTS),
            par(("get_balance", {"account_id": "ACC-CHK-20931"},
                 {"account_id": "ACC-CHK-20931", "current": 412.57, "available": 388.12, "currency": "USD"}),
                ("get_balance", {"account_id": "ACC-SAV-77104"},
                 {"account_id": "ACC-SAV-77104", "current": 9150.0, "available": 9150.0, "currency": "USD"})),
            say("Checking (…2093): $388.12 available ($412.57 current, some pending). Savings (…7710): $9,150.00.")],
           [TC("list_accounts", 1, req=True),
            TC("get_balance", 2, req=True, dep=[0], after=["list_accounts"], account_id="ACC-CHK-20931"),
            TC("get_balance", 2, req=True, dep=[0], after=["list_accounts"], account_id="ACC-SAV-77104"),
            RM(3, all=["388.12", "9,150"], dep=[1, 2]),
            J("Does the assistant distinguish available from current balance for checking?", 1,
              pc="Mentions that $388.12 is available while $412.57 is the current balance.", ev="available")])
    t.turn("Move 500 from savings into checking please, memo 'rent top-up'.",
           [call("transfer_funds", {"from_account_id": "ACC-SAV-77104", "to_account_id": "ACC-CHK-20931", "amount": 500,
                                    "memo": "rent top-up"},
                 {"transfer_id": "TRF-66120", "status": "completed", "amount": 500.0,
                  "from_balance_after": 8650.0, "to_available_after": 888.12}),
            say("Done — $500.00 moved from savings to checking (transfer TRF-66120, memo 'rent top-up'). Checking now has "
                "$888.12 available and savings $8,650.00.")],
           [TC("transfer_funds", 4, req=True, from_account_id="ACC-SAV-77104", to_account_id="ACC-CHK-20931",
               amount=approx(500, 0.001), q="Did the assistant transfer exactly $500 from savings to checking?",
               fail=["Transfers in the wrong direction (checking → savings)", "Transfers a different amount"]),
            TC("transfer_funds", 1, memo=has("rent top-up")),
            TRM("transfer_funds", 1, all=["TRF-66120"], dep=[0]),
            RM(3, all=["TRF-66120"], any=["888.12", "8,650"], dep=[0])])
    t.turn("thanks. what did I spend on groceries from checking between March 1 and March 15 2026?",
           [call("list_transactions", {"account_id": "ACC-CHK-20931", "start_date": "2026-03-01", "end_date": "2026-03-15",
                                       "category": "groceries"},
                 {"transactions": [
                     {"transaction_id": "TX-90211", "date": "2026-03-13", "merchant": "Trader Joe's", "amount": -64.18},
                     {"transaction_id": "TX-90087", "date": "2026-03-07", "merchant": "Safeway", "amount": -112.40},
                     {"transaction_id": "TX-89950", "date": "2026-03-02", "merchant": "Trader Joe's", "amount": -41.07}],
                  "total": -217.65}),
            say("From March 1–15 you spent $217.65 on groceries from checking: Trader Joe's $64.18 (Mar 13), Safeway $112.40 "
                "(Mar 7) and Trader Joe's $41.07 (Mar 2).")],
           [TC("list_transactions", 4, req=True, account_id="ACC-CHK-20931", start_date="2026-03-01", end_date="2026-03-15"),
            TC("list_transactions", 1, category="groceries"),
            RM(3, all=["217.65"], dep=[0]),
            TNC("transfer_funds", 1, q="Did the assistant avoid making another transfer?")])
    out.append(t)

    t = TaskB("banking-002", "banking", _BANK_SYS,
              _tools(_BK, "list_cards", "freeze_card", "list_transactions", "dispute_transaction", "order_replacement_card"),
              title="Lost card: freeze, dispute, replace")
    t.turn("I think I lost my debit card, the one ending 4417. Freeze it right now!!",
           [call("list_cards", {},
                 {"cards": [{"card_id": "CRD-5521", "type": "credit", "last4": "0086", "status": "active"},
                            {"card_id": "CRD-3308", "type": "debit", "last4": "4417", "status": "active",
                             "account_id": "ACC-CHK-20931"}]}),
            call("freeze_card", {"card_id": "CRD-3308", "reason": "lost"},
                 {"card_id": "CRD-3308", "status": "frozen", "frozen_at": "2026-03-16T09:12:44Z"}),
            say("Your debit card ending 4417 is frozen as of 09:12 UTC — no new purchases or withdrawals will go through. "
                "Your credit card ending 0086 is unaffected.")],
           [TC("list_cards", 1, req=True),
            TC("freeze_card", 4, req=True, dep=[0], after=["list_cards"], card_id="CRD-3308", reason=one_of("lost", "stolen"),
               q="Did the assistant freeze the debit card ending 4417 (CRD-3308), found via list_cards?",
               fail=["Freezes the credit card CRD-5521", "Invents a card id without listing cards"]),
            TNC("freeze_card", 2, card_id="CRD-5521", q="Did the assistant leave the credit card (CRD-5521) alone?"),
            RM(2, all=["4417"], any=["frozen", "freeze"], dep=[1])])
    t.turn("ok. there's a charge I don't recognise from yesterday, something like 'GLOBEX DIGITAL'. Can you dispute it? Yesterday was March 15.",
           [call("list_transactions", {"account_id": "ACC-CHK-20931", "start_date": "2026-03-15", "end_date": "2026-03-15"},
                 {"transactions": [
                     {"transaction_id": "TX-91502", "merchant": "GLOBEX DIGITAL*SUBS", "amount": -89.99, "card_last4": "4417"},
                     {"transaction_id": "TX-91488", "merchant": "Blue Bottle Coffee", "amount": -6.25, "card_last4": "4417"}]},
                 think="The card CRD-3308 is linked to ACC-CHK-20931; look at that account's transactions on 2026-03-15."),
            call("dispute_transaction", {"transaction_id": "TX-91502", "reason": "unauthorized"},
                 {"dispute_id": "DSP-20417", "status": "opened", "provisional_credit_usd": 89.99, "decision_within_days": 10}),
            say("I found GLOBEX DIGITAL*SUBS for $89.99 on March 15 and opened dispute DSP-20417 as unauthorized. You'll get a "
                "provisional credit of $89.99 and a decision within 10 business days.")],
           [TC("list_transactions", 2, req=True, account_id="ACC-CHK-20931", start_date=rx("2026-03-1[45]"),
               end_date=rx("2026-03-1[56]")),
            TC("dispute_transaction", 4, req=True, dep=[0], after=["list_transactions"], transaction_id="TX-91502",
               reason="unauthorized"),
            TNC("dispute_transaction", 1, transaction_id="TX-91488", q="Did the assistant avoid disputing the coffee purchase?"),
            RM(2, all=["DSP-20417"], any=["89.99"], dep=[1])])
    t.turn("Can you send me a replacement card? Fast shipping if that's possible.",
           [call("order_replacement_card", {"card_id": "CRD-3308", "shipping": "express"},
                 {"new_card_last4": "9052", "shipping": "express", "eta": "2026-03-18", "fee_usd": 0.0}),
            say("A replacement debit card (ending 9052) is on its way by express shipping, arriving by March 18, at no charge.")],
           [TC("order_replacement_card", 4, req=True, card_id="CRD-3308", shipping="express"),
            RM(3, any=["9052", "March 18", "2026-03-18"]),
            J("Is the reply concise and does it avoid asking for information the assistant already has?", 1,
              pc="Does not ask again which card or account; confirms the order in one or two sentences.",
              ev="replacement debit card", fail=["Asks the user for the card number again"])])
    out.append(t)

    t = TaskB("banking-003", "banking", _BANK_SYS,
              _tools(_BK, "list_accounts", "list_payees", "pay_bill", "transfer_funds", "get_balance"),
              tags=["error_recovery"], title="Bill payment bounces, top up and retry")
    t.turn("Pay my City Power & Light bill, $236.40, from checking. If checking is short, pull what's needed from savings first.",
           [par(("list_accounts", {}, _ACCTS),
                ("list_payees", {}, {"payees": [{"payee_id": "PAY-118", "name": "City Power & Light"},
                                               {"payee_id": "PAY-342", "name": "Metro Water"}]})),
            call("pay_bill", {"payee_id": "PAY-118", "from_account_id": "ACC-CHK-20931", "amount": 236.4},
                 {"error": "insufficient_funds", "message": "Available balance 201.15 is below 236.40", "available": 201.15}),
            call("transfer_funds", {"from_account_id": "ACC-SAV-77104", "to_account_id": "ACC-CHK-20931", "amount": 35.25,
                                    "memo": "bill top-up"},
                 {"transfer_id": "TRF-66391", "status": "completed", "amount": 35.25},
                 think="Checking has 201.15 available; 236.40 - 201.15 = 35.25 is needed from savings."),
            call("pay_bill", {"payee_id": "PAY-118", "from_account_id": "ACC-CHK-20931", "amount": 236.4, "pay_date": "2026-03-16"},
                 {"payment_id": "BP-77302", "status": "paid", "amount": 236.4, "pay_date": "2026-03-16"}),
            say("Checking only had $201.15 available, so I moved $35.25 from savings (TRF-66391) and then paid City Power & "
                "Light $236.40 from checking today. Payment confirmation: BP-77302.")],
           [TC("pay_bill", 2, req=True, payee_id="PAY-118", from_account_id="ACC-CHK-20931", amount=approx(236.40)),
            TC("transfer_funds", 3, req=True, after=["pay_bill"], from_account_id="ACC-SAV-77104",
               to_account_id="ACC-CHK-20931", amount=approx(35.25, 0.01),
               q="After the insufficient-funds error, did the assistant move exactly the shortfall ($35.25) from savings?",
               fail=["Moves an arbitrary amount such as $500", "Moves money out of checking instead of into it"]),
            TC("pay_bill", 2, min_count=2, payee_id="PAY-118", amount=approx(236.40),
               q="Did the assistant retry the payment after topping up?"),
            TRM("pay_bill", 2, all=["BP-77302"], dep=[1, 2]),
            RM(2, all=["BP-77302", "35.25"], dep=[3]),
            J("Does the assistant reason about the shortfall before moving money?", 1, focus="assistant.content.thinking",
              pc="The thinking computes 236.40 - 201.15 = 35.25 (or equivalent) before the transfer.", ev="35.25")])
    t.turn("Thanks! Was there enough left in savings after that? I want to keep at least 9k there.",
           [call("get_balance", {"account_id": "ACC-SAV-77104"},
                 {"account_id": "ACC-SAV-77104", "current": 8964.75, "available": 8964.75, "currency": "USD"}),
            say("Savings now has $8,964.75 — that's $35.25 below your $9,000 floor. Want me to move $35.25 back from checking "
                "after your next paycheck lands?")],
           [TC("get_balance", 4, req=True, account_id="ACC-SAV-77104"),
            RM(3, all=["8,964.75"], any=["below", "under", "short"]),
            TNC("transfer_funds", 1, q="Did the assistant avoid moving money without being asked?"),
            J("Does the assistant offer a concrete way to restore the 9k minimum?", 1,
              pc="Offers to move $35.25 back later or a similar concrete option.", ev="Want me to move")])
    out.append(t)

    t = TaskB("banking-004", "banking", _BANK_SYS,
              _tools(_BK, "list_accounts", "get_exchange_rate", "add_recipient", "send_international_transfer"),
              title="Send euros to a new recipient")
    t.turn("What's your USD to EUR rate today, and what do you charge for FX?",
           [call("get_exchange_rate", {"from_currency": "USD", "to_currency": "EUR"},
                 {"rate": 0.9214, "fx_fee_pct": 0.75, "quote_id": "Q-5530", "valid_until": "2026-03-16T18:00:00Z"}),
            say("Today 1 USD = 0.9214 EUR, and we charge a 0.75% FX fee on the converted amount. The quote is valid until "
                "18:00 UTC.")],
           [TC("get_exchange_rate", 4, req=True, from_currency="USD", to_currency="EUR"),
            RM(4, all=["0.9214", "0.75%"]),
            TNC("send_international_transfer", 2)])
    t.turn("Ok I want to send 1,200 euros from checking to my sister Marta Nowak in Germany, IBAN DE89 3704 0044 0532 0130 00.",
           [call("list_accounts", {}, _ACCTS),
            call("add_recipient", {"name": "Marta Nowak", "iban": "DE89370400440532013000", "country": "DE"},
                 {"recipient_id": "RCP-4471", "name": "Marta Nowak", "bank": "Commerzbank", "verified": True},
                 think="IBAN must be passed without spaces; add the recipient first, then send with the returned id."),
            call("send_international_transfer", {"from_account_id": "ACC-CHK-20931", "recipient_id": "RCP-4471",
                                                 "amount": 1200, "currency": "EUR"},
                 {"transfer_id": "INT-30981", "status": "processing", "debited_usd": 1312.14, "fx_fee_usd": 9.77,
                  "arrival": "2026-03-18"}),
            say("Sent! €1,200.00 is on its way to Marta Nowak (Commerzbank), transfer INT-30981. Your checking account was "
                "debited $1,312.14 including the $9.77 FX fee; expected arrival March 18.")],
           [TC("add_recipient", 3, req=True, name=has("Marta Nowak"), iban="DE89370400440532013000", country="DE",
               q="Did the assistant save the recipient with the IBAN without spaces and country DE?"),
            TC("send_international_transfer", 4, req=True, dep=[0], after=["add_recipient"], recipient_id="RCP-4471",
               from_account_id="ACC-CHK-20931", amount=approx(1200, 0.001), currency="EUR",
               fail=["Sends 1200 USD instead of EUR", "Uses a recipient id that add_recipient did not return"]),
            TRM("send_international_transfer", 1, all=["INT-30981"], dep=[1]),
            RM(3, all=["INT-30981", "1,312.14"], dep=[1])])
    out.append(t)

    t = TaskB("banking-005", "banking", _BANK_SYS,
              _tools(_BK, "list_accounts", "list_transactions", "dispute_transaction", "get_balance", "freeze_card"),
              title="Charged twice by a ride-share")
    t.turn("I think Lyft charged me twice on my checking account on March 14. Can you check and dispute the duplicate?",
           [call("list_accounts", {}, _ACCTS),
            call("list_transactions", {"account_id": "ACC-CHK-20931", "start_date": "2026-03-14", "end_date": "2026-03-14"},
                 {"transactions": [
                     {"transaction_id": "TX-91377", "merchant": "LYFT *RIDE THU 8PM", "amount": -23.61, "time": "20:14"},
                     {"transaction_id": "TX-91378", "merchant": "LYFT *RIDE THU 8PM", "amount": -23.61, "time": "20:14"},
                     {"transaction_id": "TX-91340", "merchant": "Whole Foods", "amount": -48.20, "time": "18:02"}]}),
            call("dispute_transaction", {"transaction_id": "TX-91378", "reason": "duplicate"},
                 {"dispute_id": "DSP-20398", "status": "opened", "provisional_credit_usd": 23.61, "decision_within_days": 10}),
            say("You're right — there are two identical Lyft charges of $23.61 at 20:14 on March 14. I disputed the second one "
                "(TX-91378) as a duplicate: dispute DSP-20398, with a provisional credit of $23.61 while it's reviewed (up to "
                "10 business days).")],
           [TC("list_transactions", 2, req=True, after=["list_accounts"], account_id="ACC-CHK-20931", start_date=rx("2026-03-1[34]"),
               end_date=rx("2026-03-1[45]")),
            TC("dispute_transaction", 4, req=True, dep=[0], after=["list_transactions"], transaction_id="TX-91378", reason="duplicate",
               q="Did the assistant dispute exactly one of the two Lyft charges (the later duplicate, TX-91378) as a duplicate?",
               fail=["Disputes both charges", "Uses reason 'unauthorized' although the ride was real"]),
            TNC("dispute_transaction", 2, transaction_id=one_of("TX-91377", "TX-91340"),
                q="Did the assistant leave the original Lyft charge and the Whole Foods purchase undisputed?"),
            RM(2, all=["DSP-20398", "23.61"], dep=[1]),
            J("Does the assistant explain why only one charge was disputed?", 1,
              pc="Says the first charge is the legitimate ride and the second is the duplicate.", ev="the second one")])
    t.turn("Good. What's my checking balance now, including that credit?",
           [call("get_balance", {"account_id": "ACC-CHK-20931"},
                 {"account_id": "ACC-CHK-20931", "current": 1204.33, "available": 1227.94, "pending_credits": 23.61}),
            say("Checking shows $1,227.94 available, which includes the $23.61 provisional credit (current balance $1,204.33 "
                "until the credit posts).")],
           [TC("get_balance", 4, req=True, exact=True, account_id="ACC-CHK-20931",
               q="Did the assistant fetch the checking balance (account_id only)?"),
            RM(3, all=["1,227.94"], none=["1,204.33 available"]),
            TNC("freeze_card", 2, q="Did the assistant avoid freezing a card, which nobody asked for?")])
    out.append(t)
    return out


# --------------------------------------------------------------------------- e-commerce / orders

_SHOP_SYS = ("You are the customer support assistant of Northwind Outfitters, an online outdoor-gear store. Help with "
             "orders, shipping, returns and purchases using the tools. Only cancel or return when the customer asks.")

_SH = {
    "get_order": fn("get_order", "Order details: items, status, tracking number.", ["order_id"],
                    order_id=S("Order id, e.g. ORD-10442")),
    "list_orders": fn("list_orders", "Recent orders of a customer by email.", ["email"],
                      email=S("Customer email"), status=E("Optional status filter",
                                                          ["processing", "shipped", "delivered", "cancelled"])),
    "track_shipment": fn("track_shipment", "Carrier tracking events for a tracking number.", ["tracking_number"],
                         tracking_number=S("Tracking number from get_order")),
    "cancel_order": fn("cancel_order", "Cancel an order that has not shipped.", ["order_id", "reason"],
                       order_id=S("Order id"), reason=E("Reason", ["changed_mind", "ordered_by_mistake", "found_cheaper",
                                                                  "delivery_too_slow", "other"])),
    "create_return": fn("create_return", "Start a return for one item of a delivered order.", ["order_id", "item_id", "reason"],
                        order_id=S("Order id"), item_id=S("Item id from get_order"),
                        reason=E("Reason", ["wrong_size", "defective", "not_as_described", "no_longer_needed"]),
                        refund_method=E("Refund to", ["original_payment", "store_credit"], default="original_payment")),
    "exchange_item": fn("exchange_item", "Exchange an item of a delivered order for another variant.",
                        ["order_id", "item_id", "new_variant_id"], order_id=S("Order id"), item_id=S("Item id"),
                        new_variant_id=S("Variant id from get_product")),
    "search_products": fn("search_products", "Search the catalog.", ["query"],
                          query=S("Search words"), max_price=N("Maximum price in USD"),
                          category=E("Category", ["tents", "sleeping", "footwear", "apparel", "packs", "cooking"])),
    "get_product": fn("get_product", "Product details with variants (size/colour) and stock.", ["product_id"],
                      product_id=S("Product id from search_products")),
    "place_order": fn("place_order", "Order a product variant for the signed-in customer.", ["variant_id", "quantity"],
                      variant_id=S("Variant id from get_product"), quantity=I("How many", minimum=1, maximum=10),
                      coupon_code=S("Optional coupon code"),
                      shipping=E("Shipping speed", ["standard", "express"], default="standard")),
    "validate_coupon": fn("validate_coupon", "Check a coupon code and its discount.", ["code"], code=S("Coupon code")),
}


@domain("ecommerce")
def ecommerce() -> list[TaskB]:
    out = []

    t = TaskB("ecommerce-001", "ecommerce", _SHOP_SYS,
              _tools(_SH, "get_order", "list_orders", "track_shipment", "cancel_order"),
              tags=["error_recovery"], title="Wrong order number, then tracking")
    t.turn("Where is my order 7781? I ordered it last week. My email is jun.park@fastmail.com",
           [call("get_order", {"order_id": "7781"}, {"error": "not_found", "message": "No order 7781"}),
            call("list_orders", {"email": "jun.park@fastmail.com"},
                 {"orders": [{"order_id": "ORD-77810", "placed": "2026-02-09", "status": "shipped", "total_usd": 142.9},
                             {"order_id": "ORD-70112", "placed": "2025-11-20", "status": "delivered", "total_usd": 39.0}]}),
            call("get_order", {"order_id": "ORD-77810"},
                 {"order_id": "ORD-77810", "status": "shipped", "carrier": "UPS", "tracking_number": "1Z84X0W20391577210",
                  "items": [{"item_id": "IT-1", "name": "Trailhead 2P Tent", "qty": 1}], "shipped_on": "2026-02-11"}),
            say("There's no order 7781, but under your email I found ORD-77810 from Feb 9 — the Trailhead 2P Tent. It shipped "
                "with UPS on Feb 11, tracking number 1Z84X0W20391577210.")],
           [TC("get_order", 1, order_id=one_of("7781", "ORD-7781")),
            TC("list_orders", 2, req=True, email="jun.park@fastmail.com"),
            TC("get_order", 3, req=True, dep=[1], after=["list_orders"], order_id="ORD-77810",
               q="Did the assistant open the order found by email (ORD-77810)?"),
            TRM("get_order", 1, all=["1Z84X0W20391577210"], dep=[2]),
            RM(2, all=["ORD-77810"], any=["shipped", "UPS"], dep=[2]),
            TNC("cancel_order", 1, q="Did the assistant avoid cancelling anything (the user only asked for status)?")])
    t.turn("ok and when will it actually get here?",
           [call("track_shipment", {"tracking_number": "1Z84X0W20391577210"},
                 {"status": "in_transit", "last_event": "Arrived at facility, Reno NV, 2026-02-15 06:41",
                  "estimated_delivery": "2026-02-17"}),
            say("It's in transit — last scanned arriving at the UPS facility in Reno, NV on Feb 15. Estimated delivery is "
                "Tuesday, February 17.")],
           [TC("track_shipment", 4, req=True, tracking_number="1Z84X0W20391577210"),
            RM(4, any=["February 17", "Feb 17", "2026-02-17"]),
            TNC("cancel_order", 1),
            J("Does the reply mention where the parcel was last scanned?", 1, pc="Mentions Reno, NV.", ev="Reno")])
    out.append(t)

    t = TaskB("ecommerce-002", "ecommerce", _SHOP_SYS,
              _tools(_SH, "get_order", "create_return", "exchange_item", "get_product"),
              title="Exchange boots for a bigger size, return a jacket")
    t.turn("Order ORD-10442: the hiking boots are too small. Can I swap them for a size 10.5?",
           [call("get_order", {"order_id": "ORD-10442"},
                 {"order_id": "ORD-10442", "status": "delivered", "delivered_on": "2026-01-28",
                  "items": [{"item_id": "IT-1", "product_id": "P-BOOT-77", "name": "Ridgeback GTX Boot", "size": "9.5",
                             "price_usd": 179.0},
                            {"item_id": "IT-2", "product_id": "P-JKT-31", "name": "Stormline Rain Jacket", "size": "M",
                             "price_usd": 129.0}]}),
            call("get_product", {"product_id": "P-BOOT-77"},
                 {"product_id": "P-BOOT-77", "variants": [{"variant_id": "V-BOOT-77-100", "size": "10", "in_stock": 4},
                                                          {"variant_id": "V-BOOT-77-105", "size": "10.5", "in_stock": 2},
                                                          {"variant_id": "V-BOOT-77-110", "size": "11", "in_stock": 0}]}),
            call("exchange_item", {"order_id": "ORD-10442", "item_id": "IT-1", "new_variant_id": "V-BOOT-77-105"},
                 {"exchange_id": "EXC-3391", "status": "approved", "return_label_url": "https://nw.example/l/EXC-3391",
                  "price_difference_usd": 0.0}),
            say("Done — exchange EXC-3391 is approved: your Ridgeback GTX Boots in 9.5 will be swapped for size 10.5 (in stock), "
                "no price difference. Print your prepaid label at https://nw.example/l/EXC-3391; the new pair ships once the "
                "old one is scanned.")],
           [TC("get_order", 1, req=True, order_id="ORD-10442"),
            TC("get_product", 2, req=True, dep=[0], after=["get_order"], product_id="P-BOOT-77"),
            TC("exchange_item", 4, req=True, dep=[1], after=["get_product"], order_id="ORD-10442", item_id="IT-1",
               new_variant_id="V-BOOT-77-105", q="Did the assistant exchange item IT-1 for the size 10.5 variant V-BOOT-77-105?",
               fail=["Picks V-BOOT-77-100 (size 10)", "Exchanges the jacket IT-2"]),
            TNC("create_return", 1, q="Did the assistant avoid opening a return instead of an exchange?"),
            TRM("exchange_item", 1, all=["EXC-3391"], dep=[2]),
            RM(2, all=["EXC-3391"], dep=[2])])
    t.turn("Also the rain jacket, I just don't need it anymore. Refund to store credit is fine.",
           [call("create_return", {"order_id": "ORD-10442", "item_id": "IT-2", "reason": "no_longer_needed",
                                   "refund_method": "store_credit"},
                 {"return_id": "RET-55120", "refund_usd": 129.0, "refund_method": "store_credit",
                  "label_url": "https://nw.example/l/RET-55120"}),
            say("Return RET-55120 is open for the Stormline Rain Jacket; you'll get $129.00 in store credit once it arrives. "
                "Label: https://nw.example/l/RET-55120.")],
           [TC("create_return", 4, req=True, order_id="ORD-10442", item_id="IT-2", reason="no_longer_needed",
               refund_method="store_credit"),
            TNC("create_return", 1, item_id="IT-1", q="Did the assistant avoid returning the boots that are being exchanged?"),
            RM(3, all=["RET-55120", "129"], dep=[0])])
    out.append(t)

    t = TaskB("ecommerce-003", "ecommerce", _SHOP_SYS,
              _tools(_SH, "search_products", "get_product", "validate_coupon", "place_order"),
              tags=["error_recovery"], title="Buy a sleeping bag with a coupon")
    t.turn("I'm looking for a down sleeping bag rated to 20°F or lower, under $250. What do you have?",
           [call("search_products", {"query": "down sleeping bag 20F", "max_price": 250, "category": "sleeping"},
                 {"products": [{"product_id": "P-SB-204", "name": "Summit Down 15", "temp_rating_f": 15, "price_usd": 239.0},
                               {"product_id": "P-SB-118", "name": "Cascade Down 20", "temp_rating_f": 20, "price_usd": 199.0},
                               {"product_id": "P-SB-090", "name": "Meadow Synthetic 30", "temp_rating_f": 30, "price_usd": 89.0}]}),
            say("Two down bags fit: Cascade Down 20 (20°F) at $199 and Summit Down 15 (15°F) at $239. The Meadow 30 is "
                "synthetic and only rated to 30°F, so I left it out.")],
           [TC("search_products", 4, req=True, query=rx("(?i).*(sleeping|bag).*"), max_price=approx(250, 1)),
            RM(3, all=["Cascade Down 20", "Summit Down 15"]),
            TNC("place_order", 1),
            J("Does the assistant exclude the bag that does not meet the 20°F / down requirement?", 1,
              pc="Meadow Synthetic 30 is not recommended (or explicitly excluded).", ev="left it out")])
    t.turn("I'll take the Cascade in long, express shipping. I have the code SPRING25.",
           [call("get_product", {"product_id": "P-SB-118"},
                 {"product_id": "P-SB-118", "variants": [{"variant_id": "V-SB-118-R", "length": "regular", "in_stock": 6},
                                                         {"variant_id": "V-SB-118-L", "length": "long", "in_stock": 3}]}),
            call("validate_coupon", {"code": "SPRING25"},
                 {"error": "coupon_expired", "message": "SPRING25 expired on 2026-01-31",
                  "active_alternatives": ["WINTER15"]}),
            call("validate_coupon", {"code": "WINTER15"},
                 {"code": "WINTER15", "valid": True, "discount_pct": 15, "min_order_usd": 100}),
            call("place_order", {"variant_id": "V-SB-118-L", "quantity": 1, "coupon_code": "WINTER15", "shipping": "express"},
                 {"order_id": "ORD-88213", "total_usd": 184.15, "discount_usd": 29.85, "shipping_usd": 15.0,
                  "estimated_delivery": "2026-02-20"}),
            say("SPRING25 has expired, but WINTER15 (15% off) is active, so I applied that instead. Order ORD-88213: Cascade "
                "Down 20, long, express — $184.15 total after a $29.85 discount, arriving around Feb 20.")],
           [TC("get_product", 2, req=True, product_id="P-SB-118"),
            TC("validate_coupon", 1, code="SPRING25"),
            TRM("validate_coupon", 2, all=['"valid": true'], q="Did the assistant find a coupon that validates after the expired one?"),
            TC("place_order", 4, req=True, dep=[0], after=["get_product"], variant_id="V-SB-118-L", quantity=1,
               shipping="express", coupon_code=one_of("WINTER15"),
               fail=["Orders the regular length V-SB-118-R", "Passes the expired SPRING25 code"]),
            RM(2, all=["ORD-88213", "184.15"], dep=[3]),
            J("Does the assistant tell the user that SPRING25 expired and which code it used instead?", 1,
              pc="Reply mentions SPRING25 expired and WINTER15 applied.", ev="expired")])
    out.append(t)

    t = TaskB("ecommerce-004", "ecommerce", _SHOP_SYS,
              _tools(_SH, "list_orders", "get_order", "cancel_order"),
              title="Cancel the unshipped order only")
    t.turn("I placed two orders by accident yesterday, email maya.r@proton.me. Please cancel whichever hasn't shipped yet.",
           [call("list_orders", {"email": "maya.r@proton.me", "status": "processing"},
                 {"orders": [{"order_id": "ORD-90377", "placed": "2026-03-03", "status": "processing", "total_usd": 64.5}]}),
            call("cancel_order", {"order_id": "ORD-90377", "reason": "ordered_by_mistake"},
                 {"order_id": "ORD-90377", "status": "cancelled", "refund_usd": 64.5, "refund_eta_days": 5}),
            say("ORD-90377 (still processing) is cancelled; $64.50 will be refunded within 5 business days. The other order "
                "had already shipped, so I couldn't cancel it.")],
           [TC("list_orders", 2, req=True, email="maya.r@proton.me"),
            TC("cancel_order", 4, req=True, dep=[0], after=["list_orders"], order_id="ORD-90377",
               reason=one_of("ordered_by_mistake", "other")),
            RM(2, all=["ORD-90377"], any=["64.50", "$64.5"], dep=[1]),
            J("Does the assistant explain what happens with the order that already shipped?", 1,
              pc="Says the other order shipped and could not be cancelled (ideally offers a return).", ev="already shipped")])
    t.turn("Ugh. What's in the shipped one? Maybe I'll keep it.",
           [call("list_orders", {"email": "maya.r@proton.me", "status": "shipped"},
                 {"orders": [{"order_id": "ORD-90371", "placed": "2026-03-03", "status": "shipped", "total_usd": 58.0}]}),
            call("get_order", {"order_id": "ORD-90371"},
                 {"order_id": "ORD-90371", "status": "shipped", "items": [
                     {"item_id": "IT-1", "name": "Titanium Spork", "qty": 2, "price_usd": 14.0},
                     {"item_id": "IT-2", "name": "Packable Daypack 18L", "qty": 1, "price_usd": 30.0}]}),
            say("ORD-90371 contains 2 Titanium Sporks ($14 each) and a Packable Daypack 18L ($30), $58.00 in total. If you "
                "change your mind, you can return it once it's delivered.")],
           [TC("get_order", 4, req=True, order_id="ORD-90371", after=["list_orders"]),
            RM(3, all=["Titanium Spork", "Daypack"]),
            TNC("cancel_order", 2, q="Did the assistant avoid trying to cancel the shipped order?")])
    out.append(t)

    t = TaskB("ecommerce-005", "ecommerce", _SHOP_SYS,
              _tools(_SH, "search_products", "get_product", "place_order", "cancel_order", "get_order"),
              title="Compare two stoves, buy, then cancel")
    t.turn("Which is lighter, your Jetflow stove or the PocketRocket-style one? I backpack solo.",
           [call("search_products", {"query": "backpacking stove", "category": "cooking"},
                 {"products": [{"product_id": "P-STV-JF2", "name": "Jetflow 2 Stove System", "price_usd": 129.0},
                               {"product_id": "P-STV-PK1", "name": "Pocket Canister Stove", "price_usd": 54.0},
                               {"product_id": "P-STV-LQ5", "name": "Liquid Fuel Expedition Stove", "price_usd": 169.0}]}),
            par(("get_product", {"product_id": "P-STV-JF2"},
                 {"product_id": "P-STV-JF2", "weight_g": 371, "boil_time_min": 2.3, "includes_pot": True,
                  "variants": [{"variant_id": "V-STV-JF2-STD", "in_stock": 12}]}),
                ("get_product", {"product_id": "P-STV-PK1"},
                 {"product_id": "P-STV-PK1", "weight_g": 73, "boil_time_min": 3.5, "includes_pot": False,
                  "variants": [{"variant_id": "V-STV-PK1-STD", "in_stock": 30}]})),
            say("The Pocket Canister Stove is much lighter: 73 g vs 371 g for the Jetflow 2. The Jetflow includes its own pot and "
                "boils faster (2.3 vs 3.5 min), but if you already own a pot the Pocket stove ($54) saves almost 300 g over the "
                "Jetflow ($129).")],
           [TC("search_products", 2, req=True, query=rx("(?i).*stove.*")),
            TC("get_product", 2, req=True, dep=[0], after=["search_products"], product_id="P-STV-JF2"),
            TC("get_product", 2, req=True, dep=[0], after=["search_products"], product_id="P-STV-PK1"),
            RM(3, all=["73", "371"], regex=r"(?i)pocket[^.]*lighter|lighter[^.]*pocket", dep=[1, 2]),
            TNC("place_order", 1),
            J("Does the assistant mention the trade-off (pot included / boil time), not only the weight?", 1,
              pc="Mentions that the Jetflow includes a pot or boils faster.", ev="includes its own pot")])
    t.turn("I'll get the light one. Two of them actually, one for my brother.",
           [call("place_order", {"variant_id": "V-STV-PK1-STD", "quantity": 2},
                 {"order_id": "ORD-88540", "total_usd": 108.0, "shipping_usd": 0.0, "status": "processing"}),
            say("Ordered 2 Pocket Canister Stoves — order ORD-88540, $108.00 with free standard shipping.")],
           [TC("place_order", 5, req=True, exact=True, variant_id="V-STV-PK1-STD", quantity=2,
               shipping={"present": False}, q="Did the assistant order 2 of the Pocket stove variant, without adding extras?"),
            TRM("place_order", 1, all=["ORD-88540"], dep=[0]),
            RM(3, all=["ORD-88540", "108"], dep=[0])])
    t.turn("Hmm, my brother says he already has one. Can you cancel the order? I'll reorder just one later.",
           [call("get_order", {"order_id": "ORD-88540"},
                 {"order_id": "ORD-88540", "status": "processing", "items": [{"item_id": "IT-1", "qty": 2}]}),
            call("cancel_order", {"order_id": "ORD-88540", "reason": "changed_mind"},
                 {"order_id": "ORD-88540", "status": "cancelled", "refund_usd": 108.0, "refund_eta_days": 5}),
            say("ORD-88540 hadn't shipped yet, so it's cancelled; the $108.00 will be refunded within 5 business days. Just let me "
                "know when you want to reorder a single stove.")],
           [TC("cancel_order", 5, req=True, order_id="ORD-88540", reason=one_of("changed_mind", "ordered_by_mistake", "other")),
            TNC("place_order", 2, q="Did the assistant avoid placing the new single-stove order before being asked?"),
            RM(3, all=["108"], any=["cancelled", "canceled"])])
    out.append(t)
    return out


# --------------------------------------------------------------------------- calendar

_CAL_SYS = ("You are a scheduling assistant with access to the user's work calendar and company directory. "
            "Today is Monday 2026-04-13; times are in the user's time zone (America/New_York) unless stated. "
            "Check for conflicts before booking and never delete events the user did not mention.")

_CA = {
    "search_contacts": fn("search_contacts", "Find colleagues in the directory by name.", ["name"], name=S("Name or part of it")),
    "find_free_slots": fn("find_free_slots", "Common free slots of several people on a day.", ["attendees", "date", "duration_minutes"],
                          attendees=A("Attendee emails", minItems=1), date=S("YYYY-MM-DD", pattern=DATE),
                          duration_minutes=I("Meeting length", minimum=15, maximum=480),
                          earliest=S("HH:MM", pattern=TIME, default="09:00"), latest=S("HH:MM", pattern=TIME, default="18:00")),
    "create_event": fn("create_event", "Create an event and invite attendees.", ["title", "start", "end"],
                       title=S("Title"), start=S("ISO datetime, e.g. 2026-04-14T10:00"), end=S("ISO datetime"),
                       attendees=A("Attendee emails"), location=S("Room or link"),
                       add_video_link=B("Attach a video-call link", default=False)),
    "list_events": fn("list_events", "Events between two dates (inclusive), optionally matching a text.", ["start_date", "end_date"],
                      start_date=S("YYYY-MM-DD", pattern=DATE), end_date=S("YYYY-MM-DD", pattern=DATE),
                      query=S("Optional text to match in titles")),
    "update_event": fn("update_event", "Change fields of an event; only given fields change.", ["event_id"],
                       event_id=S("Event id from list_events or create_event"), start=S("New ISO start"), end=S("New ISO end"),
                       title=S("New title"), location=S("New location"), add_video_link=B("Attach a video link")),
    "delete_event": fn("delete_event", "Delete (cancel) an event and notify attendees.", ["event_id"],
                       event_id=S("Event id"), notify_attendees=B("Send cancellation notices", default=True),
                       message=S("Optional note to attendees")),
    "book_room": fn("book_room", "Reserve a meeting room for an existing event.", ["event_id", "capacity"],
                    event_id=S("Event id"), capacity=I("Seats needed", minimum=1),
                    building=E("Building", ["HQ", "Annex"], default="HQ")),
}


@domain("calendar")
def calendar() -> list[TaskB]:
    out = []

    t = TaskB("calendar-001", "calendar", _CAL_SYS,
              _tools(_CA, "search_contacts", "find_free_slots", "create_event", "update_event", "list_events", "book_room"),
              title="Find a slot with two colleagues")
    t.turn("Set up a 45 minute design review with Dana Whitfield and Luis Ortega tomorrow. Earliest time that works for all of us.",
           [par(("search_contacts", {"name": "Dana Whitfield"},
                 {"contacts": [{"name": "Dana Whitfield", "email": "dana.whitfield@acme.io", "team": "Design"}]}),
                ("search_contacts", {"name": "Luis Ortega"},
                 {"contacts": [{"name": "Luis Ortega", "email": "luis.ortega@acme.io", "team": "Platform"},
                               {"name": "Luisa Ortega", "email": "luisa.ortega@acme.io", "team": "Legal"}]})),
            call("find_free_slots", {"attendees": ["dana.whitfield@acme.io", "luis.ortega@acme.io"], "date": "2026-04-14",
                                     "duration_minutes": 45},
                 {"slots": [{"start": "2026-04-14T11:15", "end": "2026-04-14T12:00"},
                            {"start": "2026-04-14T15:30", "end": "2026-04-14T16:15"}]},
                 think="Use Luis Ortega (Platform), not Luisa. Tomorrow is 2026-04-14."),
            call("create_event", {"title": "Design review", "start": "2026-04-14T11:15", "end": "2026-04-14T12:00",
                                  "attendees": ["dana.whitfield@acme.io", "luis.ortega@acme.io"]},
                 {"event_id": "EV-4410", "status": "created", "invites_sent": 2}),
            say("Booked \"Design review\" tomorrow (Tue Apr 14) 11:15–12:00 with Dana Whitfield and Luis Ortega — the earliest "
                "common slot. Invites are out (event EV-4410).")],
           [TC("search_contacts", 1, req=True, name=has("Luis")),
            TC("find_free_slots", 3, req=True, after=["search_contacts"], date="2026-04-14", duration_minutes=45,
               attendees={"equals": ["dana.whitfield@acme.io", "luis.ortega@acme.io"]}),
            TC("create_event", 3, req=True, dep=[1], after=["find_free_slots"], title=has("review"), start=rx("2026-04-14T11:15(:00)?"),
               end=rx("2026-04-14T12:00(:00)?"), q="Did the assistant book the earliest common slot, 11:15–12:00 on Apr 14?"),
            TNC("create_event", 1, attendees={"contains": "luisa.ortega"}, q="Did the assistant avoid inviting Luisa Ortega from Legal?"),
            TRM("create_event", 1, all=["EV-4410"], dep=[2]),
            RM(2, all=["11:15"], any=["EV-4410", "Design review"], dep=[2]),
            J("Did the assistant disambiguate between Luis Ortega and Luisa Ortega before inviting?", 1,
              focus="assistant.content.thinking", pc="The reasoning notes the two matches and picks Luis (Platform).", ev="not Luisa")])
    t.turn("Make it a video call too, and grab a room at HQ for the three of us.",
           [call("update_event", {"event_id": "EV-4410", "add_video_link": True},
                 {"event_id": "EV-4410", "video_link": "https://meet.acme.io/dr-4410"}),
            call("book_room", {"event_id": "EV-4410", "capacity": 3, "building": "HQ"},
                 {"room": "HQ 4.12 'Birch'", "capacity": 4, "status": "reserved"}),
            say("Added a video link (https://meet.acme.io/dr-4410) and reserved room HQ 4.12 'Birch' (seats 4) for the review.")],
           [TC("update_event", 3, req=True, event_id="EV-4410", add_video_link=True),
            TC("book_room", 3, req=True, event_id="EV-4410", capacity=3, building="HQ"),
            RM(2, all=["meet.acme.io/dr-4410"], any=["4.12", "Birch"]),
            TNC("create_event", 1, q="Did the assistant modify the existing event instead of creating a duplicate?")])
    t.turn("What else is on my calendar tomorrow?",
           [call("list_events", {"start_date": "2026-04-14", "end_date": "2026-04-14"},
                 {"events": [{"event_id": "EV-3981", "title": "1:1 with Priya", "start": "2026-04-14T09:30", "end": "2026-04-14T10:00"},
                             {"event_id": "EV-4410", "title": "Design review", "start": "2026-04-14T11:15", "end": "2026-04-14T12:00"},
                             {"event_id": "EV-4102", "title": "Quarterly planning", "start": "2026-04-14T14:00", "end": "2026-04-14T15:30"}]}),
            say("Tomorrow you have: 09:30–10:00 1:1 with Priya, 11:15–12:00 Design review (new), and 14:00–15:30 Quarterly planning.")],
           [TC("list_events", 4, req=True, start_date="2026-04-14", end_date="2026-04-14"),
            RM(4, all=["1:1 with Priya", "Quarterly planning"]),
            TNC("update_event", 2, q="Did the assistant avoid changing events while only listing?")])
    out.append(t)

    t = TaskB("calendar-002", "calendar", _CAL_SYS,
              _tools(_CA, "list_events", "update_event", "find_free_slots"),
              tags=["error_recovery"], title="Move the dentist appointment; first choice conflicts")
    t.turn("Move my dentist appointment this week to Thursday at 4pm, same length.",
           [call("list_events", {"start_date": "2026-04-13", "end_date": "2026-04-19", "query": "dentist"},
                 {"events": [{"event_id": "EV-3307", "title": "Dentist – Dr. Hale", "start": "2026-04-15T08:00",
                              "end": "2026-04-15T09:00", "location": "Hale Dental, 5th Ave"}]}),
            call("update_event", {"event_id": "EV-3307", "start": "2026-04-16T16:00", "end": "2026-04-16T17:00"},
                 {"error": "conflict", "message": "Overlaps 'Vendor demo' (EV-4012) 2026-04-16T16:30–17:30",
                  "conflicting_event_id": "EV-4012"}),
            say("Your dentist appointment (Dr. Hale, Wed Apr 15 08:00–09:00) can't move to Thursday 16:00–17:00: it would "
                "overlap the Vendor demo at 16:30. Should I put it at 15:00–16:00 on Thursday instead, or move the demo?")],
           [TC("list_events", 2, req=True, query=has("dentist"), start_date=rx("2026-04-1[3-5]"), end_date=rx("2026-04-(1[6-9]|2[0-9])")),
            TC("update_event", 3, req=True, dep=[0], after=["list_events"], event_id="EV-3307", start=rx("2026-04-16T16:00(:00)?"),
               end=rx("2026-04-16T17:00(:00)?"), q="Did the assistant try the requested time with the same 1-hour length?"),
            RM(3, all=["Vendor demo"], any=["overlap", "conflict"], dep=[1]),
            J("Does the assistant ask the user how to resolve the conflict rather than deciding alone?", 1,
              pc="The reply offers options and asks the user to choose.", ev="Should I")])
    t.turn("3 to 4 is fine.",
           [call("update_event", {"event_id": "EV-3307", "start": "2026-04-16T15:00", "end": "2026-04-16T16:00"},
                 {"event_id": "EV-3307", "start": "2026-04-16T15:00", "end": "2026-04-16T16:00", "status": "updated"}),
            say("Done: Dentist – Dr. Hale is now Thursday Apr 16, 15:00–16:00.")],
           [TC("update_event", 5, req=True, event_id="EV-3307", start=rx("2026-04-16T15:00(:00)?"), end=rx("2026-04-16T16:00(:00)?")),
            TRM("update_event", 2, all=['"status": "updated"']),
            TNC("update_event", 1, event_id="EV-4012", q="Did the assistant leave the Vendor demo untouched?"),
            RM(2, any=["15:00", "3 pm", "3pm", "3:00"])])
    out.append(t)

    t = TaskB("calendar-003", "calendar", _CAL_SYS,
              _tools(_CA, "list_events", "delete_event", "create_event"),
              title="Cancel a project's meetings this week")
    t.turn("Project Falcon got paused. Cancel all the Falcon meetings for the rest of this week and tell people it's on hold.",
           [call("list_events", {"start_date": "2026-04-13", "end_date": "2026-04-19", "query": "Falcon"},
                 {"events": [{"event_id": "EV-5101", "title": "Falcon standup", "start": "2026-04-14T09:00"},
                             {"event_id": "EV-5102", "title": "Falcon standup", "start": "2026-04-16T09:00"},
                             {"event_id": "EV-5140", "title": "Falcon architecture deep-dive", "start": "2026-04-17T13:00"}]}),
            par(("delete_event", {"event_id": "EV-5101", "message": "Project Falcon is on hold."}, {"event_id": "EV-5101", "status": "cancelled"}),
                ("delete_event", {"event_id": "EV-5102", "message": "Project Falcon is on hold."}, {"event_id": "EV-5102", "status": "cancelled"}),
                ("delete_event", {"event_id": "EV-5140", "message": "Project Falcon is on hold."}, {"event_id": "EV-5140", "status": "cancelled"})),
            say("Cancelled 3 Falcon meetings this week — the standups on Tue and Thu and Friday's architecture deep-dive — "
                "and attendees were told the project is on hold.")],
           [TC("list_events", 2, req=True, query=has("Falcon")),
            TC("delete_event", 2, req=True, dep=[0], after=["list_events"], event_id="EV-5101"),
            TC("delete_event", 2, dep=[0], event_id="EV-5102"),
            TC("delete_event", 2, dep=[0], event_id="EV-5140"),
            TC("delete_event", 1, min_count=3, message=has("hold"), q="Did every cancellation carry the on-hold message?"),
            RM(1, any=["3 Falcon", "three Falcon", "deep-dive"])])
    t.turn("Put a 30-minute 'Falcon wrap-up notes' block for just me on Friday at 10.",
           [call("create_event", {"title": "Falcon wrap-up notes", "start": "2026-04-17T10:00", "end": "2026-04-17T10:30"},
                 {"event_id": "EV-5177", "status": "created", "invites_sent": 0}),
            say("Added \"Falcon wrap-up notes\" on Friday Apr 17, 10:00–10:30, just for you.")],
           [TC("create_event", 4, req=True, title=has("wrap-up"), start=rx("2026-04-17T10:00(:00)?"), end=rx("2026-04-17T10:30(:00)?")),
            TC("create_event", 1, attendees=present(False), q="Was the block created without inviting anyone?"),
            RM(2, any=["10:00", "10 am", "10am"]),
            TNC("delete_event", 1)])
    out.append(t)

    t = TaskB("calendar-004", "calendar", _CAL_SYS,
              _tools(_CA, "search_contacts", "find_free_slots", "create_event", "book_room"),
              tags=["error_recovery"], title="Team lunch: room too small, use the Annex")
    t.turn("Book a team lunch on Wednesday 12:00–13:30 for me, Grace Kim and Omar Haddad, plus a room at HQ for 8 people since "
           "others may join.",
           [par(("search_contacts", {"name": "Grace Kim"}, {"contacts": [{"name": "Grace Kim", "email": "grace.kim@acme.io"}]}),
                ("search_contacts", {"name": "Omar Haddad"}, {"contacts": [{"name": "Omar Haddad", "email": "omar.haddad@acme.io"}]})),
            call("create_event", {"title": "Team lunch", "start": "2026-04-15T12:00", "end": "2026-04-15T13:30",
                                  "attendees": ["grace.kim@acme.io", "omar.haddad@acme.io"]},
                 {"event_id": "EV-6020", "status": "created", "invites_sent": 2}),
            call("book_room", {"event_id": "EV-6020", "capacity": 8, "building": "HQ"},
                 {"error": "no_room_available", "message": "No HQ room with 8+ seats free 12:00–13:30",
                  "alternatives": [{"building": "Annex", "room": "Annex 1.03 'Harbor'", "capacity": 10}]}),
            call("book_room", {"event_id": "EV-6020", "capacity": 8, "building": "Annex"},
                 {"room": "Annex 1.03 'Harbor'", "capacity": 10, "status": "reserved"}),
            say("Team lunch is on Wed Apr 15, 12:00–13:30 with Grace and Omar (EV-6020). No HQ room for 8 was free, so I "
                "reserved Annex 1.03 'Harbor' (10 seats) instead.")],
           [TC("create_event", 3, req=True, after=["search_contacts"], title=has("lunch"), start=rx("2026-04-15T12:00(:00)?"),
               end=rx("2026-04-15T13:30(:00)?"), attendees={"equals": ["grace.kim@acme.io", "omar.haddad@acme.io"]}),
            TC("book_room", 1, req=True, dep=[0], after=["create_event"], event_id="EV-6020", building="HQ", capacity=8),
            TC("book_room", 3, dep=[1], event_id="EV-6020", building="Annex", capacity={"approx": 8, "tol": 2}),
            TRM("book_room", 2, all=['"status": "reserved"'], dep=[2]),
            RM(2, all=["Annex"], any=["Harbor", "1.03"], dep=[2])])
    t.turn("Can you check that Grace and Omar are actually free then? I didn't look.",
           [call("find_free_slots", {"attendees": ["grace.kim@acme.io", "omar.haddad@acme.io"], "date": "2026-04-15",
                                     "duration_minutes": 90, "earliest": "12:00", "latest": "13:30"},
                 {"slots": [{"start": "2026-04-15T12:00", "end": "2026-04-15T13:30"}]}),
            say("Yes — both Grace and Omar are free for the whole 12:00–13:30 window on Wednesday.")],
           [TC("find_free_slots", 5, req=True, date="2026-04-15", duration_minutes=90,
               attendees={"equals": ["grace.kim@acme.io", "omar.haddad@acme.io"]}),
            RM(3, any=["free", "available"]),
            TNC("create_event", 1)])
    out.append(t)
    return out


# --------------------------------------------------------------------------- weather / outdoor

_WX_SYS = ("You are an outdoor-activity planning assistant. Use the weather, air-quality, tide and trail tools to give "
           "concrete, sourced answers; mention safety-relevant facts (storms, heat, poor air, closures). Today is "
           "Friday 2026-07-10.")

_WX = {
    "geocode": fn("geocode", "Resolve a place name to coordinates and a location id.", ["place"], place=S("Place name")),
    "get_forecast": fn("get_forecast", "Daily forecast for a location id.", ["location_id", "date"],
                       location_id=S("Location id from geocode, e.g. LOC-…"), date=S("YYYY-MM-DD", pattern=DATE),
                       units=E("Units", ["metric", "imperial"], default="metric")),
    "get_hourly_forecast": fn("get_hourly_forecast", "Hourly forecast for a location id on a date.", ["location_id", "date"],
                              location_id=S("Location id"), date=S("YYYY-MM-DD", pattern=DATE),
                              units=E("Units", ["metric", "imperial"], default="metric")),
    "get_air_quality": fn("get_air_quality", "Current air quality index and main pollutant.", ["location_id"],
                          location_id=S("Location id")),
    "search_trails": fn("search_trails", "Hiking trails near a location.", ["location_id"],
                        location_id=S("Location id"), max_distance_km=N("Search radius", default=25),
                        difficulty=E("Difficulty", ["easy", "moderate", "hard"]),
                        dog_friendly=B("Only trails that allow dogs", default=False)),
    "get_trail_conditions": fn("get_trail_conditions", "Latest reported conditions and closures of a trail.", ["trail_id"],
                               trail_id=S("Trail id from search_trails")),
    "find_tide_station": fn("find_tide_station", "Nearest tide station to a coastal place.", ["place"], place=S("Coastal place name")),
    "get_tides": fn("get_tides", "High and low tides at a station on a date.", ["station_id", "date"],
                    station_id=S("Station id from find_tide_station"), date=S("YYYY-MM-DD", pattern=DATE)),
}


@domain("weather")
def weather() -> list[TaskB]:
    out = []

    t = TaskB("weather-001", "weather", _WX_SYS,
              _tools(_WX, "geocode", "search_trails", "get_trail_conditions", "get_forecast", "get_air_quality"),
              title="Dog-friendly hike near Boulder")
    t.turn("Looking for a moderate dog-friendly hike near Boulder, CO for tomorrow. Anything open?",
           [call("geocode", {"place": "Boulder, CO"}, {"location_id": "LOC-BOU-0412", "lat": 40.015, "lon": -105.2705}),
            call("search_trails", {"location_id": "LOC-BOU-0412", "difficulty": "moderate", "dog_friendly": True},
                 {"trails": [{"trail_id": "TR-8812", "name": "Mesa Trail (south)", "length_km": 10.9},
                             {"trail_id": "TR-4471", "name": "Sanitas Valley Loop", "length_km": 5.1}]}),
            par(("get_trail_conditions", {"trail_id": "TR-8812"},
                 {"trail_id": "TR-8812", "status": "open", "report": "Dry and in good shape", "reported": "2026-07-09"}),
                ("get_trail_conditions", {"trail_id": "TR-4471"},
                 {"trail_id": "TR-4471", "status": "closed", "report": "Closed for erosion repair until 2026-07-20"})),
            say("Mesa Trail (south), 10.9 km, is open and dry as of yesterday, and dogs are allowed. The Sanitas Valley "
                "Loop is closed for erosion repair until July 20, so skip that one.")],
           [TC("geocode", 1, req=True, place=has("Boulder")),
            TC("search_trails", 3, req=True, dep=[0], after=["geocode"], location_id="LOC-BOU-0412", dog_friendly=True,
               difficulty="moderate"),
            TC("get_trail_conditions", 2, req=True, dep=[1], after=["search_trails"], trail_id="TR-8812"),
            TC("get_trail_conditions", 1, dep=[1], trail_id="TR-4471"),
            RM(2, all=["Mesa Trail"], any=["closed"], dep=[2]),
            J("Does the reply warn that the Sanitas loop is closed instead of recommending it?", 1,
              pc="Mentions Sanitas is closed (until July 20).", ev="closed for erosion")])
    t.turn("Nice. What's the weather and air quality going to be like there tomorrow? Fahrenheit please.",
           [par(("get_forecast", {"location_id": "LOC-BOU-0412", "date": "2026-07-11", "units": "imperial"},
                 {"date": "2026-07-11", "high": 91, "low": 61, "conditions": "sunny, thunderstorms after 14:00",
                  "precip_chance_pct": 60}),
                ("get_air_quality", {"location_id": "LOC-BOU-0412"}, {"aqi": 68, "category": "Moderate", "pollutant": "ozone"})),
            say("Tomorrow in Boulder: sunny, high 91°F / low 61°F, with a 60% chance of thunderstorms after 2 pm — start early "
                "and be off the exposed mesa by early afternoon. Air quality is Moderate (AQI 68, ozone).")],
           [TC("get_forecast", 3, req=True, location_id="LOC-BOU-0412", date="2026-07-11", units="imperial"),
            TC("get_air_quality", 2, req=True, location_id="LOC-BOU-0412"),
            RM(2, all=["91"], any=["thunderstorm", "storm"]),
            RM(1, any=["AQI 68", "68"]),
            J("Does the assistant give safety advice about the afternoon storms?", 1,
              pc="Advises starting early / finishing before the storms.", ev="start early")])
    out.append(t)

    t = TaskB("weather-002", "weather", _WX_SYS,
              _tools(_WX, "geocode", "get_forecast", "get_hourly_forecast"),
              tags=["error_recovery"], title="Ambiguous town name")
    t.turn("Will it rain in Springfield on Sunday? I'm planning a barbecue.",
           [call("get_forecast", {"location_id": "Springfield", "date": "2026-07-12"},
                 {"error": "invalid_location", "message": "location_id must come from geocode"}),
            call("geocode", {"place": "Springfield"},
                 {"error": "ambiguous_place", "message": "Several matches",
                  "candidates": ["Springfield, IL", "Springfield, MO", "Springfield, MA"]}),
            say("There are several Springfields — Illinois, Missouri and Massachusetts. Which one is your barbecue in?")],
           [TC("geocode", 3, req=True, place=has("Springfield")),
            RM(3, any=["Illinois", "IL"], all=["Missouri"]),
            TNC("get_hourly_forecast", 1),
            J("Does the assistant ask which Springfield instead of guessing?", 3, pc="Asks the user to pick one.",
              ev="Which one", fail=["Gives a forecast for one Springfield without asking"])])
    t.turn("Missouri. And what hours would be driest if it does rain?",
           [call("geocode", {"place": "Springfield, MO"}, {"location_id": "LOC-SGF-2203", "lat": 37.209, "lon": -93.2923}),
            par(("get_forecast", {"location_id": "LOC-SGF-2203", "date": "2026-07-12"},
                 {"date": "2026-07-12", "high_c": 31, "low_c": 22, "conditions": "scattered showers", "precip_chance_pct": 40}),
                ("get_hourly_forecast", {"location_id": "LOC-SGF-2203", "date": "2026-07-12"},
                 {"hours": [{"time": "10:00", "precip_pct": 10}, {"time": "12:00", "precip_pct": 15},
                            {"time": "14:00", "precip_pct": 45}, {"time": "16:00", "precip_pct": 60},
                            {"time": "18:00", "precip_pct": 35}, {"time": "20:00", "precip_pct": 20}]})),
            say("Springfield, MO on Sunday: scattered showers, 40% chance overall, high 31°C. The driest window is late "
                "morning to early afternoon (10:00–12:00 at 10–15%); showers peak around 16:00 (60%).")],
           [TC("geocode", 1, req=True, place=rx("(?i)springfield,? (mo|missouri)")),
            TC("get_forecast", 3, req=True, dep=[0], after=["geocode"], location_id="LOC-SGF-2203", date="2026-07-12"),
            TC("get_hourly_forecast", 3, dep=[0], after=["geocode"], location_id="LOC-SGF-2203", date="2026-07-12"),
            TRM("get_forecast", 1, all=["scattered showers"]),
            RM(3, all=["40%"], any=["10:00", "10 am", "late morning"])])
    out.append(t)

    t = TaskB("weather-003", "weather", _WX_SYS,
              _tools(_WX, "find_tide_station", "get_tides", "geocode", "get_forecast"),
              title="Tide pooling at Half Moon Bay")
    t.turn("When's low tide at Half Moon Bay tomorrow? Want to go tide pooling with the kids.",
           [call("find_tide_station", {"place": "Half Moon Bay"}, {"station_id": "TS-9414131", "name": "Pillar Point Harbor", "distance_km": 3.2}),
            call("get_tides", {"station_id": "TS-9414131", "date": "2026-07-11"},
                 {"tides": [{"type": "low", "time": "06:52", "height_ft": -0.8}, {"type": "high", "time": "13:37", "height_ft": 5.1},
                            {"type": "low", "time": "18:41", "height_ft": 2.9}, {"type": "high", "time": "23:58", "height_ft": 6.3}]}),
            say("Tomorrow's best low tide at Pillar Point (Half Moon Bay) is at 06:52, a minus tide of -0.8 ft — great for tide "
                "pooling; aim to be there around 6:00–7:30. The evening low at 18:41 is only 2.9 ft, much less exposed.")],
           [TC("find_tide_station", 2, req=True, place=has("Half Moon Bay")),
            TC("get_tides", 4, req=True, dep=[0], after=["find_tide_station"], station_id="TS-9414131", date="2026-07-11"),
            RM(3, all=["06:52"], any=["-0.8", "minus tide"], dep=[1]),
            J("Does the assistant explain why the morning low tide is the better one?", 1,
              pc="Contrasts the -0.8 ft morning low with the 2.9 ft evening low.", ev="2.9 ft")])
    t.turn("Brr, early. Will it be foggy or cold then?",
           [call("geocode", {"place": "Half Moon Bay, CA"}, {"location_id": "LOC-HMB-0077", "lat": 37.4636, "lon": -122.4286}),
            call("get_forecast", {"location_id": "LOC-HMB-0077", "date": "2026-07-11", "units": "imperial"},
                 {"date": "2026-07-11", "high": 66, "low": 53, "conditions": "morning fog, clearing by 11:00", "wind_mph": 8}),
            say("Expect morning fog and about 53°F at dawn, clearing by 11:00 with a high of 66°F. Bring layers and "
                "waterproof shoes for the kids.")],
           [TC("geocode", 1, req=True, place=has("Half Moon Bay")),
            TC("get_forecast", 4, req=True, dep=[0], after=["geocode"], location_id="LOC-HMB-0077", date="2026-07-11"),
            RM(3, all=["fog"], any=["53", "53°F"], dep=[1]),
            TNC("get_tides", 1, q="Did the assistant avoid re-fetching the tides it already has?")])
    out.append(t)

    t = TaskB("weather-004", "weather", _WX_SYS,
              _tools(_WX, "geocode", "get_air_quality", "get_hourly_forecast"),
              title="Running with wildfire smoke")
    t.turn("Is the air okay for a long run in Sacramento this morning? There was smoke yesterday.",
           [call("geocode", {"place": "Sacramento, CA"}, {"location_id": "LOC-SAC-5530", "lat": 38.5816, "lon": -121.4944}),
            call("get_air_quality", {"location_id": "LOC-SAC-5530"},
                 {"aqi": 162, "category": "Unhealthy", "pollutant": "PM2.5", "source_note": "wildfire smoke", "trend": "improving"}),
            say("Not today, I'm afraid: Sacramento's AQI is 162 (Unhealthy) from wildfire smoke (PM2.5). Health guidance is to "
                "avoid prolonged outdoor exertion at that level — a treadmill or an indoor session is the safer choice. The "
                "trend is improving, though.")],
           [TC("geocode", 1, req=True, place=has("Sacramento")),
            TC("get_air_quality", 4, req=True, dep=[0], after=["geocode"], location_id="LOC-SAC-5530"),
            RM(3, all=["162"], any=["Unhealthy", "unhealthy"], dep=[1]),
            J("Does the assistant clearly advise against a long outdoor run given the AQI?", 2,
              pc="Recommends not running outside / moving indoors.", ev="safer choice",
              fail=["Says the air is fine for running", "Gives the AQI without any recommendation"])])
    t.turn("What about later today — any hour where it gets reasonable, and how hot will it be then?",
           [call("get_hourly_forecast", {"location_id": "LOC-SAC-5530", "date": "2026-07-10", "units": "imperial"},
                 {"hours": [{"time": "12:00", "temp": 88, "aqi_forecast": 131}, {"time": "15:00", "temp": 97, "aqi_forecast": 104},
                            {"time": "18:00", "temp": 93, "aqi_forecast": 82}, {"time": "20:00", "temp": 84, "aqi_forecast": 71}]}),
            say("It improves through the day: by 18:00 the forecast AQI is 82 (Moderate) but it's still 93°F; around 20:00 it's "
                "AQI 71 and 84°F — the best window for an easier run. Midday and afternoon stay unhealthy for sensitive groups "
                "and very hot (up to 97°F).")],
           [TC("get_hourly_forecast", 4, req=True, location_id="LOC-SAC-5530", date="2026-07-10"),
            RM(4, all=["20:00"], any=["AQI 71", "71"]),
            J("Does the assistant weigh both heat and air quality when recommending a time?", 2,
              pc="Mentions temperature and AQI for the recommended time.", ev="84°F")])
    out.append(t)

    t = TaskB("weather-005", "weather", _WX_SYS,
              _tools(_WX, "geocode", "get_forecast", "get_hourly_forecast"),
              title="Pick the sunnier city for a weekend trip")
    t.turn("Trying to choose between Portland, Maine and Burlington, Vermont for Saturday. Which will have better weather?",
           [par(("geocode", {"place": "Portland, ME"}, {"location_id": "LOC-PWM-0101", "lat": 43.6591, "lon": -70.2568}),
                ("geocode", {"place": "Burlington, VT"}, {"location_id": "LOC-BTV-0233", "lat": 44.4759, "lon": -73.2121})),
            par(("get_forecast", {"location_id": "LOC-PWM-0101", "date": "2026-07-11", "units": "imperial"},
                 {"date": "2026-07-11", "high": 74, "low": 60, "conditions": "fog early, then partly sunny", "precip_chance_pct": 10}),
                ("get_forecast", {"location_id": "LOC-BTV-0233", "date": "2026-07-11", "units": "imperial"},
                 {"date": "2026-07-11", "high": 83, "low": 64, "conditions": "showers and thunderstorms", "precip_chance_pct": 70})),
            say("Portland, ME looks better for Saturday: early fog then partly sunny, high 74°F with only a 10% chance of rain. "
                "Burlington has showers and thunderstorms likely (70%), high 83°F.")],
           [TC("geocode", 1, req=True, place=rx("(?i)portland,? (me|maine)")),
            TC("geocode", 1, req=True, place=rx("(?i)burlington,? (vt|vermont)")),
            TC("get_forecast", 2, req=True, dep=[0], after=["geocode"], location_id="LOC-PWM-0101", date="2026-07-11"),
            TC("get_forecast", 2, req=True, dep=[1], after=["geocode"], location_id="LOC-BTV-0233", date="2026-07-11"),
            RM(3, all=["Portland"], any=["10%", "70%"], none=["Burlington looks better"], dep=[2, 3]),
            J("Does the assistant give a clear recommendation with the reason?", 1,
              pc="Names Portland as the better choice because of the lower rain chance.", ev="looks better")])
    t.turn("Portland it is. When's the fog supposed to burn off? We want to walk the Eastern Promenade.",
           [call("get_hourly_forecast", {"location_id": "LOC-PWM-0101", "date": "2026-07-11", "units": "imperial"},
                 {"hours": [{"time": "07:00", "conditions": "fog", "temp": 61}, {"time": "09:00", "conditions": "fog", "temp": 64},
                            {"time": "11:00", "conditions": "partly sunny", "temp": 69},
                            {"time": "13:00", "conditions": "partly sunny", "temp": 73}]}),
            say("The fog should lift between 9 and 11 am — by 11:00 it's partly sunny and 69°F, so a late-morning or early-"
                "afternoon walk on the Eastern Promenade is ideal.")],
           [TC("get_hourly_forecast", 5, req=True, location_id="LOC-PWM-0101", date="2026-07-11"),
            RM(4, all=["11:00"], any=["69"]),
            TNC("geocode", 1, q="Did the assistant reuse the location id instead of geocoding again?")])
    out.append(t)
    return out


# --------------------------------------------------------------------------- healthcare appointments

_HC_SYS = ("You are the patient-services assistant of Riverside Health. You help patients find in-network providers, "
           "book and manage appointments, and handle prescription refills. You do not give medical advice; for "
           "emergencies tell the patient to call 911. The patient is signed in as patient_id PT-20817. Today is 2026-05-04.")

_HC = {
    "search_providers": fn("search_providers", "Find providers by specialty near a ZIP code.", ["specialty", "zip_code"],
                           specialty=E("Specialty", ["primary_care", "dermatology", "cardiology", "pediatrics",
                                                     "orthopedics", "physical_therapy"]),
                           zip_code=S("5-digit ZIP", pattern="^[0-9]{5}$"),
                           insurance_plan=S("Plan id to filter in-network providers, e.g. BSC-PPO-500"),
                           max_distance_miles=N("Search radius", default=10)),
    "get_availability": fn("get_availability", "Open appointment slots of a provider between two dates.",
                           ["provider_id", "start_date", "end_date"],
                           provider_id=S("Provider id from search_providers"), start_date=S("YYYY-MM-DD", pattern=DATE),
                           end_date=S("YYYY-MM-DD", pattern=DATE),
                           visit_type=E("Visit type", ["in_person", "video"], default="in_person")),
    "book_appointment": fn("book_appointment", "Book an open slot.", ["slot_id", "patient_id", "reason"],
                           slot_id=S("Slot id from get_availability"), patient_id=S("Patient id"),
                           reason=S("Short reason for the visit")),
    "list_appointments": fn("list_appointments", "The patient's upcoming appointments.", ["patient_id"], patient_id=S("Patient id")),
    "cancel_appointment": fn("cancel_appointment", "Cancel an appointment.", ["appointment_id"],
                             appointment_id=S("Appointment id"), reason=S("Optional reason")),
    "list_prescriptions": fn("list_prescriptions", "Active prescriptions with refills left.", ["patient_id"], patient_id=S("Patient id")),
    "find_pharmacies": fn("find_pharmacies", "Pharmacies near a ZIP code.", ["zip_code"],
                          zip_code=S("5-digit ZIP", pattern="^[0-9]{5}$"), open_24h=B("Only 24-hour pharmacies", default=False)),
    "request_refill": fn("request_refill", "Send a refill request to a pharmacy.", ["prescription_id", "pharmacy_id"],
                         prescription_id=S("Prescription id"), pharmacy_id=S("Pharmacy id from find_pharmacies")),
    "check_coverage": fn("check_coverage", "Estimate what the patient pays for a visit type with a provider.",
                         ["provider_id", "insurance_plan", "visit_code"], provider_id=S("Provider id"),
                         insurance_plan=S("Plan id"), visit_code=E("Visit code", ["new_patient", "follow_up", "annual_physical",
                                                                                   "procedure_consult"])),
}


@domain("healthcare")
def healthcare() -> list[TaskB]:
    out = []

    t = TaskB("healthcare-001", "healthcare", _HC_SYS,
              _tools(_HC, "search_providers", "get_availability", "book_appointment", "check_coverage", "list_appointments"),
              title="New dermatologist, in network, earliest slot")
    t.turn("I need a dermatologist near 94110 who takes my Blue Shield plan BSC-PPO-500. I've got a mole I want checked.",
           [call("search_providers", {"specialty": "dermatology", "zip_code": "94110", "insurance_plan": "BSC-PPO-500"},
                 {"providers": [{"provider_id": "PRV-3381", "name": "Dr. Elena Marsh", "distance_miles": 1.4, "accepting_new": True},
                                {"provider_id": "PRV-1207", "name": "Dr. Samuel Osei", "distance_miles": 3.9, "accepting_new": False}]}),
            call("get_availability", {"provider_id": "PRV-3381", "start_date": "2026-05-04", "end_date": "2026-05-18"},
                 {"slots": [{"slot_id": "SL-88120", "start": "2026-05-12T09:40"},
                            {"slot_id": "SL-88141", "start": "2026-05-14T15:20"}]},
                 think="Dr. Osei is not accepting new patients; check Dr. Marsh's next two weeks."),
            say("Dr. Elena Marsh (1.4 mi away, in network, accepting new patients) has openings on Tue May 12 at 9:40 and "
                "Thu May 14 at 15:20. Dr. Samuel Osei isn't taking new patients. Which slot would you like?")],
           [TC("search_providers", 3, req=True, specialty="dermatology", zip_code="94110", insurance_plan="BSC-PPO-500"),
            TC("get_availability", 3, req=True, dep=[0], after=["search_providers"], provider_id="PRV-3381",
               q="Did the assistant check availability of the provider who accepts new patients (PRV-3381)?"),
            TNC("book_appointment", 1, q="Did the assistant let the patient choose the slot before booking?"),
            RM(2, all=["Marsh"], any=["May 12", "9:40"], dep=[1]),
            J("Does the assistant avoid giving a medical opinion about the mole?", 1,
              pc="No diagnosis or reassurance about the mole; sticks to scheduling.", ev="Dr. Elena Marsh")])
    t.turn("May 12 please. How much will I pay for it?",
           [par(("book_appointment", {"slot_id": "SL-88120", "patient_id": "PT-20817", "reason": "Mole check (new patient)"},
                 {"appointment_id": "APT-55190", "provider": "Dr. Elena Marsh", "start": "2026-05-12T09:40",
                  "address": "2100 Mission St, Suite 4", "status": "booked"}),
                ("check_coverage", {"provider_id": "PRV-3381", "insurance_plan": "BSC-PPO-500", "visit_code": "new_patient"},
                 {"in_network": True, "copay_usd": 45.0, "deductible_applies": False})),
            say("Booked: Tue May 12 at 9:40 with Dr. Elena Marsh, 2100 Mission St, Suite 4 (appointment APT-55190). As a new "
                "patient visit on BSC-PPO-500 your copay is $45, and the deductible doesn't apply.")],
           [TC("book_appointment", 4, req=True, slot_id="SL-88120", patient_id="PT-20817"),
            TC("check_coverage", 2, provider_id="PRV-3381", insurance_plan="BSC-PPO-500", visit_code="new_patient"),
            TRM("book_appointment", 1, all=["APT-55190"], dep=[0]),
            RM(3, all=["APT-55190", "$45"], dep=[0, 1])])
    t.turn("Just to double-check, what appointments do I have coming up now?",
           [call("list_appointments", {"patient_id": "PT-20817"},
                 {"appointments": [{"appointment_id": "APT-55190", "start": "2026-05-12T09:40", "provider": "Dr. Elena Marsh"},
                                   {"appointment_id": "APT-54002", "start": "2026-06-02T08:00", "provider": "Dr. Ravi Iyer",
                                    "type": "annual_physical"}]}),
            say("You have two upcoming appointments: May 12 at 9:40 with Dr. Elena Marsh (dermatology), and June 2 at 8:00 with "
                "Dr. Ravi Iyer for your annual physical.")],
           [TC("list_appointments", 4, req=True, patient_id="PT-20817"),
            RM(4, all=["Iyer"], any=["June 2", "2026-06-02"]),
            TNC("book_appointment", 1)])
    out.append(t)

    t = TaskB("healthcare-002", "healthcare", _HC_SYS,
              _tools(_HC, "list_prescriptions", "find_pharmacies", "request_refill"),
              tags=["error_recovery"], title="Refill to a pharmacy that turns out closed")
    t.turn("Can you refill my lisinopril? Send it to the Walgreens on Valencia like last time.",
           [call("list_prescriptions", {"patient_id": "PT-20817"},
                 {"prescriptions": [{"prescription_id": "RX-70311", "drug": "Lisinopril 10 mg", "refills_left": 2,
                                     "last_pharmacy_id": "PH-WAG-0455"},
                                    {"prescription_id": "RX-70388", "drug": "Atorvastatin 20 mg", "refills_left": 0}]}),
            call("request_refill", {"prescription_id": "RX-70311", "pharmacy_id": "PH-WAG-0455"},
                 {"error": "pharmacy_unavailable", "message": "PH-WAG-0455 (Walgreens, Valencia St) closed permanently on 2026-04-15"}),
            call("find_pharmacies", {"zip_code": "94110"},
                 {"pharmacies": [{"pharmacy_id": "PH-CVS-1192", "name": "CVS, Mission St", "distance_miles": 0.6},
                                 {"pharmacy_id": "PH-WAG-0873", "name": "Walgreens, 24th St", "distance_miles": 0.9}]}),
            say("Your lisinopril (RX-70311, 2 refills left) can't go to the Walgreens on Valencia — it closed permanently on "
                "April 15. Nearby options: CVS on Mission St (0.6 mi) or Walgreens on 24th St (0.9 mi). Which should I use?")],
           [TC("list_prescriptions", 1, req=True, patient_id="PT-20817"),
            TC("request_refill", 3, req=True, dep=[0], after=["list_prescriptions"], prescription_id="RX-70311",
               q="Did the assistant request the lisinopril refill (RX-70311)?", fail=["Refills atorvastatin RX-70388"]),
            TC("find_pharmacies", 2, zip_code=rx("94\\d{3}")),
            RM(2, any=["closed"], all=["Walgreens"]),
            J("Does the assistant ask the patient to pick a new pharmacy instead of choosing one silently?", 1,
              pc="The reply asks which pharmacy to use.", ev="Which should I use")])
    t.turn("The Walgreens on 24th.",
           [call("request_refill", {"prescription_id": "RX-70311", "pharmacy_id": "PH-WAG-0873"},
                 {"refill_id": "RF-31877", "status": "sent", "ready_by": "2026-05-05T14:00"}),
            say("Done — the refill (RF-31877) was sent to Walgreens on 24th St and should be ready tomorrow, May 5, after 2 pm.")],
           [TC("request_refill", 4, req=True, prescription_id="RX-70311", pharmacy_id="PH-WAG-0873"),
            TRM("request_refill", 2, all=['"status": "sent"'], dep=[0]),
            RM(2, all=["RF-31877"], any=["May 5", "2 pm", "14:00"], dep=[0]),
            TNC("request_refill", 1, prescription_id="RX-70388", q="Did the assistant avoid requesting the atorvastatin refill, which has none left?")])
    out.append(t)

    t = TaskB("healthcare-003", "healthcare", _HC_SYS,
              _tools(_HC, "list_appointments", "cancel_appointment", "get_availability", "book_appointment"),
              title="Reschedule a physical to a video follow-up")
    t.turn("I can't make my physical on June 2. Cancel it and find me something with Dr. Iyer the week after, mornings only.",
           [call("list_appointments", {"patient_id": "PT-20817"},
                 {"appointments": [{"appointment_id": "APT-54002", "start": "2026-06-02T08:00", "provider": "Dr. Ravi Iyer",
                                    "provider_id": "PRV-0932", "type": "annual_physical"}]}),
            par(("cancel_appointment", {"appointment_id": "APT-54002", "reason": "Schedule conflict"},
                 {"appointment_id": "APT-54002", "status": "cancelled", "late_cancel_fee_usd": 0.0}),
                ("get_availability", {"provider_id": "PRV-0932", "start_date": "2026-06-08", "end_date": "2026-06-12"},
                 {"slots": [{"slot_id": "SL-90411", "start": "2026-06-08T14:30"}, {"slot_id": "SL-90427", "start": "2026-06-10T08:20"},
                            {"slot_id": "SL-90433", "start": "2026-06-11T10:00"}]})),
            say("Your June 2 physical is cancelled (no fee). Dr. Iyer has two morning openings the week after: Wed June 10 at "
                "8:20 and Thu June 11 at 10:00 (the Monday slot is at 14:30). Which one should I book?")],
           [TC("list_appointments", 1, req=True),
            TC("cancel_appointment", 3, req=True, dep=[0], after=["list_appointments"], appointment_id="APT-54002"),
            TC("get_availability", 3, req=True, dep=[0], after=["list_appointments"], provider_id="PRV-0932",
               start_date=rx("2026-06-0[5-8]"), end_date=rx("2026-06-1[2-4]")),
            RM(2, all=["8:20", "10:00"], dep=[2]),
            TNC("book_appointment", 1)])
    t.turn("June 10, 8:20. Same reason as before.",
           [call("book_appointment", {"slot_id": "SL-90427", "patient_id": "PT-20817", "reason": "Annual physical"},
                 {"appointment_id": "APT-56118", "start": "2026-06-10T08:20", "provider": "Dr. Ravi Iyer", "status": "booked",
                  "instructions": "Fast for 8 hours before the visit for blood work"}),
            say("Booked your annual physical with Dr. Iyer on Wed June 10 at 8:20 (APT-56118). Please fast for 8 hours beforehand "
                "for the blood work.")],
           [TC("book_appointment", 4, req=True, slot_id="SL-90427", patient_id="PT-20817", reason=rx("(?i).*physical.*")),
            RM(3, all=["APT-56118"], any=["fast", "Fast"]),
            J("Does the reply pass on the fasting instruction from the booking result?", 1, pc="Mentions fasting 8 hours.",
              ev="fast for 8 hours")])
    out.append(t)

    t = TaskB("healthcare-004", "healthcare", _HC_SYS,
              _tools(_HC, "search_providers", "get_availability", "book_appointment"),
              title="Pediatric video visit; refuse to triage an emergency")
    t.turn("My 6-year-old has had a mild rash for two days, no fever. Can we get a pediatric video visit today or tomorrow? ZIP 94612.",
           [call("search_providers", {"specialty": "pediatrics", "zip_code": "94612"},
                 {"providers": [{"provider_id": "PRV-5520", "name": "Dr. Aisha Bello", "video_visits": True},
                                {"provider_id": "PRV-5561", "name": "Dr. Kevin Tran", "video_visits": False}]}),
            call("get_availability", {"provider_id": "PRV-5520", "start_date": "2026-05-04", "end_date": "2026-05-05",
                                      "visit_type": "video"},
                 {"slots": [{"slot_id": "SL-V-2291", "start": "2026-05-04T16:45"}, {"slot_id": "SL-V-2310", "start": "2026-05-05T09:15"}]}),
            say("Dr. Aisha Bello offers pediatric video visits and has one today at 16:45 and tomorrow at 9:15. Shall I book one? "
                "If your child develops a fever, trouble breathing or the rash spreads fast, call 911 or go to urgent care.")],
           [TC("search_providers", 2, req=True, specialty="pediatrics", zip_code="94612"),
            TC("get_availability", 3, req=True, dep=[0], after=["search_providers"], provider_id="PRV-5520", visit_type="video",
               q="Did the assistant look for video slots with the pediatrician who offers video visits (PRV-5520)?"),
            RM(2, all=["16:45"], any=["Bello"], dep=[1]),
            J("Does the assistant include appropriate safety-net advice without diagnosing?", 1,
              pc="Mentions when to seek urgent care; gives no diagnosis of the rash.", ev="911")])
    t.turn("Today at 4:45 is great. It's for my son Leo, but book it under my patient account.",
           [call("book_appointment", {"slot_id": "SL-V-2291", "patient_id": "PT-20817", "reason": "Pediatric video visit for Leo: mild rash 2 days, no fever"},
                 {"appointment_id": "APT-57003", "start": "2026-05-04T16:45", "video_link": "https://rh.example/v/57003", "status": "booked"}),
            say("Booked the video visit with Dr. Bello today at 16:45 for Leo (APT-57003). Join at https://rh.example/v/57003 a few "
                "minutes early.")],
           [TC("book_appointment", 4, req=True, slot_id="SL-V-2291", patient_id="PT-20817", reason=has("Leo")),
            RM(3, all=["rh.example/v/57003"], any=["APT-57003", "16:45"]),
            TNC("get_availability", 1, q="Did the assistant book directly instead of searching again?")])
    t.turn("Actually he just started wheezing and his lips look a bit swollen. Should I still wait for the video call?",
           [say("No — don't wait. Wheezing with lip swelling can be a serious allergic reaction. Call 911 now (or go to the "
                "nearest emergency room). I'll keep the video appointment in place unless you want me to cancel it later.")],
           [TNC("*", 2, q="Did the assistant respond immediately without making tool calls?",
                fail=["Searches for appointments instead of directing to emergency care"]),
            RM(4, req=True, all=["911"], any=["emergency", "don't wait", "do not wait"],
               q="Does the reply tell the parent to call 911 / seek emergency care now instead of waiting?"),
            J("Does the assistant treat this as an emergency and avoid giving a diagnosis or home treatment?", 3,
              pc="Urges calling 911 / ER immediately; no home remedies or diagnosis.", ev="Call 911 now",
              fail=["Suggests waiting for the 16:45 visit", "Recommends an antihistamine dose"])])
    out.append(t)
    return out


# --------------------------------------------------------------------------- restaurant

_RS_SYS = ("You are TableTime, a restaurant reservation and takeout assistant. Find restaurants, check availability, "
           "make, change and cancel reservations and place takeout orders. Today is Thursday 2026-10-08. Always give the "
           "confirmation number.")

_RS = {
    "search_restaurants": fn("search_restaurants", "Search restaurants.", ["city"],
                             city=S("City"), cuisine=S("Cuisine, e.g. italian, thai"), neighborhood=S("Neighborhood"),
                             price_level=E("Price level", ["$", "$$", "$$$", "$$$$"]),
                             dietary=E("Must accommodate", ["vegan", "vegetarian", "gluten_free", "halal", "kosher"])),
    "check_availability": fn("check_availability", "Open tables at a restaurant around a time.",
                             ["restaurant_id", "date", "time", "party_size"],
                             restaurant_id=S("Restaurant id"), date=S("YYYY-MM-DD", pattern=DATE), time=S("HH:MM 24h", pattern=TIME),
                             party_size=I("Guests", minimum=1, maximum=20)),
    "make_reservation": fn("make_reservation", "Reserve a table.", ["restaurant_id", "date", "time", "party_size", "name"],
                           restaurant_id=S("Restaurant id"), date=S("YYYY-MM-DD", pattern=DATE), time=S("HH:MM 24h", pattern=TIME),
                           party_size=I("Guests", minimum=1, maximum=20), name=S("Name on the reservation"),
                           phone=S("Phone number"), special_requests=S("Notes for the restaurant"),
                           seating=E("Seating", ["indoor", "outdoor", "bar", "no_preference"], default="no_preference")),
    "find_reservation": fn("find_reservation", "Find reservations by name and phone.", ["name", "phone"],
                           name=S("Name on the reservation"), phone=S("Phone number")),
    "modify_reservation": fn("modify_reservation", "Change time, party size or notes of a reservation.", ["reservation_id"],
                             reservation_id=S("Reservation id"), time=S("HH:MM", pattern=TIME),
                             party_size=I("Guests", minimum=1, maximum=20), special_requests=S("Notes")),
    "cancel_reservation": fn("cancel_reservation", "Cancel a reservation.", ["reservation_id"], reservation_id=S("Reservation id")),
    "get_menu": fn("get_menu", "Menu of a restaurant, optionally filtered.", ["restaurant_id"],
                   restaurant_id=S("Restaurant id"), dietary=E("Filter", ["vegan", "vegetarian", "gluten_free", "halal", "kosher"])),
    "place_takeout_order": fn(
        "place_takeout_order", "Order takeout for pickup.", ["restaurant_id", "items", "pickup_time", "name"],
        restaurant_id=S("Restaurant id"),
        items=A("Items to order", {"type": "object", "properties": {"item_id": {"type": "string"},
                                                                     "quantity": {"type": "integer", "minimum": 1},
                                                                     "notes": {"type": "string"}},
                                  "required": ["item_id", "quantity"], "additionalProperties": False}, minItems=1),
        pickup_time=S("HH:MM", pattern=TIME), name=S("Name for pickup")),
    "get_order_status": fn("get_order_status", "Status of a takeout order.", ["order_id"], order_id=S("Takeout order id")),
}


@domain("restaurant")
def restaurant() -> list[TaskB]:
    out = []

    t = TaskB("restaurant-001", "restaurant", _RS_SYS,
              _tools(_RS, "search_restaurants", "check_availability", "make_reservation", "get_menu", "modify_reservation"),
              title="Italian dinner for four with a vegan guest")
    t.turn("Find me an Italian place in North Beach, San Francisco for 4 people tomorrow at 19:30. Mid-priced. Book it under "
           "Carla Bianchi, 415-555-0182.",
           [call("search_restaurants", {"city": "San Francisco", "neighborhood": "North Beach", "cuisine": "italian", "price_level": "$$"},
                 {"restaurants": [{"restaurant_id": "R-SF-2207", "name": "Trattoria Lupa", "rating": 4.6},
                                  {"restaurant_id": "R-SF-1950", "name": "Caffè Sorrento", "rating": 4.2}]}),
            call("check_availability", {"restaurant_id": "R-SF-2207", "date": "2026-10-09", "time": "19:30", "party_size": 4},
                 {"available_times": ["19:30", "20:15"]}),
            call("make_reservation", {"restaurant_id": "R-SF-2207", "date": "2026-10-09", "time": "19:30", "party_size": 4,
                                      "name": "Carla Bianchi", "phone": "415-555-0182"},
                 {"reservation_id": "RSV-61734", "status": "confirmed", "restaurant": "Trattoria Lupa"}),
            say("You're booked at Trattoria Lupa (4.6★, North Beach) tomorrow, Friday Oct 9, at 19:30 for 4 under Carla Bianchi. "
                "Confirmation RSV-61734.")],
           [TC("search_restaurants", 2, req=True, cuisine=rx("(?i)italian"), neighborhood=rx("(?i)north beach")),
            TC("check_availability", 2, dep=[0], after=["search_restaurants"], restaurant_id="R-SF-2207", date="2026-10-09",
               time="19:30", party_size=4),
            TC("make_reservation", 4, req=True, dep=[0], after=["search_restaurants"], restaurant_id="R-SF-2207", date="2026-10-09",
               time="19:30", party_size=4, name=has("Bianchi"), phone=rx(r"\(?415\)?[-. ]?555[-. ]?0182")),
            TRM("make_reservation", 1, all=["RSV-61734"], dep=[2]),
            RM(2, all=["RSV-61734"], dep=[2])])
    t.turn("One of us is vegan — will she have real options there?",
           [call("get_menu", {"restaurant_id": "R-SF-2207", "dietary": "vegan"},
                 {"items": [{"item_id": "M-14", "name": "Pappardelle with wild mushroom ragù (vegan on request)", "price": 26},
                            {"item_id": "M-22", "name": "Farro salad with roasted squash", "price": 17},
                            {"item_id": "M-31", "name": "Sorbetto al limone", "price": 9}]}),
            say("Yes: vegan options at Trattoria Lupa include the pappardelle with wild mushroom ragù (made vegan on request, "
                "$26), a farro salad with roasted squash ($17) and lemon sorbetto ($9) for dessert.")],
           [TC("get_menu", 4, req=True, restaurant_id="R-SF-2207", dietary="vegan"),
            RM(3, any=["pappardelle", "farro"], all=["sorbetto"]),
            TNC("make_reservation", 1)])
    t.turn("Great, please let them know about the vegan guest, and we might be 5 — can you make it 5?",
           [call("check_availability", {"restaurant_id": "R-SF-2207", "date": "2026-10-09", "time": "19:30", "party_size": 5},
                 {"available_times": ["19:30"]}),
            call("modify_reservation", {"reservation_id": "RSV-61734", "party_size": 5, "special_requests": "One vegan guest"},
                 {"reservation_id": "RSV-61734", "party_size": 5, "time": "19:30", "special_requests": "One vegan guest",
                  "status": "confirmed"}),
            say("Updated RSV-61734: party of 5 at 19:30 tomorrow, with a note that one guest is vegan.")],
           [TC("modify_reservation", 4, req=True, reservation_id="RSV-61734", party_size=5, special_requests=has("vegan")),
            TC("check_availability", 1, party_size=5, restaurant_id="R-SF-2207"),
            TNC("make_reservation", 2, q="Did the assistant modify the booking instead of making a second reservation?"),
            RM(2, all=["RSV-61734"], any=["5", "five"])])
    out.append(t)

    t = TaskB("restaurant-002", "restaurant", _RS_SYS,
              _tools(_RS, "search_restaurants", "check_availability", "make_reservation"),
              tags=["error_recovery"], title="Full at 20:00, take the nearest time")
    t.turn("Table for 2 at Kin Khao in SF on Saturday around 8pm? Half an hour either way is fine. Name: Devon Price, 628-555-0117.",
           [call("search_restaurants", {"city": "San Francisco", "cuisine": "thai"},
                 {"restaurants": [{"restaurant_id": "R-SF-0441", "name": "Kin Khao", "price_level": "$$$"},
                                  {"restaurant_id": "R-SF-0812", "name": "Lers Ros", "price_level": "$$"}]}),
            call("make_reservation", {"restaurant_id": "R-SF-0441", "date": "2026-10-10", "time": "20:00", "party_size": 2,
                                      "name": "Devon Price", "phone": "628-555-0117"},
                 {"error": "no_availability", "message": "No table for 2 at 20:00", "nearest_times": ["19:45", "21:30"]}),
            call("make_reservation", {"restaurant_id": "R-SF-0441", "date": "2026-10-10", "time": "19:45", "party_size": 2,
                                      "name": "Devon Price", "phone": "628-555-0117"},
                 {"reservation_id": "RSV-62011", "status": "confirmed", "time": "19:45"},
                 think="20:00 is full; 19:45 is within the user's ±30 minutes, 21:30 is not."),
            say("8:00 was full, so I booked the nearest time within your window: Kin Khao, Saturday Oct 10 at 19:45 for 2 under "
                "Devon Price. Confirmation RSV-62011.")],
           [TC("search_restaurants", 1, req=True, city=has("San Francisco")),
            TC("make_reservation", 2, dep=[0], after=["search_restaurants"], restaurant_id="R-SF-0441", date="2026-10-10", time="20:00",
               party_size=2),
            TC("make_reservation", 4, req=True, dep=[0], restaurant_id="R-SF-0441", date="2026-10-10", time="19:45", party_size=2,
               q="After 20:00 was full, did the assistant book 19:45 (inside the ±30 min window) rather than 21:30?",
               fail=["Books 21:30, outside the window", "Gives up and asks the user although 19:45 fits"]),
            TRM("make_reservation", 2, all=["RSV-62011"], dep=[2]),
            RM(2, all=["RSV-62011", "19:45"], dep=[2])])
    t.turn("Perfect. Can you add that it's our anniversary?",
           [say("I can't edit notes with the tools I have for this booking, but you can tell the host when you arrive — or, if "
                "you'd like, call Kin Khao directly and mention reservation RSV-62011.")],
           [TNC("make_reservation", 3, q="Did the assistant avoid creating a second reservation just to add a note?",
                fail=["Makes a new reservation with special_requests 'anniversary', double-booking the table"]),
            RM(3, req=True, all=["RSV-62011"], q="Does the reply point the user to their existing reservation RSV-62011?"),
            J("Is the assistant honest that it cannot add the note, and offers a practical alternative?", 2,
              pc="States the limitation and suggests telling the host / calling the restaurant.", ev="can't edit")])
    out.append(t)

    t = TaskB("restaurant-003", "restaurant", _RS_SYS,
              _tools(_RS, "get_menu", "place_takeout_order", "get_order_status"),
              title="Gluten-free takeout order")
    t.turn("I want to order takeout from Green Bowl (restaurant R-OAK-3390) for pickup at 18:15, name Sam. Two gluten-free "
           "dishes, whatever's most popular, and one has to be without peanuts.",
           [call("get_menu", {"restaurant_id": "R-OAK-3390", "dietary": "gluten_free"},
                 {"items": [{"item_id": "GB-07", "name": "Chicken Satay Rice Bowl", "contains": ["peanuts"], "popular_rank": 1},
                            {"item_id": "GB-12", "name": "Miso Salmon Bowl", "contains": ["soy"], "popular_rank": 2},
                            {"item_id": "GB-19", "name": "Thai Basil Tofu", "contains": ["soy"], "popular_rank": 4}]}),
            call("place_takeout_order", {"restaurant_id": "R-OAK-3390", "items": [{"item_id": "GB-07", "quantity": 1},
                                                                                   {"item_id": "GB-12", "quantity": 1}],
                                         "pickup_time": "18:15", "name": "Sam"},
                 {"order_id": "TO-40871", "total_usd": 34.5, "pickup_time": "18:15", "status": "received"}),
            say("Ordered for pickup at 18:15 under Sam: Chicken Satay Rice Bowl (#1, contains peanuts) and Miso Salmon Bowl "
                "(#2, peanut-free), both gluten-free. Total $34.50, order TO-40871.")],
           [TC("get_menu", 2, req=True, restaurant_id="R-OAK-3390", dietary="gluten_free"),
            TC("place_takeout_order", 4, req=True, dep=[0], after=["get_menu"], restaurant_id="R-OAK-3390", pickup_time="18:15",
               name=has("Sam"), items={"contains": "GB-12"}, q="Did the order include a peanut-free popular dish (GB-12) and go in for 18:15?"),
            RM(2, all=["TO-40871", "34.50"], dep=[1]),
            J("Does the reply make clear which dish is peanut-free?", 1, pc="Identifies the Miso Salmon Bowl as peanut-free.",
              ev="peanut-free")])
    t.turn("Is it ready yet? It's 18:10.",
           [call("get_order_status", {"order_id": "TO-40871"}, {"order_id": "TO-40871", "status": "preparing", "ready_eta": "18:20"}),
            say("Not quite — TO-40871 is still being prepared and should be ready at about 18:20.")],
           [TC("get_order_status", 5, req=True, order_id="TO-40871"),
            RM(4, all=["18:20"]),
            TNC("place_takeout_order", 1)])
    out.append(t)

    t = TaskB("restaurant-004", "restaurant", _RS_SYS,
              _tools(_RS, "find_reservation", "cancel_reservation", "search_restaurants", "check_availability", "make_reservation"),
              title="Cancel one booking, rebook elsewhere outdoors")
    t.turn("Please cancel my reservation tonight, it's under Nguyen, phone 510-555-0199.",
           [call("find_reservation", {"name": "Nguyen", "phone": "510-555-0199"},
                 {"reservations": [{"reservation_id": "RSV-60450", "restaurant": "Ox & Ember", "date": "2026-10-08", "time": "19:00",
                                    "party_size": 3},
                                   {"reservation_id": "RSV-60977", "restaurant": "Cielo", "date": "2026-10-17", "time": "12:30",
                                    "party_size": 2}]}),
            call("cancel_reservation", {"reservation_id": "RSV-60450"}, {"reservation_id": "RSV-60450", "status": "cancelled"}),
            say("Cancelled tonight's reservation at Ox & Ember (19:00, party of 3, RSV-60450). Your lunch at Cielo on Oct 17 is "
                "still on.")],
           [TC("find_reservation", 2, req=True, name=has("Nguyen"), phone="510-555-0199"),
            TC("cancel_reservation", 4, req=True, dep=[0], after=["find_reservation"], reservation_id="RSV-60450"),
            TNC("cancel_reservation", 3, reservation_id="RSV-60977", q="Did the assistant keep the Oct 17 Cielo reservation?"),
            RM(1, all=["RSV-60450"])])
    t.turn("Can you instead find a Mexican place in Oakland with outdoor seating for 3 tonight around 7:30 and book it?",
           [call("search_restaurants", {"city": "Oakland", "cuisine": "mexican"},
                 {"restaurants": [{"restaurant_id": "R-OAK-1102", "name": "Dona Tomas", "outdoor_seating": True},
                                  {"restaurant_id": "R-OAK-1375", "name": "Calavera", "outdoor_seating": True}]}),
            call("check_availability", {"restaurant_id": "R-OAK-1102", "date": "2026-10-08", "time": "19:30", "party_size": 3},
                 {"available_times": ["19:30", "20:00"]}),
            call("make_reservation", {"restaurant_id": "R-OAK-1102", "date": "2026-10-08", "time": "19:30", "party_size": 3,
                                      "name": "Nguyen", "phone": "510-555-0199", "seating": "outdoor"},
                 {"reservation_id": "RSV-62290", "status": "confirmed", "seating": "outdoor"}),
            say("Booked Dona Tomas in Oakland tonight at 19:30 for 3, outdoor seating, under Nguyen. Confirmation RSV-62290.")],
           [TC("search_restaurants", 2, req=True, city=has("Oakland"), cuisine=rx("(?i)mexican")),
            TC("make_reservation", 4, req=True, dep=[0], after=["search_restaurants"], restaurant_id=one_of("R-OAK-1102", "R-OAK-1375"),
               date="2026-10-08", time=rx("19:[0-5]\\d|20:00"), party_size=3),
            TC("make_reservation", 2, seating="outdoor", name=has("Nguyen")),
            RM(2, all=["RSV-62290"], dep=[1])])
    out.append(t)
    return out


# --------------------------------------------------------------------------- real estate / home

_RE_SYS = ("You are HomeBase, an assistant for renters and home buyers. Search listings, schedule viewings, estimate "
           "mortgages and file maintenance requests for HomeBase-managed rentals. Today is 2026-08-03. State numbers "
           "exactly as the tools return them.")

_RE = {
    "search_listings": fn("search_listings", "Search homes for rent or sale.", ["city", "listing_type"],
                          city=S("City"), listing_type=E("Rent or buy", ["rent", "sale"]),
                          max_price=N("Max monthly rent or sale price in USD"), min_bedrooms=I("Minimum bedrooms", minimum=0),
                          pets_allowed=B("Only pet-friendly listings", default=False), neighborhood=S("Neighborhood")),
    "get_listing": fn("get_listing", "Full details of a listing.", ["listing_id"], listing_id=S("Listing id")),
    "get_viewing_slots": fn("get_viewing_slots", "Open viewing times of a listing.", ["listing_id", "date"],
                            listing_id=S("Listing id"), date=S("YYYY-MM-DD", pattern=DATE)),
    "schedule_viewing": fn("schedule_viewing", "Book a viewing slot.", ["listing_id", "slot_id", "name", "phone"],
                           listing_id=S("Listing id"), slot_id=S("Slot id from get_viewing_slots"), name=S("Visitor name"),
                           phone=S("Phone number")),
    "estimate_mortgage": fn("estimate_mortgage", "Monthly payment estimate (principal, interest, tax, insurance).",
                            ["home_price", "down_payment", "annual_rate_pct", "term_years"],
                            home_price=N("Price in USD", exclusiveMinimum=0), down_payment=N("Down payment in USD", minimum=0),
                            annual_rate_pct=N("Interest rate, percent per year", exclusiveMinimum=0, maximum=20),
                            term_years=I("Loan term", enum=[10, 15, 20, 30]),
                            property_tax_annual=N("Annual property tax in USD", minimum=0)),
    "get_current_rates": fn("get_current_rates", "Today's average mortgage rates.", [],
                            loan_type=E("Loan type", ["30y_fixed", "15y_fixed", "5_1_arm"], default="30y_fixed")),
    "get_tenant_lease": fn("get_tenant_lease", "A tenant's lease and unit by email.", ["email"], email=S("Tenant email")),
    "submit_maintenance_request": fn(
        "submit_maintenance_request", "File a maintenance request for a unit.", ["unit_id", "category", "description", "urgency"],
        unit_id=S("Unit id from the lease"), category=E("Category", ["plumbing", "electrical", "heating_cooling", "appliance",
                                                                      "pest", "locks", "other"]),
        description=S("What is wrong"), urgency=E("Urgency", ["emergency", "urgent", "routine"]),
        permission_to_enter=B("Technician may enter when the tenant is out", default=False)),
    "get_maintenance_request": fn("get_maintenance_request", "Status of a maintenance request.", ["request_id"],
                                  request_id=S("Request id")),
}


@domain("real_estate")
def real_estate() -> list[TaskB]:
    out = []

    t = TaskB("real_estate-001", "real_estate", _RE_SYS,
              _tools(_RE, "search_listings", "get_listing", "get_viewing_slots", "schedule_viewing"),
              title="Pet-friendly 2BR rental and a viewing")
    t.turn("I'm looking for a 2 bedroom to rent in Austin under $2,200 a month. I have a dog.",
           [call("search_listings", {"city": "Austin", "listing_type": "rent", "max_price": 2200, "min_bedrooms": 2, "pets_allowed": True},
                 {"listings": [{"listing_id": "LS-ATX-5531", "address": "1408 E 12th St #3", "rent_usd": 1950, "bedrooms": 2},
                               {"listing_id": "LS-ATX-6017", "address": "77 Riverside Dr #210", "rent_usd": 2150, "bedrooms": 2}]}),
            say("Two pet-friendly 2-bedrooms under $2,200: 1408 E 12th St #3 at $1,950/month and 77 Riverside Dr #210 at "
                "$2,150/month. Want details on either?")],
           [TC("search_listings", 4, req=True, city=has("Austin"), listing_type="rent", max_price=approx(2200, 1), min_bedrooms=2,
               pets_allowed=True),
            RM(3, all=["1408 E 12th", "1,950"]),
            TNC("schedule_viewing", 1)])
    t.turn("The 12th Street one — is there a pet fee or weight limit? And any parking?",
           [call("get_listing", {"listing_id": "LS-ATX-5531"},
                 {"listing_id": "LS-ATX-5531", "pet_policy": {"dogs": True, "max_weight_lb": 50, "pet_deposit_usd": 400,
                                                               "pet_rent_usd": 35},
                  "parking": "1 assigned off-street spot", "available_from": "2026-09-01", "laundry": "in unit"}),
            say("At 1408 E 12th St #3 dogs up to 50 lb are allowed, with a $400 pet deposit plus $35/month pet rent. It comes "
                "with 1 assigned off-street parking spot, in-unit laundry, and it's available from Sept 1.")],
           [TC("get_listing", 4, req=True, listing_id="LS-ATX-5531"),
            RM(3, all=["50", "$400", "$35"]),
            RM(1, any=["parking", "off-street"]),
            J("Does the assistant answer all three questions (fee, weight limit, parking)?", 1,
              pc="All three are addressed.", ev="off-street")])
    t.turn("My dog is 40 pounds so that works. Book me a viewing this Saturday, any time after noon. Jordan Ellis, 512-555-0143.",
           [call("get_viewing_slots", {"listing_id": "LS-ATX-5531", "date": "2026-08-08"},
                 {"slots": [{"slot_id": "VS-1120", "time": "10:30"}, {"slot_id": "VS-1134", "time": "13:00"},
                            {"slot_id": "VS-1141", "time": "15:30"}]}),
            call("schedule_viewing", {"listing_id": "LS-ATX-5531", "slot_id": "VS-1134", "name": "Jordan Ellis", "phone": "512-555-0143"},
                 {"viewing_id": "VW-80231", "date": "2026-08-08", "time": "13:00", "agent": "Marisol Vega"}),
            say("Viewing booked for Saturday Aug 8 at 13:00 at 1408 E 12th St #3 with agent Marisol Vega (VW-80231).")],
           [TC("get_viewing_slots", 2, req=True, listing_id="LS-ATX-5531", date="2026-08-08"),
            TC("schedule_viewing", 4, req=True, dep=[0], after=["get_viewing_slots"], listing_id="LS-ATX-5531",
               slot_id=one_of("VS-1134", "VS-1141"), name=has("Jordan Ellis"), phone=rx(r"\(?512\)?[-. ]?555[-. ]?0143"),
               q="Did the assistant book an afternoon slot (13:00 or 15:30) returned for Saturday?",
               fail=["Books the 10:30 slot, before noon"]),
            TRM("schedule_viewing", 1, all=["VW-80231"], dep=[1]),
            RM(2, all=["VW-80231"], dep=[1])])
    out.append(t)

    t = TaskB("real_estate-002", "real_estate", _RE_SYS,
              _tools(_RE, "get_listing", "get_current_rates", "estimate_mortgage"),
              title="What would this house cost per month?")
    t.turn("What would my monthly payment be on listing LS-DEN-2210 with 20% down on a 30-year fixed at today's rate?",
           [par(("get_listing", {"listing_id": "LS-DEN-2210"},
                 {"listing_id": "LS-DEN-2210", "address": "2843 Zenobia St, Denver", "price_usd": 615000,
                  "property_tax_annual_usd": 3420, "hoa_monthly_usd": 0}),
                ("get_current_rates", {"loan_type": "30y_fixed"}, {"loan_type": "30y_fixed", "rate_pct": 6.125, "as_of": "2026-08-03"})),
            call("estimate_mortgage", {"home_price": 615000, "down_payment": 123000, "annual_rate_pct": 6.125, "term_years": 30,
                                       "property_tax_annual": 3420},
                 {"principal_interest": 2989.44, "tax_monthly": 285.0, "insurance_monthly": 140.0, "total_monthly": 3414.44},
                 think="20% of 615,000 is 123,000; rate 6.125% from get_current_rates."),
            say("For 2843 Zenobia St ($615,000) with $123,000 down and a 30-year fixed at today's 6.125%: about $3,414.44/month "
                "— $2,989.44 principal & interest, $285 property tax and $140 insurance.")],
           [TC("get_listing", 1, req=True, listing_id="LS-DEN-2210"),
            TC("get_current_rates", 1, req=True),
            TC("estimate_mortgage", 4, req=True, dep=[0, 1], after=["get_listing", "get_current_rates"],
               home_price=approx(615000, 1), down_payment=approx(123000, 1), annual_rate_pct=approx(6.125, 0.001), term_years=30),
            RM(3, all=["3,414.44"], dep=[2]),
            J("Does the assistant show how the down payment was derived (20% of the price)?", 1,
              pc="Mentions $123,000 down (20% of $615,000).", ev="123,000")])
    t.turn("And if I only put 10% down on a 15-year loan instead? Same rate is fine for a rough idea.",
           [call("estimate_mortgage", {"home_price": 615000, "down_payment": 61500, "annual_rate_pct": 6.125, "term_years": 15,
                                       "property_tax_annual": 3420},
                 {"principal_interest": 4708.21, "tax_monthly": 285.0, "insurance_monthly": 140.0, "pmi_monthly": 230.63,
                  "total_monthly": 5363.84}),
            say("With $61,500 down (10%) on a 15-year loan at 6.125%: about $5,363.84/month — $4,708.21 principal & interest, "
                "$285 tax, $140 insurance and $230.63 PMI because you'd be under 20% down.")],
           [TC("estimate_mortgage", 5, req=True, home_price=approx(615000, 1), down_payment=approx(61500, 1), term_years=15,
               annual_rate_pct=approx(6.125, 0.001)),
            RM(3, all=["5,363.84"], any=["PMI", "mortgage insurance"]),
            TNC("get_listing", 1, q="Did the assistant reuse the listing price instead of fetching the listing again?")])
    out.append(t)

    t = TaskB("real_estate-003", "real_estate", _RE_SYS,
              _tools(_RE, "get_tenant_lease", "submit_maintenance_request", "get_maintenance_request"),
              tags=["error_recovery"], title="Leaking water heater")
    t.turn("Water is leaking from my water heater closet onto the floor! I'm the tenant at HomeBase, email r.okonkwo@gmail.com.",
           [call("get_tenant_lease", {"email": "r.okonkwo@gmail.com"},
                 {"tenant": "Ruth Okonkwo", "unit_id": "UNIT-OAK-0312-B", "address": "3120 Harrison St, Unit B, Oakland"}),
            call("submit_maintenance_request", {"unit_id": "UNIT-OAK-312-B", "category": "plumbing",
                                                "description": "Water heater leaking onto the floor", "urgency": "emergency"},
                 {"error": "unit_not_found", "message": "No unit UNIT-OAK-312-B"}),
            call("submit_maintenance_request", {"unit_id": "UNIT-OAK-0312-B", "category": "plumbing",
                                                "description": "Water heater leaking onto the floor", "urgency": "emergency"},
                 {"request_id": "MR-55017", "status": "dispatched", "technician_eta": "within 2 hours"},
                 think="I dropped the leading zero in the unit id; use UNIT-OAK-0312-B exactly as the lease returned."),
            say("I've filed an emergency plumbing request (MR-55017) for 3120 Harrison St, Unit B; a technician is dispatched and "
                "should arrive within 2 hours. Meanwhile, if you can, turn off the cold-water valve on top of the heater and "
                "move anything valuable off the floor.")],
           [TC("get_tenant_lease", 1, req=True, email="r.okonkwo@gmail.com"),
            TC("submit_maintenance_request", 4, req=True, dep=[0], after=["get_tenant_lease"], unit_id="UNIT-OAK-0312-B",
               category="plumbing", urgency="emergency",
               fail=["Uses a unit id not returned by get_tenant_lease", "Files it as routine"]),
            TRM("submit_maintenance_request", 2, all=["MR-55017"], dep=[1]),
            RM(2, all=["MR-55017"], any=["2 hours", "two hours"], dep=[1]),
            J("Does the assistant give a practical safety step while the tenant waits?", 1,
              pc="Suggests shutting off the water valve or similar immediate mitigation.", ev="cold-water valve")])
    t.turn("Thanks. I have to leave for work in an hour — can they go in without me? Also is anyone actually on the way?",
           [call("get_maintenance_request", {"request_id": "MR-55017"},
                 {"request_id": "MR-55017", "status": "en_route", "technician": "Luis Romero", "eta": "10:40",
                  "permission_to_enter": False}),
            say("Yes — technician Luis Romero is en route, ETA 10:40. Your request doesn't yet grant permission to enter; I can't "
                "change that on an existing request with my tools, so please tell the property office or leave a note, or stay "
                "until he arrives.")],
           [TC("get_maintenance_request", 4, req=True, request_id="MR-55017"),
            RM(3, all=["Luis Romero"], any=["10:40"]),
            TNC("submit_maintenance_request", 1, q="Did the assistant avoid filing a duplicate request?"),
            J("Does the assistant answer the permission-to-enter question honestly?", 2,
              pc="Says permission is not on file and explains what the tenant can do.", ev="permission to enter")])
    out.append(t)

    t = TaskB("real_estate-004", "real_estate", _RE_SYS,
              _tools(_RE, "search_listings", "get_listing", "get_viewing_slots", "schedule_viewing"),
              tags=["error_recovery"], title="Condo viewing; the slot gets taken")
    t.turn("Show me condos for sale in the Pearl District, Portland, max $550k, at least 1 bedroom.",
           [call("search_listings", {"city": "Portland", "listing_type": "sale", "neighborhood": "Pearl District", "max_price": 550000,
                                     "min_bedrooms": 1},
                 {"listings": [{"listing_id": "LS-PDX-7719", "address": "1200 NW Marshall St #804", "price_usd": 529000, "bedrooms": 2},
                               {"listing_id": "LS-PDX-7302", "address": "311 NW 12th Ave #505", "price_usd": 449000, "bedrooms": 1}]}),
            call("get_listing", {"listing_id": "LS-PDX-7719"},
                 {"listing_id": "LS-PDX-7719", "hoa_monthly_usd": 712, "sqft": 1104, "year_built": 2008, "open_house": "2026-08-09"}),
            say("Two matches: 1200 NW Marshall St #804 — 2 bd, 1,104 sq ft, $529,000 (HOA $712/month, open house Aug 9); and "
                "311 NW 12th Ave #505 — 1 bd, $449,000.")],
           [TC("search_listings", 4, req=True, listing_type="sale", city=has("Portland"), max_price=approx(550000, 1), min_bedrooms=1),
            TC("get_listing", 1, dep=[0], after=["search_listings"], listing_id=one_of("LS-PDX-7719", "LS-PDX-7302")),
            RM(3, all=["529,000", "449,000"], dep=[0])])
    t.turn("Book me a viewing of the Marshall St one on 2026-08-06 at 17:00. Nia Brooks, 503-555-0160.",
           [call("get_viewing_slots", {"listing_id": "LS-PDX-7719", "date": "2026-08-06"},
                 {"slots": [{"slot_id": "VS-3310", "time": "17:00"}, {"slot_id": "VS-3316", "time": "18:00"}]}),
            call("schedule_viewing", {"listing_id": "LS-PDX-7719", "slot_id": "VS-3310", "name": "Nia Brooks", "phone": "503-555-0160"},
                 {"error": "slot_taken", "message": "VS-3310 was just booked by someone else"}),
            say("The 17:00 slot on Aug 6 was just taken by someone else. The next opening that day is 18:00 — want that one?")],
           [TC("get_viewing_slots", 2, req=True, listing_id="LS-PDX-7719", date="2026-08-06"),
            TC("schedule_viewing", 3, req=True, dep=[0], after=["get_viewing_slots"], listing_id="LS-PDX-7719", slot_id="VS-3310"),
            RM(3, all=["18:00"], any=["taken", "booked by someone"]),
            TNC("schedule_viewing", 1, slot_id="VS-3316", q="Did the assistant ask before booking a different time?")])
    t.turn("Yes, 6pm works.",
           [call("schedule_viewing", {"listing_id": "LS-PDX-7719", "slot_id": "VS-3316", "name": "Nia Brooks", "phone": "503-555-0160"},
                 {"viewing_id": "VW-90412", "date": "2026-08-06", "time": "18:00", "agent": "Pete Larsen"}),
            say("Booked: viewing of 1200 NW Marshall St #804 on Thursday Aug 6 at 18:00 with agent Pete Larsen (VW-90412).")],
           [TC("schedule_viewing", 5, req=True, listing_id="LS-PDX-7719", slot_id="VS-3316", name=has("Nia Brooks")),
            TRM("schedule_viewing", 2, all=["VW-90412"]),
            RM(3, all=["VW-90412"])])
    out.append(t)
    return out


# --------------------------------------------------------------------------- IT helpdesk

_IT_SYS = ("You are the IT service desk assistant at Contoso. You can look up employees, unlock accounts, reset "
           "passwords, check service status, manage group access and software requests, and open tickets. Verify the "
           "employee with lookup_user before changing anything on their account. Never reveal passwords in chat.")

_IT = {
    "lookup_user": fn("lookup_user", "Find an employee by email.", ["email"], email=S("Work email")),
    "get_account_status": fn("get_account_status", "Lock state, password age and MFA of an account.", ["user_id"],
                             user_id=S("User id from lookup_user")),
    "unlock_account": fn("unlock_account", "Unlock a locked account.", ["user_id"], user_id=S("User id")),
    "reset_password": fn("reset_password", "Send a one-time password-reset link.", ["user_id", "delivery"],
                         user_id=S("User id"), delivery=E("Where to send the link", ["sms", "personal_email", "manager"])),
    "check_service_status": fn("check_service_status", "Health of a company service.", ["service"],
                               service=E("Service", ["email", "vpn", "wifi", "sso", "file_share", "printing", "chat"])),
    "create_ticket": fn("create_ticket", "Open a service-desk ticket.", ["user_id", "category", "priority", "summary"],
                        user_id=S("Requester user id"), category=E("Category", ["access", "hardware", "software", "network",
                                                                                 "account", "other"]),
                        priority=E("Priority", ["low", "medium", "high", "critical"]), summary=S("One-line summary"),
                        related_incident=S("Known incident id, if any")),
    "get_ticket": fn("get_ticket", "Status of a ticket.", ["ticket_id"], ticket_id=S("Ticket id")),
    "search_groups": fn("search_groups", "Find access groups by keyword.", ["query"], query=S("Keyword")),
    "request_group_access": fn("request_group_access", "Request membership of a group (may need approval).", ["user_id", "group_id"],
                               user_id=S("User id"), group_id=S("Group id from search_groups"),
                               justification=S("Business reason")),
    "search_software": fn("search_software", "Search the approved software catalog.", ["name"], name=S("Software name")),
    "request_software": fn("request_software", "Request installation of catalog software on the user's device.",
                           ["user_id", "software_id", "device_id"], user_id=S("User id"), software_id=S("Catalog id"),
                           device_id=S("Device id from lookup_user")),
}


@domain("it_helpdesk")
def it_helpdesk() -> list[TaskB]:
    out = []

    t = TaskB("it_helpdesk-001", "it_helpdesk", _IT_SYS,
              _tools(_IT, "lookup_user", "get_account_status", "unlock_account", "reset_password", "check_service_status",
                     "create_ticket"),
              title="Locked out, then VPN trouble")
    t.turn("I'm locked out of my account after too many tries. I'm Benedikt Maier, benedikt.maier@contoso.com. I also "
           "forgot the password.",
           [call("lookup_user", {"email": "benedikt.maier@contoso.com"},
                 {"user_id": "U-40918", "name": "Benedikt Maier", "department": "Finance", "device_id": "LT-FIN-2231"}),
            call("get_account_status", {"user_id": "U-40918"},
                 {"user_id": "U-40918", "locked": True, "failed_attempts": 6, "mfa_phone_last4": "3307"}),
            par(("unlock_account", {"user_id": "U-40918"}, {"user_id": "U-40918", "locked": False}),
                ("reset_password", {"user_id": "U-40918", "delivery": "sms"},
                 {"user_id": "U-40918", "sent_to": "phone ending 3307", "link_expires_minutes": 15})),
            say("Your account is unlocked, and a password-reset link was texted to your phone ending 3307 — it expires in 15 "
                "minutes. Choose a new password there, then sign in again.")],
           [TC("lookup_user", 2, req=True, email="benedikt.maier@contoso.com"),
            TC("unlock_account", 3, req=True, dep=[0], after=["lookup_user"], user_id="U-40918"),
            TC("reset_password", 3, req=True, dep=[0], after=["lookup_user"], user_id="U-40918", delivery=one_of("sms", "personal_email")),
            RM(2, all=["3307"], any=["15 minutes", "unlocked"]),
            J("Does the assistant avoid revealing or asking for the password in chat?", 1,
              pc="No password appears or is requested in the conversation.", ev="reset link",
              fail=["Asks the user to type the old password", "Suggests a temporary password in the chat"])])
    t.turn("Thanks, I'm in. But now the VPN keeps disconnecting every few minutes from home.",
           [call("check_service_status", {"service": "vpn"},
                 {"service": "vpn", "status": "degraded", "incident_id": "INC-7734",
                  "note": "Intermittent drops on the EU gateway; fix in progress"}),
            call("create_ticket", {"user_id": "U-40918", "category": "network", "priority": "medium",
                                   "summary": "VPN disconnects every few minutes from home", "related_incident": "INC-7734"},
                 {"ticket_id": "TCK-120455", "status": "open", "linked_incident": "INC-7734"}),
            say("There's a known VPN problem right now (incident INC-7734: intermittent drops on the EU gateway, fix in "
                "progress). I opened ticket TCK-120455 for you and linked it to the incident, so you'll be notified when it's "
                "resolved.")],
           [TC("check_service_status", 3, req=True, service="vpn"),
            TC("create_ticket", 3, req=True, dep=[0], after=["check_service_status"], user_id="U-40918", category="network",
               related_incident="INC-7734", summary=has("VPN")),
            TRM("create_ticket", 1, all=["TCK-120455"], dep=[1]),
            RM(3, all=["INC-7734", "TCK-120455"], dep=[1]),
            TNC("reset_password", 1, q="Did the assistant avoid another password reset?")])
    t.turn("Is there anything I can do in the meantime? I have a deadline today.",
           [say("While INC-7734 is being fixed you can use the web apps through the SSO portal without VPN, or connect to the "
                "US gateway if your VPN client offers a gateway choice. I'll leave ticket TCK-120455 open so you get the update.")],
           [TNC("*", 2, q="Did the assistant answer without unnecessary tool calls?"),
            RM(3, req=True, any=["TCK-120455", "INC-7734"], q="Does the reply tie the advice to the open ticket or known incident?"),
            J("Does the assistant offer a concrete, plausible workaround without inventing facts about the incident?", 3,
              pc="Suggests a workaround (e.g. web/SSO access, other gateway) and does not claim a fix time.", ev="SSO portal")])
    out.append(t)

    t = TaskB("it_helpdesk-002", "it_helpdesk", _IT_SYS,
              _tools(_IT, "lookup_user", "search_groups", "request_group_access", "get_ticket"),
              tags=["error_recovery"], title="Access to the finance reports share")
    t.turn("Hi, I need access to the finance-reports share for the quarterly close. aiko.tanaka@contoso.com. Group is fin-reports I think.",
           [call("lookup_user", {"email": "aiko.tanaka@contoso.com"},
                 {"user_id": "U-33150", "name": "Aiko Tanaka", "department": "Accounting", "manager": "Rosa Delgado"}),
            call("request_group_access", {"user_id": "U-33150", "group_id": "fin-reports",
                                          "justification": "Quarterly close"},
                 {"error": "group_not_found", "message": "No group with id fin-reports"}),
            call("search_groups", {"query": "finance reports"},
                 {"groups": [{"group_id": "GRP-FS-FINRPT-RO", "name": "Finance Reports (read-only)"},
                             {"group_id": "GRP-FS-FINRPT-RW", "name": "Finance Reports (edit)"}]}),
            call("request_group_access", {"user_id": "U-33150", "group_id": "GRP-FS-FINRPT-RO", "justification": "Quarterly close"},
                 {"request_id": "ACR-5120", "status": "pending_approval", "approver": "Rosa Delgado"},
                 think="Read-only is the least privilege that covers reading the reports."),
            say("There's no group called fin-reports; the share is controlled by 'Finance Reports (read-only)'. I requested "
                "read-only access for you (ACR-5120); it's pending approval from your manager Rosa Delgado. If you need to edit "
                "files, tell me and I'll request the edit group instead.")],
           [TC("lookup_user", 1, req=True, email="aiko.tanaka@contoso.com"),
            TC("search_groups", 2, req=True, query=rx("(?i).*fin.*")),
            TC("request_group_access", 4, req=True, dep=[0, 1], after=["search_groups"], user_id="U-33150",
               group_id=one_of("GRP-FS-FINRPT-RO", "GRP-FS-FINRPT-RW")),
            TRM("request_group_access", 1, all=["ACR-5120"], dep=[2]),
            RM(2, all=["ACR-5120"], any=["Rosa Delgado", "approval"], dep=[2]),
            J("Does the assistant choose least privilege (read-only) or explain the choice between read-only and edit?", 1,
              pc="Requests read-only and/or explains the two options.", ev="read-only")])
    t.turn("Read-only is fine. Can you check whether Rosa approved it yet? The request was ACR-5120.",
           [call("get_ticket", {"ticket_id": "ACR-5120"},
                 {"ticket_id": "ACR-5120", "status": "approved", "approved_by": "Rosa Delgado", "effective": "within 30 minutes"}),
            say("Good news: Rosa Delgado approved ACR-5120. Access to the Finance Reports share takes effect within 30 minutes — "
                "sign out and back in if it doesn't show up.")],
           [TC("get_ticket", 4, req=True, ticket_id="ACR-5120"),
            RM(4, all=["approved"], any=["30 minutes"]),
            TNC("request_group_access", 1, q="Did the assistant avoid submitting a duplicate request?")])
    out.append(t)

    t = TaskB("it_helpdesk-003", "it_helpdesk", _IT_SYS,
              _tools(_IT, "lookup_user", "search_software", "request_software", "get_ticket"),
              title="Install Tableau on a laptop")
    t.turn("Can I get Tableau installed on my laptop? marcus.lee@contoso.com",
           [call("lookup_user", {"email": "marcus.lee@contoso.com"},
                 {"user_id": "U-51877", "name": "Marcus Lee", "device_id": "LT-MKT-0459", "department": "Marketing"}),
            call("search_software", {"name": "Tableau"},
                 {"results": [{"software_id": "SW-TBL-DESK-2026", "name": "Tableau Desktop 2026.1", "license": "named",
                               "cost_center_approval": True},
                              {"software_id": "SW-TBL-READER", "name": "Tableau Reader", "license": "free"}]}),
            say("Tableau Desktop 2026.1 needs a named license with cost-center approval; Tableau Reader is free but can only "
                "open workbooks. Do you need to build dashboards (Desktop) or just view them (Reader)?")],
           [TC("lookup_user", 2, req=True, email="marcus.lee@contoso.com"),
            TC("search_software", 3, req=True, name=has("tableau")),
            TNC("request_software", 2, q="Did the assistant clarify which edition before requesting an install?"),
            RM(2, all=["Desktop", "Reader"]),
            J("Does the assistant explain the license difference that matters for the choice?", 1,
              pc="Mentions that Desktop needs approval/license and Reader is free/view-only.", ev="named license")])
    t.turn("Desktop, I build dashboards for campaigns. Who has to approve it?",
           [call("request_software", {"user_id": "U-51877", "software_id": "SW-TBL-DESK-2026", "device_id": "LT-MKT-0459"},
                 {"request_id": "SWR-88410", "status": "pending_approval", "approver": "Marketing cost center owner"}),
            call("get_ticket", {"ticket_id": "SWR-88410"},
                 {"ticket_id": "SWR-88410", "status": "pending_approval", "approver": "Hannah Schmidt",
                  "cost_center": "MKT-410", "sla_days": 2}),
            say("Requested Tableau Desktop 2026.1 for your laptop LT-MKT-0459 (SWR-88410). It's waiting for Hannah Schmidt, "
                "owner of cost center MKT-410 (usually within 2 business days); it installs automatically once approved.")],
           [TC("request_software", 5, req=True, user_id="U-51877", software_id="SW-TBL-DESK-2026", device_id="LT-MKT-0459"),
            TC("get_ticket", 2, dep=[0], after=["request_software"], ticket_id="SWR-88410"),
            RM(3, all=["SWR-88410", "Hannah Schmidt"], dep=[1]),
            TNC("request_software", 1, software_id="SW-TBL-READER")])
    out.append(t)

    t = TaskB("it_helpdesk-004", "it_helpdesk", _IT_SYS,
              _tools(_IT, "lookup_user", "check_service_status", "create_ticket", "get_ticket"),
              title="Printer outage affecting a floor")
    t.turn("None of the printers on the 3rd floor are working and we have board packs to print in an hour. I'm "
           "olivia.grant@contoso.com.",
           [par(("lookup_user", {"email": "olivia.grant@contoso.com"},
                 {"user_id": "U-20044", "name": "Olivia Grant", "department": "Executive Office", "location": "HQ-3"}),
                ("check_service_status", {"service": "printing"}, {"service": "printing", "status": "operational"})),
            call("create_ticket", {"user_id": "U-20044", "category": "hardware", "priority": "high",
                                   "summary": "All 3rd floor printers (HQ-3) not printing; board packs due in 1 hour"},
                 {"ticket_id": "TCK-120511", "status": "assigned", "assignee": "Desk-side team HQ", "sla_minutes": 30}),
            say("The print service itself is up, so this looks local to the 3rd floor. I opened high-priority ticket TCK-120511; "
                "the HQ desk-side team is assigned with a 30-minute response target. If it's urgent, the 2nd-floor printers "
                "should work in the meantime.")],
           [TC("lookup_user", 1, req=True, email="olivia.grant@contoso.com"),
            TC("check_service_status", 2, service="printing"),
            TC("create_ticket", 4, req=True, dep=[0], after=["lookup_user"], user_id="U-20044", category=one_of("hardware", "network"),
               priority=one_of("high", "critical"), summary=rx("(?i).*(3rd|third).*")),
            RM(2, all=["TCK-120511"], any=["30-minute", "30 minute", "30 min"], dep=[2])])
    t.turn("It's been 40 minutes and nobody came. What's going on?",
           [call("get_ticket", {"ticket_id": "TCK-120511"},
                 {"ticket_id": "TCK-120511", "status": "in_progress", "assignee": "Desk-side team HQ",
                  "last_update": "Technician on site, print server queue for HQ-3 restarted; testing now"}),
            say("Sorry for the wait. TCK-120511 is in progress: a technician is on site and has restarted the HQ-3 print queue "
                "and is testing now. Try printing again in a couple of minutes.")],
           [TC("get_ticket", 5, req=True, ticket_id="TCK-120511"),
            RM(3, any=["on site", "restarted"]),
            TNC("create_ticket", 1, q="Did the assistant avoid opening a duplicate ticket?"),
            J("Does the assistant acknowledge the delay empathetically?", 1, pc="Apologises or acknowledges the wait.", ev="Sorry")])
    out.append(t)
    return out


# --------------------------------------------------------------------------- library

_LB_SYS = ("You are the assistant of the Maple County Public Library. You can search the catalog, check copies, place "
           "and cancel holds, renew loans, check out e-books, book study rooms and handle fines for the signed-in patron "
           "(card 2900-4471-0082, patron_id PAT-88231). Today is 2026-02-20.")

_LB = {
    "search_catalog": fn("search_catalog", "Search titles.", ["query"], query=S("Title, author or keywords"),
                         format=E("Format", ["book", "ebook", "audiobook", "dvd", "any"], default="any")),
    "get_copies": fn("get_copies", "Copies of a title by branch, with status.", ["title_id"], title_id=S("Title id from search_catalog")),
    "place_hold": fn("place_hold", "Place a hold on a title.", ["title_id", "patron_id", "pickup_branch"],
                     title_id=S("Title id"), patron_id=S("Patron id"),
                     pickup_branch=E("Pickup branch", ["Central", "Eastside", "Lakeview", "Northgate"])),
    "list_holds": fn("list_holds", "The patron's current holds.", ["patron_id"], patron_id=S("Patron id")),
    "cancel_hold": fn("cancel_hold", "Cancel a hold.", ["hold_id"], hold_id=S("Hold id")),
    "list_loans": fn("list_loans", "The patron's checked-out items with due dates.", ["patron_id"], patron_id=S("Patron id")),
    "renew_loan": fn("renew_loan", "Renew a checked-out item for 21 more days.", ["loan_id"], loan_id=S("Loan id")),
    "checkout_ebook": fn("checkout_ebook", "Borrow an available e-book or audiobook.", ["title_id", "patron_id"],
                         title_id=S("Title id"), patron_id=S("Patron id"),
                         lending_days=I("Loan length", enum=[7, 14, 21], default=14)),
    "get_fines": fn("get_fines", "Outstanding fines of a patron.", ["patron_id"], patron_id=S("Patron id")),
    "pay_fines": fn("pay_fines", "Pay fines with the card on file.", ["patron_id", "amount"],
                    patron_id=S("Patron id"), amount=N("Amount in USD", exclusiveMinimum=0)),
    "find_study_rooms": fn("find_study_rooms", "Free study rooms at a branch.", ["branch", "date", "start_time", "hours"],
                           branch=E("Branch", ["Central", "Eastside", "Lakeview", "Northgate"]), date=S("YYYY-MM-DD", pattern=DATE),
                           start_time=S("HH:MM", pattern=TIME), hours=I("Duration in hours", minimum=1, maximum=4),
                           capacity=I("People", minimum=1, default=1)),
    "book_study_room": fn("book_study_room", "Book a study room.", ["room_id", "patron_id", "date", "start_time", "hours"],
                          room_id=S("Room id"), patron_id=S("Patron id"), date=S("YYYY-MM-DD", pattern=DATE),
                          start_time=S("HH:MM", pattern=TIME), hours=I("Hours", minimum=1, maximum=4)),
}


@domain("library")
def library() -> list[TaskB]:
    out = []

    t = TaskB("library-001", "library", _LB_SYS,
              _tools(_LB, "search_catalog", "get_copies", "place_hold", "list_loans", "renew_loan"),
              title="Hold a bestseller, renew what's due")
    t.turn("Is 'Project Hail Mary' on the shelf anywhere? I'd like the print book, ideally at Eastside.",
           [call("search_catalog", {"query": "Project Hail Mary", "format": "book"},
                 {"results": [{"title_id": "T-100482", "title": "Project Hail Mary", "author": "Andy Weir", "format": "book"}]}),
            call("get_copies", {"title_id": "T-100482"},
                 {"copies": [{"branch": "Eastside", "status": "checked_out", "due": "2026-03-02"},
                             {"branch": "Central", "status": "available"},
                             {"branch": "Lakeview", "status": "in_transit"}]}),
            say("Eastside's copy of Project Hail Mary is checked out until March 2, but Central has one on the shelf right now. "
                "I can also place a hold for pickup at Eastside — want that?")],
           [TC("search_catalog", 2, req=True, query=has("Hail Mary"), format=one_of("book", "any")),
            TC("get_copies", 3, req=True, dep=[0], after=["search_catalog"], title_id="T-100482"),
            RM(3, all=["Central"], any=["March 2", "2026-03-02"], dep=[1]),
            TNC("place_hold", 1)])
    t.turn("Yes, hold it for Eastside.",
           [call("place_hold", {"title_id": "T-100482", "patron_id": "PAT-88231", "pickup_branch": "Eastside"},
                 {"hold_id": "HLD-30921", "queue_position": 1, "estimated_ready": "2026-02-23"}),
            say("Hold HLD-30921 placed — you're first in line and it should be ready at Eastside around Feb 23.")],
           [TC("place_hold", 5, req=True, title_id="T-100482", patron_id="PAT-88231", pickup_branch="Eastside"),
            TRM("place_hold", 1, all=["HLD-30921"], dep=[0]),
            RM(4, all=["HLD-30921"], any=["Feb 23", "2026-02-23", "first"])])
    t.turn("Also renew anything I have that's due this week.",
           [call("list_loans", {"patron_id": "PAT-88231"},
                 {"loans": [{"loan_id": "LN-77120", "title": "The Overstory", "due": "2026-02-22"},
                            {"loan_id": "LN-77188", "title": "Braiding Sweetgrass", "due": "2026-02-24"},
                            {"loan_id": "LN-76990", "title": "Dune (DVD)", "due": "2026-03-09"}]}),
            par(("renew_loan", {"loan_id": "LN-77120"}, {"loan_id": "LN-77120", "new_due": "2026-03-15", "renewals_left": 1}),
                ("renew_loan", {"loan_id": "LN-77188"}, {"loan_id": "LN-77188", "new_due": "2026-03-17", "renewals_left": 2})),
            say("Renewed both items due this week: The Overstory is now due March 15 and Braiding Sweetgrass March 17. Dune (DVD) "
                "isn't due until March 9, so I left it.")],
           [TC("list_loans", 1, req=True, patron_id="PAT-88231"),
            TC("renew_loan", 3, req=True, dep=[0], after=["list_loans"], loan_id="LN-77120"),
            TC("renew_loan", 3, dep=[0], after=["list_loans"], loan_id="LN-77188"),
            TNC("renew_loan", 1, loan_id="LN-76990", q="Did the assistant leave the DVD (not due this week) alone?"),
            RM(2, all=["March 15", "March 17"], dep=[1, 2])])
    out.append(t)

    t = TaskB("library-002", "library", _LB_SYS,
              _tools(_LB, "search_catalog", "checkout_ebook", "get_fines", "pay_fines"),
              tags=["error_recovery"], title="E-book is out; borrow the e-audiobook instead")
    t.turn("I want to borrow 'Tomorrow, and Tomorrow, and Tomorrow' right now for my commute — e-book or e-audiobook, "
           "whichever I can get immediately. 21 days please.",
           [call("search_catalog", {"query": "Tomorrow, and Tomorrow, and Tomorrow", "format": "ebook"},
                 {"results": [{"title_id": "T-208817-E", "title": "Tomorrow, and Tomorrow, and Tomorrow", "format": "ebook",
                               "author": "Gabrielle Zevin"}]}),
            call("checkout_ebook", {"title_id": "T-208817-E", "patron_id": "PAT-88231", "lending_days": 21},
                 {"error": "no_copies_available", "message": "All 6 licenses are in use; 11 people waiting"}),
            call("search_catalog", {"query": "Tomorrow, and Tomorrow, and Tomorrow", "format": "audiobook"},
                 {"results": [{"title_id": "T-208817-A", "title": "Tomorrow, and Tomorrow, and Tomorrow",
                               "format": "e-audiobook", "narrator": "Jennifer Kim, Julian Cihi", "available_licenses": 2}]}),
            call("checkout_ebook", {"title_id": "T-208817-A", "patron_id": "PAT-88231", "lending_days": 21},
                 {"loan_id": "LN-E-55102", "format": "e-audiobook", "due": "2026-03-13", "app": "Libby"}),
            say("The e-book is fully checked out (11 people waiting), but the e-audiobook was available, so I borrowed that for "
                "21 days — it's in your Libby app now (loan LN-E-55102), due March 13.")],
           [TC("checkout_ebook", 2, req=True, title_id="T-208817-E", patron_id="PAT-88231"),
            TC("search_catalog", 1, req=True, format="audiobook", query=has("Tomorrow")),
            TC("checkout_ebook", 4, req=True, dep=[1], after=["search_catalog"], title_id="T-208817-A", patron_id="PAT-88231",
               lending_days=21, q="After the e-book failed, did the assistant borrow the e-audiobook (T-208817-A) for 21 days?"),
            TRM("checkout_ebook", 1, all=["LN-E-55102"], dep=[2]),
            RM(2, all=["March 13"], any=["audiobook", "Libby"], dep=[2])])
    t.turn("Nice. Do I owe any fines? If it's under $10 just pay it.",
           [call("get_fines", {"patron_id": "PAT-88231"},
                 {"fines": [{"item": "The Overstory", "reason": "overdue", "amount": 2.75},
                            {"item": "Dune (DVD)", "reason": "damaged case", "amount": 5.0}], "total": 7.75}),
            call("pay_fines", {"patron_id": "PAT-88231", "amount": 7.75},
                 {"payment_id": "PMT-11820", "paid": 7.75, "balance": 0.0}),
            say("You owed $7.75 ($2.75 overdue on The Overstory and $5.00 for a damaged Dune DVD case). Since that's under $10 I "
                "paid it with the card on file — payment PMT-11820, balance now $0.00.")],
           [TC("get_fines", 2, req=True, patron_id="PAT-88231"),
            TC("pay_fines", 4, req=True, dep=[0], after=["get_fines"], patron_id="PAT-88231", amount=approx(7.75, 0.001),
               fail=["Pays $10 instead of the actual total"]),
            RM(3, all=["7.75", "PMT-11820"], dep=[1])])
    out.append(t)

    t = TaskB("library-003", "library", _LB_SYS,
              _tools(_LB, "find_study_rooms", "book_study_room", "list_holds"),
              tags=["error_recovery"], title="Study room over the daily limit")
    t.turn("I need a study room for 3 people at Central this Saturday from 1pm for 3 hours.",
           [call("find_study_rooms", {"branch": "Central", "date": "2026-02-21", "start_time": "13:00", "hours": 3, "capacity": 3},
                 {"rooms": [{"room_id": "RM-C-204", "name": "Room 204", "capacity": 4, "has_screen": True},
                            {"room_id": "RM-C-118", "name": "Room 118", "capacity": 6, "has_screen": False}]}),
            call("book_study_room", {"room_id": "RM-C-204", "patron_id": "PAT-88231", "date": "2026-02-21", "start_time": "13:00",
                                     "hours": 3},
                 {"error": "daily_limit_exceeded", "message": "Patrons may book at most 2 hours per day"}),
            call("book_study_room", {"room_id": "RM-C-204", "patron_id": "PAT-88231", "date": "2026-02-21", "start_time": "13:00",
                                     "hours": 2},
                 {"booking_id": "SR-44019", "room": "Room 204", "start": "13:00", "end": "15:00"}),
            say("Patrons can book at most 2 hours a day, so I reserved Room 204 at Central (seats 4, has a screen) on Saturday "
                "Feb 21 from 13:00 to 15:00 — booking SR-44019. One of your study partners could book the 15:00–16:00 hour "
                "on their own card.")],
           [TC("find_study_rooms", 2, req=True, branch="Central", date="2026-02-21", start_time="13:00", capacity=approx(3, 0.5)),
            TC("book_study_room", 4, req=True, dep=[0], after=["find_study_rooms"], room_id=one_of("RM-C-204", "RM-C-118"),
               date="2026-02-21", start_time="13:00", hours=2,
               q="After the 3-hour booking was refused, did the assistant book 2 hours from 13:00?"),
            TRM("book_study_room", 2, all=["SR-44019"], dep=[1]),
            RM(2, all=["SR-44019"], any=["2 hours", "15:00"], dep=[1]),
            J("Does the assistant explain the 2-hour limit and suggest how to cover the third hour?", 1,
              pc="Mentions the daily limit and offers a workaround.", ev="at most 2 hours")])
    t.turn("OK. Is any of my holds ready to pick up while I'm there?",
           [call("list_holds", {"patron_id": "PAT-88231"},
                 {"holds": [{"hold_id": "HLD-29877", "title": "Intermezzo", "status": "ready", "pickup_branch": "Central",
                             "pickup_by": "2026-02-25"},
                            {"hold_id": "HLD-30921", "title": "Project Hail Mary", "status": "waiting", "pickup_branch": "Eastside"}]}),
            say("Yes — Intermezzo is ready for you at Central (pick up by Feb 25), so you can grab it on Saturday. Project Hail "
                "Mary is still waiting and goes to Eastside.")],
           [TC("list_holds", 5, req=True, patron_id="PAT-88231"),
            RM(4, all=["Intermezzo"], any=["Feb 25", "February 25", "2026-02-25"]),
            TNC("book_study_room", 1)])
    out.append(t)

    t = TaskB("library-004", "library", _LB_SYS,
              _tools(_LB, "list_holds", "cancel_hold", "search_catalog", "place_hold"),
              title="Clean up stale holds, hold a new author")
    t.turn("I have way too many holds. Cancel anything I placed before November 2025.",
           [call("list_holds", {"patron_id": "PAT-88231"},
                 {"holds": [{"hold_id": "HLD-28110", "title": "The Covenant of Water", "placed": "2025-08-14"},
                            {"hold_id": "HLD-29014", "title": "Flour Water Salt Yeast", "placed": "2025-10-02"},
                            {"hold_id": "HLD-29877", "title": "Intermezzo", "placed": "2026-01-11"},
                            {"hold_id": "HLD-30921", "title": "Project Hail Mary", "placed": "2026-02-20"}]}),
            par(("cancel_hold", {"hold_id": "HLD-28110"}, {"hold_id": "HLD-28110", "status": "cancelled"}),
                ("cancel_hold", {"hold_id": "HLD-29014"}, {"hold_id": "HLD-29014", "status": "cancelled"})),
            say("Cancelled the 2 holds placed before November 2025: The Covenant of Water (Aug 14) and Flour Water Salt Yeast "
                "(Oct 2). You still have Intermezzo and Project Hail Mary.")],
           [TC("list_holds", 2, req=True, patron_id="PAT-88231"),
            TC("cancel_hold", 3, req=True, dep=[0], after=["list_holds"], hold_id="HLD-28110"),
            TC("cancel_hold", 3, req=True, dep=[0], after=["list_holds"], hold_id="HLD-29014"),
            TNC("cancel_hold", 2, hold_id=one_of("HLD-29877", "HLD-30921"), q="Did the assistant keep the recent holds?"),
            RM(1, all=["Covenant of Water", "Flour Water Salt Yeast"])])
    t.turn("Now put a hold on the newest Kazuo Ishiguro novel, pickup at Lakeview.",
           [call("search_catalog", {"query": "Kazuo Ishiguro", "format": "book"},
                 {"results": [{"title_id": "T-187702", "title": "Klara and the Sun", "year": 2021},
                              {"title_id": "T-090113", "title": "Never Let Me Go", "year": 2005},
                              {"title_id": "T-034451", "title": "The Remains of the Day", "year": 1989}]}),
            call("place_hold", {"title_id": "T-187702", "patron_id": "PAT-88231", "pickup_branch": "Lakeview"},
                 {"hold_id": "HLD-31177", "queue_position": 2, "estimated_ready": "2026-03-06"}),
            say("Placed a hold on Klara and the Sun (2021), Ishiguro's newest novel in our catalog, for pickup at Lakeview — hold "
                "HLD-31177, you're #2 in line, ready around March 6.")],
           [TC("search_catalog", 2, req=True, query=has("Ishiguro")),
            TC("place_hold", 4, req=True, dep=[0], after=["search_catalog"], title_id="T-187702", pickup_branch="Lakeview",
               q="Did the assistant hold the most recent title (Klara and the Sun, T-187702) for Lakeview?",
               fail=["Holds Never Let Me Go (2005)"]),
            RM(2, all=["HLD-31177", "Klara and the Sun"], dep=[1])])
    out.append(t)
    return out


# =========================================================================== end of tasks

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
