"""seqnet.workflow.build: a run file's [network] table becomes a checked configuration."""

from __future__ import annotations

import pytest

from seqnet.conf.layers import GravesLSTM, LastTimeStep
from seqnet.conf.updaters import Nesterovs, RmsProp
from seqnet.errors import ConfigurationError
from seqnet.workflow.build import NetworkConfig, build_configuration


def test_nested_tables_take_types_too():
    # SPEC 7: an updater may be given per layer; LastTimeStep wraps a recurrent layer.
    network = NetworkConfig(seed=1, updater={"type": "adam", "learning_rate": 0.01}, layers=[
        {"type": "LastTimeStep",
         "layer": {"type": "GravesLSTM", "n_out": 4,
                   "updater": {"type": "nesterovs", "learning_rate": 0.1, "momentum": 0.5}}},
        {"type": "OutputLayer", "updater": {"type": "RMSPROP", "learning_rate": 0.2}}])
    conf = build_configuration(network, n_in=3, n_out=2)
    wrapped = conf.layers[0]
    assert isinstance(wrapped, LastTimeStep) and isinstance(wrapped.layer, GravesLSTM)
    assert wrapped.layer.updater == Nesterovs(0.1, momentum=0.5)
    assert conf.layers[1].updater == RmsProp(0.2)


def test_a_nested_table_without_type_names_its_key():
    network = NetworkConfig(seed=1, updater={"type": "sgd"}, layers=[
        {"type": "GravesLSTM", "n_out": 4, "updater": {"learning_rate": 0.1}},
        {"type": "RnnOutputLayer"}])
    with pytest.raises(ConfigurationError, match=r"network\.layers\[0\]\.updater\.type"):
        build_configuration(network, n_in=3, n_out=2)
