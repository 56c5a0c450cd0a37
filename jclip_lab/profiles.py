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
