"""Evaluation: metrics with their chance levels, an embedding memo, the world's benchmarks, and the report.

- ``metrics``: R@k, mean rank, nDCG@10 of a score matrix, and the chance level of each.
- ``embedder``: :class:`Embedder`, which embeds each text and image once.
- ``world_benchmarks``: one function per benchmark of the offline world, and :func:`evaluate_world`.
- ``report``: :class:`Report`, the tidy table of results.

The same code evaluates the real jina-clip-v2, which has the same ``encode_*`` API.

Example:
    >>> import numpy as np
    >>> retrieval_metrics(np.eye(3), [{0}, {1}, {2}])["R@1"]
    1.0
"""

from jclip_lab.evaluate.embedder import Embedder
from jclip_lab.evaluate.metrics import (
    KS,
    chance_accuracy,
    chance_ndcg_at_10,
    chance_retrieval,
    ndcg_at_10,
    retrieval_metrics,
)
from jclip_lab.evaluate.report import Report, Result
from jclip_lab.evaluate.world_benchmarks import (
    BENCHMARKS,
    PER_CAPTION,
    SHARED_CAPTIONS,
    cross_modal_retrieval,
    evaluate_world,
    hard_negative_accuracy,
    sts_spearman,
    text_retrieval,
    zero_shot_digits,
)

__all__ = [
    "BENCHMARKS",
    "KS",
    "PER_CAPTION",
    "SHARED_CAPTIONS",
    "Embedder",
    "Report",
    "Result",
    "chance_accuracy",
    "chance_ndcg_at_10",
    "chance_retrieval",
    "cross_modal_retrieval",
    "evaluate_world",
    "hard_negative_accuracy",
    "ndcg_at_10",
    "retrieval_metrics",
    "sts_spearman",
    "text_retrieval",
    "zero_shot_digits",
]
