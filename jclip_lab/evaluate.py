"""Evaluation: the paper's benchmarks in miniature, for any model with ``encode_text`` and ``encode_image``.

Every metric comes with its *chance level* (what a random embedding scores), so a number is never read alone.

- Cross-modal retrieval, text-to-image and image-to-text, R@1/5/10 and mean rank, per language. A query may
  have several correct answers (many scenes share the caption "red circle"): a hit is any of them.
- Text retrieval: find the English name of a country, language or currency from its name in another
  language (R@1, nDCG@10).
- STS: Spearman correlation of cosine similarity with graded similarity scores.
- Zero-shot classification: handwritten digits against number words in each language.
- Chart retrieval: long descriptions to charts.
- Hard-negative accuracy: does an image prefer its caption over the same caption with one attribute changed?
- Matryoshka curves: every function takes ``dim`` (truncate, then re-normalise);
  ``jclip_lab.matryoshka.dimension_sweep`` sweeps it.

``evaluate_world`` runs them all on a world's test split and returns a tidy :class:`Report`. The same code
evaluates the real jina-clip-v2, which has the same ``encode_*`` API.

Example:
    >>> import numpy as np
    >>> scores = np.eye(3)                       # 3 queries, 3 documents, query i matches document i
    >>> retrieval_metrics(scores, [{0}, {1}, {2}])["R@1"]
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

from jclip_lab.viz import format_table
from jclip_lab.world import CAPTION_LANGUAGES, TEXT_LANGUAGES, TRANSFER_LANGUAGES, World
from jclip_lab.world.languages import check_language

KS = (1, 5, 10)


# ---------------------------------------------------------------- metrics of a score matrix


def retrieval_metrics(scores: np.ndarray, relevant: Sequence[set[int]], ks: Iterable[int] = KS) -> dict[str, float]:
    """Recall@k (a query counts as a hit if any relevant document is in its top k) and the mean rank.

    Args:
        scores: (queries, documents) similarities, higher is better.
        relevant: for each query, the set of indices of its correct documents (at least one).

    Example:
        >>> scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.1, 0.3]])
        >>> m = retrieval_metrics(scores, [{0}, {1}])
        >>> m["R@1"], m["R@5"], m["mean_rank"]
        (0.5, 1.0, 2.0)
    """
    _check_relevant(scores, relevant)
    order = np.argsort(-scores, axis=1, kind="stable")
    first_hit = np.array(
        [next(r for r, doc in enumerate(row) if doc in rel) for row, rel in zip(order, relevant, strict=True)]
    )
    metrics = {f"R@{k}": float(np.mean(first_hit < k)) for k in ks}
    metrics["mean_rank"] = float(np.mean(first_hit + 1))
    return metrics


def ndcg_at_10(scores: np.ndarray, relevant: Sequence[set[int]]) -> float:
    """nDCG@10 with binary relevance, averaged over queries.

    Example:
        >>> ndcg_at_10(np.array([[0.1, 0.9]]), [{1}])
        1.0
    """
    _check_relevant(scores, relevant)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    gains = []
    for row, rel in zip(order, relevant, strict=True):
        dcg = sum(1 / math.log2(rank + 2) for rank, doc in enumerate(row) if doc in rel)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(rel), 10)))
        gains.append(dcg / ideal)
    return float(np.mean(gains))


def chance_retrieval(num_documents: int, relevant: Sequence[set[int]], ks: Iterable[int] = KS) -> dict[str, float]:
    """What a random ranking scores in expectation: R@k = 1 - C(N-r, k) / C(N, k); mean rank = (N+1)/(r+1).

    Example:
        >>> round(chance_retrieval(10, [{0}])["R@1"], 3)
        0.1
    """
    sizes = [len(rel) for rel in relevant]

    def hit_probability(r: int, k: int) -> float:
        return 1.0 if k >= num_documents else 1 - math.comb(num_documents - r, k) / math.comb(num_documents, k)

    metrics = {f"R@{k}": float(np.mean([hit_probability(r, k) for r in sizes])) for k in ks}
    metrics["mean_rank"] = float(np.mean([(num_documents + 1) / (r + 1) for r in sizes]))
    return metrics


def chance_ndcg_at_10(num_documents: int) -> float:
    """Expected nDCG@10 of a random ranking with one relevant document among ``num_documents``."""
    return sum(1 / math.log2(rank + 2) for rank in range(min(10, num_documents))) / num_documents


def _check_relevant(scores: np.ndarray, relevant: Sequence[set[int]]) -> None:
    if scores.ndim != 2 or scores.shape[0] != len(relevant):
        raise ValueError(f"scores {scores.shape} must be (queries, documents) with one relevant set per query.")
    if any(not rel for rel in relevant):
        raise ValueError("Every query needs at least one relevant document.")


# ---------------------------------------------------------------- embedding with a memo


class Embedder:
    """Embeds texts and world images through a model's ``encode_text`` / ``encode_image``, each item once.

    Args:
        model: anything with jina-clip-v2's ``encode_text`` and ``encode_image``.
        world: the world whose images are embedded (by index).
        image_size: resolution to feed (default: the model's ``config.image_size``, else the profile's).
        batch_size: items per forward pass.
    """

    def __init__(self, model, world: World, image_size: int | None = None, batch_size: int = 256) -> None:
        self.model, self.world, self.batch_size = model, world, batch_size
        config = getattr(model, "config", None)
        self.image_size = image_size or getattr(config, "image_size", None) or world.profile.image_size
        self._texts: dict[str, np.ndarray] = {}
        self._images: dict[int, np.ndarray] = {}

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings (N, dim) of ``texts``."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        if missing:
            vectors = self.model.encode_text(missing, batch_size=self.batch_size, normalize_embeddings=True)
            self._texts.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.stack([self._texts[t] for t in texts])

    def images(self, indices: Sequence[int]) -> np.ndarray:
        """Unit-norm embeddings (N, dim) of world images ``indices``."""
        missing = list(dict.fromkeys(i for i in indices if i not in self._images))
        if missing:
            images = [np.asarray(self.world.pixels(self.image_size)[i]) for i in missing]
            vectors = self.model.encode_image(images, batch_size=self.batch_size, normalize_embeddings=True)
            self._images.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.stack([self._images[i] for i in indices])


def _cosine(a: np.ndarray, b: np.ndarray, dim: int | None) -> np.ndarray:
    """Cosine similarities of the first ``dim`` dims (re-normalised), as Matryoshka truncation does."""
    if dim is not None:
        a = a[:, :dim] / np.linalg.norm(a[:, :dim], axis=1, keepdims=True)
        b = b[:, :dim] / np.linalg.norm(b[:, :dim], axis=1, keepdims=True)
    return a @ b.T


# ---------------------------------------------------------------- the tasks


@dataclass
class Result:
    """One measured metric beside its chance level."""

    task: str
    subset: str
    metric: str
    value: float
    chance: float


def cross_modal_retrieval(
    embedder: Embedder,
    indices: Sequence[int],
    language: str,
    long: bool = False,
    dim: int | None = None,
) -> dict[str, dict[str, float]]:
    """Text-to-image and image-to-text retrieval among the images ``indices``, with captions in ``language``.

    Queries are the distinct captions; the images sharing a caption are all correct answers.

    Returns:
        ``{"t2i": metrics, "i2t": metrics, "t2i_chance": ..., "i2t_chance": ...}``.
    """
    check_language(language, TEXT_LANGUAGES)
    captions = embedder.world.captions(list(indices), language, long=long)
    distinct = list(dict.fromkeys(captions))
    position = {caption: i for i, caption in enumerate(distinct)}
    scores = _cosine(embedder.texts(distinct), embedder.images(indices), dim)
    images_of = [set() for _ in distinct]
    for image, caption in enumerate(captions):
        images_of[position[caption]].add(image)
    caption_of = [{position[caption]} for caption in captions]
    return {
        "t2i": retrieval_metrics(scores, images_of),
        "i2t": retrieval_metrics(scores.T, caption_of),
        "t2i_chance": chance_retrieval(len(indices), images_of),
        "i2t_chance": chance_retrieval(len(distinct), caption_of),
    }


def text_retrieval(
    embedder: Embedder, pairs: Sequence[dict], dim: int | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Find each pair's ``a`` (the corpus: all distinct ``a`` texts) from its ``b``; R@1, R@10 and nDCG@10.

    Returns:
        (metrics, chance levels).
    """
    corpus = list(dict.fromkeys(p["a"] for p in pairs))
    position = {text: i for i, text in enumerate(corpus)}
    relevant = [{position[p["a"]]} for p in pairs]
    scores = _cosine(embedder.texts([p["b"] for p in pairs]), embedder.texts(corpus), dim)
    metrics = retrieval_metrics(scores, relevant, ks=(1, 10))
    chance = chance_retrieval(len(corpus), relevant, ks=(1, 10))
    metrics["nDCG@10"], chance["nDCG@10"] = ndcg_at_10(scores, relevant), chance_ndcg_at_10(len(corpus))
    return metrics, chance


def sts_spearman(embedder: Embedder, pairs: Sequence[dict], dim: int | None = None) -> float:
    """Spearman correlation (x100, as MTEB reports it) of cosine similarity with the pairs' graded ``score``."""
    a, b = embedder.texts([p["a"] for p in pairs]), embedder.texts([p["b"] for p in pairs])
    if dim is not None:
        a, b = a[:, :dim], b[:, :dim]
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(100 * spearmanr(cosine, [p["score"] for p in pairs]).statistic)


def zero_shot_digits(embedder: Embedder, indices: Sequence[int], language: str, dim: int | None = None) -> float:
    """Accuracy of classifying handwritten digits by the nearest number word ("sieben") in ``language``."""
    from jclip_lab.world.cldr import number_words

    labels = np.array([int(embedder.world.images[i]["group"]) for i in indices])
    prompts = [number_words(digit, language) for digit in range(10)]
    scores = _cosine(embedder.images(indices), embedder.texts(prompts), dim)
    return float(np.mean(scores.argmax(axis=1) == labels))


def hard_negative_accuracy(embedder: Embedder, indices: Sequence[int], language: str, dim: int | None = None) -> float:
    """How often an image is closer to its caption than to the caption with one attribute changed."""
    images = embedder.images(indices)
    true = embedder.texts([embedder.world.images[i]["short"][language] for i in indices])
    negative = embedder.texts([embedder.world.images[i]["negative"][language] for i in indices])
    if dim is not None:
        images, true, negative = images[:, :dim], true[:, :dim], negative[:, :dim]
    norm = np.linalg.norm
    true_cos = np.sum(images * true, axis=1) / (norm(images, axis=1) * norm(true, axis=1))
    negative_cos = np.sum(images * negative, axis=1) / (norm(images, axis=1) * norm(negative, axis=1))
    return float(np.mean(true_cos > negative_cos))


# ---------------------------------------------------------------- the whole world


@dataclass
class Report:
    """A tidy list of :class:`Result` rows with lookups and a printable table."""

    results: list[Result] = field(default_factory=list)

    def add(self, task: str, subset: str, metric: str, value: float, chance: float) -> None:
        self.results.append(Result(task, subset, metric, value, chance))

    def get(self, task: str, metric: str, subset: str = "all") -> float:
        """The value of one metric, e.g. ``report.get("t2i", "R@1", "en")``."""
        for r in self.results:
            if (r.task, r.metric, r.subset) == (task, metric, subset):
                return r.value
        raise KeyError(f"No result for task={task!r}, metric={metric!r}, subset={subset!r}.")

    def chance(self, task: str, metric: str, subset: str = "all") -> float:
        """The chance level of one metric."""
        return next(r.chance for r in self.results if (r.task, r.metric, r.subset) == (task, metric, subset))

    def table(self, tasks: Iterable[str] | None = None, subsets: Iterable[str] | None = ("all",)) -> str:
        """Printable table of the results (of some tasks and subsets), three decimals, chance beside each."""
        tasks = set(tasks) if tasks is not None else None
        subsets = set(subsets) if subsets is not None else None
        rows = [
            [r.task, r.subset, r.metric, r.value, r.chance]
            for r in self.results
            if (tasks is None or r.task in tasks) and (subsets is None or r.subset in subsets)
        ]
        return format_table(rows, ["task", "subset", "metric", "value", "chance"])

    def to_dict(self) -> dict[str, float]:
        """``{"task/subset/metric": value}``, e.g. for a JSON log."""
        return {f"{r.task}/{r.subset}/{r.metric}": r.value for r in self.results}


def _mean(values: list[float]) -> float:
    return float(np.mean(values))


def evaluate_world(
    model,
    world: World,
    split: str = "test",
    languages: Sequence[str] = CAPTION_LANGUAGES,
    dim: int | None = None,
    image_size: int | None = None,
    embedder: Embedder | None = None,
) -> Report:
    """Every benchmark on ``world``'s ``split`` (and the compositional split), in one :class:`Report`.

    Rows (task / subset / metric): ``t2i`` and ``i2t`` per language, ``all`` (the mean over languages),
    ``seen`` and ``transfer`` (languages with and without image captions in training), ``t2i_source`` (per
    source: scenes, emoji, flags, digits; mean over languages),
    ``t2i_long`` (long captions), ``compositional`` (held-out colour-shape pairs), ``charts``, ``text_retrieval``
    (translation of CLDR names, per kind), ``sts`` (Spearman x100, per language and ``all``), ``zero_shot``
    (digits), ``hard_negative`` (accuracy).

    Args:
        model: anything with ``encode_text`` and ``encode_image``.
        world: the world to evaluate on.
        split: ``test`` (or ``val`` while tuning).
        languages: caption languages to report.
        dim: evaluate embeddings truncated to this many dims (Matryoshka); None keeps them whole.
        image_size: image resolution to feed the model (default: its ``config.image_size``).
        embedder: reuse an :class:`Embedder`'s memo (e.g. across dims).

    Example:
        >>> report = evaluate_world(model, world)           # doctest: +SKIP
        >>> print(report.table(["t2i", "sts"]))             # doctest: +SKIP
    """
    embedder = embedder or Embedder(model, world, image_size)
    report = Report()
    scenes_digits_emoji_flags = [i for i in world.select(split=split) if world.images[i]["source"] != "charts"]
    for direction in ("t2i", "i2t"):
        per_language = {}
        for language in languages:
            indices = [i for i in scenes_digits_emoji_flags if language in world.images[i]["short"]]
            result = cross_modal_retrieval(embedder, indices, language, dim=dim)
            per_language[language] = result
            for metric in ("R@1", "R@5", "R@10"):
                report.add(
                    direction, language, metric, result[direction][metric], result[f"{direction}_chance"][metric]
                )
        groups = {
            "all": list(per_language),
            "seen": [lang for lang in per_language if lang not in TRANSFER_LANGUAGES],
            "transfer": [lang for lang in per_language if lang in TRANSFER_LANGUAGES],
        }
        for subset, group in groups.items():
            for metric in ("R@1", "R@5", "R@10", "mean_rank") if group else ():
                value = _mean([per_language[lang][direction][metric] for lang in group])
                chance = _mean([per_language[lang][f"{direction}_chance"][metric] for lang in group])
                report.add(direction, subset, metric, value, chance)
    for source in ("scenes", "emoji", "flags", "digits"):
        results = [
            cross_modal_retrieval(embedder, world.select(source, split, lang), lang, dim=dim) for lang in languages
        ]
        for metric in ("R@1", "R@5"):
            value = _mean([r["t2i"][metric] for r in results])
            report.add("t2i_source", source, metric, value, _mean([r["t2i_chance"][metric] for r in results]))
    scenes = world.select("scenes", split)
    compositional = world.select("scenes", "compositional")
    for task, indices, long in (("t2i_long", scenes, True), ("compositional", compositional, False)):
        results = [cross_modal_retrieval(embedder, indices, lang, long=long, dim=dim) for lang in languages]
        for metric in ("R@1", "R@5"):
            report.add(
                task,
                "all",
                metric,
                _mean([r["t2i"][metric] for r in results]),
                _mean([r["t2i_chance"][metric] for r in results]),
            )
    charts = cross_modal_retrieval(embedder, world.select("charts", split), "en", long=True, dim=dim)
    for metric in ("R@1", "R@5"):
        report.add("charts", "en", metric, charts["t2i"][metric], charts["t2i_chance"][metric])
    for kind in ("country", "language", "currency"):
        pairs = [p for p in world.text_pairs if p["split"] == split and p["kind"] == kind and p["lang_a"] == "en"]
        metrics, chance = text_retrieval(embedder, pairs, dim=dim)
        for metric in ("R@1", "nDCG@10"):
            report.add("text_retrieval", kind, metric, metrics[metric], chance[metric])
    sts = {
        lang: sts_spearman(embedder, [p for p in world.sts if p["split"] == split and p["lang"] == lang], dim)
        for lang in languages
    }
    for language, value in sts.items():
        report.add("sts", language, "spearman", value, 0.0)
    report.add("sts", "all", "spearman", _mean(list(sts.values())), 0.0)
    digits = world.select("digits", split)
    zero_shot = [zero_shot_digits(embedder, digits, lang, dim) for lang in languages]
    report.add("zero_shot", "all", "accuracy", _mean(zero_shot), 0.1)
    hard = [hard_negative_accuracy(embedder, scenes, lang, dim) for lang in languages]
    report.add("hard_negative", "all", "accuracy", _mean(hard), 0.5)
    return report
