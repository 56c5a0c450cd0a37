"""Metrics of a score matrix, each with its chance level: what a random ranking scores in expectation.

A number is never read alone: R@1 = 0.2 is excellent among 1,000 images and poor among 5. Every metric here has
a closed-form chance level, tested against random rankings.

Example:
    >>> scores = np.eye(3)                       # 3 queries, 3 documents, query i matches document i
    >>> retrieval_metrics(scores, [{0}, {1}, {2}])["R@1"]
    1.0
    >>> chance_accuracy(num_classes=10)
    0.1
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

KS = (1, 5, 10)
CHANCE_PAIRWISE = 0.5  # a random model prefers either of two candidates half the time
CHANCE_CORRELATION = 0.0  # a random similarity is uncorrelated with any graded score


def check_scores(scores: np.ndarray, relevant: Sequence[set[int]]) -> None:
    """Raise a ValueError unless ``scores`` is a finite (queries, documents) matrix with a non-empty set per query.

    A diverged model gives NaN similarities; ranking them would give plausible-looking numbers, so it is an error.

    Example:
        >>> check_scores(np.array([[np.nan, 1.0]]), [{0}])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: 1 of 2 scores are NaN or infinite (the model diverged, or its embeddings are broken)...
    """
    if scores.ndim != 2 or scores.shape[0] != len(relevant):
        raise ValueError(f"scores {scores.shape} must be (queries, documents) with one relevant set per query.")
    finite = np.isfinite(scores)
    if not finite.all():
        raise ValueError(
            f"{int((~finite).sum())} of {scores.size} scores are NaN or infinite (the model diverged, or its "
            "embeddings are broken); there is nothing to rank."
        )
    if any(not rel for rel in relevant):
        raise ValueError("Every query needs at least one relevant document.")


def first_hit_ranks(scores: np.ndarray, relevant: Sequence[set[int]]) -> np.ndarray:
    """For each query, the 0-based rank of its best-ranked relevant document (ties keep document order).

    Example:
        >>> first_hit_ranks(np.array([[0.9, 0.1, 0.5]]), [{1, 2}])
        array([1])
    """
    check_scores(scores, relevant)
    order = np.argsort(-scores, axis=1, kind="stable")
    is_relevant = np.zeros(scores.shape, dtype=bool)
    for query, rel in enumerate(relevant):
        is_relevant[query, list(rel)] = True
    return np.argmax(np.take_along_axis(is_relevant, order, axis=1), axis=1)


def retrieval_metrics(scores: np.ndarray, relevant: Sequence[set[int]], ks: Iterable[int] = KS) -> dict[str, float]:
    """Recall@k (a query counts as a hit if any relevant document is in its top k) and the mean rank.

    Args:
        scores: (queries, documents) similarities, higher is better.
        relevant: for each query, the set of indices of its correct documents (at least one).
        ks: the cut-offs.

    Raises:
        ValueError: a NaN or infinite score, or a query with no relevant document.

    Example:
        >>> scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.1, 0.3]])
        >>> m = retrieval_metrics(scores, [{0}, {1}])
        >>> m["R@1"], m["R@5"], m["mean_rank"]
        (0.5, 1.0, 2.0)
    """
    first_hit = first_hit_ranks(scores, relevant)
    metrics = {f"R@{k}": float(np.mean(first_hit < k)) for k in ks}
    metrics["mean_rank"] = float(np.mean(first_hit + 1))
    return metrics


def ndcg_at_10(scores: np.ndarray, relevant: Sequence[set[int]]) -> float:
    """nDCG@10 with binary relevance, averaged over queries (MTEB's main retrieval metric).

    ``DCG = sum_{rank r < 10, doc relevant} 1 / log2(r + 2)``, divided by the DCG of a perfect ranking. Written
    out here because it is short and the lab teaches it; tests check it against ``sklearn.metrics.ndcg_score``.

    Example:
        >>> ndcg_at_10(np.array([[0.1, 0.9]]), [{1}])
        1.0
    """
    check_scores(scores, relevant)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    gains = []
    for row, rel in zip(order, relevant, strict=True):
        dcg = sum(1 / math.log2(rank + 2) for rank, doc in enumerate(row) if doc in rel)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(rel), 10)))
        gains.append(dcg / ideal)
    return float(np.mean(gains))


def chance_retrieval(num_documents: int, relevant: Sequence[set[int]], ks: Iterable[int] = KS) -> dict[str, float]:
    """What a random ranking scores in expectation: R@k = 1 - C(N-r, k) / C(N, k); mean rank = (N+1)/(r+1).

    ``r`` is the number of relevant documents of a query: the chance that none of them is among k random picks
    out of N is C(N-r, k) / C(N, k).

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
    """Expected nDCG@10 of a random ranking with one relevant document among ``num_documents``.

    Example:
        >>> chance_ndcg_at_10(1)
        1.0
    """
    return sum(1 / math.log2(rank + 2) for rank in range(min(10, num_documents))) / num_documents


def chance_accuracy(num_classes: int) -> float:
    """Accuracy of guessing among ``num_classes`` classes at random (zero-shot classification).

    Example:
        >>> chance_accuracy(4)
        0.25
    """
    return 1 / num_classes
