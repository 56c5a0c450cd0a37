"""The lab's disk cache: where generated worlds, tokenizers and trained models live, and how they are written.

Everything is written to a temporary folder first and renamed into place, so a reader never sees half a folder,
and two processes asking for the same thing at once both end up with one complete copy.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "hello"
    >>> write_directory_atomically(target, lambda tmp: (tmp / "a.txt").write_text("hi"))
    >>> (target / "a.txt").read_text()
    'hi'
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from jclip_lab.optional import require

CACHE_ENV_VAR = "JCLIP_CACHE"


def cache_root() -> Path:
    """``$JCLIP_CACHE`` if set, else the user's cache folder (``~/.cache/jclip_lab`` on Linux).

    Example:
        >>> isinstance(cache_root(), Path)
        True
    """
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    platformdirs = require("platformdirs", "platformdirs", "the default cache folder")
    return Path(platformdirs.user_cache_dir("jclip_lab"))


def write_directory_atomically(directory: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` to fill a temporary folder beside ``directory``, then rename it to ``directory``.

    If ``directory`` appeared meanwhile (another process won the race), the temporary copy is dropped: both
    processes asked for the same deterministic content.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-"))
    try:
        write(tmp)
        os.rename(tmp, directory)
    except OSError:
        if not directory.exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_file_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then replace ``path`` with it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
