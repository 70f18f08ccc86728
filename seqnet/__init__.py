"""seqnet: recurrent networks on PyTorch for seqdata minibatches, with DL4J's names.

>>> from seqnet import GravesLSTM, MultiLayerConfiguration, MultiLayerNetwork, RnnOutputLayer
>>> conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=3, n_out=8),
...                                        RnnOutputLayer(n_out=2)], seed=1)
>>> net = MultiLayerNetwork(conf); net.init()
>>> import numpy as np
>>> net.output(np.zeros((4, 3, 5), dtype=np.float32)).shape
(4, 2, 5)
"""

# NOTE [ Why the package imports lazily ]
# ``seqnet --version`` and ``seqnet --help`` must answer without loading torch (seconds of
# start-up), and ``seqnet.cli`` lives inside this package, so this module imports nothing
# itself: each public name is imported from its module the first time it is used (PEP 562).
# Type checkers and IDEs read the imports under TYPE_CHECKING.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqnet.conf.enums import (
        Activation,
        BackpropType,
        BidirectionalMode,
        GradientNormalization,
        LossFunction,
        PoolingType,
        UpdateRule,
        WeightInit,
    )
    from seqnet.conf.input_type import (
        InputType,
    )
    from seqnet.conf.layers import (
        LSTM,
        Bidirectional,
        ConvolutionLayer,
        DenseLayer,
        GlobalPoolingLayer,
        GravesBidirectionalLSTM,
        GravesLSTM,
        LastTimeStep,
        OutputLayer,
        RnnOutputLayer,
        SubsamplingLayer,
    )
    from seqnet.conf.multilayer import (
        MultiLayerConfiguration,
    )
    from seqnet.conf.preprocessors import (
        CnnToFeedForwardPreProcessor,
        CnnToRnnPreProcessor,
        FeedForwardToRnnPreProcessor,
        RnnToCnnPreProcessor,
        RnnToFeedForwardPreProcessor,
    )
    from seqnet.conf.updaters import (
        AdaGrad,
        Adam,
        Nadam,
        Nesterovs,
        RmsProp,
        Sgd,
    )
    from seqnet.distributed import (
        DistributedError,
    )
    from seqnet.errors import (
        ConfigurationError,
        ModelFileError,
        SeqNetError,
        StateError,
        TrainingError,
    )
    from seqnet.evaluation import (
        Evaluation,
        EvaluationError,
        RegressionEvaluation,
    )
    from seqnet.network import (
        MultiLayerNetwork,
    )
    from seqnet.training.early_stopping import (
        BestScoreEpochTerminationCondition,
        ClassificationScoreCalculator,
        DataSetLossCalculator,
        EarlyStoppingConfiguration,
        EarlyStoppingResult,
        EarlyStoppingTrainer,
        InMemoryModelSaver,
        LocalFileModelSaver,
        MaxEpochsTerminationCondition,
        MaxScoreIterationTerminationCondition,
        MaxTimeIterationTerminationCondition,
        RegressionScoreCalculator,
        ScoreImprovementEpochTerminationCondition,
        TerminationReason,
    )
    from seqnet.training.listeners import (
        CheckpointListener,
        CollectScoresListener,
        EvaluativeListener,
        InvocationType,
        ScoreIterationListener,
        TrainingListener,
    )

_EXPORTS = {
    "Activation": "seqnet.conf.enums",
    "AdaGrad": "seqnet.conf.updaters",
    "Adam": "seqnet.conf.updaters",
    "BackpropType": "seqnet.conf.enums",
    "BestScoreEpochTerminationCondition": "seqnet.training.early_stopping",
    "Bidirectional": "seqnet.conf.layers",
    "BidirectionalMode": "seqnet.conf.enums",
    "CheckpointListener": "seqnet.training.listeners",
    "ClassificationScoreCalculator": "seqnet.training.early_stopping",
    "CnnToFeedForwardPreProcessor": "seqnet.conf.preprocessors",
    "CnnToRnnPreProcessor": "seqnet.conf.preprocessors",
    "CollectScoresListener": "seqnet.training.listeners",
    "ConfigurationError": "seqnet.errors",
    "ConvolutionLayer": "seqnet.conf.layers",
    "DataSetLossCalculator": "seqnet.training.early_stopping",
    "DenseLayer": "seqnet.conf.layers",
    "DistributedError": "seqnet.distributed",
    "EarlyStoppingConfiguration": "seqnet.training.early_stopping",
    "EarlyStoppingResult": "seqnet.training.early_stopping",
    "EarlyStoppingTrainer": "seqnet.training.early_stopping",
    "Evaluation": "seqnet.evaluation",
    "EvaluationError": "seqnet.evaluation",
    "EvaluativeListener": "seqnet.training.listeners",
    "FeedForwardToRnnPreProcessor": "seqnet.conf.preprocessors",
    "GlobalPoolingLayer": "seqnet.conf.layers",
    "GradientNormalization": "seqnet.conf.enums",
    "GravesBidirectionalLSTM": "seqnet.conf.layers",
    "GravesLSTM": "seqnet.conf.layers",
    "InMemoryModelSaver": "seqnet.training.early_stopping",
    "InputType": "seqnet.conf.input_type",
    "InvocationType": "seqnet.training.listeners",
    "LSTM": "seqnet.conf.layers",
    "LastTimeStep": "seqnet.conf.layers",
    "LocalFileModelSaver": "seqnet.training.early_stopping",
    "LossFunction": "seqnet.conf.enums",
    "MaxEpochsTerminationCondition": "seqnet.training.early_stopping",
    "MaxScoreIterationTerminationCondition": "seqnet.training.early_stopping",
    "MaxTimeIterationTerminationCondition": "seqnet.training.early_stopping",
    "ModelFileError": "seqnet.errors",
    "MultiLayerConfiguration": "seqnet.conf.multilayer",
    "MultiLayerNetwork": "seqnet.network",
    "Nadam": "seqnet.conf.updaters",
    "Nesterovs": "seqnet.conf.updaters",
    "OutputLayer": "seqnet.conf.layers",
    "PoolingType": "seqnet.conf.enums",
    "RegressionEvaluation": "seqnet.evaluation",
    "RegressionScoreCalculator": "seqnet.training.early_stopping",
    "RmsProp": "seqnet.conf.updaters",
    "RnnOutputLayer": "seqnet.conf.layers",
    "RnnToCnnPreProcessor": "seqnet.conf.preprocessors",
    "RnnToFeedForwardPreProcessor": "seqnet.conf.preprocessors",
    "ScoreImprovementEpochTerminationCondition": "seqnet.training.early_stopping",
    "ScoreIterationListener": "seqnet.training.listeners",
    "SeqNetError": "seqnet.errors",
    "Sgd": "seqnet.conf.updaters",
    "StateError": "seqnet.errors",
    "SubsamplingLayer": "seqnet.conf.layers",
    "TerminationReason": "seqnet.training.early_stopping",
    "TrainingError": "seqnet.errors",
    "TrainingListener": "seqnet.training.listeners",
    "UpdateRule": "seqnet.conf.enums",
    "WeightInit": "seqnet.conf.enums",
}

__all__ = [
    "Activation",
    "AdaGrad",
    "Adam",
    "BackpropType",
    "BestScoreEpochTerminationCondition",
    "Bidirectional",
    "BidirectionalMode",
    "CheckpointListener",
    "ClassificationScoreCalculator",
    "CnnToFeedForwardPreProcessor",
    "CnnToRnnPreProcessor",
    "CollectScoresListener",
    "ConfigurationError",
    "ConvolutionLayer",
    "DataSetLossCalculator",
    "DenseLayer",
    "DistributedError",
    "EarlyStoppingConfiguration",
    "EarlyStoppingResult",
    "EarlyStoppingTrainer",
    "Evaluation",
    "EvaluationError",
    "EvaluativeListener",
    "FeedForwardToRnnPreProcessor",
    "GlobalPoolingLayer",
    "GradientNormalization",
    "GravesBidirectionalLSTM",
    "GravesLSTM",
    "InMemoryModelSaver",
    "InputType",
    "InvocationType",
    "LSTM",
    "LastTimeStep",
    "LocalFileModelSaver",
    "LossFunction",
    "MaxEpochsTerminationCondition",
    "MaxScoreIterationTerminationCondition",
    "MaxTimeIterationTerminationCondition",
    "ModelFileError",
    "MultiLayerConfiguration",
    "MultiLayerNetwork",
    "Nadam",
    "Nesterovs",
    "OutputLayer",
    "PoolingType",
    "RegressionEvaluation",
    "RegressionScoreCalculator",
    "RmsProp",
    "RnnOutputLayer",
    "RnnToCnnPreProcessor",
    "RnnToFeedForwardPreProcessor",
    "ScoreImprovementEpochTerminationCondition",
    "ScoreIterationListener",
    "SeqNetError",
    "Sgd",
    "StateError",
    "SubsamplingLayer",
    "TerminationReason",
    "TrainingError",
    "TrainingListener",
    "UpdateRule",
    "WeightInit",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'seqnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
