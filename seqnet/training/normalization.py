"""DL4J's gradient normalisation modes, applied per layer to the data gradient in place."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from seqnet.conf.enums import GradientNormalization
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.nn.base import LayerModule


def normalize_gradients(conf: MultiLayerConfiguration, modules: Iterable[LayerModule]) -> None:
    """Apply each layer's gradient normalisation mode (its own, else the network's) to the
    gradients of its module, in place."""
    for i, module in enumerate(modules):
        mode = conf.layer_setting(i, "gradient_normalization")
        if mode == GradientNormalization.NONE:
            continue
        threshold = conf.layer_setting(i, "gradient_normalization_threshold")
        types = {k: [p.grad for p in ps if p.grad is not None]
                 for k, ps in module.param_types().items()}
        if mode == GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE:
            for grads in types.values():
                for g in grads:
                    g.clamp_(-threshold, threshold)
        elif mode in (GradientNormalization.RENORMALIZE_L2_PER_LAYER,
                      GradientNormalization.CLIP_L2_PER_LAYER):
            _scale([g for grads in types.values() for g in grads], mode, threshold)
        else:
            for grads in types.values():
                _scale(grads, mode, threshold)


def _scale(grads: list[torch.Tensor], mode: GradientNormalization, threshold: float) -> None:
    if not grads:
        return
    norm = torch.sqrt(sum((g * g).sum() for g in grads))  # type: ignore[arg-type]
    if mode in (GradientNormalization.RENORMALIZE_L2_PER_LAYER,
                GradientNormalization.RENORMALIZE_L2_PER_PARAM_TYPE):
        factor = torch.where(norm > 0, 1.0 / norm, torch.ones_like(norm))
    else:
        factor = torch.where(norm > threshold, threshold / norm, torch.ones_like(norm))
    for g in grads:
        g.mul_(factor)
