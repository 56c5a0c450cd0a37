"""Matryoshka embeddings in practice: quality against the truncated dimension, and what the dimension slider shows.

A Matryoshka-trained model (Kusupati et al. 2022, arXiv:2205.13147) keeps its best information in the first
dimensions, so a prefix of the embedding, re-normalised, is itself a usable embedding. :func:`dimension_sweep`
measures text-to-image retrieval at each prefix length (``truncate_dim``) and :meth:`Sweep.retention` divides by
the full width (jina-clip-v2 keeps 98.7% of its COCO R@5 at 256 of 1024 dims: 67.43 vs 68.35, arXiv:2412.08802).
:func:`matryoshka_view` is the update function of the notebook's slider: the top-k images of a query at one
``truncate_dim``, the quality there, the index size and the search time.

Example:
    >>> gallery = np.eye(4, 8, dtype=np.float32)       # 4 unit vectors
    >>> view = matryoshka_view(gallery[2], gallery, truncate_dim=4, matryoshka_dims=(4, 8), k=2, timing_vectors=0)
    >>> view["top_k"][0], view["mb_per_million"]["float32"]
    (2, 16.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from jclip_lab.evaluate import Embedder, cross_modal_retrieval, evaluate_world
from jclip_lab.similarity import truncate
from jclip_lab.studies import SEEDS, Measure
from jclip_lab.tables import format_table
from jclip_lab.vector_search import BYTES_PER_NUMBER, index_megabytes, search_seconds
from jclip_lab.world import CAPTION_LANGUAGES, TRANSFER_LANGUAGES

# Languages whose captions met images in training (the transfer languages would only add noise near chance).
SWEEP_LANGUAGES: tuple[str, ...] = tuple(lang for lang in CAPTION_LANGUAGES if lang not in TRANSFER_LANGUAGES)


# ---------------------------------------------------------------- quality against the dimension


@dataclass
class Sweep:
    """Retrieval quality at each truncated dimension.

    Attributes:
        metrics: truncate_dim -> ``{"R@1": ..., "R@5": ..., "R@10": ...}`` (text-to-image, mean over languages).
        chance: the same metrics for a random ranking (they do not depend on the dimension).
    """

    metrics: dict[int, dict[str, float]]
    chance: dict[str, float]

    @property
    def truncate_dims(self) -> list[int]:
        """The measured prefix lengths, ascending."""
        return sorted(self.metrics)

    def curve(self, metric: str = "R@1") -> dict[int, float]:
        """``{truncate_dim: metric there}``.

        Example:
            >>> Sweep({64: {"R@1": 0.4}, 32: {"R@1": 0.3}}, {"R@1": 0.01}).curve()
            {32: 0.3, 64: 0.4}
        """
        return {dim: self.metrics[dim][metric] for dim in self.truncate_dims}

    def retention(self, metric: str = "R@1") -> dict[int, float]:
        """``{truncate_dim: metric there / metric at full width}``: the fraction of full-width quality kept.

        Example:
            >>> Sweep({32: {"R@1": 0.3}, 128: {"R@1": 0.6}}, {"R@1": 0.01}).retention()
            {32: 0.5, 128: 1.0}
        """
        full = self.metrics[max(self.metrics)][metric]
        return {dim: value / full for dim, value in self.curve(metric).items()}

    def table(self, name: str = "model", metrics: Sequence[str] = ("R@1", "R@5")) -> str:
        """This sweep as :func:`sweep_table` prints it."""
        return sweep_table({name: self}, metrics)


def dimension_sweep(
    embedder: Embedder,
    truncate_dims: Sequence[int],
    languages: Sequence[str] = SWEEP_LANGUAGES,
    source: str = "scenes",
    split: str = "test",
) -> Sweep:
    """Text-to-image retrieval on ``source``'s ``split`` at each prefix length, averaged over ``languages``.

    Every item is embedded once, at full width (the embedder's memo); each prefix slices and re-normalises.

    Example:
        >>> sweep = dimension_sweep(Embedder(model, world), truncate_dims=(16, 128), languages=("en",))
        >>> sweep.truncate_dims, sweep.retention("R@5")[128]
        ([16, 128], 1.0)
    """
    world = embedder.world
    indices = {lang: world.select(source, split, lang) for lang in languages}

    def mean_t2i(dim: int) -> dict[str, dict[str, float]]:
        results = [cross_modal_retrieval(embedder, indices[lang], lang, truncate_dim=dim) for lang in languages]
        return {
            part: {m: float(np.mean([r[part][m] for r in results])) for m in ("R@1", "R@5", "R@10")}
            for part in ("t2i", "t2i_chance")
        }

    measured = {dim: mean_t2i(dim) for dim in truncate_dims}
    return Sweep({dim: m["t2i"] for dim, m in measured.items()}, measured[truncate_dims[0]]["t2i_chance"])


def sweep_table(sweeps: Mapping[str, Sweep], metrics: Sequence[str] = ("R@1", "R@5")) -> str:
    """One row per (model, dim): each metric and its retention ("kept": the metric there / at full width).

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
        for dim in sweep.truncate_dims:
            rows.append([name, dim, *(value for m in metrics for value in (sweep.metrics[dim][m], kept[m][dim]))])
    return format_table(rows, ["model", "dim", *(h for m in metrics for h in (m, f"{m} kept"))])


def seed_dimension_curves(
    load: Callable[[int], object],
    world,
    measures: Sequence[Measure],
    truncate_dims: Sequence[int],
    languages: Sequence[str],
    seeds: Sequence[int] = SEEDS,
) -> dict[str, list[dict[int, float]]]:
    """Each measure of the model ``load(seed)`` returns, at each prefix length, for every seed.

    :func:`jclip_lab.studies.measure_seeds` at several ``truncate_dim``: each seed's model is embedded once (one
    :class:`~jclip_lab.evaluate.Embedder`) and every prefix slices and re-normalises those embeddings; only the
    benchmarks the measures need are run.

    Returns:
        ``{label: [{truncate_dim: value} per seed]}``, the form ``viz.plot_seed_curves`` draws; the values of one
        dim over the seeds, ``[curve[dim] for curve in curves[label]]``, go to ``studies.paired``.

    Example:
        >>> curves = seed_dimension_curves(lambda seed: model, world, [Measure("t2i R@5", "t2i", "R@5")],
        ...                                truncate_dims=(16, 128), languages=["en"], seeds=(0, 1))
        >>> [sorted(curve) for curve in curves["t2i R@5"]]
        [[16, 128], [16, 128]]
    """
    tasks = sorted({m.task for m in measures})
    curves: dict[str, list[dict[int, float]]] = {m.label: [] for m in measures}
    for seed in seeds:
        model = load(seed)
        embedder = Embedder(model, world)
        reports = {
            dim: evaluate_world(model, world, languages=languages, truncate_dim=dim, embedder=embedder, tasks=tasks)
            for dim in truncate_dims
        }
        for m in measures:
            curves[m.label].append({dim: report.get(m.task, m.metric, m.subset) for dim, report in reports.items()})
    return curves


# ---------------------------------------------------------------- the slider's update function


def top_k(query: np.ndarray, gallery: np.ndarray, truncate_dim: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosines of the ``k`` gallery vectors nearest ``query``, using their first ``truncate_dim`` dims.

    Example:
        >>> top_k(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0]]), truncate_dim=2, k=1)
        (array([1]), array([1.]))
    """
    scores = truncate(gallery, truncate_dim) @ truncate(query, truncate_dim)
    order = np.argsort(-scores, kind="stable")[:k]
    return order, scores[order]


def matryoshka_view(
    query: np.ndarray,
    gallery: np.ndarray,
    truncate_dim: int,
    matryoshka_dims: Sequence[int],
    k: int = 5,
    sweep: Sweep | None = None,
    timing_vectors: int = 100_000,
) -> dict:
    """Everything the dimension slider shows at one ``truncate_dim``: the update function behind the widget.

    Args:
        query: the query's full-width embedding ``(D,)``.
        gallery: the searched embeddings at full width ``(N, D)``.
        truncate_dim: the prefix length to use; must be one of ``matryoshka_dims``.
        matryoshka_dims: the prefix lengths the Matryoshka loss trained (other prefixes carry no guarantee).
        k: how many results.
        sweep: the benchmark measured per prefix; its R@1 and R@5 at ``truncate_dim`` are copied into the view,
            with their retention (the fraction of the full width's value kept).
        timing_vectors: size of the synthetic index the search is timed on (0: do not time).

    Returns:
        ``truncate_dim``, ``top_k`` (gallery indices, best first), ``scores`` (their cosines), ``R@1``, ``R@5``
        and ``R@5 kept`` (None without a sweep), ``mb_per_million`` (``{"float32", "float16", "int8"}``: MB for a
        million vectors), ``ms_per_query`` (brute-force search over ``timing_vectors`` vectors; None when not
        timed).

    Raises:
        ValueError: if ``truncate_dim`` is not a trained dim, or the query and gallery widths differ.

    Example:
        >>> gallery = np.random.default_rng(0).standard_normal((50, 16))
        >>> view = matryoshka_view(gallery[7], gallery, truncate_dim=8, matryoshka_dims=(4, 8, 16), timing_vectors=0)
        >>> view["top_k"][0], view["mb_per_million"]["float16"]
        (7, 16.0)
    """
    if truncate_dim not in matryoshka_dims:
        raise ValueError(
            f"truncate_dim={truncate_dim} is not a trained Matryoshka dim; choose one of {sorted(matryoshka_dims)} "
            "(other prefixes were never optimised and may be much worse)."
        )
    if query.shape[-1] != gallery.shape[-1] or truncate_dim > gallery.shape[-1]:
        raise ValueError(
            f"query ({query.shape[-1]} dims) and gallery ({gallery.shape[-1]} dims) must have the same width, at "
            f"least truncate_dim={truncate_dim}."
        )
    indices, scores = top_k(query, gallery, truncate_dim, k)
    return {
        "truncate_dim": truncate_dim,
        "top_k": indices.tolist(),
        "scores": scores.tolist(),
        "R@1": sweep.metrics[truncate_dim]["R@1"] if sweep else None,
        "R@5": sweep.metrics[truncate_dim]["R@5"] if sweep else None,
        "R@5 kept": sweep.retention("R@5")[truncate_dim] if sweep else None,
        "mb_per_million": {dtype: index_megabytes(truncate_dim, dtype=dtype) for dtype in BYTES_PER_NUMBER},
        "ms_per_query": 1000 * search_seconds(truncate_dim, timing_vectors) if timing_vectors else None,
    }


# ---------------------------------------------------------------- search over the world's images


class ImageSearch:
    """Text-to-image search over a gallery of world images, at any trained prefix length: the slider's back end.

    The gallery is embedded once at full width; each query is embedded once (the embedder's memo), so moving
    the slider only slices, re-normalises and ranks. ``jclip_lab.viz.show_search`` draws a view.

    Args:
        embedder: embeds the queries and the gallery.
        gallery: world image indices to search.
        matryoshka_dims: the prefix lengths the slider offers (default: only the full width).
        sweep: the benchmark per prefix length, shown beside the results.
        timing_vectors: size of the synthetic index the search is timed on (0: do not time).

    Example:
        >>> search = ImageSearch(Embedder(model, world), world.select("scenes", "test"), (16, 128), timing_vectors=0)
        >>> view = search.view("rotes Herz", truncate_dim=16, k=3)
        >>> len(view["top_k"]), view["truncate_dim"]
        (3, 16)
    """

    def __init__(
        self,
        embedder: Embedder,
        gallery: Sequence[int],
        matryoshka_dims: Sequence[int] | None = None,
        sweep: Sweep | None = None,
        timing_vectors: int = 100_000,
    ) -> None:
        self.embedder, self.gallery, self.sweep, self.timing_vectors = embedder, list(gallery), sweep, timing_vectors
        self.vectors = embedder.images(self.gallery)
        self.matryoshka_dims = tuple(matryoshka_dims or (self.vectors.shape[1],))

    def view(self, query: str, truncate_dim: int | None = None, k: int = 8) -> dict:
        """:func:`matryoshka_view` of ``query`` at ``truncate_dim`` (default: full width); ``top_k`` as world
        indices."""
        truncate_dim = truncate_dim or max(self.matryoshka_dims)
        query_vector = self.embedder.texts([query])[0]
        view = matryoshka_view(
            query_vector, self.vectors, truncate_dim, self.matryoshka_dims, k, self.sweep, self.timing_vectors
        )
        view["top_k"] = [self.gallery[i] for i in view["top_k"]]
        return view
