"""Build a tiny random-weight chat model + tokenizer on disk, with no download (for `transformers serve`)."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    '{"answer": true, "rationale": "the assistant called the tool"}',
    '{"verdicts": [{"id": "C0", "answer": false}]}',
    '{"result": {"status": "ok", "items": [1, 2, 3]}}',
    "The user asked for a flight from Paris to Berlin on Monday.",
    "I will check the weather and book a table for two.",
] * 20


def build_tiny_chat_model(out_dir: str | Path, *, seed: int = 0, vocab_size: int = 400) -> Path:
    """A 1-layer Qwen2 with random weights and a byte-level BPE tokenizer trained on a few lines."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHATML
    fast.save_pretrained(out)

    torch.manual_seed(seed)
    eos = fast.convert_tokens_to_ids("<|im_end|>")
    cfg = Qwen2Config(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                      eos_token_id=eos, pad_token_id=fast.pad_token_id, bos_token_id=None, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(out)
    GenerationConfig(eos_token_id=eos, pad_token_id=fast.pad_token_id, do_sample=False).save_pretrained(out)
    return out
