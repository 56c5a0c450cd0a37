"""The ``World``: every record and every rendered image of the offline world, generated once and cached on disk.

``load_world()`` returns the world of the current profile. The first call generates it (records, then images at
the profile's two resolutions) and writes it to the cache directory; later calls read it back in about a second.
The cache is keyed by the world's version, the profile and the seed, and written atomically (a temporary folder
renamed into place), so two processes asking at once never read half a world.

Example:
    >>> world.pixels(32).shape[1:]    # `world = load_world("tiny")`, or any world
    (32, 32, 3)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from jclip_lab.cache import (
    cache_root,
    is_intact,
    remove_stale_temporaries,
    write_checksum,
    write_directory_atomically,
    write_file_atomically,
)
from jclip_lab.profiles import Profile, get_profile
from jclip_lab.world.build import SOURCES, SPLITS, build_records, check_sources, render_image
from jclip_lab.world.languages import TEXT_LANGUAGES, check_language

WORLD_VERSION = 3  # 3: checksums beside the cached files
# The profile fields that change what the world holds (the others size the model and the training).
WORLD_FIELDS = ("image_size", "long_image_size", "scenes", "emoji", "flags", "charts", "digits")


@dataclass
class World:
    """The world's records and images.

    Attributes:
        images: one dict per image: ``source``, ``split``, ``group`` (its concept: the same group, the same
            captions), ``spec`` (what is drawn), ``short`` and ``long`` (language -> caption), and for scenes
            ``negative`` (language -> the caption of the same scene with one attribute changed).
        text_pairs: dicts ``a``, ``b``, ``lang_a``, ``lang_b``, ``kind`` (country, language, currency, emoji,
            number, caption, paraphrase), ``split``, ``group``.
        triplets: dicts ``anchor``, ``positive``, ``negative`` (a hard negative), ``lang_a``, ``lang_b``, ``split``.
        sts: dicts ``a``, ``b``, ``score`` (0-5, graded), ``lang``, ``split``.
        profile: the profile the world was generated for; ``seed``: its seed.
        pixel_cache: resolution -> ``uint8`` array (N, size, size, 3), in the order of ``images``.
    """

    images: list[dict]
    text_pairs: list[dict]
    triplets: list[dict]
    sts: list[dict]
    profile: Profile
    seed: int
    pixel_cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    directory: Path | None = None

    def pixels(self, size: int) -> np.ndarray:
        """All images at ``size`` x ``size`` as one ``uint8`` array (rendered and cached on first use).

        A cached file whose checksum no longer matches (damaged on disk) is rendered again, with a warning.
        """
        if size not in self.pixel_cache:
            path = self.directory / f"pixels-{size}.npy" if self.directory else None
            if path is not None and is_intact(path):
                self.pixel_cache[size] = np.load(path, mmap_mode="r")
                return self.pixel_cache[size]
            if path is not None and path.exists():
                warnings.warn(f"{path} is damaged (its checksum changed): rendering it again.", stacklevel=2)
            self.pixel_cache[size] = render_all(self.images, (size,))[size]
            if path is not None:
                write_file_atomically(path, lambda tmp: np.save(tmp, self.pixel_cache[size]))
                write_checksum(path)
        return self.pixel_cache[size]

    def image(self, index: int, size: int | None = None) -> Image.Image:
        """Image ``index`` as a PIL image, at the profile's stage-1 size unless ``size`` is given."""
        return Image.fromarray(np.asarray(self.pixels(size or self.profile.image_size)[index]))

    def select(self, source: str | None = None, split: str | None = None, language: str | None = None) -> list[int]:
        """Indices of the images of one source and/or split (and captioned in ``language``), in order.

        Raises:
            ValueError: for an unknown source, split or language (the message lists the valid ones).

        Example:
            >>> charts = world.select("charts", "test", "en")
            >>> {world.images[i]["source"] for i in charts}, {world.images[i]["split"] for i in charts}
            ({'charts'}, {'test'})
        """
        if source is not None:
            check_sources([source])
        if split is not None and split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        if language is not None:
            check_language(language, TEXT_LANGUAGES)
        return [
            i
            for i, record in enumerate(self.images)
            if (source is None or record["source"] == source)
            and (split is None or record["split"] == split)
            and (language is None or language in record["short"])
        ]

    def captions(self, indices: list[int], language: str, long: bool = False) -> list[str]:
        """The short (or long) captions of images ``indices`` in ``language``."""
        check_language(language, TEXT_LANGUAGES)
        key = "long" if long else "short"
        missing = [i for i in indices if language not in self.images[i][key]]
        if missing:
            raise ValueError(f"Images {missing[:5]} have no caption in {language!r}.")
        return [self.images[i][key][language] for i in indices]

    def subset(self, splits: Sequence[str]) -> World:
        """A world holding only the images of ``splits`` (all the text stays), rendered in memory on demand.

        To evaluate a model at a resolution the cache does not hold (the real jina-clip-v2 reads 512 px images),
        render only the evaluation images and write nothing to the cache:
        ``evaluate_world(model, world.subset(["test", "compositional"]))``. Indices are the subset's own.

        Raises:
            ValueError: an unknown split.

        Example:
            >>> test = world.subset(["test"])
            >>> {split for _, split in test.counts()}, len(test.images) == len(world.select(split="test"))
            ({'test'}, True)
        """
        unknown = [split for split in splits if split not in SPLITS]
        if unknown:
            raise ValueError(f"Unknown splits {unknown}; valid splits: {', '.join(SPLITS)}")
        images = [record for record in self.images if record["split"] in splits]
        return replace(self, images=images, pixel_cache={}, directory=None)

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of images per (source, split)."""
        return dict(sorted(Counter((r["source"], r["split"]) for r in self.images).items()))

    def caption_counts(self) -> dict[tuple[str, str], int]:
        """Number of image-caption pairs per (source, language)."""
        return dict(sorted(Counter((r["source"], lang) for r in self.images for lang in r["short"]).items()))


def render_all(images: list[dict], sizes: tuple[int, ...], progress: bool = False) -> dict[int, np.ndarray]:
    """Render every image record at every size: ``{size: uint8 array (N, size, size, 3)}``."""
    out = {size: np.empty((len(images), size, size, 3), dtype=np.uint8) for size in sizes}
    for i, record in enumerate(tqdm(images, desc="rendering", disable=not progress, leave=False, mininterval=1.0)):
        for size, array in zip(sizes, render_image(record, sizes), strict=True):
            out[size][i] = array
    return out


def world_directory(profile: Profile, seed: int, cache_dir: Path | None = None) -> Path:
    """The cache folder of one world: ``<cache>/world-v<version>-<hash of its sizes>-seed<seed>``.

    Profiles that generate the same world share it (and its tokenizer): the study schedule of ``tiny``
    (:func:`jclip_lab.studies.study_profile`) reads the ``tiny`` world. Bump ``WORLD_VERSION`` whenever a change
    to the world's code changes what it generates.
    """
    world_sizes = {name: getattr(profile, name) for name in WORLD_FIELDS}
    sizes = hashlib.sha256(json.dumps(world_sizes, sort_keys=True).encode()).hexdigest()[:8]
    return (cache_dir or cache_root()) / f"world-v{WORLD_VERSION}-{sizes}-seed{seed}"


def generate_world(profile: Profile, seed: int = 0, progress: bool = False) -> World:
    """Generate a world in memory (records and images at both of the profile's resolutions); no disk access."""
    records = build_records(profile, seed, SOURCES)
    sizes = (profile.image_size, profile.long_image_size)
    pixels = render_all(records["images"], sizes, progress=progress)
    return World(**records, profile=profile, seed=seed, pixel_cache=pixels)


def load_world(
    profile: Profile | str | None = None,
    seed: int = 0,
    cache_dir: Path | str | None = None,
    progress: bool = True,
) -> World:
    """The world for ``profile`` (default: the current profile), from the cache or generated and cached.

    Args:
        profile: a :class:`Profile` or its name; ``None`` picks ``$JCLIP_PROFILE`` or the hardware's.
        seed: the world's seed; the same seed and version always give the same world.
        cache_dir: where to cache it (default: :func:`cache_root`).
        progress: show a progress bar while rendering a new world.

    Example:
        >>> load_world(world.profile, cache_dir=world.directory.parent).images == world.images  # from the cache
        True
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    directory = world_directory(profile, seed, Path(cache_dir) if cache_dir else None)
    remove_stale_temporaries(directory.parent)
    if directory.exists() and not is_intact(directory / "records.json"):
        warnings.warn(f"{directory / 'records.json'} is missing or damaged: generating the world again.", stacklevel=2)
        shutil.rmtree(directory)
    if not directory.exists():
        world = generate_world(profile, seed, progress=progress)
        _write_world(world, directory)
    records = json.loads((directory / "records.json").read_text(encoding="utf-8"))
    return World(**records, profile=profile, seed=seed, directory=directory)


def _write_world(world: World, directory: Path) -> None:
    """Write the records and pixels of ``world`` into ``directory``, atomically."""

    def write(tmp: Path) -> None:
        records = {"images": world.images, "text_pairs": world.text_pairs, "triplets": world.triplets, "sts": world.sts}
        (tmp / "records.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        write_checksum(tmp / "records.json")
        for size, array in world.pixel_cache.items():
            np.save(tmp / f"pixels-{size}.npy", array)
            write_checksum(tmp / f"pixels-{size}.npy")

    write_directory_atomically(directory, write)


def time_world(profile: Profile | str = "tiny", seed: int = 0) -> dict[str, float]:
    """Seconds to generate a world from scratch and to load it from a cache (in a fresh temporary folder).

    Example:
        >>> from dataclasses import replace
        >>> few = replace(world.profile, name="few", scenes=10, emoji=2, flags=2, charts=2, digits=10)
        >>> sorted(time_world(few))
        ['generate_s', 'load_s']
    """
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        load_world(profile, seed, cache_dir=tmp, progress=False)
        generated = time.perf_counter()
        world = load_world(profile, seed, cache_dir=tmp, progress=False)
        world.pixels(world.profile.image_size)
        loaded = time.perf_counter()
    return {"generate_s": generated - start, "load_s": loaded - generated}
