"""Whole episodes with LLM roles (simulator, user, judge) against a scripted loopback server whose answers
depend on the request: expected verdicts, scores, usage and flagged failures."""

from __future__ import annotations

import json

import pytest


import cm2_env
from cm2_test_servers.roles import role_router
from cm2_test_servers.scripted import last_user_text
from cm2_test_servers.tasks import weather_task


def task():
    t = weather_task("weather-llm")
    t0, t1 = t.turns[0].checklist, t.turns[1].checklist
    t0[1] = t0[1].model_copy(update={"pass_condition": 'The reply mentions "18".'})
    t1[0] = t1[0].model_copy(update={"pass_condition": 'The turn shows "book_table" called for "Chez Nous".'})
    return t


SCRIPTED_HANDLER = role_router


def roles(url, **judge_kw):
    llm = {"base_url": url, "model": "scripted", "timeout": 5, "retries": 1, "backoff_base": 0.01, "reask": 1}
    return dict(judge={"name": "llm", "llm": llm, **judge_kw}, tool_backend={"name": "llm", "llm": llm},
                user={"name": "llm", "llm": llm})


def tc(name, **args):
    return {"content": "", "tool_calls": [{"id": f"c_{name}", "type": "function",
                                           "function": {"name": name, "arguments": json.dumps(args)}}]}


GOOD = [tc("get_weather", city="Paris"), {"content": "It is 18 degrees and sunny in Paris."},
        tc("book_table", restaurant="Chez Nous", people=2), tc("get_weather", city="Lyon"),
        {"content": "Booked your table for 2 at Chez Nous."}]
PARTIAL = GOOD[:2] + [{"content": "Sure, done!"}]
POOR = [{"content": "It is sunny."}, {"content": "ok"}]


def run(env, actions, **options):
    obs, info = env.reset(seed=0, options={"task_id": "weather-llm", **options})
    for a in actions:
        obs, reward, term, trunc, info = env.step(a)
        if term or trunc:
            return obs, reward, info
    raise AssertionError("episode did not end")


def statuses(info):
    return [{v["id"]: v["status"] for v in t["verdicts"]} for t in info["verdicts"]]


def test_good_episode_scores_one(scripted_server):
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[task()], **roles(scripted_server.url))
    obs, reward, info = run(env, GOOD)
    assert reward == pytest.approx(1.0) and info["score"] == pytest.approx(1.0)
    assert statuses(info) == [{"C0": "passed", "C1": "passed", "C2": "passed"}, {"C0": "passed"}]
    llm_v = [v for t in info["verdicts"] for v in t["verdicts"] if v["source"] == "llm"]
    assert len(llm_v) == 3 and all(v["rationale"] for v in llm_v)
    assert info["end_reason"] == "user_done"
    # turn 1 opened by the LLM user following the reference guidance
    assert [m["content"] for m in obs if m["role"] == "user"][1] == "Book a table for 2 at Chez Nous."
    sources = [t["source"] for t in info["tool_calls"]]
    assert sources == ["replay", "replay", "llm"]
    lyon = next(m for m in obs if m["role"] == "tool" and "Lyon" in m["content"])
    assert json.loads(lyon["content"])["status"] == "ok"
    usage = info["usage"]
    assert usage["judge"]["calls"] == 2  # batched: one call per judged turn
    judged = [b for b in scripted_server.requests if "## Current turn (judge this)" in last_user_text(b)]
    required = [b["response_format"]["json_schema"]["schema"]["properties"]["verdicts"]["required"] for b in judged]
    assert required == [["C1", "C2"], ["C0"]]  # the rule-checked C0 of turn 0 never reaches the LLM
    assert usage["simulator"]["calls"] == 1 and usage["user"]["calls"] == 2
    assert usage["total"]["prompt_tokens"] > 0
    env.close()


def test_partial_and_poor_episodes(scripted_server):
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[task()], **roles(scripted_server.url))
    _, reward, info = run(env, PARTIAL)
    assert statuses(info) == [{"C0": "passed", "C1": "passed", "C2": "passed"}, {"C0": "failed"}]
    assert info["end_reason"] == "early_stop" and reward == pytest.approx(0.5)
    _, reward, info = run(env, POOR)
    v0 = {v["id"]: v for v in info["verdicts"][0]["verdicts"]}
    assert v0["C0"]["status"] == "failed" and v0["C1"]["status"] == "failed"
    assert v0["C2"]["status"] == "passed" and v0["C2"]["counted"] is False  # gated by C1
    assert info["turn_scores"][0] == pytest.approx(0.0) and reward == pytest.approx(0.0)
    env.close()


def test_per_item_votes(scripted_server):
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[task()], **roles(scripted_server.url, mode="per_item", votes=3))
    _, reward, info = run(env, GOOD)
    assert reward == pytest.approx(1.0)
    assert info["usage"]["judge"]["calls"] == 3 * 3  # 3 LLM items x 3 votes
    env.close()


def test_judge_failure_is_flagged_not_zero(scripted_server):
    def broken_judge(body):
        if "## Current turn (judge this)" in last_user_text(body):
            return "I refuse to answer in JSON"
        return role_router(body)

    scripted_server.handler = broken_judge
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[task()], **roles(scripted_server.url))
    _, reward, info = run(env, GOOD)
    assert statuses(info)[0] == {"C0": "passed", "C1": "error", "C2": "error"}
    assert info["judge_errors"] == ["t0:C1", "t0:C2", "t1:C0"]
    assert info["usage"]["judge"]["failures"] == 2
    # the rule-checked item still scores turn 0; turn 1 had nothing judgeable
    assert info["turn_scores"][0] == pytest.approx(1.0)
    env.close()


def test_group_memo_across_rollouts(scripted_server):
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[task()], **roles(scripted_server.url))
    for _ in range(3):
        _, _, info = run(env, GOOD, group_key="group-7")
    assert [t["source"] for t in info["tool_calls"]] == ["replay", "replay", "memo"]
    sim_calls = [b for b in scripted_server.requests if "## Call to answer" in last_user_text(b)]
    assert len(sim_calls) == 1
    assert info["usage"]["simulator"]["memo_hits"] == 1 and info["usage"]["simulator"].get("calls", 0) == 0
    env.close()


CM2_FIXTURE = __import__("pathlib").Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "cm2" / \
    "checklist_annotated.json"


PROJECT_CM2_SAMPLE = __import__("pathlib").Path(__file__).resolve().parents[1] / "tasks" / "data" / "cm2_sample.json"
CM2_SAMPLES = [pytest.param(PROJECT_CM2_SAMPLE, id="project-sample"),
               pytest.param(CM2_FIXTURE, id="authors-sample", marks=pytest.mark.skipif(
                   not CM2_FIXTURE.exists(), reason="the shared fixture ../shared/fixtures/cm2 is absent"))]


@pytest.mark.parametrize("sample", CM2_SAMPLES)
def test_cm2_format_sample_judged_by_llm(scripted_server, sample):
    """A CM2-format labelled record (no programmatic checks): every item goes to the LLM judge, batched."""
    import asyncio

    from agents.reference import ReferenceAgent
    from cm2_env.rollout import EpisodeSpec, run_episode
    from cm2_env.tasks import from_cm2

    t = from_cm2(json.loads(sample.read_text())[0])
    llm = {"base_url": scripted_server.url, "model": "scripted", "timeout": 5, "retries": 0}
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[t], judge={"name": "llm", "llm": llm})
    rec = asyncio.run(run_episode(env.unwrapped, ReferenceAgent(), EpisodeSpec("k", t.id, "g", 0, 0)))
    n_items = sum(len(turn.checklist) for turn in t.turns)
    assert rec.counts["error"] == 0 and rec.counts["unjudged"] == 0
    assert rec.counts["passed"] + rec.counts["failed"] == n_items
    assert rec.usage["judge"]["calls"] == len(t.turns)  # one batched call per turn
    judged = [b for b in scripted_server.requests if "## Current turn (judge this)" in last_user_text(b)]
    assert len(judged) == len(t.turns)
    snippet = t.turns[0].checklist[0].evidence[0].snippet if t.turns[0].checklist[0].evidence else None
    first = last_user_text(judged[0])
    assert "Reference evidence:" in first and (snippet is None or snippet[:40] in first)
    assert rec.score is not None and rec.score > 0.5
    env.close()


def _role_of(body):
    text = last_user_text(body)
    if "## Current turn (judge this)" in text:
        return "judge"
    return "simulator" if "## Call to answer" in text else "user"


def malformed_once(role, shape):
    """role_router, except that the first request of ``role`` gets a 200 of the wrong shape."""
    from cm2_test_servers.scripted import Raw

    sent = []

    def handler(body):
        if _role_of(body) == role and not sent:
            sent.append(body)
            return Raw(shape)
        return role_router(body)

    return handler


def reference_episode(env, t):
    import asyncio

    from agents.reference import ReferenceAgent
    from cm2_env.rollout import EpisodeSpec, run_episode

    return asyncio.run(run_episode(env.unwrapped, ReferenceAgent(), EpisodeSpec("k", t.id, "g", 0, 0)))


MALFORMED_SHAPES = [{"choices": ["oops"]}, {"choices": [{"message": "hi"}]}, ["a", "list"],
                    {"choices": [{"message": {"content": 7}}]}]


@pytest.mark.parametrize("role", ["user", "judge"])
@pytest.mark.parametrize("shape", MALFORMED_SHAPES, ids=["choices_str", "message_str", "list", "content_int"])
def test_malformed_reply_once_reference_agent_scores_one(scripted_server, role, shape):
    """A malformed completion once is retried like a 5xx: the reference agent still scores 1.0."""
    scripted_server.handler = malformed_once(role, shape)
    t = task()
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[t], **roles(scripted_server.url))
    rec = reference_episode(env, t)
    assert rec.score == pytest.approx(1.0) and rec.end_reason == "user_done"
    assert rec.counts["error"] == 0 and not rec.errors
    assert rec.usage[role]["malformed"] == 1 and rec.usage[role]["retries"] == 1
    assert rec.usage[role]["failures"] == 0
    env.close()


def test_malformed_reply_without_retries_user_falls_back_to_script(scripted_server):
    """Retries used up: the LLM user falls back to the scripted turn (the error recorded), like any fault."""
    scripted_server.handler = malformed_once("user", {"choices": ["oops"]})
    t = task()
    llm = {"base_url": scripted_server.url, "model": "scripted", "timeout": 5, "retries": 0, "reask": 1}
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[t], judge={"name": "llm", "llm": llm},
                       tool_backend={"name": "llm", "llm": llm}, user={"name": "llm", "llm": llm})
    rec = reference_episode(env, t)
    assert rec.score == pytest.approx(1.0) and rec.end_reason == "user_done"
    assert [e["type"] for e in rec.errors] == ["user_error"] and "malformed_response" in rec.errors[0]["message"]
    assert rec.usage["user"]["failures"] == 1 and rec.usage["user"]["malformed"] == 1
    env.close()


def test_malformed_simulator_reply_once_is_retried(scripted_server):
    scripted_server.handler = malformed_once("simulator", {"choices": [{"message": {"content": 7}}]})
    env = cm2_env.make("cm2/ToolTask-v0", tasks=[task()], **roles(scripted_server.url))
    _, reward, info = run(env, GOOD)
    assert reward == pytest.approx(1.0)
    lyon = next(t for t in info["tool_calls"] if t["source"] == "llm")
    assert lyon["error"] is None
    assert info["usage"]["simulator"]["malformed"] == 1 and info["usage"]["simulator"]["failures"] == 0
    env.close()
