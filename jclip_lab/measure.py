"""Measure what a training step costs, to check the cost model (:mod:`jclip_lab.cost`) against PyTorch itself.

- :func:`count_flops`: ``torch.utils.flop_counter.FlopCounterMode``, taught to count the CPU's fused attention
  kernel (it counts the CUDA kernels already, with the same formula).
- :func:`saved_activation_bytes`: the distinct storages autograd keeps for backward (``saved_tensors_hooks``):
  exactly what the cost model calls activations.
- :func:`profile_step`: ``torch.profiler`` around a step: where its time goes, operator by operator;
  :func:`top_operators` reads off the operators that took the most time (the median over several runs).
- :func:`peak_memory_bytes`: the peak of the memory allocated while a step runs, above what was allocated
  before it: ``torch.cuda.max_memory_allocated`` on a GPU, the profiler's allocation events on a CPU.
- :func:`checkpoint_blocks`: run both towers' blocks under ``torch.utils.checkpoint``, to measure what
  activation checkpointing saves.
- :func:`training_throughput`: time real training steps (:func:`jclip_lab.train.training_step`) on
  :func:`synthetic_batches` of a stage's shapes, beside the cost model's FLOPs and memory for them; divide its
  FLOP/s by a peak (a datasheet's, or :func:`matmul_flops_per_second` measured) for the MFU.

Example:
    >>> import torch
    >>> layer = torch.nn.Linear(8, 4)
    >>> count_flops(lambda: layer(torch.randn(2, 8)).sum().backward())  # forward 2*2*8*4, backward: the weight's
    256
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.checkpoint import checkpoint
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from jclip_lab import cost
from jclip_lab.models import JClipConfig, JClipModel
from jclip_lab.train import TASKS, Stage, make_optimizer, training_step
from jclip_lab.train.loop import compile_towers
from jclip_lab.train.precision import choose_precision

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


def profile_step(step: Callable[[], object]) -> profile:
    """Run ``step`` under ``torch.profiler`` and return the profiler, to read its ``key_averages()``.

    CPU activities, and CUDA ones when a GPU is there. The profiler's C++ start and stop lines are kept off
    stderr.

    Example:
        >>> profiler = profile_step(lambda: torch.randn(64, 64) @ torch.randn(64, 64))
        >>> "aten::mm" in {event.key for event in profiler.key_averages()}
        True
    """
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with _quiet_stderr(), profile(activities=activities) as profiler:
        step()
    return profiler


@dataclass(frozen=True)
class OperatorTime:
    """One operator's share of a profiled step (see :func:`top_operators`).

    Attributes:
        name: the operator, e.g. ``aten::mm``.
        seconds: its self time (time inside the operator, not in the operators it calls), summed over its calls.
        share: ``seconds`` over the self time of all operators of the step.
        calls: how many times it ran.
    """

    name: str
    seconds: float
    share: float
    calls: int


def top_operators(profiled: profile | Sequence[profile], k: int = 8) -> list[OperatorTime]:
    """The ``k`` operators of :func:`profile_step` runs with the most self time, largest first.

    Self time is CPU time on a CPU and GPU time when the profiler recorded CUDA activity (a GPU's work is timed
    on the GPU; its CPU time is mostly kernel launches). The shares are of the total over *all* operators, so
    the ``k`` shown sum to at most 1. Given several runs of the same step (one profiler each), an operator's time
    is its median over the runs: a run that the operating system paused (another process wanted the core)
    inflates whichever operator was running then, and one such run moves a median of three or more little.

    Example:
        >>> a, b = torch.randn(256, 256), torch.randn(256, 256)
        >>> rows = top_operators([profile_step(lambda: (a @ b).relu()) for _ in range(3)], k=2)
        >>> rows[0].name, rows[0].calls, 0 < rows[0].share <= 1
        ('aten::mm', 1, True)
    """
    runs = [profiled] if isinstance(profiled, profile) else list(profiled)
    per_run = [_self_times(run) for run in runs]
    names = set().union(*per_run)
    seconds = {name: statistics.median(times.get(name, (0.0, 0))[0] for times in per_run) for name in names}
    calls = {name: max(times.get(name, (0.0, 0))[1] for times in per_run) for name in names}
    total = sum(seconds.values()) or 1.0
    ranked = sorted(names, key=lambda name: seconds[name], reverse=True)[:k]
    return [OperatorTime(name, seconds[name], seconds[name] / total, calls[name]) for name in ranked]


def _self_times(profiler: profile) -> dict[str, tuple[float, int]]:
    """``{operator: (self seconds, calls)}`` of one profiled run: GPU time where it recorded any, else CPU time."""
    events = profiler.key_averages()
    on_gpu = any(event.self_device_time_total > 0 for event in events)
    return {
        event.key: ((event.self_device_time_total if on_gpu else event.self_cpu_time_total) / 1e6, event.count)
        for event in events
    }


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


# ---------------------------------------------------------------- training throughput


def synthetic_batches(
    config: JClipConfig, stage: Stage, device: torch.device | str = "cpu", seed: int = 0
) -> dict[str, dict]:
    """Random inputs shaped like one collated batch of every task of ``stage``: ``{task: batch}``.

    Pixels are standard normal, token ids uniform over the vocabulary, and every text fills the stage's
    ``max_text_length`` (no padding, as the cost model counts texts). The shapes are training's, the content
    noise: for timing and memory, not for learning. The shapes never change, so a compiled model compiles once.

    Example:
        >>> from jclip_lab.models import config_preset
        >>> stage = Stage("s", {"short": 1.0, "pairs": 1.0}, 1, batch_size=2, image_size=32, max_text_length=8)
        >>> batches = synthetic_batches(config_preset("tiny"), stage)
        >>> tuple(batches["short"]["pixel_values"].shape), tuple(batches["pairs"]["b"]["input_ids"].shape)
        ((2, 3, 32, 32), (2, 8))
    """
    generator = torch.Generator().manual_seed(seed)
    rows, length, side = stage.batch_size, stage.max_text_length, stage.image_size

    def inputs(field: str) -> Tensor | dict[str, Tensor]:
        if field == "pixel_values":
            return torch.randn(rows, config.num_channels, side, side, generator=generator).to(device)
        ids = torch.randint(0, config.vocab_size, (rows, length), generator=generator).to(device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return {name: {field: inputs(field) for field, _ in TASKS[name].inputs} for name in stage.tasks}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_flops_per_second(
    device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, size: int | None = None, repeats: int = 3
) -> float:
    """FLOP/s of one ``size x size`` matmul in ``dtype`` on ``device``, the best of ``repeats`` after a warm-up.

    The easiest kernel there is: a measured stand-in for the peak where no datasheet figure applies (a CPU, an
    unknown GPU). ``size`` defaults to 1024 on a CPU and 8192 on a GPU (smaller ones leave a GPU idle).

    Example:
        >>> matmul_flops_per_second(size=64, repeats=1) > 0
        True
    """
    device = torch.device(device)
    size = size or (8192 if device.type == "cuda" else 1024)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b
    best = math.inf
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        a @ b
        _synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def reference_peak(device: torch.device | str = "cpu") -> tuple[float, str]:
    """The peak FLOP/s an MFU divides by, and where it comes from: one figure for every precision.

    On a GPU of :data:`jclip_lab.cost.GPUS` (matched by ``torch.cuda.get_device_name``): its datasheet's dense
    16-bit tensor-core peak, the convention of MFU figures (an fp32 run then shows what it leaves unused).
    Elsewhere: :func:`matmul_flops_per_second` measured now, in the precision the lab picks for the device
    (:func:`jclip_lab.train.precision.choose_precision`): bf16 or fp16 on a GPU, fp32 on a CPU, whose bf16
    matmuls are emulated unless it has bf16 units (on an AVX2 CPU a bf16 matmul ran 80x slower than fp32).

    Example:
        >>> peak, source = reference_peak("cpu")
        >>> peak > 0, source
        (True, 'measured: a 1024 x 1024 matmul in fp32')
    """
    device = torch.device(device)
    if device.type == "cuda":
        gpu = cost.gpu_named(torch.cuda.get_device_name(device))
        if gpu is not None:
            return gpu.peak_flops, f"datasheet: {gpu.name}, {gpu.peak_flops / 1e12:.0f} TFLOP/s {gpu.dtype} dense"
    precision = choose_precision(device)
    size = 8192 if device.type == "cuda" else 1024
    peak = matmul_flops_per_second(device, precision.dtype or torch.float32, size)
    return peak, f"measured: a {size} x {size} matmul in {precision.name}"


@dataclass(frozen=True)
class Throughput:
    """How fast training steps ran, beside what the cost model says one costs.

    Attributes:
        examples_per_step: examples of all tasks in one step (``batch_size`` per task).
        step_seconds: median wall time of the timed steps.
        first_step_seconds: wall time of the first step (compilation happens there when compiled).
        model_flops: the step's model FLOPs from the cost model, ``3 x forward`` (:func:`jclip_lab.cost.step_cost`).
        peak_bytes: peak memory allocated during the timed steps (weights, gradients, optimizer state,
            activations: ``torch.cuda.max_memory_allocated``); None on a CPU, which keeps no such counter.
        estimated_peak_bytes: the cost model's peak for the step, the same quantity.
    """

    examples_per_step: int
    step_seconds: float
    first_step_seconds: float
    model_flops: float
    peak_bytes: int | None
    estimated_peak_bytes: int

    @property
    def examples_per_second(self) -> float:
        """Training examples per second (samples/s)."""
        return self.examples_per_step / self.step_seconds

    @property
    def flops_per_second(self) -> float:
        """Model FLOP/s achieved: divided by a peak FLOP/s it is the MFU (model FLOPs utilisation)."""
        return self.model_flops / self.step_seconds


def training_throughput(
    model: JClipModel,
    stage: Stage,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    compile: bool = False,
    steps: int = 3,
    warmup: int = 1,
) -> Throughput:
    """Time ``warmup + steps`` optimizer steps of ``stage`` on :func:`synthetic_batches`, as the trainer runs them.

    Each step is :func:`jclip_lab.train.training_step` (forward, losses over the Matryoshka dims, backward,
    clipping, AdamW), in ``precision`` (with fp16's gradient scaler), after ``torch.compile`` of both towers when
    ``compile`` (dynamo's caches are reset first, so the first step pays the whole compilation). The ``warmup``
    steps are untimed: the first allocates AdamW's state (and compiles).

    Args:
        model: a model to train (moved to ``device``; compiling changes it in place, so pass a fresh one).
        stage: the tasks, batch size, image size and text length of the steps.
        device: where to train.
        precision: ``fp32``, ``bf16``, ``fp16`` or ``auto`` (:func:`jclip_lab.train.precision.choose_precision`).
        compile: ``torch.compile`` the towers first.
        steps: timed steps.
        warmup: untimed steps first, at least 1.

    Returns:
        The :class:`Throughput`.

    Raises:
        ValueError: ``steps`` or ``warmup`` below 1, or a precision the device lacks.

    Example:
        >>> from jclip_lab.models import config_preset
        >>> stage = Stage("s", {"pairs": 1.0}, 1, batch_size=2, image_size=32, max_text_length=8)
        >>> result = training_throughput(JClipModel(config_preset("tiny")), stage, steps=1)
        >>> result.examples_per_step, round(result.model_flops / 1e6), result.examples_per_second > 0
        (2, 77, True)
    """
    if steps < 1 or warmup < 1:
        raise ValueError(f"steps and warmup must be at least 1 (got steps={steps}, warmup={warmup}).")
    device = torch.device(device)
    chosen = choose_precision(device, precision)
    model.to(device).train()
    if compile:
        torch.compiler.reset()
        compile_towers(model)
    optimizer, scaler = make_optimizer(model, stage), chosen.scaler(device)
    batches = synthetic_batches(model.config, stage, device)

    def step(index: int) -> float:
        _synchronize(device)
        start = time.perf_counter()
        training_step(model, optimizer, batches, stage, index, device, precision=chosen, scaler=scaler)
        _synchronize(device)
        return time.perf_counter() - start

    first = step(0)
    for index in range(1, warmup):
        step(index)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = [step(warmup + index) for index in range(steps)]
    estimate = cost.step_cost(
        model.config,
        cost.stage_tasks(stage),
        precision="fp32" if chosen.name == "fp32" else "bf16",  # fp16 takes bf16's bytes
        autocast_device="cuda" if device.type == "cuda" else "cpu",
    )
    return Throughput(
        examples_per_step=stage.batch_size * len(stage.tasks),
        step_seconds=statistics.median(times),
        first_step_seconds=first,
        model_flops=estimate.model_flops,
        peak_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
        estimated_peak_bytes=estimate.peak_bytes,
    )
