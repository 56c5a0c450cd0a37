"""Stand-ins for the real jina-clip-v2 and its benchmarks, for offline demos and tests.

The real model (1.7 GB from the Hugging Face hub) and the real benchmarks (hundreds of MB from several hosts) need
the internet. On a machine without it (the tests, CI, a laptop on a train) the same code runs on stand-ins written
in the real formats:

- :mod:`~jclip_lab.offline.fake_checkpoint`: a small random checkpoint in jina-clip-v2's format
  (:func:`write_fake_checkpoint`), which ``JClipModel.from_jina_clip_v2`` loads like the real one;
- :mod:`~jclip_lab.offline.fake_benchmarks`: few-row copies of Flickr30k, MSCOCO, XTD10 and Crossmodal-3600 in
  their real layouts (:func:`fake_benchmark`).

:func:`online` decides which to use: ``JCLIP_OFFLINE=1`` says offline and ``JCLIP_OFFLINE=0`` online, without
asking the network (the notebook tests set ``JCLIP_OFFLINE=1``); otherwise one short connection attempt to
huggingface.co decides. :func:`real_benchmark` and :func:`benchmark_languages` then give the real benchmark or its
fixture. Numbers measured on stand-ins say nothing about jina-clip-v2: the fake's weights are random.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> real_benchmark("flickr30k", online=False, folder=folder)
    RetrievalBenchmark(name='flickr30k', language='en', images=3, captions=5)
    >>> benchmark_languages("crossmodal3600", online=False)
    ('ar', 'en', 'ja')
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from jclip_lab.offline.fake_benchmarks import FIXTURE_LANGUAGES, fake_benchmark
from jclip_lab.offline.fake_checkpoint import REAL, TINY, Geometry, write_fake_checkpoint, write_hf_cache
from jclip_lab.real_benchmarks.readers import (
    XM3600_LANGUAGES,
    XTD10_LANGUAGES,
    RetrievalBenchmark,
    load_crossmodal3600,
    load_flickr30k,
    load_mscoco,
    load_xtd10,
)

OFFLINE_VARIABLE = "JCLIP_OFFLINE"
HUB_HOST = "huggingface.co"
PROBE_SECONDS = 3.0  # one TCP connection attempt; a machine without network fails at once or after this
REAL_LANGUAGES = {"flickr30k": ("en",), "mscoco": ("en",), "xtd10": XTD10_LANGUAGES, "crossmodal3600": XM3600_LANGUAGES}

__all__ = [
    "FIXTURE_LANGUAGES",
    "OFFLINE_VARIABLE",
    "REAL",
    "TINY",
    "Geometry",
    "benchmark_languages",
    "fake_benchmark",
    "online",
    "real_benchmark",
    "write_fake_checkpoint",
    "write_hf_cache",
]


def online(host: str = HUB_HOST, port: int = 443, timeout: float = PROBE_SECONDS) -> bool:
    """Whether to use the real model and benchmarks: ``$JCLIP_OFFLINE`` if set, else whether ``host`` answers.

    ``JCLIP_OFFLINE=1`` (or ``true``/``yes``) means offline and ``JCLIP_OFFLINE=0`` (``false``/``no``) online, with no
    connection attempt: tests stay deterministic, and a machine whose Hugging Face cache already holds everything
    can run online with ``JCLIP_OFFLINE=0 HF_HUB_OFFLINE=1``. Unset, one TCP connection to ``host:port`` is tried
    for at most ``timeout`` seconds.

    Raises:
        ValueError: ``$JCLIP_OFFLINE`` holds something else.

    Example:
        >>> online(host="127.0.0.1", port=9, timeout=1)  # nothing listens on the discard port: offline
        False
    """
    setting = os.environ.get(OFFLINE_VARIABLE, "").strip().lower()
    if setting in ("1", "true", "yes"):
        return False
    if setting in ("0", "false", "no"):
        return True
    if setting:
        raise ValueError(f"{OFFLINE_VARIABLE}={setting!r}; set it to 1 (offline), 0 (online) or leave it unset.")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:  # no route, no DNS, refused, timed out
        return False
    return True


def benchmark_languages(name: str, online: bool) -> tuple[str, ...]:
    """The languages of benchmark ``name``: all of the real one's online, its fixture's offline.

    Example:
        >>> len(benchmark_languages("xtd10", online=True)), benchmark_languages("flickr30k", online=False)
        (11, ('en',))
    """
    languages = REAL_LANGUAGES if online else FIXTURE_LANGUAGES
    if name not in languages:
        raise ValueError(f"Unknown benchmark {name!r}; choose one of {list(languages)}.")
    return languages[name]


def real_benchmark(
    name: str, language: str = "en", *, online: bool, folder: Path | str | None = None, progress: bool = True
) -> RetrievalBenchmark:
    """Benchmark ``name`` in ``language``: downloaded (once, then cached) when ``online``, else its fixture.

    Args:
        name: ``flickr30k``, ``mscoco``, ``xtd10`` or ``crossmodal3600``.
        language: a language of :func:`benchmark_languages` (XTD10 writes Japanese ``jp``).
        online: the real benchmark (:mod:`jclip_lab.real_benchmarks`), or the few-row fixture.
        folder: offline, where fixtures are written (required then); online, the benchmarks' cache folder
            (default: ``jclip_lab.cache.cache_root() / "benchmarks"``).
        progress: show download progress bars.

    Raises:
        ValueError: an unknown benchmark or language, or no ``folder`` offline.
        OfflineError: online, but a host cannot be reached and the files are not cached.

    Example:
        >>> import tempfile
        >>> real_benchmark("xtd10", "jp", online=False, folder=tempfile.mkdtemp()).captions[0]
        ['走っている犬']
    """
    if language not in benchmark_languages(name, online):
        raise ValueError(f"{name} has no language {language!r}; choose one of {benchmark_languages(name, online)}.")
    if not online:
        if folder is None:
            raise ValueError("Offline, real_benchmark needs a folder to write the fixtures into (folder=...).")
        return fake_benchmark(name, language, folder)
    if name == "flickr30k":
        return load_flickr30k(cache_dir=folder, progress=progress)
    if name == "mscoco":
        return load_mscoco(cache_dir=folder, progress=progress)
    if name == "xtd10":
        return load_xtd10(language, cache_dir=folder, progress=progress)
    return load_crossmodal3600(language, cache_dir=folder, progress=progress)
