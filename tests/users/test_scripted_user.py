"""The scripted user: replays the task's user turns in order and ends when the script ends."""

from __future__ import annotations

from cm2_env import ToolTaskEnv
from cm2_env.tasks.models import Task
from cm2_env.users.scripted import ScriptedUser


def task(users) -> Task:
    return Task.model_validate({"id": "u", "tools": [], "turns": [{"user": u} for u in users]})


async def test_replays_turns_then_done():
    s = ScriptedUser().session(task(["one", "two"]))
    first = await s.first_message()
    assert first.content == "one" and not first.done
    second = await s.reply([{"role": "user", "content": "one"}], 1)
    assert second.content == "two" and not second.done
    end = await s.reply([], 2)
    assert end.content is None and end.done and not end.meta.get("error")


async def test_missing_scripted_text_is_an_error_not_a_crash():
    s = ScriptedUser().session(task(["one", None]))
    r = await s.reply([], 1)
    assert r.done and r.content is None and "no scripted user message" in r.meta["error"]


def test_env_ends_with_user_error_when_script_has_a_hole():
    env = ToolTaskEnv(tasks=[task(["one", None])])
    obs, info = env.reset()
    assert obs[-1] == {"role": "user", "content": "one"}
    obs, reward, term, trunc, info = env.step("answer")
    assert term and info["end_reason"] == "user_error"  # a broken script is not a user who is done
    assert any(e["type"] == "user_error" for e in info["episode_errors"])


def test_env_with_no_opening_user_message():
    env = ToolTaskEnv(tasks=[task([None])])
    obs, info = env.reset()
    assert obs[-1] == {"role": "user", "content": ""}
    assert info["errors"] and info["errors"][0]["type"] == "user_error"
