"""The lab's disk cache: where generated worlds, tokenizers and trained models live, and how they are written.

Everything is written to a temporary folder first and renamed into place, so a reader never sees half a folder,
and two processes asking for the same thing at once both end up with one complete copy. A temporary folder is
named after the process writing it (``.<name>-<pid>-<random>``), so one left behind by a killed process is
recognised and removed by :func:`remove_stale_temporaries`.

Example:
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "hello"
    >>> write_directory_atomically(target, lambda tmp: (tmp / "a.txt").write_text("hi"))
    >>> (target / "a.txt").read_text()
    'hi'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import platformdirs

CACHE_ENV_VAR = "JCLIP_CACHE"


def cache_root() -> Path:
    """``$JCLIP_CACHE`` if set, else the user's cache folder (``~/.cache/jclip_lab`` on Linux).

    Example:
        >>> isinstance(cache_root(), Path)
        True
    """
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR])
    return Path(platformdirs.user_cache_dir("jclip_lab"))


def write_directory_atomically(directory: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` to fill a temporary folder beside ``directory``, then rename it to ``directory``.

    If ``directory`` appeared meanwhile (another process won the race), the temporary copy is dropped: both
    processes asked for the same deterministic content.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}-{os.getpid()}-"))
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-{os.getpid()}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` whose writing process is gone (killed mid-write).

    Temporaries of processes still running are left alone: they may be writing right now.

    Returns:
        The paths removed.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / ".world-999999999-abc").mkdir()            # a pid no process has
        >>> [p.name for p in remove_stale_temporaries(folder)]
        ['.world-999999999-abc']
    """
    removed = []
    for path in Path(folder).glob(".*-*-*") if Path(folder).is_dir() else ():
        pid = path.name.split("-")[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
    return removed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksum(path: Path) -> None:
    """Record ``path``'s SHA-256 in ``<path>.sha256`` beside it (written atomically), for :func:`is_intact`."""
    digest = _sha256(Path(path))
    write_file_atomically(Path(f"{path}.sha256"), lambda tmp: tmp.write_text(digest))


def is_intact(path: Path) -> bool:
    """Whether ``path`` exists and still has the SHA-256 recorded beside it by :func:`write_checksum`.

    A cached file whose bytes changed on disk (a disk error, zeroed blocks, a partial copy) would otherwise load
    as plausible data: zeroed pixels are black images, not an error.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pixels.npy"
        >>> _ = path.write_bytes(b"1234"); write_checksum(path)
        >>> is_intact(path), (path.write_bytes(b"0000"), is_intact(path))[1]
        (True, False)
    """
    sidecar = Path(f"{path}.sha256")
    return Path(path).is_file() and sidecar.is_file() and sidecar.read_text().strip() == _sha256(Path(path))
