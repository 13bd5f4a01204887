"""Round trips over real HTTP to a real OpenAI-compatible server on CPU: `transformers serve` with a tiny
random-weight model built locally (no download). Its output is garbage, so the JSON roles must flag errors
(not crash); plain chat must work end to end with usage."""

from __future__ import annotations

import json

import pytest


from cm2_env.judge.base import TurnJudgeRequest
from cm2_env.judge.llm_judge import LLMJudge
from cm2_env.llm import LLMClient, LLMError, UsageMeter, track_usage
from cm2_env.tools.llm_sim import LLMToolSimulator
from cm2_env.types import ToolCall
from cm2_env.users.llm_user import LLMUser
from cm2_test_servers.hf_serve import serve_available, transformers_server
from cm2_test_servers.tasks import weather_task

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not serve_available(), reason="needs transformers[serving]")]


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    from cm2_test_servers.tiny_model import build_tiny_chat_model

    model_dir = build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")
    with transformers_server(model_dir) as (url, model):
        yield {"base_url": url, "model": model, "max_tokens": 16, "timeout": 60, "retries": 1, "reask": 1,
               "backoff_base": 0.05}


async def test_plain_chat_round_trip(real_server):
    meter = UsageMeter()
    c = LLMClient(real_server, role="agent")
    with track_usage(meter):
        r = await c.chat([{"role": "user", "content": "Hello there"}])
    assert isinstance(r.text, str) and r.finish_reason in ("length", "stop")
    u = meter.roles["agent"]
    assert u.calls == 1 and u.prompt_tokens > 0 and 0 < u.completion_tokens <= 16


async def test_json_on_garbage_output_is_flagged(real_server):
    c = LLMClient(real_server, role="judge")
    meter = UsageMeter()
    with pytest.raises(LLMError) as ei:
        await c.chat_json([{"role": "user", "content": "Answer in JSON"}], {"type": "object", "required": ["x"]},
                          meter=meter)
    assert ei.value.kind == "invalid_output"
    assert meter.roles["judge"].calls == 2 and meter.roles["judge"].reasks == 1  # asked, re-asked, flagged


async def test_roles_round_trip_and_flag_poor_output(real_server):
    task = weather_task()
    sim = LLMToolSimulator(llm=real_server).session(task, group_key="g")
    res = await sim.call(ToolCall("1", "get_weather", {"city": "Lyon"}, json.dumps({"city": "Lyon"})))
    # 16 tokens of a random model cannot be a valid {"result": ...}: flagged, not raised
    assert res.error == "simulator_error" and res.meta["simulator_error"] == "invalid_output"
    assert json.loads(res.content)["error"] == "simulator_error"

    judge = LLMJudge(llm=real_server, mode="batched")
    items = [it for it in task.turns[0].checklist if it.check is None]
    turn = [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "18 degrees."}]
    verdicts = await judge.judge_turn(TurnJudgeRequest(task, 0, items, turn, [{"role": "system", "content": ""}]))
    assert set(verdicts) == {"C1", "C2"}
    for v in verdicts.values():
        assert v.status == "error" and "invalid_output" in v.rationale

    user = LLMUser(llm=real_server, fallback_to_reference=False).session(task)
    reply = await user.reply(turn, 1)
    assert reply.content or reply.done
    if reply.done and reply.content is None and "error" in reply.meta:
        assert reply.meta["error"].startswith("user_simulator_error")
