"""Pixels as the vision tower takes them: ``uint8`` images to normalised float tensors, the one place it is done.

Training (the collator) and inference (``encode_image``) both call :func:`normalize_pixels`, so a model sees
exactly the same numbers in both.

Example:
    >>> import numpy as np
    >>> normalize_pixels(np.full((1, 2, 2, 3), 255, dtype=np.uint8), mean=(0.5,) * 3, std=(0.5,) * 3)[0, :, 0, 0]
    tensor([1., 1., 1.])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def normalize_pixels(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``uint8`` images ``(B, H, W, 3)`` to float pixels ``(B, 3, H, W)``: ``(x / 255 - mean) / std`` per channel.

    Example:
        >>> normalize_pixels(np.zeros((2, 8, 8, 3), dtype=np.uint8), (0.5,) * 3, (0.5,) * 3).shape
        torch.Size([2, 3, 8, 8])
    """
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255
    return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
