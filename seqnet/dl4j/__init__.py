"""DL4J model files into and out of seqnet: ``ModelSerializer`` zips, ND4J arrays and
``NormalizerSerializer`` files, read without running anything from the file.

Layout: :mod:`~seqnet.dl4j.nd4j` (ND4J binary arrays), :mod:`~seqnet.dl4j.archive` (bounded
zips), :mod:`~seqnet.dl4j.configuration` (configuration.json families A-D), with
:mod:`~seqnet.dl4j.layers` (one importer per DL4J layer class) and :mod:`~seqnet.dl4j.fields`
(activations, losses, updaters), :mod:`~seqnet.dl4j.export` (family D JSON),
:mod:`~seqnet.dl4j.params` (flattened parameters and updater state),
:mod:`~seqnet.dl4j.normalizer` and :mod:`~seqnet.dl4j.model` (the entry points).
"""

from seqnet.dl4j.configuration import ImportedConfiguration, read_configuration
from seqnet.dl4j.export import configuration_to_dict, configuration_to_json
from seqnet.dl4j.layers import LAYER_IMPORTERS, register_layer_importer
from seqnet.dl4j.model import (
    DL4JImportWarning,
    read_updater_state,
    restore_multi_layer_network,
    write_multi_layer_network,
)
from seqnet.dl4j.nd4j import encode_nd4j_array, read_nd4j_array, write_nd4j_array
from seqnet.dl4j.normalizer import encode_normalizer, restore_normalizer
from seqnet.dl4j.params import flatten, param_layout, unflatten, updater_state_table

__all__ = [
    "DL4JImportWarning",
    "ImportedConfiguration",
    "LAYER_IMPORTERS",
    "configuration_to_dict",
    "configuration_to_json",
    "encode_nd4j_array",
    "encode_normalizer",
    "flatten",
    "param_layout",
    "read_configuration",
    "read_nd4j_array",
    "read_updater_state",
    "register_layer_importer",
    "restore_multi_layer_network",
    "restore_normalizer",
    "unflatten",
    "updater_state_table",
    "write_multi_layer_network",
    "write_nd4j_array",
]
