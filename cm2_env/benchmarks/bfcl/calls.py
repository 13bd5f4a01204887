"""BFCL call strings ↔ structured calls, without ``eval``.

BFCL's ground truth is Python call syntax (``cd(folder='document')``, sometimes positional:
``sort('final_report.pdf')``). We parse it with :mod:`ast` and accept only literal arguments
(``ast.literal_eval`` on each argument node). Positional arguments are bound to parameter names with the
executable method's signature. The reverse direction renders a structured call the way bfcl-eval's FC decoder
does (``name(k=repr(v),...)``), which is what its multi-turn checker executes.
"""

from __future__ import annotations

import ast
import inspect
import keyword
import re
from dataclasses import dataclass
from typing import Any, Callable

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CallParseError(ValueError):
    pass


@dataclass(frozen=True)
class ParsedCall:
    """A ground-truth call: function name, positional and keyword literal arguments."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    source: str


def parse_call(text: str) -> ParsedCall:
    """Parse one BFCL call string; only a bare function name and literal arguments are accepted."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise CallParseError(f"not a call: {text!r} ({e.msg})") from e
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise CallParseError(f"not a plain function call: {text!r}")
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise CallParseError(f"**kwargs not supported: {text!r}")
            kwargs[kw.arg] = ast.literal_eval(kw.value)
    except (ValueError, TypeError, SyntaxError) as e:
        raise CallParseError(f"non-literal argument in {text!r}: {e}") from e
    return ParsedCall(node.func.id, args, kwargs, text)


def _jsonable(value: Any) -> Any:
    """Tuples (literal syntax) become lists: the arguments travel as JSON in tool calls."""
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def bind_arguments(call: ParsedCall, method: Callable[..., Any]) -> dict[str, Any]:
    """Keyword arguments of ``call`` for ``method`` (a bound method), positional ones named by its signature."""
    if not call.args:
        return {k: _jsonable(v) for k, v in call.kwargs.items()}
    try:
        bound = inspect.signature(method).bind_partial(*call.args, **call.kwargs)
    except TypeError as e:
        raise CallParseError(f"cannot bind arguments of {call.source!r}: {e}") from e
    out: dict[str, Any] = {}
    for k, v in bound.arguments.items():
        out[k] = _jsonable(v)
    return out


def render_call(name: str, arguments: dict[str, Any]) -> str:
    """``name(k=repr(v),...)`` exactly as bfcl-eval's ``convert_to_function_call`` renders FC tool calls."""
    if not _IDENT.match(name):
        raise CallParseError(f"not an identifier: {name!r}")
    if not all(isinstance(k, str) and _IDENT.match(k) and not keyword.iskeyword(k) for k in arguments):
        # a key that is no Python identifier (JSON allows any): `f(**{...})` keeps the call a literal-only
        # expression that fails at call time, as the same call failed when our executor ran it
        return f"{name}(**{dict(arguments)!r})"
    return f"{name}({','.join(f'{k}={v!r}' for k, v in arguments.items())})"
