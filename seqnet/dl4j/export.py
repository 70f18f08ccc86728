"""A seqnet configuration as DL4J 1.0.0-beta's ``configuration.json`` (schema family D).

Every field is the one DL4J 1.0.0-beta writes, with the value DL4J reads back into the same
network; layers carry their resolved settings (DL4J has no network-wide defaults after build).

>>> from seqnet.conf.layers import LSTM, RnnOutputLayer
>>> from seqnet.conf.multilayer import MultiLayerConfiguration
>>> conf = MultiLayerConfiguration(layers=[LSTM(n_in=2, n_out=3), RnnOutputLayer(n_out=2)])
>>> data = configuration_to_dict(conf)
>>> data["confs"][0]["layer"]["@class"], data["confs"][0]["variables"]
('org.deeplearning4j.nn.conf.layers.LSTM', ['W', 'RW', 'b'])
"""

from __future__ import annotations

import json
from typing import Any

from seqnet.conf.enums import BackpropType, UpdateRule
from seqnet.conf.layers import (
    BaseLSTM,
    Bidirectional,
    ConvolutionLayer,
    DenseLayer,
    GlobalPoolingLayer,
    LastTimeStep,
    Layer,
    OutputLayer,
    RnnOutputLayer,
    SubsamplingLayer,
)
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.preprocessors import InputPreProcessor
from seqnet.conf.updaters import AdaGrad, Adam, Nadam, Nesterovs, RmsProp, Sgd, Updater
from seqnet.dl4j import names
from seqnet.dl4j.params import BIAS_KEYS, layer_params
from seqnet.errors import ModelFileError

# DL4J 1.0.0-beta's memory-management settings: they change no number, and seqnet has no
# place for them, so the builder defaults are written.
_WORKSPACE_MODE = "ENABLED"
_CACHE_MODE = "NONE"


def _activation(activation: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"@class": names.ACTIVATION_PACKAGE
                           + names.ACTIVATION_NAMES[activation]}
    out.update(names.ACTIVATION_PARAMETERS.get(activation, {}))
    return out


def _updater(updater: Updater) -> dict[str, Any]:
    out: dict[str, Any] = {"@class": names.UPDATER_PACKAGE + type(updater).__name__}
    if isinstance(updater, (Adam, Nadam)):
        out.update(beta1=updater.beta1, beta2=updater.beta2, epsilon=updater.epsilon)
    elif isinstance(updater, RmsProp):
        out.update(epsilon=updater.epsilon, rmsDecay=updater.rms_decay)
    elif isinstance(updater, Nesterovs):
        out.update(momentum=updater.momentum)
    elif isinstance(updater, AdaGrad):
        out.update(epsilon=updater.epsilon)
    elif not isinstance(updater, Sgd):
        raise ModelFileError(f"no DL4J updater for {type(updater).__name__}")
    out["learningRate"] = updater.learning_rate
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != "@class", kv[0])))


def _loss(layer: OutputLayer) -> dict[str, Any]:
    out: dict[str, Any] = {"@class": names.LOSS_PACKAGE + names.LOSS_NAMES[layer.loss]}
    if layer.loss.value in ("MCXENT", "NEGATIVELOGLIKELIHOOD"):
        out["softmaxClipEps"] = names.SOFTMAX_CLIP_EPS
    elif layer.loss.value == "XENT":
        out["clipEps"] = names.SOFTMAX_CLIP_EPS
    out["configProperties"] = False
    return out


def _window(layer: ConvolutionLayer | SubsamplingLayer) -> dict[str, Any]:
    return {"convolutionMode": "Truncate", "cudnnAllowFallback": True, "dilation": [1, 1],
            "kernelSize": list(layer.kernel_size), "padding": list(layer.padding),
            "stride": list(layer.stride)}


def _layer(conf: MultiLayerConfiguration, index: int, layer: Layer) -> dict[str, Any]:
    name = layer.name or f"layer{index}"
    if isinstance(layer, LastTimeStep):
        inner = _layer(conf, index, layer.underlying())
        return {"@class": names.LAYER_PACKAGE + "recurrent.LastTimeStep", "constraints": None,
                "idropout": None, "layerName": name, "underlying": inner}
    if isinstance(layer, Bidirectional):
        wrapped = _layer(conf, index, layer.underlying())
        return {"@class": names.LAYER_PACKAGE + "recurrent.Bidirectional", "bwd": wrapped,
                "constraints": None, "fwd": wrapped, "idropout": None, "layerName": name,
                "mode": layer.mode.value}
    cls = names.LAYER_PACKAGE + type(layer).__name__
    if isinstance(layer, GlobalPoolingLayer):
        return {"@class": cls, "collapseDimensions": True, "constraints": None,
                "idropout": None, "layerName": name, "pnorm": layer.pnorm,
                "poolingDimensions": None, "poolingType": layer.pooling_type.value}
    if isinstance(layer, SubsamplingLayer):
        return _sorted({"@class": cls, "constraints": None, "eps": 1e-8,
                        "gradientNormalization": "None", "gradientNormalizationThreshold": 0.0,
                        "idropout": None, "layerName": name, "pnorm": 0,
                        "poolingType": layer.pooling_type.value, "pretrain": False,
                        **_window(layer)})

    def setting(key: str) -> Any:
        return conf.layer_setting(index, key)

    out: dict[str, Any] = {
        "@class": cls, "activationFn": _activation(layer.activation),
        "biasInit": layer.bias_init, "biasUpdater": None, "constraints": None, "dist": None,
        "gradientNormalization": names.GRADIENT_NORMALIZATION_NAMES[
            setting("gradient_normalization")],
        "gradientNormalizationThreshold": setting("gradient_normalization_threshold"),
        "idropout": None, "iupdater": _updater(setting("updater")), "l1": setting("l1"),
        "l1Bias": 0.0, "l2": setting("l2"), "l2Bias": 0.0, "layerName": name,
        "nin": layer.n_in, "nout": layer.n_out, "weightInit": setting("weight_init").value,
        "weightNoise": None}
    if isinstance(layer, BaseLSTM):
        out.update(distRecurrent=None, forgetGateBiasInit=layer.forget_gate_bias_init,
                   gateActivationFn=_activation(layer.gate_activation),
                   weightInitRecurrent=None)
    elif isinstance(layer, (OutputLayer, RnnOutputLayer)):
        out.update(hasBias=True, lossFn=_loss(layer))
    elif isinstance(layer, DenseLayer):
        out.update(hasBias=True)
    elif isinstance(layer, ConvolutionLayer):
        out.update(cudnnAlgoMode="PREFER_FASTEST", cudnnBwdDataAlgo=None,
                   cudnnBwdFilterAlgo=None, cudnnFwdAlgo=None, hasBias=True, pretrain=False,
                   **_window(layer))
    else:
        raise ModelFileError(f"no DL4J layer for {type(layer).__name__}")
    return _sorted(out)


def _sorted(fields: dict[str, Any]) -> dict[str, Any]:
    """Jackson's order in DL4J's files: ``@class`` first, then alphabetical."""
    return dict(sorted(fields.items(), key=lambda kv: (kv[0] != "@class", kv[0])))


def _preprocessor(pre: InputPreProcessor) -> dict[str, Any]:
    out: dict[str, Any] = {"@class": names.PREPROCESSOR_PACKAGE + type(pre).__name__}
    for key, dl4j in (("input_height", "inputHeight"), ("input_width", "inputWidth"),
                      ("num_channels", "numChannels")):
        if hasattr(pre, key):
            out[dl4j] = getattr(pre, key)
    return out


def configuration_to_dict(conf: MultiLayerConfiguration, iteration_count: int = 0,
                          epoch_count: int = 0) -> dict[str, Any]:
    """``conf`` as the JSON object DL4J 1.0.0-beta's ``MultiLayerConfiguration.toJson`` writes
    for the same network after ``init()``."""
    confs = []
    for i, layer in enumerate(conf.layers):
        params = layer_params(layer)
        l1, l2 = conf.layer_setting(i, "l1"), conf.layer_setting(i, "l2")
        # Biases (b, bF, bB) get no regularisation, the weights the layer's l1 / l2.
        l1_by = {key: 0.0 if key in BIAS_KEYS else l1 for key, _, _ in params}
        l2_by = {key: 0.0 if key in BIAS_KEYS else l2 for key, _, _ in params}
        entry: dict[str, Any] = {
            "cacheMode": _CACHE_MODE, "epochCount": epoch_count,
            "iterationCount": iteration_count, "l1ByParam": l1_by, "l2ByParam": l2_by,
            "layer": _layer(conf, i, layer), "maxNumLineSearchIterations": 5,
            "miniBatch": True, "minimize": True,
            "optimizationAlgo": "STOCHASTIC_GRADIENT_DESCENT", "pretrain": False,
            "stepFunction": None, "variables": [key for key, _, _ in params]}
        if conf.seed is not None:
            entry["seed"] = conf.seed
        confs.append(_sorted(entry))
    preprocessors = {str(i): _preprocessor(pre) for i in range(len(conf.layers))
                     if (pre := conf.preprocessor(i)) is not None}
    truncated = conf.backprop_type == BackpropType.TRUNCATED_BPTT
    rule = {} if conf.update_rule == UpdateRule.DL4J_LEGACY else {
        names.UPDATE_RULE_KEY: conf.update_rule.value}
    return {
        "backprop": True, "backpropType": "TruncatedBPTT" if truncated else "Standard",
        "cacheMode": _CACHE_MODE, "confs": confs, "epochCount": epoch_count,
        "inferenceWorkspaceMode": _WORKSPACE_MODE, "inputPreProcessors": preprocessors,
        "iterationCount": iteration_count, "pretrain": False,
        "tbpttBackLength": conf.tbptt_backward_length,
        "tbpttFwdLength": conf.tbptt_forward_length,
        "trainingWorkspaceMode": _WORKSPACE_MODE, **rule}


def configuration_to_json(conf: MultiLayerConfiguration, iteration_count: int = 0,
                          epoch_count: int = 0) -> str:
    """:func:`configuration_to_dict` as the indented JSON text DL4J writes."""
    return json.dumps(configuration_to_dict(conf, iteration_count, epoch_count), indent=2)
