"""Inference on ONNX Runtime: ``output()`` and ``rnn_time_step`` run the network's exported
graph (:mod:`seqnet.onnx`) where ONNX Runtime is installed (the ``[onnx]`` extra).

Every :class:`~seqnet.network.MultiLayerNetwork` holds one :class:`OnnxRuntimeInference` as
``net.inference``. Its sessions are built from the network at first use and kept until a
parameter changes (an update in ``fit``, ``set_param_table``, any in-place change: torch's
version counter of each parameter says so). The stored RNN state stays the network's: the
runtime reads it and hands the new state back for the network to store.

The native path runs instead where the runtime cannot give the same result: without
onnxruntime or onnx, for float64 networks, off the CPU, for layers the exporter does not
handle, with ``net.inference.enabled = False`` or ``SEQNET_ONNXRUNTIME=0``, and for inputs the
graph refuses (the native path then raises its usual error). Either way the numbers agree
within 1e-5 (float32).

>>> import numpy as np
>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> from seqnet.network import MultiLayerNetwork
>>> net = MultiLayerNetwork(MultiLayerConfiguration(
...     layers=[GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], seed=1))
>>> net.init()
>>> x = np.ones((2, 3, 5), np.float32)
>>> y = net.output(x)                          # ONNX Runtime, where it is installed
>>> net.inference.enabled = False              # the switch: always the native path
>>> bool(np.abs(net.output(x) - y).max() < 1e-5)
True
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

import numpy as np
import torch

__all__ = ["ENV", "OnnxRuntimeInference", "available"]

#: The environment variable that keeps every network on the native path when set to ``0``.
ENV = "SEQNET_ONNXRUNTIME"

_log = logging.getLogger(__name__)
_available: list[bool] = []

State = tuple[torch.Tensor, torch.Tensor]


def available() -> bool:
    """Whether onnxruntime and onnx (the exporter's dependency) can be imported."""
    if not _available:
        _available.append(all(importlib.util.find_spec(name) is not None
                              for name in ("onnxruntime", "onnx")))
    return _available[0]


# NOTE [ When ONNX Runtime takes over ]
# From the first call: a network gives the same numbers on every call with the same
# parameters, never natively once and from the runtime the next time. Building a session
# (export, graph optimisation) costs tens of milliseconds, once per export kind (plain,
# masked, stateful) and parameter version: after every update, a loop of fit(ds); output(x)
# pays it each time (set net.inference.enabled = False there); evaluating many batches,
# serving and time-stepping pay it once.


class OnnxRuntimeInference:
    """ONNX Runtime sessions for one network, keyed by its parameters' versions.

    ``enabled`` (default True) is the switch: False keeps the network on the native path.
    """

    def __init__(self) -> None:
        self.enabled = True
        self._sessions: dict[tuple[bool, bool], Any] = {}
        self._key: tuple[int, ...] | None = None
        self._layers: Any = None
        self._params: list[torch.Tensor] = []
        self._unsupported: dict[tuple[bool, bool], Any] = {}   # export -> refused layers
        self._owned: list[tuple[torch.Tensor, np.ndarray]] = []
        self._zeros: dict[tuple[int, int], np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Sessions are native objects and only a cache: copies and pickles start without.
        return {"enabled": self.enabled}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self.enabled = state["enabled"]

    def output(self, net: Any, x: Any, features_mask: Any) -> torch.Tensor | None:
        """``net.output(x, features_mask)`` (as a tensor) on ONNX Runtime, or ``None``: run
        natively."""
        features = self._features(x)
        if features is None or features.ndim != 3:
            return None
        session = self._session(net, features_mask is not None, False)
        if session is None:
            return None
        feeds = {"features": features}
        if features_mask is not None:
            feeds["features_mask"] = self._array(features_mask)
        try:
            (y,) = session.run(None, feeds)
        except Exception:           # a shape the graph refuses: the native path says why
            return None
        return torch.from_numpy(y)

    def rnn_time_step(self, net: Any, x: Any, features_mask: Any,
                      state: dict[int, State]) -> tuple[Any, dict[int, State]] | None:
        """``net.rnn_time_step`` on ONNX Runtime from ``state`` (the network's stored state):
        the output and the new state, or ``None``: run natively."""
        features = self._features(x)
        if features is None or features.ndim not in (2, 3):
            return None
        single = features.ndim == 2
        if single:
            features = features[:, :, None]
        session = self._session(net, features_mask is not None, True)
        if session is None:
            return None
        n = features.shape[0]
        feeds = {"features": features}
        if features_mask is not None:
            mask = self._array(features_mask)
            feeds["features_mask"] = mask.reshape(-1, 1) if single else mask
        recurrent = session.seqnet_recurrent
        for i, hidden in recurrent:
            if i in state:
                h, c = state[i]
                if h.shape[0] != n:
                    return None     # the native path raises the error
                feeds[f"state_{i}_prevAct"] = self._state_array(h)
                feeds[f"state_{i}_prevMem"] = self._state_array(c)
            else:
                zeros = self._zeros.get((n, hidden))
                if zeros is None:
                    zeros = self._zeros[(n, hidden)] = np.zeros((n, hidden), np.float32)
                feeds[f"state_{i}_prevAct"] = feeds[f"state_{i}_prevMem"] = zeros
        try:
            outputs = session.run(None, feeds)
        except Exception:
            return None
        y = outputs[0]
        if single and y.ndim == 3:
            y = y[:, :, 0]
        new_state: dict[int, State] = {}
        owned = []
        for k, (i, _) in enumerate(recurrent):
            h_np, c_np = outputs[1 + 2 * k], outputs[2 + 2 * k]
            h, c = torch.from_numpy(h_np), torch.from_numpy(c_np)
            new_state[i] = (h, c)
            owned += [(h, h_np), (c, c_np)]
        self._owned = owned
        return (torch.from_numpy(y) if isinstance(x, torch.Tensor) else y), new_state

    # ------------------------------------------------------------------ internals

    def _session(self, net: Any, with_mask: bool, stateful: bool) -> Any:
        """The cached session for this export, built again when a parameter changed
        (NOTE [ When ONNX Runtime takes over ]); ``None``: run natively."""
        if not (self.enabled and available() and os.environ.get(ENV, "1") != "0"):
            return None
        layers = net.layers
        if self._unsupported.get((with_mask, stateful)) is layers or \
                net.device.type != "cpu" or net.conf.data_type != "float32":
            return None
        if layers is not self._layers:
            self._layers = layers
            self._params = list(layers.parameters())
        key = tuple(v for p in self._params for v in (p._version, p.data_ptr()))
        if key != self._key:
            self._sessions.clear()
            self._key = key
        session = self._sessions.get((with_mask, stateful))
        if session is None:
            session = self._build(net, with_mask, stateful)
            if session is None:
                return None
            self._sessions[(with_mask, stateful)] = session
        return session

    def _build(self, net: Any, with_mask: bool, stateful: bool) -> Any:
        import onnxruntime

        from seqnet.errors import SeqNetError
        from seqnet.onnx import UnsupportedError, to_onnx
        try:
            model = to_onnx(net, with_mask=with_mask, stateful=stateful)
        except (UnsupportedError, SeqNetError) as e:
            self._unsupported[(with_mask, stateful)] = net.layers
            _log.info("seqnet: this network runs natively (the ONNX exporter refused it: %s)", e)
            return None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        layers = net.conf.layers
        wrapped = _Session(session)
        wrapped.seqnet_recurrent = [(i, layers[i].underlying().n_out)
                                    for i, layer in enumerate(layers) if layer.recurrent]
        return wrapped

    @staticmethod
    def _features(x: Any) -> np.ndarray | None:
        if isinstance(x, torch.Tensor):
            if x.device.type != "cpu":
                return None
            return np.ascontiguousarray(x.detach().numpy(), np.float32)
        try:
            return np.asarray(x, np.float32)
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _array(x: Any) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            return np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)
        return np.asarray(x, np.float32)

    def _state_array(self, t: torch.Tensor) -> np.ndarray:
        """A stored state tensor as numpy: the runtime's own array when it made the tensor."""
        for tensor, array in self._owned:
            if tensor is t:
                return array
        return np.ascontiguousarray(t.detach().cpu().numpy(), np.float32)


class _Session:
    """An ``InferenceSession`` and the recurrent layers (index, width) its state feeds."""

    def __init__(self, session: Any) -> None:
        self.run = session.run
        self.seqnet_recurrent: list[tuple[int, int]] = []
