"""Shared test setup: the repository root on sys.path so the packages import without install."""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "fixtures"


def pytest_addoption(parser):
    # Defined here, at the root, so that `pytest --fuzz-long` works from the repository root;
    # tests/reliability/conftest.py says what it does.
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run 20x the hypothesis examples of the fuzz tests")

# NOTE [ One intra-op thread in tests ]
# The suite runs on 2 shared cores; torch's default of one thread per core makes small
# matmuls wait on each other (640 us vs 2.5 us measured for the same product), so tests
# that train run several times faster single-threaded. Benchmarks choose their own setting.
import torch  # noqa: E402

torch.set_num_threads(1)
