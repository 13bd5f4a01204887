"""tau2-bench adapter: offline reference/perturbed runs, official reward vs tau2's own evaluator, isolation.

Runs only in the tau2 venv (scripts/install_tau2_env.sh): .venv-tau2/bin/python -m pytest tests/benchmarks/test_tau2_env.py
"""

import asyncio

import pytest

from cm2_env.benchmarks.tau2 import _tau2  # noqa: E402  (does not import tau2)

_tau2._prepare_environ()  # TAU2_DATA_DIR / LITELLM_LOCAL_MODEL_COST_MAP before tau2 is first imported
pytest.importorskip("tau2")

from agents.perturbed import PerturbedAgent  # noqa: E402
from agents.reference import ReferenceAgent  # noqa: E402
from cm2_env.benchmarks.tau2.env import Tau2Env  # noqa: E402
from cm2_env.benchmarks.tau2.executor import Tau2ToolSession, gold_reachable  # noqa: E402

RETAIL_SAMPLE = 12


def _episode(env, agent, task):
    async def go():
        obs, info = await env.areset(options={"task_id": task.id})
        agent.reset(task, seed=0)
        while True:
            obs, r, term, trunc, info = await env.astep(await agent.act(obs, info))
            if term or trunc:
                return r, info, env._ep.tool_session
    return asyncio.run(go())


def test_domains_generic_and_flagged():
    reg = _tau2.registered_domains()
    assert {"retail", "mock"} <= set(_tau2.usable_domains())
    for d in reg:
        why = _tau2.domain_status(d)
        assert why is None or isinstance(why, str)
    with pytest.raises(ValueError):
        Tau2Env("no_such_domain")


@pytest.mark.parametrize("domain", ["mock", "retail"])
def test_reference_scores_official_and_checklist(domain):
    env = Tau2Env(domain)
    tasks = env.tasks if domain == "mock" else [t for t in env.tasks if not t.metadata["tau2"]["needs_llm"]] + [
        t for t in env.tasks if t.metadata["tau2"]["needs_llm"]][:RETAIL_SAMPLE]
    nl, unreachable = [], []
    for task in tasks:
        reachable, why = gold_reachable(task)
        r, info, _ = _episode(env, ReferenceAgent(), task)
        ev = info["evaluations"]["tau2"]
        assert "error" not in ev or not reachable, ev
        if not reachable:
            unreachable.append((task.id, why))
            assert r < 1.0 and ev.get("reward", 0) != 1.0  # checklist and official agree on the failure
            assert ev["gold_infeasible"] == why  # reported, not silently scored
            continue
        assert "gold_infeasible" not in ev
        assert ev["termination_reason"] == "user_stop"
        assert ev["db_match"] in (True, None)
        assert r == pytest.approx(1.0), (task.id, info["verdicts"] if "verdicts" in info else info)
        if ev["needs_llm"]:
            nl.append(task.id)
            assert ev["reward"] is None and ev["reward_without_nl"] == 1.0
        else:
            assert ev["reward"] == 1.0, (task.id, ev)
    print(f"\n{domain}: NL-judge tasks (not scored offline): {nl}\n{domain}: gold-unreachable: {unreachable}")
    assert len(unreachable) <= 2


def test_perturbed_is_reported():
    env = Tau2Env("mock")
    rewards = []
    for task in env.tasks:
        r, info, _ = _episode(env, PerturbedAgent(fault_rate=1.0, seed=1), task)
        rewards.append((r, info["evaluations"]["tau2"].get("reward")))
    assert any(r < 1.0 for r, _ in rewards)
    print("\nperturbed mock (checklist, official):", rewards)


def _independent_reward(domain, tau2_task, with_nl=False):
    """tau2's evaluate_simulation on a SimulationRun built here from the gold actions, without the adapter."""
    from tau2.data_model.message import AssistantMessage, ToolCall, UserMessage
    from tau2.data_model.simulation import SimulationRun, TerminationReason
    from tau2.evaluator.evaluator import EvaluationType, evaluate_simulation
    from tau2.registry import registry

    with _tau2.original_constructors():  # tau2's own constructors, not the adapter's cached copies
        return _independent_reward_here(domain, tau2_task, with_nl, registry, AssistantMessage, ToolCall, UserMessage,
                                        SimulationRun, TerminationReason, EvaluationType, evaluate_simulation)


def _independent_reward_here(domain, tau2_task, with_nl, registry, AssistantMessage, ToolCall, UserMessage,
                             SimulationRun, TerminationReason, EvaluationType, evaluate_simulation):
    env = registry.get_env_constructor(domain)()
    init = tau2_task.initial_state
    history = list(init.message_history or []) if init else []
    if init:
        env.set_state(init.initialization_data, init.initialization_actions, history)
    msgs = list(history) + [UserMessage(role="user", content="hi")]
    for a in [a for a in tau2_task.evaluation_criteria.actions or [] if a.requestor == "assistant"]:
        call = ToolCall(id=a.action_id, name=a.name, arguments=a.arguments, requestor="assistant")
        msgs.append(AssistantMessage(role="assistant", tool_calls=[call]))
        msgs.append(env.get_response(call))
    info = tau2_task.evaluation_criteria.communicate_info or []
    msgs.append(AssistantMessage(role="assistant", content="Done. " + " ".join(info)))
    t = tau2_task.model_copy(deep=True)
    if not with_nl:
        t.evaluation_criteria.reward_basis = [b for b in t.evaluation_criteria.reward_basis if b.value != "NL_ASSERTION"]
    run = SimulationRun(id="x", task_id=t.id, start_time="", end_time="", duration=0.0,
                        termination_reason=TerminationReason.USER_STOP, messages=msgs)
    return evaluate_simulation(run, t, EvaluationType.ALL, False, domain)


@pytest.mark.parametrize("domain,count", [("mock", 10), ("retail", 4)])
def test_official_equals_tau2_evaluate_simulation(domain, count):
    from cm2_env.benchmarks.tau2.executor import tau2_task

    env = Tau2Env(domain)
    for task in env.tasks[:count]:
        _, info, _ = _episode(env, ReferenceAgent(), task)
        ev = info["evaluations"]["tau2"]
        if "error" in ev:
            continue
        ours = ev["reward"] if ev["reward"] is not None else ev["reward_without_nl"]
        theirs = _independent_reward(domain, tau2_task(task))
        assert ours == theirs.reward, (task.id, ev, theirs)
        assert ev["db_match"] == (None if theirs.db_check is None else theirs.db_check.db_match)


@pytest.mark.parametrize("domain,count", [("mock", 10), ("retail", 6)])
def test_cached_constructor_gives_tau2s_own_verdict(domain, count):
    """The adapter lets tau2's evaluator build the domain env as a copy of the cached one: same verdicts as with
    tau2's own constructor, on perturbed (failing and passing) trajectories."""
    from cm2_env.benchmarks.tau2.official import official_verdict

    env = Tau2Env(domain)
    keys = ("reward", "reward_without_nl", "db_match", "reward_breakdown", "termination_reason")
    for i, task in enumerate(env.tasks[:count]):
        _, info, session = _episode(env, PerturbedAgent(fault_rate=0.5, seed=i), task)
        fast = official_verdict(task, env.messages, session)
        with _tau2.original_constructors():
            slow = official_verdict(task, env.messages, session)
        assert {k: fast.get(k) for k in keys} == {k: slow.get(k) for k in keys}, (task.id, fast, slow)


def test_64_concurrent_episodes_share_no_state():
    envs = [Tau2Env("mock") for _ in range(64)]
    task = next(t for t in envs[0].tasks if t.id == "mock/create_task_1")

    async def one(i):
        env = envs[i]
        agent = ReferenceAgent()
        obs, info = await env.areset(options={"task_id": task.id})
        agent.reset(task)
        session = env._ep.tool_session
        while True:
            action = await agent.act(obs, info) if i % 2 == 0 else {"role": "assistant", "content": "Bye."}
            obs, r, term, trunc, info = await env.astep(action)
            if term or trunc:
                return r, info["evaluations"]["tau2"], session

    async def all_():
        return await asyncio.gather(*(one(i) for i in range(64)))

    out = asyncio.run(all_())
    sessions = [s for _, _, s in out]
    assert len({id(s.env) for s in sessions}) == 64
    assert len({id(s.env.tools.db) for s in sessions}) == 64
    for i, (r, ev, s) in enumerate(out):
        assert isinstance(s, Tau2ToolSession)
        if i % 2 == 0:
            assert r == pytest.approx(1.0) and ev["reward"] == 1.0
        else:
            assert ev["reward"] == 0.0 and len(s.executed) == 0
    base = _tau2.base_environment("mock")
    assert all(s.env.tools.db is not base.tools.db for s in sessions)
