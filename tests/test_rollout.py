"""Rollout engine: episode planning, JSONL records, resume after a crash, torn-line repair, corrupt lines set
aside, failures as records."""

from __future__ import annotations

import asyncio
import json

import pytest

import cm2_env
from agents.perturbed import PerturbedAgent
from agents.reference import ReferenceAgent
from cm2_env.rollout import EpisodeRecord, EpisodeSpec, plan_episodes, read_done_keys, read_records, run_episode, run_rollouts

ENV_KW = {"task_selector": "banking-*,travel-*"}


def make_env():
    return cm2_env.make("cm2/ToolTask-v0", **ENV_KW)


TASKS = make_env().tasks


def test_plan_episodes_keys_groups_and_seeds():
    specs = plan_episodes(TASKS, 5, 3, seed=2)
    assert len(specs) == 15
    assert len({s.key for s in specs}) == 15
    assert len({s.seed for s in specs}) == 15
    assert [s.task_id for s in specs[:6]] == [TASKS[0].id] * 3 + [TASKS[1 % len(TASKS)].id] * 3
    assert specs[0].key == f"{TASKS[0].id}#0.0" and specs[2].key == f"{TASKS[0].id}#0.2"
    assert {s.group_key for s in specs[:3]} == {f"{TASKS[0].id}#0"}
    assert [s.rollout for s in specs[:3]] == [0, 1, 2]
    # slots cycle through the tasks
    many = plan_episodes(TASKS, len(TASKS) + 1, 1, 0)
    assert many[-1].task_id == TASKS[0].id
    assert plan_episodes(TASKS, None, 1, 0)[-1].task_id == TASKS[-1].id
    # same arguments, same plan; another seed, other seeds
    assert plan_episodes(TASKS, 5, 3, 2) == specs
    assert [s.seed for s in plan_episodes(TASKS, 5, 3, 3)] != [s.seed for s in specs]


def test_record_contents():
    spec = plan_episodes(TASKS, 1, 1, 0)[0]
    rec = asyncio.run(run_episode(make_env(), ReferenceAgent(), spec))
    assert rec.episode_key == spec.key and rec.task_id == spec.task_id
    assert rec.group_key == spec.group_key and rec.seed == spec.seed
    assert rec.messages[0]["role"] == "system" and rec.messages[1]["role"] == "user"
    assert rec.messages[-1]["role"] == "assistant"
    assert rec.score == pytest.approx(1.0) and rec.return_ == pytest.approx(1.0)
    assert len(rec.turn_scores) == len(TASKS[0].turns)
    assert [v["turn"] for v in rec.verdicts] == list(range(len(TASKS[0].turns)))
    assert all("status" in v for t in rec.verdicts for v in t["verdicts"])
    assert rec.terminated and not rec.truncated and rec.steps > 0
    assert json.loads(json.dumps(rec.to_dict()))["return"] == pytest.approx(1.0)
    assert type(rec).from_dict(rec.to_dict()) == rec


def test_run_rollouts_writes_one_line_per_episode_and_resumes(tmp_path):
    out = tmp_path / "sub" / "runs.jsonl"
    specs = plan_episodes(TASKS, 4, 2, 0)
    first = asyncio.run(run_rollouts(make_env, ReferenceAgent, specs[:5], out, concurrency=3))
    assert len(first) == 5
    again = asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, out, concurrency=3))
    assert {r.episode_key for r in again} == {s.key for s in specs[5:]}  # only the missing ones
    lines = read_records(out)
    assert sorted(r.episode_key for r in lines) == sorted(s.key for s in specs)
    assert asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, out)) == []  # nothing left


def test_concurrency_does_not_change_results(tmp_path):
    specs = plan_episodes(TASKS, 6, 2, 1)
    mk = lambda: PerturbedAgent(seed=1)  # noqa: E731
    a = asyncio.run(run_rollouts(make_env, mk, specs, tmp_path / "a.jsonl", concurrency=1))
    b = asyncio.run(run_rollouts(make_env, mk, specs, tmp_path / "b.jsonl", concurrency=4))
    key = lambda r: r.episode_key  # noqa: E731
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "elapsed_s"}  # noqa: E731
    assert [strip(r) for r in sorted(a, key=key)] == [strip(r) for r in sorted(b, key=key)]


def test_read_done_keys_repairs_a_torn_last_line(tmp_path):
    p = tmp_path / "x.jsonl"
    good = "".join(json.dumps({"episode_key": f"k{i}", "x": i}) + "\n" for i in range(3))
    p.write_text(good + '{"episode_key": "k3", "x": ')
    assert read_done_keys(p) == {"k0", "k1", "k2"}
    assert p.read_text() == good  # the torn tail is cut off
    p.write_text(good + json.dumps({"episode_key": "k9"}))  # complete JSON but no newline: also torn
    assert read_done_keys(p) == {"k0", "k1", "k2"} and p.read_text() == good
    p.write_text(good + "garbage\n")  # complete but unparseable LAST line: torn too, cut
    assert read_done_keys(p) == {"k0", "k1", "k2"} and p.read_text() == good
    assert not (tmp_path / "x.jsonl.corrupt").exists()  # a torn tail is not set aside
    k5 = json.dumps({"episode_key": "k5"}) + "\n"
    p.write_text(good + "garbage\n" + k5)  # corrupt MIDDLE line: set aside, the record after it kept
    assert read_done_keys(p) == {"k0", "k1", "k2", "k5"} and p.read_text() == good + k5
    assert (tmp_path / "x.jsonl.corrupt").read_text() == "garbage\n"
    assert read_done_keys(tmp_path / "missing.jsonl") == set()


def test_garbled_middle_lines_are_moved_aside_not_truncated(tmp_path, caplog):
    p = tmp_path / "g.jsonl"
    rec = lambda i: json.dumps({"episode_key": f"k{i}", "x": i}) + "\n"  # noqa: E731
    bad = ['{"episode_key": "k2", "x": \n', "\x00\x00garbage\n", "[1, 2]\n", '{"no_key": 1}\n']
    p.write_text(rec(0) + rec(1) + bad[0] + rec(3) + bad[1] + bad[2] + rec(4) + bad[3] + rec(5) + '{"episode_key"')
    with caplog.at_level("WARNING", logger="cm2_env.rollout"):
        keys = read_done_keys(p)
    assert keys == {"k0", "k1", "k3", "k4", "k5"}  # every valid record, also those after the garbage
    assert p.read_text() == rec(0) + rec(1) + rec(3) + rec(4) + rec(5)  # bad lines and torn tail gone
    aside = tmp_path / "g.jsonl.corrupt"
    assert aside.read_text() == "".join(bad)
    msg = caplog.text
    assert "4 unreadable line(s)" in msg and str(aside) in msg
    # appended, not overwritten, on a later repair
    p.write_text(p.read_text() + "oops\n" + rec(6))
    assert read_done_keys(p) == {"k0", "k1", "k3", "k4", "k5", "k6"}
    assert aside.read_text() == "".join(bad) + "oops\n"


def test_read_records_skips_unreadable_lines_and_keeps_the_last_per_key(tmp_path, caplog):
    p = tmp_path / "r.jsonl"
    spec = plan_episodes(TASKS, 2, 1, 0)
    a = EpisodeRecord.failed(spec[0], RuntimeError("first try")).to_dict()
    b = EpisodeRecord.failed(spec[1], RuntimeError("b")).to_dict()
    a2 = dict(a, agent_error="second try")
    p.write_text("\n".join([json.dumps(a), "garbage", json.dumps(b), json.dumps(a2), '{"episode_key": "t'])
                 + "\n")
    with caplog.at_level("WARNING", logger="cm2_env.rollout"):
        recs = read_records(p)
    assert [r.episode_key for r in recs] == [spec[0].key, spec[1].key]  # the records after the garbage too
    assert recs[0].agent_error == "second try"  # last wins
    assert "2 unreadable line(s)" in caplog.text and str(p) in caplog.text
    assert len(read_records(p, dedupe=False)) == 3


def test_resume_after_garbled_middle_line_reruns_only_that_episode(tmp_path):
    out = tmp_path / "m.jsonl"
    specs = plan_episodes(TASKS, 6, 1, 0)
    asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, out))
    lines = out.read_text().splitlines(keepends=True)
    garbled_key = json.loads(lines[1])["episode_key"]
    lines[1] = lines[1][:30] + "\n"  # a garbled middle record
    out.write_text("".join(lines))
    again = asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, out))
    assert [r.episode_key for r in again] == [garbled_key]  # the 4 good records after it were kept
    keys = [json.loads(x)["episode_key"] for x in out.read_text().splitlines()]
    assert sorted(keys) == sorted(s.key for s in specs)
    assert (tmp_path / "m.jsonl.corrupt").read_text() == lines[1]


def test_resume_after_torn_line_gives_complete_file(tmp_path):
    out = tmp_path / "r.jsonl"
    specs = plan_episodes(TASKS, 3, 1, 0)
    asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, out))
    text = out.read_text()
    last_start = text.rstrip("\n").rfind("\n") + 1
    out.write_text(text[: last_start + 40])  # the last record is half written
    asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, out))
    lines = read_records(out)
    assert sorted(r.episode_key for r in lines) == sorted(s.key for s in specs)


class _CrashingAgent(ReferenceAgent):
    async def act(self, observation, info):
        if len(observation) > 3:
            raise RuntimeError("policy server died")
        return await super().act(observation, info)


def test_agent_exception_is_recorded_not_lost(tmp_path):
    specs = plan_episodes(TASKS, 2, 1, 0)
    recs = asyncio.run(run_rollouts(make_env, _CrashingAgent, specs, tmp_path / "c.jsonl"))
    assert len(recs) == 2
    for r in recs:
        assert "policy server died" in r.agent_error
        assert r.end_reason == "agent_error"
        assert r.messages
        assert r.score is None  # a broken agent is not scored as a policy failure
        assert r.verdicts == [] or all(v["turn"] == 0 for v in r.verdicts)


def test_env_error_is_recorded_not_lost(tmp_path):
    specs = [EpisodeSpec("ghost#0.0", "ghost", "ghost#0", 0, 1)] + plan_episodes(TASKS, 1, 1, 0)
    recs = asyncio.run(run_rollouts(make_env, ReferenceAgent, specs, tmp_path / "e.jsonl"))
    by_key = {r.episode_key: r for r in recs}
    assert by_key["ghost#0.0"].end_reason == "env_error" and "ghost" in by_key["ghost#0.0"].agent_error
    assert by_key[specs[1].key].score == pytest.approx(1.0)


class _LoopingAgent:
    def reset(self, task, seed=None):
        pass

    async def act(self, observation, info):
        return '<tool_call>{"name": "nope", "arguments": {}}</tool_call>'


def test_max_steps_guard(tmp_path):
    spec = plan_episodes(TASKS, 1, 1, 0)[0]
    env = cm2_env.make("cm2/ToolTask-v0", max_steps_per_turn=10_000, **ENV_KW)
    rec = asyncio.run(run_episode(env, _LoopingAgent(), spec, max_steps=7))
    assert rec.steps == 7 and "exceeded" in rec.agent_error


class _SurrogateAgent(ReferenceAgent):
    async def act(self, observation, info):
        return "broken \ud800 text \udfff"


def test_lone_surrogates_in_model_output_are_recorded_and_read_back(tmp_path):
    out = tmp_path / "s.jsonl"
    specs = plan_episodes(TASKS, 1, 1, 0)
    asyncio.run(run_rollouts(make_env, _SurrogateAgent, specs, out))
    [rec] = read_records(out)
    assistant = [m["content"] for m in rec.messages if m["role"] == "assistant"]
    assert assistant and "\ud800" in assistant[0]
    assert read_done_keys(out) == {specs[0].key}
