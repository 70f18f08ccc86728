"""Inference on ONNX Runtime: ``output()`` and ``rnn_time_step`` run the network's exported
graph (:mod:`seqnet.onnx`) where ONNX Runtime is installed (the ``[onnx]`` extra).

Every :class:`~seqnet.network.MultiLayerNetwork` holds one :class:`Inference` as
``net.inference``. Its sessions are built from the network at first use and kept until a
parameter changes (an update in ``fit``, ``set_param_table``, any in-place change: torch's
version counter of each parameter says so). The stored RNN state stays the network's: the
runtime reads it and hands the new state back for the network to store.

The native path runs instead where the runtime cannot give the same result: without
onnxruntime or onnx, for float64 networks, off the CPU, for layers the exporter does not
handle, with ``net.inference.onnxruntime = False`` or ``SEQNET_ONNXRUNTIME=0``, and for inputs
the graph refuses (the native path then raises its usual error). Either way the numbers agree
within 1e-5 (float32). Natively, a time step of a GravesLSTM stack with an RnnOutputLayer
takes the short path of :mod:`seqnet.time_step`.

>>> import numpy as np
>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> from seqnet.network import MultiLayerNetwork
>>> net = MultiLayerNetwork(MultiLayerConfiguration(
...     layers=[GravesLSTM(n_in=3, n_out=4), RnnOutputLayer(n_out=2)], seed=1))
>>> net.init()
>>> x = np.ones((2, 3, 5), np.float32)
>>> y = net.output(x)                          # ONNX Runtime, where it is installed
>>> net.inference.onnxruntime = False          # the switch: always the native path
>>> bool(np.abs(net.output(x) - y).max() < 1e-5)
True
"""

from __future__ import annotations

import importlib.util
import logging
import operator
import os
from typing import Any

import numpy as np
import torch

from seqnet.errors import SeqNetError
from seqnet.tensors import like, to_tensor
from seqnet.time_step import StepPlan

__all__ = ["ENV", "Inference", "available"]

#: The environment variable that keeps every network on the native path when set to ``0``.
ENV = "SEQNET_ONNXRUNTIME"

_log = logging.getLogger(__name__)
_VERSION = operator.attrgetter("_version")
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
# pays it each time (set net.inference.onnxruntime = False there); evaluating many batches,
# serving and time-stepping pay it once.


class Inference:
    """The fast inference paths of one network: ONNX Runtime sessions, keyed by the
    parameters' versions, and the native one-step plan (:class:`~seqnet.time_step.StepPlan`).

    ``onnxruntime`` is the switch: False keeps the network on the native path (the default
    is True, False where the environment variable ``SEQNET_ONNXRUNTIME`` is ``0`` when the
    network is made).
    """

    def __init__(self) -> None:
        self.onnxruntime = os.environ.get(ENV, "1") != "0"
        self._plan: tuple[Any, StepPlan | None] | None = None   # (layers, plan)
        self._sessions: dict[tuple[bool, bool], Any] = {}    # (with_mask, stateful) ->
        self._key = -1
        self._layers: Any = None
        self._params: list[torch.Tensor] = []
        # The state this runtime returned last, per layer, with its numpy arrays: fed back
        # as they are when the network hands the same state in again.
        self._owned: dict[int, tuple[State, np.ndarray, np.ndarray]] = {}
        self._zeros: dict[tuple[int, int], np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Sessions are native objects and only a cache: copies and pickles start without.
        return {"onnxruntime": self.onnxruntime}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self.onnxruntime = state["onnxruntime"]

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
            (y,) = session.run(session.seqnet_outputs, feeds)
        except Exception:           # a shape the graph refuses: the native path says why
            return None
        return torch.from_numpy(y)

    def rnn_time_step(self, net: Any, x: Any, features_mask: Any,
                      state: dict[int, State]) -> tuple[Any, dict[int, State]] | None:
        """``net.rnn_time_step`` from ``state`` (the network's stored state) on ONNX Runtime
        or the native step plan: the output and the new state, or ``None``: run the
        general path."""
        session = self._session(net, features_mask is not None, True)
        if session is None:
            return self._native_step(net, x, features_mask, state)
        features = self._features(x)
        if features is None or features.ndim not in (2, 3):
            return None
        single = features.ndim == 2
        if single:
            features = features[:, :, None]
        n = features.shape[0]
        feeds = {"features": features}
        if features_mask is not None:
            mask = self._array(features_mask)
            feeds["features_mask"] = mask.reshape(-1, 1) if single else mask
        owned = self._owned
        for i, hidden, act, mem in session.seqnet_states:
            layer_state = state.get(i)
            if layer_state is None:
                zeros = self._zeros.get((n, hidden))
                if zeros is None:
                    zeros = self._zeros[(n, hidden)] = np.zeros((n, hidden), np.float32)
                feeds[act] = feeds[mem] = zeros
                continue
            arrays = owned.get(i)
            if arrays is None or arrays[0] is not layer_state:   # not the runtime's own
                arrays = (layer_state, _numpy(layer_state[0]), _numpy(layer_state[1]))
            if arrays[1].shape[0] != n:
                return None         # the native path raises the error
            feeds[act], feeds[mem] = arrays[1], arrays[2]
        try:
            outputs = session.run(session.seqnet_outputs, feeds)
        except Exception:
            return None
        y = outputs[0]
        if single and y.ndim == 3:
            y = y[:, :, 0]
        new_state: dict[int, State] = {}
        self._owned = {}
        for k, (i, _, _, _) in enumerate(session.seqnet_states):
            h_np, c_np = outputs[1 + 2 * k], outputs[2 + 2 * k]
            layer_state = new_state[i] = (torch.from_numpy(h_np), torch.from_numpy(c_np))
            self._owned[i] = (layer_state, h_np, c_np)
        return (torch.from_numpy(y) if isinstance(x, torch.Tensor) else y), new_state

    # ------------------------------------------------------------------ internals

    def _native_step(self, net: Any, x: Any, features_mask: Any, state: dict[int, State]
                     ) -> tuple[Any, dict[int, State]] | None:
        layers = net.layers
        if self._plan is None or self._plan[0] is not layers:
            self._plan = (layers, StepPlan.for_network(net))
        plan = self._plan[1]
        if plan is None or features_mask is not None:
            return None
        dtype, device = plan.output.W.dtype, net.device
        if isinstance(x, torch.Tensor) and x.dtype == dtype and x.device == device:
            xt = x
        else:
            try:
                xt = to_tensor(x, dtype, device, "features")
            except SeqNetError:
                return None
        if xt.dim() != 2 or xt.shape[1] != plan.recurrent[0].W.shape[0]:
            return None
        result = plan(xt, state)
        if result is None:
            return None
        return like(result[0], x), result[1]

    def _session(self, net: Any, with_mask: bool, stateful: bool) -> Any:
        """The cached session for this export, built again when a parameter changed
        (NOTE [ When ONNX Runtime takes over ]); ``None``: run natively."""
        if not self.onnxruntime:
            return None
        layers = net.layers
        if layers is not self._layers:          # init() made new layers
            self._layers = layers
            self._params = list(layers.parameters())
            self._sessions.clear()
        # Version counters only grow, so their sum changes whenever any parameter changes.
        key = sum(map(_VERSION, self._params))
        if key != self._key:
            self._sessions.clear()
            self._key = key
        session = self._sessions.get((with_mask, stateful))
        if session is None and net.device.type == "cpu":
            session = self._sessions[(with_mask, stateful)] = self._build(net, with_mask,
                                                                          stateful)
        return session or None

    def _build(self, net: Any, with_mask: bool, stateful: bool) -> Any:
        """A new session, or ``False`` where this export cannot run (kept: not retried
        until the parameters change)."""
        if not available() or net.conf.data_type != "float32":
            return False
        import onnxruntime

        from seqnet.onnx import UnsupportedError, to_onnx
        try:
            model = to_onnx(net, with_mask=with_mask, stateful=stateful)
        except (UnsupportedError, SeqNetError) as e:
            _log.info("seqnet: this network runs natively (the ONNX exporter refused it: %s)", e)
            return False
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        layers = net.conf.layers
        wrapped = _Session(session)
        wrapped.seqnet_outputs = [o.name for o in session.get_outputs()]
        wrapped.seqnet_states = [(i, layers[i].underlying().n_out, f"state_{i}_prevAct",
                                  f"state_{i}_prevMem")
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


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy(), np.float32)


class _Session:
    """An ``InferenceSession``'s ``run``, its output names and, for each recurrent layer, its
    index, width and the names of its state inputs."""

    def __init__(self, session: Any) -> None:
        self.run = session.run
        self.seqnet_outputs: list[str] = []
        self.seqnet_states: list[tuple[int, int, str, str]] = []
