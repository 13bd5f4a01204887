"""The base of the env roles an LLM plays (tool simulator, user, judge)."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

from .client import LLMClient, build_client
from .config import LLMConfig


@dataclass(eq=False)
class LLMRole:
    """A role backed by an LLM: ``client``, built from the ``llm`` spec for the role named ``ROLE``.

    Subclasses are dataclasses (``eq=False``: roles compare by identity) whose keyword-only fields are the
    role's settings; their ``__post_init__`` checks the settings before calling this one, so a bad setting is
    reported before a client is built.
    ``llm``: an ``LLMClient`` (used as is), an ``LLMConfig``, a dict of its fields or a preset name.
    """

    ROLE: ClassVar[str]
    llm: InitVar["LLMClient | LLMConfig | dict[str, Any] | str | None"] = None
    client: LLMClient = field(init=False, repr=False)

    def __post_init__(self, llm: "LLMClient | LLMConfig | dict[str, Any] | str | None") -> None:
        self.client = build_client(llm, self.ROLE)
