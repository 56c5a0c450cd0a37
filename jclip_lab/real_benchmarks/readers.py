"""Readers for the real image-text retrieval benchmarks, in the layouts LAION's CLIP_benchmark reads them.

Each benchmark becomes one :class:`RetrievalBenchmark`: lazily opened images, the captions of each image, a language.

- Flickr30k 1k test (1,000 images, 5 captions each): hub dataset ``clip-benchmark/wds_flickr30k``,
  ``test/nshards.txt`` + ``test/{0..4}.tar`` (~146 MB).
- MSCOCO 5k test (5,000 images, about 5 captions each): hub dataset ``clip-benchmark/wds_mscoco_captions``,
  ``test/nshards.txt`` + ``test/{0..4}.tar`` (~840 MB).
- XTD10 (1,000 COCO images, one caption each in 11 languages): captions from
  github.com/adobe-research/Cross-lingual-Test-Dataset-XTD10, images from nllb-data.com (as CLIP_benchmark).
- Crossmodal-3600 (3,600 images, 36 languages): ``captions.zip`` from google.github.io/crossmodal-3600 and
  ``images.tgz`` from Open Images' S3 bucket (as CLIP_benchmark).

Sources read (LAION-AI/CLIP_benchmark at 48de38c, 2025-06-17): ``clip_benchmark/datasets/builder.py``
(``build_wds_dataset``: ``nshards.txt``, shards ``{0..n-1}.tar``, image = first of webp/png/jpg/jpeg, captions =
``str.splitlines`` of the ``.txt``), ``clip_benchmark/webdataset_builder.py`` (``convert_retrieval_dataset``: keys
``s%07d``, captions joined by newlines with newlines inside a caption written as a literal ``\\n``),
``datasets/xtd10.py`` and ``datasets/crossmodal3600.py``.

Where these readers differ from CLIP_benchmark, and why:

- A missing image is an error here; CLIP_benchmark skips it with a warning. Recall@k depends on the gallery size,
  so a smaller gallery would not be comparable with the published numbers.
- Crossmodal-3600 can keep every caption of a language (``all_captions=True``); the default is CLIP_benchmark's
  first caption, which is what published numbers use.
- Files are fetched at pinned revisions (hub commits, the XTD10 repository's commit) with checksums where the
  source has them; CLIP_benchmark reads the moving ``main`` branches.

Licences: the Flickr30k and COCO images are under their Flickr users' terms (COCO annotations: CC BY 4.0); XTD10 is
under Adobe's research licence (non-commercial; contact the authors for commercial use); Crossmodal-3600's captions
are CC BY 4.0 (images from Open Images). The lab downloads them on demand and never ships them.

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> (folder / "images").mkdir()
    >>> Image.new("RGB", (8, 8), "red").save(folder / "images" / "k1.jpg")
    >>> _ = (folder / "captions.jsonl").write_text('{"image/key": "k1", "en": {"caption": ["a red square, flat"]}}')
    >>> bench = read_crossmodal3600(folder, "en")
    >>> bench
    RetrievalBenchmark(name='crossmodal3600', language='en', images=1, captions=1)
    >>> bench.captions, bench.images[0].open().size
    ([['a red square, flat']], (8, 8))
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from jclip_lab.cache import cache_root, write_file_atomically
from jclip_lab.real_benchmarks.download import (
    DownloadError,
    download_from_hub,
    download_url,
    extract_flat,
    read_member,
)

# ---------------------------------------------------------------- sources (verified; see the module docstring)

# CLIP_benchmark's webdatasets on the hub, pinned at the commit that uploaded them ("Initial upload" by djghosh;
# huggingface.co/datasets/clip-benchmark/wds_flickr30k/tree/f8af3ceee1b944bf761340682621dfafd23974d2/test lists
# 0.tar ... 4.tar (26.9-31.2 MB each) and nshards.txt; wds_mscoco_captions/tree/3bf9ad5d.../test lists 0.tar ...
# 4.tar (201, 200, 205, 201, 32.5 MB) and nshards.txt).
HUB_WEBDATASETS = {
    "flickr30k": ("clip-benchmark/wds_flickr30k", "f8af3ceee1b944bf761340682621dfafd23974d2"),
    "mscoco": ("clip-benchmark/wds_mscoco_captions", "3bf9ad5d280b03126293bcc691585015e29ce691"),
}
# Published gallery sizes: Flickr30k 1k test (Karpathy split), MSCOCO 5k test (Karpathy split), XTD10 1k, XM3600.
GALLERY_SIZES = {"flickr30k": 1000, "mscoco": 5000, "xtd10": 1000, "crossmodal3600": 3600}

# XTD10 at the last commit of its repository (d77ff16, 2021-12-21, "added jp"); CLIP_benchmark reads the same files
# from the main branch (datasets/xtd10.py: XTD10/ for most languages, MIC/ for de and fr, STAIR/ for jp).
XTD10_COMMIT = "d77ff16148468c84287f3efcbf602a015c5e4954"
XTD10_BASE_URL = f"https://raw.githubusercontent.com/adobe-research/Cross-lingual-Test-Dataset-XTD10/{XTD10_COMMIT}"
XTD10_IMAGES_URL = "https://nllb-data.com/test/xtd10/images.tar.gz"  # datasets/xtd10.py IMAGES_DOWNLOAD_URL
XTD10_LANGUAGES = ("de", "en", "es", "fr", "it", "jp", "ko", "pl", "ru", "tr", "zh")  # CLIP_benchmark's codes
XTD10_IMAGE_LIST = "XTD10/test_image_names.txt"
# (size in bytes, sha256) of each file at XTD10_COMMIT, computed from the repository's blobs.
XTD10_FILES = {
    "XTD10/test_image_names.txt": (31600, "504a472dfd40e44f2d0facd6320b9dc1c7d64c58aac9840f0b1da4807cb3a30a"),
    "MIC/test_1kcaptions_de.txt": (75593, "51f1e9fe05d85b7cd33543676ed2fea51b05399cc403a5fca557ca7ecdb9a207"),
    "XTD10/test_1kcaptions_en.txt": (65828, "ac5531b6842c1d469fba80aa6f44e2af054e84a41da8f9eaf01d831e943039b9"),
    "XTD10/test_1kcaptions_es.txt": (66315, "cacc43d4e7af56b02033865531ea70494049f1d0dd3ea89ff2a217e7e190c4f2"),
    "MIC/test_1kcaptions_fr.txt": (79287, "84aa16954706a0f654b59788ffb6a3bcb1b1d9d12dc9d7a3de26730bc04664b5"),
    "XTD10/test_1kcaptions_it.txt": (65178, "b4095d3550eb1accf8c9c78314b4bef45847a3929b5c5fe15a1264ea31dec7cc"),
    "STAIR/test_1kcaptions_jp.txt": (63028, "20908aa5763ee7b1bacc1f29aa507532d3dc6a7e6a8c43e6acd2ec72d1e80c10"),
    "XTD10/test_1kcaptions_ko.txt": (70124, "92d35e082cd081724560c9abdb2b45753ceb52aaabddb9a0f79dc04967a36800"),
    "XTD10/test_1kcaptions_pl.txt": (66605, "b6af6b7941f44e902b50736dcf9a7221af28e755a259511652c599cf6ae89c78"),
    "XTD10/test_1kcaptions_ru.txt": (95035, "7d93631ff85b53592091b3cbfd9ca963397e77038fb3d0fdd9374b1b02ae98a3"),
    "XTD10/test_1kcaptions_tr.txt": (71756, "147e9763dcb6e6ebba0b98fc799f0145c7d90005fa03ca8ec5a7cf29a04dd136"),
    "XTD10/test_1kcaptions_zh.txt": (58660, "17229ff02ac85dd2d165f8316515a24fbe5100dbf486c22aaa12105dfb3353bf"),
}

# Crossmodal-3600 (datasets/crossmodal3600.py; the project page google.github.io/crossmodal-3600 lists captions.zip,
# 17 MB, and images.tgz, 302 MB). Neither publishes a checksum: the readers check the content instead.
XM3600_CAPTIONS_URL = "https://google.github.io/crossmodal-3600/web-data/captions.zip"
XM3600_IMAGES_URL = "https://open-images-dataset.s3.amazonaws.com/crossmodal-3600/images.tgz"
XM3600_LANGUAGES = (
    "ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fil", "fr", "he", "hi", "hr", "hu", "id", "it",
    "ja", "ko", "mi", "nl", "no", "pl", "pt", "quz", "ro", "ru", "sv", "sw", "te", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip

WEBDATASET_IMAGE_EXTENSIONS = ("webp", "png", "jpg", "jpeg")  # builder.py's to_tuple order: the first one present


# ---------------------------------------------------------------- the structure every reader returns


@dataclass(frozen=True)
class ImageRef:
    """An image on disk, opened only when asked: a whole file, or ``size`` bytes at ``offset`` inside a tar shard.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.png"
        >>> Image.new("L", (4, 2)).save(path)
        >>> image = ImageRef(path).open()
        >>> image.mode, image.size
        ('RGB', (4, 2))
    """

    path: Path
    offset: int = 0
    size: int = -1  # -1: to the end of the file

    def open(self) -> Image.Image:
        """Decode the image as RGB (``convert("RGB")``, as CLIP_benchmark and jina-clip-v2's preprocessing do)."""
        with open(self.path, "rb") as file:
            file.seek(self.offset)
            data = file.read(self.size)
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")


@dataclass(frozen=True)
class RetrievalBenchmark:
    """An image-text retrieval benchmark: image ``i`` and its captions ``captions[i]`` (one or more).

    Every caption is its own text-to-image query whose only correct image is its own; an image-to-text query is an
    image, and it hits if any of its captions is ranked in the top k (CLIP_benchmark's convention).

    Attributes:
        name: ``flickr30k``, ``mscoco``, ``xtd10`` or ``crossmodal3600``.
        language: the captions' language code, in the benchmark's own spelling (XTD10 writes Japanese ``jp``).
        images: one lazily opened :class:`ImageRef` per image.
        captions: ``captions[i]`` lists the captions of image ``i``.
        source: where the files came from.

    Example:
        >>> bench = RetrievalBenchmark("toy", "en", [ImageRef(Path("a.jpg")), ImageRef(Path("b.jpg"))],
        ...                            [["a cat", "a small cat"], ["a dog"]])
        >>> bench.num_images, bench.num_captions, bench.caption_queries()
        (2, 3, (['a cat', 'a small cat', 'a dog'], [0, 0, 1]))
    """

    name: str
    language: str
    images: Sequence[ImageRef]
    captions: Sequence[Sequence[str]]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.images) != len(self.captions):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.captions)} caption lists.")
        if not self.images:
            raise ValueError(f"{self.name} ({self.language}) has no images.")
        for index, captions in enumerate(self.captions):
            if not captions or any(not isinstance(c, str) or not c.strip() for c in captions):
                raise ValueError(f"{self.name} ({self.language}): image {index} has no caption or an empty one.")

    @property
    def num_images(self) -> int:
        """The gallery size of text-to-image retrieval."""
        return len(self.images)

    @property
    def num_captions(self) -> int:
        """The number of text-to-image queries (and the gallery size of image-to-text retrieval)."""
        return sum(len(c) for c in self.captions)

    def caption_queries(self) -> tuple[list[str], list[int]]:
        """All captions in order, and for each the index of its image."""
        texts = [text for captions in self.captions for text in captions]
        owners = [i for i, captions in enumerate(self.captions) for _ in captions]
        return texts, owners

    def __repr__(self) -> str:
        return (
            f"RetrievalBenchmark(name={self.name!r}, language={self.language!r}, "
            f"images={self.num_images}, captions={self.num_captions})"
        )


# ---------------------------------------------------------------- readers of files on disk


def read_webdataset(folder: Path | str, name: str, split: str = "test", language: str = "en") -> RetrievalBenchmark:
    """Read a CLIP_benchmark retrieval webdataset: ``{split}/nshards.txt`` and the shards ``{split}/{i}.tar``.

    A sample is the run of consecutive tar members sharing a key (the path up to the first dot of the base name, as
    ``webdataset`` groups them): its image is the first of ``.webp``/``.png``/``.jpg``/``.jpeg`` present, its
    captions the lines of its ``.txt`` (UTF-8, ``str.splitlines``). Images stay inside the shards and are read on
    demand. CLIP_benchmark writes a newline inside a caption as a literal ``\\n``; like CLIP_benchmark, this reader
    leaves it so.

    Args:
        folder: the dataset root (the folder holding ``test/``).
        name: the benchmark's name (``flickr30k``, ``mscoco``).
        split: the split folder.
        language: the captions' language.

    Raises:
        FileNotFoundError: ``nshards.txt`` or a shard is missing.
        ValueError: a sample without an image or without a ``.txt``.

    Example:
        >>> import tarfile, tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "test").mkdir()
        >>> _ = (root / "test" / "nshards.txt").write_text("1\\n")
        >>> jpeg, text = io.BytesIO(), "two dogs, playing\\n二匹の犬\\n".encode()
        >>> Image.new("RGB", (4, 4)).save(jpeg, format="jpeg")
        >>> with tarfile.open(root / "test" / "0.tar", "w") as tar:
        ...     for member, data in [("s0000000.jpg", jpeg.getvalue()), ("s0000000.txt", text)]:
        ...         info = tarfile.TarInfo(member)
        ...         info.size = len(data)
        ...         tar.addfile(info, io.BytesIO(data))
        >>> read_webdataset(root, "toy").captions
        [['two dogs, playing', '二匹の犬']]
    """
    split_folder = Path(folder) / split
    nshards_path = split_folder / "nshards.txt"
    if not nshards_path.exists():
        raise FileNotFoundError(f"{nshards_path} is missing: {folder} is not a CLIP_benchmark webdataset root.")
    nshards = int(nshards_path.read_text().strip())
    images, captions = [], []
    for shard in range(nshards):
        shard_path = split_folder / f"{shard}.tar"
        with tarfile.open(shard_path) as tar:
            for key, members in _samples(tar):
                image_ext = next((ext for ext in WEBDATASET_IMAGE_EXTENSIONS if ext in members), None)
                if image_ext is None or "txt" not in members:
                    raise ValueError(
                        f"sample {key!r} in {shard_path} has {sorted(members)}; a retrieval sample needs one of "
                        f"{WEBDATASET_IMAGE_EXTENSIONS} and txt."
                    )
                image = members[image_ext]
                images.append(ImageRef(shard_path, image.offset_data, image.size))
                captions.append(tar.extractfile(members["txt"]).read().decode("utf-8").splitlines())
    return RetrievalBenchmark(name, language, images, captions, source=str(folder))


def _samples(tar: tarfile.TarFile):
    """(key, {extension: member}) for each run of consecutive files sharing a key (webdataset's grouping)."""
    key, members = None, {}
    for member in tar:
        match = re.match(r"^((?:.*/|)[^./]+)\.([^/]*)$", member.name)  # webdataset's base_plus_ext
        if not member.isfile() or match is None:
            continue
        if match.group(1) != key:
            if members:
                yield key, members
            key, members = match.group(1), {}
        members[match.group(2).lower()] = member
    if members:
        yield key, members


def xtd10_captions_file(language: str) -> str:
    """Path of a language's caption file inside the XTD10 repository (datasets/xtd10.py's three folders).

    Raises:
        ValueError: a language XTD10 lacks (the message lists the codes; Japanese is ``jp``).

    Example:
        >>> xtd10_captions_file("jp"), xtd10_captions_file("de"), xtd10_captions_file("ru")
        ('STAIR/test_1kcaptions_jp.txt', 'MIC/test_1kcaptions_de.txt', 'XTD10/test_1kcaptions_ru.txt')
    """
    if language not in XTD10_LANGUAGES:
        hint = " (XTD10 writes Japanese 'jp')" if language == "ja" else ""
        raise ValueError(f"language={language!r} is not in XTD10{hint}; choose one of {XTD10_LANGUAGES}.")
    folder = {"de": "MIC", "fr": "MIC", "jp": "STAIR"}.get(language, "XTD10")
    return f"{folder}/test_1kcaptions_{language}.txt"


def read_xtd10(folder: Path | str, language: str) -> RetrievalBenchmark:
    """Read XTD10 in its repository's layout: line ``i`` of a caption file describes image ``i`` of the image list.

    Layout under ``folder``: ``XTD10/test_image_names.txt`` (1,000 COCO train2014 file names),
    ``{XTD10,MIC,STAIR}/test_1kcaptions_{language}.txt`` and ``images/<file name>``. Lines are split with
    ``str.splitlines`` as CLIP_benchmark does (some files end lines with CRLF).

    Raises:
        ValueError: an unknown language, or a caption file whose line count differs from the image list's.
        FileNotFoundError: listed images missing from ``images/`` (CLIP_benchmark would skip them).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for sub in ("XTD10", "STAIR", "images"):
        ...     (folder / sub).mkdir()
        >>> _ = (folder / "XTD10" / "test_image_names.txt").write_text("COCO_1.jpg\\n")
        >>> _ = (folder / "STAIR" / "test_1kcaptions_jp.txt").write_bytes("猫が寝ている\\r\\n".encode())
        >>> Image.new("RGB", (4, 4)).save(folder / "images" / "COCO_1.jpg")
        >>> read_xtd10(folder, "jp").captions
        [['猫が寝ている']]
    """
    folder = Path(folder)
    captions_path = folder / xtd10_captions_file(language)
    names = (folder / XTD10_IMAGE_LIST).read_bytes().decode("utf-8").splitlines()
    lines = captions_path.read_bytes().decode("utf-8").splitlines()
    if len(lines) != len(names):
        raise ValueError(f"{captions_path} has {len(lines)} lines but {XTD10_IMAGE_LIST} lists {len(names)} images.")
    paths = [folder / "images" / name for name in names]
    _check_images_exist(paths, "xtd10")
    return RetrievalBenchmark("xtd10", language, [ImageRef(p) for p in paths], [[line] for line in lines], str(folder))


def read_crossmodal3600(folder: Path | str, language: str, all_captions: bool = False) -> RetrievalBenchmark:
    """Read Crossmodal-3600: ``captions.jsonl`` rows ``{"image/key": k, "<lang>": {"caption": [...]}, ...}`` and
    ``images/<k>.jpg``.

    Args:
        folder: holds ``captions.jsonl`` and ``images/``.
        language: one of ``XM3600_LANGUAGES``.
        all_captions: keep every caption of the language (each its own query; an image-to-text hit is any of them).
            Default False keeps only the first, as CLIP_benchmark does (datasets/crossmodal3600.py:
            ``captions[0]``) and as published numbers are measured; True measures a different, larger benchmark.

    Raises:
        ValueError: a language a row lacks, or a row with no caption in it.
        FileNotFoundError: images missing from ``images/`` (CLIP_benchmark would skip them).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> (folder / "images").mkdir()
        >>> Image.new("RGB", (4, 4)).save(folder / "images" / "k1.jpg")
        >>> row = {"image/key": "k1", "ar": {"caption": ["قطة على سجادة", "قطة"]}}
        >>> _ = (folder / "captions.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\\n", encoding="utf-8")
        >>> read_crossmodal3600(folder, "ar").captions, read_crossmodal3600(folder, "ar", all_captions=True).captions
        ([['قطة على سجادة']], [['قطة على سجادة', 'قطة']])
    """
    folder = Path(folder)
    with open(folder / "captions.jsonl", encoding="utf-8") as file:
        rows = [json.loads(line) for line in file if line.strip()]
    paths, captions = [], []
    for row in rows:
        key = row["image/key"]
        if language not in row:
            languages = sorted(k for k in row if k != "image/key" and isinstance(row[k], dict))
            raise ValueError(f"language={language!r}: image {key} has captions in {languages}.")
        texts = row[language]["caption"]
        if not texts:
            raise ValueError(f"image {key} has no {language!r} caption.")
        paths.append(folder / "images" / f"{key}.jpg")
        captions.append(list(texts) if all_captions else texts[:1])
    _check_images_exist(paths, "crossmodal3600")
    return RetrievalBenchmark("crossmodal3600", language, [ImageRef(p) for p in paths], captions, str(folder))


def _check_images_exist(paths: Sequence[Path], name: str) -> None:
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"{name}: {len(missing)} of {len(paths)} images are missing (first: {missing[0]}); the gallery must keep "
            f"its published size, so they are not skipped. Delete {missing[0].parent} to download the images again."
        )


# ---------------------------------------------------------------- download, then read


def benchmarks_dir(cache_dir: Path | str | None = None) -> Path:
    """Where the real benchmarks are stored: ``cache_dir``, else ``jclip_lab.cache.cache_root() / "benchmarks"``.

    Example:
        >>> benchmarks_dir("/tmp/bench")
        PosixPath('/tmp/bench')
    """
    return Path(cache_dir) if cache_dir is not None else cache_root() / "benchmarks"


def load_flickr30k(cache_dir: Path | str | None = None, progress: bool = True) -> RetrievalBenchmark:
    """Flickr30k 1k test (Karpathy split) from CLIP_benchmark's webdataset on the hub (~146 MB, pinned revision).

    Raises:
        OfflineError: the hub cannot be reached and the files are not cached.

    Example:
        >>> HUB_WEBDATASETS["flickr30k"]  # the repository and the commit it is read at
        ('clip-benchmark/wds_flickr30k', 'f8af3ceee1b944bf761340682621dfafd23974d2')
    """
    return _load_hub_webdataset("flickr30k", cache_dir, progress)


def load_mscoco(cache_dir: Path | str | None = None, progress: bool = True) -> RetrievalBenchmark:
    """MSCOCO 5k test (Karpathy split, 2014 images) from CLIP_benchmark's webdataset on the hub (~840 MB, pinned).

    Raises:
        OfflineError: the hub cannot be reached and the files are not cached.

    Example:
        >>> HUB_WEBDATASETS["mscoco"], GALLERY_SIZES["mscoco"]
        (('clip-benchmark/wds_mscoco_captions', '3bf9ad5d280b03126293bcc691585015e29ce691'), 5000)
    """
    return _load_hub_webdataset("mscoco", cache_dir, progress)


def _load_hub_webdataset(name: str, cache_dir: Path | str | None, progress: bool) -> RetrievalBenchmark:
    repo_id, revision = HUB_WEBDATASETS[name]
    hub_cache = benchmarks_dir(cache_dir) / "hub"
    nshards_path = download_from_hub(repo_id, "test/nshards.txt", revision, cache_dir=hub_cache, progress=progress)
    for shard in range(int(nshards_path.read_text().strip())):
        download_from_hub(repo_id, f"test/{shard}.tar", revision, cache_dir=hub_cache, progress=progress)
    bench = read_webdataset(nshards_path.parent.parent, name)
    return _check_gallery(
        replace(bench, source=f"https://huggingface.co/datasets/{repo_id}/tree/{revision}"), hub_cache
    )


def load_xtd10(language: str = "en", cache_dir: Path | str | None = None, progress: bool = True) -> RetrievalBenchmark:
    """XTD10 in one language: its caption file and image list (pinned, sha256-checked) and the 1,000 images.

    The images come from the archive CLIP_benchmark uses (nllb-data.com, from the NLLB-CLIP authors), which has no
    published checksum: the reader checks that every listed image is there instead.

    Example:
        >>> load_xtd10("ja")
        Traceback (most recent call last):
        ...
        ValueError: language='ja' is not in XTD10 (XTD10 writes Japanese 'jp'); choose one of ('de', 'en', ...).
    """
    captions_file = xtd10_captions_file(language)
    folder = benchmarks_dir(cache_dir) / "xtd10"
    for relative in (XTD10_IMAGE_LIST, captions_file):
        size, sha256 = XTD10_FILES[relative]
        download_url(f"{XTD10_BASE_URL}/{relative}", folder / relative, size=size, sha256=sha256, progress=progress)
    _download_images(folder, XTD10_IMAGES_URL, progress)
    bench = replace(read_xtd10(folder, language), source=f"{XTD10_BASE_URL}/{captions_file}")
    return _check_gallery(bench, folder)


def load_crossmodal3600(
    language: str = "en", all_captions: bool = False, cache_dir: Path | str | None = None, progress: bool = True
) -> RetrievalBenchmark:
    """Crossmodal-3600 in one language (captions ~17 MB, images ~302 MB); see :func:`read_crossmodal3600`.

    Raises:
        ValueError: a language Crossmodal-3600 lacks.

    Example:
        >>> load_crossmodal3600("xx")
        Traceback (most recent call last):
        ...
        ValueError: language='xx' is not in Crossmodal-3600; choose one of ('ar', 'bn', ...).
    """
    if language not in XM3600_LANGUAGES:
        raise ValueError(f"language={language!r} is not in Crossmodal-3600; choose one of {XM3600_LANGUAGES}.")
    folder = benchmarks_dir(cache_dir) / "xm3600"
    if not (folder / "captions.jsonl").exists():
        archive = download_url(XM3600_CAPTIONS_URL, folder / "captions.zip", progress=progress)
        captions = _unpack(archive, lambda path: read_member(path, "captions.jsonl"))
        write_file_atomically(folder / "captions.jsonl", lambda tmp: tmp.write_bytes(captions))
    _download_images(folder, XM3600_IMAGES_URL, progress)
    bench = read_crossmodal3600(folder, language, all_captions=all_captions)
    return _check_gallery(replace(bench, source=XM3600_CAPTIONS_URL), folder)


def _download_images(folder: Path, url: str, progress: bool) -> None:
    """Download an image archive once, unpack its ``.jpg`` files flat into ``folder/images``, drop the archive."""
    if (folder / "images").is_dir():
        return
    archive = download_url(url, folder / url.rsplit("/", 1)[-1], progress=progress)
    _unpack(archive, lambda path: extract_flat(path, folder / "images", ".jpg"))


def _unpack(archive: Path, unpack):
    """``unpack(archive)``, then delete the archive; a corrupt archive is deleted too, with an error saying so."""
    try:
        result = unpack(archive)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        archive.unlink()
        raise DownloadError(f"{archive} is not a readable archive ({error}); it was removed: call again") from error
    archive.unlink()
    return result


def _check_gallery(bench: RetrievalBenchmark, folder: Path) -> RetrievalBenchmark:
    expected = GALLERY_SIZES[bench.name]
    if bench.num_images != expected:
        raise ValueError(
            f"{bench.name} has {bench.num_images} images, but its published gallery has {expected}: the files in "
            f"{folder} are not the benchmark's; delete them to download them again."
        )
    return bench
