"""A policy served by any OpenAI-compatible chat server (vLLM, sglang, OpenAI, llama.cpp, transformers serve).

Tools are passed natively (``tools=`` in the request; the server's tool parser returns ``tool_calls``) or as
text (the schemas in the system prompt, hermes ``<tool_call>`` output parsed by the env) — ``tool_mode``.
One agent object per episode; all share the role's client (connection pool, concurrency limit).
"""

from __future__ import annotations

import json
from typing import Any

from cm2_env.llm import LLMClient, build_client
from cm2_env.tasks.models import Task

TEXT_TOOLS_PROMPT = """# Tools

You may call one or more functions to assist with the user query. The function signatures:
<tools>
{tools}
</tools>

For each function call, return a JSON object with the function name and arguments within <tool_call></tool_call> tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""

_CLIENTS: dict[str, LLMClient] = {}


def _client(llm: dict[str, Any]) -> LLMClient:
    key = json.dumps(llm, sort_keys=True, default=str)
    if key not in _CLIENTS:  # one pool per distinct config, shared by every episode's agent
        _CLIENTS[key] = build_client(llm, role="policy")
    return _CLIENTS[key]


class OpenAIChatAgent:
    """Chat-completions policy. ``llm`` is a role config (base_url, model, api_key_env, sampling, ...)."""

    def __init__(self, llm: dict[str, Any] | None = None, tool_mode: str = "native", **llm_fields: Any):
        if tool_mode not in ("native", "text"):
            raise ValueError(f"tool_mode must be 'native' or 'text', got {tool_mode!r}")
        cfg = {**(llm or {}), **llm_fields}
        if not cfg:
            raise ValueError("OpenAIChatAgent needs an llm config, e.g. --agent-arg base_url=http://127.0.0.1:8000/v1 "
                             "--agent-arg model=NAME")
        self.client = _client(cfg)
        self.tool_mode = tool_mode
        self.tools: list[dict[str, Any]] = []

    def reset(self, task: Task, seed: int | None = None) -> None:
        self.tools = task.tools

    def _messages(self, observation: list[dict[str, Any]]) -> list[dict[str, Any]]:
        msgs = [dict(m) for m in observation]
        if self.tool_mode == "text" and self.tools:
            block = TEXT_TOOLS_PROMPT.format(tools="\n".join(json.dumps(t, ensure_ascii=False) for t in self.tools))
            if msgs and msgs[0]["role"] == "system":
                msgs[0]["content"] = (msgs[0].get("content") or "") + "\n\n" + block
            else:
                msgs.insert(0, {"role": "system", "content": block})
        for m in msgs:  # the env labels tool messages with the tool name; the chat API has no such field
            if m["role"] == "tool":
                m.pop("name", None)
        return msgs

    async def act(self, observation: list[dict[str, Any]], info: dict[str, Any]) -> str | dict[str, Any]:
        # the env's info carries the tools available now (some tasks reveal tools in later turns)
        self.tools = info.get("tools", self.tools)
        extra = {"tools": self.tools} if self.tool_mode == "native" and self.tools else {}
        # an LLMError (server down after retries) propagates: the rollout records the episode as an agent
        # error with no score, rather than judging a reply the model never gave
        resp = await self.client.chat(self._messages(observation), **extra)
        calls = resp.meta.get("tool_calls")
        if calls:
            return {"content": resp.text, "tool_calls": calls}
        return resp.text
