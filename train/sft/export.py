"""Export cold-start trajectories to LLaMA-Factory's sharegpt format (``cm2 data to-sft``).

    cm2 data to-sft --in starter --out data/sft --tokenizer /ckpt/qwen3-8b-inittag
    cm2 data to-sft --in data/pipeline/sft.jsonl --out data/sft --cutoff-len 12000
    python -m train.sft.export --in tasks.json --out data/sft          # the same, without the cm2 CLI

``--in`` is a bundled suite name or task file (each task's ``reference`` trajectory, after its system prompt,
is one sample), or a JSONL of normalised conversation records (``{id, messages, tools}``: the data pipeline's
SFT set, see ``cm2_env/data/record.py``). The output directory gets:

- ``cm2_sft.json``: sharegpt samples ``{id, system, tools, conversations: [{from, value}]}``, roles ``human`` /
  ``gpt`` / ``function_call`` / ``observation``; ``tools`` is the OpenAI tool list as JSON text;
- ``dataset_info.json``: the dataset entry LLaMA-Factory reads (``dataset_dir`` = the output directory,
  ``dataset`` = ``cm2_sft``);
- ``stats.json``: sample/turn counts, token-length statistics with ``--tokenizer`` (its chat template, which
  for the project's template is what LLaMA-Factory's ``qwen3`` template encodes) and how many samples are
  longer than ``--cutoff-len`` (LLaMA-Factory would truncate them mid-conversation);
- ``rejected.jsonl``: samples that cannot be expressed, each with its reason (nothing is dropped silently).

Conversion (what LLaMA-Factory's ``qwen3`` template expects, so that it renders the text the RL agent loop
sees — asserted by tests/train/sft/test_drift.py):

- an assistant message with ``tool_calls`` becomes one ``function_call`` whose value is the message text (think
  block and any visible text, kept as written) followed by ``<tool_call>\\n[calls as JSON]\\n</tool_call>``:
  LLaMA-Factory keeps the text outside the tag and renders each call of the list as its own ``<tool_call>``
  block (parallel calls stay one message);
- consecutive tool results become one ``observation``, joined with ``\\n</tool_response>\\n<tool_response>\\n``
  (one user turn holding several ``<tool_response>`` blocks, as Qwen renders them);
- think blocks are kept in every assistant message (CM2's cold-start data has one per message); a message
  without one gets an empty ``<think>\\n\\n</think>\\n\\n`` — exactly what LLaMA-Factory's qwen3 template
  would insert (and train on) — so the exported text, the chat template and LLaMA-Factory agree
  (``--no-empty-think`` leaves such messages as they are);
- trailing messages after the last assistant message are dropped (a sample ends with the model speaking).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import DATASET_NAME

EMPTY_THINK = "<think>\n\n</think>\n\n"
RESPONSE_SEP = "\n</tool_response>\n<tool_response>\n"
DEFAULT_CUTOFF = 12000


class SampleError(ValueError):
    """A conversation that cannot be expressed as a LLaMA-Factory sharegpt sample."""


@dataclass
class Conversation:
    id: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]


@dataclass
class ExportResult:
    samples: list[dict[str, Any]] = field(default_factory=list)
    normalised: list[Conversation] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- reading


def _is_records_file(path: Path) -> bool:
    if path.suffix != ".jsonl":
        return False
    with path.open() as fh:
        for line in fh:
            if line.strip():
                obj = json.loads(line)
                return isinstance(obj, dict) and "messages" in obj
    return False


def read_conversations(source: str | Path) -> list[Conversation]:
    """Task references (suite name / task file) or normalised records (JSONL) as conversations."""
    path = Path(str(source))
    if path.is_file() and _is_records_file(path):
        out = []
        with path.open() as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    rec = json.loads(line)
                    out.append(Conversation(str(rec.get("id") or f"line-{n}"), list(rec["messages"]),
                                            list(rec.get("tools") or [])))
        return out
    from cm2_env.tasks import resolve_tasks

    out = []
    for task in resolve_tasks(str(source)):
        if not task.reference:
            continue
        msgs = [{"role": "system", "content": task.system_prompt}] if task.system_prompt else []
        msgs += [m.model_dump(exclude_none=True) for m in task.reference]
        out.append(Conversation(task.id, msgs, list(task.tools)))
    return out


# ------------------------------------------------------------------------------------------- converting


def _arguments(call: dict[str, Any]) -> tuple[str, Any]:
    fn = call.get("function", call)
    name, args = fn.get("name"), fn.get("arguments", {})
    if not isinstance(name, str) or not name:
        raise SampleError(f"tool call without a name: {call!r}")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as e:
            raise SampleError(f"tool call {name}: arguments are not JSON ({e})") from None
    return name, args


def _with_think(content: str, empty_think: bool) -> str:
    if empty_think and "<think>" not in content and "</think>" not in content:
        return EMPTY_THINK + content
    return content


def normalise(conv: Conversation, *, empty_think: bool = True) -> Conversation:
    """The conversation as it will be trained: arguments parsed, empty think blocks added, trailing
    non-assistant messages dropped. Raises :class:`SampleError` when it cannot be a sharegpt sample."""
    msgs = [dict(m) for m in conv.messages]
    while msgs and msgs[-1].get("role") != "assistant":
        msgs.pop()
    if not any(m.get("role") == "assistant" for m in msgs):
        raise SampleError("no assistant message")
    out = []
    for i, m in enumerate(msgs):
        role = m.get("role")
        content = m.get("content") if isinstance(m.get("content"), str) else ""
        if role == "system":
            if i != 0:
                raise SampleError(f"system message at position {i} (only a leading one is supported)")
            out.append({"role": "system", "content": content})
        elif role == "assistant":
            if "<tool_call>" in content or "</tool_call>" in content:
                raise SampleError(f"message {i}: <tool_call> markup inside the assistant text")
            new = {"role": "assistant", "content": _with_think(content, empty_think)}
            if m.get("tool_calls"):
                new["tool_calls"] = [{"type": "function", "function": dict(zip(("name", "arguments"), _arguments(c)))}
                                     for c in m["tool_calls"]]
            out.append(new)
        elif role in ("user", "tool"):
            out.append({"role": role, "content": content})
        else:
            raise SampleError(f"message {i}: unknown role {role!r}")
    return Conversation(conv.id, out, conv.tools)


def _function_value(msg: dict[str, Any]) -> str:
    content = msg.get("content") or ""
    calls = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in msg["tool_calls"]]
    visible = content.split("</think>")[-1].strip()
    sep = "\n" if visible else ""
    return content + sep + "<tool_call>\n" + json.dumps(calls, ensure_ascii=False) + "\n</tool_call>"


def to_sharegpt(conv: Conversation) -> dict[str, Any]:
    """A normalised conversation as one LLaMA-Factory sharegpt sample (roles alternate human|observation /
    gpt|function_call, starting with human, ending with the model)."""
    msgs = conv.messages
    system = ""
    if msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0]["content"], msgs[1:]
    turns: list[dict[str, str]] = []
    i = 0
    while i < len(msgs):
        m = msgs[i]
        if m["role"] == "tool":
            j = i
            while j < len(msgs) and msgs[j]["role"] == "tool":
                j += 1
            turns.append({"from": "observation", "value": RESPONSE_SEP.join(x["content"] for x in msgs[i:j])})
            i = j
            continue
        if m["role"] == "user":
            turns.append({"from": "human", "value": m["content"]})
        elif m.get("tool_calls"):
            turns.append({"from": "function_call", "value": _function_value(m)})
        else:
            turns.append({"from": "gpt", "value": m["content"]})
        i += 1
    odd, even = ("human", "observation"), ("gpt", "function_call")
    for k, t in enumerate(turns):
        if t["from"] not in (odd if k % 2 == 0 else even):
            want = "a user message or tool results" if k % 2 == 0 else "an assistant message"
            raise SampleError(f"turn {k} is {t['from']}, LLaMA-Factory needs {want} there (roles must alternate)")
    if not turns or len(turns) % 2:
        raise SampleError("the conversation must end with an assistant message")
    return {"id": conv.id, "system": system, "tools": json.dumps(conv.tools, ensure_ascii=False) if conv.tools else "",
            "conversations": turns}


def dataset_info(file_name: str = f"{DATASET_NAME}.json", name: str = DATASET_NAME) -> dict[str, Any]:
    return {name: {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"},
    }}


# ------------------------------------------------------------------------------------------- stats


def token_lengths(convs: Iterable[Conversation], tokenizer: Any) -> list[int]:
    """Tokens of each conversation as the tokenizer's chat template renders it (the trained sequence)."""
    out = []
    for c in convs:
        ids = tokenizer.apply_chat_template(c.messages, tools=c.tools or None, tokenize=True,
                                            add_generation_prompt=False, return_dict=False)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        out.append(len(ids))
    return out


def length_stats(lengths: list[int], cutoff: int) -> dict[str, Any]:
    if not lengths:
        return {"count": 0}
    s = sorted(lengths)
    q = lambda p: s[min(len(s) - 1, int(round(p * (len(s) - 1))))]  # noqa: E731
    return {"count": len(s), "mean": round(statistics.fmean(s), 1), "min": s[0], "p50": q(0.5), "p90": q(0.9),
            "p95": q(0.95), "p99": q(0.99), "max": s[-1], "cutoff_len": cutoff,
            "over_cutoff": sum(1 for n in s if n > cutoff)}


# ------------------------------------------------------------------------------------------- export


def export(source: str | Path, out_dir: str | Path, *, tokenizer: str | Any | None = None,
           cutoff_len: int = DEFAULT_CUTOFF, empty_think: bool = True, limit: int | None = None,
           name: str = DATASET_NAME) -> ExportResult:
    convs = read_conversations(source)
    if limit is not None:
        convs = convs[:limit]
    res = ExportResult()
    for c in convs:
        try:
            norm = normalise(c, empty_think=empty_think)
            sample = to_sharegpt(norm)
        except SampleError as e:
            res.rejected.append({"id": c.id, "reason": str(e)})
            continue
        res.samples.append(sample)
        res.normalised.append(norm)
    turns = [sum(1 for t in s["conversations"] if t["from"] in ("gpt", "function_call")) for s in res.samples]
    res.stats = {"source": str(source), "samples": len(res.samples), "rejected": len(res.rejected),
                 "assistant_messages": sum(turns),
                 "tool_call_messages": sum(1 for s in res.samples for t in s["conversations"]
                                           if t["from"] == "function_call"),
                 "with_think": sum(1 for s in res.samples for t in s["conversations"]
                                   if t["from"] in ("gpt", "function_call") and "<think>" in t["value"])}
    if tokenizer is not None:
        if isinstance(tokenizer, (str, Path)):
            from transformers import AutoTokenizer

            res.stats["tokenizer"] = str(tokenizer)
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
        lengths = token_lengths(res.normalised, tokenizer)
        res.stats["tokens"] = length_stats(lengths, cutoff_len)
        res.stats["over_cutoff_ids"] = [s["id"] for s, n in zip(res.samples, lengths) if n > cutoff_len]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res.samples, ensure_ascii=False, indent=1))
    (out / "dataset_info.json").write_text(json.dumps(dataset_info(f"{name}.json", name), indent=2))
    (out / "stats.json").write_text(json.dumps(res.stats, indent=2))
    with (out / "rejected.jsonl").open("w") as fh:
        for r in res.rejected:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return res


def summary_text(res: ExportResult, out_dir: str | Path) -> str:
    st = res.stats
    lines = [f"wrote {st['samples']} samples to {out_dir} ({st['rejected']} rejected, see rejected.jsonl); "
             f"{st['assistant_messages']} assistant messages, {st['tool_call_messages']} with tool calls, "
             f"{st['with_think']} with a think block"]
    tok = st.get("tokens")
    if tok and tok.get("count"):
        lines.append(f"tokens: mean {tok['mean']} p50 {tok['p50']} p95 {tok['p95']} max {tok['max']}; "
                     f"{tok['over_cutoff']} sample(s) longer than cutoff_len={tok['cutoff_len']} would be cut")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- CLI


def add_parser(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--in", dest="source", required=True,
                    help="suite name or task file (its references), or a JSONL of conversation records")
    sp.add_argument("--out", required=True, help="output directory (sharegpt JSON + dataset_info.json)")
    sp.add_argument("--tokenizer", default=None, help="HF tokenizer directory for token-length statistics")
    sp.add_argument("--cutoff-len", type=int, default=DEFAULT_CUTOFF,
                    help=f"count samples longer than this (LLaMA-Factory cutoff_len; default {DEFAULT_CUTOFF})")
    sp.add_argument("--limit", type=int, default=None, help="export at most this many conversations")
    sp.add_argument("--name", default=DATASET_NAME, help=f"dataset name in dataset_info.json ({DATASET_NAME})")
    sp.add_argument("--no-empty-think", action="store_true",
                    help="do not add an empty think block to assistant messages without one")


def run(args: argparse.Namespace) -> int:
    res = export(args.source, args.out, tokenizer=args.tokenizer, cutoff_len=args.cutoff_len,
                 empty_think=not args.no_empty_think, limit=args.limit, name=args.name)
    print(summary_text(res, args.out))
    return 0 if res.samples else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.sft.export", description=__doc__.split("\n\n")[0])
    add_parser(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
