"""ToolTaskEnv: Gymnasium API (check_env), sync/async parity, observation/info contents, errors as data."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import cm2_env
from agents.reference import ReferenceAgent
from cm2_env import ToolTaskEnv
from cm2_env.spaces import AssistantAction, ChatMessages
from cm2_env.tasks.models import Task
from cm2_env.types import ToolResult, UserReply, Verdict

TOOLS = [
    {"type": "function", "function": {"name": "get_balance", "parameters": {
        "type": "object", "properties": {"account": {"type": "string", "enum": ["checking", "savings"]}},
        "required": ["account"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "transfer", "parameters": {
        "type": "object", "properties": {"amount": {"type": "number", "exclusiveMinimum": 0}},
        "required": ["amount"]}}},
]


def small_task() -> Task:
    return Task.model_validate({
        "id": "small", "domain": "bank", "system_prompt": "Be brief.", "tools": TOOLS,
        "turns": [
            {"user": "balance of checking?", "checklist": [
                {"id": "C0", "question": "q", "weight": 0.5,
                 "check": {"type": "tool_called", "name": "get_balance", "args": {"account": {"equals": "checking"}}}},
                {"id": "C1", "question": "q", "weight": 0.5, "check": {"type": "reply_matches", "any": ["120"]}}]},
            {"user": "thanks", "checklist": [
                {"id": "C0", "question": "q", "weight": 1.0, "check": {"type": "tool_not_called", "name": "*"}}]},
        ],
        "reference": [
            {"role": "user", "content": "balance of checking?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "r1", "type": "function",
                 "function": {"name": "get_balance", "arguments": "{\"account\": \"checking\"}"}}]},
            {"role": "tool", "tool_call_id": "r1", "content": "{\"balance\": 120}"},
            {"role": "assistant", "content": "You have 120."},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": "Anytime."},
        ],
    })


def env_(**kw) -> ToolTaskEnv:
    return ToolTaskEnv(tasks=[small_task()], **kw)


CALL = '<tool_call>{"name": "get_balance", "arguments": {"account": "checking"}}</tool_call>'


# ------------------------------------------------------------------------------------------- gymnasium API


def test_check_env_passes_without_warnings():
    env = cm2_env.make("cm2/ToolTask-v0")
    gc.collect()  # envs of earlier tests that were never closed would warn about their loops in here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # check_env reports problems as UserWarnings (e.g. non-deterministic reset, obs outside the space): none expected
    assert [f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, UserWarning)] == []
    assert isinstance(env.observation_space, ChatMessages) and isinstance(env.action_space, AssistantAction)
    env.close()


def test_check_env_on_small_task():
    env = env_()
    check_env(env)
    env.close()


def test_spaces_validate_chat_messages():
    space = ChatMessages()
    assert space.contains([{"role": "system", "content": ""}, {"role": "user", "content": "x"}])
    assert not space.contains([{"role": "robot", "content": "x"}])
    assert not space.contains([{"role": "user", "content": None}])
    assert not space.contains([{"role": "tool", "content": "x"}])  # tool message needs tool_call_id
    assert not space.contains([{"role": "assistant", "content": "x", "tool_calls": [{"function": {"name": 1}}]}])
    assert not space.contains({"role": "user"})
    assert space.contains(space.sample())
    act = AssistantAction(["f"])
    assert act.contains("anything") and act.contains({"content": "x"})
    assert not act.contains(42)
    assert all(act.contains(act.sample()) for _ in range(20))


# ------------------------------------------------------------------------------------------- reset / observation / info


def test_reset_observation_and_info():
    env = env_()
    obs, info = env.reset(seed=3)
    assert obs == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "balance of checking?"}]
    assert env.observation_space.contains(obs)
    assert info["task_id"] == "small" and info["domain"] == "bank"
    assert info["tools"] == TOOLS and info["num_turns"] == 2 and info["turn"] == 0
    assert info["errors"] == []
    assert env.task.id == "small" and env.tools == TOOLS


def test_step_with_tool_call_returns_tool_messages():
    env = env_()
    env.reset()
    obs, reward, term, trunc, info = env.step(CALL + CALL.replace("checking", "savings"))
    assert not term and not trunc and reward == 0.0
    assert env.observation_space.contains(obs)
    assert [m["role"] for m in obs] == ["system", "user", "assistant", "tool", "tool"]
    ids = [tc["id"] for tc in obs[2]["tool_calls"]]
    assert [m["tool_call_id"] for m in obs[3:]] == ids
    assert json.loads(obs[3]["content"]) == {"balance": 120}  # replayed
    assert json.loads(obs[4]["content"])["synthetic"] is True  # never recorded
    assert info["new_messages"] == obs[3:]
    assert [r["source"] for r in info["tool_results"]] == ["replay", "synthetic"]
    assert info["tool_results"][1]["synthetic"] is True
    assert info["errors"] == [] and info["turn"] == 0 and info["step"] == 1


def test_step_ending_turn_gets_next_user_message_and_turn_result():
    env = env_()
    env.reset()
    env.step(CALL)
    obs, reward, term, trunc, info = env.step("You have 120.")
    assert not term and obs[-1] == {"role": "user", "content": "thanks"}
    assert info["turn_result"]["score"] == 1.0
    assert {v["id"]: v["status"] for v in info["turn_result"]["verdicts"]} == {"C0": "passed", "C1": "passed"}
    assert info["new_messages"] == [{"role": "user", "content": "thanks"}]
    obs, reward, term, trunc, info = env.step("Anytime.")
    assert term and not trunc and reward == 1.0
    for key in ("score", "turn_scores", "verdicts", "counts", "unjudged", "warnings", "end_reason",
                "turns_completed", "episode_errors", "tool_calls"):
        assert key in info
    assert info["end_reason"] == "user_done" and info["turns_completed"] == 2
    assert env.snapshot()["task_id"] == "small" and env.snapshot()["score"] == 1.0


def test_openai_dict_action():
    env = env_()
    env.reset()
    action = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "my-id", "type": "function", "function": {"name": "get_balance", "arguments": {"account": "checking"}}}]}
    obs, *_ , info = env.step(action)
    assert obs[-1]["tool_call_id"] == "my-id" and json.loads(obs[-1]["content"]) == {"balance": 120}


def test_reset_options_task_id_and_unknown():
    env = cm2_env.make("cm2/ToolTask-v0")
    tid = env.tasks[-1].id
    obs, info = env.reset(options={"task_id": tid})
    assert info["task_id"] == tid and env.task.id == tid
    with pytest.raises(KeyError, match="no-such-task"):
        env.reset(options={"task_id": "no-such-task"})
    obs, info = env.reset(options={"task_index": 1})
    assert info["task_id"] == env.tasks[1].id


def test_reset_seed_picks_task_deterministically():
    env = cm2_env.make("cm2/ToolTask-v0")
    first = [env.reset(seed=s)[1]["task_id"] for s in range(8)]
    again = [env.reset(seed=s)[1]["task_id"] for s in range(8)]
    assert first == again
    assert len(set(first)) > 1


def test_group_key_is_reported():
    env = env_()
    assert env.reset(options={"group_key": "g1"})[1]["group_key"] == "g1"


# ------------------------------------------------------------------------------------------- sync vs async


def _run_sync(env, task_id, agent):
    obs, info = env.reset(seed=1, options={"task_id": task_id})
    agent.reset(env.task, seed=1)
    rewards, done = [], False
    while not done:
        action = asyncio.run(agent.act(obs, info))
        obs, r, term, trunc, info = env.step(action)
        rewards.append(r)
        done = term or trunc
    return obs, rewards, info


async def _run_async(env, task_id, agent):
    obs, info = await env.areset(seed=1, options={"task_id": task_id})
    agent.reset(env.task, seed=1)
    rewards, done = [], False
    while not done:
        obs, r, term, trunc, info = await env.astep(await agent.act(obs, info))
        rewards.append(r)
        done = term or trunc
    return obs, rewards, info


@pytest.mark.parametrize("as_text", [False, True])
def test_sync_and_async_give_the_same_trajectory(as_text):
    from agents.perturbed import PerturbedAgent

    env_s, env_a = cm2_env.make("cm2/ToolTask-v0"), cm2_env.make("cm2/ToolTask-v0")
    for task in env_s.tasks[:4]:
        for make_agent in (lambda: ReferenceAgent(as_text=as_text), lambda: PerturbedAgent(fault_rate=0.7, seed=5)):
            s = _run_sync(env_s, task.id, make_agent())
            a = asyncio.run(_run_async(env_a, task.id, make_agent()))
            assert s[0] == a[0]  # messages
            assert s[1] == a[1]  # rewards
            for key in ("score", "turn_scores", "verdicts", "end_reason", "counts"):
                assert s[2][key] == a[2][key]


async def test_sync_api_works_inside_a_running_event_loop():
    env = env_()
    obs, info = env.reset()  # called from a coroutine: the env runs it on a helper thread
    obs, *_ = env.step(CALL)
    assert obs[-1]["role"] == "tool"
    obs, *_ = await env.astep("You have 120.")
    assert obs[-1]["content"] == "thanks"


# ------------------------------------------------------------------------------------------- errors are data


@pytest.mark.parametrize(
    "action, code, field",
    [
        ('<tool_call>{"name": "get_balance", "arguments": {"account": </tool_call>', "malformed_tool_call", None),
        ("<tool_call>nonsense</tool_call>", "malformed_tool_call", None),
        ('<tool_call>{"name": "get_balanse", "arguments": {}}</tool_call>', "unknown_tool", None),
        ('<tool_call>{"name": "get_balance", "arguments": {"account": "brokerage"}}</tool_call>',
         "invalid_arguments", "account"),
        ('<tool_call>{"name": "get_balance", "arguments": {}}</tool_call>', "invalid_arguments", "account"),
        ('<tool_call>{"name": "transfer", "arguments": {"amount": -5}}</tool_call>', "invalid_arguments", "amount"),
    ],
)
def test_bad_calls_become_tool_error_messages_and_episode_continues(action, code, field):
    env = env_()
    env.reset()
    obs, reward, term, trunc, info = env.step(action)
    assert not term and not trunc
    assert env.observation_space.contains(obs)
    tool_msg = obs[-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == obs[-2]["tool_calls"][0]["id"]
    body = json.loads(tool_msg["content"])
    assert body["error"] == code
    assert [e["type"] for e in info["errors"]] == [code]
    assert info["tool_results"][0]["error"] == code
    if field:
        assert field in [d["field"] for d in body["details"]]
    # the agent recovers: a correct call and the reply still score
    obs, *_ = env.step(CALL)
    assert json.loads(obs[-1]["content"]) == {"balance": 120}
    obs, reward, term, trunc, info = env.step("You have 120.")
    assert not term and info["turn_result"]["score"] == 1.0
    obs, reward, term, trunc, info = env.step("bye")
    assert term and code in [e["type"] for e in info["episode_errors"]]


def test_end_on_tool_error():
    env = env_(end_on_tool_error=True)
    env.reset()
    obs, reward, term, trunc, info = env.step('<tool_call>{"name": "nope", "arguments": {}}</tool_call>')
    assert term and not trunc
    assert info["end_reason"] == "tool_error"
    assert info["turns_completed"] == 1 and info["turn_scores"] == [0.0]
    assert info["score"] == 0.0 and reward == 0.0


def test_end_on_tool_error_not_triggered_by_good_calls():
    env = env_(end_on_tool_error=True)
    env.reset()
    assert env.step(CALL)[2] is False


def test_step_after_the_end_does_not_raise():
    env = env_()
    env.reset()
    env.step(CALL)
    env.step("You have 120.")
    final = env.step("bye")
    assert final[2]
    for action in ("more?", CALL, {"content": "x"}):
        obs, reward, term, trunc, info = env.step(action)
        assert term and reward == 0.0
        assert info["errors"][0]["type"] == "episode_finished"
        assert info["score"] == final[4]["score"]
        assert obs == final[0]  # nothing appended


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError):
        env_().step("hi")


def test_max_steps_per_turn_truncates():
    env = env_(max_steps_per_turn=3)
    env.reset()
    results = [env.step(CALL) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert not results[-1][2]
    info = results[-1][4]
    assert info["end_reason"] == "max_steps_per_turn"
    assert info["turn_scores"] == [0.5]  # C0 passed, C1 (reply) failed
    assert info["score"] == pytest.approx(0.25)  # turn 2 never reached


def test_odd_action_types_are_data():
    env = env_()
    env.reset()
    for action in (None, 42, ["a", "list"], b"bytes", {"content": 5}, {"tool_calls": "nope"},
                   {"tool_calls": [{"function": "x"}]}):
        obs, reward, term, trunc, info = env.step(action)
        assert env.observation_space.contains(obs), action
        if term or trunc:
            env.reset()


# ------------------------------------------------------------------------------------------- failing components


class _BrokenBackend:
    def session(self, task, *, group_key=None, seed=None):
        class S:
            async def call(self, call):
                raise ConnectionError("simulator down")

            def close(self):
                raise OSError("close failed")

        return S()


class _BrokenJudge:
    async def judge_turn(self, request):
        raise TimeoutError("judge timeout")


class _PartialJudge:
    async def judge_turn(self, request):
        return {request.items[0].id: Verdict(request.items[0].id, "passed", 1, "ok", "llm")}


class _BrokenUser:
    def session(self, task, *, seed=None):
        class S:
            async def first_message(self):
                return UserReply("hello")

            async def reply(self, messages, next_turn):
                raise RuntimeError("user model crashed")

        return S()


def test_tool_backend_failure_is_data():
    env = env_(tool_backend=_BrokenBackend())
    env.reset()
    obs, reward, term, trunc, info = env.step(CALL)
    assert not term
    assert json.loads(obs[-1]["content"])["error"] == "tool_backend_error"
    assert info["errors"][0]["type"] == "tool_backend_error"
    env.step("done")
    obs, reward, term, trunc, info = env.step("bye")  # close() raising is recorded, not raised
    assert term


def test_judge_failure_is_an_error_verdict_not_a_zero():
    t = small_task().model_copy(deep=True)
    t.turns[0].checklist[1].check = None  # C1 needs the (broken) LLM judge
    env = ToolTaskEnv(tasks=[t], judge=_BrokenJudge())
    env.reset()
    env.step(CALL)
    obs, reward, term, trunc, info = env.step("it is 5")
    statuses = {v["id"]: v["status"] for v in info["turn_result"]["verdicts"]}
    assert statuses == {"C0": "passed", "C1": "error"}
    assert info["turn_result"]["score"] == 1.0  # the error leaves the denominator
    final = env.step("bye")[4]
    assert final["judge_errors"] == ["t0:C1"]
    assert any(e["type"] == "judge_error" for e in final["episode_errors"])


def test_judge_missing_verdict_is_error():
    t = small_task().model_copy(deep=True)
    for it in t.turns[0].checklist:
        it.check = None
    env = ToolTaskEnv(tasks=[t], judge=_PartialJudge())
    env.reset()
    obs, reward, term, trunc, info = env.step("hi")
    assert {v["id"]: v["status"] for v in info["turn_result"]["verdicts"]} == {"C0": "passed", "C1": "error"}


def test_user_failure_ends_episode_with_error_recorded():
    env = env_(user=_BrokenUser())
    obs, info = env.reset()
    assert obs[-1]["content"] == "hello"
    obs, reward, term, trunc, info = env.step("hi")
    assert term and info["end_reason"] == "user_error"
    assert any(e["type"] == "user_error" for e in info["episode_errors"])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError):
        env_(reward_level="step")
    with pytest.raises(ValueError):
        env_(parser="nope")
    with pytest.raises(KeyError):
        env_(tool_backend="no-such-backend")


def test_render_ansi():
    env = env_(render_mode="ansi")
    env.reset()
    env.step(CALL)
    text = env.render()
    assert "user: balance of checking?" in text and "get_balance" in text
    assert env_().render() is None


def test_gym_make_wraps_and_steps():
    env = gym.make("cm2/ToolTask-v0", tasks=[small_task()])
    obs, info = env.reset()
    assert info["task_id"] == "small"
    obs, *_ = env.step(CALL)
    assert obs[-1]["role"] == "tool"
    env.close()


def test_tools_held_back_until_their_turn():
    """metadata.tools_available_from_turn: a tool is hidden (and refused) before its turn, offered after."""
    task = small_task().model_copy(update={"metadata": {"tools_available_from_turn": {"transfer": 1}}})
    env = ToolTaskEnv(tasks=[task], early_stop=False)
    obs, info = env.reset()
    assert [t["function"]["name"] for t in info["tools"]] == ["get_balance"]
    obs, _, _, _, info = env.step('<tool_call>{"name": "transfer", "arguments": {"amount": 5}}</tool_call>')
    assert info["tool_results"][0]["error"] == "unknown_tool"
    assert [t["function"]["name"] for t in env.tools] == ["get_balance"]
    obs, _, term, _, info = env.step("done")  # ends turn 0; turn 1 begins
    assert not term and [t["function"]["name"] for t in info["tools"]] == ["get_balance", "transfer"]
    obs, _, _, _, info = env.step('<tool_call>{"name": "transfer", "arguments": {"amount": 5}}</tool_call>')
    assert info["tool_results"][0]["error"] is None


# ------------------------------------------------------------------ typed summary, afinish


def test_summary_is_typed_and_info_is_its_dict():
    env = env_()
    env.reset(options={"task_id": "small"})
    assert env.summary is None
    env.step(CALL)
    env.step("You have 120.")
    _, reward, terminated, _, info = env.step("bye")
    s = env.summary
    assert terminated and s is not None and s.score == reward == 1.0
    assert s.to_dict() == {k: info[k] for k in s.to_dict()}
    assert s.turn_scores == [1.0, 1.0] and s.counts() == {"passed": 3, "failed": 0, "unjudged": 0, "error": 0}
    assert [c.name for c in s.tool_calls] == ["get_balance"] and s.end_reason == "user_done"
    assert info["turn_result"]["turn"] == 1 and info["new_messages"] == []


def test_afinish_judges_the_turn_in_progress_and_returns_the_summary():
    env = env_()
    env.reset(options={"task_id": "small"})
    env.step(CALL)  # the turn is in progress: a call made, no reply yet
    s = env.finish("trainer_budget")
    assert s.end_reason == "trainer_budget" and s.turns_completed == 1
    assert [v.status for v in s.turns[0].verdicts.values()] == ["passed", "failed"]
    assert s.score == pytest.approx(0.25)  # (0.5 + 0) / 2 turns; the unreached turn counts 0
    assert env.finish("again") is s  # idempotent on a finished episode
    _, reward, terminated, _, info = env.step("late")
    assert terminated and reward == 0.0 and info["errors"][0]["type"] == "episode_finished"


def test_afinish_before_any_action_judges_nothing():
    env = env_()
    env.reset(options={"task_id": "small"})
    s = env.finish()
    assert s.turns == [] and s.score == 0.0 and s.end_reason == "stopped"


def test_step_errors_are_typed_kinds():
    env = env_()
    env.reset(options={"task_id": "small"})
    _, _, _, _, info = env.step('<tool_call>{"name": "nope", "arguments": {}}</tool_call>')
    assert [e["type"] for e in info["errors"]] == ["unknown_tool"]
    assert info["errors"][0]["tool"] == "nope" and info["tool_results"][0]["source"] == "validation"


def test_env_collected_while_another_loop_runs_closes_its_loop_quietly(monkeypatch):
    import sys

    env = env_()
    env.reset(options={"task_id": "small"})  # sync API: the env owns a private loop now
    loop = env._runner._loop
    unraisable: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    async def drop_it():
        nonlocal env
        env = None
        gc.collect()  # the finalizer runs here, inside a running loop

    asyncio.run(drop_it())
    assert loop.is_closed()
    assert unraisable == []


def test_unresolvable_ref_in_a_tool_schema_is_a_flagged_task_error():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"$ref": "#/nowhere"}}}}}]
    task = Task.model_validate({"id": "bad-ref", "tools": tools, "turns": [{"user": "u"}]})
    env = ToolTaskEnv(tasks=[task])
    env.reset()
    _, _, terminated, _, info = env.step('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>')
    assert not terminated and [e["type"] for e in info["errors"]] == ["task_error"]
    assert "cannot be checked" in info["errors"][0]["message"] and info["tool_results"][0]["error"] == "task_error"
