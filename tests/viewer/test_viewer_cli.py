"""`cm2 view` through its add_parser/run pair, `python -m cm2_env.viewer`, --png and --serve."""

from __future__ import annotations

import argparse
import builtins
import json
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from cm2_env.viewer import cli
from cm2_env.viewer.model import load_inputs
from cm2_env.viewer.report import LiveReport, make_server


def view(*argv: str) -> int:
    p = argparse.ArgumentParser(prog="cm2 view")
    cli.add_parser(p)
    return cli.run(p.parse_args(list(argv)))


def test_run_writes_one_self_contained_page(starter_runs, tmp_path, capsys):
    ref, pert = starter_runs
    out = tmp_path / "report.html"
    assert view(str(ref), str(pert), "--out", str(out), "--tasks", "starter", "--label", "ref") == 0
    assert "2 run(s), 88 episode(s)" in capsys.readouterr().out
    page = out.read_text()
    assert page.startswith("<!doctype html>") and 'id="cm2-index"' in page and 'id="cm2-details"' in page
    for remote in ("http://", "https://", "//cdn", "src=\"", "<link"):
        assert remote not in page.split('<script type="application/json"')[0], remote  # nothing fetched
    index = json.loads(page.split('id="cm2-index">')[1].split("</script>")[0])
    assert [r["name"] for r in index["runs"]] == ["ref", "perturbed"]
    assert index["tasks"]["travel-001"][0][0]["question"]  # --tasks: the items' questions
    # default output: beside the run
    assert view(str(ref)) == 0 and ref.with_suffix(".html").exists()


def test_errors_are_reported(tmp_path, capsys):
    assert view(str(tmp_path / "nope.jsonl")) == 2
    assert "no such run file" in capsys.readouterr().err


def test_python_m_viewer(starter_runs, tmp_path):
    out = tmp_path / "m.html"
    r = subprocess.run([sys.executable, "-m", "cm2_env.viewer", str(starter_runs[0]), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert out.exists() and "44 episode(s)" in r.stdout


def test_png_without_matplotlib_is_a_clear_error(starter_runs, tmp_path, monkeypatch, capsys):
    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    assert view(str(starter_runs[0]), "--png", str(tmp_path / "png")) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "cm2-env[viz]" in err


def test_png_charts(starter_runs, tmp_path):
    pytest.importorskip("matplotlib")
    from viewer_helpers import png_colour_stats

    d = tmp_path / "png"
    assert view(*map(str, starter_runs), "--png", str(d)) == 0
    names = sorted(p.name for p in d.glob("*.png"))
    assert "reference_score_hist.png" in names and "perturbed_domains.png" in names
    assert "compare_reference__perturbed.png" in names
    assert png_colour_stats(d / "perturbed_score_hist.png")["colours"] > 5


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        return r.read()


def test_serve_picks_up_new_episodes(starter_runs, tmp_path):
    lines = starter_runs[1].read_text().splitlines(keepends=True)
    path = tmp_path / "live.jsonl"
    path.write_text("".join(lines[:5]))
    live = LiveReport(load_inputs([path]), min_interval=0.0)
    srv = make_server(live, port=0)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}/"
        page = _get(base).decode()
        assert 'data-live="1"' in page and 'id="cm2-details"' not in page and "connect-src 'self'" in page
        v0 = json.loads(_get(base + "version.json"))["version"]
        assert len(json.loads(_get(base + "index.json"))["runs"][0]["episodes"]) == 5
        with path.open("a") as f:  # the run goes on
            f.write("".join(lines[5:12]))
            f.write(lines[12][:40])
        time.sleep(0.01)
        assert json.loads(_get(base + "version.json"))["version"] != v0
        idx = json.loads(_get(base + "index.json"))
        assert len(idx["runs"][0]["episodes"]) == 12 and idx["runs"][0]["summary"]["episodes"] == 12
        det = json.loads(_get(base + "details.json"))
        assert len(det["runs"][0]) == 12 and det["runs"][0][11]["messages"]
        with pytest.raises(urllib.error.HTTPError):
            _get(base + "../etc/passwd")
    finally:
        srv.shutdown()
        srv.server_close()


def test_live_page_in_a_browser_reloads_new_episodes(chromium, starter_runs, tmp_path):
    import asyncio

    from viewer_helpers import DevTools

    lines = starter_runs[1].read_text().splitlines(keepends=True)
    path = tmp_path / "live.jsonl"
    path.write_text("".join(lines[:5]))
    srv = make_server(LiveReport(load_inputs([path]), min_interval=0.0), port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    count = "(document.querySelector('[data-testid=list-count]') || {}).textContent"

    async def drive() -> None:
        async with DevTools(chromium, tmp_path / "profile") as b:
            await b.call("Page.enable")
            await b.call("Page.navigate", url=f"http://127.0.0.1:{srv.server_address[1]}/#/episodes/0")
            await b.wait_for(f"{count} === '5 of 5 episodes'")
            with path.open("a") as f:  # the run writes more episodes while the page is open
                f.write("".join(lines[5:12]))
            await b.wait_for(f"{count} === '12 of 12 episodes'")
            assert "12 episodes" in await b.js("document.getElementById('live').textContent")
            await b.js("location.hash = '#/ep/0/11'")  # the new episode's transcript, fetched from the server
            await b.wait_for("document.querySelectorAll('[data-testid=verdict]').length > 0")

    try:
        asyncio.run(drive())
    finally:
        srv.shutdown()
        srv.server_close()


def test_registers_as_cm2_subcommands(starter_runs, tmp_path, monkeypatch):
    """The one line cm2_env/cli.py will get: PLUGIN_COMMANDS["view"] / ["sweep"]."""
    from cm2_env import cli as cm2_cli

    monkeypatch.setitem(cm2_cli.PLUGIN_COMMANDS, "view", "cm2_env.viewer.cli")
    monkeypatch.setitem(cm2_cli.PLUGIN_COMMANDS, "sweep", "cm2_env.sweep")
    out = tmp_path / "r.html"
    assert cm2_cli.main(["view", str(starter_runs[0]), "--out", str(out)]) == 0 and out.exists()
    args = cm2_cli.build_parser().parse_args(["sweep", "-m", "agent=reference,perturbed", "seed=1"])
    assert args.multirun and args.overrides == ["agent=reference,perturbed", "seed=1"]


def test_unreadable_run_lines_are_reported_not_silently_dropped(tmp_path, capsys):
    from cm2_env.viewer.cli import add_parser, run

    bad = tmp_path / "bad.jsonl"
    bad.write_text('garbage\n{"x": 1}\n', encoding="utf-8")
    p = __import__("argparse").ArgumentParser()
    add_parser(p)
    assert run(p.parse_args([str(bad), "--out", str(tmp_path / "bad.html")])) == 0
    err = capsys.readouterr().err
    assert "2 unreadable line(s) left out" in err and "no readable episode" in err
