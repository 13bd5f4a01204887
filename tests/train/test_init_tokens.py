"""CM2 special-token initialisation (train/sft/init_tokens.py) on tiny locally built Qwen3 checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from train.sft import REPO_ROOT, TOKEN_SPEC
from train.sft.init_tokens import load_spec, source_ids
from train.sft.testing import build_tiny_qwen3


def _load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path)


def _cli(src, out, *extra, capsys=None):
    """The CLI entry point, in-process (the module is also run as a subprocess once, below)."""
    from train.sft.init_tokens import main

    assert main(["--model", str(src), "--out", str(out), *extra]) == 0
    return capsys.readouterr().out if capsys is not None else ""


def test_module_entry_point(tmp_path):
    src = build_tiny_qwen3(tmp_path / "src", tied=True, layers=1)
    proc = subprocess.run([sys.executable, "-m", "train.sft.init_tokens", "--model", str(src), "--out",
                           str(tmp_path / "out")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "tied=True" in proc.stdout and "<tool_call>" in proc.stdout
    assert (tmp_path / "out" / "init_tokens.json").exists()


@pytest.mark.parametrize("tied", [False, True])
def test_rows_follow_cm2_rule_after_reload(tmp_path, tied, capsys):
    src = build_tiny_qwen3(tmp_path / "src", tied=tied)
    out_text = _cli(src, tmp_path / "out", capsys=capsys)
    model0, tok0 = _load(src)
    model, tok = _load(tmp_path / "out")
    specs, _ = load_spec(TOKEN_SPEC)
    emb0, emb = model0.get_input_embeddings().weight, model.get_input_embeddings().weight
    head0, head = model0.get_output_embeddings().weight, model.get_output_embeddings().weight
    assert (head.data_ptr() == emb.data_ptr()) == tied
    assert emb.shape == emb0.shape  # every token existed: in place, no resize
    targets = {s.token for s in specs}
    for s in specs:
        tid = tok.convert_tokens_to_ids(s.token)
        assert tid == tok0.convert_tokens_to_ids(s.token)
        ids = source_ids(tok0, s.words)
        assert ids == [i for w in s.words for i in tok0.encode(w, add_special_tokens=False)]
        target = emb0[ids].norm(dim=-1).mean().item()
        assert abs(emb[tid].norm().item() - target) < 1e-4
        cos = torch.nn.functional.cosine_similarity(emb[tid], emb0[ids].mean(0), dim=0).item()
        assert cos > 0.6  # the mean direction up to the noise (tiny random rows have norm ~0.1; see sigma=0)
        assert not torch.allclose(emb[tid], emb0[tid])
        if not tied:
            head_target = head0[ids].norm(dim=-1).mean().item()
            assert abs(head[tid].norm().item() - head_target) < 1e-4
            # from lm_head's own rows, not the input embeddings'
            cos_head = torch.nn.functional.cosine_similarity(head[tid], head0[ids].mean(0), dim=0).item()
            cos_cross = torch.nn.functional.cosine_similarity(head[tid], emb0[ids].mean(0), dim=0).item()
            assert cos_head > 0.6 and cos_head > cos_cross + 0.3
            assert not torch.allclose(head[tid], emb[tid], atol=1e-3)
        assert s.token in out_text
    # every other row is untouched
    others = [i for i in range(emb.shape[0]) if tok.convert_ids_to_tokens(i) not in targets]
    assert torch.equal(emb[others], emb0[others])
    if not tied:
        assert torch.equal(head[others], head0[others])
    report = json.loads((tmp_path / "out" / "init_tokens.json").read_text())
    assert report["tied"] is tied and report["resized"] is False and len(report["tokens"]) == len(specs)
    assert "<tool_response>" in tok.chat_template and "split('</think>')" in tok.chat_template


def test_seeded_and_sigma(tmp_path):
    src = build_tiny_qwen3(tmp_path / "src")
    _cli(src, tmp_path / "a", "--seed", "1")
    _cli(src, tmp_path / "b", "--seed", "1")
    _cli(src, tmp_path / "c", "--seed", "2")
    _cli(src, tmp_path / "z", "--sigma", "0")
    (a, tok), (b, _), (c, _), (z, _) = (_load(tmp_path / d) for d in "abcz")
    tid = tok.convert_tokens_to_ids("<tool_call>")
    row = lambda m: m.get_input_embeddings().weight[tid]  # noqa: E731
    assert torch.equal(row(a), row(b))
    assert not torch.equal(row(a), row(c))
    model0, tok0 = _load(src)
    ids = source_ids(tok0, ["tool", "call", "start"])
    mean = model0.get_input_embeddings().weight[ids].mean(0)
    assert torch.nn.functional.cosine_similarity(row(z), mean, dim=0).item() == pytest.approx(1.0, abs=1e-6)


def test_missing_tokens_added_resize_only_when_needed(tmp_path):
    # no spare rows: <think>/</think> are added and the matrices grow by two
    src = build_tiny_qwen3(tmp_path / "src", missing=["<think>", "</think>"])
    _cli(src, tmp_path / "out")
    model0, tok0 = _load(src)
    model, tok = _load(tmp_path / "out")
    assert "<think>" not in tok0.get_vocab() and "<think>" in tok.get_vocab()
    assert model.get_input_embeddings().weight.shape[0] == model0.get_input_embeddings().weight.shape[0] + 2
    assert tok.tokenize("<think>\nhi\n</think>")[0] == "<think>"
    report = json.loads((tmp_path / "out" / "init_tokens.json").read_text())
    assert {t["token"]: t["status"] for t in report["tokens"]}["<think>"] == "added"
    assert report["resized"] is True
    tid = tok.convert_tokens_to_ids("</think>")
    ids = source_ids(tok0, ["think", "finish"])
    target = model0.get_input_embeddings().weight[ids].norm(dim=-1).mean().item()
    assert abs(model.get_input_embeddings().weight[tid].norm().item() - target) < 1e-4
    head_target = model0.get_output_embeddings().weight[ids].norm(dim=-1).mean().item()
    assert abs(model.get_output_embeddings().weight[tid].norm().item() - head_target) < 1e-4

    # spare rows (as Qwen checkpoints have): added tokens use them, no resize
    src2 = build_tiny_qwen3(tmp_path / "src2", missing=["<think>", "</think>"], spare_rows=8)
    _cli(src2, tmp_path / "out2")
    m2, _ = _load(tmp_path / "out2")
    m20, _ = _load(src2)
    assert m2.get_input_embeddings().weight.shape == m20.get_input_embeddings().weight.shape
    assert json.loads((tmp_path / "out2" / "init_tokens.json").read_text())["resized"] is False
