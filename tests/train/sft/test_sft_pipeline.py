"""CI: the cold-start chain on CPU with real LLaMA-Factory (tiny Qwen3 built locally, nothing downloaded):
init_tokens -> `cm2 data to-sft` on >= 10 starter references -> `python -m train.sft` (3 steps) -> the
checkpoint loads, keeps the tokenizer/chat template, and runs starter episodes with `--agent hf`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from train.sft import chat_template_text


def test_chain_trains_and_checkpoint_loads(sft_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print("chain timings (s):", {k: round(v, 1) for k, v in sft_run["times"].items()})
    init_report = json.loads((sft_run["init"] / "init_tokens.json").read_text())
    assert init_report["tied"] is False and all(
        abs(t["norm"] - t["target_norm"]) < 1e-4 and abs(t["lm_head_norm"] - t["lm_head_target_norm"]) < 1e-4
        for t in init_report["tokens"])
    samples = json.loads((sft_run["data"] / "cm2_sft.json").read_text())
    stats = json.loads((sft_run["data"] / "stats.json").read_text())
    assert len(samples) == 12 >= 10 and stats["tokens"]["over_cutoff"] == 0
    assert "would be cut" in sft_run["logs"]["export"]

    run = sft_run["run"]
    lf_yaml = yaml.safe_load((run / "llamafactory.yaml").read_text())
    assert lf_yaml["gradient_accumulation_steps"] == 2 and lf_yaml["bf16"] is False and "deepspeed" not in lf_yaml
    assert lf_yaml["template"] == "qwen3" and lf_yaml["finetuning_type"] == "full"
    assert "llamafactory-cli train" in (run / "command.txt").read_text()
    log = [json.loads(x) for x in (sft_run["checkpoint"] / "trainer_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "loss" in r]
    assert [r["current_steps"] for r in steps] == [1, 2, 3]
    assert all(r["loss"] > 0 for r in steps)
    state = json.loads((sft_run["checkpoint"] / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert "Num examples = 12" in sft_run["logs"]["sft"]

    ckpt = sft_run["checkpoint"]
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = AutoModelForCausalLM.from_pretrained(ckpt, dtype=torch.float32)
    init = AutoModelForCausalLM.from_pretrained(sft_run["init"], dtype=torch.float32)
    assert tok.chat_template == chat_template_text()
    assert len(tok) == len(AutoTokenizer.from_pretrained(sft_run["init"]))
    changed = [n for (n, p), (_, q) in zip(model.named_parameters(), init.named_parameters()) if not torch.equal(p, q)]
    assert changed, "training changed no weight"
    assert model.get_output_embeddings().weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_hf_agent_runs_starter_episodes(sft_run, tmp_path):
    repo = Path(__file__).resolve().parents[3]
    assert (repo / "agents" / "hf_agent.py").exists()
    from cm2_env.tasks import load_suite

    ids = [t.id for t in load_suite("starter")[:2]]
    out = tmp_path / "episodes.jsonl"
    cm2 = Path(sys.executable).with_name("cm2")
    proc = subprocess.run([str(cm2), "run", "--tasks-file", "starter", "--tasks", ",".join(ids), "--agent", "hf",
                           "--agent-arg", f"model={sft_run['checkpoint']}", "--agent-arg", "max_new_tokens=24",
                           "--out", str(out), "-q"], cwd=repo, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    recs = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    print("hf agent episodes:", proc.stdout[-2000:])
    assert sorted(r.get("task_id") for r in recs) == sorted(ids), recs[:1]
    for r in recs:
        assert r.get("agent_error") in (None, ""), r.get("agent_error")
        score = r.get("score")
        assert isinstance(score, (int, float)) and 0.0 <= score <= 1.0, {k: r[k] for k in list(r)[:12]}
