"""Hardware-aware profiles: how big a world, model and training run this machine should use.

The profile is ``tiny`` on any hardware unless ``JCLIP_PROFILE`` (or an explicit name) chooses ``small`` or ``base``;
:func:`detect_profile_name` says which of them this machine's GPU could run. Everything that picks a device or a
dtype asks this module, so no notebook hard-codes ``.cuda()``.

Example:
    >>> from jclip_lab.profiles import get_profile
    >>> get_profile("tiny").image_size
    32
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import transformers

PROFILE_ENV_VAR = "JCLIP_PROFILE"
DEVICE_ENV_VAR = "JCLIP_DEVICE"
THREADS_ENV_VAR = "JCLIP_THREADS"


@dataclass(frozen=True)
class Profile:
    """The sizes one session works with.

    Attributes:
        name: ``tiny``, ``small`` or ``base``.
        model: name of the model config preset (see ``jclip_lab.models``).
        image_size: side of the stage-1 images in pixels; later stages raise it.
        long_image_size: side of the images in stages 2 and 3.
        max_text_length: tokens per text in stage 1 (short captions); stages 2-3 double it.
        vocab_size: size of the tokenizer trained on the world's text.
        batch_size: examples per task in one training batch.
        steps_per_stage: optimizer steps in each of the three stages.
        scenes: compositional scenes (each captioned in all 14 caption languages).
        emoji: emoji concepts drawn (each in 4 variants).
        flags: country flags drawn (each in 4 variants; at most the 252 distinct flags OpenMoji draws).
        charts: rendered charts.
        digits: handwritten digits used (of scikit-learn's 1,797).

    How long each stage of its recipe takes, measured or estimated on named hardware: :func:`stage_times`.
    """

    name: str
    model: str
    image_size: int
    long_image_size: int
    max_text_length: int
    vocab_size: int
    batch_size: int
    steps_per_stage: int
    scenes: int
    emoji: int
    flags: int
    charts: int
    digits: int


PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny",
        model="tiny",
        image_size=32,
        long_image_size=48,
        max_text_length=32,
        vocab_size=8000,
        batch_size=64,
        steps_per_stage=300,
        scenes=1500,
        emoji=100,
        flags=100,
        charts=400,
        digits=600,
    ),
    "small": Profile(
        name="small",
        model="small",
        image_size=64,
        long_image_size=96,
        max_text_length=48,
        vocab_size=16000,
        batch_size=256,
        steps_per_stage=3000,
        scenes=8000,
        emoji=800,
        flags=252,
        charts=3000,
        digits=1797,
    ),
    "base": Profile(
        name="base",
        model="base",
        image_size=96,
        long_image_size=128,
        max_text_length=64,
        vocab_size=32000,
        batch_size=512,
        steps_per_stage=10000,
        scenes=20000,
        emoji=1300,
        flags=252,
        charts=6000,
        digits=1797,
    ),
}


@dataclass(frozen=True)
class StageTimes:
    """How long the three stages of a profile's canonical recipe take on one machine, measured or estimated.

    Attributes:
        profile: the profile's name.
        hardware: the machine, named.
        seconds: wall time of each stage, in order.
        basis: ``measured``, or ``estimated`` with its assumptions.
        chunk_sizes: per stage, the gradient-caching chunk the batch needs to fit in memory (``--chunk-size``),
            None where it fits at once; empty when not estimated.
    """

    profile: str
    hardware: str
    seconds: tuple[float, ...]
    basis: str
    chunk_sizes: tuple[int | None, ...] = ()


# The canonical tiny recipe (`jclip-lab train --profile tiny`, the zoo's model) timed on the lab's development
# machine, a 2-core AMD EPYC virtual machine, with 2 torch threads while nothing else ran (2026-11-29, the recipe
# with source-weighted sampling and the digits task; each stage timed through train(callback=), world and tokenizer
# already cached).
MEASURED_STAGE_TIMES = (StageTimes("tiny", "2-core AMD EPYC CPU, 2 threads", (69.9, 49.5, 84.9), "measured"),)
# The model-FLOPs utilisation the GPU estimates assume. Models this small leave a large GPU mostly idle (kernel
# launches, not matmuls, set the pace): large models reach 40%, these probably less. benchmarks/gpu_check.py
# measures it; replace the estimates with its figures when a GPU has run it.
ESTIMATE_MFU = 0.2


def stage_times(name: str) -> list[StageTimes]:
    """Time per stage of profile ``name``'s three-stage recipe: measured where it was run, else estimated.

    ``tiny`` was measured on a CPU. ``small`` and ``base`` are estimated by the cost model
    (:func:`jclip_lab.cost.plan_recipe`) on one Colab T4 (fp16, 65 TFLOP/s), A100 40 GB (bf16, 312 TFLOP/s) and
    H100 SXM (bf16, 989 TFLOP/s): the model FLOPs of every step at :data:`ESTIMATE_MFU` of the peak, the
    profile's batch, gradient caching where it does not fit at once. Not counted: generating the world, drawing
    and collating batches, evaluation, checkpoints, compilation.

    Example:
        >>> [round(s) for s in stage_times("tiny")[0].seconds]
        [70, 50, 85]
        >>> row = stage_times("base")[0]
        >>> row.hardware, [round(s / 3600, 1) for s in row.seconds], row.chunk_sizes
        ('1 x T4 16GB, fp16', [8.8, 8.5, 12.8], (256, 128, 128))
    """
    from jclip_lab import cost  # imported here: the cost model builds on the models, which build on this module

    get_profile(name)  # a clear error for an unknown name
    rows = [times for times in MEASURED_STAGE_TIMES if times.profile == name]
    if name == "tiny":
        return rows
    basis = f"estimated: cost model at {ESTIMATE_MFU:.0%} MFU"
    for gpu in (cost.T4, cost.A100_40GB, cost.H100_SXM):
        plans = cost.plan_recipe(PROFILES[name], gpu, ESTIMATE_MFU)
        seconds = tuple(stage.steps * plan.cost.step_time_s for stage, plan in plans)
        chunks = tuple(plan.chunk_size for _, plan in plans)
        rows.append(StageTimes(name, f"1 x {gpu.name}, {gpu.dtype}", seconds, basis, chunks))
    return rows


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def format_stage_times(name: str) -> str:
    """:func:`stage_times` of profile ``name`` as a table, with the recipe's steps and batch size.

    Example:
        >>> print(format_stage_times("tiny"))
        tiny: 300/150/150 steps, 64 per task and step
        hardware                          stage 1  stage 2  stage 3    total  chunk       basis
        2-core AMD EPYC CPU, 2 threads       70 s     50 s     85 s  3.4 min  -           measured
    """
    from jclip_lab.train import three_stage_recipe  # imported here, as in stage_times

    stages = three_stage_recipe(get_profile(name))
    lines = [
        f"{name}: {'/'.join(str(stage.steps) for stage in stages)} steps, {stages[0].batch_size} per task and step",
        f"{'hardware':<32} {'stage 1':>8} {'stage 2':>8} {'stage 3':>8} {'total':>8}  {'chunk':<11} basis",
    ]
    for row in stage_times(name):
        chunks = "/".join("-" if chunk is None else str(chunk) for chunk in row.chunk_sizes) or "-"
        stages = " ".join(f"{_duration(seconds):>8}" for seconds in row.seconds)
        lines.append(f"{row.hardware:<32} {stages} {_duration(sum(row.seconds)):>8}  {chunks:<11} {row.basis}")
    return "\n".join(lines)


def detect_profile_name() -> str:
    """The largest profile this hardware can run in reasonable time: ``base`` on a GPU with >= 40 GB, ``small`` on
    a smaller GPU, else ``tiny``. A suggestion only: :func:`get_profile` picks ``tiny`` unless told otherwise.

    Example:
        >>> detect_profile_name() in PROFILES
        True
    """
    if not torch.cuda.is_available():
        return "tiny"
    memory_gb = torch.cuda.get_device_properties(0).total_memory / 2**30
    return "base" if memory_gb >= 40 else "small"


def get_profile(name: str | None = None) -> Profile:
    """Return a profile by name; by default ``$JCLIP_PROFILE`` if set, else ``tiny``, on any hardware.

    The notebooks' stored outputs and checks are tiny's, and tiny trains in minutes even on a CPU; a larger
    profile is a choice (``JCLIP_PROFILE=small``, or ``get_profile("small")`` as notebook 11 does), for which
    :func:`detect_profile_name` says what this machine could run.

    Raises:
        ValueError: if the name (or ``$JCLIP_PROFILE``) is not a known profile.

    Example:
        >>> get_profile("tiny").model
        'tiny'
    """
    name = name or os.environ.get(PROFILE_ENV_VAR) or "tiny"
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)} (set {PROFILE_ENV_VAR}).")
    return PROFILES[name]


def get_device() -> torch.device:
    """``$JCLIP_DEVICE`` if set, else the best available device: CUDA, then Apple MPS, then CPU.

    Example:
        >>> get_device().type in {"cuda", "mps", "cpu"}
        True
    """
    if os.environ.get(DEVICE_ENV_VAR):
        return torch.device(os.environ[DEVICE_ENV_VAR])
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random generators (all devices) for a reproducible run.

    Example:
        >>> seed_everything(0); a = torch.rand(1); seed_everything(0)
        >>> bool(torch.equal(a, torch.rand(1)))
        True
    """
    transformers.set_seed(seed)


def set_threads() -> int:
    """Apply the lab's one CPU thread policy and return the thread count: ``$JCLIP_THREADS`` if set, else torch's
    default (one per core).

    Every place the lab trains (notebooks, ``jclip-lab train``, the model zoo) calls this. Measure before you
    choose: on an idle 2-core machine two threads ran 1.9x faster than one, but on a busy one the default two
    threads were more than 10x slower than one (they wait for each other).

    Raises:
        ValueError: if ``$JCLIP_THREADS`` is not a positive integer.

    Example:
        >>> set_threads() >= 1
        True
    """
    value = os.environ.get(THREADS_ENV_VAR)
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV_VAR}={value!r}: set it to a positive number of threads, e.g. 1.")
        torch.set_num_threads(int(value))
    return torch.get_num_threads()
