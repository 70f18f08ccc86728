"""The training workflow behind the ``seqnet`` command line.

One module per job: ``run_config`` (the TOML run file), ``data`` (iterators from it),
``build`` (the network configuration from it), ``train`` (the epoch loop, checkpoints and
resume), ``model_io`` (model zips with their normaliser and vocabulary), ``plots`` (PNG
output), ``evaluate`` and ``predict`` (saved models on data), ``text`` and ``sample``
(character models).
"""
