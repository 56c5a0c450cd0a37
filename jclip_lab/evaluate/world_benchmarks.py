"""The paper's benchmarks in miniature, on the offline world, for any model with ``encode_text`` / ``encode_image``.

One function per benchmark, each returning its :class:`~jclip_lab.evaluate.report.Result` rows with their chance
levels; :func:`evaluate_world` runs them all into one :class:`~jclip_lab.evaluate.report.Report`:

- cross-modal retrieval (text-to-image, image-to-text; R@1/5/10 per language, seen and transfer languages),
  per image source, with long captions, on held-out compositions, and for charts;
- text retrieval: a country's, language's or currency's English name from its name in another language
  (R@1, nDCG@10), the miniature of jina-clip-v2's MTEB retrieval;
- STS: Spearman correlation of cosine similarity with graded similarity (x100, as MTEB reports it);
- zero-shot classification of handwritten digits by their number words;
- hard-negative accuracy: does an image prefer its caption over the caption with one attribute changed?

Every function takes ``truncate_dim`` (use the first dims, re-normalised) for Matryoshka curves.

Example:
    >>> report = evaluate_world(model, world, languages=("en", "ja"))   # `model` and `world` as in the notebooks
    >>> 0 <= report.get("t2i", "R@1", "en") <= 1
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

from jclip_lab.evaluate.embedder import Embedder
from jclip_lab.evaluate.metrics import (
    CHANCE_CORRELATION,
    CHANCE_PAIRWISE,
    chance_accuracy,
    chance_ndcg_at_10,
    chance_retrieval,
    ndcg_at_10,
    retrieval_metrics,
)
from jclip_lab.evaluate.report import Report, Result
from jclip_lab.similarity import cosine_matrix, paired_cosine
from jclip_lab.world import CAPTION_LANGUAGES, TEXT_LANGUAGES, TRANSFER_LANGUAGES, World
from jclip_lab.world.cldr import number_words
from jclip_lab.world.languages import check_language

# How queries and correct answers are counted when several images share one caption text:
SHARED_CAPTIONS = "shared-captions"  # the world's: each distinct caption is one query; all its images are correct
PER_CAPTION = "per-caption"  # CLIP_benchmark's: each caption instance is a query; only its own image is correct
CONVENTIONS = (SHARED_CAPTIONS, PER_CAPTION)
PHOTO_SOURCES = ("scenes", "emoji", "flags", "digits")
DIGITS = 10


def cross_modal_retrieval(
    embedder: Embedder,
    indices: Sequence[int],
    language: str,
    long: bool = False,
    truncate_dim: int | None = None,
    convention: str = SHARED_CAPTIONS,
) -> dict[str, dict[str, float]]:
    """Text-to-image and image-to-text retrieval among the images ``indices``, with captions in ``language``.

    Args:
        embedder: embeds the captions and images.
        indices: the world images forming the gallery.
        language: the captions' language.
        long: use the long captions.
        truncate_dim: use the first dims of each embedding, re-normalised.
        convention: :data:`SHARED_CAPTIONS` (the default): each distinct caption is one query and every image
            sharing it is a correct answer (many scenes are "red circle"); :data:`PER_CAPTION`: CLIP_benchmark's
            convention, each image's caption is its own query with only that image correct (identical captions
            then tie, and the tie goes to the image listed first), and an image's correct caption is its own.

    Returns:
        ``{"t2i": metrics, "i2t": metrics, "t2i_chance": ..., "i2t_chance": ...}``.
    """
    check_language(language, TEXT_LANGUAGES)
    if convention not in CONVENTIONS:
        raise ValueError(f"Unknown convention {convention!r}; choose one of {CONVENTIONS}.")
    captions = embedder.world.captions(list(indices), language, long=long)
    if convention == PER_CAPTION:
        queries, images_of, caption_of = captions, [{i} for i in range(len(captions))], None
    else:
        queries = list(dict.fromkeys(captions))
        position = {caption: i for i, caption in enumerate(queries)}
        images_of = [set() for _ in queries]
        for image, caption in enumerate(captions):
            images_of[position[caption]].add(image)
        caption_of = [{position[caption]} for caption in captions]
    caption_of = caption_of or images_of  # per caption: image i's caption is query i
    scores = cosine_matrix(embedder.texts(queries), embedder.images(indices), truncate_dim)
    return {
        "t2i": retrieval_metrics(scores, images_of),
        "i2t": retrieval_metrics(scores.T, caption_of),
        "t2i_chance": chance_retrieval(len(indices), images_of),
        "i2t_chance": chance_retrieval(len(queries), caption_of),
    }


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))


def _mean_results(task: str, subset: str, results: Sequence[dict], metrics: Sequence[str]) -> list[Result]:
    """One row per metric: the text-to-image value and chance, averaged over ``results`` (e.g. languages)."""
    return [
        Result(task, m, subset, _mean([r["t2i"][m] for r in results]), _mean([r["t2i_chance"][m] for r in results]))
        for m in metrics
    ]


def photo_indices(world: World, split: str, language: str | None = None) -> list[int]:
    """The images of every photo-like source (all but charts) of ``split``, captioned in ``language``, in order."""
    return [i for i in world.select(None, split, language) if world.images[i]["source"] in PHOTO_SOURCES]


def retrieval_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``t2i`` and ``i2t`` R@1/5/10 per language over all photo sources, and averaged over ``all`` languages,
    the ``seen`` ones (captioned in training) and the ``transfer`` ones (met only through text pairs)."""
    results = []
    per_language = {
        language: cross_modal_retrieval(embedder, photo_indices(embedder.world, split, language), language,
                                        truncate_dim=truncate_dim)
        for language in languages
    }  # fmt: skip
    groups = {
        "all": list(per_language),
        "seen": [lang for lang in per_language if lang not in TRANSFER_LANGUAGES],
        "transfer": [lang for lang in per_language if lang in TRANSFER_LANGUAGES],
    }
    for direction in ("t2i", "i2t"):
        for language, result in per_language.items():
            results += [
                Result(direction, m, language, result[direction][m], result[f"{direction}_chance"][m])
                for m in ("R@1", "R@5", "R@10")
            ]
        for subset, group in groups.items():
            for metric in ("R@1", "R@5", "R@10", "mean_rank") if group else ():
                value = _mean([per_language[lang][direction][metric] for lang in group])
                chance = _mean([per_language[lang][f"{direction}_chance"][metric] for lang in group])
                results.append(Result(direction, metric, subset, value, chance))
    return results


def source_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``t2i_source``: text-to-image R@1 and R@5 within each photo source, averaged over ``languages``."""
    results = []
    for source in PHOTO_SOURCES:
        per_language = [
            cross_modal_retrieval(embedder, embedder.world.select(source, split, lang), lang, truncate_dim=truncate_dim)
            for lang in languages
        ]
        results += _mean_results("t2i_source", source, per_language, ("R@1", "R@5"))
    return results


def long_caption_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``t2i_long``: text-to-image R@1 and R@5 on the scenes with their long, detailed captions."""
    scenes = embedder.world.select("scenes", split)
    per_language = [cross_modal_retrieval(embedder, scenes, lang, True, truncate_dim) for lang in languages]
    return _mean_results("t2i_long", "all", per_language, ("R@1", "R@5"))


def compositional_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``compositional``: text-to-image R@1 and R@5 on scenes holding colour-shape pairs never seen in training.

    ``split`` is ignored: the held-out compositions form their own split.
    """
    scenes = embedder.world.select("scenes", "compositional")
    per_language = [cross_modal_retrieval(embedder, scenes, lang, False, truncate_dim) for lang in languages]
    return _mean_results("compositional", "all", per_language, ("R@1", "R@5"))


def chart_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``charts``: text-to-image R@1 and R@5 from English descriptions to charts (``languages`` is ignored)."""
    result = cross_modal_retrieval(embedder, embedder.world.select("charts", split), "en", True, truncate_dim)
    return _mean_results("charts", "en", [result], ("R@1", "R@5"))


def text_retrieval(
    embedder: Embedder, pairs: Sequence[dict], truncate_dim: int | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """Find each pair's ``a`` (the corpus: all distinct ``a`` texts) from its ``b``; R@1, R@10 and nDCG@10.

    Returns:
        (metrics, chance levels).
    """
    corpus = list(dict.fromkeys(p["a"] for p in pairs))
    position = {text: i for i, text in enumerate(corpus)}
    relevant = [{position[p["a"]]} for p in pairs]
    scores = cosine_matrix(embedder.texts([p["b"] for p in pairs]), embedder.texts(corpus), truncate_dim)
    metrics = retrieval_metrics(scores, relevant, ks=(1, 10))
    chance = chance_retrieval(len(corpus), relevant, ks=(1, 10))
    metrics["nDCG@10"], chance["nDCG@10"] = ndcg_at_10(scores, relevant), chance_ndcg_at_10(len(corpus))
    return metrics, chance


def text_retrieval_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``text_retrieval``: R@1 and nDCG@10 of English country, language and currency names from their names in
    every other language of the world (``languages`` is ignored)."""
    results = []
    for kind in ("country", "language", "currency"):
        pairs = [
            p for p in embedder.world.text_pairs if p["split"] == split and p["kind"] == kind and p["lang_a"] == "en"
        ]
        metrics, chance = text_retrieval(embedder, pairs, truncate_dim)
        results += [Result("text_retrieval", m, kind, metrics[m], chance[m]) for m in ("R@1", "nDCG@10")]
    return results


def sts_spearman(embedder: Embedder, pairs: Sequence[dict], truncate_dim: int | None = None) -> float:
    """Spearman correlation (x100, as MTEB reports it) of cosine similarity with the pairs' graded ``score``.

    NaN when the model gives every pair the same cosine (a tokenizer that reads a whole script as one unknown
    token does): a correlation with a constant is undefined.
    """
    a, b = embedder.texts([p["a"] for p in pairs]), embedder.texts([p["b"] for p in pairs])
    cosines = paired_cosine(a, b, truncate_dim)
    if np.ptp(cosines) == 0:  # scipy would warn and return NaN
        return float("nan")
    return float(100 * spearmanr(cosines, [p["score"] for p in pairs]).statistic)


def sts_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``sts``: Spearman x100 per language and averaged over ``all`` (chance: 0, no correlation)."""
    sts = embedder.world.sts
    values = {
        lang: sts_spearman(embedder, [p for p in sts if p["split"] == split and p["lang"] == lang], truncate_dim)
        for lang in languages
    }
    results = [Result("sts", "spearman", lang, value, CHANCE_CORRELATION) for lang, value in values.items()]
    return results + [Result("sts", "spearman", "all", _mean(list(values.values())), CHANCE_CORRELATION)]


def zero_shot_digits(
    embedder: Embedder, indices: Sequence[int], language: str, truncate_dim: int | None = None
) -> float:
    """Accuracy of classifying handwritten digits by the nearest number word ("sieben") in ``language``."""
    labels = np.array([int(embedder.world.images[i]["group"]) for i in indices])
    prompts = [number_words(digit, language) for digit in range(DIGITS)]
    scores = cosine_matrix(embedder.images(indices), embedder.texts(prompts), truncate_dim)
    return float(np.mean(scores.argmax(axis=1) == labels))


def zero_shot_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``zero_shot``: digit classification accuracy averaged over ``languages`` (chance: 1 in 10)."""
    digits = embedder.world.select("digits", split)
    accuracy = _mean([zero_shot_digits(embedder, digits, lang, truncate_dim) for lang in languages])
    return [Result("zero_shot", "accuracy", "all", accuracy, chance_accuracy(DIGITS))]


def hard_negative_accuracy(
    embedder: Embedder, indices: Sequence[int], language: str, truncate_dim: int | None = None
) -> float:
    """How often an image is closer to its caption than to the caption with one attribute changed."""
    images = embedder.images(indices)
    true = embedder.texts([embedder.world.images[i]["short"][language] for i in indices])
    negative = embedder.texts([embedder.world.images[i]["negative"][language] for i in indices])
    return float(np.mean(paired_cosine(images, true, truncate_dim) > paired_cosine(images, negative, truncate_dim)))


def hard_negative_benchmark(
    embedder: Embedder, split: str, languages: Sequence[str], truncate_dim: int | None = None
) -> list[Result]:
    """``hard_negative``: pairwise accuracy on scenes averaged over ``languages`` (chance: 1 in 2)."""
    scenes = embedder.world.select("scenes", split)
    accuracy = _mean([hard_negative_accuracy(embedder, scenes, lang, truncate_dim) for lang in languages])
    return [Result("hard_negative", "accuracy", "all", accuracy, CHANCE_PAIRWISE)]


Benchmark = Callable[[Embedder, str, Sequence[str], "int | None"], list[Result]]
# Every benchmark, with the report's task names its rows carry.
BENCHMARKS: dict[Benchmark, tuple[str, ...]] = {
    retrieval_benchmark: ("t2i", "i2t"),
    source_benchmark: ("t2i_source",),
    long_caption_benchmark: ("t2i_long",),
    compositional_benchmark: ("compositional",),
    chart_benchmark: ("charts",),
    text_retrieval_benchmark: ("text_retrieval",),
    sts_benchmark: ("sts",),
    zero_shot_benchmark: ("zero_shot",),
    hard_negative_benchmark: ("hard_negative",),
}


def evaluate_world(
    model,
    world: World,
    split: str = "test",
    languages: Sequence[str] = CAPTION_LANGUAGES,
    truncate_dim: int | None = None,
    image_size: int | None = None,
    embedder: Embedder | None = None,
    tasks: Sequence[str] | None = None,
) -> Report:
    """Every benchmark of :data:`BENCHMARKS` (or those giving ``tasks``) on ``world``'s ``split``, in one
    :class:`Report`.

    Rows (task / metric / subset): ``t2i`` and ``i2t`` per language and ``all``, ``seen``, ``transfer``;
    ``t2i_source`` per source; ``t2i_long``; ``compositional``; ``charts``; ``text_retrieval`` per kind; ``sts``
    per language and ``all``; ``zero_shot``; ``hard_negative``.

    Args:
        model: anything with ``encode_text`` and ``encode_image``.
        world: the world to evaluate on.
        split: ``test`` (or ``val`` while tuning).
        languages: caption languages to report.
        truncate_dim: evaluate embeddings truncated to this many dims (Matryoshka); None keeps them whole.
        image_size: image resolution to feed the model (default: its ``config.image_size``).
        embedder: reuse an :class:`Embedder`'s memo (e.g. across dims).
        tasks: run only the benchmarks whose rows carry these task names (e.g. ``["sts", "text_retrieval"]``).

    Raises:
        ValueError: a name in ``tasks`` no benchmark gives.
    """
    known = {task for names in BENCHMARKS.values() for task in names}
    unknown = sorted(set(tasks or ()) - known)
    if unknown:
        raise ValueError(f"Unknown task(s) {unknown}; the benchmarks give {sorted(known)}.")
    embedder = embedder or Embedder(model, world, image_size)
    chosen = [b for b, names in BENCHMARKS.items() if tasks is None or set(names) & set(tasks)]
    return Report([row for benchmark in chosen for row in benchmark(embedder, split, languages, truncate_dim)])
