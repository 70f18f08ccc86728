"""Reading the typed values of DL4J's configuration JSON: activations, losses, updaters,
weight initialisation, regularisation (every schema family A-D).

Two kinds of error, both :class:`~seqnet.errors.ModelFileError`: *unsupported* (a valid DL4J
setting seqnet cannot represent exactly) and *invalid* (a value that is not DL4J's).

>>> activation({"@class": "org.nd4j.linalg.activations.impl.ActivationTanH"}, "l").value
'tanh'
>>> updater({"iupdater": {"@class": "org.nd4j.linalg.learning.config.RmsProp",
...          "learningRate": 0.1, "rmsDecay": 0.95, "epsilon": 1e-8}}, "l")
RmsProp(learning_rate=0.1, rms_decay=0.95, epsilon=1e-08)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from seqnet.conf.enums import Activation, GradientNormalization, LossFunction, WeightInit
from seqnet.conf.updaters import AdaGrad, Adam, Nadam, Nesterovs, RmsProp, Sgd, Updater
from seqnet.dl4j import names
from seqnet.errors import ConfigurationError, ModelFileError


@dataclass
class Notes:
    """Training-only DL4J settings seqnet drops; the caller reports them once."""

    dropped: list[str] = field(default_factory=list)

    def drop(self, where: str, what: str) -> None:
        self.dropped.append(f"{where}: {what}")


def invalid(where: str, message: str) -> ModelFileError:
    """An error for a value that is not what DL4J writes there."""
    return ModelFileError(f"invalid DL4J configuration at {where}: {message}")


def unsupported(where: str, message: str) -> ModelFileError:
    """An error for a valid DL4J setting that seqnet cannot represent exactly."""
    return ModelFileError(f"unsupported DL4J configuration at {where}: {message}")


def typed(value: Any, package: str, where: str) -> tuple[str, dict[str, Any]]:
    """``(name, fields)`` of a polymorphic JSON value: ``{"@class": package + name, ...}``
    (family D, C updaters) or the legacy wrapper ``{name: {fields}}`` (families A-C)."""
    if not isinstance(value, dict):
        raise invalid(where, f"expected an object, found {type(value).__name__} {value!r:.60}")
    if "@class" in value:
        name = value["@class"]
        if not isinstance(name, str):
            raise invalid(where, f"expected '@class' to be a class name, found {name!r:.60}")
        fields = {k: v for k, v in value.items() if k != "@class"}
        return (name[len(package):] if name.startswith(package) else name), fields
    if len(value) == 1:
        (name, fields), = value.items()
        if isinstance(fields, dict):
            return name, fields
    raise invalid(where, f"expected an object with '@class' or one wrapper key, found keys "
                         f"{sorted(value)[:8]}")


def number(fields: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    """A float field; ``"NaN"`` (DL4J's 'not set') and a missing key give ``default``."""
    value = fields.get(key)
    if value is None or value == "NaN" or (isinstance(value, float) and math.isnan(value)):
        if default is None:
            raise invalid(f"{where}.{key}", f"expected a number, found {value!r}")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"{where}.{key}", f"expected a number, found {value!r:.60}")
    return float(value)


def integer(fields: dict[str, Any], key: str, where: str) -> int:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{where}.{key}", f"expected an integer, found {value!r:.60}")
    return value


def pair(fields: dict[str, Any], key: str, where: str, default: tuple[int, int]) -> tuple[int, int]:
    value = fields.get(key)
    if value is None:
        return default
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise invalid(f"{where}.{key}", f"expected two integers, found {value!r:.60}")
    return value[0], value[1]


def activation(value: Any, where: str) -> Activation:
    """An activation in any family's form (A: ``"tanh"``; B, C: ``{"TanH": {}}``; D: @class)."""
    if isinstance(value, str):
        found = names.LEGACY_ACTIVATIONS.get(value.lower())
        if found is None:
            raise unsupported(where, f"activation {value!r} (seqnet has "
                                     f"{', '.join(a.value for a in Activation)})")
        return found
    name, params = typed(value, names.ACTIVATION_PACKAGE, where)
    found = names.ACTIVATIONS.get(name)
    if found is None:
        raise unsupported(where, f"activation {name!r}")
    expected = names.ACTIVATION_PARAMETERS.get(found, {})
    for key, given in params.items():
        if key in expected and given != expected[key]:
            raise unsupported(f"{where}.{key}", f"{name} with {key}={given} (seqnet's "
                                                f"{found.value} has {expected[key]})")
        if key not in expected and given is not None:
            raise unsupported(f"{where}.{key}", f"{name} parameter {key}={given!r:.40}")
    return found


def loss(fields: dict[str, Any], where: str) -> LossFunction:
    """An output layer's loss: ``lossFn`` (0.6+) or the ``lossFunction`` enum (0.5)."""
    value = fields.get("lossFn")
    if value is None:
        legacy = fields.get("lossFunction")
        found = names.LEGACY_LOSSES.get(legacy) if isinstance(legacy, str) else None
        if found is None:
            raise unsupported(f"{where}.lossFunction", f"loss {legacy!r}")
        if fields.get("customLossFunction") is not None:
            raise unsupported(f"{where}.customLossFunction", "a custom loss function")
        return found
    name, params = typed(value, names.LOSS_PACKAGE, f"{where}.lossFn")
    found = names.LOSSES.get(name)
    if found is None:
        raise unsupported(f"{where}.lossFn", f"loss {name!r}")
    for key, given in params.items():
        if key in ("softmaxClipEps", "clipEps"):
            if given != names.SOFTMAX_CLIP_EPS:
                raise unsupported(f"{where}.lossFn.{key}", f"{given} (seqnet clips at "
                                                           f"{names.SOFTMAX_CLIP_EPS})")
        elif key == "configProperties" or given is None:
            continue
        else:
            raise unsupported(f"{where}.lossFn.{key}", f"{name} with {key}={given!r:.40}")
    return found


def weight_init(fields: dict[str, Any], where: str, notes: Notes) -> WeightInit | None:
    """The layer's weight initialisation; one seqnet lacks only matters before parameters are
    loaded, so it is noted and left to the network default."""
    value = fields.get("weightInit")
    if value is None and isinstance(fields.get("weightInitFn"), dict):
        value = fields["weightInitFn"].get("@class", "").rsplit(".WeightInit", 1)[-1].upper()
    if value is None:
        return None
    found = names.WEIGHT_INITS.get(value) if isinstance(value, str) else None
    if found is None:
        notes.drop(where, f"weightInit {value!r} (no seqnet equivalent; parameters are loaded)")
    for key in ("weightInitRecurrent", "distRecurrent", "weightInitFnRecurrent"):
        if fields.get(key) is not None:
            notes.drop(where, f"{key} {fields[key]!r:.60}")
    return found


_UPDATERS: dict[str, tuple[type[Updater], dict[str, str]]] = {
    "Sgd": (Sgd, {}),
    "Adam": (Adam, {"beta1": "beta1", "beta2": "beta2", "epsilon": "epsilon"}),
    "Nadam": (Nadam, {"beta1": "beta1", "beta2": "beta2", "epsilon": "epsilon"}),
    "RmsProp": (RmsProp, {"rmsDecay": "rms_decay", "epsilon": "epsilon"}),
    "Nesterovs": (Nesterovs, {"momentum": "momentum"}),
    "AdaGrad": (AdaGrad, {"epsilon": "epsilon"}),
}
_LEGACY: dict[str, tuple[type[Updater], dict[str, tuple[str, float]]]] = {
    "SGD": (Sgd, {}),
    "ADAM": (Adam, {"adamMeanDecay": ("beta1", 0.9), "adamVarDecay": ("beta2", 0.999),
                    "epsilon": ("epsilon", 1e-8)}),
    "NADAM": (Nadam, {"adamMeanDecay": ("beta1", 0.9), "adamVarDecay": ("beta2", 0.999),
                      "epsilon": ("epsilon", 1e-8)}),
    "RMSPROP": (RmsProp, {"rmsDecay": ("rms_decay", 0.95), "epsilon": ("epsilon", 1e-8)}),
    "NESTEROVS": (Nesterovs, {"momentum": ("momentum", 0.9)}),
    "ADAGRAD": (AdaGrad, {"epsilon": ("epsilon", 1e-6)}),
}


def _iupdater(value: Any, where: str) -> Updater:
    name, params = typed(value, names.UPDATER_PACKAGE, where)
    spec = _UPDATERS.get(name)
    if spec is None:
        raise unsupported(where, f"updater {name!r} (seqnet has {', '.join(_UPDATERS)})")
    cls, keys = spec
    kwargs: dict[str, Any] = {"learning_rate": number(params, "learningRate", where)}
    for key, given in params.items():
        if key == "learningRate":
            continue
        if key in keys:
            kwargs[keys[key]] = number(params, key, where)
        elif given is not None:
            raise unsupported(f"{where}.{key}", f"{name} with {key}={given!r:.60} (schedules "
                                                f"and other settings are not representable)")
    return _build(cls, kwargs, where)


def _build(cls: type[Updater], kwargs: dict[str, Any], where: str) -> Updater:
    try:
        return cls(**kwargs)
    except ConfigurationError as e:
        raise invalid(where, str(e)) from None


def updater(fields: dict[str, Any], where: str) -> Updater:
    """The layer's updater: ``iupdater`` (1.0) or the ``updater`` enum with its fields (A, B).

    A bias updater or bias learning rate different from the weights' is refused: seqnet has
    one updater per layer (and the updater-state layout would differ).
    """
    if "iupdater" in fields:
        main = _iupdater(fields["iupdater"], f"{where}.iupdater")
        bias = fields.get("biasUpdater")
        if bias is not None and _iupdater(bias, f"{where}.biasUpdater") != main:
            raise unsupported(f"{where}.biasUpdater", "a bias updater different from the "
                                                      "layer's updater")
        return main
    name = fields.get("updater")
    spec = _LEGACY.get(name) if isinstance(name, str) else None
    if spec is None:
        raise unsupported(f"{where}.updater", f"updater {name!r} (seqnet has "
                                              f"{', '.join(_LEGACY)})")
    for key in ("learningRateSchedule", "momentumSchedule"):
        if fields.get(key):
            raise unsupported(f"{where}.{key}", "a schedule is not representable")
    cls, keys = spec
    rate = number(fields, "learningRate", where)
    bias_rate = number(fields, "biasLearningRate", where, default=rate)
    if bias_rate != rate:
        raise unsupported(f"{where}.biasLearningRate", f"{bias_rate}, different from the "
                                                       f"learning rate {rate}")
    kwargs: dict[str, Any] = {"learning_rate": rate}
    for key, (target, default) in keys.items():
        kwargs[target] = number(fields, key, where, default=default)
    return _build(cls, kwargs, where)


def regularization(fields: dict[str, Any], use: bool, where: str) -> tuple[float, float]:
    """``(l1, l2)`` of the weights; a nonzero bias l1 / l2 is refused (seqnet never
    regularises biases, and DL4J's score counts them)."""
    for key in ("regularization", "regularizationBias"):
        if fields.get(key):
            raise unsupported(f"{where}.{key}", "DL4J >= 1.0.0-beta4 regularisation objects")
    l1 = number(fields, "l1", where, default=0.0)
    l2 = number(fields, "l2", where, default=0.0)
    for key in ("l1Bias", "l2Bias", "biasL1", "biasL2"):
        value = number(fields, key, where, default=0.0)
        if use and value != 0:
            raise unsupported(f"{where}.{key}", f"{value}: seqnet cannot regularise biases")
    if min(l1, l2) < 0:
        raise invalid(where, f"expected l1, l2 >= 0, found {l1}, {l2}")
    return (l1, l2) if use else (0.0, 0.0)


def gradient_normalization(fields: dict[str, Any], where: str
                           ) -> tuple[GradientNormalization, float]:
    value = fields.get("gradientNormalization") or "None"
    found = names.GRADIENT_NORMALIZATIONS.get(value) if isinstance(value, str) else None
    if found is None:
        raise unsupported(f"{where}.gradientNormalization", f"{value!r:.60}")
    threshold = number(fields, "gradientNormalizationThreshold", where, default=1.0)
    if not threshold > 0:
        raise invalid(f"{where}.gradientNormalizationThreshold", f"expected > 0, found "
                                                                 f"{threshold}")
    return found, threshold
