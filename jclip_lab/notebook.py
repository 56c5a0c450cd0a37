"""The first cell of every notebook: pick the profile, seed, quiet the libraries, set plot defaults.

Example:
    >>> from jclip_lab.notebook import setup
    >>> profile = setup(seed=0, verbose=False)
    >>> profile.name in {"tiny", "small", "base"}
    True
"""

from __future__ import annotations

import warnings

import matplotlib
import transformers

from jclip_lab.profiles import Profile, get_device, get_profile, seed_everything, set_threads


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
