"""What every layer module provides (placeholder until the nn refactor lands)."""

from __future__ import annotations

import torch

State = tuple[torch.Tensor, torch.Tensor]
