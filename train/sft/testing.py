"""Tiny Qwen3 models and tokenizers built locally (no download), for tests and CPU smoke runs.

    from train.sft.testing import build_tiny_qwen3
    build_tiny_qwen3("/tmp/tiny-qwen3", tied=False)

The tokenizer is byte-level BPE trained on a small corpus (the starter suite's texts when available), with
Qwen3's control tokens: ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>`` (eos) as special tokens and
the markup tokens ``<think>``, ``</think>``, ``<tool_call>``, ``</tool_call>``, ``<tool_response>``,
``</tool_response>`` as added non-special tokens (as in Qwen3, so ``decode(skip_special_tokens=True)`` keeps
them). The chat template is the project's (``train/sft/chat_template.jinja``). ``missing`` leaves tokens out
of the vocabulary (to exercise ``init_tokens`` adding them); ``spare_rows`` pads the embedding matrix beyond
the tokenizer (Qwen checkpoints have spare rows).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MARKUP = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]
WORDS = "think begin finish tool call start end role enter exit user assistant system"


def _corpus() -> list[str]:
    texts = [WORDS] * 5
    try:
        from cm2_env.tasks import load_suite

        for task in load_suite("starter"):
            texts.append(task.system_prompt)
            texts.append(json.dumps(task.tools))
            for m in task.reference or []:
                texts.append(m.content or "")
                texts.append(json.dumps(m.tool_calls or []))
    except Exception:  # pragma: no cover - the package is always importable in this repo
        pass
    texts += ["The quick brown fox jumps over the lazy dog. 0123456789 {}[]:,\"'\n\n# Tools"] * 3
    return texts


def build_tiny_tokenizer(out_dir: str | Path, *, vocab_size: int = 1200, missing: Iterable[str] = ()):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    from . import chat_template_text

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIAL, show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                 clean_up_tokenization_spaces=False)
    hf.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    missing = set(missing)
    hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in MARKUP if t not in missing])
    hf.chat_template = chat_template_text()
    hf.save_pretrained(out_dir)
    return hf


def build_tiny_qwen3(out_dir: str | Path, *, tied: bool = False, seed: int = 0, hidden_size: int = 64,
                     layers: int = 2, missing: Iterable[str] = (), spare_rows: int = 0) -> Path:
    """A random-weight ``Qwen3ForCausalLM`` (hidden 64, 2 layers) + tokenizer in ``out_dir``."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tiny_tokenizer(out, missing=missing)
    torch.manual_seed(seed)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    cfg = Qwen3Config(vocab_size=len(tok) + spare_rows, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                      max_position_embeddings=32768, eos_token_id=eos, pad_token_id=tok.pad_token_id,
                      bos_token_id=None, tie_word_embeddings=tied)
    model = Qwen3ForCausalLM(cfg).eval()
    model.save_pretrained(out)
    GenerationConfig(eos_token_id=eos, pad_token_id=tok.pad_token_id, do_sample=False).save_pretrained(out)
    return out


# ----------------------------------------------------------------------------------------- trajectories
# Normalised conversation records covering what SFT/RL rendering must agree on: multi-turn, parallel calls,
# think blocks (in history and last), visible text before a call, tool errors, no-think messages.

WEATHER_TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "convert_temp", "description": "Convert Celsius to Fahrenheit.",
        "parameters": {"type": "object", "properties": {"celsius": {"type": "number"}}, "required": ["celsius"]}}},
]


def _call(cid: str, name: str, args: dict) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def sample_records() -> list[dict]:
    return [
        {"id": "multi-turn-parallel", "tools": WEATHER_TOOLS, "messages": [
            {"role": "system", "content": "You are a weather assistant."},
            {"role": "user", "content": "Weather in Paris and Berlin?"},
            {"role": "assistant", "content": "<think>\nTwo cities: call both at once.\n</think>\n\n",
             "tool_calls": [_call("c1", "get_weather", {"city": "Paris"}),
                            _call("c2", "get_weather", {"city": "Berlin"})]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"temp_c": 21, "sky": "sunny"}'},
            {"role": "tool", "tool_call_id": "c2", "content": '{"temp_c": 15, "sky": "rain"}'},
            {"role": "assistant", "content": "<think>\nReport both.\n</think>\n\nParis: 21 C, sunny. Berlin: 15 C, rain."},
            {"role": "user", "content": "Paris in Fahrenheit?"},
            {"role": "assistant", "content": "<think>\nConvert 21.\n</think>\n\nLet me convert that.",
             "tool_calls": [_call("c3", "convert_temp", {"celsius": 21})]},
            {"role": "tool", "tool_call_id": "c3", "content": '{"fahrenheit": 69.8}'},
            {"role": "assistant", "content": "<think>\nDone.\n</think>\n\nThat is 69.8 F."},
        ]},
        {"id": "tool-error-no-think", "tools": WEATHER_TOOLS, "messages": [
            {"role": "user", "content": "Weather in Atlantis?"},
            {"role": "assistant", "content": "", "tool_calls": [_call("c1", "get_weather", {"city": "Atlantis"})]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"error": "unknown city: Atlantis"}'},
            {"role": "assistant", "content": "I could not find Atlantis. Which city did you mean?"},
            {"role": "user", "content": "Nevermind, thanks!"},
            {"role": "assistant", "content": "<think>\n\n</think>\n\nYou are welcome."},
            {"role": "user", "content": "(a trailing user message the model never answered)"},
        ]},
        {"id": "no-tools-unicode", "tools": [], "messages": [
            {"role": "system", "content": "Réponds en français."},
            {"role": "user", "content": "Bonjour — ça va ?"},
            {"role": "assistant", "content": "<think>\nSaluer.\n</think>\n\nOui, très bien, merci !"},
        ]},
    ]
