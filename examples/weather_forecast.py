"""One-step-ahead forecasting with ``rnn_time_step``: hourly Seattle temperatures of 2010.

The guide's weather story: train a recurrent network on the history, then forecast each next
hour as it arrives. Feeding one new hour to ``rnn_time_step`` continues from the stored
state, so each forecast costs one step. Re-running ``output()`` over the whole history for
every new hour gives the same numbers (we check it) at a cost that grows with the history.

Data: ``fixtures/seattle_temps/seattle-temps.csv`` (NOAA, public domain, from the
vega_datasets 0.9.0 wheel), 8,759 hourly readings in degrees Fahrenheit. The first 80 % of
the hours are the history (training), the rest are forecast one hour at a time.

Model: features are the standardised temperature plus the hour of day as (sin, cos); the
label is the standardised change to the next hour, so the forecast is the current reading
plus the predicted change (a network that predicts zero change is the persistence forecast,
the baseline we compare with). ``GravesLSTM -> RnnOutputLayer`` (identity, MSE), trained on
week-long windows of the history with truncated BPTT.

Run ``python examples/weather_forecast.py`` (full length) or with ``--quick``; the PNG of
forecasts against the truth is written to ``--out`` (default ``weather_forecast.png``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples._common import argument_parser, epoch_count, initialized_network  # noqa: E402

DATA = ROOT / "fixtures" / "seattle_temps" / "seattle-temps.csv"


def load_temperatures(path: str | Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """Temperatures ``[T]`` (float64, deg F) and the hour of day ``[T]`` of every reading."""
    import pandas as pd

    frame = pd.read_csv(path)
    hours = pd.to_datetime(frame["date"], format="%Y/%m/%d %H:%M").dt.hour.to_numpy()
    return frame["temp"].to_numpy(dtype=np.float64), hours


def features(temps_std: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """``[3, T]`` float32: standardised temperature, sin and cos of the hour of day.

    >>> features(np.zeros(2), np.array([0, 6])).round(3).tolist()
    [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    """
    angle = 2.0 * np.pi * hours / 24.0
    return np.stack([temps_std, np.sin(angle), np.cos(angle)]).astype(np.float32)


def training_windows(x: np.ndarray, y: np.ndarray, length: int, stride: int):
    """DataSet of windows ``[N, 3, length]`` with their labels ``[N, 1, length]``."""
    from seqdata.dataset import DataSet

    starts = np.arange(0, x.shape[1] - length + 1, stride)
    idx = starts[:, None] + np.arange(length)
    return DataSet(np.ascontiguousarray(x[:, idx].transpose(1, 0, 2)),
                   np.ascontiguousarray(y[None, idx].transpose(1, 0, 2)))


def build_network(hidden: int, seed: int, tbptt: int):
    from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
    from seqnet.conf.multilayer import MultiLayerConfiguration
    from seqnet.conf.updaters import Adam

    conf = MultiLayerConfiguration(
        layers=[GravesLSTM(n_in=3, n_out=hidden, activation="tanh"),
                RnnOutputLayer(n_out=1, activation="identity", loss="MSE")],
        backprop_type="TRUNCATED_BPTT", tbptt_forward_length=tbptt,
        tbptt_backward_length=tbptt, updater=Adam(5e-3), seed=seed)
    return initialized_network(conf)


def forecast_stepwise(net, x: np.ndarray, history: int) -> tuple[np.ndarray, float]:
    """Warm the state on the history in one call, then one ``rnn_time_step`` per new hour.

    Returns the forecasts made at steps ``history .. T-2`` (each for the following hour) and
    the seconds the per-hour loop took.
    """
    net.rnn_clear_previous_state()
    net.rnn_time_step(x[None, :, :history])
    start = time.perf_counter()
    out = [np.asarray(net.rnn_time_step(x[None, :, t]))[0, 0]
           for t in range(history, x.shape[1] - 1)]
    return np.asarray(out), time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argument_parser(__doc__)
    parser.add_argument("--out", default="weather_forecast.png", help="PNG of the forecast")
    args = parser.parse_args(argv)

    from seqnet.workflow.plots import plot_forecast

    temps, hours = load_temperatures()
    if args.quick:
        temps, hours = temps[:2400], hours[:2400]
    history = int(0.8 * len(temps))
    mean, std = temps[:history].mean(), temps[:history].std()
    x = features((temps - mean) / std, hours)
    change = np.diff(temps)
    change_std = change[:history - 1].std()
    y = (change / change_std).astype(np.float32)    # label at t: change from t to t + 1
    epochs = epoch_count(args, quick=3, full=30)
    windows = training_windows(x[:, :history - 1], y[:history - 1], length=168, stride=24)
    net = build_network(16 if args.quick else 48, args.seed, tbptt=56)

    start = time.perf_counter()
    scores = [net.score(windows)]
    for epoch in range(1, epochs + 1):
        for batch in windows.split(32):
            net.fit(batch)
        scores.append(net.score(windows))
        print(f"epoch {epoch:3d}  train score {scores[-1]:.5f}")
    train_seconds = time.perf_counter() - start

    stepwise, step_seconds = forecast_stepwise(net, x, history)
    # The same forecasts from output() over the whole series: the forecast made at step t
    # only depends on steps 0..t, so one full run holds every one of them.
    full = np.asarray(net.output(x[None]))[0, 0, history:-1]
    max_abs_diff = float(np.max(np.abs(full - stepwise)))
    # What re-running output() on the growing history for every new hour costs, measured on
    # a few hours and scaled to all of them.
    probe = np.linspace(history, x.shape[1] - 2, 5).astype(int)
    t0 = time.perf_counter()
    for t in probe:
        net.output(x[None, :, :t + 1])
    rerun_seconds = (time.perf_counter() - t0) / len(probe) * len(stepwise)

    predicted = temps[history:-1] + stepwise * change_std
    truth = temps[history + 1:]
    rmse = float(np.sqrt(np.mean((predicted - truth) ** 2)))
    persistence = float(np.sqrt(np.mean((temps[history:-1] - truth) ** 2)))
    shown = min(len(truth), 24 * 14)
    plot_forecast(truth[:shown], predicted[:shown], args.out,
                  title="Seattle 2010: next-hour forecast, first two weeks after the history",
                  ylabel="deg F")
    print(f"{len(truth)} hourly forecasts: RMSE {rmse:.2f} F (persistence {persistence:.2f} F)")
    print(f"rnn_time_step vs output(): max |difference| {max_abs_diff:.2e}; one step per hour "
          f"took {step_seconds:.2f} s, re-running output() would take ~{rerun_seconds:.1f} s "
          f"({rerun_seconds / max(step_seconds, 1e-9):.0f}x)")
    print(f"training {train_seconds:.1f} s; plot: {args.out}")
    return {"scores": scores, "rmse": rmse, "persistence_rmse": persistence,
            "max_abs_diff": max_abs_diff, "step_seconds": step_seconds,
            "rerun_seconds": rerun_seconds, "forecasts": len(truth), "png": args.out,
            "stepwise": stepwise, "full_output": full}


if __name__ == "__main__":
    main()
