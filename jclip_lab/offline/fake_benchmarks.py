"""Few-row copies of the real benchmarks, in their real layouts: for offline demos and tests.

Each writer lays out a handful of images and captions exactly as the real benchmark's files are laid out, so that
the readers of :mod:`jclip_lab.real_benchmarks.readers` read them as they read the real ones:

- :func:`write_webdataset`: CLIP_benchmark's retrieval webdataset (Flickr30k, MSCOCO): ``dataset_type.txt``,
  ``test/nshards.txt``, two tar shards, keys ``s%07d``, captions one a line (``webdataset_builder.py``); with the
  quirks a reader must survive: a ``.webp`` image, a sample whose text comes first, a sample holding both a
  ``.png`` and a ``.jpg`` (the ``.png`` wins, as in CLIP_benchmark's ``builder.py``);
- :func:`write_xtd10`: the XTD10 repository's folders (``XTD10/``, ``MIC/`` for de and fr, ``STAIR/`` for jp) with
  all 11 languages, CRLF line ends in English, no final newline in German, and ``images/``;
- :func:`write_crossmodal3600`: ``captions.jsonl`` rows ``{"image/key", "<lang>": {"caption": [...]}}`` and
  ``images/<key>.jpg``, in three languages (ar, en, ja).

Captions include commas and non-Latin scripts (Japanese, Arabic, Russian, Korean, Chinese). Image ``i`` is a flat
colour whose red channel is ``120 * i`` (:func:`fixture_image_index` reads ``i`` back, through JPEG), so a stub
model can embed it exactly. :func:`fake_benchmark` writes a benchmark's fixture once into a folder and reads it.

Example:
    >>> import tempfile
    >>> bench = fake_benchmark("xtd10", "ko", Path(tempfile.mkdtemp()))
    >>> bench, bench.captions[0]
    (RetrievalBenchmark(name='xtd10', language='ko', images=3, captions=3), ['달리는 개'])
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from jclip_lab.cache import write_directory_atomically
from jclip_lab.real_benchmarks.readers import (
    XTD10_IMAGE_LIST,
    XTD10_LANGUAGES,
    RetrievalBenchmark,
    read_crossmodal3600,
    read_webdataset,
    read_xtd10,
    xtd10_captions_file,
)

RED_STEP = 120  # image i is the colour (120 i, 60, 60)

# The webdataset fixture: three images with 2, 1 and 2 captions (commas; Japanese, Arabic, Russian).
WEBDATASET_CAPTIONS = (
    ("a dog, running on grass", "犬が草の上を走っている"),
    ("قطة نائمة على الأريكة",),
    ("a red car, parked", "Красная машина"),
)

# The XTD10 fixture: line i of every language describes image i.
XTD10_CAPTIONS = {
    "de": ("ein Hund, rennend", "eine Katze", "ein rotes Auto"),
    "en": ("a dog, running", "a sleeping cat", "a red car, parked"),
    "es": ("un perro, corriendo", "un gato durmiendo", "un coche rojo, aparcado"),
    "fr": ("un chien, qui court", "un chat endormi", "une voiture rouge, garée"),
    "it": ("un cane, che corre", "un gatto che dorme", "un'auto rossa, parcheggiata"),
    "jp": ("走っている犬", "寝ている猫", "赤い車"),
    "ko": ("달리는 개", "잠자는 고양이", "주차된 빨간 자동차"),
    "pl": ("pies, biegnący", "śpiący kot", "czerwony samochód, zaparkowany"),
    "ru": ("собака, бегущая", "спящая кошка", "красная машина, припаркованная"),
    "tr": ("koşan bir köpek", "uyuyan bir kedi", "park edilmiş kırmızı bir araba"),
    "zh": ("一只正在奔跑的狗", "一只正在睡觉的猫", "一辆停着的红色汽车"),
}

# The Crossmodal-3600 fixture: two images; some languages have two captions (CLIP_benchmark reads the first).
XM3600_ROWS = (
    {"image/key": "000411001ff7dd4f", "en": {"caption": ["a dog, running", "a brown dog"]},
     "ar": {"caption": ["كلب يجري", "كلب بني"]}, "ja": {"caption": ["走る犬"]}},
    {"image/key": "0004886b7d043cfd", "en": {"caption": ["a sleeping cat"]},
     "ar": {"caption": ["قطة نائمة"]}, "ja": {"caption": ["寝ている猫", "猫"]}},
)  # fmt: skip

# Every caption of every fixture (the fake checkpoint's tokenizer learns their characters: no script becomes <unk>).
FIXTURE_CAPTIONS = (
    *(caption for captions in WEBDATASET_CAPTIONS for caption in captions),
    *(caption for captions in XTD10_CAPTIONS.values() for caption in captions),
    *(
        caption
        for row in XM3600_ROWS
        for value in row.values()
        if isinstance(value, dict)
        for caption in value["caption"]
    ),
)

FIXTURE_LANGUAGES = {
    "flickr30k": ("en",),
    "mscoco": ("en",),
    "xtd10": XTD10_LANGUAGES,
    "crossmodal3600": ("ar", "en", "ja"),
}


def fixture_colour(index: int) -> tuple[int, int, int]:
    """The flat colour of fixture image ``index``.

    Example:
        >>> fixture_colour(2)
        (240, 60, 60)
    """
    return (RED_STEP * index, 60, 60)


def fixture_image_bytes(index: int, fmt: str, size: tuple[int, int] = (16, 12)) -> bytes:
    """Fixture image ``index`` encoded as ``fmt`` (``"jpeg"``, ``"png"``, ``"webp"``).

    Example:
        >>> fixture_image_bytes(1, "png")[:4]
        b'\\x89PNG'
    """
    buffer = io.BytesIO()
    Image.new("RGB", size, fixture_colour(index)).save(buffer, format=fmt)
    return buffer.getvalue()


def fixture_image_index(image: Image.Image) -> int:
    """The index a fixture image encodes in its red channel (what a stub model can read back).

    Example:
        >>> fixture_image_index(Image.open(io.BytesIO(fixture_image_bytes(2, "jpeg"))))
        2
    """
    return round(float(np.asarray(image.convert("RGB"))[..., 0].mean()) / RED_STEP)


def add_tar_members(tar_path: Path | str, members: list[tuple[str, bytes]], mode: str = "w") -> None:
    """Write ``(name, data)`` members into a tar file (``mode="a"`` appends).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "x.tar"
        >>> add_tar_members(path, [("s0000000.txt", b"a cat")])
        >>> tarfile.open(path).getnames()
        ['s0000000.txt']
    """
    with tarfile.open(tar_path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_webdataset(root: Path | str) -> Path:
    """Write the three-image retrieval webdataset (Flickr30k's and MSCOCO's layout) under ``root``.

    Returns:
        ``root``, ready for :func:`~jclip_lab.real_benchmarks.readers.read_webdataset`.

    Example:
        >>> import tempfile
        >>> read_webdataset(write_webdataset(Path(tempfile.mkdtemp()) / "wds"), "flickr30k").num_captions
        5
    """
    root = Path(root)
    (root / "test").mkdir(parents=True)
    (root / "dataset_type.txt").write_text("retrieval\n")
    (root / "test" / "nshards.txt").write_text("2\n")
    text = ["\n".join(captions).encode() for captions in WEBDATASET_CAPTIONS]
    add_tar_members(
        root / "test" / "0.tar",
        [
            ("s0000000.jpg", fixture_image_bytes(0, "jpeg")),
            ("s0000000.txt", text[0]),
            ("s0000001.webp", fixture_image_bytes(1, "webp")),
            ("s0000001.txt", text[1]),
        ],
    )
    # sample 2: the text first, and both a png (right colour) and a jpg (wrong colour): png wins (webp, png, jpg)
    add_tar_members(
        root / "test" / "1.tar",
        [
            ("s0000002.txt", text[2]),
            ("s0000002.jpg", fixture_image_bytes(0, "jpeg")),
            ("s0000002.png", fixture_image_bytes(2, "png")),
        ],
    )
    return root


def write_xtd10(root: Path | str, n: int = 3) -> dict[str, bytes]:
    """Write the XTD10 repository's layout (the first ``n`` <= 3 captions of each language) plus ``images/``.

    English ends its lines with CRLF, as the repository's es/it/ko/pl/ru/tr/zh files do; German has no final
    newline.

    Returns:
        The caption and image-list files written, ``{path relative to root: bytes}`` (the files a server of the
        repository would serve).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> files = write_xtd10(folder)
        >>> len(files), read_xtd10(folder, "zh").captions[2]
        (12, ['一辆停着的红色汽车'])
    """
    root = Path(root)
    if not 1 <= n <= 3:
        raise ValueError(f"n={n}: the XTD10 fixture has 1 to 3 images.")
    names = [f"COCO_train2014_00000000000{i}.jpg" for i in range(n)]
    files = {XTD10_IMAGE_LIST: "\n".join(names).encode() + b"\n"}
    for language, captions in XTD10_CAPTIONS.items():
        lines = captions[:n]
        if language == "en":
            data = "".join(f"{line}\r\n" for line in lines).encode()
        elif language == "de":
            data = "\n".join(lines).encode()
        else:
            data = "".join(f"{line}\n" for line in lines).encode()
        files[xtd10_captions_file(language)] = data
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    (root / "images").mkdir(exist_ok=True)
    for i, name in enumerate(names):
        (root / "images" / name).write_bytes(fixture_image_bytes(i, "jpeg"))
    return files


def write_crossmodal3600(root: Path | str) -> Path:
    """Write ``captions.jsonl`` and ``images/<key>.jpg`` for the two rows of :data:`XM3600_ROWS`.

    Example:
        >>> import tempfile
        >>> read_crossmodal3600(write_crossmodal3600(Path(tempfile.mkdtemp())), "ja", all_captions=True).captions
        [['走る犬'], ['寝ている猫', '猫']]
    """
    root = Path(root)
    (root / "images").mkdir(parents=True)
    lines = [json.dumps(row, ensure_ascii=False) for row in XM3600_ROWS]
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for i, row in enumerate(XM3600_ROWS):
        (root / "images" / f"{row['image/key']}.jpg").write_bytes(fixture_image_bytes(i, "jpeg"))
    return root


def fake_benchmark(name: str, language: str, folder: Path | str) -> RetrievalBenchmark:
    """The few-row fixture of benchmark ``name`` in ``language``, written into ``folder / name`` the first time.

    Args:
        name: ``flickr30k``, ``mscoco``, ``xtd10`` or ``crossmodal3600``.
        language: one of ``FIXTURE_LANGUAGES[name]``.
        folder: where fixtures are written.

    Raises:
        ValueError: an unknown benchmark, or a language its fixture lacks.

    Example:
        >>> import tempfile
        >>> fake_benchmark("mscoco", "en", Path(tempfile.mkdtemp())).captions[1]
        ['قطة نائمة على الأريكة']
    """
    if name not in FIXTURE_LANGUAGES:
        raise ValueError(f"No fixture for benchmark {name!r}; choose one of {list(FIXTURE_LANGUAGES)}.")
    if language not in FIXTURE_LANGUAGES[name]:
        raise ValueError(f"The {name} fixture has no language {language!r}; it has {FIXTURE_LANGUAGES[name]}.")
    root = Path(folder) / name
    webdataset = name in ("flickr30k", "mscoco")
    if not root.exists():  # written whole or not at all
        writer = write_webdataset if webdataset else write_xtd10 if name == "xtd10" else write_crossmodal3600
        write_directory_atomically(root, writer)
    if webdataset:
        return read_webdataset(root, name, language=language)
    if name == "xtd10":
        return read_xtd10(root, language)
    return read_crossmodal3600(root, language)
