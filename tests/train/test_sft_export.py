"""`cm2 data to-sft` (train/sft/export.py): task references / conversation records -> LLaMA-Factory sharegpt."""

from __future__ import annotations

import json

import pytest

from train.sft.export import EMPTY_THINK, RESPONSE_SEP, export, read_conversations
from train.sft.testing import build_tiny_tokenizer, sample_records


@pytest.fixture(scope="module")
def tiny_tokenizer(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    build_tiny_tokenizer(d)
    return d


def _alternates(conv):
    for k, t in enumerate(conv):
        assert t["from"] in (("human", "observation") if k % 2 == 0 else ("gpt", "function_call")), (k, t)
    assert len(conv) % 2 == 0


def test_starter_references_through_the_cli(tmp_path, tiny_tokenizer):
    from cm2_env.cli import build_parser
    from cm2_env.tasks import load_suite

    args = build_parser().parse_args(["data", "to-sft", "--in", "starter", "--out", str(tmp_path),
                                      "--tokenizer", str(tiny_tokenizer), "--cutoff-len", "1800"])
    assert args.func(args) == 0
    samples = json.loads((tmp_path / "cm2_sft.json").read_text())
    tasks = [t for t in load_suite("starter") if t.reference]
    assert len(samples) == len(tasks) >= 10
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["cm2_sft"]["file_name"] == "cm2_sft.json" and info["cm2_sft"]["formatting"] == "sharegpt"
    assert info["cm2_sft"]["columns"]["tools"] == "tools"
    by_id = {t.id: t for t in tasks}
    for s in samples:
        task = by_id[s["id"]]
        _alternates(s["conversations"])
        assert s["system"] == task.system_prompt
        assert json.loads(s["tools"]) == task.tools
        ref = [m for m in task.reference]
        n_calls = sum(1 for m in ref if m.role == "assistant" and m.tool_calls)
        assert sum(1 for t in s["conversations"] if t["from"] == "function_call") == n_calls
        for t in s["conversations"]:
            if t["from"] in ("gpt", "function_call"):
                assert "<think>" in t["value"]  # kept, or the empty block LLaMA-Factory would add anyway
    # a parallel call and its two results (banking-001 asks for two balances)
    s = next(s for s in samples if s["id"] == "banking-001")
    calls = [t for t in s["conversations"] if t["from"] == "function_call"]
    par = [t for t in calls if t["value"].count('"name"') == 2][0]
    assert par["value"].startswith(EMPTY_THINK + "<tool_call>\n[")
    inner = json.loads(par["value"][len(EMPTY_THINK + "<tool_call>\n"):-len("\n</tool_call>")])
    assert [c["name"] for c in inner] == ["get_balance", "get_balance"]
    assert isinstance(inner[0]["arguments"], dict)
    obs = s["conversations"][s["conversations"].index(par) + 1]
    assert obs["from"] == "observation" and obs["value"].count(RESPONSE_SEP) == 1
    # token statistics: the counted lengths are the chat-template renderings
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_tokenizer)
    stats = json.loads((tmp_path / "stats.json").read_text())
    lengths = []
    for c in read_conversations("starter"):
        from train.sft.export import normalise

        n = normalise(c)
        lengths.append(len(tok.apply_chat_template(n.messages, tools=n.tools, tokenize=True, return_dict=False)))
    assert stats["tokens"]["max"] == max(lengths) and stats["tokens"]["count"] == len(samples)
    assert stats["tokens"]["over_cutoff"] == sum(n > 1800 for n in lengths) > 0
    assert len(stats["over_cutoff_ids"]) == stats["tokens"]["over_cutoff"]


def test_records_jsonl(tmp_path):
    recs = sample_records() + [
        {"id": "two-assistants", "tools": [], "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"},
            {"role": "assistant", "content": "b"}]},
        {"id": "bad-args", "tools": [], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]},
            {"role": "tool", "content": "1", "tool_call_id": "x"}, {"role": "assistant", "content": "ok"}]},
        {"id": "no-answer", "tools": [], "messages": [{"role": "user", "content": "hi"}]},
    ]
    src = tmp_path / "sft.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = export(src, tmp_path / "out", empty_think=True)
    assert [s["id"] for s in res.samples] == ["multi-turn-parallel", "tool-error-no-think", "no-tools-unicode"]
    reasons = {r["id"]: r["reason"] for r in res.rejected}
    assert set(reasons) == {"two-assistants", "bad-args", "no-answer"}
    assert "alternate" in reasons["two-assistants"] and "JSON" in reasons["bad-args"]
    rejected = [json.loads(x) for x in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rejected} == set(reasons)

    conv = res.samples[0]["conversations"]
    assert [t["from"] for t in conv] == ["human", "function_call", "observation", "gpt", "human", "function_call",
                                         "observation", "gpt"]
    assert conv[1]["value"] == ('<think>\nTwo cities: call both at once.\n</think>\n\n<tool_call>\n'
                                '[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
                                '{"name": "get_weather", "arguments": {"city": "Berlin"}}]\n</tool_call>')
    assert conv[2]["value"] == '{"temp_c": 21, "sky": "sunny"}' + RESPONSE_SEP + '{"temp_c": 15, "sky": "rain"}'
    # visible text before a call is kept, separated by a newline as Qwen renders it
    assert conv[5]["value"].startswith("<think>\nConvert 21.\n</think>\n\nLet me convert that.\n<tool_call>\n[")
    conv = res.samples[1]["conversations"]
    assert conv[-1]["value"] == "<think>\n\n</think>\n\nYou are welcome."  # trailing user turn dropped
    assert conv[1]["value"].startswith(EMPTY_THINK + "<tool_call>")
    assert conv[2]["value"] == '{"error": "unknown city: Atlantis"}'
    assert conv[3]["value"] == EMPTY_THINK + "I could not find Atlantis. Which city did you mean?"
    assert res.samples[2]["tools"] == "" and res.samples[2]["system"] == "Réponds en français."
    assert "très" in (tmp_path / "out" / "cm2_sft.json").read_text()  # not \u-escaped

    res2 = export(src, tmp_path / "out2", empty_think=False)
    assert res2.samples[1]["conversations"][3]["value"] == "I could not find Atlantis. Which city did you mean?"
