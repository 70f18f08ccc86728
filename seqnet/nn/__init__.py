"""The torch modules behind the layer configurations, and their arithmetic.

``base`` says what every layer module provides (:class:`~seqnet.nn.base.LayerModule`,
:class:`~seqnet.nn.base.RecurrentModule`, the recurrent ``State``); ``build`` makes the module
for a layer configuration; ``graves/`` (fused kernel, reference loop, module), ``lstm``,
``bidirectional``, ``last_time_step``, ``dense`` and ``conv`` are the layers; ``params``,
``init``, ``activations`` and ``losses`` the shared pieces.
"""
