"""Helpers of the viewer tests: runs made for real, a headless Chromium driver, a DOM reader, PNG stats."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator


# ----------------------------------------------------------------------------------------------- runs


def make_run(out: Path, agent: str, *extra: str) -> Path:
    """A real starter-suite run through the `cm2 run` entry point."""
    from cm2_env.cli import main

    assert main(["run", "--agent", agent, "--out", str(out), "-q", "--concurrency", "4", *extra]) == 0
    return out


def records_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_records(path: Path, recs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def bfcl_records(base: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BFCL-shaped records (the fields `cm2 eval bfcl` writes: domain bfcl/CLASS, executor tool calls, the
    official verdict under evaluations.bfcl) built on real episode records: a valid+perfect one, an invalid
    imperfect one (both agree) and a valid imperfect one (a disagreement)."""
    out = []
    for n, (r, valid, score) in enumerate(zip(base, (True, False, True), (1.0, 0.12, 0.5))):
        r = json.loads(json.dumps(r))
        r.update(task_id=f"multi_turn_base_{n}", episode_key=f"multi_turn_base_{n}#{n}.0",
                 group_key=f"multi_turn_base_{n}#{n}", domain="bfcl/GorillaFileSystem", score=score)
        r["tool_calls"] = [{**c, "source": "executor", "bfcl_class": "GorillaFileSystem"} for c in r["tool_calls"]]
        ev = {"id": r["task_id"], "valid": valid, "accuracy": float(valid), "decoded": [["cd(folder='x')"]]}
        if not valid:
            ev.update(error_type="multi_turn:empty_turn_model_response",
                      error_message="Model response list is empty for turn 0")
        r["evaluations"] = {"bfcl": ev}
        out.append(r)
    return out


# -------------------------------------------------------------------------------------------- browser


def find_chromium() -> str | None:
    for name in (os.environ.get("CM2_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _base_args(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}"]


def dump_dom(chromium: str, url: str, profile: Path, timeout: float = 90) -> str:
    """The DOM after the page's load event (scripts have run), serialised."""
    r = subprocess.run([chromium, *_base_args(profile), "--dump-dom", url], capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0 and "<html" in r.stdout, r.stderr[-2000:]
    return r.stdout


def screenshot(chromium: str, url: str, png: Path, profile: Path, size: str = "1400,1800",
               timeout: float = 90) -> Path:
    r = subprocess.run([chromium, *_base_args(profile), f"--window-size={size}", f"--screenshot={png}", url],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0 and png.exists(), r.stderr[-2000:]
    return png


# ------------------------------------------------------------------------------------------------ DOM


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: "Node | None"):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list["Node | str"] = []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator["Node"]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list["Node"]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k) == v for k, v in want.items())]

    def find(self, tag: str | None = None, **attrs: str) -> "Node | None":
        got = self.find_all(tag, **attrs)
        return got[0] if got else None

    def testid(self, name: str) -> list["Node"]:
        return self.find_all(data_testid=name)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        n = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.cur.children.append(Node(tag, dict(attrs), self.cur))

    def handle_endtag(self, tag: str) -> None:
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data: str) -> None:
        self.cur.children.append(data)


def parse_dom(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root


# ------------------------------------------------------------------------------------------------ PNG


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the rows of an 8-bit RGB/RGBA PNG (what Chromium writes), unfiltered."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = ctype = 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def png_colour_stats(path: Path, step: int = 3) -> dict[str, Any]:
    """Distinct colours and the share of the most common one over a grid of sampled pixels."""
    from collections import Counter

    width, height, rows = png_pixels(path)
    bpp = len(rows[0]) // width
    seen: Counter = Counter()
    for y in range(0, height, step):
        r = rows[y]
        for x in range(0, width, step):
            seen[r[x * bpp:x * bpp + 3]] += 1
    total = sum(seen.values())
    return {"width": width, "height": height, "colours": len(seen),
            "dominant_share": seen.most_common(1)[0][1] / total}


# ------------------------------------------------------------------------------ DevTools protocol (live)


class DevTools:
    """A headless Chromium driven over the DevTools protocol (aiohttp's websocket client): for the pages that
    change after load (the live --serve page)."""

    def __init__(self, chromium: str, profile: Path):
        self.chromium, self.profile = chromium, profile
        self.proc: subprocess.Popen | None = None
        self.n = 0

    async def __aenter__(self) -> "DevTools":
        import re

        import aiohttp

        self.proc = subprocess.Popen([self.chromium, *_base_args(self.profile), "--remote-debugging-port=0",
                                      "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        while port is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited")
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            port = int(m.group(1)) if m else None
        self.http = aiohttp.ClientSession()
        async with self.http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as r:
            target = await r.json(content_type=None)
        self.ws = await self.http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()
        await self.http.close()
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.n += 1
        my = self.n
        await self.ws.send_str(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("id") == my:
                assert "error" not in msg, msg
                return msg.get("result", {})

    async def js(self, expr: str) -> Any:
        got = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        assert "exceptionDetails" not in got, got
        return got["result"].get("value")

    async def wait_for(self, expr: str, timeout: float = 30) -> Any:
        import asyncio
        import time

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            v = await self.js(expr)
            if v:
                return v
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{expr} still false after {timeout} s")
