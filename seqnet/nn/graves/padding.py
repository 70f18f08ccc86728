"""Which rows of a padded batch are real at each step, so the kernel can skip the others.

>>> real_rows(2, 5, from_end=True)
(slice(3, 5, None), slice(0, 3, None))
"""

from __future__ import annotations

import torch


def real_rows(real: int, n: int, from_end: bool) -> tuple[slice, slice]:
    """The rows of the ``real`` examples of a step and the other rows: the first ``real``
    rows, or with ``from_end`` the last ones."""
    if from_end:
        return slice(n - real, n), slice(0, n - real)
    return slice(0, real), slice(real, n)



# NOTE [ Skipping padded steps ]
# A right-padded (ALIGN_START) or left-padded (ALIGN_END) batch, sorted by length (longest
# first), has at every step a prefix of real examples: the first sizes[t]. The fused loop then
# runs each step on that prefix only, as packed sequences do, and the skipped rows read as
# zero h and c: exactly what the masked loop computes, without the arithmetic on padding.
# A batch already in order needs no reordering: longest first as it is, shortest first (as
# bucket_by_length makes them) with the real examples at the end of each step.


def prefix_sizes(mask: torch.Tensor) -> tuple[torch.Tensor | None, list[int], bool] | None:
    """For a right- or left-padded ``[N, T]`` mask: the order that sorts examples longest
    first (``None`` when no reordering is needed), the number of real examples at each step,
    and whether those are the last rows (a batch sorted shortest first); else ``None``.

    >>> prefix_sizes(torch.tensor([[1., 0., 0.], [1., 1., 1.], [1., 1., 0.]]))
    (tensor([1, 2, 0]), [3, 2, 1], False)
    >>> prefix_sizes(torch.tensor([[1., 1., 1.], [1., 1., 0.]]))
    (None, [2, 2, 1], False)
    >>> prefix_sizes(torch.tensor([[0., 0., 1.], [0., 1., 1.]]))
    (None, [0, 1, 2], True)
    >>> prefix_sizes(torch.tensor([[1., 0., 1.]])) is None
    True
    """
    real = mask > 0
    lengths = real.sum(dim=1)
    steps = mask.shape[1]
    idx = torch.arange(steps, device=mask.device)
    if bool((real == (idx < lengths.unsqueeze(1))).all()):
        active_after = idx                      # step t is real where length > t
    elif bool((real == (idx >= steps - lengths.unsqueeze(1))).all()):
        active_after = steps - 1 - idx          # step t is real where length > T - 1 - t
    else:
        return None
    sizes = (lengths.unsqueeze(0) > active_after.unsqueeze(1)).sum(dim=1).tolist()
    steps_down = lengths[1:] - lengths[:-1]
    if bool((steps_down <= 0).all()):
        return None, sizes, False
    if bool((steps_down >= 0).all()):
        return None, sizes, True
    return torch.argsort(lengths, descending=True, stable=True), sizes, False
