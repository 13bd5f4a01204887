"""Render run files as one self-contained HTML report (summary, episodes, comparison), served live or as PNG charts.

    cm2 view runs/reference.jsonl                       # -> runs/reference.html
    cm2 view runs/reference.jsonl runs/perturbed.jsonl --out report.html   # + comparison
    cm2 view multirun/eval/DIR/sweep_summary.csv        # a sweep's runs, compared
    cm2 view runs/live.jsonl --serve --port 8765        # http://127.0.0.1:8765, reloads new episodes
    cm2 view runs/reference.jsonl --png charts/         # needs the `viz` extra (matplotlib)

(``python -m cm2_env.viewer`` is the same command.)
"""

from __future__ import annotations

import argparse
import sys


def add_parser(p: argparse.ArgumentParser) -> None:
    p.description = __doc__.strip().splitlines()[0]
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="run files (JSONL of cm2 run / cm2 eval), a sweep_summary.csv/.md, or a sweep directory")
    p.add_argument("--out", default=None, help="the HTML file to write (default: the first RUN with .html)")
    p.add_argument("--label", action="append", default=[], metavar="NAME",
                   help="a name for each run, in order (default: the file name)")
    p.add_argument("--tasks", default=None, metavar="SUITE|FILE",
                   help="the tasks the runs used: shows each checklist item's question and weight")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--serve", action="store_true",
                   help="serve the page on 127.0.0.1 instead of writing it; it picks up new episodes of runs "
                        "still being written")
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=8765, help="port of --serve (0: any free port)")
    p.add_argument("--png", default=None, metavar="DIR",
                   help="also write the summary charts as PNG into DIR (needs matplotlib: the `viz` extra)")


def run(args: argparse.Namespace) -> int:
    from .model import load_inputs
    from .report import LiveReport, MissingMatplotlib, default_out, make_server, write_pngs, write_report

    try:
        inputs = load_inputs(args.runs, args.label or None, args.tasks)
    except (FileNotFoundError, ValueError) as e:
        print(f"cm2 view: {e}", file=sys.stderr)
        return 2
    for src in inputs.runs:  # say what could not be shown instead of rendering it silently as nothing
        if src.bad_lines:
            print(f"cm2 view: warning: {src.path}: {src.bad_lines} unreadable line(s) left out", file=sys.stderr)
        if not src.records and not args.serve:
            print(f"cm2 view: warning: {src.path}: no readable episode", file=sys.stderr)
    status = 0
    if args.png:
        try:
            for p in write_pngs(inputs, args.png, args.title):
                print(f"wrote {p}")
        except MissingMatplotlib as e:
            print(f"cm2 view: {e}", file=sys.stderr)
            status = 2
    if args.serve:
        live = LiveReport(inputs, args.title)
        try:
            srv = make_server(live, args.host, args.port)
        except OSError as e:
            print(f"cm2 view: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
            return 2
        host, port = srv.server_address[:2]
        print(f"serving {len(inputs.runs)} run(s) on http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            srv.server_close()
        return status
    if args.png and not args.out:
        return status  # --png alone: the charts only
    out = write_report(inputs, args.out or default_out(args.runs), args.title)
    n = sum(len(r.records) for r in inputs.runs)
    print(f"wrote {out} ({len(inputs.runs)} run(s), {n} episode(s), {out.stat().st_size / 1e6:.2f} MB)")
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cm2 view")
    add_parser(p)
    return run(p.parse_args(argv))


