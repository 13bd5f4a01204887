"""Helpers for the training tests: a tiny Qwen-style tokenizer + causal LM built locally (no download),
a small self-contained two-turn task, and the composed GRPO config.

Everything is CPU-only and deterministic. Fixtures live in conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# A Qwen2.5-style ChatML template with tools (tool calls in <tool_call> blocks, tool results grouped in a
# user turn inside <tool_response> blocks). Written for these tests; mirrors the public Qwen format.
QWEN_STYLE_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + (message.content or '') + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {%- if tool_call.arguments is string %}
                {{- tool_call.arguments }}
            {%- else %}
                {{- tool_call.arguments | tojson }}
            {%- endif %}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Like Qwen: markup tokens are added tokens but not "special" (so decode(skip_special_tokens=True) keeps them).
MARKUP_TOKENS = ["<tool_call>", "</tool_call>", "<think>", "</think>", "<tool_response>", "</tool_response>"]

# ----------------------------------------------------------------------------------------- the test task

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_temp",
            "description": "Convert a Celsius temperature to Fahrenheit.",
            "parameters": {
                "type": "object",
                "properties": {"celsius": {"type": "number"}},
                "required": ["celsius"],
                "additionalProperties": False,
            },
        },
    },
]


def _call(cid: str, name: str, args: dict) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


WEATHER_TASK: dict[str, Any] = {
    "id": "weather-001",
    "domain": "weather",
    "system_prompt": "You are a weather assistant. Use the tools.",
    "tools": WEATHER_TOOLS,
    "turns": [
        {
            "user": "What is the weather in Paris?",
            "checklist": [
                {"id": "C0", "question": "Called get_weather for Paris?", "weight": 0.6,
                 "required_for_next_turn": False,
                 "check": {"type": "tool_called", "name": "get_weather", "args": {"city": {"equals": "Paris"}}}},
                {"id": "C1", "question": "Reported 21 C?", "weight": 0.4, "focus_on": "assistant.content.user_visible_reply",
                 "dependence": ["C0"], "check": {"type": "reply_matches", "any": ["21"]}},
            ],
        },
        {
            "user": "And in Fahrenheit?",
            "checklist": [
                {"id": "C0", "question": "Converted 21 C?", "weight": 0.5,
                 "check": {"type": "tool_called", "name": "convert_temp", "args": {"celsius": {"approx": 21, "tol": 0.01}}}},
                {"id": "C1", "question": "Reported 69.8 F?", "weight": 0.5, "focus_on": "assistant.content.user_visible_reply",
                 "check": {"type": "reply_matches", "any": ["69.8"]}},
            ],
        },
    ],
    "reference": [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [_call("call_1", "get_weather", {"city": "Paris"})]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"city": "Paris", "temp_c": 21, "sky": "sunny"})},
        {"role": "assistant", "content": "It is 21 C and sunny in Paris."},
        {"role": "user", "content": "And in Fahrenheit?"},
        {"role": "assistant", "content": "", "tool_calls": [_call("call_2", "convert_temp", {"celsius": 21})]},
        {"role": "tool", "tool_call_id": "call_2", "content": json.dumps({"fahrenheit": 69.8})},
        {"role": "assistant", "content": "That is 69.8 F."},
    ],
}


def tool_call_text(name: str, args: dict, think: str | None = None) -> str:
    """Assistant text with one hermes tool call, formatted exactly as the chat template renders it."""
    prefix = f"<think>\n{think}\n</think>\n\n" if think else ""
    return prefix + "<tool_call>\n" + json.dumps({"name": name, "arguments": args}) + "\n</tool_call>"


PERFECT_SCRIPT = [
    tool_call_text("get_weather", {"city": "Paris"}, think="I should look it up."),
    "It is 21 C and sunny in Paris.",
    tool_call_text("convert_temp", {"celsius": 21}),
    "That is 69.8 F.",
]


# ----------------------------------------------------------------------------------------- tiny LM


def _corpus() -> list[str]:
    texts = [QWEN_STYLE_TEMPLATE, json.dumps(WEATHER_TASK), json.dumps(WEATHER_TOOLS), *PERFECT_SCRIPT]
    texts += ["continuous token synthetic system", "continuous token synthetic user", "You are a helpful assistant."]
    texts += ["The quick brown fox jumps over the lazy dog. 0123456789 {}[]:,\"'"] * 3
    return texts


def build_tiny_tokenizer(out_dir: Path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AddedToken, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
    )
    hf.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in MARKUP_TOKENS])
    hf.chat_template = QWEN_STYLE_TEMPLATE
    hf.save_pretrained(out_dir)
    return hf


def build_tiny_model(out_dir: Path, vocab_size: int):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    model = Qwen2ForCausalLM(cfg).eval()
    model.save_pretrained(out_dir)
    return model


# ----------------------------------------------------------------------------------------- config


def compose_grpo(overrides: list[str] | None = None):
    """Compose conf/train/grpo.yaml (with verl's ppo_trainer underneath) through Hydra's compose API.

    ``train.grpo`` is imported first, as ``python -m train.grpo`` does: it registers the ``cm2_launcher/paths``
    config node (the agent-loop registry's absolute path) that grpo.yaml's defaults list names.
    """
    from hydra import compose, initialize_config_dir

    import train.grpo  # noqa: F401  (registers cm2_launcher/paths)

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        return compose(config_name="train/grpo", overrides=list(overrides or []))


def loop_config(model_dir: Path, data_dir: Path, *extra: str, n: int = 3):
    """The grpo config the agent-loop tests run with: a tiny local model, small lengths, recorded messages."""
    from train.grpo import prepare_config

    return prepare_config(compose_grpo([
        f"actor_rollout_ref.model.path={model_dir}",
        f"data.train_files={data_dir / 'train.parquet'}",
        f"data.val_files={data_dir / 'val.parquet'}",
        "data.max_prompt_length=1024",
        "data.max_response_length=1536",
        "cm2.record_messages=true",
        f"actor_rollout_ref.rollout.n={n}",
        *extra,
    ]))
