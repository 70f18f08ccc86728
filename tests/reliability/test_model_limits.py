"""Hostile model zips cost bounded memory and time, and damaged values never load.

Every variant below is refused with a :class:`~seqnet.errors.ModelFileError` naming the entry
(and key), and a child process loading the worst of them peaks below twice the memory of a
child loading the honest model (``resource.getrusage``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from seqnet.archive import MAX_JSON_DEPTH
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
from seqnet.conf.updaters import Adam
from seqnet.errors import ModelFileError
from seqnet.network import MultiLayerNetwork
from seqnet.serialization import MAX_PARAMETERS
from tests.seqnet._nets import make_net, random_dataset

ROOT = Path(__file__).resolve().parents[2]


def rewrite(src: Path, dst: Path, replace: dict[str, bytes] | None = None,
            extra: list[tuple[str, bytes]] | None = None) -> Path:
    """A copy of the zip ``src`` with entries replaced and extra ones appended (names may
    repeat)."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, replace.get(name, zin.read(name)))
        for name, data in extra or []:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")        # zipfile warns of a duplicate name
                zout.writestr(name, data)
    return dst


def conf_with(src: Path, edit) -> bytes:
    with zipfile.ZipFile(src) as zf:
        document = json.loads(zf.read("configuration.json"))
    edit(document)
    return json.dumps(document).encode()


def npz_with(src: Path, arrays: dict[str, np.ndarray] | None = None,
             raw: dict[str, bytes] | None = None) -> bytes:
    with zipfile.ZipFile(src) as zf, np.load(io.BytesIO(zf.read("parameters.npz"))) as npz:
        table = {k: npz[k] for k in npz.files}
    table.update(arrays or {})
    out = io.BytesIO()
    np.savez(out, **table)
    if not raw:
        return out.getvalue()
    with zipfile.ZipFile(out) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    members.update(raw)
    again = io.BytesIO()
    with zipfile.ZipFile(again, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, data)
    return again.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False,
                                                   "shape": shape})
    return buffer.getvalue()


def set_n_out(n_out: int):
    def edit(document):
        document["layers"][0]["n_out"] = n_out
        document["layers"][1]["n_in"] = n_out
    return edit


def deep_conf(src: Path) -> bytes:
    def edit(document):
        document["layers"][0]["name"] = "DEEP"
    depth = MAX_JSON_DEPTH * 200
    return conf_with(src, edit).replace(b'"DEEP"', b"[" * depth + b"1" + b"]" * depth)


@pytest.fixture(scope="module")
def honest(tmp_path_factory) -> Path:
    """About 4.2 M parameters with Adam's state: big enough that loading it shows in the
    memory peak."""
    path = tmp_path_factory.mktemp("model") / "honest.zip"
    net = make_net([GravesLSTM(n_in=16, n_out=1024), RnnOutputLayer(n_in=1024, n_out=4)],
                   updater=Adam(learning_rate=1e-3))
    net.fit(random_dataset(np.random.default_rng(0), 4, 16, 4, 5))
    net.save(path)
    return path


def hostile_variants(honest: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (zip, what the error must mention)."""
    big_unused = folder / "unused.zip"
    rewrite(honest, big_unused)
    with zipfile.ZipFile(big_unused, "a", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("padding.bin", "w", force_zip64=True) as f:
        block = bytes(2**24)
        for _ in range(16):              # 256 MiB of zeros, a quarter MB compressed
            f.write(block)
    variants = {
        "unused 256 MiB entry": (big_unused, ""),
        "n_out 8000": (rewrite(honest, folder / "n8000.zip", {
            "configuration.json": conf_with(honest, set_n_out(8000))}), "0_W"),
        "n_out 100000": (rewrite(honest, folder / "n100000.zip", {
            "configuration.json": conf_with(honest, set_n_out(100000))}), "parameters"),
        "npy header (2**40,)": (rewrite(honest, folder / "header.zip", {
            "parameters.npz": npz_with(honest, raw={"0_W.npy": npy_header((2**40,))})}),
            "0_W"),
        "npy header lying about its shape": (rewrite(honest, folder / "header2.zip", {
            "parameters.npz": npz_with(honest, raw={"0_W.npy": npy_header((16, 4096))})}),
            "0_W"),
        "object dtype": (rewrite(honest, folder / "object.zip", {
            "parameters.npz": npz_with(honest, raw={"0_b.npy": npy_header((1, 4096), "|O")})}),
            "0_b"),
        "deep JSON": (rewrite(honest, folder / "deep.zip", {
            "configuration.json": deep_conf(honest)}), "nested"),
        "deep normaliser JSON": (rewrite(honest, folder / "deepnorm.zip", extra=[
            ("normalizer.json", b"[" * 100000 + b"]" * 100000)]), "normalizer.json"),
        "two configuration.json": (rewrite(honest, folder / "dup.zip", extra=[
            ("configuration.json", conf_with(honest, set_n_out(8)))]), "appears twice"),
        "two parameters.npz": (rewrite(honest, folder / "dup2.zip", extra=[
            ("parameters.npz", b"x")]), "appears twice"),
        "NaN parameter": (rewrite(honest, folder / "nan.zip", {
            "parameters.npz": npz_with(honest, {"1_b": np.full((1, 4), np.nan, np.float32)})}),
            "1_b"),
        "inf parameter": (rewrite(honest, folder / "inf.zip", {
            "parameters.npz": npz_with(honest, {"0_RW": np.full((1024, 4099), np.inf,
                                                                np.float32)})}), "0_RW"),
        "float64 arrays in a float32 model": (rewrite(honest, folder / "f64.zip", {
            "parameters.npz": npz_with(honest, {"1_b": np.zeros((1, 4))})}), "1_b.*float64"),
        "big meta.json": (rewrite(honest, folder / "meta.zip", {
            "meta.json": b" " * (2**20) + b"{}"}), "meta.json"),
        "huge updater.pt": (rewrite(honest, folder / "updater.zip", extra=[
            ("updater.pt", bytes(2**27))]), "updater.pt"),
    }
    return variants


@pytest.fixture(scope="module")
def variants(honest, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return hostile_variants(honest, tmp_path_factory.mktemp("hostile"))


def test_every_hostile_variant_is_a_model_file_error(honest, variants):
    MultiLayerNetwork.load(honest)
    for name, (path, mention) in variants.items():
        started = time.perf_counter()
        if name == "unused 256 MiB entry":
            MultiLayerNetwork.load(path)     # loads: the extra entry is never read
        else:
            with pytest.raises(ModelFileError, match=mention) as info:
                MultiLayerNetwork.load(path)
                pytest.fail(f"{name}: loaded")
            assert str(path) in str(info.value), name
        assert time.perf_counter() - started < 10, name


def test_the_parameter_cap_is_checked_before_anything_is_built(honest, tmp_path):
    n = int((MAX_PARAMETERS / 4) ** 0.5) + 1
    path = rewrite(honest, tmp_path / "cap.zip", {
        "configuration.json": conf_with(honest, set_n_out(n))})
    with pytest.raises(ModelFileError, match=f"at most {MAX_PARAMETERS} parameters"):
        MultiLayerNetwork.load(path)


# The peak resident set of the child's own address space: VmHWM starts afresh at exec, where
# getrusage's ru_maxrss keeps the parent's peak from before the fork.
_CHILD = textwrap.dedent("""
    import sys
    from seqnet.errors import ModelFileError
    from seqnet.network import MultiLayerNetwork

    def peak():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

    before = peak()
    try:
        MultiLayerNetwork.load(sys.argv[1])
    except ModelFileError:
        pass
    print(before, peak())
""")


def _peak_kib(path: Path) -> tuple[int, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True,
                          text=True, env=env, timeout=120, check=True)
    before, after = done.stdout.split()
    return int(before), int(after)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_hostile_zip_costs_less_than_twice_the_honest_load(honest, variants):
    """Peak RSS of the whole child, and the growth the load itself causes."""
    base_before, base_after = _peak_kib(honest)
    for name in ("unused 256 MiB entry", "n_out 8000", "npy header (2**40,)",
                 "huge updater.pt"):
        before, after = _peak_kib(variants[name][0])
        assert after < 2 * base_after, (name, after, base_after)
        # The load's own growth, with 16 MiB for allocator noise.
        assert after - before < 2 * (base_after - base_before) + 16 * 1024, \
            (name, after - before, base_after - base_before)


def test_an_entry_that_holds_more_than_it_declares_is_refused(honest, tmp_path):
    """The declared sizes (local header and central directory) say 10 bytes; the deflated
    data holds 64 MiB. The read stops at the declaration and the CRC refuses the entry."""
    path = rewrite(honest, tmp_path / "lie.zip")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("normalizer.json", b" " * 2**26)
    raw = bytearray(path.read_bytes())
    name = b"normalizer.json"
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.rfind(signature)
        while raw[at + (30 if signature == b"PK\x03\x04" else 46):].find(name) != 0:
            at = raw.rfind(signature, 0, at)
        raw[at + offset:at + offset + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("normalizer.json").file_size == 10
    started = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"normalizer\.json: unreadable entry.*CRC") as info:
        MultiLayerNetwork.load(path)
    assert time.perf_counter() - started < 10, str(info.value)
