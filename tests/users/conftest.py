import sys
from pathlib import Path

# `tests` is not importable as a package (verl ships a top-level `tests` package that shadows ours), so the
# test servers are imported as `servers.*` from the tests directory.
TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
