"""Text-to-image and image-to-text recall@k on a real benchmark, with CLIP_benchmark's conventions.

Conventions (LAION-AI/CLIP_benchmark, ``clip_benchmark/metrics/zeroshot_retrieval.py``):

- text-to-image: every caption instance is its own query; its only correct image is its own
  (CLIP_benchmark's ``image_retrieval_recall@k``);
- image-to-text: every image is a query; it hits if any of its captions is in the top k
  (CLIP_benchmark's ``text_retrieval_recall@k``);
- embeddings are L2-normalised and compared by dot product.

Recall@k itself is the lab's :func:`jclip_lab.evaluate.retrieval_metrics`, and every score comes with its chance
level (:func:`jclip_lab.evaluate.chance_retrieval`) at the same gallery size. Differences from CLIP_benchmark:

- ties are broken by the lower document index (a stable sort); CLIP_benchmark's ``torch.topk`` breaks them in no
  specified order. Real embeddings almost never tie;
- ``truncate_dim`` slices the full embeddings and re-normalises them here, which is what jina-clip-v2's
  ``encode_*(truncate_dim=...)`` does, so one embedding pass serves every Matryoshka dimension;
- ``task`` (e.g. ``"retrieval.query"``) is given to ``encode_text`` for captions used as *queries*
  (text-to-image); captions used as *documents* (image-to-text) are embedded without it. CLIP_benchmark calls the
  model's plain text encoder for both; whether the published jina-clip-v2 numbers used the prefix is not stated, so
  notebook 10 measures both;
- ``max_queries`` may cut the queries of each direction (the first n), never the galleries: recall@k depends on
  the gallery size, so published numbers are only comparable at the published gallery.

Example:
    >>> import numpy as np
    >>> emb = BenchmarkEmbeddings("toy", "en", images=np.eye(2), queries=np.eye(2), documents=np.eye(2),
    ...                           caption_image=np.array([0, 1]))
    >>> result = score_retrieval(emb, ks=(1,))
    >>> result.text_to_image["R@1"], result.image_to_text["R@1"], result.chance_text_to_image["R@1"]
    (1.0, 1.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jclip_lab.evaluate import chance_retrieval, retrieval_metrics
from jclip_lab.real_benchmarks.download import QuietBar, SlowBar
from jclip_lab.real_benchmarks.readers import RetrievalBenchmark

KS = (1, 5, 10)
QUERY_CHUNK = 1024  # queries scored at once: COCO's 25,010 x 5,000 scores would otherwise take ~1.5 GB with the sort


@dataclass(frozen=True)
class BenchmarkEmbeddings:
    """A benchmark's embeddings, computed once and scored at any ``truncate_dim``.

    Attributes:
        benchmark: the benchmark's name.
        language: its captions' language.
        images: ``(num_images, dim)``, unit norm.
        queries: ``(num_captions, dim)``, the captions embedded as text-to-image queries (with ``task``).
        documents: ``(num_captions, dim)``, the captions embedded as image-to-text documents (without ``task``);
            the same array as ``queries`` when no task was given.
        caption_image: ``(num_captions,)``, the image index of each caption.
        task: the task the queries were embedded with.

    Example:
        >>> emb = BenchmarkEmbeddings("toy", "en", np.eye(2), np.eye(2), np.eye(2), np.array([0, 1]))
        >>> emb.images.shape, emb.task
        ((2, 2), None)
    """

    benchmark: str
    language: str
    images: np.ndarray
    queries: np.ndarray
    documents: np.ndarray
    caption_image: np.ndarray
    task: str | None = None


@dataclass(frozen=True)
class RetrievalResult:
    """Recall@k (fractions in [0, 1]) and mean rank in both directions, beside their chance levels.

    Example:
        >>> r = RetrievalResult("toy", "en", 2, 2, 2, 2, None, None, {"R@1": 1.0}, {"R@1": 0.5}, {"R@1": 0.5},
        ...                     {"R@1": 0.5})
        >>> r.row()
        {'benchmark': 'toy', 'language': 'en', 'dim': 'full', 't2i R@1': 1.0, 'i2t R@1': 0.5}
    """

    benchmark: str
    language: str
    num_images: int
    num_captions: int
    num_text_queries: int
    num_image_queries: int
    truncate_dim: int | None
    task: str | None
    text_to_image: dict[str, float]
    image_to_text: dict[str, float]
    chance_text_to_image: dict[str, float]
    chance_image_to_text: dict[str, float]

    def row(self) -> dict[str, object]:
        """A flat row for a table: the benchmark, its language, the dimension and every R@k of both directions."""
        recalls = {f"t2i {k}": v for k, v in self.text_to_image.items() if k.startswith("R@")}
        recalls |= {f"i2t {k}": v for k, v in self.image_to_text.items() if k.startswith("R@")}
        dim = "full" if self.truncate_dim is None else self.truncate_dim
        return {"benchmark": self.benchmark, "language": self.language, "dim": dim, **recalls}


def embed_benchmark(
    model,
    benchmark: RetrievalBenchmark,
    batch_size: int = 32,
    task: str | None = None,
    progress: bool = True,
    image_embeddings: np.ndarray | None = None,
) -> BenchmarkEmbeddings:
    """Embed every image and caption of ``benchmark`` with any model that has jina-clip-v2's ``encode_*`` API.

    Images are opened and embedded ``batch_size`` at a time (``model.encode_image(images, batch_size=...)`` on PIL
    RGB images), so memory stays flat on a 5,000-image gallery; captions go through
    ``model.encode_text(texts, batch_size=..., task=...)`` (``task`` only when given). Embeddings are
    L2-normalised here whatever the model returns.

    Args:
        model: e.g. the lab's ``JClipModel`` or the real jina-clip-v2.
        benchmark: what to embed.
        batch_size: items per ``encode_*`` call.
        task: instruction task for captions used as queries (``"retrieval.query"`` for jina-clip-v2), or None.
        progress: show one progress bar over images and captions.
        image_embeddings: the gallery's embeddings from an earlier call (``.images``), to skip embedding the same
            images again: XTD10 and Crossmodal-3600 share one gallery across their languages.

    Raises:
        ValueError: ``image_embeddings`` with another number of rows than the benchmark has images.

    Example:
        >>> from PIL import Image
        >>> class Toy:  # 2-dim embeddings: an image's mean red and green; a text's length and vowel count
        ...     def encode_image(self, images, batch_size=32):
        ...         return np.array([np.asarray(im, dtype=float)[..., :2].mean((0, 1)) + 1 for im in images])
        ...     def encode_text(self, texts, batch_size=32):
        ...         return np.array([[len(t), sum(c in "aeiou" for c in t)] for t in texts], dtype=float)
        >>> import tempfile
        >>> from pathlib import Path
        >>> from jclip_lab.real_benchmarks.readers import ImageRef
        >>> path = Path(tempfile.mkdtemp()) / "red.png"
        >>> Image.new("RGB", (4, 4), "red").save(path)
        >>> bench = RetrievalBenchmark("toy", "en", [ImageRef(path)], [["red", "a red square"]])
        >>> emb = embed_benchmark(Toy(), bench, progress=False)
        >>> emb.images.shape, emb.queries.shape, emb.caption_image.tolist()
        ((1, 2), (2, 2), [0, 0])
        >>> embed_benchmark(Toy(), bench, progress=False, image_embeddings=emb.images).images is emb.images
        True
    """
    texts, owners = benchmark.caption_queries()
    if image_embeddings is not None and len(image_embeddings) != benchmark.num_images:
        raise ValueError(
            f"image_embeddings has {len(image_embeddings)} rows but {benchmark.name} has {benchmark.num_images} "
            "images; pass the .images of an embedding of the same gallery."
        )
    new_images = benchmark.num_images if image_embeddings is None else 0
    total = new_images + len(texts) * (2 if task is not None else 1)
    bar_class = SlowBar if progress else QuietBar
    with bar_class(total=total, desc=f"embedding {benchmark.name} ({benchmark.language})", unit="item") as bar:
        images = image_embeddings
        if images is None:
            images = _embed_in_batches(
                lambda chunk: model.encode_image([ref.open() for ref in chunk], batch_size=batch_size),
                benchmark.images,
                batch_size,
                bar,
            )
        queries = _embed_texts(model, texts, batch_size, task, bar)
        documents = queries if task is None else _embed_texts(model, texts, batch_size, None, bar)
    return BenchmarkEmbeddings(
        benchmark.name, benchmark.language, images, queries, documents, np.asarray(owners, dtype=np.int64), task
    )


def _embed_texts(model, texts: list[str], batch_size: int, task: str | None, bar) -> np.ndarray:
    extra = {} if task is None else {"task": task}
    return _embed_in_batches(
        lambda chunk: model.encode_text(list(chunk), batch_size=batch_size, **extra), texts, batch_size, bar
    )


def _embed_in_batches(encode, items: Sequence, batch_size: int, bar) -> np.ndarray:
    """Call ``encode`` on consecutive chunks; return the stacked, L2-normalised float32 embeddings."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1.")
    chunks = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        vectors = np.asarray(encode(chunk), dtype=np.float32).reshape(len(chunk), -1)
        chunks.append(vectors)
        bar.update(len(chunk))
    return _unit(np.concatenate(chunks))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def score_retrieval(
    embeddings: BenchmarkEmbeddings,
    truncate_dim: int | None = None,
    max_queries: int | None = None,
    ks: Sequence[int] = KS,
) -> RetrievalResult:
    """Recall@k in both directions from precomputed embeddings (see the module docstring for the conventions).

    Args:
        embeddings: from :func:`embed_benchmark`.
        truncate_dim: keep the first ``truncate_dim`` dimensions and re-normalise (Matryoshka); None keeps all.
        max_queries: score only the first ``max_queries`` queries of each direction; the galleries stay whole.
        ks: the k of recall@k.

    Raises:
        ValueError: ``truncate_dim`` outside ``1..dim`` or ``max_queries`` < 1.

    Example:
        >>> images = np.eye(2)
        >>> captions = np.array([[1.0, 0], [0.6, 0.8], [0, 1.0]])  # caption 1 prefers image 1 to its own image 0
        >>> emb = BenchmarkEmbeddings("toy", "en", images, captions, captions, np.array([0, 0, 1]))
        >>> r = score_retrieval(emb, ks=(1, 2))
        >>> r.text_to_image, r.num_images
        ({'R@1': 0.6666666666666666, 'R@2': 1.0, 'mean_rank': 1.3333333333333333}, 2)
    """
    dim = embeddings.images.shape[1]
    if truncate_dim is not None and not 1 <= truncate_dim <= dim:
        raise ValueError(f"truncate_dim={truncate_dim} must be in 1..{dim} (the embeddings' width), or None.")
    if max_queries is not None and max_queries < 1:
        raise ValueError(f"max_queries={max_queries} must be at least 1, or None for every query.")

    def cut(x: np.ndarray) -> np.ndarray:  # Matryoshka: the first truncate_dim dims, (re-)normalised
        return _unit(x if truncate_dim is None else x[:, :truncate_dim])

    images, queries, documents = cut(embeddings.images), cut(embeddings.queries), cut(embeddings.documents)
    owners = embeddings.caption_image
    t2i_relevant = [{int(image)} for image in owners]
    i2t_relevant = [set(np.flatnonzero(owners == image).tolist()) for image in range(len(images))]
    t2i_relevant, i2t_relevant = t2i_relevant[:max_queries], i2t_relevant[:max_queries]
    return RetrievalResult(
        benchmark=embeddings.benchmark,
        language=embeddings.language,
        num_images=len(images),
        num_captions=len(documents),
        num_text_queries=len(t2i_relevant),
        num_image_queries=len(i2t_relevant),
        truncate_dim=truncate_dim,
        task=embeddings.task,
        text_to_image=_recall(queries[: len(t2i_relevant)], images, t2i_relevant, ks),
        image_to_text=_recall(images[: len(i2t_relevant)], documents, i2t_relevant, ks),
        chance_text_to_image=chance_retrieval(len(images), t2i_relevant, ks),
        chance_image_to_text=chance_retrieval(len(documents), i2t_relevant, ks),
    )


def _recall(queries: np.ndarray, documents: np.ndarray, relevant: list[set[int]], ks: Sequence[int]) -> dict:
    """``retrieval_metrics`` over chunks of queries: every metric is a mean over queries, so the chunk means,
    weighted by chunk size, give exactly the whole mean."""
    sums: dict[str, float] = {}
    for start in range(0, len(queries), QUERY_CHUNK):
        part = slice(start, start + QUERY_CHUNK)
        metrics = retrieval_metrics(queries[part] @ documents.T, relevant[part], ks)
        for name, value in metrics.items():
            sums[name] = sums.get(name, 0.0) + value * len(relevant[part])
    return {name: total / len(queries) for name, total in sums.items()}


def evaluate_retrieval(
    model,
    benchmark: RetrievalBenchmark,
    batch_size: int = 32,
    truncate_dim: int | None = None,
    task: str | None = None,
    max_queries: int | None = None,
    ks: Sequence[int] = KS,
    progress: bool = True,
) -> RetrievalResult:
    """Embed ``benchmark`` with ``model`` and score it: :func:`embed_benchmark`, then :func:`score_retrieval`.

    To score several Matryoshka dimensions, embed once with :func:`embed_benchmark` and call
    :func:`score_retrieval` per ``truncate_dim``.

    Example:
        >>> from PIL import Image
        >>> import tempfile
        >>> from pathlib import Path
        >>> from jclip_lab.real_benchmarks.readers import ImageRef
        >>> class Colours:  # an image embeds as its mean colour; a caption as the colour it names
        ...     names = {"red": (255, 0, 0), "green": (0, 128, 0)}
        ...     def encode_image(self, images, batch_size=32):
        ...         return np.array([np.asarray(im, dtype=float).mean((0, 1)) for im in images])
        ...     def encode_text(self, texts, batch_size=32):
        ...         return np.array([self.names[t.split()[-1]] for t in texts], dtype=float)
        >>> folder = Path(tempfile.mkdtemp())
        >>> for colour in Colours.names:
        ...     Image.new("RGB", (4, 4), colour).save(folder / f"{colour}.png")
        >>> bench = RetrievalBenchmark("toy", "en", [ImageRef(folder / "red.png"), ImageRef(folder / "green.png")],
        ...                            [["a red", "pure red"], ["all green"]])
        >>> evaluate_retrieval(Colours(), bench, ks=(1,), progress=False).row()
        {'benchmark': 'toy', 'language': 'en', 'dim': 'full', 't2i R@1': 1.0, 'i2t R@1': 1.0}
    """
    embeddings = embed_benchmark(model, benchmark, batch_size=batch_size, task=task, progress=progress)
    return score_retrieval(embeddings, truncate_dim=truncate_dim, max_queries=max_queries, ks=ks)
