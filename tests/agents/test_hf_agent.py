"""The ``hf`` agent: a local transformers checkpoint as the policy, real generation on CPU, no server.

Two tiny Qwen2 checkpoints are built here (no download): a random one (runs starter-suite episodes through
``cm2 run`` end to end), and a hand-wired one whose greedy generation is a fixed think block + tool call (every
layer's attention/MLP output is zeroed, so the next token depends only on the current one, and the embedding
/ lm_head rows form a chain), which shows a generated ``<tool_call>`` reaching the env as a call.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import cm2_env  # noqa: E402
from agents import AGENTS  # noqa: E402
from agents.hf_agent import ContextLengthExceeded, HFAgent  # noqa: E402
from cm2_env.cli import main as cm2_main  # noqa: E402
from cm2_env.rollout import plan_episodes, read_records, run_episode  # noqa: E402
from cm2_env.runjob import RunJob  # noqa: E402

TASKS = "banking-001,calendar-001"

# Qwen2.5-style: tools in the system turn, tool calls as <tool_call> JSON, tool results as user <tool_response>
TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n"
    "{% endif %}# Tools\n\n<tools>\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}</tools>\n\n"
    "For each function call, return a json object within <tool_call></tool_call> tags.<|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{%- for m in messages %}"
    "{%- if m.role == 'system' and loop.first %}"
    "{%- elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{%- elif m.role == 'assistant' %}<|im_start|>assistant\n{{ m.content }}"
    "{%- for tc in m.tool_calls or [] %}\n<tool_call>\n{\"name\": \"{{ tc.function.name }}\", \"arguments\": "
    "{{ tc.function.arguments | tojson }}}\n</tool_call>{%- endfor %}<|im_end|>\n"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

THINK = "I should look up the accounts first."
CALL = '{"name": "list_accounts", "arguments": {}}'
CHAIN_WORDS = ["<think>", THINK, "</think>", "<tool_call>", CALL, "</tool_call>", "<|im_end|>"]


def build_tokenizer(out: Path, extra_tokens: list[str] = (), special_tags: bool = False):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = ["The user asked for the balance of checking and savings.", '{"name": "get_balance"}',
              "I will check the calendar and book a meeting."] * 10
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>",
                                                        "<|im_start|>", "<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    # as in Qwen: <think>/<tool_call> are added but not special, so decoding with skip_special_tokens keeps them
    tok.add_tokens([AddedToken(t, normalized=False, special=special_tags)
                    for t in ["<think>", "</think>", "<tool_call>", "</tool_call>"]])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in extra_tokens])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.chat_template = TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_model(out: Path, tok, *, tie: bool = False, seed: int = 0, max_pos: int = 8192):
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=max_pos,
                      eos_token_id=eos, pad_token_id=tok.pad_token_id, bos_token_id=None, tie_word_embeddings=tie)
    model = Qwen2ForCausalLM(cfg)  # untied: a tied random tiny model greedily repeats its last token
    return model, GenerationConfig(eos_token_id=eos, pad_token_id=tok.pad_token_id, do_sample=False)


@pytest.fixture(scope="module")
def random_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hf_random")
    tok = build_tokenizer(out)
    model, gen = build_model(out, tok)
    model.save_pretrained(out)
    gen.save_pretrained(out)
    return out


def build_tool_call_model(out: Path, special_tags: bool = False) -> Path:
    """Greedy generation after any prompt ending in "assistant\\n": <think>THINK</think><tool_call>CALL</tool_call>."""
    import torch

    tok = build_tokenizer(out, extra_tokens=[THINK, CALL], special_tags=special_tags)
    model, gen = build_model(out, tok)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    last = tok(prompt, add_special_tokens=False)["input_ids"][-1]  # the "\n" after "<|im_start|>assistant"
    chain = [last] + [tok.convert_tokens_to_ids(w) if w.startswith("<") else tok(w, add_special_tokens=False)
                      ["input_ids"][0] for w in CHAIN_WORDS]
    assert len(set(chain)) == len(chain)
    with torch.no_grad():
        for layer in model.model.layers:  # residual stream = the token's embedding
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb, head = model.model.embed_tokens.weight, model.lm_head.weight
        emb.zero_()
        head.zero_()
        for slot, (a, b) in enumerate(zip(chain, chain[1:])):
            emb[a, slot] = 1.0
            head[b, slot] = 50.0
    # tokens off the chain have a zero embedding: all logits 0, greedy picks id 0 = <|endoftext|>, a stop token
    assert tok.convert_ids_to_tokens(0) == "<|endoftext|>"
    model.save_pretrained(out)
    gen.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tool_call_model(tmp_path_factory) -> Path:
    return build_tool_call_model(tmp_path_factory.mktemp("hf_toolcall"))


# ---------------------------------------------------------------------------------------- end to end


def test_registered():
    assert AGENTS.get("hf") is HFAgent


def test_cm2_run_cli_records_scored_episodes(random_model, tmp_path, capsys):
    out = tmp_path / "hf.jsonl"
    rc = cm2_main(["run", "--agent", "hf", "--agent-arg", f"model={random_model}", "--agent-arg", "max_new_tokens=8",
                   "--agent-arg", "device=cpu", "--tasks", TASKS, "--out", str(out), "-q", "--concurrency", "2"])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    recs = read_records(out)
    assert sorted(r.task_id for r in recs) == ["banking-001", "calendar-001"]
    for r in recs:
        assert r.agent_error is None, r.agent_error
        assert r.score is not None and 0.0 <= r.score <= 1.0
        assert r.end_reason not in ("env_error", "agent_error")
        pol = r.usage["policy"]
        assert pol["calls"] == sum(m["role"] == "assistant" for m in r.messages) >= 1
        assert pol["prompt_tokens"] > 0 and 0 < pol["completion_tokens"] <= 8 * pol["calls"]
    assert "2 episode(s) recorded" in printed.out


def test_runjob_is_deterministic_across_concurrency(random_model, tmp_path):
    def run(name: str, concurrency: int, **kw):
        job = RunJob("cm2/ToolTask-v0", tmp_path / f"{name}.jsonl", agent="hf", env_kwargs={"task_selector": TASKS},
                     agent_kwargs={"model": str(random_model), "max_new_tokens": 6, **kw}, concurrency=concurrency,
                     quiet=True)
        res = job.run()
        assert res.ok, res.error
        return {r.task_id: [m["content"] for m in r.messages if m["role"] == "assistant"] for r in res.records}

    greedy = run("a", 1)
    assert greedy == run("b", 2)
    assert all(replies and all(replies) for replies in greedy.values())  # real (non-empty) generations
    sampled = {"temperature": 1.0, "seed": 3}
    assert run("c", 1, **sampled) == run("d", 2, **sampled)
    assert run("e", 2, **sampled) != run("f", 2, temperature=1.0, seed=4)


def test_generated_tool_call_reaches_the_env_and_thinking_is_kept(tool_call_model):
    env = cm2_env.make("cm2/ToolTask-v0", max_steps_per_turn=2)
    spec = next(s for s in plan_episodes(env.tasks, None, 1, 0) if s.task_id == "banking-001")
    agent = HFAgent(model=str(tool_call_model), max_new_tokens=32)
    rec = asyncio.run(run_episode(env, agent, spec))
    assert rec.agent_error is None and rec.score is not None
    assert rec.tool_calls and rec.tool_calls[0]["name"] == "list_accounts", rec.tool_calls
    first = next(m for m in rec.messages if m["role"] == "assistant")
    assert first["tool_calls"][0]["function"]["name"] == "list_accounts"
    assert first["content"] == f"<think>{THINK}</think>"  # the reasoning stays in the recorded message
    assert agent._generated[0] == f"<think>{THINK}</think><tool_call>{CALL}</tool_call>"
    # the second prompt replays the first reply exactly as generated (raw history), after the tool result
    obs = [m for m in rec.messages[: rec.messages.index(first) + 2]]
    agent._generated = agent._generated[:1]
    text = agent.lm.tokenizer.decode(agent.render(obs))
    assert f"<|im_start|>assistant\n<think>{THINK}</think><tool_call>{CALL}</tool_call><|im_end|>" in text
    assert "<tool_response>" in text and text.endswith("<|im_start|>assistant\n")
    assert '"name": "list_accounts"' in text.split("</tools>")[0]  # tools rendered by the checkpoint's template
    messages_mode = HFAgent(model=str(tool_call_model), history="messages")
    messages_mode.reset(env.task)
    text2 = agent.lm.tokenizer.decode(messages_mode.render(obs))
    assert '<tool_call>\n{"name": "list_accounts", "arguments": {}}\n</tool_call>' in text2


def test_tool_call_tags_marked_special_still_reach_the_env(tmp_path):
    model = build_tool_call_model(tmp_path / "special", special_tags=True)
    env = cm2_env.make("cm2/ToolTask-v0", max_steps_per_turn=1)
    spec = next(s for s in plan_episodes(env.tasks, None, 1, 0) if s.task_id == "banking-001")
    agent = HFAgent(model=str(model), max_new_tokens=32)
    tok = agent.lm.tokenizer
    tag = tok.convert_tokens_to_ids("<tool_call>")
    assert tok.added_tokens_decoder[tag].special and tok.decode([tag], skip_special_tokens=True) == ""
    rec = asyncio.run(run_episode(env, agent, spec))
    assert agent._generated[0] == f"<think>{THINK}</think><tool_call>{CALL}</tool_call>"
    assert rec.tool_calls and rec.tool_calls[0]["name"] == "list_accounts"


# ---------------------------------------------------------------------------------------- faults


def test_prompt_longer_than_context_is_an_agent_error_not_a_crash(random_model, tmp_path):
    job = RunJob("cm2/ToolTask-v0", tmp_path / "short.jsonl", agent="hf", env_kwargs={"task_selector": TASKS},
                 agent_kwargs={"model": str(random_model), "max_length": 64}, quiet=True)
    res = job.run()
    assert res.error is None and res.missing == 0 and len(res.records) == 2 and res.all_failed
    for r in res.records:
        assert r.score is None and "ContextLengthExceeded" in r.agent_error and "context is 64" in r.agent_error


def test_reply_is_capped_to_the_room_left(random_model):
    agent = HFAgent(model=str(random_model), max_new_tokens=500, max_length=None)
    env = cm2_env.make("cm2/ToolTask-v0")
    obs, info = asyncio.run(env.areset(options={"task_id": "banking-001"}))
    agent.reset(env.task)
    n_prompt = len(agent.render(obs))
    capped = HFAgent(model=str(random_model), max_new_tokens=500, max_length=n_prompt + 3)
    capped.reset(env.task)
    asyncio.run(capped.act(obs, info))
    assert capped.last_prompt_tokens == n_prompt and 1 <= capped.last_completion_tokens <= 3
    full = HFAgent(model=str(random_model), max_length=n_prompt)
    full.reset(env.task)
    with pytest.raises(ContextLengthExceeded, match=f"prompt has {n_prompt} tokens"):
        asyncio.run(full.act(obs, info))


def test_generation_runs_off_the_event_loop(random_model, monkeypatch):
    """While one episode's model call runs, the loop keeps serving other coroutines."""
    import threading
    import time

    agent = HFAgent(model=str(random_model), max_new_tokens=4)
    env = cm2_env.make("cm2/ToolTask-v0")
    obs, info = asyncio.run(env.areset(options={"task_id": "banking-001"}))
    agent.reset(env.task)
    real = agent._generate
    threads = []

    def slow(*a):
        threads.append(threading.current_thread().name)
        time.sleep(0.3)
        return real(*a)

    monkeypatch.setattr(agent, "_generate", slow)

    async def go():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(ticker())
        text = await agent.act(obs, info)
        t.cancel()
        return text, ticks

    text, ticks = asyncio.run(go())
    assert isinstance(text, str) and ticks >= 10
    assert threads and threads[0].startswith("cm2-hf-agent")


@pytest.mark.parametrize("case", ["missing", "not_a_model", "no_template", "bad_weights"])
def test_bad_model_dir_fails_before_any_episode(case, random_model, tmp_path):
    import shutil

    d = tmp_path / case
    if case == "not_a_model":
        d.mkdir()
        (d / "notes.txt").write_text("x")
    elif case == "no_template":
        shutil.copytree(random_model, d)
        cfg = json.loads((d / "tokenizer_config.json").read_text())
        cfg.pop("chat_template", None)
        (d / "tokenizer_config.json").write_text(json.dumps(cfg))
        (d / "chat_template.jinja").unlink(missing_ok=True)
    elif case == "bad_weights":
        shutil.copytree(random_model, d)
        for f in d.glob("*.safetensors"):
            f.write_bytes(b"not a safetensors file")
    out = tmp_path / "x.jsonl"
    res = RunJob("cm2/ToolTask-v0", out, agent="hf", env_kwargs={"task_selector": TASKS},
                 agent_kwargs={"model": str(d)}, quiet=True).run()
    assert res.error and "cannot build agent 'hf'" in res.error
    want = {"missing": "does not exist", "not_a_model": "no config.json", "no_template": "no chat template",
            "bad_weights": "cannot load the model weights"}[case]
    assert want in res.error, res.error
    assert not out.exists() or not out.read_text().strip()


def test_model_arg_required():
    with pytest.raises(ValueError, match="model=DIR"):
        HFAgent()
