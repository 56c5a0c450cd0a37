"""Matryoshka embeddings in practice: quality against the truncated dimension, and what the dimension slider shows.

A Matryoshka-trained model (Kusupati et al. 2022) keeps its best information in the first dims, so a prefix of
the embedding, re-normalised, is itself a usable embedding. :func:`dimension_sweep` measures text-to-image
retrieval at each prefix and :meth:`Sweep.retention` divides by the full width (jina-clip-v2 keeps about 98% of
its COCO R@5 at 256 of 1024 dims). :func:`matryoshka_view` is the update function of the notebook's slider: the
top-k images of a query at one dim, the quality at that dim, the index size and the search time.

Example:
    >>> import numpy as np
    >>> gallery = np.eye(4, 8, dtype=np.float32)       # 4 unit vectors
    >>> view = matryoshka_view(gallery[2], gallery, dim=4, trained_dims=(4, 8), k=2, timing_vectors=0)
    >>> view["top_k"][0], view["mb_per_million"]["float32"]
    (2, 16.0)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from jclip_lab.evaluate import Embedder, cross_modal_retrieval
from jclip_lab.viz import format_table, show_images
from jclip_lab.world import CAPTION_LANGUAGES, TRANSFER_LANGUAGES

# Languages whose captions met images in training (the transfer languages would only add noise near chance).
SWEEP_LANGUAGES: tuple[str, ...] = tuple(lang for lang in CAPTION_LANGUAGES if lang not in TRANSFER_LANGUAGES)
BYTES_PER_NUMBER: dict[str, int] = {"float32": 4, "float16": 2, "int8": 1}


# ---------------------------------------------------------------- quality against the dimension


@dataclass
class Sweep:
    """Retrieval quality at each truncated dimension.

    Attributes:
        metrics: dim -> ``{"R@1": ..., "R@5": ..., "R@10": ...}`` (text-to-image, mean over languages).
        chance: the same metrics for a random ranking (they do not depend on the dim).
    """

    metrics: dict[int, dict[str, float]]
    chance: dict[str, float]

    @property
    def dims(self) -> list[int]:
        """The measured dims, ascending."""
        return sorted(self.metrics)

    def curve(self, metric: str = "R@1") -> dict[int, float]:
        """``{dim: metric at dim}``.

        Example:
            >>> Sweep({64: {"R@1": 0.4}, 32: {"R@1": 0.3}}, {"R@1": 0.01}).curve()
            {32: 0.3, 64: 0.4}
        """
        return {dim: self.metrics[dim][metric] for dim in self.dims}

    def retention(self, metric: str = "R@1") -> dict[int, float]:
        """``{dim: metric at dim / metric at the largest dim}``: the fraction of full-width quality a prefix keeps.

        Example:
            >>> Sweep({32: {"R@1": 0.3}, 128: {"R@1": 0.6}}, {"R@1": 0.01}).retention()
            {32: 0.5, 128: 1.0}
        """
        full = self.metrics[max(self.metrics)][metric]
        return {dim: value / full for dim, value in self.curve(metric).items()}


def dimension_sweep(
    embedder: Embedder,
    dims: Sequence[int],
    languages: Sequence[str] = SWEEP_LANGUAGES,
    source: str = "scenes",
    split: str = "test",
) -> Sweep:
    """Text-to-image retrieval on ``source``'s ``split`` at each prefix dim, averaged over ``languages``.

    Every item is embedded once, at full width (the embedder's memo); each dim slices and re-normalises.

    Example:
        >>> sweep = dimension_sweep(Embedder(model, world), dims=(16, 32, 64, 128))   # doctest: +SKIP
        >>> sweep.retention("R@5")[32]                                                 # doctest: +SKIP
        0.97
    """
    world = embedder.world
    indices = {lang: world.select(source, split, lang) for lang in languages}

    def mean_t2i(dim: int | None) -> dict[str, dict[str, float]]:
        results = [cross_modal_retrieval(embedder, indices[lang], lang, dim=dim) for lang in languages]
        return {
            part: {m: float(np.mean([r[part][m] for r in results])) for m in ("R@1", "R@5", "R@10")}
            for part in ("t2i", "t2i_chance")
        }

    measured = {dim: mean_t2i(dim) for dim in dims}
    return Sweep({dim: m["t2i"] for dim, m in measured.items()}, measured[dims[0]]["t2i_chance"])


def sweep_table(sweeps: Mapping[str, Sweep], metrics: Sequence[str] = ("R@1", "R@5")) -> str:
    """One row per (model, dim): each metric and its retention ("kept": metric at dim / metric at full width).

    Example:
        >>> print(sweep_table({"m": Sweep({8: {"R@1": 0.25}, 16: {"R@1": 0.5}}, {"R@1": 0.1})}, ["R@1"]))
        model  dim    R@1  R@1 kept
        -----  ---  -----  --------
        m        8  0.250     0.500
        m       16  0.500     1.000
    """
    rows = []
    for name, sweep in sweeps.items():
        kept = {metric: sweep.retention(metric) for metric in metrics}
        for dim in sweep.dims:
            rows.append([name, dim, *(value for m in metrics for value in (sweep.metrics[dim][m], kept[m][dim]))])
    return format_table(rows, ["model", "dim", *(h for m in metrics for h in (m, f"{m} kept"))])


# ---------------------------------------------------------------- the slider's update function


def index_megabytes(dim: int, vectors: int = 1_000_000, dtype: str = "float32") -> float:
    """Size in MB (10^6 bytes) of a flat index of ``vectors`` embeddings of ``dim`` numbers of type ``dtype``.

    Example:
        >>> index_megabytes(1024), index_megabytes(256, dtype="int8")
        (4096.0, 256.0)
    """
    if dtype not in BYTES_PER_NUMBER:
        raise ValueError(f"Unknown dtype {dtype!r}; valid: {', '.join(BYTES_PER_NUMBER)}")
    return dim * BYTES_PER_NUMBER[dtype] * vectors / 1e6


@functools.lru_cache(maxsize=8)
def _synthetic_index(vectors: int, dim: int) -> np.ndarray:
    """``vectors`` random unit vectors of ``dim`` float32s, contiguous (as a vector store keeps them)."""
    index = np.random.default_rng(0).standard_normal((vectors, dim), dtype=np.float32)
    return index / np.linalg.norm(index, axis=1, keepdims=True)


def search_seconds(dim: int, vectors: int = 100_000, k: int = 10, repeats: int = 5) -> float:
    """Seconds of one exact (brute-force) top-``k`` search over ``vectors`` float32 vectors of ``dim`` dims.

    The index is synthetic (random unit vectors, cached per size). One query runs on one core (more BLAS threads
    only add overhead to a single matrix-vector product); the best of ``repeats`` runs is returned, the usual way
    to time a short operation on a shared machine.

    Example:
        >>> search_seconds(64, vectors=1000) < 0.1
        True
    """
    index = _synthetic_index(vectors, dim)
    query = index[0].copy()
    best = float("inf")
    with threadpool_limits(1):
        for _ in range(repeats):
            start = time.perf_counter()
            scores = index @ query
            top = np.argpartition(-scores, k)[:k]
            top = top[np.argsort(-scores[top])]  # the k best, in order
            best = min(best, time.perf_counter() - start)
    return best


def top_k(query: np.ndarray, gallery: np.ndarray, dim: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of the ``k`` gallery vectors nearest ``query``, using their first ``dim`` dims.

    Example:
        >>> top_k(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), dim=2, k=1)
        (array([1]), array([1.]))
    """
    q = query[:dim] / np.linalg.norm(query[:dim])
    g = gallery[:, :dim] / np.linalg.norm(gallery[:, :dim], axis=1, keepdims=True)
    scores = g @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return order, scores[order]


def matryoshka_view(
    query: np.ndarray,
    gallery: np.ndarray,
    dim: int,
    trained_dims: Sequence[int],
    k: int = 5,
    sweep: Sweep | None = None,
    timing_vectors: int = 100_000,
) -> dict:
    """Everything the dimension slider shows at one ``dim``: the update function behind the widget.

    Args:
        query: the query's full-width embedding ``(D,)``.
        gallery: the searched embeddings at full width ``(N, D)``.
        dim: the prefix to use; must be one of ``trained_dims``.
        trained_dims: the dims the Matryoshka loss trained (other prefixes carry no guarantee).
        k: how many results.
        sweep: the benchmark measured per dim; its R@1 and R@5 at ``dim`` are copied into the view.
        timing_vectors: size of the synthetic index the search is timed on (0: do not time).

    Returns:
        ``dim``, ``top_k`` (gallery indices, best first), ``scores`` (their cosines), ``R@1`` and ``R@5`` (None
        without a sweep), ``mb_per_million`` (``{"float32", "float16", "int8"}``: MB for a million vectors),
        ``ms_per_query`` (brute-force search over ``timing_vectors`` vectors; None when not timed).

    Raises:
        ValueError: if ``dim`` is not a trained dim, or the query and gallery widths differ.

    Example:
        >>> gallery = np.random.default_rng(0).standard_normal((50, 16))
        >>> view = matryoshka_view(gallery[7], gallery, dim=8, trained_dims=(4, 8, 16), timing_vectors=0)
        >>> view["top_k"][0], view["mb_per_million"]["float16"]
        (7, 16.0)
    """
    if dim not in trained_dims:
        raise ValueError(
            f"dim={dim} is not a trained Matryoshka dim; choose one of {sorted(trained_dims)} (other prefixes "
            "were never optimised and may be much worse)."
        )
    if query.shape[-1] != gallery.shape[-1] or dim > gallery.shape[-1]:
        raise ValueError(
            f"query ({query.shape[-1]} dims) and gallery ({gallery.shape[-1]} dims) must have the same width, at "
            f"least dim={dim}."
        )
    indices, scores = top_k(query, gallery, dim, k)
    return {
        "dim": dim,
        "top_k": indices.tolist(),
        "scores": scores.tolist(),
        "R@1": sweep.metrics[dim]["R@1"] if sweep else None,
        "R@5": sweep.metrics[dim]["R@5"] if sweep else None,
        "mb_per_million": {dtype: index_megabytes(dim, dtype=dtype) for dtype in BYTES_PER_NUMBER},
        "ms_per_query": 1000 * search_seconds(dim, timing_vectors) if timing_vectors else None,
    }


# ---------------------------------------------------------------- search over the world's images


class ImageSearch:
    """Text-to-image search over a gallery of world images, at any trained prefix dim: the slider's back end.

    The gallery is embedded once at full width; each query is embedded once (the embedder's memo), so moving
    the slider only slices, re-normalises and ranks.

    Args:
        embedder: embeds the queries and the gallery.
        gallery: world image indices to search.
        trained_dims: the dims the slider offers (default: only the full width).
        sweep: the benchmark per dim, shown beside the results.
        timing_vectors: size of the synthetic index the search is timed on (0: do not time).

    Example:
        >>> gallery = world.select("scenes", "test")                              # doctest: +SKIP
        >>> search = ImageSearch(Embedder(model, world), gallery, (16, 32, 64, 128))  # doctest: +SKIP
        >>> search.view("rotes Herz", dim=32, k=3)["top_k"]                       # doctest: +SKIP
        [812, 1300, 977]
    """

    def __init__(
        self,
        embedder: Embedder,
        gallery: Sequence[int],
        trained_dims: Sequence[int] | None = None,
        sweep: Sweep | None = None,
        timing_vectors: int = 100_000,
    ) -> None:
        self.embedder, self.gallery, self.sweep, self.timing_vectors = embedder, list(gallery), sweep, timing_vectors
        self.vectors = embedder.images(self.gallery)
        self.trained_dims = tuple(trained_dims or (self.vectors.shape[1],))

    def view(self, query: str, dim: int | None = None, k: int = 8) -> dict:
        """:func:`matryoshka_view` of ``query`` at ``dim`` (default: full width), ``top_k`` as world indices.

        Example:
            >>> search.view("红色圆", dim=16, k=2)["top_k"]  # doctest: +SKIP
            [1207, 988]
        """
        dim = dim or max(self.trained_dims)
        query_vector = self.embedder.texts([query])[0]
        view = matryoshka_view(query_vector, self.vectors, dim, self.trained_dims, k, self.sweep, self.timing_vectors)
        view["top_k"] = [self.gallery[i] for i in view["top_k"]]
        return view

    def show(self, query: str, dim: int | None = None, k: int = 8, size: int = 48) -> dict:
        """Print the view's numbers and draw its top-k images (English caption and cosine beneath); return it.

        Example:
            >>> view = search.show("coração vermelho", dim=32)  # doctest: +SKIP
        """
        view = self.view(query, dim, k)
        sizes = view["mb_per_million"]
        line = [f"dim {view['dim']}"]
        if view["R@1"] is not None:
            line.append(f"R@1 {view['R@1']:.3f}  R@5 {view['R@5']:.3f} (test scenes, mean over languages)")
        line.append(
            f"index per million vectors: {sizes['float32']:,.0f} MB float32 | {sizes['float16']:,.0f} MB "
            f"float16 | {sizes['int8']:,.0f} MB int8"
        )
        if view["ms_per_query"] is not None:
            line.append(f"search: {view['ms_per_query']:.2f} ms per query over {self.timing_vectors:,} vectors")
        print(f"query: {query}", *line, sep="\n")
        world = self.embedder.world
        captions = [world.images[i]["short"]["en"] for i in view["top_k"]]
        titles = [f"{caption} ({score:.2f})" for caption, score in zip(captions, view["scores"], strict=True)]
        show_images([world.image(i, size) for i in view["top_k"]], titles, ncols=min(k, 8), size=1.4)
        plt.show()
        return view
