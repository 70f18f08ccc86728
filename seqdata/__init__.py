"""seqdata: DL4J-style sequence readers and padded, masked minibatches.

>>> import numpy as np
>>> from seqdata import CollectionSequenceRecordReader, SequenceRecordReaderDataSetIterator
>>> reader = CollectionSequenceRecordReader([[[1, 0], [2, 1], [3, 1]], [[4, 0], [5, 1]]])
>>> it = SequenceRecordReaderDataSetIterator(reader, 2, 2, -1)   # label = last column
>>> ds = next(iter(it))
>>> ds.features.shape, ds.labels.shape, ds.features_mask.tolist()
((2, 1, 3), (2, 2, 3), [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
"""

from seqdata.dataset import DataSet
from seqdata.dataset_iterator import (
    AsyncDataSetIterator,
    DataSetIterator,
    ListDataSetIterator,
    ShardedDataSetIterator,
)
from seqdata.errors import (
    AlignmentError,
    LabelError,
    MissingFilesError,
    ParseError,
    SeqDataError,
    SplitArgumentError,
    SplitError,
    StoreError,
)
from seqdata.iterator import (
    AlignmentMode,
    DataSetPreProcessor,
    ExampleMetaData,
    SequenceRecordReaderDataSetIterator,
)
from seqdata.normalizers import (
    NormalizerMinMaxScaler,
    NormalizerStandardize,
    normalizer_from_dict,
)
from seqdata.preprocessors import CompositeDataSetPreProcessor, LabelLastTimeStepPreProcessor
from seqdata.readers.base import (
    CollectionSequenceRecordReader,
    RaggedBatch,
    SequenceRecord,
    SequenceRecordReader,
)
from seqdata.readers.csv import CSVSequenceRecordReader
from seqdata.readers.npy import NpySequenceRecordReader
from seqdata.splits import FileSplit, InputSplit, ListSplit, NumberedFileInputSplit
from seqdata.store.reader import SequenceStore, StoreSequenceRecordReader

__all__ = [
    "AlignmentError",
    "AlignmentMode",
    "AsyncDataSetIterator",
    "CSVSequenceRecordReader",
    "CollectionSequenceRecordReader",
    "CompositeDataSetPreProcessor",
    "DataSet",
    "DataSetIterator",
    "DataSetPreProcessor",
    "ExampleMetaData",
    "FileSplit",
    "InputSplit",
    "LabelError",
    "LabelLastTimeStepPreProcessor",
    "ListDataSetIterator",
    "ListSplit",
    "MissingFilesError",
    "NormalizerMinMaxScaler",
    "NormalizerStandardize",
    "NpySequenceRecordReader",
    "NumberedFileInputSplit",
    "ParseError",
    "RaggedBatch",
    "SeqDataError",
    "SequenceRecord",
    "SequenceRecordReader",
    "SequenceRecordReaderDataSetIterator",
    "SequenceStore",
    "ShardedDataSetIterator",
    "SplitArgumentError",
    "SplitError",
    "StoreError",
    "StoreSequenceRecordReader",
    "normalizer_from_dict",
]
