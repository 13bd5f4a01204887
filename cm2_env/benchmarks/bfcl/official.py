"""BFCL's own multi-turn verdict, computed with bfcl-eval's ``multi_turn_checker`` (state + response checks).

We reproduce what bfcl-eval's eval runner does for one entry (``_evaluate_single_multi_turn_entry``) without
importing it (it pulls in the provider SDKs): the force-termination check (the episode must reach every
ground-truth turn), the decoded per-turn/per-step call strings (rendered like bfcl-eval's FC decoder), then
``multi_turn_checker``. The checker keeps instances in its module's ``globals()`` keyed by model name and test
id; each evaluation uses a unique model name and deletes its instances afterwards, so concurrent or repeated
evaluations never see each other's state.

Note: bfcl-eval builds the decoded calls from everything the model emitted; we pass the calls our env actually
executed (:func:`.episode.executed_calls`), so the verdict describes the episode that really happened (calls
rejected by our schema validation never reached the tools).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ...tasks.models import Task
from . import _bfcl
from .calls import render_call
from .episode import executed_calls
from .executor import BFCLToolSession, bfcl_meta


def _short(value: Any, limit: int = 2000) -> Any:
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."


def official_verdict(task: Task, messages: list[dict[str, Any]], session: Any = None) -> dict[str, Any]:
    """``{"valid": bool, "accuracy": 0|1, "error_type", "error_message", "decoded"}`` for one episode.

    ``session``: the episode's BFCL tool session, whose record of executed calls is used when given.
    """
    meta = bfcl_meta(task)
    ground_truth: list[list[str]] = meta["ground_truth"]
    record = session.executed if isinstance(session, BFCLToolSession) else None
    turns = executed_calls(task, messages, record)
    decoded = [[[render_call(n, a) for n, a in step] for step in turn] for turn in turns]
    out: dict[str, Any] = {"id": meta["id"], "decoded": decoded}
    if len(decoded) != len(ground_truth):
        out.update(valid=False, accuracy=0.0, error_type="multi_turn:force_terminated",
                   error_message=f"The episode reached {len(decoded)} of {len(ground_truth)} ground-truth turns.")
        return out
    checker = _bfcl.checker_module()
    utils = _bfcl.checker_utils_module()
    model_name = f"cm2_{uuid.uuid4().hex}"
    test_entry = {"id": meta["id"], "initial_config": meta["initial_config"],
                  "involved_classes": meta["involved_classes"]}
    try:
        result = checker.multi_turn_checker(decoded, ground_truth, test_entry, meta["category"], model_name)
    except Exception as e:  # noqa: BLE001 - an official-checker crash is reported, never scored silently
        out.update(valid=False, accuracy=0.0, error_type="cm2:checker_exception", checker_error=True,
                   error_message=f"{type(e).__name__}: {e}")
        return out
    finally:
        prefix = re.sub(r"[-./:]", "_", model_name)
        for key in [k for k in vars(utils) if k.startswith(prefix)]:
            del vars(utils)[key]
    valid = bool(result.get("valid"))
    out.update(valid=valid, accuracy=1.0 if valid else 0.0)
    if not valid:
        out["error_type"] = result.get("error_type")
        out["error_message"] = result.get("error_message")
        details = result.get("details") or {}
        if "differences" in details:
            out["differences"] = _short(details["differences"])
        if "missing_items" in details:
            out["missing_items"] = _short(details["missing_items"])
    return out


class BFCLOfficialEvaluator:
    """Episode evaluator: the official BFCL multi-turn verdict, reported as ``info["evaluations"]["bfcl"]``."""

    name = "bfcl"

    async def evaluate(self, task: Task, messages: list[dict[str, Any]], session: Any = None) -> dict[str, Any]:
        return official_verdict(task, messages, session)
