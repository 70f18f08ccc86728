"""seqnet against hand-written PyTorch: fit steps, time-stepping, padded epochs, data overhead.

Run from the repository root::

    python benchmarks/bench_seqnet.py                # the issue's sizes (a few minutes)
    python benchmarks/bench_seqnet.py --quick        # small sizes, a smoke run

Every ratio compares two things measured in this run, on this machine, with
``torch.set_num_threads(--threads)``: each side is warmed up, then the sides are measured in
turn (interleaved, so a change in machine load hits both alike) ``--repeats`` times, and the
median is kept. Wall time and process CPU time (all threads) are both reported; on a shared
machine the CPU-time ratio is the steadier one.

- ``fit step``: one ``net.fit(DataSet)`` update (batch 32, 10 inputs, 200 units, softmax output
  over 5 classes, MCXENT, Adam) of a GravesLSTM and of an LSTM network, against the step
  people write by hand: ``nn.LSTM`` + ``nn.Linear``, ``cross_entropy(reduction="sum") / N``,
  ``torch.optim.Adam``, time-major input prepared once.
- ``rnn_time_step``: one single-step call after 10 and after 1,000 steps of stored history,
  and ``output()`` over the 1,000-step sequence (native path).
- ``call cost``: one ``rnn_time_step`` call of two GravesLSTM(200) layers and a softmax
  RnnOutputLayer on the native path (``net.inference.onnxruntime = False``), at batch 1 and
  32, against the same step written by hand in eager PyTorch (two peephole cells with
  ``addmm``, a softmax, no autograd) on the same parameters, checked equal before timing.
- ``padded epoch``: one epoch of ``net.fit`` over minibatches of a corpus with lengths uniform
  in 10-1000 (features right-padded, ALIGN_START): bucketed by length with padded steps skipped,
  against the plain order through the masked loop (``skip_padding = False``), plus the loss of
  one batch both ways.
- ``fit() data overhead``: ``net.fit(iterator)`` (bucketed, ``prefetch=2``) over the corpus
  converted to the packed store, against the same minibatches already in memory; over the
  CSV files themselves (with and without prefetch) for reference: parsing text costs CPU
  that a background thread cannot hide when torch keeps every core busy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.corpus import make_corpus  # noqa: E402
from seqdata.dataset import DataSet  # noqa: E402
from seqdata.iterator import SequenceRecordReaderDataSetIterator  # noqa: E402
from seqdata.readers.csv import CSVSequenceRecordReader  # noqa: E402
from seqdata.splits import NumberedFileInputSplit  # noqa: E402
from seqdata.store.convert import convert  # noqa: E402
from seqnet.conf.enums import Activation, LossFunction  # noqa: E402
from seqnet.conf.layers import LSTM, GravesLSTM, RnnOutputLayer  # noqa: E402
from seqnet.conf.multilayer import MultiLayerConfiguration  # noqa: E402
from seqnet.conf.updaters import Adam  # noqa: E402
from seqnet.network import MultiLayerNetwork  # noqa: E402
from seqnet.nn.graves import compiled  # noqa: E402

Timing = dict[str, tuple[float, float]]     # name -> (median wall s, median CPU s)


def interleaved(functions: dict[str, Callable[[], Any]], repeats: int,
                warmup: int = 1) -> Timing:
    """Median wall and CPU seconds of each function, measured in turn ``repeats`` times
    (the order rotates every round, so no function always runs right after the same one)."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    wall: dict[str, list[float]] = {k: [] for k in functions}
    cpu: dict[str, list[float]] = {k: [] for k in functions}
    names = list(functions)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            function = functions[name]
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in functions}


class Report:
    """Collects the ratio lines and prints them as they come."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def times(self, timing: Timing, scale: float = 1.0, unit: str = "s") -> None:
        for name, (wall, cpu) in timing.items():
            self._print(f"    {name:<34} wall {wall * scale:10.4f} {unit}   "
                        f"cpu {cpu * scale:10.4f} {unit}")

    def ratio(self, label: str, wall: float, cpu: float, target: str, ok: bool) -> None:
        line = (f"{label:<50} wall {wall:7.3f}x  cpu {cpu:7.3f}x   target {target:<8} "
                f"{'ok' if ok else 'MISSED'}")
        self.lines.append(line)
        self._print(line)

    def value(self, label: str, text: str, ok: bool) -> None:
        line = f"{label:<50} {text}   {'ok' if ok else 'MISSED'}"
        self.lines.append(line)
        self._print(line)

    @staticmethod
    def _print(line: str) -> None:
        print(line, flush=True)


def make_net(recurrent: type, n_in: int, hidden: int, n_out: int, loss: LossFunction,
             activation: Activation, seed: int = 1) -> MultiLayerNetwork:
    conf = MultiLayerConfiguration(
        layers=[recurrent(n_in=n_in, n_out=hidden),
                RnnOutputLayer(n_out=n_out, loss=loss, activation=activation)],
        updater=Adam(1e-3), seed=seed)
    net = MultiLayerNetwork(conf)
    net.init()
    return net


def classification_batch(rng: np.random.Generator, n: int, c: int, k: int,
                         t: int) -> tuple[DataSet, np.ndarray]:
    x = rng.normal(size=(n, c, t)).astype(np.float32)
    classes = rng.integers(0, k, size=(n, t))
    labels = np.zeros((n, k, t), np.float32)
    labels[np.arange(n)[:, None], classes, np.arange(t)[None, :]] = 1.0
    return DataSet(x, labels), classes


class HandWrittenStep:
    """The step people write: nn.LSTM + nn.Linear, summed cross entropy / N, Adam."""

    def __init__(self, ds: DataSet, classes: np.ndarray, hidden: int, k: int) -> None:
        n, c, _ = ds.features.shape
        torch.manual_seed(1)
        self.lstm, self.linear = nn.LSTM(c, hidden), nn.Linear(hidden, k)
        self.opt = torch.optim.Adam([*self.lstm.parameters(), *self.linear.parameters()],
                                    lr=1e-3)
        self.x = torch.from_numpy(ds.features).permute(2, 0, 1).contiguous()   # [T, N, C]
        self.target = torch.from_numpy(classes).t().reshape(-1)
        self.n, self.k = n, k

    def __call__(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        out, _ = self.lstm(self.x)
        loss = F.cross_entropy(self.linear(out).reshape(-1, self.k), self.target,
                               reduction="sum") / self.n
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def bench_fit_steps(report: Report, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    for steps in args.fit_steps:
        print(f"\nfit step: batch {args.batch}, {args.inputs} inputs, {args.hidden} units, "
              f"T = {steps}, Adam", flush=True)
        ds, classes = classification_batch(rng, args.batch, args.inputs, args.classes, steps)
        graves, lstm = (make_net(kind, args.inputs, args.hidden, args.classes,
                                 LossFunction.MCXENT, Activation.SOFTMAX)
                        for kind in (GravesLSTM, LSTM))
        hand = HandWrittenStep(ds, classes, args.hidden, args.classes)
        sides = {"hand-written nn.LSTM + Linear": hand,
                 "seqnet GravesLSTM": lambda: graves.fit(ds),
                 "seqnet LSTM": lambda: lstm.fit(ds)}
        if graves.layers[0].uses_compiled_loops():
            # The same network on the Python loops: what the compiled loops save.
            python_loops = make_net(GravesLSTM, args.inputs, args.hidden, args.classes,
                                    LossFunction.MCXENT, Activation.SOFTMAX)
            python_loops.layers[0].uses_compiled_loops = lambda: False
            sides["seqnet GravesLSTM, Python loops"] = lambda: python_loops.fit(ds)
        timing = interleaved(sides, args.repeats)
        report.times(timing)
        base = timing["hand-written nn.LSTM + Linear"]
        for name, target in (("seqnet GravesLSTM", 1.25), ("seqnet LSTM", 1.15)):
            wall, cpu = (timing[name][j] / base[j] for j in (0, 1))
            report.ratio(f"fit step T={steps}: {name.split()[1]} / hand-written", wall, cpu,
                         f"<= {target}", min(wall, cpu) <= target)
        if "seqnet GravesLSTM, Python loops" in timing:
            wall, cpu = (timing["seqnet GravesLSTM, Python loops"][j] / base[j] for j in (0, 1))
            report.value(f"fit step T={steps}: GravesLSTM Python loops / hand-written",
                         f"wall {wall:7.3f}x  cpu {cpu:7.3f}x   (reference)", True)


def bench_time_step(report: Report, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    history = args.history
    x = rng.normal(size=(args.batch, args.inputs, history + 1)).astype(np.float32)
    block = args.step_block
    for kind in (GravesLSTM, LSTM):
        print(f"\nrnn_time_step ({kind.__name__}, batch {args.batch}, {args.hidden} units): "
              f"blocks of {block} single steps", flush=True)
        short, long = (make_net(kind, args.inputs, args.hidden, args.classes,
                                LossFunction.MCXENT, Activation.SOFTMAX) for _ in range(2))
        short.inference.onnxruntime = long.inference.onnxruntime = False
        short.rnn_time_step(x[:, :, :10])
        long.rnn_time_step(x[:, :, :history])
        step = x[:, :, history]

        def steps_on(net: MultiLayerNetwork) -> Callable[[], None]:
            def run() -> None:
                for _ in range(block):
                    net.rnn_time_step(step)
            return run

        timing = interleaved({"after 10 steps": steps_on(short),
                              f"after {history} steps": steps_on(long),
                              f"output() over {history} steps": lambda: short.output(
                                  x[:, :, :history])}, args.repeats)
        per_step = {k: (w / block, c / block) if k.startswith("after") else (w, c)
                    for k, (w, c) in timing.items()}
        report.times(per_step, 1e3, "ms")
        s10, s_long = per_step["after 10 steps"], per_step[f"after {history} steps"]
        out = per_step[f"output() over {history} steps"]
        wall, cpu = s_long[0] / s10[0], s_long[1] / s10[1]
        report.ratio(f"{kind.__name__} step after {history} / after 10", wall, cpu, "<= 1.3",
                     min(wall, cpu) <= 1.3)
        wall, cpu = out[0] / s_long[0], out[1] / s_long[1]
        report.ratio(f"{kind.__name__} output({history}) / one step", wall, cpu, ">= 30",
                     max(wall, cpu) >= 30)


class HandWrittenTimeStep:
    """One time step written by hand: a peephole cell per layer with ``addmm`` (DL4J's gate
    order [a | f | o | i], peepholes f, o, i), a softmax output, no autograd."""

    def __init__(self, net: MultiLayerNetwork, n: int) -> None:
        table = {k: torch.from_numpy(v) for k, v in net.param_table().items()}
        self.layers = []
        for i in range(len(net.conf.layers) - 1):
            rw = table[f"{i}_RW"]
            hid = rw.shape[0]
            self.layers.append((table[f"{i}_W"], rw[:, :4 * hid].contiguous(),
                                table[f"{i}_b"][0], *(rw[:, 4 * hid + k].clone()
                                                      for k in range(3))))
        last = len(net.conf.layers) - 1
        self.w_out, self.b_out = table[f"{last}_W"], table[f"{last}_b"][0]
        self.state = [(torch.zeros(n, w[1].shape[0]), torch.zeros(n, w[1].shape[0]))
                      for w in self.layers]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for k, (w, rw, b, p_f, p_o, p_i) in enumerate(self.layers):
            h, c = self.state[k]
            a, f, o, i = torch.addmm(b, x, w).addmm_(h, rw).chunk(4, 1)
            a = torch.tanh(a)
            f = torch.sigmoid(f + p_f * c)
            i = torch.sigmoid(i + p_i * c)
            c = f * c + i * a
            o = torch.sigmoid(o + p_o * c)
            h = o * torch.tanh(c)
            self.state[k] = (h, c)
            x = h
        return torch.softmax(torch.addmm(self.b_out, x, self.w_out), dim=1)


def bench_call_cost(report: Report, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(4)
    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=args.inputs, n_out=args.hidden),
                GravesLSTM(n_in=args.hidden, n_out=args.hidden),
                RnnOutputLayer(n_out=args.classes, activation=Activation.SOFTMAX)], seed=5)
    net = MultiLayerNetwork(conf)
    net.init()
    net.inference.onnxruntime = False
    block = args.step_block * 4
    for n in (1, args.batch):
        print(f"\ncall cost: one rnn_time_step, two GravesLSTM({args.hidden}) + softmax, "
              f"batch {n}, native path, blocks of {block} calls", flush=True)
        x = torch.from_numpy(rng.normal(size=(n, args.inputs)).astype(np.float32))
        hand = HandWrittenTimeStep(net, n)
        net.rnn_clear_previous_state()
        diff = max(float((hand(x) - net.rnn_time_step(x)).abs().max()) for _ in range(20))
        report.value(f"call cost batch {n}: |seqnet - hand-written| after 20 steps",
                     f"{diff:.1e}   target <= 1e-5", diff <= 1e-5)

        def calls(step: Callable[[torch.Tensor], Any]) -> Callable[[], None]:
            def run() -> None:
                for _ in range(block):
                    step(x)
            return run

        timing = interleaved({"hand-written eager step": calls(hand),
                              "seqnet rnn_time_step": calls(net.rnn_time_step)}, args.repeats)
        report.times({k: (w / block, c / block) for k, (w, c) in timing.items()}, 1e6, "us")
        base, ours = timing["hand-written eager step"], timing["seqnet rnn_time_step"]
        wall, cpu = ours[0] / base[0], ours[1] / base[1]
        report.ratio(f"call cost batch {n}: rnn_time_step / hand-written", wall, cpu,
                     "<= 1.5", min(wall, cpu) <= 1.5)


def csv_iterator(pattern: str, n_files: int, batch: int, **options: Any
                 ) -> SequenceRecordReaderDataSetIterator:
    reader = CSVSequenceRecordReader()
    reader.initialize(NumberedFileInputSplit(pattern, 0, n_files - 1))
    # Last column is a real-valued label: regression with one output per step.
    return SequenceRecordReaderDataSetIterator(reader, batch, 1, -1, regression=True,
                                               **options)


def regression_net(args: argparse.Namespace, skip_padding: bool) -> MultiLayerNetwork:
    net = make_net(GravesLSTM, args.inputs, args.hidden, 1, LossFunction.MSE,
                   Activation.IDENTITY)
    net.layers[0].skip_padding = skip_padding
    return net


def bench_padded_epoch(report: Report, args: argparse.Namespace, pattern: str) -> None:
    print(f"\npadded epoch: {args.files} sequences, lengths uniform in "
          f"{args.min_length}-{args.max_length}, batch {args.batch}, GravesLSTM "
          f"{args.hidden} units, MSE", flush=True)
    plain_batches = list(csv_iterator(pattern, args.files, args.batch))
    bucket_it = csv_iterator(pattern, args.files, args.batch, bucket_by_length=True)
    bucket_batches = list(bucket_it)
    plain_steps = sum(ds.features.shape[0] * ds.features.shape[2] for ds in plain_batches)
    bucket_steps = sum(ds.features.shape[0] * ds.features.shape[2] for ds in bucket_batches)
    print(f"    padded steps computed: plain {plain_steps}, bucketed {bucket_steps} "
          f"(padding fraction bucketed {bucket_it.padding_fraction:.3f})", flush=True)

    masked, packed = regression_net(args, False), regression_net(args, True)
    probe = max(plain_batches, key=lambda ds: float((ds.features_mask == 0).mean()))
    loss_masked, loss_packed = masked.score(probe), packed.score(probe)
    diff = abs(loss_masked - loss_packed)
    report.value("one batch: |packed loss - masked-loop loss|",
                 f"{diff:.2e} (loss {loss_masked:.6f}, padding "
                 f"{float((probe.features_mask == 0).mean()):.2f})   target <= 1e-5",
                 diff <= 1e-5)

    def epoch(net: MultiLayerNetwork, batches: list[DataSet]) -> Callable[[], None]:
        def run() -> None:
            for ds in batches:
                net.fit(ds)
        return run

    timing = interleaved({"plain order, masked loop": epoch(masked, plain_batches),
                          "bucketed, padding skipped": epoch(packed, bucket_batches)},
                         args.epoch_repeats, warmup=0)
    report.times(timing)
    wall, cpu = (timing["bucketed, padding skipped"][j] / timing["plain order, masked loop"][j]
                 for j in (0, 1))
    report.ratio("padded epoch: bucketed+packed / plain masked", wall, cpu, "<= 0.6",
                 min(wall, cpu) <= 0.6)


def bench_data_overhead(report: Report, args: argparse.Namespace, pattern: str,
                        store_dir: str) -> None:
    print("\nfit() data overhead: iterators (bucketed, prefetch=2) over the packed store and "
          "over the CSV files (and CSV with prefetch=0) vs the same minibatches in memory",
          flush=True)
    store = convert(NumberedFileInputSplit(pattern, 0, args.files - 1), store_dir,
                    progress=False)
    iterators = {
        "store": SequenceRecordReaderDataSetIterator(
            store.reader("features"), args.batch, 1, -1, regression=True,
            bucket_by_length=True, prefetch=2),
        "CSV": csv_iterator(pattern, args.files, args.batch, bucket_by_length=True,
                            prefetch=2),
        "CSV, prefetch=0": csv_iterator(pattern, args.files, args.batch,
                                        bucket_by_length=True),
    }
    batches = list(iterators["CSV, prefetch=0"])
    nets = {key: regression_net(args, True) for key in (*iterators, "memory")}

    def compute() -> None:
        for ds in batches:
            nets["memory"].fit(ds)

    def fit(key: str) -> Callable[[], None]:
        return lambda: nets[key].fit(iterators[key], progress=False)

    timing = interleaved({**{f"fit(iterator), {key}": fit(key) for key in iterators},
                          "fit(DataSet) per batch in memory": compute},
                         args.epoch_repeats, warmup=1)
    report.times(timing)
    comp_t = timing["fit(DataSet) per batch in memory"]
    for key in iterators:
        fit_t = timing[f"fit(iterator), {key}"]
        wall, cpu = ((fit_t[j] - comp_t[j]) / fit_t[j] for j in (0, 1))
        target = "target <= 5 %" if key == "store" else "(reference)"
        report.value(f"fit(): data overhead share, {key}",
                     f"wall {wall * 100:6.2f} %  cpu {cpu * 100:6.2f} %   {target}",
                     min(wall, cpu) <= 0.05 or key != "store")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--inputs", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--fit-steps", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--step-block", type=int, default=50)
    parser.add_argument("--files", type=int, default=256)
    parser.add_argument("--min-length", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epoch-repeats", type=int, default=5)
    parser.add_argument("--only", nargs="+",
                        choices=["fit", "step", "call", "epoch", "overhead"],
                        default=["fit", "step", "call", "epoch", "overhead"])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: a smoke run, not the acceptance numbers")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.fit_steps, args.history, args.files = 32, [20], 100, 64
        args.max_length, args.repeats, args.epoch_repeats, args.step_block = 100, 3, 1, 10
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"GravesLSTM runs the {compiled.status()}", flush=True)
    report = Report()
    if "fit" in args.only:
        bench_fit_steps(report, args)
    if "step" in args.only:
        bench_time_step(report, args)
    if "call" in args.only:
        bench_call_cost(report, args)
    if {"epoch", "overhead"} & set(args.only):
        with tempfile.TemporaryDirectory() as tmp:
            pattern = make_corpus(tmp, args.files, args.min_length, args.max_length,
                                  args.inputs + 1, seed=3)
            if "epoch" in args.only:
                bench_padded_epoch(report, args, pattern)
            if "overhead" in args.only:
                bench_data_overhead(report, args, pattern, os.path.join(tmp, "store"))
    print(f"\nsummary (load average {os.getloadavg()[0]:.2f}; GravesLSTM: {compiled.status()}):")
    for line in report.lines:
        print("  " + line)


if __name__ == "__main__":
    main()
