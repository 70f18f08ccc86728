"""``[run] tensorboard = true``: event files beside metrics.jsonl, or an error naming the extra."""

from __future__ import annotations

import json
import sys
import types

import pytest

from seqnet.errors import ConfigurationError
from seqnet.workflow.run_config import load_run_config
from seqnet.workflow.train import train
from tests.seqnet.test_workflow_train import write_run_file


class FakeSummaryWriter:
    instances: list[FakeSummaryWriter] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir, self.scalars, self.closed = log_dir, [], False
        FakeSummaryWriter.instances.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_the_writer_gets_every_number_of_metrics_jsonl(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeSummaryWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    train(load_run_config(write_run_file(tmp_path, epochs=2, validation=True,
                                         extra_run="tensorboard = true")))
    writer = FakeSummaryWriter.instances[-1]
    assert writer.log_dir == str(tmp_path / "out" / "tensorboard") and writer.closed
    records = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").open()]
    for r in records:
        assert ("train/score", r["train_score"], r["epoch"]) in writer.scalars
        assert ("validation/accuracy", r["accuracy"], r["epoch"]) in writer.scalars


def test_without_tensorboard_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # import fails
    run = write_run_file(tmp_path, epochs=1, extra_run="tensorboard = true")
    with pytest.raises(ConfigurationError, match=r"seqdl\[tensorboard\]"):
        train(load_run_config(run))
