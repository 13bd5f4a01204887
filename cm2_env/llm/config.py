"""Typed per-role configuration of an OpenAI-compatible LLM endpoint (simulator, user, judge, ...).

Role configs arrive from YAML/Hydra as plain dicts and are turned into :class:`LLMConfig` once, at the edge
(``LLMConfig.coerce``). The API key is never part of the config: ``api_key_env`` names the environment
variable that holds it.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..config import to_plain


class LLMConfigError(ValueError):
    """A role configuration that cannot work (missing key variable, no endpoint, ...)."""


class Endpoint(BaseModel):
    """One server of a role. Several endpoints of one role are balanced by least outstanding requests."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://localhost:8000/v1.")
    model: str | None = Field(None, description="Model name on this endpoint (defaults to the role's model).")
    api_key_env: str | None = Field(None, description="Env var holding this endpoint's key (defaults to the role's).")
    weight: float = Field(1.0, gt=0, description="Relative capacity: outstanding requests are divided by it.")


class Price(BaseModel):
    """Price of a role's tokens, in any currency unit, per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(0.0, ge=0, description="Price per 1e6 prompt tokens.")
    output_per_mtok: float = Field(0.0, ge=0, description="Price per 1e6 completion tokens.")
    cached_input_per_mtok: float | None = Field(
        None, ge=0, description="Price per 1e6 prompt tokens the server reports as cached (default: input price)."
    )

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_prompt_tokens: int = 0) -> float:
        cached_price = self.input_per_mtok if self.cached_input_per_mtok is None else self.cached_input_per_mtok
        fresh = max(prompt_tokens - cached_prompt_tokens, 0)
        return (fresh * self.input_per_mtok + cached_prompt_tokens * cached_price
                + completion_tokens * self.output_per_mtok) / 1e6


class LLMConfig(BaseModel):
    """Everything one LLM role needs: where to send requests, how to sample, how to retry, what it costs."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field("llm", description="Role name used in usage reports (simulator, user, judge, ...).")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL (None: the SDK's default, OpenAI).")
    model: str = Field(description="Model name sent with each request.")
    api_key_env: str | None = Field(
        None, description="NAME of the env var holding the API key; None: no key (local servers get 'EMPTY')."
    )
    endpoints: list[Endpoint] = Field(
        default_factory=list, description="Several servers for this role; overrides base_url when non-empty."
    )
    # sampling
    temperature: float | None = Field(0.0, description="Sampling temperature (None: server default).")
    top_p: float | None = Field(None, description="Nucleus sampling (None: server default).")
    max_tokens: int | None = Field(1024, description="Completion token limit (None: server default).")
    seed: int | None = Field(None, description="Sampling seed, if the server supports it.")
    stop: list[str] | None = Field(None, description="Stop sequences.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra JSON fields for the server (e.g. vLLM/sglang `chat_template_kwargs`, `top_k`).",
    )
    # structured output
    structured_output: Literal["json_schema", "json_object", "none", "auto"] = Field(
        "auto",
        description=(
            "How to ask for JSON: `json_schema`/`auto` (response_format with the schema; if the server rejects "
            "it, prompt-only from then on), `json_object`, or `none` (prompt only). Output is always validated."
        ),
    )
    reask: int = Field(2, ge=0, description="Bounded re-asks when the output is not valid JSON for the schema.")
    # robustness
    timeout: float = Field(60.0, gt=0, description="Seconds one HTTP attempt may take in all (connect + reply).")
    connect_timeout: float | None = Field(
        None, gt=0, description="Seconds to open the connection (None: `timeout`); short, so that an unreachable "
        "host fails fast while a slow reply still gets `timeout`.",
    )
    retries: int = Field(
        4, ge=0, description="Retries on timeouts, 429, 5xx, connection errors and malformed (non-completion) replies."
    )
    backoff_base: float = Field(0.5, ge=0, description="First backoff in seconds (doubles per retry).")
    backoff_max: float = Field(30.0, ge=0, description="Upper bound of one backoff sleep.")
    max_retry_after: float = Field(60.0, ge=0, description="Upper bound on an honoured Retry-After header.")
    max_concurrency: int = Field(16, ge=1, description="In-flight requests of this role per process (event loop).")
    # accounting and caching
    price: Price = Field(default_factory=Price, description="Token prices used for info['usage'] cost.")
    cache_path: str | None = Field(
        None, description="Opt-in sqlite response cache file (shared safely by several processes)."
    )

    @model_validator(mode="after")
    def _has_target(self) -> "LLMConfig":
        if self.base_url is None and not self.endpoints and self.api_key_env is None:
            raise LLMConfigError(
                f"LLM role {self.role!r}: set base_url (local/vLLM/sglang server) or api_key_env (OpenAI)"
            )
        return self

    @classmethod
    def coerce(cls, value: "LLMConfig | dict[str, Any] | Any", role: str | None = None) -> "LLMConfig":
        """Accept an LLMConfig, a dict or an OmegaConf mapping; ``role`` fills in the role name if unset."""
        if isinstance(value, LLMConfig):
            cfg = value
            if role and cfg.role == "llm":
                cfg = cfg.model_copy(update={"role": role})
        else:
            if value is None:
                raise LLMConfigError(f"LLM role {role or '?'}: no `llm` configuration given")
            data = dict(to_plain(value))
            if role and "role" not in data:
                data["role"] = role
            cfg = cls.model_validate(data)
        return cfg

    def worst_case_seconds(self) -> float:
        """The longest one request can take once it has a concurrency slot, when every attempt fails slowly:
        ``timeout`` per attempt times ``retries + 1``, plus each backoff at its largest (jitter up to 1.5x, or
        a ``Retry-After`` up to ``max_retry_after``). JSON re-asks (``reask``) come on top, but only after
        replies that did arrive; the one-time json_schema downgrade of an endpoint is a quick 4xx, not counted.
        """
        backoffs = sum(max(1.5 * min(self.backoff_max, self.backoff_base * 2 ** k), self.max_retry_after)
                       for k in range(self.retries))
        return self.timeout * (self.retries + 1) + backoffs

    def resolved_endpoints(self) -> list[Endpoint]:
        """The endpoints to balance over (one built from base_url when no list is given)."""
        if self.endpoints:
            return [
                e.model_copy(update={"model": e.model or self.model,
                                     "api_key_env": e.api_key_env or self.api_key_env})
                for e in self.endpoints
            ]
        return [Endpoint(base_url=self.base_url or "https://api.openai.com/v1", model=self.model,
                         api_key_env=self.api_key_env)]

    def sampling(self) -> dict[str, Any]:
        """Sampling parameters as request fields (None values dropped)."""
        out = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
               "seed": self.seed, "stop": self.stop}
        return {k: v for k, v in out.items() if v is not None}


def resolve_api_key(env_name: str | None, role: str) -> str:
    """The key from the named env var; 'EMPTY' for keyless local servers. The key itself is never logged."""
    if env_name is None:
        return "EMPTY"
    key = os.environ.get(env_name)
    if not key:
        raise LLMConfigError(f"LLM role {role!r}: environment variable {env_name} (API key) is not set")
    return key
