"""The first cell of every notebook: pick the profile, seed, quiet the libraries, set plot defaults.

Example:
    >>> from jclip_lab.notebook import setup
    >>> profile = setup(seed=0, verbose=False)
    >>> profile.name in {"tiny", "small", "base"}
    True
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import transformers

from jclip_lab.cache import CACHE_ENV_VAR
from jclip_lab.profiles import Profile, get_device, get_profile, seed_everything, set_threads

# On Colab the disk is wiped with every new runtime; a cache on Google Drive keeps the trained models.
COLAB_DRIVE_CACHE = Path("/content/drive/MyDrive/jclip_lab_cache")


def setup(seed: int = 0, verbose: bool = True) -> Profile:
    """Choose the profile (``$JCLIP_PROFILE`` or the hardware), seed everything and set quiet, readable defaults.

    ``$JCLIP_THREADS`` sets torch's CPU threads (see :func:`~jclip_lab.profiles.set_threads`).

    Args:
        seed: seed for Python, NumPy and torch.
        verbose: print the profile and the device in one line.

    Returns:
        The chosen :class:`~jclip_lab.profiles.Profile`.
    """
    profile = get_profile()
    _colab_cache(verbose)
    seed_everything(seed)
    set_threads()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TqdmWarning.*")
    matplotlib.rcParams.update({"figure.dpi": 90, "axes.spines.top": False, "axes.spines.right": False})
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    if verbose:
        print(f"profile: {profile.name} | device: {get_device().type}")
    return profile


def _colab_cache(verbose: bool) -> None:
    """On Colab, keep the cache on Google Drive when it is mounted (else say how), unless $JCLIP_CACHE is set."""
    if "google.colab" not in sys.modules or os.environ.get(CACHE_ENV_VAR):
        return
    if COLAB_DRIVE_CACHE.parent.is_dir():
        os.environ[CACHE_ENV_VAR] = str(COLAB_DRIVE_CACHE)
        if verbose:
            print(f"cache: {COLAB_DRIVE_CACHE} (kept across Colab runtimes)")
    elif verbose:
        print(
            "cache: this runtime's disk. To keep trained models across runtimes, run "
            "`from google.colab import drive; drive.mount('/content/drive')` and this cell again."
        )


@dataclass
class Elapsed:
    """What :func:`timed` measured: ``seconds`` is set when the block ends."""

    seconds: float = 0.0


@contextmanager
def timed(what: str) -> Iterator[Elapsed]:
    """Print how long the block took: ``what: 12.3 s``. Cells that train or load models use it.

    The block gets an :class:`Elapsed` whose ``seconds`` hold the time once it ends (e.g. to compute a speed).

    Example:
        >>> with timed("nothing") as elapsed:
        ...     pass
        nothing: 0.0 s
        >>> elapsed.seconds < 1
        True
    """
    elapsed = Elapsed()
    start = time.perf_counter()
    yield elapsed
    elapsed.seconds = time.perf_counter() - start
    print(f"{what}: {elapsed.seconds:.1f} s")
