"""ToolSandbox loader / check registry details (ToolSandbox venv only)."""

from __future__ import annotations

import pytest

pytest.importorskip("tool_sandbox")

from cm2_env.benchmarks.toolsandbox import _ts, loader  # noqa: E402


def test_scenario_counts():
    sc = _ts.all_scenarios()
    assert len(sc) == 1032
    bases = loader.base_names(sc)
    assert len(bases) == 129
    rapid = loader.rapid_api_tools()
    assert sum(loader.is_local(sc[b], rapid) for b in bases) == 91


def test_checklist_items_are_registered_checks():
    tasks = loader.load_scenarios(names=["find_thanksgiving_timestamp", "cellular_off"])
    by_id = {t.id: t for t in tasks}
    items = by_id["find_thanksgiving_timestamp"].turns[0].checklist
    assert items[0].check.type == "tool_called" and items[0].check.name == "search_holiday"
    kinds = {it.check.type for t in tasks for it in t.turns[0].checklist}
    assert kinds <= {"tool_called", "tool_not_called", "toolsandbox_milestone", "toolsandbox_minefield"}
    for t in tasks:
        assert abs(sum(it.weight for it in t.turns[0].checklist) - 1.0) < 1e-9


def test_plugin_registers_backend():
    from cm2_env.components import TOOL_BACKENDS

    assert "toolsandbox" in TOOL_BACKENDS.names()
