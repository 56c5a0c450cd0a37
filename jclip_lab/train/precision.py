"""Mixed precision: which number format the towers run in, chosen from the hardware, and the fp16 loss scaler.

- **bf16** (bfloat16: fp32's range, fewer digits) on GPUs that support it (A100, H100, RTX 30xx and later): about
  twice the matmul speed of fp32 and half the activation memory, with no loss scaling needed.
- **fp16** with a gradient scaler on GPUs without bf16 (Colab's T4, V100): fp16's small range makes small
  gradients underflow to 0, so the loss is multiplied by a large factor before backward and the gradients
  divided by it before the step; the factor shrinks when an inf/NaN appears (Micikevicius et al. 2018,
  arXiv:1710.03740).
- **fp32** on a CPU unless asked: CPU autocast is mostly slower than fp32 for these small models.

The losses always run in fp32 (``jclip_lab.losses`` upcasts), so only the towers change precision.

Example:
    >>> choose_precision(torch.device("cpu")).name
    'fp32'
    >>> choose_precision(torch.device("cpu"), "bf16").dtype
    torch.bfloat16
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Precision:
    """A number format for the towers.

    Attributes:
        name: ``fp32``, ``bf16`` or ``fp16``.
        dtype: the autocast dtype, or None for fp32 (autocast off).
    """

    name: str
    dtype: torch.dtype | None

    def autocast(self, device: torch.device) -> torch.autocast:
        """The autocast context for ``device`` (disabled for fp32)."""
        return torch.autocast(device.type, dtype=self.dtype, enabled=self.dtype is not None)

    def scaler(self, device: torch.device) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16, None otherwise (bf16 and fp32 need none).

        Example:
            >>> Precision("fp16", torch.float16).scaler(torch.device("cpu")).is_enabled()
            True
        """
        return torch.amp.GradScaler(device.type) if self.name == "fp16" else None


def choose_precision(device: torch.device, requested: str = "auto") -> Precision:
    """The precision to train in: ``requested``, or for ``"auto"`` bf16 on a GPU that supports it, fp16 on
    another GPU, fp32 elsewhere.

    Raises:
        ValueError: an unknown name, or fp16/bf16 asked on a device whose autocast lacks it.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"Unknown precision {requested!r}; choose one of {PRECISIONS}.")
    if requested == "auto":
        if device.type != "cuda":
            requested = "fp32"
        else:
            requested = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[requested]
    if dtype is not None and not torch.amp.autocast_mode.is_autocast_available(device.type):
        raise ValueError(f"{requested} autocast is not available on {device.type}; use precision='fp32'.")
    return Precision(requested, dtype)


FP32 = Precision("fp32", None)
