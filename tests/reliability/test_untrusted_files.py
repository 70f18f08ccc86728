"""Untrusted files: model zips, configuration JSON and run TOML never run code or slip through.

- A model zip whose entries carry pickle payloads (torch files, npz arrays, raw pickles) is
  refused with :class:`~seqnet.errors.ModelFileError` naming the entry, and the payload's side
  effect (creating a file, running a shell command) never happens, through the Python API and
  through ``seqnet predict``.
- Entry names that are absolute, carry a drive, or climb out with ``..`` make the whole zip
  refused; nothing is ever extracted to disk.
- Damaged zips and entries of the wrong type are :class:`~seqnet.errors.SeqNetError` s, never
  raw ``ValueError``/``AttributeError``.
- A configuration JSON or a run TOML with an unknown key or a value of the wrong type is
  rejected with a message naming the key's full path.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from seqnet.cli import main as seqnet_main
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.errors import ConfigurationError, ModelFileError, SeqNetError
from seqnet.network import MultiLayerNetwork
from seqnet.workflow.build import build_configuration
from seqnet.workflow.run_config import load_run_config
from tests.seqnet._nets import make_net

# torch warns that a raw pickle uses a newer protocol than its own files, then refuses it.
pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")


class OpenFile:
    """Unpickling this creates the file ``target``."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


class ShellTouch:
    """Unpickling this runs ``touch target`` in a shell."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.fixture
def good_zip(tmp_path) -> Path:
    """A saved model with every optional entry: updater, RNN state and normaliser."""
    from seqdata.dataset import DataSet
    from seqdata.normalizers import NormalizerStandardize

    rng = np.random.default_rng(0)
    net = make_net([GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)])
    ds = DataSet(rng.normal(size=(2, 3, 5)).astype(np.float32),
                 np.eye(2, dtype=np.float32)[:, :, None].repeat(5, axis=2))
    net.fit(ds)
    net.rnn_time_step(ds.features[:, :, :2])
    norm = NormalizerStandardize()
    norm.fit(ds)
    net.normalizer = norm
    path = tmp_path / "good.zip"
    net.save(path, save_updater=True, save_rnn_state=True)
    with zipfile.ZipFile(path) as zf:
        assert {"updater.pt", "rnn_state.pt", "normalizer.json"} <= set(zf.namelist())
    return path


def with_entry(src: Path, name: str, data: bytes, dst: Path | None = None) -> Path:
    """A copy of the zip ``src`` with entry ``name`` replaced (or added)."""
    dst = dst or src.with_name("bad.zip")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            if item != name:
                zout.writestr(item, zin.read(item))
        zout.writestr(zipfile.ZipInfo(name), data)
    return dst


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --------------------------------------------------------------------------- pickle payloads

PAYLOADS = [
    ("updater.pt", "torch-file", lambda t: torch_bytes([{"state": {0: OpenFile(t)}}])),
    ("updater.pt", "raw-pickle", lambda t: pickle.dumps([ShellTouch(t)])),
    ("rnn_state.pt", "torch-file", lambda t: torch_bytes({"0": {"prevAct": ShellTouch(t)}})),
    ("rnn_state.pt", "raw-pickle", lambda t: pickle.dumps({"0": OpenFile(t)}, protocol=2)),
    ("parameters.npz", "object-array", lambda t: npz_bytes(**{"0_W": np.array([OpenFile(t)],
                                                                           dtype=object)})),
    ("parameters.npz", "raw-pickle", lambda t: pickle.dumps({"0_W": ShellTouch(t)})),
]


@pytest.mark.parametrize("entry, form, payload", PAYLOADS,
                         ids=[f"{e}-{f}" for e, f, _ in PAYLOADS])
def test_a_pickle_payload_is_refused_and_never_runs(tmp_path, good_zip, entry, form, payload):
    target = tmp_path / "pwned"
    bad = with_entry(good_zip, entry, payload(target))
    with pytest.raises(ModelFileError) as info:
        MultiLayerNetwork.load(bad)
    assert str(info.value).startswith(f"{bad}: {entry}: ")
    assert not target.exists(), "loading the model ran the pickle payload"


def test_seqnet_predict_refuses_a_poisoned_model_without_running_it(tmp_path, good_zip):
    target = tmp_path / "pwned"
    bad = with_entry(good_zip, "updater.pt", torch_bytes([ShellTouch(target)]))
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    out = tmp_path / "pred.csv"
    result = CliRunner().invoke(seqnet_main, ["predict", str(bad), str(tmp_path / "x.csv"),
                                              "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"error: {bad}: updater.pt: refused" in result.stderr
    assert not target.exists() and not out.exists()


# --------------------------------------------------------------------------- entry names

@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "./a/../../evil.txt",
                                  "/tmp/evil.txt", "..\\evil.txt", "C:evil.txt",
                                  "C:/evil.txt"])
def test_entries_leaving_the_archive_make_the_whole_zip_refused(tmp_path, good_zip, name):
    bad = with_entry(good_zip, name, b"x")
    before = tree(tmp_path.parent)
    with pytest.raises(ModelFileError) as info:
        MultiLayerNetwork.load(bad)
    assert f"the entry {name!r}" in str(info.value) and "refused" in str(info.value)
    assert tree(tmp_path.parent) == before, "loading wrote to disk"


def test_loading_a_good_zip_writes_nothing_to_disk(tmp_path, good_zip):
    before = tree(tmp_path)
    net = MultiLayerNetwork.load(good_zip)
    assert net.rnn_get_previous_state(0) and net.normalizer is not None
    assert tree(tmp_path) == before


# --------------------------------------------------------------------------- damaged zips

def test_damaged_zips_are_model_file_errors(tmp_path, good_zip):
    data = good_zip.read_bytes()
    cases = {"truncated.zip": data[:len(data) // 2], "empty.zip": b"",
             "text.zip": b"configuration.json\n",
             "zeroed.zip": data[:40] + b"\0" * 64 + data[104:]}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SeqNetError) as info:
            MultiLayerNetwork.load(tmp_path / name)
        assert isinstance(info.value, ModelFileError), f"{name}: {info.value!r}"
        assert str(tmp_path / name) in str(info.value)
    with pytest.raises(ModelFileError, match="unreadable"):
        MultiLayerNetwork.load(tmp_path)                     # a directory
    with pytest.raises(ModelFileError, match="configuration.json"):
        MultiLayerNetwork.load(_without(good_zip, "configuration.json"))


def _without(src: Path, name: str) -> Path:
    dst = src.with_name("without.zip")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.namelist():
            if item != name:
                zout.writestr(item, zin.read(item))
    return dst


@pytest.mark.parametrize("data", [b'{"iteration_count": "abc"}', b"[1, 2]",
                                  b'{"epoch_count": 1e400}', b'{"iteration_count": null}'],
                         ids=["string-counter", "not-an-object", "infinite", "null"])
def test_a_malformed_meta_entry_is_a_model_file_error(good_zip, data):
    with pytest.raises(ModelFileError, match="meta.json"):
        MultiLayerNetwork.load(with_entry(good_zip, "meta.json", data))


def test_a_malformed_normalizer_entry_is_a_model_file_error(good_zip):
    with pytest.raises(ModelFileError, match="normalizer.json"):
        MultiLayerNetwork.load(with_entry(good_zip, "normalizer.json", b'{"format": "x"}'))


def test_parameters_of_the_wrong_shape_are_refused(good_zip):
    table = MultiLayerNetwork.load(good_zip).param_table()
    table["0_W"] = np.zeros((5, 5), np.float32)
    with pytest.raises(ModelFileError, match="parameters.npz"):
        MultiLayerNetwork.load(with_entry(good_zip, "parameters.npz", npz_bytes(**table)))


# --------------------------------------------------------------------------- configuration JSON

def conf_dict() -> dict:
    conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)])
    return json.loads(conf.to_json())


def _set(d: dict, path: list, value) -> dict:
    target = d
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


JSON_FAULTS = [
    ("unknown-top-level-key", ["bogus"], 1, "configuration: unknown key 'bogus'"),
    ("unknown-layer-key", ["layers", 0, "n_outt"], 4,
     "configuration.layers[0]: unknown key 'n_outt' for GravesLSTM"),
    ("unknown-updater-key", ["updater", "lr"], 0.1, "configuration.updater: unknown key 'lr'"),
    ("string-for-int", ["layers", 0, "n_out"], "4",
     "configuration.layers[0].n_out: expected int, found str '4'"),
    ("bool-for-int", ["layers", 1, "n_out"], True,
     "configuration.layers[1].n_out: expected int, found bool True"),
    ("float-for-int", ["seed"], 1.5, "configuration.seed: expected int, found float 1.5"),
    ("list-for-layers", ["layers"], {"0": 1}, "configuration.layers: expected a list"),
    ("unknown-class", ["layers", 0, "@class"], "os.system",
     "configuration.layers[0].@class: expected a Layer class, found 'os.system'"),
    ("bad-enum", ["backprop_type"], "Backwards", "configuration.backprop_type: expected one of"),
]


@pytest.mark.parametrize("path, value, message", [c[1:] for c in JSON_FAULTS],
                         ids=[c[0] for c in JSON_FAULTS])
def test_configuration_json_faults_name_the_key(path, value, message):
    text = json.dumps(_set(conf_dict(), path, value))
    with pytest.raises(ConfigurationError) as info:
        MultiLayerConfiguration.from_json(text)
    assert message in str(info.value)


def test_configuration_json_that_is_not_json_names_line_and_column():
    with pytest.raises(ConfigurationError, match="line 2, column 2: Extra data"):
        MultiLayerConfiguration.from_json('{"layers": []\n}}')


# --------------------------------------------------------------------------- run TOML

RUN = """
[data]
task = "classification"
num_classes = 3
alignment = "ALIGN_END"

[data.train]
features = "f/%d.csv"
labels = "l/%d.csv"
range = [0, 9]

[network]
seed = 7
updater = { type = "adam", learning_rate = 0.01 }

[[network.layers]]
type = "GravesLSTM"
n_out = 8

[[network.layers]]
type = "RnnOutputLayer"
activation = "softmax"

[run]
epochs = 2
"""

TOML_FAULTS = [
    ("unknown-section", "[data]", "[bogus]\nx = 1\n\n[data]", "bogus: unknown key"),
    ("unknown-data-key", 'alignment = "ALIGN_END"', 'alignment = "ALIGN_END"\nbatchsize = 8',
     "data.batchsize: unknown key"),
    ("unknown-split-key", 'range = [0, 9]', 'range = [0, 9]\nlabel = "x"',
     "data.train.label: unknown key"),
    ("unknown-updater-key", "learning_rate = 0.01", "learning_rate = 0.01, lr = 1",
     "network.updater: unknown key 'lr'"),
    ("string-for-int", "epochs = 2", 'epochs = "2"', "run.epochs"),
    ("float-for-int", "num_classes = 3", "num_classes = 3.5", "data.num_classes"),
    ("bad-range", "range = [0, 9]", "range = [9]", "data.train.range"),
    ("layer-unknown-key", "n_out = 8", "n_out = 8\nn_outt = 9",
     "network.layers[0]: unknown key 'n_outt'"),
    ("layer-wrong-type", "n_out = 8", 'n_out = "eight"',
     "network.layers[0].n_out: expected int, found str 'eight'"),
]


@pytest.mark.parametrize("old, new, named", [c[1:] for c in TOML_FAULTS],
                         ids=[c[0] for c in TOML_FAULTS])
def test_run_toml_faults_name_the_key(tmp_path, old, new, named):
    assert RUN.count(old) == 1
    path = tmp_path / "run.toml"
    path.write_text(RUN.replace(old, new))
    # What ``seqnet train`` does before any training: read the file, build the network
    # configuration (layer and updater tables are checked there, with the data's sizes).
    with pytest.raises(ConfigurationError) as info:
        build_configuration(load_run_config(path).network, n_in=4, n_out=3)
    assert named in str(info.value)


def test_seqnet_train_rejects_a_bad_run_file_with_exit_1_naming_the_key(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(RUN.replace("epochs = 2", "epochs = 2\nepoch = 3"))
    result = CliRunner().invoke(seqnet_main, ["train", str(path)])
    assert result.exit_code == 1
    assert "run.epoch: unknown key" in result.stderr
    assert not (tmp_path / "runs").exists()
