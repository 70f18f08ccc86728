"""``MultiLayerNetwork``: a stack of layers that trains, predicts and time-steps.

>>> import numpy as np
>>> from seqnet.conf.layers import GravesLSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration, needs_whole_sequences
>>> conf = MultiLayerConfiguration(seed=1, layers=[GravesLSTM(n_in=3, n_out=5),
...                                                RnnOutputLayer(n_out=2)])
>>> net = MultiLayerNetwork(conf); net.init()
>>> x = np.random.default_rng(0).normal(size=(4, 3, 6)).astype(np.float32)
>>> net.output(x).shape                         # [N, nOut, T], numpy in -> numpy out
(4, 2, 6)
>>> net.rnn_time_step(x[:, :, 0]).shape         # one step: [N, nIn] -> [N, nOut]
(4, 2)
>>> sorted(net.param_table())
['0_RW', '0_W', '0_b', '1_W', '1_b']

Choices where the SPEC is silent, as DL4J makes them unless said otherwise:

- ``feed_forward`` returns the input first, then one activation per layer.
- Feed-forward views of sequences are example-major rows (``n * T + t``).
- Regularisation is ``l1 * sum|w| + 0.5 * l2 * sum(w**2)`` over weights (peepholes
  included, biases not); gradient normalisation applies to the data gradient before it.
- A TBPTT segment whose labels are all masked still makes an update (its loss is 0).
- ``rnn_get_previous_state`` returns copies as tensors; ``score()`` without a DataSet is the
  score of the last minibatch ``fit`` saw.
- ``GravesBidirectionalLSTM``, ``Bidirectional`` and ``GlobalPoolingLayer`` need whole
  sequences: no ``rnn_time_step``, no TBPTT.
- In a ``torch.distributed`` process group, ``fit`` and ``evaluate*`` work on this rank's
  shard and combine with the other ranks (:mod:`seqnet.distributed`); nothing changes
  outside one.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from seqnet import distributed
from seqnet.conf.enums import UpdateRule
from seqnet.conf.layers import LastTimeStep, Layer, OutputLayer
from seqnet.conf.multilayer import MultiLayerConfiguration, needs_whole_sequences
from seqnet.errors import ConfigurationError, ModelFileError, SeqNetError, StateError
from seqnet.evaluation import Evaluation, RegressionEvaluation
from seqnet.inference import Inference
from seqnet.nn.base import LayerModule, LayerStack, State
from seqnet.nn.build import build_module
from seqnet.nn.dense import DenseModule
from seqnet.nn.last_time_step import LastTimeStepModule
from seqnet.nn.losses import row_loss
from seqnet.nn.params import table_of
from seqnet.nn.pooling import GlobalPoolingModule
from seqnet.serialization import ModelParts, read_model, write_model
from seqnet.tensors import like, to_numpy, to_tensor
from seqnet.training import Solver, Tensors, epoch_batches, rule_score

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class MultiLayerNetwork:
    """DL4J's ``MultiLayerNetwork`` on PyTorch: call :meth:`init` before anything else.

    ``iteration_count`` counts parameter updates (one per TBPTT segment), ``epoch_count`` the
    epochs completed by ``fit(iterator)``. Every tensor lives on the network's device
    (:meth:`to`); functions take numpy arrays or tensors and return the same kind.
    """

    def __init__(self, conf: MultiLayerConfiguration) -> None:
        if not isinstance(conf, MultiLayerConfiguration):
            raise ConfigurationError(f"MultiLayerNetwork: expected a MultiLayerConfiguration, "
                                     f"found {type(conf).__name__}")
        self.conf = conf
        self.iteration_count = 0
        self.epoch_count = 0
        self.normalizer: Any = None
        self._layers: LayerStack | None = None
        self._rnn_state: dict[int, State] = {}
        self._solver = Solver(self)
        self._device = torch.device("cpu")
        self._dtype = _DTYPES[conf.data_type]
        #: ONNX Runtime and the native one-step plan for output() and rnn_time_step
        #: (seqnet.inference); .onnxruntime = False keeps this network on the native path.
        self.inference = Inference()

    # ----------------------------------------------------------------- set-up

    def init(self) -> None:
        """Create and initialise the parameters (seeded by ``conf.seed`` when given)."""
        seed = self.conf.seed
        if seed is None:
            seed = random.Random(int(torch.randint(2**31, (1,)))).getrandbits(63)
        generator = torch.Generator().manual_seed(seed)
        self._layers = LayerStack(
            build_module(layer, self._dtype, generator, self.conf.weight_init)
            for layer in self.conf.layers).to(self._device)
        listeners = self._solver.listeners       # kept across init(), as DL4J keeps them
        self._solver = Solver(self)
        self._solver.set_listeners(listeners)
        self._rnn_state = {}

    @property
    def layers(self) -> LayerStack:
        """The torch modules, one per layer (a ``torch.nn.ModuleList``)."""
        if self._layers is None:
            raise StateError("MultiLayerNetwork: expected init() to have been called, found "
                             "an uninitialised network")
        return self._layers

    @property
    def solver(self) -> Solver:
        """The fit loop that trains this network: its optimisers, the last scores."""
        return self._solver

    def set_listeners(self, *listeners: Any) -> None:
        """Replace the training listeners (DL4J's ``setListeners``; each argument a listener
        or a list of them): see :mod:`seqnet.training.listeners`."""
        self._solver.set_listeners(*listeners)

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return self._device

    def to(self, device: str | torch.device) -> MultiLayerNetwork:
        """Move parameters, updater state and stored RNN state to ``device``; returns self."""
        self._device = torch.device(device)
        self.layers.to(self._device)
        self._solver.to(self._device)
        self._rnn_state = {i: (h.to(self._device), c.to(self._device))
                           for i, (h, c) in self._rnn_state.items()}
        return self

    def parameters(self) -> list[nn.Parameter]:
        """The trainable parameters (what the updaters change)."""
        return [p for p in self.layers.parameters() if p.requires_grad]

    def num_params(self) -> int:
        """Number of trainable parameters, counted as DL4J counts them."""
        return sum(p.numel() for p in self.parameters())

    def summary(self) -> str:
        """A table of the layers as DL4J's ``summary()`` prints it: name and type, nIn/nOut,
        parameter count and shapes, and the preprocessor before each layer."""
        rows = [("LayerName (LayerType)", "nIn,nOut", "TotalParams", "ParamsShape")]
        for i, (layer, module) in enumerate(zip(self.conf.layers, self.layers)):
            inner = layer.underlying()
            kind = type(layer).__name__ + (f"({type(inner).__name__})" if inner is not layer
                                          else "")
            pre = self.conf.preprocessor(i)
            table = module.param_table()
            rows.append((f"{layer.name or i} ({kind})", f"{inner.n_in},{inner.n_out}",
                         str(sum(v.size for v in table.values())),
                         ", ".join(f"{k}:{list(v.shape)}" for k, v in table.items())
                         + (f"  <- {type(pre).__name__}" if pre is not None else "")))
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        lines = ["  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  " + r[3] for r in rows]
        lines.append(f"Total parameters: {self.num_params()}")
        return "\n".join(lines)

    # ------------------------------------------------------------ parameters

    def param_table(self) -> dict[str, np.ndarray]:
        """Every parameter as a numpy array under DL4J's key (``"0_W"``) and layout."""
        table: dict[str, np.ndarray] = {}
        for i, module in enumerate(self.layers):
            table.update({f"{i}_{k}": v for k, v in module.param_table().items()})
        return table

    def set_param_table(self, table: dict[str, Any]) -> None:
        """Load parameters given as :meth:`param_table` returns them (numpy or torch).

        Every key of the network must be present and no other; shapes must match.
        """
        expected = self.param_table()
        missing = sorted(set(expected) - set(table))
        extra = sorted(set(table) - set(expected))
        if missing or extra:
            raise ConfigurationError(
                f"set_param_table: expected keys {sorted(expected)}, found "
                f"{'missing ' + str(missing) if missing else ''}"
                f"{' ' if missing and extra else ''}{'unknown ' + str(extra) if extra else ''}")
        for i, module in enumerate(self.layers):
            prefix = f"{i}_"
            own = {k[len(prefix):]: v for k, v in table.items() if k.startswith(prefix)}
            module.set_param_table(own, prefix)

    # --------------------------------------------------------------- forward

    def _tensor(self, value: Any, name: str) -> torch.Tensor:
        return to_tensor(value, self._dtype, self._device, name)

    def _forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                 states: dict[int, State] | None = None, detach_steps: int = 0,
                 preout: bool = False, collect: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor | None, dict[int, State],
                            list[torch.Tensor]]:
        """Run every layer; ``preout`` stops the output layer before its activation.

        Returns the output, the mask as it reaches the output layer (a features mask is
        dropped by ``LastTimeStep``), the final state of every recurrent layer, and (when
        ``collect``) every layer's activation.
        """
        self._check_input(x)
        minibatch = x.shape[0]
        new_states: dict[int, State] = {}
        activations: list[torch.Tensor] = []
        last = len(self.conf.layers) - 1
        for i, (layer, module) in enumerate(zip(self.conf.layers, self.layers)):
            pre = self.conf.preprocessor(i)
            if pre is not None:
                x = pre.pre_process(x, minibatch)
            x = _adapt(x, layer, i, minibatch)
            if layer.recurrent:
                state = None if states is None else states.get(i)
                x, new_states[i] = _run_recurrent(module, x, mask, state, detach_steps)
                if isinstance(layer, LastTimeStep):
                    mask = None
            elif isinstance(module, GlobalPoolingModule):
                # One vector per sequence: no mask applies after the pooling.
                x, mask = module(x, mask), None
            elif i == last and preout and isinstance(module, DenseModule):
                x = module.preout(x)
            else:
                x = module(x)
            if collect:
                activations.append(x)
        return x, mask, new_states, activations

    def _check_input(self, x: torch.Tensor) -> None:
        """The features must have as many channels as the first layer (or its preprocessor)
        takes, so a wrong file never surfaces as a matrix-shape error deep inside torch."""
        first, pre = self.conf.layers[0], self.conf.preprocessor(0)
        inner = first.underlying()
        expected = (pre.input_channels() if pre is not None else None) or inner.n_in
        if x.dim() < 2 or x.shape[1] != expected:
            layout = "[N, C, H, W]" if first.input_kind == "cnn" and pre is None else (
                "[N, C, T] or [N, C]")
            raise SeqNetError(f"features: expected {expected} channels (dimension 1 of "
                              f"{layout}), found shape {list(x.shape)}")

    def output(self, x: Any, features_mask: Any = None, labels_mask: Any = None) -> Any:
        """The network's output for ``x`` (``[N, nOut, T]`` for an RNN output layer),
        always from zero RNN state; steps where a given ``labels_mask`` is 0 are 0."""
        y = self.inference.output(self, x, features_mask)    # ONNX Runtime, or None
        with torch.no_grad():
            if y is None:
                xt = self._tensor(x, "features")
                fmask = (None if features_mask is None
                         else self._tensor(features_mask, "features_mask"))
                y, _, _, _ = self._forward(xt, fmask)
            if labels_mask is not None:
                y = _apply_labels_mask(y, self._tensor(labels_mask, "labels_mask"))
        return like(y, x)

    def feed_forward(self, x: Any, features_mask: Any = None) -> list[Any]:
        """The input followed by every layer's activation (DL4J's ``feedForward``)."""
        xt = self._tensor(x, "features")
        fmask = None if features_mask is None else self._tensor(features_mask, "features_mask")
        with torch.no_grad():
            _, _, _, acts = self._forward(xt, fmask, collect=True)
        return [like(a, x) for a in [xt, *acts]]

    # ------------------------------------------------------------------ score

    def data_loss(self, x: torch.Tensor, labels: torch.Tensor, fmask: torch.Tensor | None,
                   lmask: torch.Tensor | None, states: dict[int, State] | None = None,
                   detach_steps: int = 0, average: bool = True
                   ) -> tuple[torch.Tensor, dict[int, State]]:
        """Sum of the masked per-step losses over examples and steps (divided by N when
        ``average``), and the final state of every recurrent layer (started from ``states``;
        the first ``detach_steps`` steps get no gradient, as TBPTT's k2 asks)."""
        out_layer = self.conf.layers[-1]
        if not isinstance(out_layer, OutputLayer):
            raise ConfigurationError(f"score: expected an OutputLayer or RnnOutputLayer as the "
                                     f"last layer, found {type(out_layer).__name__}")
        preout, mask, new_states, _ = self._forward(x, fmask, states, detach_steps, preout=True)
        weight = lmask if lmask is not None else mask
        rows, row_labels, row_weight = _rows(preout, labels, weight, x.shape[0])
        per_row = row_loss(out_layer.loss, rows, out_layer.activation, row_labels)
        if row_weight is not None:
            # where(): a masked step adds exactly 0 to the loss and to every gradient.
            per_row = torch.where(row_weight != 0, per_row * row_weight, 0.0)
        total = per_row.sum()
        return (total / x.shape[0] if average else total), new_states

    def regularization(self) -> torch.Tensor:
        """``sum(l1 * |w|) + sum(0.5 * l2 * w**2)`` over weights (not biases), per layer."""
        total = torch.zeros((), dtype=self._dtype, device=self._device)
        for i, module in enumerate(self.layers):
            l1 = float(self.conf.layer_setting(i, "l1"))
            l2 = float(self.conf.layer_setting(i, "l2"))
            for w in module.weight_params():
                if l1:
                    total = total + l1 * w.abs().sum()
                if l2:
                    total = total + 0.5 * l2 * (w * w).sum()
        return total

    def score(self, dataset: Any = None) -> float:
        """Score of ``dataset`` as the configuration's update rule defines it (masked loss
        sum / N + regularisation; see :class:`~seqnet.conf.enums.UpdateRule`); without an
        argument the score of the last minibatch ``fit`` saw."""
        if dataset is None:
            return self._solver.last_score
        x, labels, fmask, lmask = self.dataset_tensors(dataset)
        with torch.no_grad():
            loss, _ = self.data_loss(x, labels, fmask, lmask, average=False)
            return float(rule_score(self.conf.update_rule, loss, self.regularization(),
                                    x.shape[0]))

    def compute_gradient_and_score(self, dataset: Any) -> tuple[dict[str, np.ndarray], float]:
        """DL4J's ``computeGradientAndScore``: the gradient of one minibatch, keyed and shaped
        like :meth:`param_table`, and its score; nothing is updated.

        The gradient is what the update rule hands the updater, before gradient
        normalisation: under ``UpdateRule.DL4J_LEGACY`` the gradient of the loss *sum* (l1/l2
        enter after the updater, as in DL4J <= 1.0.0-beta3), under ``STANDARD`` the gradient
        of the score (loss sum / N + regularisation). The whole minibatch is backpropagated
        at once, whatever the backprop type.
        """
        x, labels, fmask, lmask = self.dataset_tensors(dataset)
        legacy = self.conf.update_rule == UpdateRule.DL4J_LEGACY
        params = self.parameters()
        loss, _ = self.data_loss(x, labels, fmask, lmask, average=False)
        reg = self.regularization()
        n = x.shape[0]
        objective = loss if legacy else loss / n + reg
        grads = dict(zip(params, torch.autograd.grad(objective, params, allow_unused=True)))
        table: dict[str, np.ndarray] = {}
        for i, module in enumerate(self.layers):
            own = {p: g for p in module.parameters() if (g := grads.get(p)) is not None}
            table.update({f"{i}_{k}": v for k, v in table_of(module, own).items()})
        score = rule_score(self.conf.update_rule, loss.detach(), reg.detach(), n)
        return table, float(score)

    def dataset_tensors(self, ds: Any) -> Tensors:
        """A DataSet's features, labels and masks as tensors of this network's dtype and
        device."""
        if getattr(ds, "labels", None) is None:
            raise SeqNetError("DataSet: expected labels to compute a score, found None")
        x = self._tensor(ds.features, "features")
        labels = self._tensor(ds.labels, "labels")
        fmask = None if ds.features_mask is None else self._tensor(ds.features_mask,
                                                                  "features_mask")
        lmask = None if ds.labels_mask is None else self._tensor(ds.labels_mask, "labels_mask")
        return x, labels, fmask, lmask

    # --------------------------------------------------------------- training

    def fit(self, data: Any, epochs: int = 1, progress: bool = True) -> None:
        """Train on one DataSet (one update, or one per TBPTT segment) or on an iterator
        for ``epochs`` epochs (reset before each), with a tqdm bar showing the score.

        In a process group (``torch.distributed``), each rank trains on its shard of an
        iterator, or on the DataSet it is given, and every update uses the gradient of the
        union of the ranks' minibatches (:mod:`seqnet.distributed`)."""
        if hasattr(data, "features"):
            for _ in range(epochs):
                self._solver.fit_dataset(data)
        else:
            self._solver.fit_iterator(data, epochs, progress)

    def evaluate(self, iterator: Iterable[Any]) -> Any:
        """Classification metrics over one pass of ``iterator`` (reset first); in a process
        group, over every rank's shard."""
        return self._evaluate(iterator, Evaluation)

    def evaluate_regression(self, iterator: Iterable[Any]) -> Any:
        """Regression metrics over one pass of ``iterator`` (reset first); in a process
        group, over every rank's shard."""
        return self._evaluate(iterator, RegressionEvaluation)

    def _evaluate(self, iterator: Iterable[Any], factory: Any) -> Any:
        # In a process group each rank evaluates its shard and the counts are merged, so
        # every rank returns the evaluation of the whole data (seqnet.distributed).
        part, merge = distributed.evaluation_part(iterator)
        evaluation = factory()
        for ds in epoch_batches(part):
            out = self.output(to_numpy(ds.features), to_numpy(ds.features_mask))
            labels = to_numpy(ds.labels)
            mask = ds.labels_mask if ds.labels_mask is not None else ds.features_mask
            if out.ndim == 3:
                evaluation.eval_time_series(labels, out, to_numpy(mask))
            else:
                evaluation.eval(labels, out)
        return distributed.merge_over_ranks(evaluation) if merge else evaluation

    # ---------------------------------------------------------------- RNN state

    def _recurrent_index(self, layer: int) -> int:
        if not isinstance(layer, int) or not 0 <= layer < len(self.conf.layers):
            raise StateError(f"layer: expected an index in [0, {len(self.conf.layers)}), "
                             f"found {layer!r}")
        if not self.conf.layers[layer].recurrent:
            raise StateError(f"layer {layer}: expected a recurrent layer, found "
                             f"{type(self.conf.layers[layer]).__name__}")
        return layer

    def rnn_time_step(self, x: Any, features_mask: Any = None) -> Any:
        """Run ``x`` from the stored RNN state and store the state after its last step.

        ``[N, nIn]`` gives ``[N, nOut]``; ``[N, nIn, T]`` gives ``[N, nOut, T]``.
        """
        # The runtime's stateful graph and the native step plan exist only for networks that
        # can be time-stepped, so a whole-sequence layer always reaches the check below.
        fast = self.inference.rnn_time_step(self, x, features_mask, self._rnn_state)
        if fast is not None:
            y, self._rnn_state = fast
            return y
        whole = [(i, name) for i, layer in enumerate(self.conf.layers)
                 if (name := needs_whole_sequences(layer))]
        if whole:
            raise StateError(f"rnn_time_step: layer {whole[0][0]} is a {whole[0][1]}, which "
                             f"needs the whole sequence")
        xt = self._tensor(x, "features")
        single = xt.dim() == 2
        if single:
            xt = xt.unsqueeze(-1)
        for i, (h, _) in self._rnn_state.items():
            if h.shape[0] != xt.shape[0]:
                raise StateError(
                    f"rnn_time_step: expected minibatch size {h.shape[0]} (the stored state of "
                    f"layer {i}), found {xt.shape[0]}; call rnn_clear_previous_state() first "
                    f"to change the minibatch size")
        fmask = None if features_mask is None else self._tensor(features_mask, "features_mask")
        if fmask is not None and single:
            fmask = fmask.reshape(-1, 1)
        with torch.no_grad():
            y, _, states, _ = self._forward(xt, fmask, self._rnn_state or None)
        self._rnn_state = states
        if single and y.dim() == 3:
            y = y[:, :, 0]
        return like(y, x)

    def rnn_clear_previous_state(self) -> None:
        """Forget the stored RNN state of every layer."""
        self._rnn_state = {}

    def rnn_get_previous_state(self, layer: int) -> dict[str, torch.Tensor]:
        """``{"prevAct": h, "prevMem": c}`` of recurrent layer ``layer`` (``{}`` before any
        step); copies, as tensors."""
        self._recurrent_index(layer)
        if layer not in self._rnn_state:
            return {}
        h, c = self._rnn_state[layer]
        return {"prevAct": h.clone(), "prevMem": c.clone()}

    def rnn_set_previous_state(self, layer: int, state: dict[str, Any]) -> None:
        """Set the stored state of recurrent layer ``layer`` (numpy or torch ``[N, H]``)."""
        self._recurrent_index(layer)
        if set(state) != {"prevAct", "prevMem"}:
            raise StateError(f"rnn_set_previous_state: expected keys prevAct and prevMem, "
                             f"found {sorted(state)}")
        h = self._tensor(state["prevAct"], "prevAct")
        c = self._tensor(state["prevMem"], "prevMem")
        hidden = self.conf.layers[layer].underlying().n_out
        if h.dim() != 2 or h.shape != c.shape or h.shape[1] != hidden:
            raise StateError(f"rnn_set_previous_state: expected prevAct and prevMem of shape "
                             f"[N, {hidden}], found {list(h.shape)} and {list(c.shape)}")
        self._rnn_state[layer] = (h, c)

    # ------------------------------------------------------------ updater state

    def updater_state(self) -> list[dict[str, Any]] | None:
        """The updaters' state (torch optimiser state dicts, one per distinct updater), or
        ``None`` before the first update."""
        return self._solver.updater_state()

    def set_updater_state(self, states: list[dict[str, Any]]) -> None:
        """Continue training from ``states`` as :meth:`updater_state` returned them."""
        self._solver.set_updater_state(states)

    # ------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike, save_updater: bool = True,
             save_rnn_state: bool = False) -> None:
        """Write one zip: configuration JSON, parameters, and optionally updater state,
        the attached ``normalizer`` and the RNN state (:mod:`seqnet.serialization`)."""
        rnn_state = ({i: {"prevAct": h, "prevMem": c} for i, (h, c) in self._rnn_state.items()}
                     if save_rnn_state else None)
        write_model(ModelParts(conf=self.conf, params=self.param_table(),
                               iteration_count=self.iteration_count,
                               epoch_count=self.epoch_count,
                               updater_state=self.updater_state() if save_updater else None,
                               normalizer=self.normalizer, rnn_state=rnn_state), path)

    @staticmethod
    def load(path: str | os.PathLike, load_updater: bool = True) -> MultiLayerNetwork:
        """Read a zip written by :meth:`save`; never executes code from the file."""
        parts = read_model(path, load_updater=load_updater)
        net = MultiLayerNetwork(parts.conf)
        net.init()
        try:
            net.set_param_table(parts.params)
        except SeqNetError as e:
            raise ModelFileError(f"{path}: parameters.npz does not fit the configuration: {e}") \
                from None
        net.iteration_count, net.epoch_count = parts.iteration_count, parts.epoch_count
        if parts.updater_state is not None:
            try:
                net.set_updater_state(parts.updater_state)
            except StateError as e:
                raise ModelFileError(f"{path}: updater.pt: {e}") from None
        net.normalizer = parts.normalizer
        for i, layer_state in (parts.rnn_state or {}).items():
            try:
                net.rnn_set_previous_state(i, layer_state)
            except (SeqNetError, ValueError, TypeError) as e:
                raise ModelFileError(f"{path}: rnn_state.pt, layer {i}: {e}") from None
        return net


def _adapt(x: torch.Tensor, layer: Layer, index: int, minibatch: int) -> torch.Tensor:
    """Check (and for time-distributed inputs, reshape) what reaches layer ``index``."""
    wanted = {"rnn": 3, "ff": 2, "cnn": 4}[layer.input_kind]
    if x.dim() == wanted:
        return x
    if layer.input_kind == "ff" and x.dim() == 3:
        return x.permute(0, 2, 1).reshape(-1, x.shape[1])
    if layer.input_kind == "rnn" and x.dim() == 2:
        return x.reshape(minibatch, -1, x.shape[1]).permute(0, 2, 1)
    raise SeqNetError(f"layer {index} ({type(layer).__name__}): expected a {wanted}-D input, "
                      f"found shape {list(x.shape)}")


def _run_recurrent(module: LayerModule, x: torch.Tensor, mask: torch.Tensor | None,
                   state: State | None, detach_steps: int) -> tuple[torch.Tensor, State]:
    """Run a recurrent module; the first ``detach_steps`` steps get no gradient (TBPTT k2)."""
    if isinstance(module, LastTimeStepModule):
        y, final = _run_recurrent(module.inner, x, mask, state, detach_steps)
        return module.select(y, mask), final
    steps = x.shape[2]
    if mask is not None and mask.shape != (x.shape[0], steps):
        raise SeqNetError(f"features_mask: expected shape {[x.shape[0], steps]}, found "
                          f"{list(mask.shape)}")
    if not 0 < detach_steps < steps:
        return module(x, mask, state)
    head_mask = None if mask is None else mask[:, :detach_steps]
    tail_mask = None if mask is None else mask[:, detach_steps:]
    with torch.no_grad():
        head, state = module(x[:, :, :detach_steps], head_mask, state)
    tail, final = module(x[:, :, detach_steps:], tail_mask, state)
    return torch.cat((head, tail), dim=2), final


def _apply_labels_mask(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if y.dim() == 3 and mask.shape == (y.shape[0], y.shape[2]):
        return y * mask.unsqueeze(1)
    if y.dim() == 2 and mask.numel() == y.shape[0]:
        return y * mask.reshape(-1, 1)
    expected = [y.shape[0], y.shape[2]] if y.dim() == 3 else [y.shape[0], 1]
    raise SeqNetError(f"labels_mask: expected shape {expected} for an output of shape "
                      f"{list(y.shape)}, found {list(mask.shape)}")


def _rows(preout: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None,
          minibatch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Output-layer pre-activations, labels and mask weights as matching rows."""
    if preout.dim() == 3:
        if labels.shape != preout.shape:
            raise SeqNetError(f"labels: expected shape {list(preout.shape)} ([N, nOut, T] like "
                              f"the output), found {list(labels.shape)}")
        n_out = preout.shape[1]
        if weight is not None and weight.shape != (preout.shape[0], preout.shape[2]):
            raise SeqNetError(f"mask: expected shape {[preout.shape[0], preout.shape[2]]} "
                              f"([N, T] like the output), found {list(weight.shape)}")
        rows = preout.permute(0, 2, 1).reshape(-1, n_out)
        row_labels = labels.permute(0, 2, 1).reshape(-1, n_out)
        return rows, row_labels, None if weight is None else weight.reshape(-1)
    given = list(labels.shape)
    if labels.dim() == 3:
        labels = labels.permute(0, 2, 1).reshape(-1, labels.shape[1])
    if labels.shape != preout.shape:
        hint = (" (a [N, nOut] output, as after LastTimeStep or an OutputLayer, takes [N, nOut] "
                "labels; per-step labels need an RnnOutputLayer)" if len(given) == 3 else "")
        raise SeqNetError(f"labels: expected shape {list(preout.shape)}, found {given}{hint}")
    if weight is not None:
        weight = weight.reshape(-1)
        if weight.shape[0] != preout.shape[0]:
            raise SeqNetError(f"labels_mask: expected {preout.shape[0]} entries (one per output "
                              f"row), found {weight.shape[0]}")
    return preout, labels, weight


