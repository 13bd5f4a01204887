"""tau2 check types, decided on the episode as a whole (checklist items sit on the task's last turn).

* ``tau2_action``: some executed call matches the gold action by tau2's ``Action.compare_with_tool_call``
  (same name; the ``compare_args`` arguments equal — all arguments when ``compare_args`` is None); a user-side
  gold action (``requestor: user``) is matched against the user side's own tool calls;
* ``tau2_db``: the episode environment's DB hash (and user DB hash) equals the one after replaying the gold
  actions on a fresh environment with the task's initial state (what tau2's EnvironmentEvaluator compares);
* ``tau2_env_assertion``: the task's ``env_assertions[index]`` holds on the episode's environment;
* ``tau2_communicate``: tau2's CommunicateEvaluator rule — ``info.lower()`` is a substring of some assistant
  reply, lowercased with commas removed.

They read ``ctx.session`` (a :class:`.executor.Tau2ToolSession`); without one they give an error outcome.
Importing this module does not import tau2.
"""

from __future__ import annotations

from typing import Any, Literal

from ...judge.checks import CheckContext, CheckOutcome, CheckSpec, register_check


class Tau2ActionCheck(CheckSpec):
    """Passes if a call executed in the episode matches this gold tau2 action (``compare_args`` pinned)."""

    type: Literal["tau2_action"] = "tau2_action"
    name: str
    arguments: dict[str, Any]
    compare_args: list[str] | None = None
    requestor: Literal["assistant", "user"] = "assistant"
    """``user``: a user-side gold action, matched against the calls the user side made on its own tools."""


class Tau2DBCheck(CheckSpec):
    """Passes if the episode's final DB hash equals the gold replay's (tau2's DB check)."""

    type: Literal["tau2_db"] = "tau2_db"


class Tau2EnvAssertionCheck(CheckSpec):
    """Passes if the task's ``evaluation_criteria.env_assertions[index]`` holds on the episode's environment."""

    type: Literal["tau2_env_assertion"] = "tau2_env_assertion"
    index: int


class Tau2CommunicateCheck(CheckSpec):
    """Passes if ``info`` (case-insensitive) occurs in an assistant reply with commas removed (tau2's rule)."""

    type: Literal["tau2_communicate"] = "tau2_communicate"
    info: str


def _session(ctx: CheckContext):
    from .executor import Tau2ToolSession

    return ctx.session if isinstance(ctx.session, Tau2ToolSession) else None


def _no_session() -> CheckOutcome:
    raise RuntimeError("tau2 checks need the episode's tau2 tool session (tool_backend=tau2)")


def action_matches(check: Tau2ActionCheck, name: str, arguments: dict[str, Any]) -> bool:
    if name != check.name:
        return False
    keys = list(arguments) if check.compare_args is None else check.compare_args
    if not keys:
        return True
    return ({k: v for k, v in arguments.items() if k in keys}
            == {k: v for k, v in check.arguments.items() if k in keys})


@register_check(Tau2ActionCheck)
def tau2_action(check: Tau2ActionCheck, ctx: CheckContext) -> CheckOutcome:
    s = _session(ctx) or _no_session()
    for rec in (s.user_executed if check.requestor == "user" else s.executed):
        if action_matches(check, rec.name, rec.arguments):
            return CheckOutcome(True, ctx.last_step, f"{rec.name} call {rec.call_id} matches the gold action")
    who = "user-side " if check.requestor == "user" else ""
    return CheckOutcome(False, None, f"no executed {who}{check.name} call matches the gold arguments")


@register_check(Tau2DBCheck)
def tau2_db(check: Tau2DBCheck, ctx: CheckContext) -> CheckOutcome:
    from .executor import gold_hashes

    s = _session(ctx) or _no_session()
    got = (s.env.get_db_hash(), s.env.get_user_db_hash())
    want = gold_hashes(ctx.task)
    ok = got == want
    return CheckOutcome(ok, ctx.last_step if ok else None,
                        "DB equals the gold replay's" if ok else "DB differs from the gold replay's")


@register_check(Tau2EnvAssertionCheck)
def tau2_env_assertion(check: Tau2EnvAssertionCheck, ctx: CheckContext) -> CheckOutcome:
    from .executor import tau2_task

    s = _session(ctx) or _no_session()
    assertion = tau2_task(ctx.task).evaluation_criteria.env_assertions[check.index]
    ok = bool(s.env.run_env_assertion(assertion, raise_assertion_error=False))
    return CheckOutcome(ok, ctx.last_step if ok else None, f"{assertion.func_name}: {'holds' if ok else 'fails'}")


def communicated(info: str, replies: list[str]) -> bool:
    needle = info.lower()
    return any(needle in r.lower().replace(",", "") for r in replies)


@register_check(Tau2CommunicateCheck)
def tau2_communicate(check: Tau2CommunicateCheck, ctx: CheckContext) -> CheckOutcome:
    replies = [m.get("content") or "" for m in ctx.messages if m.get("role") == "assistant"]
    ok = communicated(check.info, replies)
    return CheckOutcome(ok, ctx.last_step if ok else None, f"{check.info!r} {'said' if ok else 'never said'}")
