"""The training workflow behind the ``seqnet`` command line.

One module per job: ``run_config`` (the TOML run file; ``reference`` renders its
documentation, docs/run-file.md), ``data`` (iterators from it; ``subset`` and ``selection``:
which sequences train and which choose the model), ``build`` (the network configuration from
it), ``train`` (the epoch loop, checkpoints and resume; ``tensorboard`` its optional event
files), ``model_io`` (model zips with their normaliser and vocabulary), ``plots`` (PNG
output), ``evaluate`` and ``predict`` (saved models on data), ``sample`` (character models,
whose data lives in :mod:`seqnet.text`).
"""
