"""The report's data model over real runs: summaries, episode pages, comparisons, official verdicts, usage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cm2_env.rollout import read_records
from cm2_env.runjob import RunJob, summary_table
from cm2_env.viewer import evaluations
from cm2_env.viewer.model import (Inputs, RunSource, build_details, build_index, compare_runs, episode_detail,
                                  load_inputs, mean_ci, read_sweep_summary, run_summary, t975)
from cm2_env.viewer.render import build_html, embed_json
from cm2_test_servers.roles import role_router
from viewer_helpers import bfcl_records, records_of, write_records

SCRIPTED_HANDLER = role_router


def test_summary_matches_the_run(starter_runs):
    ref, pert = starter_runs
    for path in (ref, pert):
        recs = read_records(path)
        sm = run_summary(recs)
        scores = [r.score for r in recs if r.score is not None]
        assert sm["episodes"] == len(recs) == 44 and sm["scored"] == len(scores)
        assert sm["score"]["mean"] == pytest.approx(sum(scores) / len(scores))
        # the ALL row of `cm2 run`'s table
        all_row = summary_table(recs).splitlines()[-1].split()
        assert float(all_row[2]) == pytest.approx(sm["score"]["mean"], abs=5e-4)
        assert int(all_row[3]) == sm["verdicts"]["passed"] and int(all_row[4]) == sm["verdicts"]["failed"]
        assert sum(sm["histogram"]["counts"]) == len(scores)
        assert sum(sm["end_reasons"].values()) == len(recs)
        assert sum(d["episodes"] for d in sm["domains"]) == len(recs)
        assert sum(sm["tool_calls"]["by_source"].values()) == sum(len(r.tool_calls) for r in recs)
    ref_sm, pert_sm = run_summary(read_records(ref)), run_summary(read_records(pert))
    assert ref_sm["score"]["mean"] == 1.0 and ref_sm["perfect"] == 1.0 and ref_sm["histogram"]["counts"][-1] == 44
    assert ref_sm["score"]["ci95"] == [1.0, 1.0]
    lo, hi = pert_sm["score"]["ci95"]
    assert lo < pert_sm["score"]["mean"] < hi
    assert pert_sm["verdicts"]["failed"] > 0 and pert_sm["verdicts"]["gated"] > 0
    gated = sum(1 for r in read_records(pert) for t in r.verdicts for v in t["verdicts"]
                if v["status"] == "passed" and not v["counted"])
    assert pert_sm["verdicts"]["gated"] == gated
    assert "validation" in pert_sm["tool_calls"]["by_source"] and pert_sm["errors"]


def test_confidence_interval():
    assert t975(1) == pytest.approx(12.706) and t975(30) == pytest.approx(2.042)
    assert abs(t975(60) - 2.000) < 0.003 and abs(t975(1000) - 1.962) < 0.002
    xs = [0.0, 0.5, 1.0, 0.25]
    got = mean_ci(xs)
    sd = math.sqrt(sum((x - 0.4375) ** 2 for x in xs) / 3)
    assert got["mean"] == 0.4375 and got["std"] == pytest.approx(sd)
    h = 3.182 * sd / 2
    assert got["ci95"] == [pytest.approx(max(0, 0.4375 - h)), pytest.approx(min(1, 0.4375 + h))]
    assert mean_ci([])["mean"] is None and mean_ci([0.3])["ci95"] is None


def test_episode_detail_points_each_verdict_at_its_message(starter_runs):
    _, pert = starter_runs
    checked = 0
    for r in read_records(pert):
        d = episode_detail(r)
        assert d["turn_starts"][0] == 1 and all(r.messages[i]["role"] == "user" for i in d["turn_starts"])
        for t in d["turns"]:
            for v in t["verdicts"]:
                if v["msg"] is None:
                    continue
                m = r.messages[v["msg"]]
                assert m["role"] == ("tool" if " result at step" in v["rationale"] else "assistant"), v
                if "called with matching arguments" in v["rationale"]:  # the call the rule matched is there
                    tool = v["rationale"].split(" called")[0]
                    assert tool in [c["function"]["name"] for c in m.get("tool_calls") or []]
                    checked += 1
                assert v["gated"] == (v["status"] == "passed" and v["counted"] is False)
        assert set(d["tool_calls"]) == {c["id"] for c in r.tool_calls}
    assert checked > 20


def test_comparison_of_reference_and_perturbed(starter_runs):
    ref, pert = (read_records(p) for p in starter_runs)
    c = compare_runs(ref, pert)
    sm = c["summary"]
    assert sm["matched_episodes"] == 44 and sm["shared_tasks"] == 44
    deltas = [t["delta"] for t in c["tasks"]]
    assert [abs(d) for d in deltas] == sorted((abs(d) for d in deltas), reverse=True)
    by_task = {r.task_id: r.score for r in pert}
    assert all(t["delta"] == pytest.approx(by_task[t["task"]] - 1.0) for t in c["tasks"])
    assert sm["mean_delta"] == pytest.approx(run_summary(pert)["score"]["mean"] - 1.0)
    assert sm["improved"] == 0 and sm["worsened"] + sm["unchanged"] == 44
    # a flip per item that counted in the reference and not in the perturbed run
    want = 0
    for a, b in zip(sorted(ref, key=lambda r: r.episode_key), sorted(pert, key=lambda r: r.episode_key)):
        vb = {(t["turn"], v["id"]): v for t in b.verdicts for v in t["verdicts"]}
        for t in a.verdicts:
            for v in t["verdicts"]:
                x = vb.get((t["turn"], v["id"]))
                ok_a = v["status"] == "passed" and v["counted"]
                ok_b = bool(x) and x["status"] == "passed" and x["counted"]
                want += ok_a != ok_b
    assert sm["flips"] == want == len(c["flips"]) and sm["lost"] == want and sm["gained"] == 0
    assert {f["to"] for f in c["flips"]} <= {"failed", "not reached", "passed (not counted)", "unjudged", "error"}
    assert any(f["to"] == "passed (not counted)" for f in c["flips"])
    # reversed: the same flips, gained
    assert compare_runs(pert, ref)["summary"]["gained"] == want


def test_bfcl_evaluations_summarised_by_the_registered_summariser(starter_runs, tmp_path):
    from cm2_env.benchmarks.bfcl.cli import summarize

    recs = bfcl_records(records_of(starter_runs[1]))
    path = write_records(tmp_path / "bfcl.jsonl", recs)
    rs = read_records(path)
    sm = run_summary(rs)
    ev = sm["evaluations"]["bfcl"]
    assert ev["registered"] and ev["metric"] == "official_accuracy" and ev["label"] == "BFCL accuracy"
    assert ev["summary"] == summarize(rs)  # exactly what `cm2 eval bfcl` prints
    assert ev["summary"]["official_accuracy"] == pytest.approx(2 / 3)
    assert ev["summary"]["agreement"] == pytest.approx(2 / 3)  # the valid-but-imperfect one disagrees
    assert sm["domains"][0]["official"]["bfcl"] == pytest.approx(2 / 3)
    idx = build_index(load_inputs([path]))
    rows = idx["runs"][0]["episodes"]
    assert [r["off"] for r in rows] == [{"bfcl": True}, {"bfcl": False}, {"bfcl": True}]
    assert [r["agree"] for r in rows] == [True, True, False]
    d = build_details(load_inputs([path]))["runs"][0][1]["evaluations"]["bfcl"]
    assert d["passed"] is False and d["fields"]["error_type"] == "multi_turn:empty_turn_model_response"


def test_unknown_evaluator_shown_raw(starter_runs, tmp_path):
    recs = records_of(starter_runs[0])[:3]
    for n, r in enumerate(recs):
        r["evaluations"] = {"mybench": {"passed": n != 1, "grade": "ABC"[n], "nested": {"x": 1}}}
    rs = read_records(write_records(tmp_path / "x.jsonl", recs))
    ev = run_summary(rs)["evaluations"]["mybench"]
    assert not ev["registered"] and ev["metric"] is None
    assert ev["summary"]["values"]["grade"] == {"A": 1, "B": 1, "C": 1}
    assert ev["summary"]["values"]["passed"] == {"True": 2, "False": 1}
    assert "nested" not in ev["summary"]["values"]
    det = episode_detail(rs[1])["evaluations"]["mybench"]
    assert det["passed"] is False and det["fields"]["nested"] == {"x": 1} and not det["registered"]
    # a registered summariser for it replaces the raw view
    evaluations.register_evaluation_summariser(evaluations.EvaluationSummariser(
        "mybench", lambda rs: {"rate": sum(r.evaluations["mybench"]["passed"] for r in rs) / len(rs)},
        lambda ev, rec: {"passed": ev["passed"], "agree": None, "fields": {"grade": ev["grade"]}}, metric="rate"))
    try:
        ev = run_summary(rs)["evaluations"]["mybench"]
        assert ev["registered"] and ev["summary"]["rate"] == pytest.approx(2 / 3)
    finally:
        evaluations._REGISTRY.pop("mybench")


@pytest.fixture
def llm_run(scripted_server, tmp_path):
    """A run with LLM simulator, user and judge (the scripted server): usage, cost and LLM rationales."""
    llm = {"preset": "local", "base_url": scripted_server.url, "model": "scripted", "timeout": 5, "retries": 1}
    roles = {r: {"name": "llm", "llm": llm} for r in ("judge", "tool_backend", "user")}
    out = tmp_path / "llm.jsonl"
    res = RunJob(env_id="cm2/ToolTask-v0", out=out, agent="perturbed",
                 env_kwargs={**roles, "task_selector": "domain:weather"}, agent_kwargs={"seed": 0}, quiet=True,
                 concurrency=2).run()
    assert res.ok, res.error
    return out


def test_llm_usage_and_rationales(llm_run, scripted_server):
    recs = read_records(llm_run)
    sm = run_summary(recs)
    roles = {k for r in recs for k in r.usage if k != "total"}
    assert "judge" in roles and set(sm["usage"]) == roles | {"total"}
    for role in roles:
        for key in ("calls", "prompt_tokens", "completion_tokens"):
            assert sm["usage"][role][key] == sum((r.usage.get(role) or {}).get(key, 0) for r in recs)
    assert sm["usage"]["total"]["calls"] == sum(sm["usage"][k]["calls"] for k in roles)
    assert sm["verdicts"]["by_source"].get("llm", 0) > 0
    llm_verdicts = [v for r in recs for t in episode_detail(r)["turns"] for v in t["verdicts"] if v["source"] == "llm"]
    assert llm_verdicts and all(v["rationale"] for v in llm_verdicts)
    rows = build_index(load_inputs([llm_run]))["runs"][0]["episodes"]
    assert all(r["tok"] > 0 for r in rows)


def test_run_source_reads_appended_complete_lines(starter_runs, tmp_path):
    lines = starter_runs[0].read_text().splitlines(keepends=True)
    path = tmp_path / "growing.jsonl"
    path.write_text("".join(lines[:3]))
    src = RunSource(path)
    assert src.refresh() and len(src.records) == 3 and not src.refresh()
    with path.open("a") as f:
        f.write(lines[3])
        f.write(lines[4][:50])  # a line being written
    assert src.refresh() and len(src.records) == 4
    with path.open("a") as f:
        f.write(lines[4][50:])
        f.write("garbage\n")
        f.write(lines[3])  # a rewrite of a key: the last one wins, one record per key
    assert src.refresh() and len(src.records) == 5 and src.bad_lines == 1
    path.write_text("".join(lines[:2]))  # replaced (e.g. repaired by a resume): read again
    src.refresh()
    assert len(src.records) == 2


def test_embedded_json_cannot_break_the_page(starter_runs, tmp_path):
    evil = '</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> \u2028\u2029 & </SCRIPT >'
    recs = records_of(starter_runs[1])[:2]
    recs[0]["messages"][1]["content"] = evil
    recs[0]["verdicts"][0]["verdicts"][0]["rationale"] = evil
    recs[0]["task_id"] = evil
    path = write_records(tmp_path / "evil.jsonl", recs)
    inputs = load_inputs([path])
    page = build_html(build_index(inputs), build_details(inputs))
    assert page.lower().count("</script") == 3  # the page's own three script elements, nothing else
    assert "<!--" not in page and "<img" not in page
    text = embed_json({"s": evil})
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text) == {"s": evil}
    # NaN (not JSON) in a record does not break the page either
    recs[1]["evaluations"] = {"x": {"v": float("nan")}}
    inputs = load_inputs([write_records(tmp_path / "nan.jsonl", recs)])
    page = build_html(build_index(inputs), build_details(inputs))
    assert "NaN" not in page.split('id="cm2-index">')[1].split("</script>")[0]


def test_sweep_summary_inputs(starter_runs, tmp_path):
    ref, pert = starter_runs
    csv_path = tmp_path / "sweep_summary.csv"
    csv_path.write_text(f"label,mean_score,out\nagent=reference,1.0,{ref}\nagent=perturbed,0.3,{pert}\n")
    inputs = load_inputs([csv_path])
    assert [r.name for r in inputs.runs] == ["agent=reference", "agent=perturbed"]
    idx = build_index(inputs)
    assert idx["sweep"]["rows"][1]["label"] == "agent=perturbed" and len(idx["comparisons"]) == 1
    md = tmp_path / "other" / "sweep_summary.md"
    md.parent.mkdir()
    md.write_text(f"# x\n\n| label | out |\n|---|---|\n| a | {ref} |\n| b | {pert} |\n")
    assert [r["label"] for r in read_sweep_summary(md)["rows"]] == ["a", "b"]
    assert len(load_inputs([tmp_path]).runs) == 2  # a directory holding a sweep_summary.csv
    with pytest.raises(FileNotFoundError):
        load_inputs([tmp_path / "missing.jsonl"])


def test_runs_named_uniquely(starter_runs, tmp_path):
    a, b = tmp_path / "a" / "episodes.jsonl", tmp_path / "b" / "episodes.jsonl"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text(starter_runs[0].read_text())
    assert [r.name for r in load_inputs([a, b]).runs] == ["a/episodes", "b/episodes"]
    assert [r.name for r in load_inputs([a, b], labels=["x", "y"]).runs] == ["x", "y"]
    assert isinstance(load_inputs([a]), Inputs) and Path(load_inputs([a]).runs[0].path) == a
