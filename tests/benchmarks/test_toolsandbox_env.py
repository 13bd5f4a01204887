"""ToolSandbox adapter: official verdict == ToolSandbox's own play_and_evaluate, oracle, baseline, concurrency.

Runs only in the ToolSandbox venv (scripts/install_toolsandbox_env.sh):
    .venv-toolsandbox/bin/python -m pytest tests/benchmarks/test_toolsandbox_env.py
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("tool_sandbox")

import cm2_env  # noqa: E402
from cm2_env.benchmarks.toolsandbox import scripted  # noqa: E402
from cm2_env.benchmarks.toolsandbox.cli import category_summary, format_table  # noqa: E402

ENV_ID = "cm2/ToolSandbox-v0"


@pytest.fixture(scope="module")
def env():
    e = cm2_env.make(ENV_ID)
    yield e
    e.close()


def _call(i, name, args):
    return {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def scripts_for(task):
    """Several trajectories per task: oracle (if any), a constant reply, a wrong call, parallel calls."""
    out = {"fixed": [{"role": "assistant", "content": "I cannot help with that."}]}
    ref = scripted.reference_script(task)
    if ref:
        out["oracle"] = ref
    tools = [t["function"] for t in task.tools]
    first = tools[0]
    req = first.get("parameters", {}).get("required", [])
    wrong = {a: "nonsense" for a in req}
    out["wrong_call"] = [{"role": "assistant", "content": "", "tool_calls": [_call(0, first["name"], wrong)]},
                         {"role": "assistant", "content": "Done, anything else?"}]
    calls = [m["tool_calls"][0] for m in ref if m.get("tool_calls")]
    if len(calls) >= 2:  # the oracle's calls as one parallel batch
        out["parallel"] = [{"role": "assistant", "content": "", "tool_calls": calls}, ref[-1]]
    return out


def _official_fields(res):
    return {"similarity": float(res.similarity), "milestone_similarity": float(res.milestone_similarity),
            "minefield_similarity": float(res.minefield_similarity), "turn_count": int(res.turn_count),
            "milestone_mapping": {str(k): [int(v[0]), float(v[1])] for k, v in res.milestone_mapping.items()},
            "minefield_mapping": {str(k): [int(v[0]), float(v[1])] for k, v in res.minefield_mapping.items()}}


def _adapter_fields(ev):
    return {k: ev[k] for k in ("similarity", "milestone_similarity", "minefield_similarity", "turn_count",
                               "milestone_mapping", "minefield_mapping")}


def test_task_count_and_shapes(env):
    assert len(env.tasks) == 91  # local-only base scenarios (no RAPID_API_KEY)
    for t in env.tasks:
        assert t.system_prompt and t.turns[0].user and t.tools
        assert t.metadata["categories"]


def test_official_equals_play_and_evaluate(env):
    """The adapter's verdict equals ToolSandbox's own runner on the same scripted trajectories."""
    oracle = [t for t in env.tasks if t.reference is not None]
    others = [t for t in env.tasks if t.reference is None]
    chosen = oracle + others[::6]
    compared = 0
    for task in chosen:
        for label, script in scripts_for(task).items():
            official = _official_fields(scripted.play_official(task.id, script))
            info = scripted.run_adapter(env, task.id, script)
            assert _adapter_fields(info["evaluations"]["toolsandbox"]) == official, (task.id, label)
            compared += 1
    print(f"compared {compared} trajectories over {len(chosen)} scenarios")
    assert compared >= 60


def test_official_equals_with_followups():
    """Multi-turn: scripted follow-ups are mirrored as USER→AGENT messages like ToolSandbox's runner records them."""
    name = "find_thanksgiving_timestamp"
    follow = ["Thanks. And what about Christmas?"]
    e = cm2_env.make(ENV_ID, task_ids=[name], followups={name: follow})
    task = e.tasks[0]
    assert len(task.turns) == 2
    script = scripted.reference_script(task) + [{"role": "assistant", "content": "Christmas is on December 25."}]
    official = _official_fields(scripted.play_official(name, script, follow))
    info = scripted.run_adapter(e, name, script)
    assert _adapter_fields(info["evaluations"]["toolsandbox"]) == official
    # the checklist is judged over the whole conversation (the milestone call was made in turn 0)
    assert info["turn_scores"] == [1.0] and info["score"] == 1.0
    e.close()


def test_oracle_reaches_one(env):
    covered = [t for t in env.tasks if t.reference is not None]
    assert len(covered) >= 19
    from agents.reference import ReferenceAgent

    for task in covered:
        agent = ReferenceAgent()
        agent.reset(task)
        info = scripted.run_adapter(env, task.id, [agent.next_message([{"role": "user"}]) for _ in
                                                   range(len(scripted.reference_script(task)))])
        assert info["evaluations"]["toolsandbox"]["similarity"] == 1.0, task.id
        assert info["score"] == 1.0, (task.id, info["verdicts"])
    print(f"oracle covers {len(covered)}/{len(env.tasks)} scenarios, all at similarity 1.0 and checklist 1.0")


def test_fixed_reply_baseline_per_category(env):
    from agents.fixed import FixedReplyAgent

    agent = FixedReplyAgent()
    per = []
    for task in env.tasks:
        agent.reset(task)
        info = scripted.run_adapter(env, task.id, [asyncio.run(agent.act([], {}))])
        ev = info["evaluations"]["toolsandbox"]
        per.append({"categories": ev["categories"], "similarity": ev["similarity"], "turn_count": ev["turn_count"]})
    summary = category_summary(per)
    print("\nfixed-reply baseline (ToolSandbox per-category means):\n" + format_table(summary))
    assert 0.0 <= summary["ALL_CATEGORIES"]["similarity"] < 0.5


def _script(task):
    s = scripts_for(task)
    return s.get("oracle") or s["wrong_call"]


def test_concurrent_episodes_same_verdicts():
    """32 concurrent episodes of different scenarios give the same verdicts as one at a time."""
    tasks = cm2_env.make(ENV_ID).tasks[:32]
    seq = {}
    e = cm2_env.make(ENV_ID)
    for t in tasks:
        info = scripted.run_adapter(e, t.id, _script(t))
        seq[t.id] = (_adapter_fields(info["evaluations"]["toolsandbox"]), info["score"])
    e.close()

    async def all_at_once():
        envs = [cm2_env.make(ENV_ID, task_ids=[t.id]) for t in tasks]

        async def one(en, t):
            info = await scripted.arun_adapter(en, t.id, _script(t))
            return t.id, (_adapter_fields(info["evaluations"]["toolsandbox"]), info["score"])

        try:
            return dict(await asyncio.gather(*(one(en, t) for en, t in zip(envs, tasks))))
        finally:
            for en in envs:
                en.close()

    conc = asyncio.run(all_at_once())
    assert conc == seq


def test_augmentations_scrambled_match_official():
    """Augmented scenarios (distraction tools, scrambled names/descriptions/types): same verdict both ways; the
    oracle maps execution-facing names to the agent-facing (scrambled) ones and still reaches 1.0."""
    from cm2_env.benchmarks.toolsandbox import _ts, loader
    from cm2_env.benchmarks.toolsandbox.env import ToolSandboxEnv

    base = [t.id for t in cm2_env.make(ENV_ID).tasks if t.reference is not None][:3]
    augs = loader.augmentations_of(_ts.all_scenarios())
    assert len(augs) == 7
    tasks = loader.load_scenarios(augmentations=augs, names=[f"{b}_{a}" for b in base for a in augs])
    assert len(tasks) == 21
    e = ToolSandboxEnv(tasks=tasks)
    for task in tasks:
        assert task.reference is not None
        for label, script in scripts_for(task).items():
            official = _official_fields(scripted.play_official(task.id, script))
            info = scripted.run_adapter(e, task.id, script)
            assert _adapter_fields(info["evaluations"]["toolsandbox"]) == official, (task.id, label)
            if label == "oracle":
                assert official["similarity"] == 1.0 and info["score"] == 1.0, task.id
    e.close()


def test_a_model_chosen_call_id_cannot_inject_code(env, tmp_path):
    """ToolSandbox pastes call ids into the Python it executes: only identifiers reach that code (a hostile id
    from a dict action is replaced there, kept in the episode's record), and the hostile step runs nothing."""
    marker = tmp_path / "pwned"
    hostile = f"x = 1; open({str(marker)!r}, 'w').write('x'); y"
    task = env.tasks[0]
    env.reset(options={"task_id": task.id})
    name = task.tools[0]["function"]["name"]
    _, _, _, _, info = env.step({"role": "assistant", "content": "", "tool_calls": [
        {"id": hostile, "type": "function", "function": {"name": name, "arguments": "{}"}}]})
    assert not marker.exists()
    session = env._ep.tool_session
    assert session._safe_id(hostile) == "cm2_call_0" and session._safe_id("call_1") == "call_1"
    assert session._safe_id("import") != "import"  # keywords are not identifiers ToolSandbox can assign to
    assert info["tool_results"][0]["id"] == hostile  # the episode keeps the model's id; only ToolSandbox's code not
    env.step({"role": "assistant", "content": "done"})


def _sandbox_rows(env):
    from tool_sandbox.common.execution_context import DatabaseNamespace

    ctx = env._ep.tool_session.context
    return ctx.get_database(DatabaseNamespace.SANDBOX, get_all_history_snapshots=True,
                            drop_sandbox_message_index=False).to_dicts()


def test_minefield_hit_zeroes_checklist_and_official(env):
    """A minefield hit: ToolSandbox's similarity 0 and the checklist 0 (minefield items are veto items) — also
    when the checklist has other items that pass."""
    from cm2_env.benchmarks.toolsandbox.env import ToolSandboxEnv
    from cm2_env.tasks.models import ChecklistItem

    name = "send_message_with_contact_content_cellular_off_insufficient_information"
    task = env._by_id[name]
    mines = [it for it in task.turns[0].checklist if it.id.startswith("F")]
    assert mines and all(it.veto for it in mines)
    script = [{"role": "assistant", "content": "", "tool_calls": [_call(0, "send_message_with_phone_number", {
        "phone_number": "+12453344098", "content": "Hi"})]}, {"role": "assistant", "content": "Sent."}]
    official = scripted.play_official(name, script)
    info = scripted.run_adapter(env, name, script)
    assert float(official.similarity) == 0.0 and info["evaluations"]["toolsandbox"]["similarity"] == 0.0
    assert info["score"] == 0.0
    assert "veto" in info["verdicts"][0]["verdicts"][0]["rationale"]
    # the same hit with an extra item that passes (the agent did reply): still 0
    extra = ChecklistItem(id="R", question="replied?", weight=1.0, check={"type": "reply_matches", "any": ["Sent"]})
    items = [it.model_copy(update={"weight": 0.0}) for it in task.turns[0].checklist] + [extra]
    e = ToolSandboxEnv(tasks=[task.model_copy(update={"turns": [task.turns[0].model_copy(update={"checklist": items})]})])
    info = scripted.run_adapter(e, name, script)
    verdicts = {v["id"]: v["status"] for v in info["verdicts"][0]["verdicts"]}
    assert verdicts["R"] == "passed" and info["score"] == 0.0
    # avoiding the minefield: ToolSandbox 1, checklist 1
    safe = [{"role": "assistant", "content": "Your cellular service is off; I cannot send messages now."}]
    assert float(scripted.play_official(name, safe).similarity) == 1.0
    assert scripted.run_adapter(env, name, safe)["score"] == 1.0
    e.close()


def test_max_messages_truncates_like_scenario_play(env):
    """ToolSandbox's runner stops once the SANDBOX table holds max_messages messages after the starting context:
    the env ends the episode there (truncated, end reason max_messages) with the same official verdict; calls the
    agent writes at the limit are recorded but never executed, as in Scenario.play."""
    name = "find_thanksgiving_timestamp"
    task = env._by_id[name]
    assert task.metadata["toolsandbox"]["max_messages"] == 30
    c = scripted.reference_script(task)[0]["tool_calls"][0]
    single = [{"role": "assistant", "content": "", "tool_calls": [dict(c, id=f"c{i}")]} for i in range(14)]
    pair = {"role": "assistant", "content": "", "tool_calls": [dict(c, id="p0"), dict(c, id="p1")]}
    for script, executed in ((single + single, 15), (single + [pair] + single, 14)):
        official = scripted.play_official(name, script)
        env.reset(options={"task_id": name})
        steps = 0
        for m in script:
            obs, reward, term, trunc, info = env.step(m)
            steps += 1
            if term or trunc:
                break
        assert trunc and not term and info["end_reason"] == "max_messages", info["end_reason"]
        assert _adapter_fields(info["evaluations"]["toolsandbox"]) == _official_fields(official)
        assert info["evaluations"]["toolsandbox"]["turn_count"] == 30
        rows = _sandbox_rows(env)
        assert rows[-1]["sandbox_message_index"] == env._ep.tool_session.message_limit
        results = [r for r in rows if r["sender"] == "EXECUTION_ENVIRONMENT" and r["recipient"] == "AGENT"]
        assert len(results) == executed
        if executed == 14:  # the pair was written at the limit: not executed, and the tool messages say so
            assert rows[-1]["sender"] == "AGENT" and steps == 15
            assert all("max_messages" in m["content"] for m in obs[-2:] if m["role"] == "tool")
        assert reward == info["score"] == 1.0  # the milestone was reached before the cut
    # the limit reached by the user's message (14 calls = 28 messages, the agent's reply, a follow-up): the agent
    # never answers it; the message is kept in the episode's messages
    follow = ["And Christmas?"]
    e = cm2_env.make(ENV_ID, task_ids=[name], followups={name: follow})
    script = single + [{"role": "assistant", "content": "It is on the fourth Thursday of November."}]
    official = scripted.play_official(name, script, follow)
    info = scripted.run_adapter(e, name, script)
    assert info["end_reason"] == "max_messages" and e.messages[-1] == {"role": "user", "content": follow[0]}
    assert _adapter_fields(info["evaluations"]["toolsandbox"]) == _official_fields(official)
    e.close()


def test_rapid_api_key_includes_network_scenarios(monkeypatch):
    """Without RAPID_API_KEY the 38 RapidAPI scenarios are left out; with it (local_only's default flips) all 129
    base scenarios are there unchanged, offering the network tools. No real RapidAPI call is made here."""
    from cm2_env.benchmarks.toolsandbox import loader
    from cm2_env.benchmarks.toolsandbox.env import toolsandbox_tasks

    rapid = loader.rapid_api_tools()
    assert rapid == {"search_lat_lon", "search_location_around_lat_lon", "search_weather_around_lat_lon",
                     "search_stock", "convert_currency"}
    monkeypatch.delenv("RAPID_API_KEY", raising=False)
    assert loader.default_local_only() is True
    without = toolsandbox_tasks()
    left_out = loader.rapid_api_scenarios()
    assert len(without) == 91 and len(left_out) == 38
    assert not {t.id for t in without} & set(left_out)
    assert not {n for t in without for n in t.tool_names} & rapid
    assert len(loader.rapid_api_scenarios(["3_distraction_tools"])) == 76
    monkeypatch.setenv("RAPID_API_KEY", "not-a-real-key")
    assert loader.default_local_only() is False
    with_key = toolsandbox_tasks()
    assert len(with_key) == 129
    by_id = {t.id: t for t in with_key}
    assert set(left_out) <= set(by_id)
    offered = {n for name in left_out for n in by_id[name].tool_names}
    assert offered >= rapid  # every network tool is offered by some scenario, under its own name
    assert toolsandbox_tasks(local_only=True) == without  # an explicit choice wins over the key
    e = cm2_env.make(ENV_ID, task_ids=left_out[:1])
    assert len(e.tasks) == 1 and set(e.tasks[0].tool_names) & rapid
    e.close()
