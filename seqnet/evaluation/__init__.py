"""Classification and regression evaluation with DL4J's names, averaging rules and layout.

Both evaluators accumulate counts (or float64 moments) batch by batch, so any number of
minibatches can be evaluated and two evaluators can be merged (distributed evaluation).
Inputs are numpy arrays or torch tensors. ``classification`` and ``regression`` hold the
evaluators, ``moments`` the streamed regression moments, ``report`` the ``stats()`` text and
``arrays`` the input conversion and checks.

>>> import numpy as np
>>> ev = Evaluation()
>>> ev.eval(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 2]])
>>> ev.accuracy()
0.75
"""

from seqnet.evaluation.classification import Evaluation
from seqnet.evaluation.errors import EvaluationError
from seqnet.evaluation.regression import RegressionEvaluation

__all__ = ["Evaluation", "EvaluationError", "RegressionEvaluation"]
