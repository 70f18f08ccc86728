"""Options and helpers shared by the reliability tests.

``--fuzz-long`` multiplies the hypothesis example counts of ``test_fuzz.py`` (CI runs the
short counts); the option itself is defined in ``tests/conftest.py`` so that it works from
the repository root::

    python -m pytest --fuzz-long tests/reliability
"""

from __future__ import annotations

import pytest

# How much --fuzz-long multiplies every example count by.
LONG_FACTOR = 20


@pytest.fixture
def fuzz_examples(request: pytest.FixtureRequest):
    """``fuzz_examples(n)``: ``n`` in CI, ``LONG_FACTOR * n`` with ``--fuzz-long``."""
    long = bool(request.config.getoption("--fuzz-long", default=False))
    return lambda n: n * LONG_FACTOR if long else n
