"""The opt-in eager body writer (``send_bodies_eagerly``, Python < 3.12): a loop that has it gives the same
answers, faults and cancellations as one without it (the data stages run every LLM call on such a loop)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from cm2_env.llm import LLMClient, LLMError
from cm2_env.llm.client import send_bodies_eagerly
from cm2_test_servers.scripted import Delay, Drop, Status

MSGS = [{"role": "user", "content": "x" * 5000}]  # a body big enough to need its own write


def SCRIPTED_HANDLER(body):
    return json.dumps({"n": len(body["messages"][0]["content"])})


def _client(url: str) -> LLMClient:
    return LLMClient({"base_url": url, "model": "m", "timeout": 2.0, "retries": 1, "backoff_base": 0.01,
                      "backoff_max": 0.02}, role="judge")


def test_installed_only_where_needed():
    async def main():
        loop = asyncio.get_running_loop()
        return send_bodies_eagerly(loop), loop.get_task_factory()

    installed, factory = asyncio.run(main())
    assert installed == (sys.version_info < (3, 12))
    assert (factory is not None) == installed

    async def with_own_factory():
        loop = asyncio.get_running_loop()
        own = lambda lp, coro, **kw: asyncio.Task(coro, loop=lp, **kw)  # noqa: E731
        loop.set_task_factory(own)
        send_bodies_eagerly(loop)
        return loop.get_task_factory() is own

    assert asyncio.run(with_own_factory())  # someone else's factory is left in place


def test_answers_faults_and_cancellation_on_an_eager_loop(scripted_server):

    async def main():
        send_bodies_eagerly(asyncio.get_running_loop())
        c = _client(scripted_server.url)
        answers = await asyncio.gather(*(c.chat(MSGS) for _ in range(32)))
        assert all(json.loads(a.text) == {"n": 5000} for a in answers)
        scripted_server.push(Status(500), Status(500))
        with pytest.raises(LLMError) as ei:
            await c.chat(MSGS)
        assert ei.value.kind == "server_error"
        scripted_server.push(Drop())
        assert json.loads((await c.chat(MSGS)).text) == {"n": 5000}  # a dropped connection is retried
        scripted_server.push(Delay(5.0))
        slow = asyncio.ensure_future(c.chat(MSGS))
        await asyncio.sleep(0.3)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert json.loads((await c.chat(MSGS)).text) == {"n": 5000}  # the client still works after a cancel
        await c.aclose()

    asyncio.run(main())
    assert len(scripted_server.requests) >= 32 + 2 + 2 + 1 + 1
