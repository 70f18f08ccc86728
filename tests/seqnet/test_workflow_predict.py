"""seqnet.workflow.predict: per-sequence outputs for any model."""

from __future__ import annotations

import numpy as np

from seqdata.readers.base import CollectionSequenceRecordReader
from seqnet.conf.layers import GravesLSTM, LastTimeStep, OutputLayer
from seqnet.conf.multilayer import MultiLayerConfiguration
from seqnet.network import MultiLayerNetwork
from seqnet.workflow.predict import predict


def test_a_model_with_one_output_per_sequence_predicts_one_step_each():
    sequences = [np.arange(6.0).reshape(3, 2), np.arange(4.0).reshape(2, 2) / 3]
    reader = CollectionSequenceRecordReader(sequences)
    reader.initialize()
    net = MultiLayerNetwork(MultiLayerConfiguration(
        layers=[LastTimeStep(GravesLSTM(n_in=2, n_out=4)), OutputLayer(n_out=3)], seed=5))
    net.init()
    result = predict(net, reader)
    assert result.outputs.shape == (2, 3, 1) and result.lengths.tolist() == [1, 1]
    for i, seq in enumerate(sequences):   # each equals the model on that sequence alone
        expected = net.output(seq.T[None].astype(np.float32))[0]
        np.testing.assert_allclose(result.outputs[i, :, 0], expected, atol=1e-6)
