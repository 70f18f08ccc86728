"""The training workflow behind the ``seqnet`` command line.

One module per job: ``run_config`` (the TOML run file), ``data`` (iterators from it),
``build`` (the network configuration from it), ``train`` (the epoch loop, checkpoints and
resume), ``plots`` (PNG output), ``predict``, ``text`` and ``sample`` (character models).
"""
