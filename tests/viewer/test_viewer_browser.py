"""The report in a real browser (headless Chromium): DOM after the scripts ran, hash routes, screenshots."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cm2_env.viewer.model import build_index, compare_runs, load_inputs
from cm2_env.viewer.report import build_report
from viewer_helpers import (bfcl_records, dump_dom, parse_dom, png_colour_stats, records_of, screenshot,
                            write_records)


@pytest.fixture(scope="module")
def report(starter_runs, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    out = build_report(starter_runs, d / "report.html", tasks="starter")
    return out, load_inputs(starter_runs)


def open_page(chromium, page: Path, route: str, tmp_path: Path):
    html = dump_dom(chromium, page.as_uri() + route, tmp_path / "profile")
    dom = parse_dom(html)
    body = dom.find("body")
    assert body is not None and body.attrs.get("data-ready") == "1", "the page script did not finish"
    return dom


def keep(png: Path) -> None:
    """CM2_VIEWER_SHOTS=DIR keeps the screenshots for a person to look at."""
    if os.environ.get("CM2_VIEWER_SHOTS"):
        Path(os.environ["CM2_VIEWER_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(os.environ["CM2_VIEWER_SHOTS"]) / png.name)


def test_summary(chromium, report, tmp_path):
    page, inputs = report
    dom = open_page(chromium, page, "#/summary/1", tmp_path)
    assert dom.find(data_testid="episode-count").text() == "44"
    runs = dom.find(data_testid="runs-table").find("tbody").find_all("tr")
    assert [r.find("a").text() for r in runs] == ["reference", "perturbed"]
    mean = build_index(inputs)["runs"][1]["summary"]["score"]["mean"]
    assert dom.find(data_testid="mean-score").text() == f"{mean:.3f}"
    hist = dom.find("svg", data_testid="histogram")
    assert len(hist.find_all("rect", **{"class": "bar"})) == 10
    assert len(dom.find(data_testid="domains").find("tbody").find_all("tr")) == 10
    assert "early_stop" in dom.find(data_testid="end-reasons").text()
    assert "no LLM calls recorded" in dom.find(data_testid="usage").text()


def test_episode_list_sort_filter_search(chromium, report, tmp_path):
    page, inputs = report
    dom = open_page(chromium, page, "#/episodes/1", tmp_path)
    assert dom.find(data_testid="list-count").text() == "44 of 44 episodes"
    assert len(dom.testid("episode-row")) == 44
    dom = open_page(chromium, page, "#/episodes/1?domain=banking&sort=score&desc=1", tmp_path)
    rows = [r.attrs["data-key"] for r in dom.testid("episode-row")]
    recs = {r.episode_key: r for r in inputs.runs[1].records}
    assert len(rows) == 5 and all(k.startswith("banking-") for k in rows)
    scores = [recs[k].score for k in rows]
    assert scores == sorted(scores, reverse=True)
    # text search over the transcripts (the user says "GLOBEX DIGITAL" only in banking-002)
    dom = open_page(chromium, page, "#/episodes/1?q=globex%20digital", tmp_path)
    assert [r.attrs["data-key"] for r in dom.testid("episode-row")] == ["banking-002#1.0"]
    dom = open_page(chromium, page, "#/episodes/1?min=0.99", tmp_path)
    assert {recs[r.attrs["data-key"]].score for r in dom.testid("episode-row")} == {1.0}


def _episode_with_failed_and_gated(inputs):
    for i, r in enumerate(inputs.runs[1].records):
        vs = [v for t in r.verdicts for v in t["verdicts"]]
        if any(v["status"] == "failed" for v in vs) and any(not v["counted"] for v in vs) and r.errors:
            return i, r
    raise AssertionError("no perturbed episode with a failed and a gated item")


def test_episode_page(chromium, report, tmp_path):
    page, inputs = report
    i, rec = _episode_with_failed_and_gated(inputs)
    from cm2_env.viewer.model import episode_detail

    d = episode_detail(rec)
    target = next(v["msg"] for t in d["turns"] for v in t["verdicts"] if v["msg"] is not None)
    dom = open_page(chromium, page, f"#/ep/1/{i}/m/{target}", tmp_path)
    assert dom.find(data_testid="episode-title").text() == rec.episode_key
    # the step link's message is highlighted (the jump)
    hl = dom.find(id=f"m-1-{i}-{target}")
    assert "hl" in hl.attrs["class"].split() and hl.attrs.get("data-highlighted") == "1"
    links = {a.attrs["href"] for a in dom.testid("step-link")}
    assert f"#/ep/1/{i}/m/{target}" in links
    # a failed item with its rationale, a gated item with its note
    failed = next(v for t in rec.verdicts for v in t["verdicts"] if v["status"] == "failed")
    rows = [r for r in dom.testid("verdict") if r.attrs["data-status"] == "failed"]
    assert failed["rationale"] in [r.find(data_testid="rationale").text() for r in rows]
    gated = [r for r in dom.testid("verdict") if r.attrs["data-counted"] == "false"]
    assert gated and all(r.find(data_testid="gated").text() == "not counted: a dependency did not pass" for r in gated)
    assert len(dom.testid("checklist")) == len(rec.verdicts)
    # tool calls with their source, errors highlighted; the system prompt collapsed
    sources = {b.text() for b in dom.testid("tool-source")}
    assert {c["source"] for c in rec.tool_calls} == sources
    assert len(dom.testid("tool-error")) == sum(1 for c in rec.tool_calls if c["error"])
    sysd = dom.find(data_testid="system-prompt")
    assert sysd.tag == "details" and "open" not in sysd.attrs
    assert len(dom.find_all(**{"class": "msg role-user"})) == len(rec.turn_scores)
    png = screenshot(chromium, page.as_uri() + f"#/ep/1/{i}", tmp_path / "episode.png", tmp_path / "profile")
    stats = png_colour_stats(png)
    assert stats["colours"] > 50 and stats["dominant_share"] < 0.9, stats
    keep(png)


def test_comparison(chromium, report, tmp_path):
    page, inputs = report
    c = compare_runs(inputs.runs[0].records, inputs.runs[1].records)
    dom = open_page(chromium, page, "#/compare/0/1", tmp_path)
    rows = dom.testid("delta-row")
    assert len(rows) == 44
    largest = c["tasks"][0]
    assert rows[0].attrs["data-task"] == largest["task"]
    assert float(rows[0].attrs["data-delta"]) == pytest.approx(largest["delta"])
    assert abs(largest["delta"]) == max(abs(t["delta"]) for t in c["tasks"])
    assert f"{largest['delta']:.3f}" in rows[0].text()
    assert dom.find(data_testid="flip-count").text() == str(c["summary"]["flips"])
    assert len(dom.testid("flip-row")) == min(200, c["summary"]["flips"])
    task = largest["task"]
    dom = open_page(chromium, page, f"#/compare/0/1/task/{task}", tmp_path)
    cols = [n for n in dom.find(data_testid="side-by-side").children if not isinstance(n, str)]
    assert len(cols) == 2 and all(col.find(**{"class": "transcript"}) for col in cols)
    png = screenshot(chromium, page.as_uri() + "#/compare/0/1", tmp_path / "compare.png", tmp_path / "profile")
    keep(png)


def test_summary_screenshot_is_not_blank(chromium, report, tmp_path):
    page, _ = report
    png = screenshot(chromium, page.as_uri() + "#/summary/1", tmp_path / "summary.png", tmp_path / "profile")
    stats = png_colour_stats(png)
    assert stats["width"] == 1400 and stats["colours"] > 50 and stats["dominant_share"] < 0.9, stats
    keep(png)


def test_hostile_text_stays_text(chromium, starter_runs, tmp_path):
    evil = ('</script><script>document.title="PWNED"</script><!-- <img src=x onerror="document.title=1">'
            '<b>bold</b> \u2028 &amp;')
    recs = records_of(starter_runs[1])[:3]
    recs[0]["messages"][1]["content"] = evil
    recs[0]["messages"][0]["content"] = evil
    recs[0]["verdicts"][0]["verdicts"][0]["rationale"] = evil
    recs[0]["domain"] = "<i>dom</i>"
    recs[0]["evaluations"] = {"x</script>": {"k": evil}}
    page = build_report([write_records(tmp_path / "evil.jsonl", recs)], tmp_path / "evil.html")
    for route in ("", "#/episodes/0", "#/ep/0/0"):
        dom = open_page(chromium, page, route, tmp_path)
        assert dom.find("title").text() == "evil · cm2 view"
        app = dom.find(id="app")
        assert not [n for n in app.iter() if n.tag in ("img", "i", "script")]  # no markup from the records
    assert evil in dom.find(**{"class": "msg role-user"}).text()
    assert evil in [r.find(data_testid="rationale").text() for r in dom.testid("verdict")]
    assert dom.find(data_testid="official-verdict").attrs["data-evaluator"] == "x</script>"


def test_bfcl_run(chromium, starter_runs, tmp_path):
    path = write_records(tmp_path / "bfcl.jsonl", bfcl_records(records_of(starter_runs[1])))
    page = build_report([path], tmp_path / "bfcl.html")
    dom = open_page(chromium, page, "", tmp_path)
    assert dom.find(data_testid="official-bfcl").text() == "66.7%"
    assert "agreement with checklist 66.7%" in dom.find(data_testid="official-bfcl").parent.text()
    dom = open_page(chromium, page, "#/ep/0/2", tmp_path)
    box = dom.find(data_testid="official-verdict")
    assert box.attrs["data-evaluator"] == "bfcl" and "valid" in box.text() and "disagrees" in box.text()
    assert {b.text() for b in dom.testid("tool-source")} == {"executor"}
