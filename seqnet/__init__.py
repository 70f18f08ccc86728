"""seqnet: recurrent networks on PyTorch for seqdata minibatches, with DL4J's names.

>>> from seqnet import GravesLSTM, MultiLayerConfiguration, MultiLayerNetwork, RnnOutputLayer
>>> conf = MultiLayerConfiguration(layers=[GravesLSTM(n_in=3, n_out=8),
...                                        RnnOutputLayer(n_out=2)], seed=1)
>>> net = MultiLayerNetwork(conf); net.init()
>>> import numpy as np
>>> net.output(np.zeros((4, 3, 5), dtype=np.float32)).shape
(4, 2, 5)
"""

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
from seqnet.conf.input_type import InputType
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
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.conf.preprocessors import (
    CnnToFeedForwardPreProcessor,
    CnnToRnnPreProcessor,
    FeedForwardToRnnPreProcessor,
    RnnToCnnPreProcessor,
    RnnToFeedForwardPreProcessor,
)
from seqnet.conf.updaters import AdaGrad, Adam, Nadam, Nesterovs, RmsProp, Sgd
from seqnet.distributed import DistributedError
from seqnet.errors import ConfigurationError, ModelFileError, SeqNetError, StateError, TrainingError
from seqnet.evaluation import Evaluation, EvaluationError, RegressionEvaluation
from seqnet.network import MultiLayerNetwork

__all__ = [
    "Activation",
    "AdaGrad",
    "Adam",
    "BackpropType",
    "Bidirectional",
    "BidirectionalMode",
    "CnnToFeedForwardPreProcessor",
    "CnnToRnnPreProcessor",
    "ConfigurationError",
    "ConvolutionLayer",
    "DenseLayer",
    "DistributedError",
    "Evaluation",
    "EvaluationError",
    "FeedForwardToRnnPreProcessor",
    "GlobalPoolingLayer",
    "GradientNormalization",
    "GravesBidirectionalLSTM",
    "GravesLSTM",
    "InputType",
    "LSTM",
    "LastTimeStep",
    "LossFunction",
    "ModelFileError",
    "MultiLayerConfiguration",
    "MultiLayerNetwork",
    "Nadam",
    "Nesterovs",
    "OutputLayer",
    "PoolingType",
    "RegressionEvaluation",
    "RmsProp",
    "RnnOutputLayer",
    "RnnToCnnPreProcessor",
    "RnnToFeedForwardPreProcessor",
    "SeqNetError",
    "Sgd",
    "StateError",
    "SubsamplingLayer",
    "TrainingError",
    "UpdateRule",
    "WeightInit",
]
