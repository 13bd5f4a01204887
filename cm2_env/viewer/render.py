"""The report page: one self-contained HTML file (inline CSS, JS and JSON; SVG drawn by the script).

Model output is hostile: it reaches the page only as JSON inside ``<script type="application/json">``
elements, with every ``<``, ``>``, ``&`` and the JS line separators escaped as ``\\uXXXX`` (so no
``</script>`` or ``<!--`` can end the element early), and the script inserts every text with
``textContent``. A Content-Security-Policy forbids any network access (``connect-src 'self'`` for the live
``--serve`` page only).
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from importlib import resources
from typing import Any

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def embed_json(obj: Any) -> str:
    """JSON text safe inside a ``<script type="application/json">`` element (parse it with ``JSON.parse``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    for ch, esc in _JSON_ESCAPES.items():  # str.replace is C-fast; translate() with a dict is not
        if ch in text:
            text = text.replace(ch, esc)
    return text


def sanitize(obj: Any) -> Any:
    """NaN/Infinity are not JSON: they become null (a record may carry them)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): sanitize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v) for v in obj]
    return obj


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    return resources.files("cm2_env.viewer").joinpath("assets", name).read_text(encoding="utf-8")


def _inline_script(js: str) -> str:
    # our own script holds no "</script" (checked), but be safe against a future edit
    return js.replace("</script", "<\\/script")


CSP_STATIC = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'")
CSP_LIVE = CSP_STATIC + "; connect-src 'self'"


def build_html(index: dict[str, Any], details: dict[str, Any] | None, live: bool = False) -> str:
    """The page. ``details=None`` (live mode) leaves the transcripts to be fetched from the server."""
    title = html.escape(str(index.get("title") or "cm2 run"), quote=True)
    index_json = _dumps(index)
    details_block = "" if details is None else (
        f'<script type="application/json" id="cm2-details">{_dumps(details)}</script>\n')
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP_LIVE if live else CSP_STATIC}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"generator\" content=\"cm2 view\">\n"
        f"<title>{title} · cm2 view</title>\n<style>{asset('viewer.css')}</style></head>\n"
        f"<body data-live=\"{1 if live else 0}\">\n"
        "<header class=\"top\"><span class=\"brand\">cm2 view</span><span class=\"title\" id=\"title\"></span>"
        "<nav id=\"nav\"></nav><span class=\"live\" id=\"live\"></span></header>\n"
        "<main id=\"app\"><noscript>This report is drawn by its inline script: enable JavaScript.</noscript></main>\n"
        f"<script type=\"application/json\" id=\"cm2-index\">{index_json}</script>\n"
        f"{details_block}"
        f"<script>{_inline_script(asset('viewer.js'))}</script>\n"
        "</body></html>\n"
    )


def _dumps(obj: Any) -> str:
    try:
        return embed_json(obj)
    except ValueError:  # NaN somewhere
        return embed_json(sanitize(obj))
