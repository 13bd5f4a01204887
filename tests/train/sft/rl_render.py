"""Render conversations through the RL agent loop's token builder (runs in the main venv, which has verl).

    .venv-test/bin/python tests/train/sft/rl_render.py TOKENIZER_DIR IN.json OUT.json

IN.json: [{"id", "messages", "tools"}] (normalised: structured tool calls, think blocks in content). For each,
the token stream is built exactly as ``train.verl.agent_loop.CM2AgentLoop`` builds a rollout: verl's Continuous
Token builder (``create_continuous_token_builder(tokenizer, hf_model_type=<config model_type>)``, what
``AgentLoopBase`` creates) renders the opening messages (system + first user, with the tools), each assistant
message is appended as *generated* tokens (the text the chat template renders for it, tokenised, plus
``<|im_end|>``, as a server stops there; response_mask 1), and the messages that follow (tool results, next
user message) are merged as context (mask 0) with the assistant message kept as its raw text, as the loop
keeps it. OUT.json: [{"id", "ids", "mask"}] with ``mask`` over the whole stream (0 on the prompt).
"""

from __future__ import annotations

import json
import sys

from transformers import AutoConfig, AutoTokenizer
from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder


def assistant_text(tok, messages, i, tools):
    """What the chat template renders for assistant message ``i`` (between the generation prompt and <|im_end|>)."""
    prefix = tok.apply_chat_template(messages[:i], tools=tools, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(messages[: i + 1], tools=tools, tokenize=False)
    assert full.startswith(prefix), "the chat template is not prefix-stable"
    text = full[len(prefix):]
    assert text.endswith("<|im_end|>\n"), text[-30:]
    return text[: -len("<|im_end|>\n")]


def render(tok, builder, conv):
    msgs, tools = conv["messages"], conv["tools"] or None
    first = next(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    ids = list(builder.build_initial_tokens(msgs[:first], tools=tools, images=None, videos=None, audios=None,
                                            mm_inputs_out=None))
    prompt_len = len(ids)
    mask: list[int] = []
    history = list(msgs[:first])
    i = first
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    while i < len(msgs):
        text = assistant_text(tok, msgs, i, tools)
        gen = tok.encode(text, add_special_tokens=False) + [im_end]
        merge = builder.merge_assistant_tokens(ids, gen)
        mask, _ = builder.align_response_metadata(merge, mask, None, assistant_logprobs=None)
        ids = list(merge.token_ids)
        history.append({"role": "assistant", "content": text})  # the loop keeps the decoded text
        j = i + 1
        while j < len(msgs) and msgs[j]["role"] != "assistant":
            j += 1
        if j > i + 1:
            updated = history + [dict(m) for m in msgs[i + 1: j]]
            merge = builder.merge_context_tokens(history, updated, ids, tools=tools)
            mask, _ = builder.align_response_metadata(merge, mask, None)
            ids = list(merge.token_ids)
            history = updated
        i = j
    assert len(mask) == len(ids) - prompt_len
    return {"id": conv["id"], "ids": ids, "mask": [0] * prompt_len + list(mask)}


def main(tok_dir, src, dst):
    tok = AutoTokenizer.from_pretrained(tok_dir)
    model_type = AutoConfig.from_pretrained(tok_dir).model_type
    builder = create_continuous_token_builder(tok, hf_model_type=model_type)
    convs = json.loads(open(src).read())
    out = [render(tok, builder, c) for c in convs]
    open(dst, "w").write(json.dumps({"builder": type(builder).__name__, "model_type": model_type, "samples": out}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
