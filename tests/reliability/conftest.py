"""Options and helpers shared by the reliability tests.

``--fuzz-long`` multiplies the hypothesis example counts of ``test_fuzz.py`` (CI runs the
short counts). pytest reads options only from conftest files it loads at start-up, so the
flag works when this directory is named on the command line::

    python -m pytest tests/reliability --fuzz-long

(``tests/conftest.py`` may define the same option for a run from the repository root; the
duplicate is tolerated here.)
"""

from __future__ import annotations

import pytest

# How much --fuzz-long multiplies every example count by.
LONG_FACTOR = 20


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption("--fuzz-long", action="store_true", default=False,
                         help=f"run {LONG_FACTOR}x the hypothesis examples of the fuzz tests")
    except ValueError:  # already defined by a conftest nearer the root
        pass


@pytest.fixture
def fuzz_examples(request: pytest.FixtureRequest):
    """``fuzz_examples(n)``: ``n`` in CI, ``LONG_FACTOR * n`` with ``--fuzz-long``."""
    long = bool(request.config.getoption("--fuzz-long", default=False))
    return lambda n: n * LONG_FACTOR if long else n
