"""Convert tool-calling conversations into normalised records (:mod:`cm2_env.data.record`), one per line.

    cm2 data convert raw.parquet --out converted.jsonl [--format auto|nemotron|openai|sharegpt|cm2|task|record]

INPUT is a file (``.jsonl``/``.ndjson``, ``.json``, ``.parquet``), a directory (every such file under it, in
name order) or a glob (``'data/tool-*.parquet'``); every input streams (JSONL line by line, a JSON array
element by element, parquet in row batches), so memory does not grow with the file. Shapes, detected per row
(``--format auto``) or named:

- ``nemotron``: NVIDIA Nemotron-Post-Training-Dataset-v1 tool-calling rows: ``uuid``, ``messages``,
  ``metadata`` (a JSON string holding ``tools``); the other columns are kept in ``meta.extra``;
- ``openai``: ``{messages, tools}`` (``id``/``uuid`` optional), OpenAI chat messages;
- ``sharegpt``: ShareGPT / LLaMA-Factory: ``conversations`` of ``{from, value}`` (or ``{role, content}``) with
  ``human``/``gpt``/``function_call``/``observation``/``system``, ``tools`` (list or JSON text), optional
  ``system``; hermes ``<tool_call>`` blocks in assistant text (the CM2 authors' SFT export) become tool calls;
- ``cm2``: the CM2 authors' labelled format ``{uuid, messages, tools, checklists}`` (checklists kept);
- ``task``: a cm2 task (``turns``, ``reference``; a ``{"tasks": [...]}`` document too): its reference
  trajectory, with its checklists;
- ``record``: an already normalised record (``id``, ``source``), re-normalised.

Normalising: ``tool_calls`` become ``[{id, type: function, function: {name, arguments (JSON text)}}]`` (a
missing call id is made up from the position, a call written as text or Python repr is parsed), an empty
``tool_calls`` list is dropped, a tool message without ``tool_call_id`` gets its call's id by order, tools
given as bare function schemas get the OpenAI wrapper, a ``reasoning_content`` field becomes the message's
``<think>`` block. What the rule filter judges (roles, think tags, argument validity...) is left as found.

A row that cannot be read or converted goes to the rejected file with its file, line/row and reason (the run
goes on); a second row with an id already seen is rejected as ``duplicate_id``. Ids are the source's own
(``uuid``/``id``), else a hash of the content, so the same conversation always gets the same id.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator, Literal

from .io import DataError, StageOutput, raw_text
from .record import record_id
from .stage import StageOptions, StageSpec

Format = Literal["auto", "nemotron", "openai", "sharegpt", "cm2", "task", "record"]
FORMATS = ("nemotron", "openai", "sharegpt", "cm2", "task", "record")
SUFFIXES = (".jsonl", ".ndjson", ".json", ".parquet")


class ConvertError(ValueError):
    """A row that cannot become a record (the message is the rejection reason)."""


class Options(StageOptions):
    format: Format = "auto"
    """Input shape: auto (detected per row) or one of nemotron, openai, sharegpt, cm2, task, record."""
    require_tools: bool = True
    """Reject a conversation that comes without any tools list."""
    dedupe: bool = True
    """Reject a row whose id an earlier row already had (keeps one set of ids in memory)."""
    reasoning_to_think: bool = True
    """Put an assistant's separate reasoning_content into its content as a <think> block."""
    batch_size: int = 512
    """Parquet rows read at a time."""


# ============================================================================================ reading


def input_files(inp: str | os.PathLike) -> list[Path]:
    """The files an INPUT names: the file, the data files under a directory, or a glob's matches."""
    p = Path(inp)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(SUFFIXES))
    else:
        files = sorted(Path(f) for f in glob.glob(str(inp), recursive=True) if Path(f).is_file())
    if not files:
        raise DataError(f"{inp}: no such file (nor a directory or glob with {', '.join(SUFFIXES)} files)")
    return files


Item = tuple[dict[str, Any], Any, str | None]
"""(where: {file, line|row|index}, value, error)."""


def iter_rows(path: Path, batch_size: int = 512) -> Iterator[Item]:
    """The rows of one input file: (where, value, None) or (where, None, why it could not be read)."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _parquet_rows(path, batch_size)
    elif name.endswith(".json"):
        yield from _json_rows(path)
    else:
        from .io import iter_jsonl

        for row in iter_jsonl(path):
            where = {"file": str(path), "line": row.line}
            if row.error is not None:
                yield where, raw_text(row.raw), row.error
            else:
                yield where, row.value, None


def _parquet_rows(path: Path, batch_size: int) -> Iterator[Item]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading parquet needs pyarrow (pip install pyarrow)") from None
    n = 0
    try:
        pf = pq.ParquetFile(str(path))
        for batch in pf.iter_batches(batch_size=max(1, batch_size)):
            for value in batch.to_pylist():
                yield {"file": str(path), "row": n}, value, None
                n += 1
    except Exception as e:  # noqa: BLE001 - a corrupt file is reported, the run goes on with the next
        why = f"row {n}: parquet unreadable from here on ({type(e).__name__}: {str(e)[:200]})"
        yield {"file": str(path), "row": n}, None, why


_WS = " \t\r\n"
_CHUNK = 1 << 20
_MAX_ELEMENT = 256 << 20


def _json_rows(path: Path) -> Iterator[Item]:
    """A JSON document's records: a top-level array streams element by element; an object is one record,
    or, with a ``tasks`` list, a task document (read whole — task files are small)."""
    decoder = json.JSONDecoder()
    where = {"file": str(path), "index": 0}
    try:
        fh = path.open("r", encoding="utf-8-sig")
    except OSError as e:
        yield where, None, f"cannot read: {e}"
        return
    with fh:
        buf = ""
        pos = 0
        eof = False

        def fill() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            chunk = fh.read(_CHUNK)
            if not chunk:
                eof = True
                return False
            buf = buf[pos:] + chunk
            pos = 0
            return True

        def skip_ws() -> str | None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in _WS:
                    pos += 1
                if pos < len(buf):
                    return buf[pos]
                if not fill():
                    return None

        try:
            first = skip_ws()
            if first is None:
                return
            if first != "[":
                while fill():
                    pass
                try:
                    doc = json.loads(buf[pos:])
                except (ValueError, RecursionError) as e:
                    yield where, None, f"not JSON ({str(e)[:200]})"
                    return
                if isinstance(doc, dict) and isinstance(doc.get("tasks"), list):
                    for i, t in enumerate(doc["tasks"]):
                        yield {"file": str(path), "index": i}, t, None if isinstance(t, dict) else \
                            f"tasks[{i}] is a {type(t).__name__}, not an object"
                elif isinstance(doc, dict):
                    yield where, doc, None
                else:
                    yield where, None, f"a JSON {type(doc).__name__}, not an array or object"
                return
            pos += 1
            i = 0
            while True:
                c = skip_ws()
                if c is None:
                    yield {"file": str(path), "index": i}, None, f"element {i}: the array is not closed (file cut?)"
                    return
                if c == "]":
                    return
                if i > 0:
                    if c != ",":
                        yield {"file": str(path), "index": i}, None, f"element {i}: expected ',' between elements"
                        return
                    pos += 1
                    c = skip_ws()
                    if c is None:
                        yield {"file": str(path), "index": i}, None, f"element {i}: the array is not closed"
                        return
                while True:
                    try:
                        value, end = decoder.raw_decode(buf, pos)
                        break
                    except json.JSONDecodeError as e:
                        if len(buf) - pos > _MAX_ELEMENT or not fill():
                            yield ({"file": str(path), "index": i}, None,
                                   f"element {i}: not JSON ({e.msg}); the rest of the file cannot be read")
                            return
                    except RecursionError:
                        yield {"file": str(path), "index": i}, None, f"element {i}: nested too deeply"
                        return
                pos = end
                here = {"file": str(path), "index": i}
                if isinstance(value, dict):
                    yield here, value, None
                else:
                    yield here, None, f"element {i}: a JSON {type(value).__name__}, not an object"
                i += 1
        except UnicodeDecodeError as e:
            yield where, None, f"not UTF-8 text ({e.reason})"


# ========================================================================================= detecting


_SG_ONLY = frozenset({"human", "gpt", "observation", "function_call"})


def detect_format(row: dict[str, Any]) -> str:
    """The shape of one row (see the module docstring); raises :class:`ConvertError` when none fits."""
    if "conversations" in row:
        return "sharegpt"
    if "turns" in row:
        return "task"
    if "messages" in row:
        msgs = row["messages"]
        if isinstance(msgs, list) and any(isinstance(m, dict) and m.get("role", m.get("from")) in _SG_ONLY
                                          for m in msgs):
            return "sharegpt"  # LLaMA-Factory's sharegpt with role/content tags under "messages"
        if isinstance(row.get("source"), dict) and isinstance(row.get("id"), str):
            return "record"
        if "checklists" in row:
            return "cm2"
        if "metadata" in row and "tools" not in row:
            return "nemotron"
        return "openai"
    keys = ", ".join(sorted(map(str, row))[:12])
    raise ConvertError(f"unknown_format: no messages, conversations or turns (keys: {keys or 'none'})")


# ======================================================================================= normalising


def _parse_text(value: str, what: str) -> Any:
    """A JSON text, else a Python literal (some dumps hold ``str(list)``)."""
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ConvertError(f"{what} is text that is neither JSON nor a Python literal: {value[:120]!r}") from None


def _content(value: Any) -> Any:
    """OpenAI content parts → text; text and None stay; anything else stays for the filter to judge."""
    if isinstance(value, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    return value


def _arguments(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def norm_call(call: Any, where: str) -> dict[str, Any]:
    if isinstance(call, str):
        call = _parse_text(call, where)
    if not isinstance(call, dict):
        raise ConvertError(f"tool_calls: {where} is a {type(call).__name__}, not an object")
    call = dict(call)
    fn = call.get("function")
    if fn is None and "name" in call:  # {"name", "arguments"} without the wrapper
        fn = {"name": call.pop("name"), "arguments": call.pop("arguments", call.pop("parameters", {}))}
    if isinstance(fn, str):
        fn = _parse_text(fn, f"{where} function")
    if not isinstance(fn, dict):
        raise ConvertError(f"tool_calls: {where} has no function")
    fn = dict(fn)
    if "arguments" in fn:
        fn["arguments"] = _arguments(fn["arguments"])
    elif "parameters" in fn:
        fn["arguments"] = _arguments(fn.pop("parameters"))
    call["function"] = fn
    call.setdefault("type", "function")
    return call


def norm_messages(messages: Any, *, reasoning_to_think: bool = True) -> list[dict[str, Any]]:
    """OpenAI chat messages, normalised (see the module docstring); raises :class:`ConvertError`."""
    if isinstance(messages, str):
        messages = _parse_text(messages, "messages")
    if isinstance(messages, tuple):
        messages = list(messages)
    if not isinstance(messages, list):
        raise ConvertError(f"malformed: messages is a {type(messages).__name__}, not a list")
    out: list[dict[str, Any]] = []
    pending: list[str] = []  # call ids of the last assistant message still waiting for their tool message
    for j, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ConvertError(f"malformed: message {j} is a {type(m).__name__}, not an object")
        m = dict(m)
        if "content" in m:
            m["content"] = _content(m["content"])
        calls = m.get("tool_calls")
        if isinstance(calls, str):
            calls = _parse_text(calls, f"message {j} tool_calls") if calls.strip() else []
        if calls is None or calls == []:
            m.pop("tool_calls", None)
            calls = []
        elif not isinstance(calls, list):
            raise ConvertError(f"tool_calls: message {j} tool_calls is a {type(calls).__name__}, not a list")
        else:
            calls = [norm_call(c, f"message {j} call {k}") for k, c in enumerate(calls)]
            for k, c in enumerate(calls):
                if not isinstance(c.get("id"), str) or not c["id"]:
                    c["id"] = f"call_{j}_{k}"
            m["tool_calls"] = calls
        role = m.get("role")
        if role == "assistant":
            rc = m.pop("reasoning_content", None) if reasoning_to_think else None
            if isinstance(rc, str) and rc.strip():
                text = m.get("content") if isinstance(m.get("content"), str) else ""
                if "<think>" not in text:
                    block = f"<think>\n{rc.strip()}\n</think>"
                    m["content"] = f"{block}\n\n{text}" if text else block
            pending = [c["id"] for c in calls]
        elif role == "tool":
            if not m.get("tool_call_id") and pending:
                m["tool_call_id"] = pending[0]
            if m.get("tool_call_id") in pending:
                pending.remove(m["tool_call_id"])
        else:
            pending = []
        out.append(m)
    return out


def norm_tools(tools: Any) -> list[Any]:
    if isinstance(tools, str):
        tools = _parse_text(tools, "tools") if tools.strip() else []
    if isinstance(tools, tuple):
        tools = list(tools)
    if isinstance(tools, dict):  # one tool
        tools = [tools]
    if not isinstance(tools, list):
        raise ConvertError(f"malformed: tools is a {type(tools).__name__}, not a list")
    out = []
    for t in tools:
        if isinstance(t, str):
            try:
                t = _parse_text(t, "a tool")
            except ConvertError:
                pass
        if isinstance(t, dict) and "function" not in t and isinstance(t.get("name"), str):
            t = {"type": "function", "function": t}
        out.append(t)
    return out


# ------------------------------------------------------------------------------------------ formats


def _rid(row: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = row.get(k)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
            return str(v)
    return None


def _from_nemotron(row: dict[str, Any], o: Options) -> dict[str, Any]:
    meta = row.get("metadata")
    if isinstance(meta, str):
        try:
            meta = json.loads(meta) if meta.strip() else {}
        except ValueError as e:
            raise ConvertError(f"malformed: metadata is not JSON ({str(e)[:120]})") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ConvertError(f"malformed: metadata is a {type(meta).__name__}, not an object")
    if "tools" not in meta:
        if o.require_tools:
            raise ConvertError("no_tools: metadata holds no tools")
    extra = {k: v for k, v in row.items() if k not in ("uuid", "messages", "metadata")}
    extra.update({f"metadata.{k}": v for k, v in meta.items() if k != "tools"})
    return {"original_id": _rid(row, "uuid", "id"), "messages": row.get("messages"),
            "tools": meta.get("tools", []), "extra": extra}


def _from_openai(row: dict[str, Any], o: Options) -> dict[str, Any]:
    if "tools" not in row and o.require_tools:
        raise ConvertError("no_tools: the row has no tools")
    extra = {k: v for k, v in row.items() if k not in ("id", "uuid", "messages", "tools")}
    return {"original_id": _rid(row, "id", "uuid"), "messages": row.get("messages"),
            "tools": row.get("tools") or [], "extra": extra}


def _from_cm2(row: dict[str, Any], o: Options) -> dict[str, Any]:
    got = _from_openai(row, o)
    got["original_id"] = _rid(row, "uuid", "id")
    got["extra"].pop("checklists", None)
    checklists = row.get("checklists")
    if checklists is not None and not isinstance(checklists, list):
        raise ConvertError("malformed: checklists is not a list of variants")
    got["checklists"] = checklists
    return got


def _from_record(row: dict[str, Any], o: Options) -> dict[str, Any]:
    got = _from_cm2(row, o) if "checklists" in row else _from_openai(row, o)
    got["original_id"] = row["id"]
    got["source"] = row.get("source")
    got["meta"] = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    for k in ("source", "meta"):
        got["extra"].pop(k, None)
    return got


def _from_task(row: dict[str, Any], o: Options) -> dict[str, Any]:
    ref = row.get("reference")
    if not isinstance(ref, list) or not ref:
        raise ConvertError("no_reference: the task has no reference trajectory to convert")
    messages = list(ref)
    if row.get("system_prompt"):
        messages.insert(0, {"role": "system", "content": row["system_prompt"]})
    turns = row.get("turns") if isinstance(row.get("turns"), list) else []
    variants = row.get("checklist_variants") or [[t.get("checklist") or [] for t in turns if isinstance(t, dict)]]
    has_items = any(isinstance(turn, list) and turn for v in variants if isinstance(v, list) for turn in v)
    extra = {k: row[k] for k in ("domain", "metadata", "user") if k in row}
    if "tools" not in row and o.require_tools:
        raise ConvertError("no_tools: the task has no tools")
    return {"original_id": _rid(row, "id"), "messages": messages, "tools": row.get("tools") or [],
            "checklists": variants if has_items else None, "extra": extra}


_SG_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
             "system": "system", "observation": "tool", "tool": "tool", "function": "tool",
             "function_call": "function_call"}
_TOOL_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_OBS_SEP = "\n</tool_response>\n<tool_response>\n"


def _sg_calls(value: Any, j: int) -> list[dict[str, Any]]:
    v = _parse_text(value, f"function_call at {j}") if isinstance(value, str) else value
    items = v if isinstance(v, list) else [v]
    return [norm_call(c, f"function_call at {j} call {k}") for k, c in enumerate(items)]


def _text_calls(text: str, j: int) -> tuple[str, list[dict[str, Any]]]:
    """Hermes ``<tool_call>{json}</tool_call>`` blocks after the think block → (text without them, calls)."""
    head, sep, tail = text.rpartition("</think>")
    body = tail if sep else text
    blocks = _TOOL_CALL_BLOCK.findall(body)
    if not blocks:
        return text, []
    calls = []
    for k, b in enumerate(blocks):
        try:
            obj = json.loads(b)
        except ValueError as e:
            raise ConvertError(f"tool_calls: <tool_call> block {k} of message {j} is not JSON "
                               f"({str(e)[:80]})") from None
        calls.append(norm_call(obj, f"message {j} call {k}"))
    body = _TOOL_CALL_BLOCK.sub("", body).rstrip()
    return (head + sep + body) if sep else body, calls


def _from_sharegpt(row: dict[str, Any], o: Options) -> dict[str, Any]:
    conv = row.get("conversations", row.get("messages"))
    if isinstance(conv, str):
        conv = _parse_text(conv, "conversations")
    if not isinstance(conv, list):
        raise ConvertError(f"malformed: conversations is a {type(conv).__name__}, not a list")
    messages: list[dict[str, Any]] = []
    if isinstance(row.get("system"), str) and row["system"]:
        messages.append({"role": "system", "content": row["system"]})
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise ConvertError(f"malformed: conversations[{j}] is a {type(turn).__name__}, not an object")
        who = turn.get("from", turn.get("role"))
        value = turn.get("value", turn.get("content"))
        role = _SG_ROLES.get(who) if isinstance(who, str) else None
        if role is None:
            raise ConvertError(f"malformed: conversations[{j}] has unknown speaker {who!r}")
        if role == "function_call":
            calls = _sg_calls(value, j)
            prev = messages[-1] if messages else None
            if prev is not None and prev["role"] == "assistant" and not prev.get("tool_calls"):
                prev["tool_calls"] = calls  # a gpt text turn right before its call: one assistant message
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        elif role == "tool":
            prev_calls = next((m.get("tool_calls") or [] for m in reversed(messages) if m["role"] == "assistant"), [])
            parts = [value]
            if len(prev_calls) > 1 and isinstance(value, str):
                try:
                    as_list = json.loads(value)
                except ValueError:
                    as_list = None
                if isinstance(as_list, list) and len(as_list) == len(prev_calls):
                    parts = [p if isinstance(p, str) else json.dumps(p, ensure_ascii=False) for p in as_list]
                elif value.count(_OBS_SEP) == len(prev_calls) - 1:
                    parts = value.split(_OBS_SEP)
            messages.extend({"role": "tool", "content": p} for p in parts)
        elif role == "assistant" and isinstance(value, str) and "<tool_call>" in value:
            text, calls = _text_calls(value, j)
            messages.append({"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})})
        else:
            messages.append({"role": role, "content": value})
    if "tools" not in row and o.require_tools:
        raise ConvertError("no_tools: the row has no tools")
    extra = {k: v for k, v in row.items() if k not in ("id", "uuid", "conversations", "messages", "tools", "system")}
    return {"original_id": _rid(row, "id", "uuid"), "messages": messages, "tools": row.get("tools") or [],
            "extra": extra}


_READERS = {"nemotron": _from_nemotron, "openai": _from_openai, "sharegpt": _from_sharegpt, "cm2": _from_cm2,
            "task": _from_task, "record": _from_record}


def convert_row(row: Any, options: Options | None = None, where: dict[str, Any] | None = None) -> dict[str, Any]:
    """One input row → one normalised record; raises :class:`ConvertError` with the rejection reason."""
    o = options or Options()
    if not isinstance(row, dict):
        raise ConvertError(f"malformed: a {type(row).__name__}, not an object")
    fmt = detect_format(row) if o.format == "auto" else o.format
    try:
        got = _READERS[fmt](row, o)
        messages = norm_messages(got["messages"], reasoning_to_think=o.reasoning_to_think)
        tools = norm_tools(got["tools"])
    except ConvertError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ConvertError(f"malformed: not a {fmt} row ({type(e).__name__}: {str(e)[:160]})") from None
    rid = got["original_id"] or record_id(messages, tools, prefix=fmt)
    source = {"format": fmt, **(where or {})}
    if got["original_id"] is not None:
        source["original_id"] = got["original_id"]
    if isinstance(got.get("source"), dict):  # a record: its first provenance stays
        source = {**got["source"], "reconverted_from": where} if where else got["source"]
    meta = dict(got.get("meta") or {})
    if got.get("extra"):
        meta["extra"] = {**meta.get("extra", {}), **got["extra"]}
    rec: dict[str, Any] = {"id": rid, "messages": messages, "tools": tools, "source": source, "meta": meta}
    if got.get("checklists") is not None:
        rec["checklists"] = got["checklists"]
    return rec


# ============================================================================================= writing


def to_openai(record: dict[str, Any]) -> dict[str, Any]:
    return {"id": record["id"], "messages": record["messages"], "tools": record["tools"]}


def to_nemotron(record: dict[str, Any]) -> dict[str, Any]:
    return {"uuid": record["id"], "messages": record["messages"], "metadata": json.dumps({"tools": record["tools"]})}


def to_cm2(record: dict[str, Any]) -> dict[str, Any]:
    return {"uuid": record["id"], "messages": record["messages"], "tools": record["tools"],
            "checklists": record.get("checklists") or []}


def to_sharegpt(record: dict[str, Any]) -> dict[str, Any]:
    """ShareGPT / LLaMA-Factory: human/gpt/function_call/observation; parallel results as one observation
    holding a JSON list of the result texts."""
    conv: list[dict[str, Any]] = []
    system = None
    msgs = record["messages"]
    j = 0
    while j < len(msgs):
        m = msgs[j]
        role = m.get("role")
        if role == "system" and j == 0:
            system = m.get("content")
        elif role == "user":
            conv.append({"from": "human", "value": m.get("content")})
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            if m.get("content") or not calls:
                conv.append({"from": "gpt", "value": m.get("content") or ""})
            if calls:
                fc = [{"name": c["function"]["name"], "arguments": json.loads(c["function"]["arguments"] or "{}")}
                      for c in calls]
                conv.append({"from": "function_call", "value": json.dumps(fc[0] if len(fc) == 1 else fc,
                                                                          ensure_ascii=False)})
        elif role == "tool":
            k = j
            while k < len(msgs) and msgs[k].get("role") == "tool":
                k += 1
            outs = [t.get("content") for t in msgs[j:k]]
            value = outs[0] if len(outs) == 1 else json.dumps(outs, ensure_ascii=False)
            conv.append({"from": "observation", "value": value})
            j = k
            continue
        j += 1
    row = {"id": record["id"], "conversations": conv,
           "tools": json.dumps([t.get("function", t) for t in record["tools"]], ensure_ascii=False)}
    if system is not None:
        row["system"] = system
    return row


WRITERS = {"openai": to_openai, "nemotron": to_nemotron, "cm2": to_cm2, "sharegpt": to_sharegpt}


# =============================================================================================== stage


def run_convert(inp: Path, out: Path, options: Options, *, resume: bool = True) -> dict[str, Any]:
    files = input_files(inp)
    formats: dict[str, int] = {}
    seen: set[str] = set()
    rows = 0
    with StageOutput(out, "convert", resume=resume, options=options.model_dump(mode="json"), input=str(inp),
                     options_changed="fresh") as so:
        seen |= so.done
        for path in files:
            for where, value, error in iter_rows(path, options.batch_size):
                rows += 1
                pos = where.get("line", where.get("row", where.get("index")))
                uid = f"@{path.name}:{pos}"
                if error is not None:
                    if uid in so.done:
                        so.skipped += 1
                        continue
                    so.reject(value, [f"unreadable: {path.name}: {error}"], id=uid, source=where)
                    continue
                try:
                    rec = convert_row(value, options, where)
                except ConvertError as e:
                    if uid in so.done:
                        so.skipped += 1
                        continue
                    so.reject(value, [f"{e} ({path.name} {_where_text(where)})"], id=uid, source=where)
                    continue
                if rec["id"] in so.done:
                    so.skipped += 1
                    continue
                if options.dedupe and rec["id"] in seen:
                    if uid in so.done:
                        so.skipped += 1
                        continue
                    so.reject(value, [f"duplicate_id: id {rec['id']!r} seen before ({path.name} {_where_text(where)})"],
                              id=uid, source=where)
                    continue
                if options.dedupe:
                    seen.add(rec["id"])
                formats[rec["source"]["format"]] = formats.get(rec["source"]["format"], 0) + 1
                so.keep(rec)
        return so.finish(files=[str(f) for f in files], rows_read=rows, formats=formats)


def _where_text(where: dict[str, Any]) -> str:
    for k in ("line", "row", "index"):
        if k in where:
            return f"{k} {where[k]}"
    return ""


STAGE = StageSpec("convert", Options, run_convert,
                  "read JSONL/JSON/parquet conversations (Nemotron, OpenAI, ShareGPT, CM2, tasks) into records")
add_parser, run = STAGE.cli()
