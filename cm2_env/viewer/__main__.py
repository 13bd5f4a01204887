"""``python -m cm2_env.viewer RUN.jsonl ...``: the same as ``cm2 view``."""

import sys

from .cli import main

sys.exit(main())
