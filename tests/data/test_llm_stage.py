"""The shared LLM stage runner: bounded concurrency, streaming, resume after a real kill -9 without a repeated
call (the server's requests counted), faults as rejections, role config, progress bar."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cm2_env.data.io import DataError
from cm2_env.data.llm_stage import role_config
from cm2_env.data.stage import get_stage
from cm2_test_servers.roles import label_answer, role_router
from cm2_test_servers.scripted import BadBody, Delay, Drop, Status

SCRIPTED_HANDLER = role_router
ROOT = Path(__file__).resolve().parents[2]


def rec(i: int) -> dict:
    return {"id": f"r{i}", "source": {"format": "test"}, "meta": {},
            "tools": [{"type": "function", "function": {"name": "lookup", "description": "Look up a word.",
                                                         "parameters": {"type": "object", "properties": {
                                                             "word": {"type": "string"}}, "required": ["word"]}}}],
            "messages": [
                {"role": "user", "content": f"Define word{i}."},
                {"role": "assistant", "content": "<think>\nLook it up first.\n</think>",
                 "tool_calls": [{"id": "c1", "type": "function",
                                 "function": {"name": "lookup", "arguments": json.dumps({"word": f"word{i}"})}}]},
                {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"definition": f"meaning {i}"})},
                {"role": "assistant", "content": f"<think>\nAnswer.\n</think>\n\nword{i} means meaning {i}."},
            ]}


def rid_of(body: dict) -> str:
    for m in body["messages"]:
        found = re.search(r"Define word(\d+)\.", m.get("content") or "")
        if found:
            return f"r{found.group(1)}"
    return "?"


def llm(srv, **kw) -> dict:
    return {"base_url": srv.url, "model": "scripted", "retries": 0, **kw}


def test_records_in_flight_never_exceed_the_concurrency(data, tmp_path, scripted_server):
    scripted_server.handler = lambda body: Delay(0.25, then=label_answer(body))
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(i) for i in range(9)])
    t0 = time.monotonic()
    report = get_stage("label")(inp, tmp_path / "out.jsonl", {"llm": llm(scripted_server), "concurrency": 3,
                                                              "progress": False})
    assert report["kept"] == 9 and time.monotonic() - t0 >= 0.7  # 3 waves of 3
    # a request is in flight for >= 0.25 s after it arrives, and the record that takes its slot arrives only
    # after its answer: the arrivals within any 0.24 s are requests in flight together
    times = sorted(scripted_server.request_times)
    most = max(sum(1 for u in times if t - 0.24 < u <= t) for t in times)
    assert most == 3


def test_server_faults_are_rejections_not_crashes(data, tmp_path, scripted_server):
    faults = {"r1": Status(503), "r2": Drop(), "r3": BadBody(), "r4": Status(429, headers={"Retry-After": "0"}),
              "r5": Delay(3.0)}

    def handler(body):
        return faults.get(rid_of(body)) or label_answer(body)

    scripted_server.handler = handler
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(i) for i in range(6)])
    report = get_stage("label")(inp, tmp_path / "out.jsonl", {"llm": llm(scripted_server, timeout=1.0),
                                                              "progress": False})
    assert report["kept"] == 1 and report["rejected"] == 5
    assert {"llm_server_error", "llm_malformed_response", "llm_rate_limited", "llm_timeout"} <= set(report["reasons"])
    assert all(k.startswith("llm_") for k in report["reasons"]) and sum(report["reasons"].values()) == 5
    rejected = data.read_jsonl(tmp_path / "out.rejected.jsonl")
    assert all(r["reasons"][0].startswith("llm_") for r in rejected)


def test_unreadable_lines_missing_ids_and_duplicates_are_rejected(data, tmp_path, scripted_server):
    no_id = rec(2)
    del no_id["id"]
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(0), "{not json", no_id, rec(0), rec(1)])
    report = get_stage("llm-filter")(inp, tmp_path / "out.jsonl", {"llm": llm(scripted_server), "efforts": ["low"],
                                                                   "progress": False})
    assert report["kept"] == 2
    assert report["reasons"] == {"duplicate_id": 1, "malformed": 1, "unreadable": 1}
    assert len(scripted_server.requests) == 2


def test_progress_bar_shows_records_per_second_and_cost(data, tmp_path, scripted_server, capsys):
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(i) for i in range(3)])
    get_stage("llm-filter")(inp, tmp_path / "out.jsonl", {
        "llm": llm(scripted_server, price={"input_per_mtok": 1.0, "output_per_mtok": 1.0}), "efforts": ["low"]})
    err = capsys.readouterr().err
    assert "rec/s" in err and "$0.00" in err and "3/3" in err


def test_a_rerun_pays_for_nothing_already_written(data, tmp_path, scripted_server):
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(i) for i in range(4)])
    options = {"llm": llm(scripted_server, price={"input_per_mtok": 1.0}), "efforts": ["low", "high"],
               "progress": False}
    first = get_stage("llm-filter")(inp, tmp_path / "out.jsonl", options)
    n = len(scripted_server.requests)
    second = get_stage("llm-filter")(inp, tmp_path / "out.jsonl", options)
    assert len(scripted_server.requests) == n == 8
    assert second["skipped_already_done"] == 4 and second["kept"] == 4
    assert second["cost_usd"] == pytest.approx(first["cost_usd"]) and second["usage_this_run"]["calls"] == 0
    assert second["cascade"] == first["cascade"]


def test_resume_after_kill_9_repeats_no_answered_call_and_writes_no_duplicate(data, tmp_path, scripted_server):
    """A real `kill -9` of a labelling subprocess: record r3's first answer is invalid and its re-ask is held by
    the server when the process dies. The rerun skips the 7 written records, replays r3's first (paid) answer
    from the cache and sends only the one request whose answer never arrived."""
    phase = {"n": 1}

    def handler(body):
        if rid_of(body) == "r3":
            if len(body["messages"]) == 2:  # the first ask: weights that do not sum to 1
                a = json.loads(label_answer(body))
                a["turns"][0]["checklist"][0]["weight"] = 0.9
                return json.dumps(a)
            if phase["n"] == 1:
                return Delay(30, then=label_answer(body))  # answered only after the kill
        return Delay(0.02, then=label_answer(body))

    scripted_server.handler = handler
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(i) for i in range(8)])
    out = tmp_path / "out.jsonl"
    options = {"llm": llm(scripted_server, timeout=300), "concurrency": 2, "progress": False}
    code = (f"import json; from cm2_env.data.stage import get_stage; "
            f"get_stage('label')({str(inp)!r}, {str(out)!r}, json.loads({json.dumps(json.dumps(options))}))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = out.read_text().count("\n") if out.exists() else 0
            held = any(rid_of(b) == "r3" and len(b["messages"]) == 4 for b in scripted_server.requests)
            if lines == 7 and held:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        else:
            pytest.fail("the run did not reach the kill point")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    partial = tmp_path / "out.report.json"   # a report that says finished would stop a pipeline resuming it
    assert not partial.exists() or json.loads(partial.read_text()).get("complete") is not True
    run1 = [json.dumps(b["messages"]) for b in scripted_server.requests]
    held = [json.dumps(b["messages"]) for b in scripted_server.requests
            if rid_of(b) == "r3" and len(b["messages"]) == 4]
    answered = set(run1) - set(held)
    assert len(run1) == 9  # 8 first asks + r3's re-ask

    phase["n"] = 2
    scripted_server.requests.clear()
    report = get_stage("label")(inp, out, {**options, "progress": False})
    run2 = [json.dumps(b["messages"]) for b in scripted_server.requests]
    assert run2 == held                      # only the call whose answer never arrived
    assert not answered & set(run2)          # no answered (paid) call again
    ids = [r["id"] for r in data.read_jsonl(out)]
    assert sorted(ids) == [f"r{i}" for i in range(8)] and len(set(ids)) == 8
    assert report["kept"] == 8 and report["skipped_already_done"] == 7
    r3 = next(r for r in data.read_jsonl(out) if r["id"] == "r3")
    assert r3["meta"]["usage"]["label"]["cache_hits"] == 1 and r3["meta"]["usage"]["label"]["calls"] == 1
    assert r3["meta"]["label"]["asks"] == [2]


def test_role_config_layers_preset_stage_defaults_and_user_fields(tmp_path):
    cfg = role_config("vllm", "labeller", concurrency=8, cache_path=tmp_path / "c.sqlite")
    assert cfg.role == "labeller" and cfg.max_tokens is None and cfg.max_concurrency == 64  # the preset's
    assert cfg.cache_path == str(tmp_path / "c.sqlite")
    cfg = role_config({"preset": "local", "model": "m", "max_tokens": 4096}, "x", concurrency=8, cache_path=None)
    assert (cfg.model, cfg.max_tokens, cfg.max_concurrency, cfg.base_url) == ("m", 4096, 2, "http://127.0.0.1:8080/v1")
    cfg = role_config({"base_url": "http://h/v1", "model": "m"}, "x", concurrency=8, cache_path=None)
    assert cfg.max_concurrency == 8
    default = role_config(None, "x", concurrency=8, cache_path=None)
    assert default.model == "gpt-5" and default.api_key_env == "OPENAI_API_KEY" and default.temperature is None
    with pytest.raises(DataError):
        role_config("no-such-preset", "x", concurrency=1, cache_path=None)
    with pytest.raises(DataError):
        role_config({"model": "m", "base_url": "http://h/v1", "tempreature": 0}, "x", concurrency=1, cache_path=None)


def test_a_missing_key_variable_fails_before_any_output(data, tmp_path, monkeypatch):
    monkeypatch.delenv("CM2_NO_SUCH_KEY", raising=False)
    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(0)])
    with pytest.raises(DataError, match="CM2_NO_SUCH_KEY"):
        get_stage("label")(inp, tmp_path / "out.jsonl", {"llm": {"model": "m", "api_key_env": "CM2_NO_SUCH_KEY"}})
    assert not (tmp_path / "out.jsonl").exists()


def test_the_cli_runs_a_stage(data, tmp_path, scripted_server):
    from cm2_env.cli import main

    inp = data.write_jsonl(tmp_path / "in.jsonl", [rec(0), rec(1)])
    code = main(["data", "label", str(inp), "--out", str(tmp_path / "o.jsonl"), "--llm",
                 json.dumps(llm(scripted_server)), "--no-progress", "--concurrency", "4"])
    assert code in (0, None)
    assert len(data.read_jsonl(tmp_path / "o.jsonl")) == 2


def test_the_whole_configured_chain_runs_offline_against_the_scripted_server(data, tmp_path, scripted_server):
    """conf/data/cm2.yaml end to end (the README's offline chain): the three LLM steps answered by the scripted
    role server; the task file loads in the env's validator with derived checks on its items."""
    import yaml

    from cm2_env.data.pipeline import CONF_DIR, run_pipeline
    from cm2_env.tasks.loader import load_tasks

    rows = []
    for i in range(24):
        row = data.nemotron_row(f"u{i}", turns=1 + i % 3, calls=1 + i % 2)
        rows.append(json.loads(json.dumps(row).replace("Paris", ["Paris", "Rome", "Oslo"][i % 3])))
    raw = data.write_jsonl(tmp_path / "raw.jsonl", rows)
    cfg = yaml.safe_load((CONF_DIR / "cm2.yaml").read_text())
    cfg.pop("hydra", None)
    cfg["input"] = str(raw)
    role = {"base_url": scripted_server.url, "model": "scripted", "price": {"input_per_mtok": 1.0,
                                                                          "output_per_mtok": 4.0}}
    steps = cfg["steps"]
    steps["split"]["options"]["sft_size"] = 6
    for name in ("llm_filter", "compress_cot", "label"):
        steps[name]["options"].update(llm=role, progress=False)
    for name in ("stats_filtered", "stats_selected"):
        steps[name]["options"]["plots"] = False
    summary = run_pipeline(cfg, tmp_path / "run")
    by = {s["step"]: s for s in summary["steps"]}
    assert by["llm_filter"]["kept"] == 24 and by["compress_cot"]["kept"] == 6
    assert by["label"]["kept"] == by["select"]["kept"] > 0 and by["label"]["rejected"] == 0
    assert summary["cost_usd"] > 0
    dc = json.loads(Path(by["derive_checks"]["report"]).read_text())
    assert dc["fraction_covered"] > 0 and dc["judge_calls_saved_per_episode"]["per_item"] > 0
    tasks = load_tasks(summary["final"])
    assert len(tasks) == by["label"]["kept"]
    assert any(it.check is not None for t in tasks for turn in t.turns for it in turn.checklist)
