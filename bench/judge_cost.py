"""Judge cost per episode under three judging schemes, and tool-simulator memo hits in groups of rollouts.

Runs the starter suite with the reference and the perturbed agents against a loopback OpenAI-compatible
server (the scripted server of tests/servers, whose answers depend on the request) and prints, per episode,
the judge's LLM calls and prompt tokens for:

- ``cm2``       CM2's reference scheme: every checklist item judged at every assistant step (per item);
- ``per_item``  each item judged once per turn (one request per item);
- ``batched``   all items of a turn in one request (one verdict per item).

By default every checklist item goes to the LLM judge (programmatic checks are stripped), as in CM2, where no
item has a programmatic check; ``--keep-checks`` judges only the items without one. Prompt tokens are the
server's count (chars/4 of the request messages), identical across schemes.

Then it runs groups of ``--group-size`` rollouts of the perturbed agent per task, concurrently, with one
shared LLM tool simulator, and prints the simulator's LLM calls, memo hits and the number of distinct
(group, canonical call) pairs that needed the LLM — identical calls within a group must cost one call.

    python bench/judge_cost.py [--tasks GLOB] [--group-size 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "bench") not in sys.path:  # also when loaded by path (its smoke test)
    sys.path.insert(0, str(ROOT / "bench"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import cm2_env  # noqa: E402
from agents.perturbed import PerturbedAgent  # noqa: E402
from agents.reference import ReferenceAgent  # noqa: E402
from cm2_env.judge.base import TurnJudgeRequest  # noqa: E402
from cm2_env.judge.llm_judge import LLMJudge  # noqa: E402
from cm2_env.rollout import EpisodeSpec, run_episode  # noqa: E402
from cm2_env.tasks.models import Task  # noqa: E402
from cm2_env.tasks import resolve_tasks, select_tasks  # noqa: E402
from cm2_env.tools.canonical import canonical_args  # noqa: E402
from cm2_env.tools.llm_sim import LLMToolSimulator  # noqa: E402
from cm2_env.types import Verdict  # noqa: E402
from _test_servers import load_test_servers  # noqa: E402


def _load_test_servers():
    load_test_servers()
    from cm2_test_servers.roles import role_router
    from cm2_test_servers.scripted import ScriptedServer

    return ScriptedServer, role_router


class CM2StepJudge:
    """CM2's scheme: each item judged (per item) at every assistant step of the turn, on the turn so far.

    An item passes if it passed at any step (the step is the first passing one).
    """

    def __init__(self, inner: LLMJudge):
        self.inner = inner

    async def judge_turn(self, request: TurnJudgeRequest) -> dict[str, Verdict]:
        steps = [i for i, m in enumerate(request.turn_messages) if m.get("role") == "assistant"]
        per_step = []
        for s in steps:  # sequential, as the steps happen during the episode
            sub = TurnJudgeRequest(request.task, request.turn_index, request.items, request.turn_messages[: s + 1],
                                   request.history)
            per_step.append(await self.inner.judge_turn(sub))
        out: dict[str, Verdict] = {}
        for it in request.items:
            vs = [d[it.id] for d in per_step if it.id in d]
            passed = next((v for v in vs if v.status == "passed"), None)
            out[it.id] = passed or next((v for v in vs if v.status == "failed"), None) or (
                vs[-1] if vs else Verdict(it.id, "error", None, "no assistant step", "llm"))
        return out


def strip_checks(tasks: list[Task]) -> list[Task]:
    out = []
    for t in tasks:
        turns = [turn.model_copy(update={"checklist": [it.model_copy(update={"check": None}) for it in turn.checklist]})
                 for turn in t.turns]
        out.append(t.model_copy(update={"turns": turns}))
    return out


def llm_cfg(url: str) -> dict[str, Any]:
    return {"base_url": url, "model": "scripted", "timeout": 30, "retries": 2, "backoff_base": 0.01,
            "max_concurrency": 64}


async def run_judge_schemes(tasks: list[Task], url: str, concurrency: int) -> dict[str, dict[str, Any]]:
    schemes = {
        "cm2": lambda: CM2StepJudge(LLMJudge(llm=llm_cfg(url), mode="per_item")),
        "per_item": lambda: LLMJudge(llm=llm_cfg(url), mode="per_item"),
        "batched": lambda: LLMJudge(llm=llm_cfg(url), mode="batched"),
    }
    agents = {"reference": lambda: ReferenceAgent(as_text=True), "perturbed": lambda: PerturbedAgent(fault_rate=0.5)}
    results: dict[str, dict[str, Any]] = {}
    for scheme, make_judge in schemes.items():
        judge = make_judge()
        for agent_name, make_agent in agents.items():
            sem = asyncio.Semaphore(concurrency)

            async def one(i: int, task: Task) -> dict[str, Any]:
                async with sem:
                    env = cm2_env.make("cm2/ToolTask-v0", tasks=tasks, judge=judge, tool_backend="offline",
                                       user="scripted")
                    spec = EpisodeSpec(f"{task.id}.{agent_name}", task.id, f"{task.id}#{agent_name}", 0, 1000 + i)
                    rec = await run_episode(env.unwrapped, make_agent(), spec)
                    env.close()
                    return rec

            t0 = time.perf_counter()
            recs = await asyncio.gather(*(one(i, t) for i, t in enumerate(tasks)))
            judge_usage = [r.usage.get("judge", {}) for r in recs]
            n = len(recs)
            results[f"{scheme}/{agent_name}"] = {
                "scheme": scheme, "agent": agent_name, "episodes": n,
                "calls_per_episode": sum(u.get("calls", 0) for u in judge_usage) / n,
                "prompt_tokens_per_episode": sum(u.get("prompt_tokens", 0) for u in judge_usage) / n,
                "judge_failures": sum(u.get("failures", 0) for u in judge_usage),
                "mean_score": sum((r.score or 0.0) for r in recs) / n,
                "elapsed_s": round(time.perf_counter() - t0, 2),
            }
    return results


def _llm_calls_of(rec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, tool name, canonical args) of the episode's calls answered by the LLM simulator or its memo."""
    records = iter(rec.tool_calls)
    out = []
    for m in rec.messages:
        if m.get("role") != "assistant":
            continue
        for tc in m.get("tool_calls") or []:
            r = next(records, None)
            if r is None or r.get("source") not in ("llm", "memo"):
                continue
            fn = tc.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except json.JSONDecodeError:
                continue
            out.append((r["source"], fn.get("name", ""), canonical_args(args)))
    return out


async def run_memo(tasks: list[Task], url: str, group_size: int) -> dict[str, Any]:
    sim = LLMToolSimulator(llm=llm_cfg(url), memo="group")
    llm_calls = memo_hits = nonreplay = 0
    distinct = 0
    groups = 0
    for gi, task in enumerate(tasks):
        group_key = f"{task.id}#g{gi}"

        async def rollout(r: int) -> dict[str, Any]:
            env = cm2_env.make("cm2/ToolTask-v0", tasks=tasks, judge=None, tool_backend=sim, user="scripted")
            spec = EpisodeSpec(f"{group_key}.{r}", task.id, group_key, r, 7_000 + 31 * gi + r)
            rec = await run_episode(env.unwrapped, PerturbedAgent(fault_rate=0.5), spec)
            env.close()
            return rec

        recs = await asyncio.gather(*(rollout(r) for r in range(group_size)))
        groups += 1
        keys = set()
        for rec in recs:
            u = rec.usage.get("simulator", {})
            llm_calls += u.get("calls", 0)
            memo_hits += u.get("memo_hits", 0)
            for _, name, args in _llm_calls_of(rec):
                nonreplay += 1
                keys.add((name, args))
        distinct += len(keys)
        sim.forget_group(group_key)
    return {"groups": groups, "group_size": group_size, "rollouts": groups * group_size,
            "non_replay_calls": nonreplay, "distinct_calls_per_group_total": distinct,
            "simulator_llm_calls": llm_calls, "memo_hits": memo_hits,
            "one_llm_call_per_identical_call": llm_calls == distinct}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", default="starter")
    ap.add_argument("--tasks", default=None, help="task selector (id globs / domain:NAME)")
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent episodes per scheme/agent")
    ap.add_argument("--keep-checks", action="store_true", help="LLM-judge only the items without a check")
    ap.add_argument("--skip-memo", action="store_true")
    ap.add_argument("--json", default=None, help="write the results to this file")
    args = ap.parse_args(argv)
    log = logging.getLogger("cm2_env")
    level = log.level
    log.setLevel(logging.ERROR)  # the memo runs have no judge: their unjudged-item warnings are expected
    try:
        return _main(args)
    finally:
        log.setLevel(level)


def _main(args: argparse.Namespace) -> int:

    tasks = select_tasks(resolve_tasks(args.suite), args.tasks)
    judged_tasks = tasks if args.keep_checks else strip_checks(tasks)
    ScriptedServer, role_router = _load_test_servers()
    with ScriptedServer(handler=role_router) as srv:
        judge = asyncio.run(run_judge_schemes(judged_tasks, srv.url, args.concurrency))
        memo = None if args.skip_memo else asyncio.run(run_memo(tasks, srv.url, args.group_size))

    print(f"\nJudge cost per episode — {len(tasks)} tasks of '{args.suite}', "
          f"{'items without checks only' if args.keep_checks else 'every item LLM-judged (as in CM2)'}")
    print(f"{'scheme':<10} {'agent':<10} {'calls/ep':>9} {'prompt tok/ep':>14} {'calls vs cm2':>13} "
          f"{'tokens vs cm2':>14} {'score':>6}")
    ok = True
    for agent in ("reference", "perturbed"):
        base = judge[f"cm2/{agent}"]
        for scheme in ("cm2", "per_item", "batched"):
            r = judge[f"{scheme}/{agent}"]
            rc = r["calls_per_episode"] / base["calls_per_episode"] if base["calls_per_episode"] else 0.0
            rt = r["prompt_tokens_per_episode"] / base["prompt_tokens_per_episode"] \
                if base["prompt_tokens_per_episode"] else 0.0
            r["calls_vs_cm2"], r["tokens_vs_cm2"] = rc, rt
            print(f"{scheme:<10} {agent:<10} {r['calls_per_episode']:>9.1f} {r['prompt_tokens_per_episode']:>14.0f} "
                  f"{rc:>12.1%} {rt:>14.1%} {r['mean_score']:>6.3f}")
            if scheme == "batched":
                ok &= rc <= 0.20 and rt <= 0.35
    print(f"target (batched <= 20% of CM2's calls and <= 35% of its prompt tokens): {'MET' if ok else 'NOT MET'}")
    if memo:
        print(f"\nTool-simulator memo — {memo['groups']} groups x {memo['group_size']} perturbed rollouts "
              f"(concurrent, one shared simulator)")
        print(f"calls answered by LLM or memo: {memo['non_replay_calls']}; distinct per group (summed): "
              f"{memo['distinct_calls_per_group_total']}; simulator LLM calls: {memo['simulator_llm_calls']}; "
              f"memo hits: {memo['memo_hits']}")
        print(f"identical calls within a group cost one LLM call: "
              f"{'YES' if memo['one_llm_call_per_identical_call'] else 'NO'}")
        ok &= memo["one_llm_call_per_identical_call"]
    if args.json:
        Path(args.json).write_text(json.dumps({"judge": judge, "memo": memo}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
