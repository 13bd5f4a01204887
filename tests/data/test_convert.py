"""convert: every input shape, round trips through the writers, unreadable rows reported, stable ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cm2_env.data.convert import (STAGE, ConvertError, Options, WRITERS, convert_row, detect_format, to_sharegpt)
from cm2_env.data.filter import Options as FilterOptions, check_record

ROOT = Path(__file__).resolve().parents[2]


def comparable(messages):
    """Messages without call ids (formats that have none make them up)."""
    out = []
    for m in messages:
        m = {k: v for k, v in m.items() if k != "tool_call_id"}
        if m.get("tool_calls"):
            m["tool_calls"] = [{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"])}
                               for c in m["tool_calls"]]
        out.append(m)
    return out


def test_nemotron_row(data):
    row = data.nemotron_row("abc", turns=2, calls=2)
    assert detect_format(row) == "nemotron"
    rec = convert_row(row, where={"file": "x.jsonl", "line": 3})
    assert rec["id"] == "abc" and rec["tools"] == json.loads(row["metadata"])["tools"]
    assert rec["source"] == {"format": "nemotron", "file": "x.jsonl", "line": 3, "original_id": "abc"}
    assert rec["meta"]["extra"]["category"] == "tool_calling"
    assert "tool_calls" not in rec["messages"][0]  # empty lists dropped
    tools = [m for m in rec["messages"] if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tools[:2]] == [c["id"] for c in rec["messages"][1]["tool_calls"]]
    assert check_record(rec, FilterOptions()) == []


def test_nemotron_bad_metadata_reported_and_run_goes_on(tmp_path, data):
    bad = data.nemotron_row("bad")
    bad["metadata"] = "{not json"
    notools = data.nemotron_row("notools")
    notools["metadata"] = json.dumps({"source": "x"})
    inp = data.write_jsonl(tmp_path / "raw.jsonl", [data.nemotron_row("a"), bad, "{torn", notools, "[]",
                                                    data.nemotron_row("b")])
    rep = STAGE(inp, tmp_path / "out.jsonl")
    assert (rep["kept"], rep["rejected"]) == (2, 4)
    rej = data.read_jsonl(tmp_path / "out.rejected.jsonl")
    by_line = {r["source"]["line"]: r["reasons"][0] for r in rej}
    assert by_line[2].startswith("malformed: metadata is not JSON") and "line 2" in by_line[2]
    assert by_line[3].startswith("unreadable:") and "line 3" in by_line[3]
    assert by_line[4].startswith("no_tools:")
    assert "not an object" in by_line[5]
    assert [r["id"] for r in data.read_jsonl(tmp_path / "out.jsonl")] == ["a", "b"]
    assert rep["formats"] == {"nemotron": 2}


def test_openai_normalising_and_stable_content_ids(data):
    row = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Paris?"}]},
        {"role": "assistant", "content": None, "reasoning_content": "Look it up.",
         "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "content": "{}"},
        {"role": "assistant", "content": "Sunny."}], "tools": [data.WEATHER["function"]]}
    assert detect_format(row) == "openai"
    rec = convert_row(row)
    assert rec["messages"][0]["content"] == "Weather in Paris?"
    a = rec["messages"][1]
    assert a["content"] == "<think>\nLook it up.\n</think>" and "reasoning_content" not in a
    assert a["tool_calls"] == [{"id": "call_1_0", "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert rec["messages"][2]["tool_call_id"] == "call_1_0"
    assert rec["tools"] == [{"type": "function", "function": data.WEATHER["function"]}]  # bare schema wrapped
    assert rec["id"].startswith("openai-") and convert_row(row)["id"] == rec["id"]
    other = json.loads(json.dumps(row))
    other["messages"][3]["content"] = "Rainy."
    assert convert_row(other)["id"] != rec["id"]


def test_python_repr_tool_calls_are_read(data):
    rec = data.good_record()
    rec["messages"][1]["tool_calls"] = str(rec["messages"][1]["tool_calls"])  # some dumps hold str(list)
    del rec["source"]
    got = convert_row(rec)
    assert got["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
    rec["messages"][1]["tool_calls"] = "[{oops"
    with pytest.raises(ConvertError, match="neither JSON nor a Python literal"):
        convert_row(rec)


@pytest.mark.parametrize("fmt", ["openai", "nemotron", "cm2", "sharegpt"])
def test_round_trip(fmt, data):
    rec = data.labelled(data.good_record("rt", turns=2, calls=2))
    rec["messages"].insert(0, {"role": "system", "content": "You are a helpful assistant."})
    row = WRITERS[fmt](rec)
    assert detect_format(row) == fmt
    back = convert_row(json.loads(json.dumps(row)))
    assert back["id"] == "rt"
    assert comparable(back["messages"]) == comparable(rec["messages"])
    assert back["tools"] == rec["tools"]
    if fmt == "cm2":
        assert back["checklists"] == rec["checklists"]
    if fmt in ("openai", "nemotron", "cm2"):
        assert back["messages"] == rec["messages"]  # ids and tool_call_ids survive too


def test_sharegpt_shapes(data):
    row = {"conversations": [
        {"from": "human", "value": "Weather in Paris and Oslo?"},
        {"from": "gpt", "value": "<think>\ntwo calls\n</think>\n\n"},
        {"from": "function_call", "value": json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}},
                                                       {"name": "get_weather", "arguments": {"city": "Oslo"}}])},
        {"from": "observation", "value": '{"t": 18}\n</tool_response>\n<tool_response>\n{"t": 5}'},
        {"from": "gpt", "value": "<think>\nok\n</think>\n\nParis 18, Oslo 5."}],
        "tools": json.dumps([data.WEATHER["function"]]), "system": "Be brief."}
    rec = convert_row(row)
    roles = [m["role"] for m in rec["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert rec["messages"][2]["content"].startswith("<think>") and len(rec["messages"][2]["tool_calls"]) == 2
    assert [m["content"] for m in rec["messages"][3:5]] == ['{"t": 18}', '{"t": 5}']
    assert check_record(rec, FilterOptions()) == []


def test_llamafactory_hermes_text(data):
    """The CM2 authors' SFT export: role/content messages, calls rendered as <tool_call> blocks."""
    row = {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": '<think>\nx\n</think>\n\n<tool_call>\n{"name":"get_weather", "arguments": '
                                         '{"city": "Paris"}}\n</tool_call>'},
        {"role": "observation", "content": '{"t": 18}'},
        {"role": "assistant", "content": "<think>\ny\n</think>\n\n18 C."}], "tools": json.dumps([data.WEATHER])}
    assert detect_format(row) == "sharegpt"
    rec = convert_row(row)
    a = rec["messages"][1]
    assert a["content"] == "<think>\nx\n</think>" and a["tool_calls"][0]["function"]["name"] == "get_weather"
    assert rec["messages"][2] == {"role": "tool", "content": '{"t": 18}', "tool_call_id": a["tool_calls"][0]["id"]}


def test_task_format_and_task_document(tmp_path):
    suite = ROOT / "cm2_env" / "tasks" / "suites" / "starter" / "weather.json"
    rep = STAGE(suite, tmp_path / "out.jsonl")
    doc = json.loads(suite.read_text())
    assert rep["kept"] == len(doc["tasks"]) and rep["formats"] == {"task": len(doc["tasks"])}
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    t0 = doc["tasks"][0]
    assert recs[0]["id"] == t0["id"]
    assert [m["content"] for m in recs[0]["messages"] if m["role"] == "user"] == [t["user"] for t in t0["turns"]]
    assert recs[0]["checklists"][0][0][0]["id"] == t0["turns"][0]["checklist"][0]["id"]


def test_json_array_streams_and_reports_bad_elements(tmp_path, data):
    p = tmp_path / "arr.json"
    p.write_text(json.dumps([data.good_record("a"), 7, data.good_record("b")], indent=1))
    rep = STAGE(p, tmp_path / "out.jsonl", {"format": "record"})
    assert (rep["kept"], rep["rejected"]) == (2, 1)
    rej = data.read_jsonl(tmp_path / "out.rejected.jsonl")
    assert rej[0]["source"]["index"] == 1 and "not an object" in rej[0]["reasons"][0]
    cut = tmp_path / "cut.json"
    cut.write_text(p.read_text()[:-40])
    rep = STAGE(cut, tmp_path / "cut_out.jsonl")
    assert rep["kept"] == 1 and rep["rejected"] == 2  # the element 7, then the cut element (and the rest)


def test_json_array_over_many_chunks(tmp_path, data, monkeypatch):
    import cm2_env.data.convert as conv

    monkeypatch.setattr(conv, "_CHUNK", 97)  # elements straddle chunk edges
    p = tmp_path / "arr.json"
    p.write_text(json.dumps([data.nemotron_row(f"u{i}") for i in range(30)]))
    rep = STAGE(p, tmp_path / "out.jsonl")
    assert rep["kept"] == 30 and rep["rejected"] == 0


def test_parquet_directory_and_glob(tmp_path, data):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    d = tmp_path / "raw"
    d.mkdir()
    for k in range(2):
        rows = [data.nemotron_row(f"p{k}-{i}") for i in range(5)]
        pq.write_table(pa.Table.from_pylist(rows), d / f"tool-{k}.parquet")
    rep = STAGE(d, tmp_path / "out.jsonl", {"batch_size": 2})
    assert rep["kept"] == 10 and len(rep["files"]) == 2
    recs = data.read_jsonl(tmp_path / "out.jsonl")
    assert recs[0]["source"]["row"] == 0 and recs[6]["source"]["row"] == 1
    assert check_record(recs[0], FilterOptions()) == []
    rep = STAGE(str(d / "tool-1.*"), tmp_path / "glob.jsonl")
    assert rep["kept"] == 5


def test_duplicate_ids_and_resume(tmp_path, data):
    inp = data.write_jsonl(tmp_path / "raw.jsonl", [data.nemotron_row("a"), data.nemotron_row("a"),
                                                    data.nemotron_row("b"), "{bad"])
    first = STAGE(inp, tmp_path / "out.jsonl")
    assert (first["kept"], first["rejected"], first["reasons"]) == (2, 2, {"duplicate_id": 1, "unreadable": 1})
    again = STAGE(inp, tmp_path / "out.jsonl")
    assert (again["kept"], again["rejected"], again["skipped_already_done"]) == (2, 2, 4)
    assert len(data.read_jsonl(tmp_path / "out.rejected.jsonl")) == 2


def test_unknown_shape_and_forced_format(tmp_path, data):
    with pytest.raises(ConvertError, match="unknown_format"):
        convert_row({"foo": 1})
    with pytest.raises(ConvertError):
        convert_row({"conversations": [{"from": "alien", "value": "x"}], "tools": []})
    rec = data.good_record()
    del rec["source"]
    assert convert_row(rec, Options(format="openai"))["source"]["format"] == "openai"


def test_cm2_sample_converts(tmp_path, cm2_fixture):
    rep = STAGE(cm2_fixture, tmp_path / "out.jsonl")
    assert rep["kept"] == 1 and rep["formats"] == {"cm2": 1}
    rec = json.loads((tmp_path / "out.jsonl").read_text())
    src = json.loads(cm2_fixture.read_text())[0]
    assert rec["id"] == src["uuid"] and rec["checklists"] == src["checklists"]
    assert len(rec["messages"]) == len(src["messages"])


def test_cli(tmp_path, data, capsys):
    from cm2_env.cli import main

    inp = data.write_jsonl(tmp_path / "raw.jsonl", [data.nemotron_row("a")])
    assert main(["data", "convert", str(inp), "--out", str(tmp_path / "o.jsonl"), "--format", "nemotron"]) == 0
    assert "convert: kept 1" in capsys.readouterr().out
    assert main(["data", "convert", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o2.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_to_sharegpt_observation_list(data):
    rec = data.good_record(calls=2)
    row = to_sharegpt(rec)
    obs = [t for t in row["conversations"] if t["from"] == "observation"]
    assert len(json.loads(obs[0]["value"])) == 2
