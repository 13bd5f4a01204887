"""ToolSandbox check types: ``toolsandbox_milestone`` and ``toolsandbox_minefield``.

Decided by ToolSandbox's own ``MilestoneMatcher`` on the episode's execution context (``ctx.session`` must be a
:class:`.session.ToolSandboxSession`; otherwise the item fails with a reason). Importing this module does not
import ``tool_sandbox``.
"""

from __future__ import annotations

from typing import Literal

from ...judge.checks import CheckContext, CheckOutcome, CheckSpec, register_check


class ToolSandboxMilestoneCheck(CheckSpec):
    """Passes if ToolSandbox's milestone matcher maps milestone `index` with similarity >= `min_similarity`."""

    type: Literal["toolsandbox_milestone"] = "toolsandbox_milestone"
    index: int
    min_similarity: float = 1.0


class ToolSandboxMinefieldCheck(CheckSpec):
    """Passes if ToolSandbox's minefield matcher does not match minefield `index` (similarity 0)."""

    type: Literal["toolsandbox_minefield"] = "toolsandbox_minefield"
    index: int


def _result(ctx: CheckContext):
    from .session import ToolSandboxSession

    if not isinstance(ctx.session, ToolSandboxSession):
        return None
    return ctx.session.evaluate()


@register_check(ToolSandboxMilestoneCheck)
def toolsandbox_milestone(check: ToolSandboxMilestoneCheck, ctx: CheckContext) -> CheckOutcome:
    res = _result(ctx)
    if res is None:
        return CheckOutcome(False, None, "not a ToolSandbox session")
    sim = float(res.milestone_mapping.get(check.index, (None, 0.0))[1]) if check.index in res.milestone_mapping else 0.0
    ok = sim >= check.min_similarity - 1e-9
    return CheckOutcome(ok, ctx.last_step if ok else None, f"milestone {check.index} similarity {sim:.3f}")


@register_check(ToolSandboxMinefieldCheck)
def toolsandbox_minefield(check: ToolSandboxMinefieldCheck, ctx: CheckContext) -> CheckOutcome:
    res = _result(ctx)
    if res is None:
        return CheckOutcome(False, None, "not a ToolSandbox session")
    sim = float(res.minefield_mapping[check.index][1]) if check.index in res.minefield_mapping else 0.0
    ok = sim == 0
    return CheckOutcome(ok, ctx.last_step if ok else None, f"minefield {check.index} similarity {sim:.3f}")
