"""ONNX Runtime on an exported GravesLSTM against seqnet on the same inputs.

Run from the repository root::

    python benchmarks/bench_onnx.py              # the sizes below (about ten seconds)
    python benchmarks/bench_onnx.py --quick      # small sizes, a smoke run

Both sides get ``--threads`` intra-op threads (torch and ONNX Runtime alike) and are measured
interleaved (``interleaved`` from ``bench_seqnet``: warmed up, taken in turn ``--repeats``
times, the median kept). Every ratio is seqnet's time over ONNX Runtime's (above 1: the
Runtime is faster), measured in this run, on this machine; each case also checks that the two
outputs agree within 2e-5.

- ``output``: the whole sequence batch (GravesLSTM 10 -> 200 -> softmax 5, batch 32, 200
  steps): ``net.output(x)`` against the export without a mask (one LSTM node).
- ``masked output``: the same batch left-padded (ALIGN_END, lengths 20-200) with its mask:
  ``net.output(x, mask)`` against the ``with_mask`` export (a Scan over the steps).
- ``rnn_time_step``: one step of batch 32 after 10 steps of stored history:
  ``net.rnn_time_step`` against a call of the ``stateful`` export fed the state it returned.
- ``Japanese Vowels``: the main job's network (GravesLSTM 12 -> 100 -> 9) on a test-sized
  batch (64 utterances, 29 steps, ALIGN_END mask), both exports.

Those compare seqnet's native path (``net.inference.onnxruntime = False``). The last block
compares seqnet on ONNX Runtime (its default where onnxruntime is installed:
:mod:`seqnet.inference`) with ONNX Runtime running the exported graph directly, so the ratio
is seqnet's per-call overhead (target <= 1.25): ``output()`` at batch 32 and batch 1 over 100
steps, and one streaming ``rnn_time_step`` call at batch 1 and 32 (both sides feed their
returned state back).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_seqnet import interleaved  # noqa: E402
from seqnet.conf.layers import GravesLSTM, RnnOutputLayer  # noqa: E402
from seqnet.conf.multilayer import MultiLayerConfiguration  # noqa: E402
from seqnet.network import MultiLayerNetwork  # noqa: E402
from seqnet.onnx import to_onnx  # noqa: E402

ATOL = 2e-5


def make_net(n_in: int, hidden: int, n_out: int, native: bool = True) -> MultiLayerNetwork:
    net = MultiLayerNetwork(MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=n_in, n_out=hidden), RnnOutputLayer(n_out=n_out)], seed=1))
    net.init()
    net.inference.onnxruntime = not native
    return net


def session(net: MultiLayerNetwork, threads: int, **export: bool) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(to_onnx(net, **export).SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def left_padded(rng: np.random.Generator, n: int, steps: int, shortest: int) -> np.ndarray:
    mask = np.zeros((n, steps), np.float32)
    for i, length in enumerate(rng.integers(shortest, steps + 1, size=n)):
        mask[i, steps - length:] = 1.0
    return mask


def compare(label: str, seqnet_fn: Callable[[], Any], onnx_fn: Callable[[], Any],
            repeats: int, target: float | None = None) -> str:
    expected, got = seqnet_fn(), onnx_fn()
    error = float(np.abs(np.asarray(expected) - np.asarray(got)).max())
    if error > ATOL:
        raise AssertionError(f"{label}: outputs differ by {error}")
    timing = interleaved({"seqnet": seqnet_fn, "onnxruntime": onnx_fn}, repeats)
    (s_wall, s_cpu), (o_wall, o_cpu) = timing["seqnet"], timing["onnxruntime"]
    line = (f"{label:<44} seqnet {s_wall * 1e3:9.3f} ms  onnxruntime {o_wall * 1e3:9.3f} ms  "
            f"ratio wall {s_wall / o_wall:6.2f}x  cpu {s_cpu / o_cpu:6.2f}x  "
            f"(max diff {error:.1e})")
    if target is not None:
        ok = min(s_wall / o_wall, s_cpu / o_cpu) <= target
        line += f"  target <= {target} {'ok' if ok else 'MISSED'}"
    print(line, flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 15)
    batch, steps, hidden = (8, 40, 32) if args.quick else (32, 200, 200)
    rng = np.random.default_rng(0)
    print(f"threads {args.threads}, repeats {repeats}; ratio = seqnet time / ONNX Runtime "
          f"time (above 1: the Runtime is faster)")

    net = make_net(10, hidden, 5)
    x = rng.normal(size=(batch, 10, steps)).astype(np.float32)
    plain = session(net, args.threads)
    compare(f"output [{batch}, 10, {steps}], H={hidden}", lambda: net.output(x),
            lambda: plain.run(["output"], {"features": x})[0], repeats)

    mask = left_padded(rng, batch, steps, steps // 10)
    masked = session(net, args.threads, with_mask=True)
    compare("masked output (ALIGN_END)", lambda: net.output(x, mask),
            lambda: masked.run(["output"], {"features": x, "features_mask": mask})[0],
            repeats)

    stream = session(net, args.threads, stateful=True)
    history, step = x[:, :, :10], x[:, :, 10]
    net.rnn_clear_previous_state()
    net.rnn_time_step(history)
    start = {f"state_0_{k}": v.numpy() for k, v in net.rnn_get_previous_state(0).items()}
    names = ["output", "state_0_prevAct_out", "state_0_prevMem_out"]

    # Both sides start every timed call from the same stored state (so the outputs compare);
    # a stream would feed the returned state back instead.
    def seqnet_step() -> Any:
        net.rnn_set_previous_state(0, {k[len("state_0_"):]: v for k, v in start.items()})
        return net.rnn_time_step(step)

    def onnx_step() -> Any:
        y, _, _ = stream.run(names, {"features": step[:, :, None], **start})
        return y[:, :, 0]

    compare(f"rnn_time_step, one step, batch {batch}", seqnet_step, onnx_step, repeats * 20)

    jv = make_net(12, 100, 9)
    xs = rng.normal(size=(64, 12, 29)).astype(np.float32)
    jv_mask = left_padded(rng, 64, 29, 7)
    xs *= jv_mask[:, None, :]
    jv_plain, jv_masked = session(jv, args.threads), session(jv, args.threads, with_mask=True)
    compare("Japanese Vowels batch, no mask", lambda: jv.output(xs),
            lambda: jv_plain.run(["output"], {"features": xs})[0], repeats * 4)
    compare("Japanese Vowels batch, ALIGN_END mask", lambda: jv.output(xs, jv_mask),
            lambda: jv_masked.run(["output"], {"features": xs, "features_mask": jv_mask})[0],
            repeats * 4)

    print("\nseqnet on ONNX Runtime (its default with the [onnx] extra) / ONNX Runtime "
          "directly, the same graph:")
    on_runtime = make_net(10, hidden, 5, native=False)
    for n in (batch, 1):
        xn = rng.normal(size=(n, 10, 100)).astype(np.float32)
        compare(f"output() [{n}, 10, 100] on the runtime", lambda: on_runtime.output(xn),
                lambda: plain.run(["output"], {"features": xn})[0], repeats * 2, 1.25)
    for n in (1, batch):
        compare(f"rnn_time_step batch {n} on the runtime", *streams(on_runtime, stream, n, rng),
                repeats * 50, 1.25)


def streams(net: MultiLayerNetwork, stream: Any, n: int, rng: np.random.Generator
            ) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """One streaming step each way, from the same state (zeros) and the same input, each
    feeding back the state it returned (so the first outputs compare)."""
    hidden = net.conf.layers[0].n_out
    step = rng.normal(size=(n, 10)).astype(np.float32)
    state = {"state_0_prevAct": np.zeros((n, hidden), np.float32),
             "state_0_prevMem": np.zeros((n, hidden), np.float32)}
    names = ["output", "state_0_prevAct_out", "state_0_prevMem_out"]
    net.rnn_clear_previous_state()
    feeds = {"features": step[:, :, None], **state}

    def onnx_step() -> Any:
        y, feeds["state_0_prevAct"], feeds["state_0_prevMem"] = stream.run(names, feeds)
        return y[:, :, 0]

    return lambda: net.rnn_time_step(step), onnx_step


if __name__ == "__main__":
    main()
