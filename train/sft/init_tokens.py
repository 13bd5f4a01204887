"""Initialise special-token embeddings from descriptive words (CM2's cold-start rule) and write a checkpoint.

    python -m train.sft.init_tokens --model /models/Qwen3-8B-Base --out /ckpt/qwen3-8b-inittag \\
        [--spec conf/train/sft_tokens.yaml] [--sigma 0.005] [--seed 0] [--chat-template cm2|keep|FILE]

For every token of the spec (``conf/train/sft_tokens.yaml``: ``<think>`` ← think+begin, ``</think>`` ←
think+finish, ``<tool_call>`` ← tool+call+start, ``</tool_call>`` ← tool+call+end, ``<|im_start|>`` ←
role+enter, ``<|im_end|>`` ← role+exit):

1. source ids = the sub-tokens of each description word, each word encoded on its own without a leading space,
   pooled in order;
2. row = mean of the source rows + N(0, sigma) noise, rescaled to the mean L2 norm of the source rows;
3. with untied embeddings, the output embedding (lm_head) row is computed the same way from lm_head's own
   source rows, with its own noise draw; with tied embeddings the one shared row is written once.

All source rows are read before anything is written. Tokens already in the vocabulary are re-initialised in
place; missing tokens are added to the tokenizer, and the embedding matrices are resized only when the
checkpoint has no spare rows for them. The noise is seeded. The output directory gets the model, the tokenizer
(with the chat template: the project's ``train/sft/chat_template.jinja`` by default), and ``init_tokens.json``
(the per-token table printed at the end: ids, norms, cosine to the source mean).

Do not also set LLaMA-Factory's ``new_special_tokens_config`` / ``init_special_tokens``: its rule is not CM2's
(see conf/train/sft.yaml).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import CHAT_TEMPLATE, TOKEN_SPEC


@dataclass
class TokenSpec:
    token: str
    words: list[str]
    special: bool = False


@dataclass
class TokenReport:
    token: str
    id: int
    status: str  # "existing" | "added"
    source_ids: list[int]
    target_norm: float
    norm: float
    cos_to_source_mean: float
    lm_head_target_norm: float | None = None
    lm_head_norm: float | None = None
    lm_head_cos_to_source_mean: float | None = None


@dataclass
class InitResult:
    tied: bool
    resized: bool
    vocab_before: int
    vocab_after: int
    rows_before: int
    rows_after: int
    tokens: list[TokenReport] = field(default_factory=list)


def load_spec(path: str | Path) -> tuple[list[TokenSpec], dict[str, Any]]:
    doc = yaml.safe_load(Path(path).read_text()) or {}
    entries = doc.get("tokens") or []
    specs = []
    for e in entries:
        words = e.get("words")
        if not e.get("token") or not isinstance(words, list) or not words:
            raise ValueError(f"{path}: every token entry needs `token` and a non-empty `words` list, got {e!r}")
        specs.append(TokenSpec(str(e["token"]), [str(w) for w in words], bool(e.get("special", False))))
    if len({s.token for s in specs}) != len(specs):
        raise ValueError(f"{path}: a token is listed twice")
    return specs, {k: doc[k] for k in ("sigma", "seed") if k in doc}


def source_ids(tokenizer: Any, words: list[str]) -> list[int]:
    """Sub-token ids of each word encoded on its own (no leading space), pooled in order."""
    ids: list[int] = []
    for w in words:
        ids.extend(tokenizer.encode(w, add_special_tokens=False))
    if not ids:
        raise ValueError(f"description words {words!r} encode to no tokens")
    return ids


def _is_tied(model: Any) -> bool:
    out = model.get_output_embeddings()
    return out is None or out.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def _row(weight, ids: list[int], noise):
    """Mean of the source rows + noise, rescaled to the mean L2 norm of the source rows (float32)."""
    import torch

    src = weight[ids].detach().to(torch.float32)
    mean = src.mean(dim=0)
    target = src.norm(dim=-1).mean()
    vec = mean + noise
    vec = vec * (target / vec.norm().clamp_min(1e-12))
    return vec, mean, float(target)


def init_tokens(model: Any, tokenizer: Any, specs: list[TokenSpec], *, sigma: float = 0.005, seed: int = 0) -> InitResult:
    """Apply CM2's rule to ``model``/``tokenizer`` in place (see the module docstring)."""
    import torch
    from transformers import AddedToken

    emb = model.get_input_embeddings().weight
    tied = _is_tied(model)
    vocab_before, rows_before = len(tokenizer), emb.shape[0]
    hidden = emb.shape[1]
    gen = torch.Generator().manual_seed(int(seed))

    # 1. read every source row (and draw the noise) before the matrices change
    plans = []
    for s in specs:
        ids = source_ids(tokenizer, s.words)
        noise_emb = torch.randn(hidden, generator=gen) * sigma
        noise_out = None if tied else torch.randn(hidden, generator=gen) * sigma
        vec, mean, target = _row(emb, ids, noise_emb)
        out_plan = None
        if not tied:
            out_w = model.get_output_embeddings().weight
            out_plan = _row(out_w, ids, noise_out)
        plans.append((s, ids, (vec, mean, target), out_plan))

    # 2. add the missing tokens; resize only when there are no spare rows
    vocab = tokenizer.get_vocab()
    status = {}
    for s in specs:
        if s.token in vocab:
            status[s.token] = "existing"
            continue
        tok = AddedToken(s.token, special=s.special, normalized=False)
        if s.special:
            tokenizer.add_special_tokens({"additional_special_tokens": [tok]}, replace_additional_special_tokens=False)
        else:
            tokenizer.add_tokens([tok])
        status[s.token] = "added"
    resized = False
    if len(tokenizer) > rows_before:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        resized = True
    emb = model.get_input_embeddings().weight
    out_w = None if tied else model.get_output_embeddings().weight

    # 3. write the rows
    result = InitResult(tied=tied, resized=resized, vocab_before=vocab_before, vocab_after=len(tokenizer),
                        rows_before=rows_before, rows_after=emb.shape[0])
    with torch.no_grad():
        for s, ids, (vec, mean, target), out_plan in plans:
            tid = tokenizer.convert_tokens_to_ids(s.token)
            emb[tid] = vec.to(emb.dtype)
            written = emb[tid].detach().to(torch.float32)
            rep = TokenReport(
                token=s.token, id=int(tid), status=status[s.token], source_ids=ids, target_norm=target,
                norm=float(written.norm()), cos_to_source_mean=float(torch.nn.functional.cosine_similarity(
                    written, mean, dim=0)),
            )
            if out_plan is not None:
                ovec, omean, otarget = out_plan
                out_w[tid] = ovec.to(out_w.dtype)
                owritten = out_w[tid].detach().to(torch.float32)
                rep.lm_head_target_norm = otarget
                rep.lm_head_norm = float(owritten.norm())
                rep.lm_head_cos_to_source_mean = float(torch.nn.functional.cosine_similarity(owritten, omean, dim=0))
            result.tokens.append(rep)
    return result


def format_table(result: InitResult) -> str:
    head = (f"tied={result.tied} resized={result.resized} vocab {result.vocab_before}->{result.vocab_after} "
            f"rows {result.rows_before}->{result.rows_after}")
    cols = f"{'token':<14} {'id':>7} {'status':<8} {'sources':<22} {'target':>9} {'norm':>9} {'cos':>7}"
    if not result.tied:
        cols += f" {'head_tgt':>9} {'head_norm':>9} {'head_cos':>8}"
    lines = [head, cols]
    for r in result.tokens:
        line = (f"{r.token:<14} {r.id:>7} {r.status:<8} {str(r.source_ids):<22} {r.target_norm:>9.5f} "
                f"{r.norm:>9.5f} {r.cos_to_source_mean:>7.4f}")
        if not result.tied:
            line += f" {r.lm_head_target_norm:>9.5f} {r.lm_head_norm:>9.5f} {r.lm_head_cos_to_source_mean:>8.4f}"
        lines.append(line)
    return "\n".join(lines)


def resolve_chat_template(choice: str, tokenizer: Any) -> str | None:
    if choice == "keep":
        return tokenizer.chat_template
    if choice == "cm2":
        return CHAT_TEMPLATE.read_text()
    return Path(choice).read_text()


def run_init(model_dir: str | Path, out_dir: str | Path, *, spec: str | Path = TOKEN_SPEC, sigma: float | None = None,
             seed: int | None = None, chat_template: str = "cm2") -> InitResult:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    specs, defaults = load_spec(spec)
    sigma = float(defaults.get("sigma", 0.005) if sigma is None else sigma)
    seed = int(defaults.get("seed", 0) if seed is None else seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    result = init_tokens(model, tokenizer, specs, sigma=sigma, seed=seed)
    template = resolve_chat_template(chat_template, tokenizer)
    if template is not None:
        tokenizer.chat_template = template
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    report = {"model": str(model_dir), "spec": str(spec), "sigma": sigma, "seed": seed,
              "chat_template": chat_template, **asdict(result)}
    (out / "init_tokens.json").write_text(json.dumps(report, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.sft.init_tokens", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="HF checkpoint directory (model + tokenizer)")
    p.add_argument("--out", required=True, help="output checkpoint directory")
    p.add_argument("--spec", default=str(TOKEN_SPEC), help="token spec YAML (default: conf/train/sft_tokens.yaml)")
    p.add_argument("--sigma", type=float, default=None, help="noise std (default: the spec's, 0.005)")
    p.add_argument("--seed", type=int, default=None, help="noise seed (default: the spec's, 0)")
    p.add_argument("--chat-template", default="cm2",
                   help="cm2 (train/sft/chat_template.jinja, default) | keep (the source's) | a .jinja file")
    args = p.parse_args(argv)
    result = run_init(args.model, args.out, spec=args.spec, sigma=args.sigma, seed=args.seed,
                      chat_template=args.chat_template)
    print(format_table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
