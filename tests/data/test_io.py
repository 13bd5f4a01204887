"""io: JSONL rows with errors, torn tails cut on resume, report semantics, extra outputs."""

from __future__ import annotations

import json

from cm2_env.data.io import JsonlWriter, StageOutput, iter_jsonl, iter_records, read_report, rejected_path_of


def test_iter_jsonl_rows(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b'{"id": "a"}\n\n{bad\n[1]\n' + b"9" * 5000 + b"\n" + b'{"id": "\xff"}\n{"id": "b"}')
    rows = list(iter_jsonl(p))
    assert [r.line for r in rows] == [1, 3, 4, 5, 6, 7]
    assert rows[0].value == {"id": "a"} and rows[0].raw == b'{"id": "a"}'
    assert "not JSON" in rows[1].error and "not an object" in rows[2].error
    assert rows[3].error and rows[4].error and rows[5].value == {"id": "b"}


def test_resume_cuts_torn_tail_and_counts_whole_outputs(tmp_path):
    out = tmp_path / "o.jsonl"
    with StageOutput(out, "t") as so:
        so.keep({"id": "a"})
        so.reject({"id": "b"}, ["rule_x: why", "rule_y: why"])
        so.finish()
    with out.open("ab") as fh:
        fh.write(b'{"id": "c", "torn')  # a kill mid-write
    assert read_report(out) is not None
    so = StageOutput(out, "t")
    assert read_report(out)["complete"] is False  # marked unfinished while the stage runs
    assert so.done == {"a", "b"} and (so.kept, so.rejected) == (1, 1)
    so.keep({"id": "c"})
    rep = so.finish(extra=1)
    assert (rep["kept"], rep["rejected"], rep["reasons"], rep["extra"]) == (2, 1, {"rule_x": 1, "rule_y": 1}, 1)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a", "c"]
    assert rep["complete"] and rep["outputs"] == {"kept": str(out), "rejected": str(rejected_path_of(out))}
    fresh = StageOutput(out, "t", resume=False)
    assert fresh.done == set() and fresh.kept == 0
    fresh.close()
    assert out.read_text() == ""


def test_torn_tail_over_a_long_file(tmp_path):
    p = tmp_path / "w.jsonl"
    p.write_text("".join(json.dumps({"id": str(i), "pad": "x" * 100}) + "\n" for i in range(2000)) + '{"id": "t')
    w = JsonlWriter(p)
    assert w.count == 2000 and len(w.ids) == 2000
    w.close()
    assert p.read_text().endswith("}\n")


def test_extra_output_and_iter_records(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a"}\n{"id": "b"}\n{bad\n{"x": 1}\n')
    out = tmp_path / "o.jsonl"
    with StageOutput(out, "t") as so:
        side = so.extra_output("side", tmp_path / "side.jsonl")
        for row, rec in iter_records(inp, so):
            (side.write(rec) if rec["id"] == "b" else so.keep(raw=row.raw))
        rep = so.finish()
    assert rep["outputs"]["side"] == str(tmp_path / "side.jsonl") and rep["rejected"] == 2
    assert set(rep["reasons"]) == {"unreadable", "malformed"}
    with StageOutput(out, "t") as so:
        so.extra_output("side", tmp_path / "side.jsonl")
        assert list(iter_records(inp, so)) == [] and so.skipped == 4


def test_resume_with_other_options(tmp_path, capsys):
    import pytest

    from cm2_env.data.io import DataError

    out = tmp_path / "o.jsonl"
    with StageOutput(out, "t", options={"a": 1}) as so:
        assert read_report(out) == {"stage": "t", "complete": False, "input": None, "output": str(out),
                                    "options": {"a": 1}}
        so.keep({"id": "x"})
        so.finish()
    with StageOutput(out, "t", options={"a": 2}) as so:  # warn (the default): resumes
        assert so.done == {"x"}
        rep = so.finish()
    assert rep["resumed_with_other_options"] == ["a"] and "differing: a" in capsys.readouterr().err
    with pytest.raises(DataError, match="other t options"):
        StageOutput(out, "t", options={"a": 3}, options_changed="error")
    with StageOutput(out, "t", options={"a": 4}, options_changed="fresh") as so:
        assert so.done == set() and so.kept == 0
        so.finish()


def test_rule_stage_reruns_afresh_when_its_options_change(tmp_path):
    from cm2_env.data.filter import STAGE

    inp = tmp_path / "in.jsonl"
    rec = {"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "no think"}],
           "tools": []}
    inp.write_text(json.dumps(rec) + "\n")
    assert STAGE(inp, tmp_path / "f.jsonl")["rejected"] == 1
    rep = STAGE(inp, tmp_path / "f.jsonl", {"think_tags": False})
    assert (rep["kept"], rep["rejected"], rep["skipped_already_done"]) == (1, 0, 0)
