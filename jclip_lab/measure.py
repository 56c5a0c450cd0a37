"""Measure what a training step costs, to check the cost model (:mod:`jclip_lab.cost`) against PyTorch itself.

- :func:`count_flops`: ``torch.utils.flop_counter.FlopCounterMode``, taught to count the CPU's fused attention
  kernel (it counts the CUDA kernels already, with the same formula).
- :func:`saved_activation_bytes`: the distinct storages autograd keeps for backward (``saved_tensors_hooks``):
  exactly what the cost model calls activations.
- :func:`peak_memory_bytes`: the peak of the memory allocated while a step runs, above what was allocated
  before it: ``torch.cuda.max_memory_allocated`` on a GPU, the profiler's allocation events on a CPU.
- :func:`checkpoint_blocks`: run both towers' blocks under ``torch.utils.checkpoint``, to measure what
  activation checkpointing saves.

Example:
    >>> import torch
    >>> layer = torch.nn.Linear(8, 4)
    >>> count_flops(lambda: layer(torch.randn(2, 8)).sum().backward())  # forward 2*2*8*4, backward: the weight's
    256
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

T = TypeVar("T")
_aten = torch.ops.aten


def _cpu_attention_flops(query, key, value, *args, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


def _cpu_attention_backward_flops(grad_out, query, key, value, *args, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


# FlopCounterMode knows the CUDA attention kernels but not the CPU's flash kernel: count it the same way (2.5x the
# forward in backward, since the kernel recomputes the scores).
_CPU_ATTENTION = {
    _aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
    _aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_attention_backward_flops,
}


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs (matmuls, convolutions, attention) of running ``step``, by ``torch.utils.flop_counter``.

    Example:
        >>> count_flops(lambda: torch.randn(4, 8) @ torch.randn(8, 16))  # 2 * 4 * 8 * 16
        1024
    """
    with FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION) as counter:
        step()
    return counter.get_total_flops()


def saved_activation_bytes(forward: Callable[[], T], exclude: Iterable[Tensor] = ()) -> tuple[T, int]:
    """Run ``forward``; return its result and the bytes autograd keeps for backward, each storage counted once.

    Args:
        forward: builds the graph (e.g. the towers and the loss), not calling ``backward``.
        exclude: tensors whose storage is not an activation, e.g. ``model.parameters()``.

    Example:
        >>> x = torch.randn(100, requires_grad=True)
        >>> _, kept = saved_activation_bytes(lambda: (x.exp() * 2).sum(), exclude=[x])
        >>> kept  # exp keeps its output: 100 float32
        400
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    storages: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        result = forward()
    return result, sum(storages.values())


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2: the profiler's C++ side writes "profiler_start/stop" lines to it on every use."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory_bytes(step: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """The peak memory allocated while ``step`` runs, above what was allocated when it started.

    On a GPU, ``torch.cuda.max_memory_allocated``; on a CPU (which keeps no such counter), the running sum of the
    profiler's allocation and free events (``torch.profiler.profile(profile_memory=True)``). Tensors allocated
    before the step (weights, gradients that already exist) do not count; what the step allocates and frees
    (activations, their gradients, temporary buffers) does.

    Example:
        >>> round(peak_memory_bytes(lambda: torch.zeros(1000) + 1), -2)  # two vectors of 1,000 float32 at once
        8000
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - start
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        step()
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in profiler.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == torch.autograd.DeviceType.CPU
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


class _Checkpointed(nn.Module):
    """A block run under ``torch.utils.checkpoint``: it keeps its inputs and recomputes the rest in backward."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, *args: Tensor) -> Tensor:
        return checkpoint(self.block, *args, use_reentrant=False)


@contextmanager
def checkpoint_blocks(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every transformer block of ``model.text`` and ``model.vision`` runs checkpointed.

    The model is restored on exit. (This measures activation checkpointing; a trainer would build it in.)

    Example:
        >>> from jclip_lab.models import JClipModel, config_preset
        >>> model = JClipModel(config_preset("tiny", vocab_size=10))
        >>> with checkpoint_blocks(model):
        ...     type(model.text.blocks[0]).__name__
        '_Checkpointed'
        >>> type(model.text.blocks[0]).__name__
        'Block'
    """
    towers = [model.text, model.vision]
    originals = [tower.blocks for tower in towers]
    for tower, blocks in zip(towers, originals, strict=True):
        tower.blocks = nn.ModuleList(_Checkpointed(block) for block in blocks)
    try:
        yield model
    finally:
        for tower, blocks in zip(towers, originals, strict=True):
            tower.blocks = blocks
