"""save / load: round trips, and files that must be refused without running anything."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import numpy as np
import pytest
import torch

from seqdata.dataset import DataSet
from seqnet.conf.layers import LSTM, GravesLSTM, RnnOutputLayer
from seqnet.conf.updaters import Adam
from seqnet.errors import ConfigurationError, ModelFileError
from seqnet.network import MultiLayerNetwork
from tests.seqnet._nets import make_net, one_hot_steps


def _trained(tmp_path):
    rng = np.random.default_rng(0)
    net = make_net([GravesLSTM(n_in=3, n_out=5), LSTM(n_out=4), RnnOutputLayer(n_out=2)],
                   updater=Adam(0.01))
    ds = DataSet(rng.normal(size=(4, 3, 6)).astype(np.float32), one_hot_steps(rng, 4, 2, 6))
    net.fit(ds)
    return net, ds


def test_round_trip_reproduces_outputs_counters_and_training(tmp_path):
    net, ds = _trained(tmp_path)
    path = tmp_path / "model.zip"
    net.save(path)
    loaded = MultiLayerNetwork.load(path)
    assert loaded.conf == net.conf
    np.testing.assert_array_equal(loaded.output(ds.features), net.output(ds.features))
    assert loaded.iteration_count == 1
    # Updater state travels: the next Adam step is the same on both.
    net.fit(ds)
    loaded.fit(ds)
    for k, v in net.param_table().items():
        np.testing.assert_allclose(loaded.param_table()[k], v, atol=1e-6)


def test_rnn_state_is_saved_only_when_asked(tmp_path):
    net, ds = _trained(tmp_path)
    net.rnn_time_step(ds.features[:, :, :3])
    net.save(tmp_path / "plain.zip")
    net.save(tmp_path / "state.zip", save_rnn_state=True)
    assert MultiLayerNetwork.load(tmp_path / "plain.zip").rnn_get_previous_state(0) == {}
    loaded = MultiLayerNetwork.load(tmp_path / "state.zip")
    np.testing.assert_allclose(loaded.rnn_time_step(ds.features[:, :, 3:]),
                               net.rnn_time_step(ds.features[:, :, 3:]), atol=1e-6)


class _Payload:
    """Unpickling this would create a file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def _replace_entry(src, dst, name, data):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            zout.writestr(item, data if item == name else zin.read(item))


@pytest.mark.parametrize("entry", ["updater.pt", "parameters.npz"])
def test_pickle_payload_is_refused_without_running(tmp_path, entry):
    net, _ = _trained(tmp_path)
    net.save(tmp_path / "good.zip")
    target = tmp_path / "pwned"
    if entry == "updater.pt":
        buffer = io.BytesIO()
        torch.save({"x": _Payload(target)}, buffer)    # a torch file carrying a pickle payload
        payload = buffer.getvalue()
    else:
        buffer = io.BytesIO()
        np.savez(buffer, **{"0_W": np.array([_Payload(target)], dtype=object)})
        payload = buffer.getvalue()
    _replace_entry(tmp_path / "good.zip", tmp_path / "bad.zip", entry, payload)
    with pytest.raises(ModelFileError, match=entry):
        MultiLayerNetwork.load(tmp_path / "bad.zip")
    assert not target.exists()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt"])
def test_entries_leaving_the_archive_are_refused(tmp_path, name):
    net, _ = _trained(tmp_path)
    net.save(tmp_path / "good.zip")
    with zipfile.ZipFile(tmp_path / "good.zip", "a") as zf:
        zf.writestr(name, b"x")
    with pytest.raises(ModelFileError, match="refused"):
        MultiLayerNetwork.load(tmp_path / "good.zip")
    assert not (tmp_path.parent / "evil.txt").exists()


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        MultiLayerNetwork.load(tmp_path / "absent.zip")
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="unreadable"):
        MultiLayerNetwork.load(tmp_path / "junk.zip")
    net, _ = _trained(tmp_path)
    net.save(tmp_path / "good.zip")
    _replace_entry(tmp_path / "good.zip", tmp_path / "badconf.zip", "configuration.json",
                   b'{"layers": [], "bogus": 1}')
    with pytest.raises(ModelFileError, match="configuration.json.*bogus"):
        MultiLayerNetwork.load(tmp_path / "badconf.zip")


def test_attached_normalizer_travels_with_the_model(tmp_path):
    from seqdata.normalizers import NormalizerStandardize

    net, ds = _trained(tmp_path)
    norm = NormalizerStandardize()
    norm.fit(ds)
    net.normalizer = norm
    net.save(tmp_path / "m.zip")
    loaded = MultiLayerNetwork.load(tmp_path / "m.zip").normalizer
    assert isinstance(loaded, NormalizerStandardize)
    np.testing.assert_allclose(loaded.transform_features(ds.features),
                               norm.transform_features(ds.features))


@pytest.mark.parametrize("meta", [b'{"iteration_count": "3"}', b'[1, 2]',
                                  b'{"epoch_count": -1}', b'{"iteration_count": null}'])
def test_malformed_meta_is_a_model_file_error(tmp_path, meta):
    net, _ = _trained(tmp_path)
    net.save(tmp_path / "good.zip")
    _replace_entry(tmp_path / "good.zip", tmp_path / "bad.zip", "meta.json", meta)
    with pytest.raises(ModelFileError, match="meta.json"):
        MultiLayerNetwork.load(tmp_path / "bad.zip")


def test_malformed_normalizer_is_a_model_file_error(tmp_path):
    from seqdata.normalizers import NormalizerStandardize

    net, ds = _trained(tmp_path)
    net.normalizer = NormalizerStandardize()
    net.normalizer.fit(ds)
    net.save(tmp_path / "good.zip")
    _replace_entry(tmp_path / "good.zip", tmp_path / "bad.zip", "normalizer.json",
                   b'{"format": "nope"}')
    with pytest.raises(ModelFileError, match="normalizer.json"):
        MultiLayerNetwork.load(tmp_path / "bad.zip")


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    net, ds = _trained(tmp_path)
    path = tmp_path / "model.zip"
    net.save(path)
    before = path.read_bytes()

    class Boom(Exception):
        pass

    def explode(*args, **kwargs):
        raise Boom

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(Boom):
        net.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.zip"]


def test_a_saved_model_has_the_permissions_of_any_new_file(tmp_path):
    # The temporary file behind the atomic save is created 0600; a model must stay readable
    # by whoever may read the folder's other new files (a serving user, a group).
    old = os.umask(0o022)
    try:
        make_net([GravesLSTM(n_in=2, n_out=3), RnnOutputLayer(n_out=2)]).save(tmp_path / "m.zip")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.zip").st_mode) == 0o644


def test_set_param_table_refuses_values_that_are_not_numbers():
    net = make_net([GravesLSTM(n_in=2, n_out=3), RnnOutputLayer(n_out=2)])
    table = net.param_table()
    table["0_b"] = np.full(table["0_b"].shape, "a")
    with pytest.raises(ConfigurationError, match=r"param_table\['0_b'\]: expected an array of "
                                                 r"numbers, found dtype <U1"):
        net.set_param_table(table)
