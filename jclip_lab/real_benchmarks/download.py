"""Fetching the real benchmarks: a progress bar, resumed and verified downloads, atomic writes, a clear offline error.

Two kinds of source:

- files on the Hugging Face hub (CLIP_benchmark's webdatasets) go through ``huggingface_hub.hf_hub_download`` at a
  pinned revision (:func:`download_from_hub`): it resumes a partial file (``.incomplete`` + HTTP Range) and checks
  its size; after a fresh download this module also checks its sha256 against the hub's LFS hash;
- any other URL goes through :func:`download_url` (``urllib`` with a timeout): the bytes go to ``<name>.part``, a
  later call resumes that file with an HTTP Range request, the size and the sha256 are checked where known, and only
  then is the file renamed into place, so a complete-looking file is always a verified one.

Without a network both raise :class:`OfflineError`, whose message says that the lab's offline benchmarks live in
``jclip_lab.evaluate``. Progress bars are ``tqdm.auto`` bars that redraw at most every ``REDRAW_SECONDS``: a bar
that redraws too often floods a notebook's message queue.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "source.txt").write_text("a dog, running")
    >>> path = download_url((folder / "source.txt").as_uri(), folder / "copy.txt", size=14, progress=False)
    >>> path.read_text()
    'a dog, running'
"""

from __future__ import annotations

import hashlib
import http.client
import inspect
import os
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from jclip_lab.cache import write_directory_atomically

REDRAW_SECONDS = 1.5  # at most one redraw every 1.5 s (GUIDE.md: faster bars flood Jupyter's message queue)
TIMEOUT_SECONDS = 30.0  # per connection attempt and per read; urllib waits forever without one
CHUNK_BYTES = 1 << 20
SHA256 = re.compile(r"[0-9a-f]{64}")


class OfflineError(ConnectionError):
    """A benchmark file cannot be fetched because its host cannot be reached.

    Example:
        >>> print(offline_error("huggingface.co"))
        cannot reach huggingface.co: the real benchmarks need the internet; the lab's offline benchmarks are in ...
    """


class DownloadError(OSError):
    """A download answered with an HTTP error, broke off, or failed its size or sha256 check.

    Example:
        >>> issubclass(DownloadError, OSError)
        True
    """


def offline_error(host: str) -> OfflineError:
    """The error raised when ``host`` cannot be reached (no network, DNS failure, refused, timed out).

    Example:
        >>> isinstance(offline_error("example.org"), ConnectionError)
        True
    """
    return OfflineError(
        f"cannot reach {host}: the real benchmarks need the internet; "
        "the lab's offline benchmarks are in jclip_lab.evaluate"
    )


class SlowBar(tqdm):
    """``tqdm.auto`` bar that redraws at most every ``REDRAW_SECONDS`` (unless told otherwise).

    Example:
        >>> import io
        >>> with SlowBar(total=3, file=io.StringIO()) as bar:
        ...     bar.mininterval
        1.5
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("mininterval", REDRAW_SECONDS)
        super().__init__(*args, **kwargs)


class QuietBar(SlowBar):
    """A :class:`SlowBar` that draws nothing (for ``progress=False``).

    Example:
        >>> QuietBar(total=1).disable
        True
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


# ---------------------------------------------------------------- plain URLs


def download_url(
    url: str,
    path: Path | str,
    *,
    size: int | None = None,
    sha256: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``path`` unless it is there; resume a partial ``<path>.part``; verify; rename into place.

    Args:
        url: an ``http(s)://`` (or ``file://``) URL.
        path: where the file goes. An existing file is returned as it is (it was verified before it was renamed).
        size: expected size in bytes, if known (else the server's announced length is checked).
        sha256: expected hex digest, if known.
        timeout: seconds to wait for a connection or a read.
        progress: show a byte progress bar.

    Returns:
        ``path``.

    Raises:
        OfflineError: the host cannot be reached.
        DownloadError: an HTTP error, a download that broke off (call again: it resumes), or a size or sha256
            mismatch (the partial file is removed so the next call starts afresh).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "a.txt").write_bytes(b"abc")
        >>> download_url((folder / "a.txt").as_uri(), folder / "b.txt", sha256="0" * 64, progress=False)
        Traceback (most recent call last):
        ...
        jclip_lab.real_benchmarks.download.DownloadError: b.txt from file://... has sha256 ba7816bf..., expected ...
    """
    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    announced = _fetch_into(url, part, timeout, progress, label=path.name)
    _verify(part, url, path.name, size if size is not None else announced, sha256)
    os.replace(part, path)
    return path


def _fetch_into(url: str, part: Path, timeout: float, progress: bool, label: str) -> int | None:
    """Append the missing bytes of ``url`` to ``part`` (HTTP Range from its current size); return the total size the
    server announced, if any."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # "range not satisfiable": the part holds every byte (or too many)
            match = re.fullmatch(r"bytes \*/(\d+)", error.headers.get("Content-Range", ""))
            return int(match.group(1)) if match else None
        raise DownloadError(f"{url} answered HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise offline_error(urllib.parse.urlsplit(url).hostname or url) from error
    with response:
        start = _body_start(response)  # 0 when the server ignored the Range header: start over
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with open(part, "r+b" if part.exists() else "wb") as out, _bar(total, start, label, progress) as bar:
            out.seek(start)
            out.truncate()
            try:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as error:  # reset, timed out, or closed early (IncompleteRead)
                raise _broke_off(url, out.tell(), error) from error
            if total is not None and out.tell() < total:  # the server closed the connection early
                raise _broke_off(url, out.tell(), f"{total:,} bytes announced")
    return total


def _broke_off(url: str, received: int, why: object) -> DownloadError:
    return DownloadError(f"the download of {url} broke off after {received:,} bytes ({why}); call again to resume it")


def _body_start(response) -> int:
    """Offset in the file where the response body starts: the Content-Range start of a 206, else 0."""
    if getattr(response, "status", None) != 206:
        return 0
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else 0


def _bar(total: int | None, initial: int, label: str, progress: bool) -> tqdm:
    cls = SlowBar if progress else QuietBar
    return cls(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=label)


def _verify(part: Path, url: str, name: str, size: int | None, sha256: str | None) -> None:
    """Check ``part`` against the expected size and sha256; remove it and raise on a mismatch."""
    problem = None
    if size is not None and part.stat().st_size != size:
        problem = f"has {part.stat().st_size:,} bytes, expected {size:,}"
    elif sha256 is not None and (actual := file_sha256(part)) != sha256:
        problem = f"has sha256 {actual[:8]}..., expected {sha256[:8]}..."
    if problem:
        part.unlink()
        raise DownloadError(
            f"{name} from {url} {problem}; the partial file was removed: call again to download it afresh"
        )


def file_sha256(path: Path | str) -> str:
    """Hex sha256 of a file, read in chunks.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = path.write_bytes(b"abc")
        >>> file_sha256(path)[:16]
        'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- the Hugging Face hub


def download_from_hub(
    repo_id: str, filename: str, revision: str, *, cache_dir: Path | str | None = None, progress: bool = True
) -> Path:
    """One file of a hub *dataset* repository at a pinned ``revision``, through ``huggingface_hub``.

    A file already in ``cache_dir`` at that revision is returned without touching the network (so
    ``HF_HUB_OFFLINE=1`` works once the files are there). Otherwise the hub is probed first, so that an offline
    machine gets :class:`OfflineError` at once instead of after ``huggingface_hub``'s retries (about 25 s). After a
    fresh download of a Git LFS file, its sha256 is checked against the hub's LFS hash (the name of its blob in the
    cache); ``huggingface_hub`` itself checks only the size, and resumes a partial file. The bar redraws every
    ``REDRAW_SECONDS`` with ``huggingface_hub`` >= 1.1 (which takes a ``tqdm_class``); older versions draw their own.

    Args:
        repo_id: e.g. ``"clip-benchmark/wds_flickr30k"``.
        filename: path inside the repository, e.g. ``"test/0.tar"``.
        revision: a commit hash (a branch name would let the benchmark drift).
        cache_dir: a ``huggingface_hub`` cache folder (default: its own, ``~/.cache/huggingface/hub``).
        progress: show a byte progress bar (huggingface_hub >= 1.1).

    Raises:
        OfflineError: the hub cannot be reached and the file is not cached.
        DownloadError: the downloaded file does not match its LFS sha256 (it is removed).

    Example:
        >>> import tempfile
        >>> cache, revision = Path(tempfile.mkdtemp()), "f8af3ceee1b944bf761340682621dfafd23974d2"
        >>> snapshot = cache / "datasets--clip-benchmark--wds_flickr30k" / "snapshots" / revision
        >>> (snapshot / "test").mkdir(parents=True)
        >>> _ = (snapshot / "test" / "nshards.txt").write_text("5\\n")
        >>> download_from_hub("clip-benchmark/wds_flickr30k", "test/nshards.txt", revision, cache_dir=cache).read_text()
        '5\\n'
    """
    import huggingface_hub as hub
    from huggingface_hub import constants
    from huggingface_hub.utils import LocalEntryNotFoundError, OfflineModeIsEnabled

    where = dict(repo_id=repo_id, filename=filename, repo_type="dataset", revision=revision, cache_dir=cache_dir)
    cached = hub.try_to_load_from_cache(**where)
    if isinstance(cached, str):
        return Path(cached)
    endpoint = constants.ENDPOINT
    if not constants.HF_HUB_OFFLINE:
        check_reachable(endpoint)
    if "tqdm_class" in inspect.signature(hub.hf_hub_download).parameters:  # huggingface_hub >= 1.1
        where["tqdm_class"] = SlowBar if progress else QuietBar
    try:
        path = Path(hub.hf_hub_download(**where))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
        raise offline_error(urllib.parse.urlsplit(endpoint).hostname or endpoint) from error
    _verify_lfs_blob(path, f"{repo_id}/{filename}@{revision}")
    return path


def check_reachable(url: str, timeout: float = 10.0) -> None:
    """Raise :class:`OfflineError` unless the host of ``url`` answers a HEAD request (any HTTP status is an answer).

    Example:
        >>> check_reachable("http://127.0.0.1:9/", timeout=1)  # nothing listens on the discard port
        Traceback (most recent call last):
        ...
        jclip_lab.real_benchmarks.download.OfflineError: cannot reach 127.0.0.1: the real benchmarks need the ...
    """
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise offline_error(urllib.parse.urlsplit(url).hostname or url) from error


def _verify_lfs_blob(path: Path, label: str) -> None:
    """In a huggingface_hub cache an LFS file's blob is named by its sha256: check the bytes against the name."""
    blob = path.resolve()
    if SHA256.fullmatch(blob.name) and (actual := file_sha256(blob)) != blob.name:
        blob.unlink()
        raise DownloadError(
            f"{label} has sha256 {actual[:8]}..., expected {blob.name[:8]}...; it was removed: call again to fetch it"
        )


# ---------------------------------------------------------------- archives


def extract_flat(archive: Path | str, folder: Path | str, suffix: str) -> int:
    """Write every file of a ``.zip`` or ``.tar(.gz)`` whose name ends with ``suffix`` into ``folder``, by base name.

    Archives differ in their top folder (``images/x.jpg`` or ``./x.jpg``); taking base names makes both land in
    ``folder/x.jpg``, and no member can write outside ``folder``. The folder appears complete or not at all.

    Returns:
        The number of files written.

    Example:
        >>> import tempfile
        >>> work = Path(tempfile.mkdtemp())
        >>> with zipfile.ZipFile(work / "a.zip", "w") as z:
        ...     z.writestr("images/x.jpg", b"jpeg bytes")
        ...     z.writestr("README", b"not an image")
        >>> extract_flat(work / "a.zip", work / "images", ".jpg"), sorted(p.name for p in (work / "images").iterdir())
        (1, ['x.jpg'])
    """
    archive, folder = Path(archive), Path(folder)
    written = []

    def write(tmp: Path) -> None:
        for name, read in _members(archive):
            base = name.rsplit("/", 1)[-1]
            if base.lower().endswith(suffix.lower()) and not base.startswith("."):
                (tmp / base).write_bytes(read())
                written.append(base)

    write_directory_atomically(folder, write)
    return len(written)


def _members(archive: Path):
    """(name, read) for each regular file of a zip or tar archive, in archive order."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: z.read(info)
        return
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.isfile():
                yield member.name, lambda member=member: tar.extractfile(member).read()


def read_member(archive: Path | str, basename: str) -> bytes:
    """The bytes of the first member of a zip or tar archive whose base name is ``basename``.

    Raises:
        FileNotFoundError: no such member (the message lists a few names the archive has).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "c.zip"
        >>> with zipfile.ZipFile(path, "w") as z:
        ...     z.writestr("captions.jsonl", '{"image/key": "a"}')
        >>> read_member(path, "captions.jsonl")
        b'{"image/key": "a"}'
    """
    names = []
    for name, read in _members(Path(archive)):
        if name.rsplit("/", 1)[-1] == basename:
            return read()
        names.append(name)
    raise FileNotFoundError(f"{archive} has no member named {basename!r}; it has {names[:5]}")
