"""Data-parallel training and evaluation on 2 CPU processes (gloo): seqnet.distributed.

One launch of two ranks runs every scenario and saves what each rank saw; the tests compare
that with a single process training on the union of the ranks' minibatches.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from seqdata.dataset import DataSet
from seqdata.iterator import SequenceRecordReaderDataSetIterator
from seqdata.readers.base import CollectionSequenceRecordReader
from seqnet import distributed
from seqnet.cli import main
from seqnet.conf.enums import BackpropType, GradientNormalization
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.conf.updaters import Adam, Sgd
from seqnet.errors import TrainingError
from seqnet.network import MultiLayerNetwork
from seqnet.training import pad_steps
from seqnet.workflow.build import build_configuration
from seqnet.workflow.data import load_run_data
from seqnet.workflow.model_io import load_model
from seqnet.workflow.run_config import load_run_config
from tests.seqnet._nets import make_net, random_dataset
from tests.seqnet.test_workflow_train import write_run_file

WORLD = 2
SEQUENCES = 21          # odd: the shards hold 11 and 10 sequences, the last minibatches 3 and 2
EPOCHS = 2


def _corpus() -> list[np.ndarray]:
    """Sequences of 2 features and a class label (last column), 2 to 9 steps long."""
    rng = np.random.default_rng(5)
    out = []
    for _ in range(SEQUENCES):
        t = int(rng.integers(2, 10))
        out.append(np.column_stack([rng.normal(size=(t, 2)), rng.integers(0, 3, size=t)]))
    return out


def _iterator() -> SequenceRecordReaderDataSetIterator:
    reader = CollectionSequenceRecordReader(_corpus())
    reader.initialize()
    return SequenceRecordReaderDataSetIterator(reader, 4, 3, -1, shuffle=True, seed=11,
                                               collect_meta_data=True)


def _sgd_net(l2: float = 1e-3, k2: int = 2) -> Any:
    # Clipping and l2 make the test check that both apply to the union gradient.
    return make_net([GravesLSTM(n_in=2, n_out=5), RnnOutputLayer(n_out=3)], seed=3,
                    updater=Sgd(0.2), l2=l2,
                    gradient_normalization=GradientNormalization.CLIP_L2_PER_LAYER,
                    gradient_normalization_threshold=0.5,
                    backprop_type=BackpropType.TRUNCATED_BPTT, tbptt_forward_length=3,
                    tbptt_backward_length=k2)


def _adam_net(seed: int) -> Any:
    return make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], seed=seed,
                    updater=Adam(0.05))


def _own_datasets(rank: int) -> list[DataSet]:
    """Rank r's minibatches for the fit(DataSet) scenario: 3 and 2 examples, 5 steps."""
    rng = np.random.default_rng(40 + rank)
    return [random_dataset(rng, 3 - rank, 3, 2, 5) for _ in range(3)]


class _Recorder:
    """A pre-processor that records the sequence indices of every minibatch (shards keep
    their parent's pre-processor)."""

    def __init__(self) -> None:
        self.seen: list[list[int]] = []

    def pre_process(self, ds: DataSet) -> None:
        self.seen.append([m.index for m in ds.example_meta_data])


# --------------------------------------------------------------------------- the ranks

def _rank_main(out_dir: str) -> None:
    torch.set_num_threads(1)
    assert distributed.init_from_env("cpu")
    rank = distributed.rank()
    result: dict[str, Any] = {"world_size": distributed.world_size(),
                              "writer": distributed.is_writer()}

    # 1. fit(iterator) with SGD and TBPTT: sharding, lock-step segments, union gradient.
    net = _sgd_net()
    it = _iterator()
    recorder = _Recorder()
    it.set_pre_processor(recorder)
    net.fit(it, epochs=EPOCHS, progress=False)
    result["sgd_params"] = net.param_table()
    result["sgd_iterations"] = net.iteration_count
    result["sgd_epochs"] = net.epoch_count
    result["sgd_score"] = net.score()
    result["sgd_seen"] = recorder.seen
    result["parent_epoch_after"] = it.epoch

    # 2. Evaluation of the whole corpus: each rank evaluates its shard, counts are merged.
    result["confusion"] = net.evaluate(_iterator()).confusion_matrix()
    regression = net.evaluate_regression(_iterator())
    result["mse"] = [regression.mean_squared_error(c) for c in range(3)]
    result["r2"] = [regression.r_squared(c) for c in range(3)]

    # 3. fit(DataSet) with Adam, ranks initialised differently: rank 0's parameters win.
    adam = _adam_net(seed=100 + rank)
    for ds in _own_datasets(rank):
        adam.fit(ds)
    result["adam_params"] = adam.param_table()

    # 4. Ranks with different numbers of minibatches stop together instead of hanging.
    try:
        adam.fit(_own_datasets(rank)[:2 + rank], epochs=1, progress=False)
    except TrainingError as e:
        result["uneven_error"] = str(e)

    with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(result, f)


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("distributed")
    distributed.launch(_rank_main, WORLD, (str(out),))
    results = []
    for r in range(WORLD):
        with open(out / f"rank{r}.pkl", "rb") as f:
            results.append(pickle.load(f))
    return results


# --------------------------------------------------------------------------- references

def _union_batches(epoch: int) -> list[DataSet]:
    """The minibatches one process trains on: rank 0's and rank 1's j-th minibatch merged."""
    it = _iterator()
    shards = [it.shard(r, WORLD) for r in range(WORLD)]
    for s in shards:
        s.set_epoch(epoch)
    return [DataSet.merge(pair) for pair in zip(*(list(s) for s in shards))]


def test_distributed_ranks_join_one_group(ranks):
    assert [r["world_size"] for r in ranks] == [WORLD, WORLD]
    assert [r["writer"] for r in ranks] == [True, False]


def test_distributed_shards_are_disjoint_and_cover_every_sequence(ranks):
    batches = len(_iterator())
    per_rank = len(_iterator().shard(0, WORLD))
    for epoch in range(EPOCHS):
        parts = [r["sgd_seen"][epoch * per_rank:(epoch + 1) * per_rank] for r in ranks]
        flat = [sorted(i for batch in part for i in batch) for part in parts]
        assert not set(flat[0]) & set(flat[1])
        assert sorted(flat[0] + flat[1]) == list(range(SEQUENCES))
        assert len(parts[0]) == len(parts[1]) == per_rank
    assert per_rank < batches           # each rank really did fewer minibatches
    # Shuffled per epoch as one process would: the epochs differ, and the parent iterator
    # stands after the epochs fit ran.
    assert ranks[0]["sgd_seen"][:per_rank] != ranks[0]["sgd_seen"][per_rank:]
    assert ranks[0]["parent_epoch_after"] == EPOCHS


def test_distributed_ranks_end_with_identical_parameters(ranks):
    for key, value in ranks[0]["sgd_params"].items():
        np.testing.assert_array_equal(value, ranks[1]["sgd_params"][key], err_msg=key)
    for key, value in ranks[0]["adam_params"].items():
        np.testing.assert_array_equal(value, ranks[1]["adam_params"][key], err_msg=key)


def test_distributed_sgd_equals_one_process_on_the_union_batch(ranks):
    net = _sgd_net()
    for epoch in range(EPOCHS):
        for ds in _union_batches(epoch):
            net.fit(ds)
    for key, value in net.param_table().items():
        np.testing.assert_allclose(ranks[0]["sgd_params"][key], value, rtol=0, atol=1e-5,
                                   err_msg=key)
    assert ranks[0]["sgd_iterations"] == ranks[1]["sgd_iterations"] == net.iteration_count
    assert ranks[0]["sgd_epochs"] == EPOCHS
    # The score is the union minibatch's, the same on every rank.
    assert ranks[0]["sgd_score"] == pytest.approx(net.score(), abs=1e-5)
    assert ranks[1]["sgd_score"] == ranks[0]["sgd_score"]
    # The union minibatches differ in T, so lock-step padding was needed.
    assert len({ds.features.shape[2] for ds in _union_batches(0)}) > 1


def test_distributed_fit_dataset_starts_from_rank_0_and_averages_by_example(ranks):
    net = _adam_net(seed=100)
    for a, b in zip(_own_datasets(0), _own_datasets(1)):
        net.fit(DataSet.merge([a, b]))
    for key, value in net.param_table().items():
        np.testing.assert_allclose(ranks[0]["adam_params"][key], value, rtol=0, atol=1e-5,
                                   err_msg=key)


def test_distributed_evaluation_equals_one_process(ranks):
    net = _sgd_net()
    net.set_param_table(ranks[0]["sgd_params"])
    single = net.evaluate(_iterator())
    for r in ranks:
        np.testing.assert_array_equal(r["confusion"], single.confusion_matrix())
    assert single.confusion_matrix().sum() == sum(len(s) for s in _corpus())
    # Outputs are float32 and depend slightly on how examples are batched, hence tolerances.
    regression = net.evaluate_regression(_iterator())
    for r in ranks:
        np.testing.assert_allclose(r["mse"], [regression.mean_squared_error(c)
                                              for c in range(3)], rtol=1e-6)
        np.testing.assert_allclose(r["r2"], [regression.r_squared(c) for c in range(3)],
                                   rtol=0, atol=1e-6)


def test_distributed_uneven_minibatch_counts_stop_every_rank(ranks):
    for r in ranks:
        assert "same number of minibatches" in r["uneven_error"]


# --------------------------------------------------------------------------- single process

def test_distributed_helpers_are_no_ops_in_one_process():
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size(), distributed.is_writer()) == (0, 1, True)
    assert distributed.sum_over_ranks([1, 2.5]) == [1.0, 2.5]
    it = _iterator()
    assert list(distributed.epoch_parts(it, 2)) == [it, it]
    assert distributed.evaluation_part(it) == (it, False)
    assert [s for _, s in distributed.lockstep(["a", "b"])] == [None, None]


def test_distributed_init_from_env_needs_world_size_above_one(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init_from_env("cpu") is False
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(distributed.DistributedError, match="MASTER_ADDR, MASTER_PORT"):
        distributed.init_from_env("cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(distributed.DistributedError, match="WORLD_SIZE: expected an integer"):
        distributed.init_from_env("cpu")


def _join_and_fail(message: str) -> None:
    distributed.init_from_env("cpu")
    if distributed.rank() == 1:
        raise TrainingError(message)


def test_distributed_launch_reports_the_failing_rank():
    with pytest.raises(distributed.DistributedError, match="rank 1 failed: .*TrainingError: boom"):
        distributed.launch(_join_and_fail, 2, ("boom",))


def test_distributed_pad_steps_masks_only_the_padding():
    x = torch.arange(6.0).reshape(1, 2, 3)
    labels = torch.ones(1, 2, 3)
    fmask = torch.tensor([[1.0, 1.0, 0.0]])
    lmask = torch.tensor([[0.0, 1.0, 0.0]])
    px, py, pf, pl = pad_steps(x, labels, fmask, lmask, 5)
    assert px[:, :, :3].equal(x) and not px[:, :, 3:].any()
    assert py[:, :, :3].equal(labels) and not py[:, :, 3:].any()
    assert pf.tolist() == [[1, 1, 0, 0, 0]] and pl.tolist() == [[0, 1, 0, 0, 0]]
    assert pad_steps(x, labels, None, None, 3) == (x, labels, None, None)


@pytest.mark.parametrize("masked", [False, True])
def test_distributed_padding_to_a_longer_t_changes_no_score_and_no_sgd_update(masked):
    rng = np.random.default_rng(9)
    ds = random_dataset(rng, 3, 2, 3, 7)
    if masked:
        mask = np.ones((3, 7), np.float32)
        mask[1, 4:] = 0
        ds = DataSet(ds.features * mask[:, None], ds.labels * mask[:, None], mask, mask)
    tensors = [None if a is None else torch.as_tensor(a) for a in
               (ds.features, ds.labels, ds.features_mask, ds.labels_mask)]
    padded = DataSet(*(None if t is None else t.numpy() for t in pad_steps(*tensors, 12)))
    # l2 = 0: a padded segment has exactly zero gradient. k2 = k1: padding cannot move which
    # steps the recurrent layer back-propagates through.
    plain, longer = _sgd_net(l2=0.0, k2=3), _sgd_net(l2=0.0, k2=3)
    assert longer.score(padded) == pytest.approx(plain.score(ds), abs=1e-6)
    plain.fit(ds)
    longer.fit(padded)
    assert (plain.iteration_count, longer.iteration_count) == (3, 4)   # ceil(7/3), ceil(12/3)
    for key, value in plain.param_table().items():
        np.testing.assert_allclose(longer.param_table()[key], value, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- seqnet train

def test_distributed_seqnet_train_nproc_per_node_2_equals_one_process_on_union_batches(
        tmp_path, capfd):
    run = write_run_file(tmp_path, epochs=2, updater='{ type = "sgd", learning_rate = 0.1 }')
    result = CliRunner().invoke(main, ["train", str(run), "--nproc-per-node", "2"],
                                catch_exceptions=False)
    printed = capfd.readouterr().out     # the processes write to the inherited stdout
    assert result.exit_code == 0, result.output + printed
    assert printed.count("test accuracy:") == 1 and printed.count("epoch   2/2") == 1
    out = tmp_path / "out"
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "epoch_0001.zip", "epoch_0002.zip"]

    # One process making the union minibatch's update at every step ends where they did.
    config = load_run_config(run)
    data = load_run_data(config.data)
    probe = data.iterator("train")
    net = MultiLayerNetwork(build_configuration(config.network, n_in=probe.input_columns(),
                                                n_out=probe.total_outcomes()))
    net.init()
    for epoch in range(2):
        it = data.iterator("train", shuffle=config.data.shuffle,
                           seed=config.network.seed + epoch)
        for pair in zip(*(list(it.shard(r, WORLD)) for r in range(WORLD))):
            net.fit(DataSet.merge(pair))
    saved = load_model(out / "model.zip")[0].param_table()
    for key, value in net.param_table().items():
        np.testing.assert_allclose(saved[key], value, rtol=0, atol=1e-5, err_msg=key)
