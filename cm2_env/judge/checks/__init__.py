"""Check types: the registry, the read-only context they decide from, and the built-in types.

Add a type from any module: a :class:`CheckSpec` subclass with ``type: Literal["my_check"] = "my_check"`` and
a decide function decorated with ``@register_check(MyCheck)`` (see the README, "Extending").
"""

from .base import (
    CHECKS,
    CallView,
    CheckContext,
    CheckOutcome,
    CheckRegistry,
    CheckSpec,
    CheckType,
    ReplyView,
    ResultView,
    TurnView,
    register_check,
)
from .calls import ArgConstraint, ToolCalledCheck, ToolNotCalledCheck
from .text import ReplyMatchesCheck, TextMatch, ToolResultMatchesCheck

__all__ = [
    "CHECKS", "CallView", "CheckContext", "CheckOutcome", "CheckRegistry", "CheckSpec", "CheckType", "ReplyView",
    "ResultView", "TurnView", "register_check", "ArgConstraint", "ToolCalledCheck", "ToolNotCalledCheck",
    "ReplyMatchesCheck", "TextMatch", "ToolResultMatchesCheck",
]
