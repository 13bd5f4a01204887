"""Data pipeline benchmark: rule-filter throughput (records/s on one core) and peak RSS, at two input sizes.

    python bench/data_pipeline.py                     # 100k and 20k synthetic Nemotron-shaped records
    python bench/data_pipeline.py --records 20000 --small 5000 --no-labeller
    python bench/data_pipeline.py --write-sample raw.jsonl --records 200   # a small pipeline input

Synthetic rows look like NVIDIA Nemotron-Post-Training-Dataset-v1 tool-calling rows (``uuid``, ``messages``
with think blocks and tool calls, ``metadata`` JSON text holding 2-6 tools; about 10% of rows break one rule).
They are converted once (``cm2 data convert``, timed too), then ``cm2 data filter`` runs in a fresh process
pinned to one core per size, and its peak RSS is that process's ``ru_maxrss``: memory is flat when the two
sizes show about the same peak (targets: >= 2000 records per CPU-second of the pinned core — wall-clock
records/s is printed beside it and equals it on an idle machine — and peak RSS at N within 10% + 10 MiB of
N/5's).
Then, when ``bench/data_labeller.py`` exists, its ``main()`` runs (labeller throughput against a
fixed-latency loopback server).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORDS = ("weather forecast city flight booking hotel price stock quote currency convert recipe calories "
         "movie schedule train ticket order status invoice account balance translate distance").split()


def _tool(rng: random.Random, k: int) -> dict:
    name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{k}"
    props = {
        "query": {"type": "string", "description": "What to look up."},
        "limit": {"type": "integer", "description": "How many results.", "minimum": 1},
        "units": {"type": "string", "enum": ["metric", "imperial"], "description": "Unit system."},
        "include_details": {"type": "boolean", "description": "Add details."},
    }
    keep = rng.sample(sorted(props), rng.randint(1, 4))
    return {"type": "function", "function": {
        "name": name, "description": " ".join(rng.choice(WORDS) for _ in range(18)),
        "parameters": {"type": "object", "properties": {p: props[p] for p in keep},
                       "required": [keep[0]]}}}


def _args(rng: random.Random, tool: dict) -> dict:
    out = {}
    for p, s in tool["function"]["parameters"]["properties"].items():
        if p != tool["function"]["parameters"]["required"][0] and rng.random() < 0.5:
            continue
        out[p] = {"string": " ".join(rng.choice(WORDS) for _ in range(3)), "integer": rng.randint(1, 20),
                  "boolean": rng.random() < 0.5}[s["type"]]
        if "enum" in s:
            out[p] = rng.choice(s["enum"])
    return out


def think(rng: random.Random, n: int = 60) -> str:
    return "<think>\n" + " ".join(rng.choice(WORDS) for _ in range(n)) + "\n</think>\n\n"


def nemotron_row(i: int, rng: random.Random) -> dict:
    tools = [_tool(rng, k) for k in range(rng.randint(2, 6))]
    messages = []
    for _turn in range(rng.randint(1, 3)):
        messages.append({"role": "user", "content": " ".join(rng.choice(WORDS) for _ in range(25)), "tool_calls": []})
        for _step in range(rng.randint(0, 2)):
            calls = []
            for c in range(rng.choice((1, 1, 1, 2))):
                t = rng.choice(tools)
                calls.append({"id": f"call_{i}_{len(messages)}_{c}", "type": "function",
                              "function": {"name": t["function"]["name"], "arguments": json.dumps(_args(rng, t))}})
            messages.append({"role": "assistant", "content": think(rng), "tool_calls": calls})
            for _ in calls:
                messages.append({"role": "tool", "content": json.dumps(
                    {"result": [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(4)], "ok": True}),
                    "tool_calls": []})
        messages.append({"role": "assistant", "content": think(rng) + " ".join(rng.choice(WORDS) for _ in range(40)),
                         "tool_calls": []})
    fault = rng.random()
    if fault < 0.02:
        messages[-1]["content"] = messages[-1]["content"].replace("<think>", "")
    elif fault < 0.04:
        tools.append(dict(tools[0]))
    elif fault < 0.06:
        for m in messages:
            if m["role"] == "tool":
                m["content"] = "not json"
                break
    elif fault < 0.08:
        for m in messages:
            if m.get("tool_calls"):
                m["tool_calls"][0]["function"]["arguments"] = json.dumps({"bogus": 1})
                break
    elif fault < 0.10:
        messages.append({"role": "user", "content": "thanks", "tool_calls": []})
    return {"uuid": f"bench-{i:08d}", "messages": messages, "license": "cc-by-4.0", "generator": "synthetic",
            "category": "tool_calling", "reasoning": "on", "version": "v1",
            "metadata": json.dumps({"tools": tools})}


def write_rows(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps(nemotron_row(i, rng)) + "\n")


_CHILD = r"""
import json, os, sys, time
try:
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
except (AttributeError, OSError):
    pass
from cm2_env.data.stage import get_stage
stage, inp, out = sys.argv[1:4]
t, c = time.perf_counter(), time.process_time()
rep = get_stage(stage)(inp, out, {}, resume=False)
print(json.dumps({"seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c,
                  "kept": rep["kept"], "rejected": rep["rejected"],
                  "rules": rep.get("rules")}))
"""


def run_child(stage: str, inp: Path, out: Path) -> dict:
    """Run one stage in a fresh process; its figures plus its own peak RSS (MiB)."""
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, stage, str(inp), str(out)], stdout=subprocess.PIPE,
                            cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{stage} child failed with exit code {proc.returncode}")
    got = json.loads(stdout.decode().strip().splitlines()[-1])
    got["peak_rss_mib"] = usage.ru_maxrss / 1024.0  # Linux: KiB
    return got


def bench_filter(n_big: int, n_small: int, work: Path) -> list[dict]:
    rows = []
    for n in (n_small, n_big):
        raw = work / f"nemotron_{n}.jsonl"
        t = time.perf_counter()
        write_rows(raw, n)
        gen_s = time.perf_counter() - t
        conv = run_child("convert", raw, work / f"converted_{n}.jsonl")
        filt = run_child("filter", work / f"converted_{n}.jsonl", work / f"filtered_{n}.jsonl")
        rows.append({"records": n, "input_mib": raw.stat().st_size / 2**20, "generate_s": gen_s,
                     "convert_rps": n / conv["seconds"], "convert_rss": conv["peak_rss_mib"],
                     "filter_rps": n / filt["seconds"], "filter_cpu_rps": n / max(filt["cpu_seconds"], 1e-9),
                     "filter_rss": filt["peak_rss_mib"],
                     "kept": filt["kept"], "rejected": filt["rejected"], "rules": filt["rules"]})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000, help="the large input (default 100000)")
    ap.add_argument("--small", type=int, default=20_000, help="the small input, for the RSS comparison")
    ap.add_argument("--work", default=None, help="directory for the files (default: a temporary one)")
    ap.add_argument("--no-labeller", action="store_true", help="skip bench/data_labeller.py")
    ap.add_argument("--labeller-args", nargs=argparse.REMAINDER, default=[],
                    help="the rest of the command line goes to bench/data_labeller.py (e.g. --records 512)")
    ap.add_argument("--write-sample", metavar="PATH", default=None,
                    help="only write --records synthetic Nemotron-shaped rows to PATH (a small pipeline input)")
    args = ap.parse_args(argv)
    if args.write_sample:
        Path(args.write_sample).parent.mkdir(parents=True, exist_ok=True)
        write_rows(Path(args.write_sample), args.records)
        print(f"wrote {args.records} synthetic Nemotron-shaped rows to {args.write_sample}")
        return 0
    with tempfile.TemporaryDirectory(prefix="cm2-data-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        rows = bench_filter(args.records, args.small, work)
    print("rule filter on synthetic Nemotron-shaped records (one core, fresh process per run)")
    print(f"{'records':>9} {'input MiB':>9} {'convert rec/s':>13} {'convert RSS':>11} "
          f"{'filter rec/s':>12} {'rec/CPU-s':>9} {'filter RSS MiB':>14} {'kept':>7} {'rejected':>8}")
    for r in rows:
        print(f"{r['records']:>9} {r['input_mib']:>9.1f} {r['convert_rps']:>13.0f} {r['convert_rss']:>11.1f} "
              f"{r['filter_rps']:>12.0f} {r['filter_cpu_rps']:>9.0f} {r['filter_rss']:>14.1f} {r['kept']:>7} "
              f"{r['rejected']:>8}")
    small, big = rows[0], rows[-1]
    print(f"per-rule rejections at {big['records']}: " + ", ".join(f"{k} {v}" for k, v in big["rules"].items()
                                                                   if v is not None))
    # records per CPU-second of the one core the filter is pinned to: what the core does, whatever else runs
    # on the machine (wall-clock rec/s equals it on an idle core)
    ok_rate = big["filter_cpu_rps"] >= 2000
    ok_rss = big["filter_rss"] <= small["filter_rss"] * 1.1 + 10
    print(f"filter throughput {big['filter_cpu_rps']:.0f} rec/s of one core's CPU time ({big['filter_rps']:.0f} "
          f"rec/s wall clock) (target >= 2000): {'OK' if ok_rate else 'BELOW'}")
    print(f"filter peak RSS {small['filter_rss']:.1f} MiB at {small['records']} vs {big['filter_rss']:.1f} MiB at "
          f"{big['records']} (flat: {'OK' if ok_rss else 'NO'})")
    rc = 0 if ok_rate and ok_rss else 1
    lab = ROOT / "bench" / "data_labeller.py"
    if lab.exists() and not args.no_labeller:
        spec = importlib.util.spec_from_file_location("bench_data_labeller", lab)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        print(f"\n== {lab.relative_to(ROOT)}")
        takes_argv = bool(inspect.signature(mod.main).parameters)
        got = mod.main(list(args.labeller_args)) if takes_argv else mod.main()
        if isinstance(got, dict):  # its result: the fraction of ideal throughput, target >= 0.9
            frac = got.get("fraction_of_ideal")
            rc = rc or (0 if frac is None or frac >= 0.9 else 1)
        elif isinstance(got, int):
            rc = rc or got
    return rc


if __name__ == "__main__":
    sys.exit(main())
