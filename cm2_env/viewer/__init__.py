"""Run reports: ``cm2 view`` (see :mod:`cm2_env.viewer.cli`).

* :mod:`.model` — runs read from JSONL, summarised, listed, compared (the data the page shows);
* :mod:`.evaluations` — the registry of official-verdict summarisers (BFCL's registered);
* :mod:`.render` — the self-contained HTML page (safe JSON embedding, inline assets);
* :mod:`.report` — write it, serve it live, draw PNG charts.
"""

from .evaluations import EvaluationSummariser, register_evaluation_summariser
from .model import build_details, build_index, compare_runs, load_inputs, run_summary
from .report import build_report

__all__ = ["EvaluationSummariser", "register_evaluation_summariser", "build_details", "build_index",
           "compare_runs", "load_inputs", "run_summary", "build_report"]
