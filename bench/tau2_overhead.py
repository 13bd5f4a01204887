"""tau2 adapter overhead: per tool step (cm2 env step vs bare ``Environment.get_response``), reset, evaluation.

    .venv-tau2/bin/python bench/tau2_overhead.py [--domain retail] [--tasks 10] [--repeat 3]

Prints µs/ms figures. Needs the tau2 venv (scripts/install_tau2_env.sh).
"""

from __future__ import annotations

import argparse
import statistics
import time

from cm2_env.benchmarks.tau2 import _tau2


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--domain", default="retail")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    _tau2._prepare_environ()
    from tau2.data_model.message import ToolCall
    from tau2.registry import registry

    from agents.reference import ReferenceAgent
    from cm2_env.benchmarks.tau2.env import Tau2Env
    from cm2_env.benchmarks.tau2.executor import initial_environment, tau2_task
    from cm2_env.benchmarks.tau2.official import official_verdict

    t0 = time.perf_counter()
    env = Tau2Env(a.domain, limit=a.tasks)
    print(f"load {len(env.tasks)} {a.domain} task(s) (incl. first DB parse): {time.perf_counter() - t0:.2f} s")
    tasks = env.tasks

    ctor = []
    for _ in range(a.repeat):
        t = time.perf_counter(); registry.get_env_constructor(a.domain)(); ctor.append(time.perf_counter() - t)
    fresh = []
    for task in tasks:
        t = time.perf_counter(); initial_environment(task); fresh.append(time.perf_counter() - t)
    print(f"tau2 env constructor (parses the DB): {1e3 * statistics.median(ctor):.1f} ms; "
          f"ours (pickled copy of the cached env + initial state): {1e3 * statistics.median(fresh):.1f} ms")

    bare, ours, resets, evals, evals_tau2_ctor, steps = [], [], [], [], [], 0
    for _ in range(a.repeat):
        for task in tasks:
            gold = [a_ for a_ in (tau2_task(task).evaluation_criteria.actions or []) if a_.requestor == "assistant"]
            e = initial_environment(task)
            for g in gold:
                t = time.perf_counter()
                e.get_response(ToolCall(id=g.action_id, name=g.name, arguments=g.arguments, requestor="assistant"))
                bare.append(time.perf_counter() - t)
            agent = ReferenceAgent()
            t = time.perf_counter(); obs, info = env.reset(options={"task_id": task.id}); resets.append(time.perf_counter() - t)
            agent.reset(task)
            done = False
            while not done:
                msg = agent.next_message(obs)
                if msg.get("tool_calls"):
                    t = time.perf_counter(); obs, r, term, trunc, info = env.step(msg); ours.append(time.perf_counter() - t)
                    steps += 1
                else:
                    obs, r, term, trunc, info = env.step(msg)
                done = term or trunc
            sess = env._ep.tool_session
            t = time.perf_counter(); official_verdict(task, env.messages, sess); evals.append(time.perf_counter() - t)
            with _tau2.original_constructors():  # tau2's evaluator re-parsing the DB for each env it builds
                t = time.perf_counter(); official_verdict(task, env.messages, sess)
                evals_tau2_ctor.append(time.perf_counter() - t)
    mb, mo = statistics.median(bare), statistics.median(ours)
    print(f"tool step: bare get_response {1e6 * mb:.0f} µs, cm2 env.step {1e6 * mo:.0f} µs "
          f"(overhead {1e6 * (mo - mb):.0f} µs/step, {steps} steps)")
    print(f"env.reset (fresh env + scripted opening): {1e3 * statistics.median(resets):.1f} ms")
    print(f"official evaluation (tau2 evaluate_simulation, NL skipped): {1e3 * statistics.median(evals):.1f} ms/episode "
          f"(with tau2's own env constructor in the evaluator: {1e3 * statistics.median(evals_tau2_ctor):.1f} ms)")


if __name__ == "__main__":
    main()
