"""LLM checklist judge: per-item or batched-per-turn, optional k votes with majority.

The env sends this judge only the items of a turn that have no programmatic check, once per turn (an item
satisfied at any step of the turn passes). Each verdict keeps the judge's short rationale. The judge never
raises: a request that fails (server error, unusable output after re-asks) marks its items ``error`` with the
reason as rationale, so the env reports them as judge errors and leaves them out of the score — never a
silent 0.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, Literal

from ..llm import LLMClient, LLMConfig, LLMError
from ..llm.role import LLMRole
from ..tasks.models import ChecklistItem
from ..types import Verdict
from .base import TurnJudgeRequest
from .prompts import ITEM_VERDICT_SCHEMA, batched_messages, batched_schema, build_context, per_item_messages

ROLE = "judge"
DEFAULT_VOTE_TEMPERATURE = 0.7

Vote = tuple[bool, int | None, str] | str
"""(answer, step, rationale) or an error message."""


@dataclass(eq=False)
class LLMJudge(LLMRole):
    """Judge protocol implementation over an OpenAI-compatible model.

    Args:
        llm: role config of the judge model (``LLMConfig`` fields, or an ``LLMClient``).
        mode: ``batched`` (one request per turn, one verdict per item) or ``per_item`` (one request per item).
        votes: samples per decision; the majority wins (a tie fails the item); votes that errored are ignored
            unless all did.
        vote_temperature: temperature used when ``votes > 1`` (default: the role's temperature, or 0.7 when
            that is 0 — greedy votes would all be the same answer).
        with_evidence: show the items' reference evidence snippets.
        max_history_chars / max_turn_chars: transcript budget for earlier turns / the judged turn.
    """

    ROLE: ClassVar[str] = ROLE
    _: KW_ONLY
    mode: Literal["batched", "per_item"] = "batched"
    votes: int = 1
    vote_temperature: float | None = None
    with_evidence: bool = True
    max_history_chars: int = 6000
    max_turn_chars: int = 16000

    def __post_init__(self, llm: LLMClient | LLMConfig | dict[str, Any] | None) -> None:
        if self.mode not in ("batched", "per_item"):
            raise ValueError(f"mode must be 'batched' or 'per_item', got {self.mode!r}")
        if self.votes < 1:
            raise ValueError("votes must be >= 1")
        super().__post_init__(llm)

    # ------------------------------------------------------------------ protocol

    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        items = list(request.items)
        if not items:
            return {}
        try:
            context = build_context(request.history, request.turn_messages, request.task.tools,
                                    max_history_chars=self.max_history_chars, max_turn_chars=self.max_turn_chars)
            if self.mode == "batched":
                votes = await self._batched_votes(context, items)
            else:
                votes = await self._per_item_votes(context, items)
            n_steps = len(request.turn_messages)
            return {it.id: self._decide(it, votes[it.id], n_steps) for it in items}
        except Exception as e:  # never raise from a judge
            return {it.id: Verdict(it.id, "error", None, f"judge failed: {type(e).__name__}: {e}", "llm")
                    for it in items}

    # ------------------------------------------------------------------ requests

    def _overrides(self) -> dict[str, Any]:
        if self.votes == 1:
            return {}
        if self.vote_temperature is not None:
            return {"temperature": self.vote_temperature}
        if not self.client.config.temperature:  # k greedy samples would be k copies of one answer
            return {"temperature": DEFAULT_VOTE_TEMPERATURE}
        return {}

    async def _per_item_votes(self, context: str, items: list[ChecklistItem]) -> dict[str, list[Vote]]:
        async def one(item: ChecklistItem, sample: int) -> Vote:
            msgs = per_item_messages(context, item, with_evidence=self.with_evidence)
            try:
                resp = await self.client.chat_json(msgs, ITEM_VERDICT_SCHEMA, schema_name="checklist_verdict",
                                                   sample=sample, **self._overrides())
            except LLMError as e:
                return f"{e.kind}: {e.message[:300]}"
            return _vote(resp.data)

        jobs = [(it.id, one(it, k)) for it in items for k in range(self.votes)]
        results = await asyncio.gather(*(j for _, j in jobs))
        out: dict[str, list[Vote]] = {it.id: [] for it in items}
        for (item_id, _), vote in zip(jobs, results):
            out[item_id].append(vote)
        return out

    async def _batched_votes(self, context: str, items: list[ChecklistItem]) -> dict[str, list[Vote]]:
        ids = [it.id for it in items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate item ids in one turn: {ids}")
        schema = batched_schema(ids)
        msgs = batched_messages(context, items, with_evidence=self.with_evidence)

        async def one(sample: int) -> dict[str, Vote]:
            try:
                resp = await self.client.chat_json(msgs, schema, schema_name="checklist_verdicts", sample=sample,
                                                   **self._overrides())
            except LLMError as e:
                return {i: f"{e.kind}: {e.message[:300]}" for i in ids}
            return {i: _vote(resp.data["verdicts"][i]) for i in ids}

        samples = await asyncio.gather(*(one(k) for k in range(self.votes)))
        return {i: [s[i] for s in samples] for i in ids}

    # ------------------------------------------------------------------ decision

    def _decide(self, item: ChecklistItem, votes: list[Vote], n_steps: int) -> Verdict:
        valid = [v for v in votes if not isinstance(v, str)]
        if not valid:
            reason = votes[0] if votes else "no vote"
            return Verdict(item.id, "error", None, f"judge error: {reason}", "llm")
        tally = Counter(v[0] for v in valid)
        yes, no = tally[True], tally[False]
        passed = yes > no
        winner = next(v for v in valid if v[0] == passed) if (yes != no) else next(v for v in valid if not v[0])
        step = winner[1] if passed and isinstance(winner[1], int) and 0 <= winner[1] < n_steps else None
        rationale = winner[2]
        if len(votes) > 1:
            rationale = f"{rationale} [votes yes={yes} no={no}" + (
                f" errors={len(votes) - len(valid)}]" if len(valid) < len(votes) else "]")
            if yes == no:
                rationale += " tie: failed"
        return Verdict(item.id, "passed" if passed else "failed", step, rationale, "llm")


def _vote(data: dict[str, Any]) -> Vote:
    step = data.get("step")
    return (bool(data["answer"]), step if isinstance(step, int) and not isinstance(step, bool) else None,
            str(data.get("rationale") or "")[:1000])
