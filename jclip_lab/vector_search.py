"""What an index of embeddings costs: its size on disk or in memory, and the time of one exact search.

These are the numbers a Matryoshka dimension trades against quality: an index of ``dim``-dimensional vectors
takes ``dim * bytes per number`` per vector, and a brute-force search reads all of it.

Example:
    >>> index_megabytes(1024), index_megabytes(256, dtype="int8")
    (4096.0, 256.0)
"""

from __future__ import annotations

import functools
import time

import numpy as np
from threadpoolctl import threadpool_limits

BYTES_PER_NUMBER: dict[str, int] = {"float32": 4, "float16": 2, "int8": 1}


def index_megabytes(dim: int, vectors: int = 1_000_000, dtype: str = "float32") -> float:
    """Size in MB (10^6 bytes) of a flat index of ``vectors`` embeddings of ``dim`` numbers of type ``dtype``.

    Example:
        >>> index_megabytes(64, vectors=1000)
        0.256
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
