"""Component registries: build from names and specs, duplicates refused, one table of roles, and every built-in
name (benchmark ones included) resolves in a fresh interpreter whatever was imported first."""

from __future__ import annotations

import pytest

from cm2_env.components import JUDGES, ROLES, TOOL_BACKENDS, USER_SIMULATORS, Registry, build_roles
from cm2_test_servers.fresh import run_fresh


def test_component_registries():
    assert {"offline"} <= set(TOOL_BACKENDS.names())
    assert {"scripted"} <= set(USER_SIMULATORS.names())
    assert {"rule"} <= set(JUDGES.names())
    from cm2_env.tools.offline import OfflineToolSimulator

    assert isinstance(TOOL_BACKENDS.build("offline"), OfflineToolSimulator)
    assert isinstance(TOOL_BACKENDS.build({"name": "offline"}), OfflineToolSimulator)
    inst = object()
    assert TOOL_BACKENDS.build(inst) is inst and TOOL_BACKENDS.build(None) is None
    with pytest.raises(KeyError, match="unknown tool backend"):
        TOOL_BACKENDS.get("nope")
    with pytest.raises(ValueError):
        TOOL_BACKENDS.build({"kwarg": 1})
    reg = Registry("thing")

    @reg.register("x")
    def make_x(k=1):
        return ("x", k)

    assert reg.build({"name": "x", "k": 5}) == ("x", 5)
    assert reg.build("x") == ("x", 1)



def test_duplicate_registration_is_refused():
    reg = Registry("thing", lazy={"lazy": "os.path:join"})

    @reg.register("x")
    def make_x():
        return 1

    with pytest.raises(ValueError, match="already registered"):
        @reg.register("x")
        def other_x():
            return 2

    with pytest.raises(ValueError, match="already registered"):
        reg.register_lazy("x", "os.path:join")
    with pytest.raises(ValueError, match="already registered"):
        reg.register_lazy("lazy", "os.path:split")
    reg.register("x")(make_x)  # the same factory again (a re-import) is fine
    assert reg.get("lazy") is __import__("os").path.join
    with pytest.raises(ValueError, match="module:attr"):
        reg.register_lazy("bad", "no_colon")


def test_one_table_of_roles_builds_every_role():
    assert [r.kwarg for r in ROLES] == ["tool_backend", "user", "judge"]
    assert [r.registry for r in ROLES] == [TOOL_BACKENDS, USER_SIMULATORS, JUDGES]
    built = build_roles({"tool_backend": "offline", "user": {"name": "scripted"}, "judge": None, "other": 1})
    assert type(built["tool_backend"]).__name__ == "OfflineToolSimulator"
    assert type(built["user"]).__name__ == "ScriptedUser"
    assert built["judge"] is None and built["other"] == 1


def test_builtin_names_resolve_in_a_fresh_interpreter_without_importing_the_benchmark():
    # nothing BFCL is imported first: the registries discover the benchmark plugins on a miss
    code = (
        "import json, sys\n"
        "from cm2_env.components import TOOL_BACKENDS\n"
        "from cm2_env.judge.checks import CHECKS\n"
        "from cm2_env.tasks.models import ChecklistItem\n"
        "item = ChecklistItem.model_validate({'id': 'S', 'question': 'q', 'weight': 1, 'check': {'type': 'bfcl_state'}})\n"
        "print(json.dumps({'check': type(item.check).__name__, 'bfcl_backend': 'bfcl' in TOOL_BACKENDS.names(),\n"
        "  'types': CHECKS.names(), 'bfcl_eval_imported': 'bfcl_eval' in sys.modules}))\n"
    )
    res = run_fresh(code)
    assert res["check"] == "BFCLStateCheck" and res["bfcl_backend"]
    assert {"tool_called", "tool_not_called", "reply_matches", "tool_result_matches", "bfcl_state",
            "bfcl_response"} <= set(res["types"])
    assert res["bfcl_eval_imported"] is False  # declaring BFCL's names does not import bfcl-eval


def test_removed_bfcl_judge_name_is_not_a_judge():
    assert "bfcl" not in JUDGES.names()  # BFCL's outcomes are check types now
