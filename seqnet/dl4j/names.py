"""DL4J's names for activations, losses, updaters and enums, and seqnet's equivalents.

One table per kind serves both directions (reading every JSON family, writing family D).

>>> ACTIVATIONS["TanH"].value, ACTIVATION_NAMES[Activation.SOFTSIGN]
('tanh', 'SoftSign')
"""

from __future__ import annotations

from seqnet.conf.enums import Activation, GradientNormalization, LossFunction, WeightInit

ACTIVATION_PACKAGE = "org.nd4j.linalg.activations.impl.Activation"
LOSS_PACKAGE = "org.nd4j.linalg.lossfunctions.impl.Loss"
UPDATER_PACKAGE = "org.nd4j.linalg.learning.config."
LAYER_PACKAGE = "org.deeplearning4j.nn.conf.layers."
PREPROCESSOR_PACKAGE = "org.deeplearning4j.nn.conf.preprocessor."

# Family B/C wrapper names (IActivationMixin) = the class name without "Activation".
ACTIVATIONS: dict[str, Activation] = {
    "TanH": Activation.TANH, "Sigmoid": Activation.SIGMOID, "Softmax": Activation.SOFTMAX,
    "ReLU": Activation.RELU, "LReLU": Activation.LEAKYRELU, "SoftSign": Activation.SOFTSIGN,
    "Identity": Activation.IDENTITY, "HardSigmoid": Activation.HARDSIGMOID,
    "HardTanH": Activation.HARDTANH, "SoftPlus": Activation.SOFTPLUS, "ELU": Activation.ELU,
}
ACTIVATION_NAMES: dict[Activation, str] = {v: k for k, v in ACTIVATIONS.items()}
# Family A: lower-case names; "leakyrelu" is LReLU with alpha 0.01.
LEGACY_ACTIVATIONS: dict[str, Activation] = {a.value: a for a in Activation}
# The one parameter seqnet's activation of that name has (DL4J would store another value).
ACTIVATION_PARAMETERS: dict[Activation, dict[str, float]] = {
    Activation.LEAKYRELU: {"alpha": 0.01}, Activation.ELU: {"alpha": 1.0},
}

# Family B/C wrapper names (ILossFunction) = the class name without "Loss"; A: the enum.
LOSSES: dict[str, LossFunction] = {
    "MCXENT": LossFunction.MCXENT, "NegativeLogLikelihood": LossFunction.NEGATIVELOGLIKELIHOOD,
    "MSE": LossFunction.MSE, "L2": LossFunction.L2, "L1": LossFunction.L1,
    "BinaryXENT": LossFunction.XENT,
}
LOSS_NAMES: dict[LossFunction, str] = {v: k for k, v in LOSSES.items()}
LEGACY_LOSSES: dict[str, LossFunction] = {
    "MCXENT": LossFunction.MCXENT, "NEGATIVELOGLIKELIHOOD": LossFunction.NEGATIVELOGLIKELIHOOD,
    "MSE": LossFunction.MSE, "SQUARED_LOSS": LossFunction.MSE, "L2": LossFunction.L2,
    "L1": LossFunction.L1, "XENT": LossFunction.XENT,
}
# seqnet's MCXENT / XENT clip probabilities to [1e-10, 1 - 1e-10], DL4J's default.
SOFTMAX_CLIP_EPS = 1e-10

GRADIENT_NORMALIZATIONS: dict[str, GradientNormalization] = {
    "None": GradientNormalization.NONE,
    "RenormalizeL2PerLayer": GradientNormalization.RENORMALIZE_L2_PER_LAYER,
    "RenormalizeL2PerParamType": GradientNormalization.RENORMALIZE_L2_PER_PARAM_TYPE,
    "ClipElementWiseAbsoluteValue": GradientNormalization.CLIP_ELEMENT_WISE_ABSOLUTE_VALUE,
    "ClipL2PerLayer": GradientNormalization.CLIP_L2_PER_LAYER,
    "ClipL2PerParamType": GradientNormalization.CLIP_L2_PER_PARAM_TYPE,
}
GRADIENT_NORMALIZATION_NAMES = {v: k for k, v in GRADIENT_NORMALIZATIONS.items()}

WEIGHT_INITS: dict[str, WeightInit] = {w.value: w for w in WeightInit}

BACKPROP_TYPES = {"Standard": "STANDARD", "TruncatedBPTT": "TRUNCATED_BPTT"}
BACKPROP_TYPE_NAMES = {v: k for k, v in BACKPROP_TYPES.items()}

#: A top-level key DL4J's JSON reader ignores (it skips unknown properties): the update rule of
#: a network seqnet wrote, so that reading the file back gives the same configuration. A file
#: without it is DL4J's own and trains by ``UpdateRule.DL4J_LEGACY``.
UPDATE_RULE_KEY = "seqnetUpdateRule"
