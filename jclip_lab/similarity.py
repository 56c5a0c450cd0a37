"""Cosine similarity of embeddings, optionally of their first ``truncate_dim`` dims: the one place it is computed.

A Matryoshka embedding is used at a smaller size by keeping its first ``truncate_dim`` numbers and
re-normalising them to unit length (Kusupati et al. 2022, arXiv:2205.13147); cosines are then dot products.
Evaluation, the dimension sweep and the embedding-space maps all call these functions.

Example:
    >>> import numpy as np
    >>> a = np.array([[3.0, 4.0, 12.0]])
    >>> truncate(a, 2)
    array([[0.6, 0.8]])
    >>> cosine_matrix(a, a, truncate_dim=2)
    array([[1.]])
"""

from __future__ import annotations

import numpy as np


def truncate(vectors: np.ndarray, truncate_dim: int | None = None) -> np.ndarray:
    """The first ``truncate_dim`` dims of each row, re-normalised to unit length (all dims when ``None``).

    Raises:
        ValueError: if a row is zero (or NaN) in those dims: it has no direction, so no cosine.

    Example:
        >>> truncate(np.array([[1.0, 1.0], [0.0, 2.0]]))
        array([[0.70710678, 0.70710678],
               [0.        , 1.        ]])
    """
    vectors = np.asarray(vectors)[..., :truncate_dim]
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        bad = np.flatnonzero(~np.isfinite(norms) | (norms == 0))[:5].tolist()
        raise ValueError(
            f"Embeddings {bad} are zero or not finite (NaN/inf) in their first {vectors.shape[-1]} dims: a diverged "
            "or broken model; they have no direction to compare."
        )
    return vectors / norms


def cosine_matrix(a: np.ndarray, b: np.ndarray, truncate_dim: int | None = None) -> np.ndarray:
    """``(len(a), len(b))`` cosine similarities of every row of ``a`` with every row of ``b``.

    Example:
        >>> cosine_matrix(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 1.0]])).round(3)
        array([[0.707, 0.   ]])
    """
    return truncate(a, truncate_dim) @ truncate(b, truncate_dim).T


def paired_cosine(a: np.ndarray, b: np.ndarray, truncate_dim: int | None = None) -> np.ndarray:
    """The cosine of each row of ``a`` with the same row of ``b``, shape ``(N,)``.

    Example:
        >>> paired_cosine(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 1.0]]))
        array([1., 0.])
    """
    return np.sum(truncate(a, truncate_dim) * truncate(b, truncate_dim), axis=-1)
