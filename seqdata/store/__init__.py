"""The packed store: a Parquet dataset of sequences plus a JSON manifest (SPEC section 6).

``SequenceStore(path)`` opens one (:mod:`seqdata.store.reader`);
:func:`seqdata.store.convert.convert` writes one from CSV files (``seqdata convert``) and
:func:`seqdata.store.export.export` writes one back to CSV files (``seqdata export``).
:mod:`seqdata.store.writer` writes the Parquet parts and the manifest
(:mod:`seqdata.store.manifest`), :mod:`seqdata.store.atomic` makes a store appear whole.
"""

from seqdata.store.reader import SequenceStore, StoreSequenceRecordReader

__all__ = ["SequenceStore", "StoreSequenceRecordReader"]
