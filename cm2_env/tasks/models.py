"""Typed data model of a cm2 task: tools, user side, reference trajectory and per-turn checklists.

The JSON Schema shipped beside this module (``task.schema.json``) is generated from these models
(``python -m cm2_env.tasks.schema``); a test keeps the two in sync.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from ..judge.checks import (  # noqa: F401 - the built-in check models, re-exported for task authors
    CHECKS,
    ArgConstraint,
    CheckSpec,
    ReplyMatchesCheck,
    ToolCalledCheck,
    ToolNotCalledCheck,
    ToolResultMatchesCheck,
)

FocusOn = Literal[
    "assistant.tool_calls",
    "assistant.content.user_visible_reply",
    "assistant.content.thinking",
    "tool.content",
]
"""What part of the trajectory a checklist item looks at (CM2's ``focus_on`` enum)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- checklist


class Evidence(_Model):
    """A pointer into the reference trajectory that justifies a checklist item (CM2 format)."""

    turn: int = Field(description="User-turn index in the reference (0-based).")
    step: int = Field(description="Message index within the turn (0 = the user message).")
    from_: str = Field(alias="from", description="Which field the snippet is taken from (a focus_on value).")
    snippet: str = Field(description="Verbatim text from the reference.")


class ChecklistItem(_Model):
    """One binary, evidence-grounded criterion for one user turn."""

    id: str = Field(description="Item id, unique within its turn (e.g. C0).")
    question: str = Field(description="Yes/no question the judge answers.")
    pass_condition: str = Field("", description="What must be observed for a yes.")
    focus_on: FocusOn = Field("assistant.tool_calls", description="Part of the trajectory the item looks at.")
    evidence: list[Evidence] = Field(default_factory=list, description="Where the reference satisfies the item.")
    failure_examples: list[str] = Field(default_factory=list, description="Typical ways to fail it.")
    required_for_next_turn: bool = Field(False, description="If it fails, the episode ends after this turn.")
    veto: bool = Field(False, description="If it is judged and fails, its turn scores 0 whatever else passed "
                       "(e.g. a forbidden action such as a ToolSandbox minefield).")
    dependence: list[str] = Field(default_factory=list, description="Ids of items (same turn) it depends on.")
    weight: float = Field(ge=0, description="Weight; the weights of one turn sum to 1.")
    check: SerializeAsAny[CheckSpec] | None = Field(
        None, description="Programmatic check deciding the item without an LLM (any registered check type)."
    )
    extra_info: dict[str, Any] = Field(default_factory=dict, description="Anything else carried by the source.")

    @field_validator("check", mode="before")
    @classmethod
    def _registered_check(cls, value: Any) -> Any:
        return None if value is None else CHECKS.parse(value)


# --------------------------------------------------------------------------- task


class Message(BaseModel):
    """An OpenAI-format chat message (extra keys such as `tool_call_id` or `name` are kept)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool"] = Field(description="Who speaks.")
    content: str | None = Field(None, description="Text (may contain a <think> block for assistants).")
    tool_calls: list[dict[str, Any]] | None = Field(None, description="OpenAI tool calls (assistant only).")


class Turn(_Model):
    """One user turn: what the scripted user says and the checklist the assistant's answer is judged by."""

    user: str | None = Field(None, description="Scripted user message opening this turn (None if an LLM user speaks).")
    checklist: list[ChecklistItem] = Field(default_factory=list, description="Criteria for this turn.")


class UserProfile(_Model):
    """The user side for an LLM-simulated user."""

    persona: str | None = Field(None, description="Who the user is and how they talk.")
    goal: str | None = Field(None, description="What the user wants to get done.")
    hidden_info: str | None = Field(None, description="Facts the user knows and reveals only when asked.")
    max_turns: int | None = Field(None, ge=1, description="Upper bound on user turns for an LLM user.")


class Task(_Model):
    """A multi-turn tool-use task with checklist labels."""

    id: str = Field(description="Unique task id.")
    domain: str = Field("general", description="Domain label (travel, banking, ...).")
    system_prompt: str = Field("", description="System prompt shown to the agent (tools are added by the env).")
    tools: list[dict[str, Any]] = Field(description="Tool schemas in OpenAI function format.")
    turns: list[Turn] = Field(min_length=1, description="User turns, each with its checklist.")
    user: UserProfile | None = Field(None, description="Persona/goal for an LLM user.")
    reference: list[Message] | None = Field(None, description="Reference trajectory (OpenAI messages, no system).")
    checklist_variants: list[list[list[ChecklistItem]]] = Field(
        default_factory=list,
        description="Alternative checklists [variant][turn][item] (CM2 ships several); `turns` holds the active one.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form metadata (source, tags, ...).")

    # ---------------------------------------------------------------- task-level validation
    # (the loader reports the same problems located in the file; these refuse code-built tasks too)

    @model_validator(mode="after")
    def _consistent(self) -> "Task":
        names = {fn.get("name") for t in self.tools if isinstance(t, dict)
                 for fn in [t.get("function")] if isinstance(fn, dict)}
        problems = reveal_problems(self.metadata, names)
        checklists = [("turns", t, "checklist") for t in range(len(self.turns))]
        for path in checklists:
            items = self.turns[path[1]].checklist
            problems += [((*path, *p), m) for p, m in weight_problems([it.weight for it in items])]
            problems += [((*path, *p), m) for p, m in dependence_cycles([(it.id, it.dependence) for it in items])]
        for v, variant in enumerate(self.checklist_variants):
            if len(variant) != len(self.turns):
                problems.append((("checklist_variants", v), variant_count_message(v, len(variant), len(self.turns))))
            for t, items in enumerate(variant):
                path = ("checklist_variants", v, t)
                problems += [((*path, *p), m) for p, m in weight_problems([it.weight for it in items])]
                problems += [((*path, *p), m) for p, m in dependence_cycles([(it.id, it.dependence) for it in items])]
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, p))}: {m}" for p, m in problems[:10]))
        return self

    # ---------------------------------------------------------------- derived views

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools]

    def tools_for_turn(self, turn: int) -> list[dict[str, Any]]:
        """The tools the agent may use in ``turn``: ``metadata["tools_available_from_turn"]`` ({name: turn})
        holds tools back until a later turn (e.g. BFCL's missing-function category); all others from turn 0."""
        reveal = self.metadata.get("tools_available_from_turn")
        if not reveal:
            return self.tools
        return [t for t in self.tools if int(reveal.get(t["function"]["name"], 0)) <= turn]

    def reference_turns(self) -> list[list[dict[str, Any]]]:
        """The reference split at user messages: turn i = [user, assistant/tool ...]."""
        turns: list[list[dict[str, Any]]] = []
        for msg in self.reference or []:
            m = msg.model_dump(exclude_none=True)
            if m["role"] == "user" or not turns:
                turns.append([])
            turns[-1].append(m)
        return turns


class TaskFile(_Model):
    """A task file: a list of tasks (a bare JSON list of tasks is accepted too)."""

    version: int = Field(1, description="Format version.")
    name: str | None = Field(None, description="Suite name.")
    tasks: list[Task] = Field(description="The tasks.")


# --------------------------------------------------------------------------- checks shared with the loader
# Each takes raw values (dicts from a file or model fields) and returns ``(path relative to its input, message)``.


def reveal_problems(metadata: Any, tool_names: Iterable[Any]) -> list[tuple[tuple, str]]:
    """``metadata.tools_available_from_turn`` must map names of the task's tools to non-negative integer turns."""
    if not isinstance(metadata, dict) or "tools_available_from_turn" not in metadata:
        return []
    reveal, key = metadata["tools_available_from_turn"], "tools_available_from_turn"
    if not isinstance(reveal, dict):
        return [((key,), f"must be an object {{tool name: first turn}}, got {type(reveal).__name__}")]
    names = set(tool_names)
    out: list[tuple[tuple, str]] = []
    for name, turn in reveal.items():
        if name not in names:
            out.append(((key, name), f"unknown tool {name!r}"))
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 0:
            out.append(((key, name), f"the first turn must be a non-negative integer, got {turn!r}"))
    return out


def weight_problems(weights: list[Any]) -> list[tuple[tuple, str]]:
    """Every numeric weight must be finite (JSON ``1e999`` parses to infinity)."""
    out = []
    for i, w in enumerate(weights):
        if isinstance(w, (int, float)) and not isinstance(w, bool) and not _finite(w):
            out.append(((i, "weight"), f"weight must be a finite number, got {w!r:.40}"))
    return out


def _finite(x: int | float) -> bool:
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an integer too large for a float
        return False


def variant_count_message(variant: int, n_checklists: int, n_turns: int) -> str:
    return (f"checklist variant {variant} has {n_checklists} turn checklist(s) but the task has {n_turns} "
            f"turn(s) (one per user message)")


def dependence_cycles(items: list[tuple[Any, Any]]) -> list[tuple[tuple, str]]:
    """Cycles among one turn's items (``(id, dependence)`` pairs): one problem per cycle, at the ``dependence``
    of its first item. Self-dependence and unknown ids are reported elsewhere and ignored here."""
    index: dict[Any, int] = {}
    for i, (iid, _) in enumerate(items):
        if isinstance(iid, str):
            index.setdefault(iid, i)
    edges = [sorted({index[d] for d in deps if isinstance(d, str) and d in index and index[d] != i})
             if isinstance(deps, list) else [] for i, (_, deps) in enumerate(items)]
    out: list[tuple[tuple, str]] = []
    for comp in _strongly_connected(edges):
        if len(comp) > 1:
            first = min(comp)
            cycle = _cycle_through(first, set(comp), edges)
            shown = " -> ".join(str(items[i][0]) for i in cycle + [first])
            out.append(((first, "dependence"), f"dependence cycle: {shown}"))
    return sorted(out)


def _strongly_connected(edges: list[list[int]]) -> list[list[int]]:
    """Tarjan's algorithm, iterative (no recursion limit on long dependence chains)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(len(edges)):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, k = work.pop()
            if k == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            if k < len(edges[v]):
                work.append((v, k + 1))
                w = edges[v][k]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return comps


def _cycle_through(start: int, comp: set[int], edges: list[list[int]]) -> list[int]:
    """A path start -> ... that returns to start, inside one strongly connected component (BFS)."""
    prev: dict[int, int] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in edges[v]:
                if w not in comp:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return path[::-1]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start]
