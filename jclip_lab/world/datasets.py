"""Torch datasets over the world, a collate function, and a stream that mixes tasks in one training batch.

jina-clip-v2 trains each step on several tasks at once: a batch of image-caption pairs *and* a batch of text
pairs (or triplets), each with its own loss. ``TaskMixer`` yields exactly that: ``{task: batch}`` dicts.

In-batch negatives must be real negatives: two items of the same concept in one batch would be asked to be told
apart, so the mixer never puts two items of the same ``key`` (the concept) in one batch.

Example:
    >>> pairs = TextPairDataset(world, "train")
    >>> data = {"image_text": ImageTextDataset(world, None, "train"), "text_pair": pairs}
    >>> batches = TaskMixer(data, batch_size=4, collate=list)
    >>> sorted(next(iter(batches)))
    ['image_text', 'text_pair']
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from jclip_lab.pixels import normalize_pixels
from jclip_lab.world.build import check_sources
from jclip_lab.world.languages import TEXT_LANGUAGES, TRANSFER_LANGUAGES, check_language
from jclip_lab.world.world import World

TEXT_FIELDS = ("text", "a", "b", "anchor", "positive", "negative")
IMAGE_TEXT_LANGUAGES = tuple(lang for lang in TEXT_LANGUAGES if lang not in TRANSFER_LANGUAGES)


def _check_languages(languages: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if languages is None else tuple(check_language(lang) for lang in languages)


class ImageTextDataset(Dataset):
    """(image, caption) pairs: every image of ``sources`` in ``split`` with each of its captions in ``languages``.

    The arguments come in the order of :meth:`World.select`: source(s), split, language(s).

    Args:
        world: the world.
        sources: image sources to include (None: all).
        split: ``train``, ``val``, ``test`` or ``compositional``.
        languages: caption languages (default ``IMAGE_TEXT_LANGUAGES``: all but the transfer languages, which
            meet images only through text pairs).
        long: use the long, detailed captions (stage 2) instead of the short ones.
        image_size: resolution (default the profile's stage-1 size).
        source_weights: source -> share of the items drawn (e.g. ``{"scenes": 2, "emoji": 1}``); items are then
            drawn with replacement, each source's share spread evenly over its items (:class:`TaskMixer` reads
            ``weights``). None: every item equally often, so a source's share is its share of the captions.
    """

    def __init__(
        self,
        world: World,
        sources: Sequence[str] | None,
        split: str,
        languages: Sequence[str] | None = IMAGE_TEXT_LANGUAGES,
        long: bool = False,
        image_size: int | None = None,
        source_weights: dict[str, float] | None = None,
    ) -> None:
        sources = check_sources(sources) if sources is not None else None
        languages = _check_languages(languages)
        self.pixels = world.pixels(image_size or world.profile.image_size)
        key = "long" if long else "short"
        self.groups = [record["group"] for record in world.images]
        self.items = [
            (index, lang, text)
            for index in world.select(split=split)
            if sources is None or world.images[index]["source"] in sources
            for lang, text in world.images[index][key].items()
            if languages is None or lang in languages
        ]
        self.weights = (
            None if source_weights is None else self._weights(world, check_sources(source_weights), source_weights)
        )

    def _weights(self, world: World, sources: tuple[str, ...], source_weights: dict[str, float]) -> list[float]:
        """Each item's sampling weight: its source's weight, shared evenly among the source's items."""
        item_sources = [world.images[index]["source"] for index, _, _ in self.items]
        counts = Counter(item_sources)
        missing = sorted(set(counts) - set(sources))
        if missing:
            raise ValueError(f"source_weights has no weight for source(s) {missing} of this dataset.")
        return [source_weights[source] / counts[source] for source in item_sources]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        index, language, text = self.items[i]
        return {
            "pixels": np.array(self.pixels[index]),
            "text": text,
            "language": language,
            "image_index": index,
        }

    def key(self, i: int) -> str:
        """Items with the same key must not meet in one batch: here, the image's concept.

        A 7 captioned "seven" and another 7 captioned "sieben" are different captions of one concept: in one batch,
        InfoNCE would push each image away from the other's correct caption (a false negative).
        """
        return self.groups[self.items[i][0]]


class TextPairDataset(Dataset):
    """Text pairs (translations, paraphrases) of ``split``, optionally of some ``kinds`` only."""

    def __init__(self, world: World, split: str, kinds: Sequence[str] | None = None) -> None:
        self.items = [p for p in world.text_pairs if p["split"] == split and (kinds is None or p["kind"] in kinds)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return {"a": self.items[i]["a"], "b": self.items[i]["b"]}

    def key(self, i: int) -> str:
        """Pairs of one concept (one country, one scene) must not meet in one batch."""
        return self.items[i]["group"]


class TripletDataset(Dataset):
    """(anchor, positive, hard negative) text triplets of ``split``."""

    def __init__(self, world: World, split: str) -> None:
        self.items = [t for t in world.triplets if t["split"] == split]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        item = self.items[i]
        return {"anchor": item["anchor"], "positive": item["positive"], "negative": item["negative"]}

    def key(self, i: int) -> str:
        return self.items[i]["anchor"]


class Collator:
    """Stack a list of items into tensors: ``pixels`` to ``pixel_values``, each text field to token ids and mask.

    Pixels are normalised with the model's own statistics (``config.image_mean`` and ``config.image_std``), so
    training sees exactly what ``encode_image`` feeds the model later.

    Example:
        >>> collate = Collator(model.tokenizer, 16, model.config.image_mean, model.config.image_std)
        >>> collate([{"a": "red circle", "b": "círculo rojo"}])["a"]["input_ids"].shape[0]
        1
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        image_mean: Sequence[float],
        image_std: Sequence[float],
    ) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.image_mean, self.image_std = image_mean, image_std

    def __call__(self, items: list[dict]) -> dict:
        batch: dict = {}
        if "pixels" in items[0]:
            pixels = np.stack([item["pixels"] for item in items])
            batch["pixel_values"] = normalize_pixels(pixels, self.image_mean, self.image_std)
        for field in TEXT_FIELDS:
            if field in items[0]:
                batch[field] = self.tokenizer(
                    [item[field] for item in items],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
        return batch


class TaskMixer:
    """An endless, seeded stream of ``{task: batch}``: one batch from every dataset at each step.

    Each task walks through its dataset in a fresh random order every epoch; an item whose ``key`` is already in
    the batch waits for the next batch, so in-batch negatives are never copies of the positive.

    Under data parallelism (``world_size`` processes, see :mod:`jclip_lab.distributed`) the negatives are the
    *global* batch, so the rule must hold across processes: every rank builds the same global batch of
    ``world_size * batch_size`` items (the same ``seed`` on every rank) and keeps its own slice
    ``[rank * n : (rank + 1) * n]``. The ranks see different items, and the concatenation of their slices is the
    batch one process would draw with ``batch_size * world_size``. When a dataset has too few distinct keys to
    fill a global batch, it is cut to a multiple of ``world_size`` (the rest waits for the next batch), so the
    ranks always hold equal slices, as gathering their embeddings requires.

    Args:
        datasets: task name -> dataset with ``__getitem__`` and ``key(i)``.
        batch_size: items per task per step (per rank), or a dict task -> items.
        collate: turns a list of items into tensors (a :class:`Collator`).
        seed: seed of the order; the same on every rank.
        rank: this process's index, ``0 .. world_size - 1``.
        world_size: the number of processes that share each global batch (1: no data parallelism).

    Raises:
        ValueError: if a dataset is empty, or ``rank`` / ``world_size`` are out of range.

    Example:
        >>> class Concepts(list):  # items 0..11, four concepts
        ...     def key(self, i):
        ...         return self[i] % 4
        >>> ranks = [TaskMixer({"pairs": Concepts(range(12))}, 2, list, rank=r, world_size=2) for r in (0, 1)]
        >>> [next(iter(mixer))["pairs"] for mixer in ranks]  # one global batch of 4 distinct concepts
        [[11, 8], [10, 5]]
        >>> next(iter(TaskMixer({"pairs": Concepts(range(12))}, 4, list)))["pairs"]  # the same, on one process
        [11, 8, 10, 5]
    """

    def __init__(
        self,
        datasets: dict[str, Dataset],
        batch_size: int | dict[str, int],
        collate,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        empty = [name for name, data in datasets.items() if len(data) == 0]
        if empty:
            raise ValueError(f"Task(s) {empty} have no items in this split.")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"Need 0 <= rank < world_size; got rank={rank}, world_size={world_size}.")
        self.datasets = datasets
        self.batch_sizes = batch_size if isinstance(batch_size, dict) else dict.fromkeys(datasets, batch_size)
        self.collate = collate
        self.seed = seed
        self.rank = rank
        self.world_size = world_size

    def _indices(self, name: str) -> Iterator[int]:
        """Item indices: each epoch a fresh permutation, or, for a dataset with ``weights``, weighted draws."""
        rng = random.Random(f"{self.seed}:{name}")
        data = self.datasets[name]
        weights = getattr(data, "weights", None)
        while True:
            if weights is None:
                order = list(range(len(data)))
                rng.shuffle(order)
            else:  # with replacement, an epoch's worth at a time
                order = rng.choices(range(len(data)), weights=weights, k=len(data))
            yield from order

    def _batches(self, name: str) -> Iterator[list[int]]:
        """This rank's slice of each global batch of task ``name`` (indices into its dataset)."""
        data, size, indices = self.datasets[name], self.batch_sizes[name] * self.world_size, self._indices(name)
        waiting: list[int] = []
        while True:
            batch, keys, pending, waiting = [], set(), waiting, []
            for i in pending:
                if len(batch) < size and data.key(i) not in keys:
                    batch.append(i)
                    keys.add(data.key(i))
                else:
                    waiting.append(i)
            # Stop early if a dataset has fewer distinct keys than the batch size.
            while len(batch) < size and len(waiting) <= 4 * size:
                i = next(indices)
                if data.key(i) in keys:
                    waiting.append(i)
                else:
                    batch.append(i)
                    keys.add(data.key(i))
            per_rank = len(batch) // self.world_size
            if per_rank == 0:
                raise ValueError(
                    f"Task {name!r} found only {len(batch)} distinct keys for a global batch shared by "
                    f"world_size={self.world_size} ranks; use fewer ranks or a dataset with more concepts."
                )
            waiting = batch[per_rank * self.world_size :] + waiting  # empty with one process
            yield batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def iterate(self, skip: int = 0) -> Iterator[dict]:
        """The stream, after skipping ``skip`` steps cheaply (indices only): how a resumed run finds its place."""
        streams = {name: self._batches(name) for name in self.datasets}
        for _ in range(skip):
            for stream in streams.values():
                next(stream)
        while True:
            yield {
                name: self.collate([self.datasets[name][i] for i in next(stream)]) for name, stream in streams.items()
            }

    def __iter__(self) -> Iterator[dict]:
        return self.iterate()
