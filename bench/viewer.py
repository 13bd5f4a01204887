"""How fast a big `cm2 view` report opens in headless Chromium (not a timed test: prints the numbers).

Makes a run of N episodes (default 10,000: the perturbed agent cycling through the starter suite, offline;
cached in the temp dir), writes its report, then drives Chromium over the DevTools protocol (a small client
on aiohttp's websocket): navigation → DOMContentLoaded and load, the first render, opening the last episode
(the lazily parsed transcripts) and a transcript search. Target: DOM ready < 3 s for 10k episodes.

    python bench/viewer.py [--episodes 10000] [--run FILE.jsonl] [--repeats 3] [--out report.html]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_run(n: int, path: Path) -> Path:
    from cm2_env.runjob import RunJob

    t0 = time.perf_counter()
    res = RunJob(env_id="cm2/ToolTask-v0", out=path, agent="perturbed", agent_kwargs={"seed": 0}, episodes=n,
                 concurrency=32, quiet=True).run()
    if not res.ok:
        raise SystemExit(f"could not make the run: {res.error}")
    print(f"made {len(res.records)} episodes in {time.perf_counter() - t0:.1f} s -> {path}")
    return path


class CDP:
    """The few DevTools-protocol calls the bench needs, over one page's websocket."""

    def __init__(self, ws: Any):
        self.ws, self.n, self.events = ws, 0, []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.n += 1
        my = self.n
        await self.ws.send_str(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append((time.perf_counter(), msg))

    async def wait_event(self, name: str, timeout: float = 60) -> float:
        for t, msg in self.events:
            if msg.get("method") == name:
                self.events.remove((t, msg))
                return t
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            msg = json.loads((await self.ws.receive(timeout=deadline - time.perf_counter())).data)
            if msg.get("method") == name:
                return time.perf_counter()
            self.events.append((time.perf_counter(), msg))
        raise TimeoutError(name)

    async def js(self, expr: str, await_promise: bool = False) -> Any:
        got = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in got:
            raise RuntimeError(got["exceptionDetails"])
        return got["result"].get("value")

    async def wait_for(self, expr: str, timeout: float = 60) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if await self.js(expr):
                return time.perf_counter() - t0
            await asyncio.sleep(0.01)
        raise TimeoutError(expr)


async def measure(chromium: str, url: str, repeats: int, n: int) -> list[dict[str, float]]:
    import aiohttp

    profile = Path(tempfile.mkdtemp(prefix="cm2-bench-chromium-"))
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        t0 = time.time()
        while port is None and time.time() - t0 < 30:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise SystemExit("chromium did not start its DevTools endpoint")
        out = []
        async with aiohttp.ClientSession() as http:
            for _ in range(repeats):
                async with http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as r:
                    target = await r.json(content_type=None)
                async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    cdp = CDP(ws)
                    await cdp.call("Page.enable")
                    t_nav = time.perf_counter()
                    await cdp.call("Page.navigate", url=url)
                    t_dcl = await cdp.wait_event("Page.domContentEventFired")
                    t_load = await cdp.wait_event("Page.loadEventFired")
                    nav = await cdp.js("JSON.stringify(performance.getEntriesByType('navigation')[0])")
                    nav = json.loads(nav)
                    body = await cdp.js("JSON.stringify({r: document.body.dataset.renderMs, d: document.body.dataset.domReadyMs, "
                                        "rows: document.querySelectorAll('[data-testid=episode-row]').length})")
                    body = json.loads(body)
                    await cdp.js(f"location.hash = '#/ep/0/{n - 1}'")
                    t_ep = await cdp.wait_for("!!document.querySelector('.transcript')")
                    await cdp.js("location.hash = '#/episodes/0?q=globex'")
                    t_q = await cdp.wait_for("(document.querySelector('[data-testid=list-count]') || {}).textContent"
                                             " && document.querySelector('[data-testid=list-count]').textContent.indexOf(' of ') > 0"
                                             " && document.querySelector('[data-testid=list-count]').getAttribute('data-shown') !== null"
                                             f" && document.querySelector('[data-testid=list-count]').getAttribute('data-shown') !== '{n}'")
                    out.append({"dom_ready_s": nav["domContentLoadedEventEnd"] / 1000,
                                "load_s": nav["loadEventEnd"] / 1000,
                                "cdp_dom_ready_s": t_dcl - t_nav, "cdp_load_s": t_load - t_nav,
                                "script_ms": float(body["r"]), "open_episode_s": t_ep, "search_s": t_q})
                async with http.get(f"http://127.0.0.1:{port}/json/close/{target['id']}") as r:
                    await r.read()
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=10_000)
    ap.add_argument("--run", default=None, help="an existing run file instead of a generated one")
    ap.add_argument("--out", default=None, help="where to write the report (default: beside the run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser")
                    or shutil.which("google-chrome"))
    args = ap.parse_args()
    if not args.chromium:
        print("needs chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    run = Path(args.run) if args.run else Path(tempfile.gettempdir()) / f"cm2_viewer_bench_{args.episodes}.jsonl"
    if not args.run and not run.exists():
        make_run(args.episodes, run)
    from cm2_env.viewer.model import load_inputs
    from cm2_env.viewer.report import write_report

    t0 = time.perf_counter()
    inputs = load_inputs([run])
    n = len(inputs.runs[0].records)
    out = write_report(inputs, args.out or run.with_suffix(".html"))
    build_s = time.perf_counter() - t0
    size = out.stat().st_size
    print(f"report: {out} — {n} episodes, {size / 1e6:.1f} MB, {size / max(n, 1):,.0f} bytes/episode "
          f"(run file {run.stat().st_size / max(n, 1):,.0f} bytes/episode); written in {build_s:.1f} s")
    res = asyncio.run(measure(args.chromium, out.resolve().as_uri(), args.repeats, n))
    for k in res[0]:
        xs = [r[k] for r in res]
        unit = "ms" if k.endswith("_ms") else "s"
        print(f"  {k:<18} median {statistics.median(xs):8.3f} {unit}   (runs: {', '.join(f'{x:.3f}' for x in xs)})")
    dom = statistics.median(r["dom_ready_s"] for r in res)
    print(f"DOM ready {dom:.2f} s for {n} episodes ({'within' if dom < 3 else 'OVER'} the 3 s target); "
          f"{size / max(n, 1):,.0f} bytes/episode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
