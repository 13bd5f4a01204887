"""Task selection: suites, files, id globs and domain terms."""

from __future__ import annotations

import json

import pytest

from cm2_env.tasks import Task, list_suites, load_suite, resolve_tasks, select_tasks


def tasks() -> list[Task]:
    return [Task.model_validate({"id": i, "domain": d, "tools": [], "turns": [{"user": "x"}]})
            for i, d in [("travel-001", "travel"), ("travel-002", "travel"), ("bank-001", "banking")]]


def test_select_by_glob_domain_and_comma_terms():
    ts = tasks()
    assert [t.id for t in select_tasks(ts, "travel-*")] == ["travel-001", "travel-002"]
    assert [t.id for t in select_tasks(ts, "domain:banking")] == ["bank-001"]
    assert [t.id for t in select_tasks(ts, "bank-001, travel-002")] == ["travel-002", "bank-001"]  # suite order
    assert [t.id for t in select_tasks(ts, "travel-*,domain:trav*")] == ["travel-001", "travel-002"]  # no dupes
    assert select_tasks(ts, None) == ts and select_tasks(ts, "") == ts
    with pytest.raises(ValueError, match="matches no task"):
        select_tasks(ts, "nothing-*")


def test_resolve_tasks(tmp_path):
    assert "starter" in list_suites()
    starter = load_suite("starter")
    assert [t.id for t in resolve_tasks(None)] == [t.id for t in starter]
    assert [t.id for t in resolve_tasks("starter")] == [t.id for t in starter]
    f = tmp_path / "x.json"
    f.write_text(json.dumps([{"id": "file-task", "tools": [], "turns": [{"user": "hi"}]}]))
    assert [t.id for t in resolve_tasks(str(f))] == ["file-task"]
    assert [t.id for t in resolve_tasks(f)] == ["file-task"]
    ts = tasks()
    assert resolve_tasks(ts) == ts
    with pytest.raises(KeyError, match="unknown suite"):
        resolve_tasks("no-such-suite")
    with pytest.raises(TypeError):
        resolve_tasks([{"id": "raw dict"}])


def test_load_suite_returns_a_fresh_list():
    a = load_suite("starter")
    a.clear()
    assert load_suite("starter")
