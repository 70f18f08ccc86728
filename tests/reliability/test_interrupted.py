"""Interrupted work loses nothing: SIGKILL during ``seqdata convert`` and during checkpoints.

- ``seqdata convert`` killed at random moments (during start-up, parsing, writing parts, the
  manifest or the final rename) never leaves a partial store: before the final rename nothing
  is at the output path (only a hidden temporary sibling of the killed process), after it the
  complete store. The next conversion removes the leftovers and succeeds with the same store
  an uninterrupted run writes.
- A checkpoint (``seqnet.workflow.model_io.save_model``, what ``seqnet train`` writes after
  every epoch) is written to a temporary name and renamed: a kill at any moment leaves the
  last complete checkpoint loadable.

``seqnet train`` killed and resumed ending with the parameters of an uninterrupted run is
tested in tests/seqnet/test_workflow_train.py
(``test_a_run_killed_with_sigkill_resumes_to_the_uninterrupted_parameters``), not repeated here.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from seqdata.store.reader import SequenceStore
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.workflow.model_io import load_model, save_model
from tests.conftest import ROOT
from tests.seqnet._nets import make_net

FILES = 1500
KILLS_PER_ROUND = 4
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


# --------------------------------------------------------------------------- convert

@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """FILES sequence files, the store of one uninterrupted conversion, and its timing:
    seconds until its temporary directory appeared and seconds in all."""
    root = tmp_path_factory.mktemp("kill-convert")
    (root / "corpus").mkdir()
    for i in range(FILES):
        rows = "\n".join(",".join(f"{(r * 7 + c + i) % 13 - 6.25:.3f}" for c in range(6))
                         for r in range(20 + i % 30))
        (root / "corpus" / f"{i}.csv").write_text(rows + "\n")
    started = time.monotonic()
    proc = subprocess.Popen(convert_command(root, root / "reference"), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temporary = wait_for_temporary(proc, root / "reference")
    appeared = time.monotonic() - started
    assert proc.wait() == 0 and temporary
    return root, appeared, time.monotonic() - started


def wait_for_temporary(proc: subprocess.Popen, out: Path) -> bool:
    """Poll until the conversion's temporary directory exists (False if it exits first)."""
    temporary = out.parent / f".{out.name}.tmp-{proc.pid}"
    while proc.poll() is None:
        if temporary.exists():
            return True
        time.sleep(0.002)
    return False


def convert_command(root: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", "from seqdata.cli import main; main()", "convert",
            str(root / "corpus" / "%d.csv"), "--range", "0", str(FILES - 1), "--out", str(out),
            "--workers", "2"]


def assert_same_store(a: Path, b: Path) -> None:
    sa, sb = SequenceStore(a), SequenceStore(b)
    assert len(sa) == len(sb) == FILES
    ra, rb = sa.reader("features").load_ragged(range(FILES)), \
        sb.reader("features").load_ragged(range(FILES))
    np.testing.assert_array_equal(ra.lengths, rb.lengths)
    np.testing.assert_array_equal(ra.values, rb.values)
    assert sa.manifest["sources"] == sb.manifest["sources"]


@pytest.mark.parametrize("round_", range(3))
def test_convert_killed_at_random_moments_never_leaves_output(tmp_path, corpus, round_):
    root, appeared, full = corpus
    rng = random.Random(1000 + round_)
    out = tmp_path / "store"
    killed: list[int] = []
    for _ in range(KILLS_PER_ROUND):
        proc = subprocess.Popen(convert_command(root, out), env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # Half the kills at any moment from the start (most land in start-up or parsing),
        # half timed from the temporary directory's appearance, so that parsing, part writes,
        # the manifest and the rename are hit too.
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.0, 1.1 * full))
        elif wait_for_temporary(proc, out):
            time.sleep(rng.uniform(0.0, 1.1 * (full - appeared)))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        assert code in (0, -signal.SIGKILL)
        if os.path.lexists(out):
            # The rename is the commit point: a run that got past it (and maybe even exited)
            # has left the complete store, never a partial one.
            assert_same_store(out, root / "reference")
            shutil.rmtree(out)
        if code == 0:
            continue
        killed.append(proc.pid)
        # At most the killed processes' own temporary directories are left behind (a run
        # killed before it reached its own removes none).
        assert set(os.listdir(tmp_path)) <= {f".store.tmp-{pid}" for pid in killed}
    assert killed, f"every one of {KILLS_PER_ROUND} conversions finished before the kill"
    result = subprocess.run(convert_command(root, out), env=ENV, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.listdir(tmp_path) == ["store"], "the next run did not remove the leftovers"
    assert_same_store(out, root / "reference")


# --------------------------------------------------------------------------- checkpoints

SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.workflow.model_io import save_model
    from tests.seqnet._nets import make_net

    net = make_net([GravesLSTM(n_in=8, n_out=160), RnnOutputLayer(n_out=4)])
    table = net.param_table()
    version = 0
    while True:
        version += 1
        net.set_param_table({k: np.full_like(v, version) for k, v in table.items()})
        save_model(net, sys.argv[1])
        print(version, flush=True)
""")


def checkpoint_version(path: Path) -> int:
    """The one value every parameter of the checkpoint holds (they are saved all equal)."""
    net, _ = load_model(path)
    values = {float(v) for p in net.param_table().values() for v in np.unique(p)}
    assert len(values) == 1, f"a checkpoint mixes versions {sorted(values)[:5]}"
    return int(values.pop())


@pytest.mark.parametrize("round_", range(3))
def test_a_kill_while_saving_keeps_the_last_checkpoint_loadable(tmp_path, round_):
    rng = random.Random(2000 + round_)
    path = tmp_path / "checkpoints" / "epoch_0001.zip"
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # Wait until a few checkpoints are complete, then kill at a random moment: saving
        # is nearly all the loop does, so the kill lands inside a save almost always.
        completed = [proc.stdout.readline().strip() for _ in range(3)]
        assert all(completed), "the saver died before completing three checkpoints"
        completed = [int(v) for v in completed]
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    reported = completed[-1] + sum(1 for line in proc.stdout if line.strip())
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # The checkpoint is the last one the saver reported complete, or the next one if the kill
    # fell between its rename and its report; never a torn mixture or an unreadable zip.
    assert checkpoint_version(path) in (reported, reported + 1)


class _Crash(BaseException):
    """Stands in for a kill in the middle of writing a zip."""


def _crash_after_first_entry(monkeypatch):
    original = zipfile.ZipFile.writestr
    calls = []

    def writestr(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise _Crash
        return original(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)


def _net_with(value: float):
    net = make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)])
    net.set_param_table({k: np.full_like(v, value) for k, v in net.param_table().items()})
    return net


def test_save_model_interrupted_mid_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.zip"
    save_model(_net_with(1.0), path)
    with monkeypatch.context() as m:
        _crash_after_first_entry(m)
        with pytest.raises(_Crash):
            save_model(_net_with(2.0), path)
    assert checkpoint_version(path) == 1


def test_network_save_interrupted_mid_write_leaves_the_previous_file(tmp_path, monkeypatch):
    from seqnet.network import MultiLayerNetwork

    path = tmp_path / "model.zip"
    _net_with(1.0).save(path)
    with monkeypatch.context() as m:
        _crash_after_first_entry(m)
        with pytest.raises(_Crash):
            _net_with(2.0).save(path)
    net = MultiLayerNetwork.load(path)
    assert {float(v) for p in net.param_table().values() for v in np.unique(p)} == {1.0}
