"""BFCL's per-turn outcome check types: ``bfcl_state`` and ``bfcl_response``.

Registered from the BFCL plugin, so a BFCL task file judges the same in any env whose tool backend runs the
BFCL classes — ``BFCLMultiTurnEnv`` or a plain ``ToolTaskEnv(tool_backend="bfcl")``. Importing this module
does not import bfcl-eval; deciding a check does (an ``error`` verdict when it is not installed).
"""

from __future__ import annotations

from typing import Literal

from ...judge.checks import CheckContext, CheckOutcome, CheckSpec, register_check


class BFCLStateCheck(CheckSpec):
    """Passes if, after this turn, every involved BFCL class's public state equals the ground truth's
    (bfcl-eval's ``state_checker``, replaying the episode's executed calls of turns 0..t)."""

    type: Literal["bfcl_state"] = "bfcl_state"


class BFCLResponseCheck(CheckSpec):
    """Passes if every execution result of this turn's ground-truth calls is among the episode's execution
    results so far (bfcl-eval's ``response_checker``)."""

    type: Literal["bfcl_response"] = "bfcl_response"


def _outcome(ctx: CheckContext, which: str) -> CheckOutcome:
    from .executor import BFCLToolSession
    from .outcome import turn_outcome

    executed = ctx.session.executed if isinstance(ctx.session, BFCLToolSession) else None
    ok, why = turn_outcome(ctx.task, ctx.messages, ctx.turn, executed)[which]
    return CheckOutcome(ok, ctx.last_step if ok else None, why)


@register_check(BFCLStateCheck)
def bfcl_state(check: BFCLStateCheck, ctx: CheckContext) -> CheckOutcome:
    return _outcome(ctx, "state")


@register_check(BFCLResponseCheck)
def bfcl_response(check: BFCLResponseCheck, ctx: CheckContext) -> CheckOutcome:
    return _outcome(ctx, "response")
