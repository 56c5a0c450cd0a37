"""The geometry of the shared embedding space: points to project, the modality gap, cross-lingual alignment.

- :func:`collect_points` embeds images and their captions in several languages, each point labelled with its
  modality, language and class, ready for :func:`project` (UMAP or PCA to 2-D) and ``viz.plot_projection``.
- :func:`modality_gap`: CLIP-like models put images and texts in two separate cones; the distance between the two
  centroids of the unit-norm embeddings measures it (Liang et al. 2022, "Mind the Gap", arXiv:2203.02053).
- :func:`translation_matrix`: for every pair of languages (A, B), how often a caption in A finds the same
  scene's caption in B, and the mean cosine of the translations.
- :func:`nearest_captions`: image-to-text retrieval in several languages at once, for a gallery.

Example:
    >>> images = np.array([[1.0, 0.0], [1.0, 0.0]])
    >>> texts = np.array([[0.0, 1.0], [0.0, 1.0]])
    >>> round(modality_gap(images, texts), 3)           # sqrt(2): the centroids are orthogonal unit vectors
    1.414
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from jclip_lab.evaluate import Embedder, retrieval_metrics
from jclip_lab.similarity import cosine_matrix, truncate

# ---------------------------------------------------------------- points and projections


@dataclass
class Points:
    """Embeddings with three labels each, for plots of the space.

    Attributes:
        vectors: unit-norm embeddings ``(N, D)``.
        modality: ``"image"`` or ``"text"`` per point.
        language: the caption's language, or ``"image"`` for an image.
        label: the point's class (by default the image's source: scenes, emoji, flags, digits).
    """

    vectors: np.ndarray
    modality: list[str]
    language: list[str]
    label: list[str]


def collect_points(
    embedder: Embedder,
    indices: Sequence[int],
    languages: Sequence[str],
    label: Callable[[dict], str] = lambda record: record["source"],
) -> Points:
    """Each image of ``indices``, then its caption in each of ``languages``, embedded and labelled.

    Example:
        >>> digits = world.select("digits", "test")[:5]
        >>> points = collect_points(Embedder(model, world), digits, ["en", "ja"])
        >>> len(points.modality), points.language[:3]
        (15, ['image', 'image', 'image'])
    """
    records = [embedder.world.images[i] for i in indices]
    vectors = [embedder.images(indices)]
    modality, language, labels = ["image"] * len(indices), ["image"] * len(indices), [label(r) for r in records]
    for lang in languages:
        vectors.append(embedder.texts(embedder.world.captions(list(indices), lang)))
        modality += ["text"] * len(indices)
        language += [lang] * len(indices)
        labels += [label(r) for r in records]
    return Points(np.concatenate(vectors), modality, language, labels)


def project(vectors: np.ndarray, method: str = "umap", seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D coordinates of ``vectors``: ``"umap"`` (cosine metric, a short fixed-seed run) or ``"pca"``.

    UMAP's first call in a Python process compiles its numba kernels (10-20 s on a 2-core CPU); later calls take
    well under a second for a few hundred points. PCA is instant and linear: distances along its axes are real
    distances, while UMAP keeps neighbourhoods and distorts the rest.

    Example:
        >>> project(np.eye(4), method="pca").shape
        (4, 2)
    """
    if method == "pca":
        centred = vectors - vectors.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        return centred @ components[:2].T
    if method != "umap":
        raise ValueError(f"Unknown projection {method!r}; valid: umap, pca")
    with warnings.catch_warnings():  # umap and numba warn about threads and deprecations: nothing to act on
        warnings.simplefilter("ignore")
        import umap

        reducer = umap.UMAP(
            n_neighbors=n_neighbors, metric="cosine", n_epochs=200, random_state=seed, n_jobs=1, low_memory=True
        )
        return reducer.fit_transform(vectors)


# ---------------------------------------------------------------- the modality gap


def modality_gap(images: np.ndarray, texts: np.ndarray) -> float:
    """Euclidean distance between the centroids of the L2-normalised image and text embeddings.

    0 when both modalities share a centroid; up to 2 when they sit at opposite poles.

    Example:
        >>> modality_gap(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
        0.0
    """
    return float(np.linalg.norm(truncate(images).mean(axis=0) - truncate(texts).mean(axis=0)))


def paired_embeddings(
    embedder: Embedder, indices: Sequence[int], languages: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Image embeddings and caption embeddings for ``indices``, the captions in each of ``languages`` in turn.

    Returns:
        ``(images (N, D), texts (N * len(languages), D))``.

    Example:
        >>> images, texts = paired_embeddings(Embedder(model, world), world.select("emoji", "test"), ["en", "de"])
        >>> texts.shape[0] == 2 * images.shape[0]
        True
    """
    texts = [embedder.texts(embedder.world.captions(list(indices), lang)) for lang in languages]
    return embedder.images(indices), np.concatenate(texts)


# ---------------------------------------------------------------- cross-lingual alignment


def translation_matrix(
    embedder: Embedder, indices: Sequence[int], languages: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-lingual alignment of the images' captions, for every pair of ``languages``.

    Each distinct concept (scenes with the same objects share captions) is a query in language A, and the
    corpus holds every concept's caption in language B: entry ``[A, B]`` is the R@1 of finding the same concept.

    Returns:
        ``(accuracy, cosine)``: two ``(L, L)`` arrays, R@1 of A -> B translation retrieval, and the mean cosine
        between a caption in A and its translation in B. The diagonals are 1 by construction.

    Example:
        >>> accuracy, cosine = translation_matrix(Embedder(model, world), world.select("scenes", "test"), ["en", "ja"])
        >>> accuracy.shape, float(accuracy[0, 0])
        ((2, 2), 1.0)
    """
    world = embedder.world
    concepts = list({tuple(world.images[i]["short"][lang] for lang in languages): i for i in indices}.values())
    captions = {lang: world.captions(concepts, lang) for lang in languages}
    vectors = {lang: embedder.texts(captions[lang]) for lang in languages}
    # concepts whose captions coincide in language B (rare) are all correct answers
    relevant = {}
    for lang in languages:
        same = {}
        for j, caption in enumerate(captions[lang]):
            same.setdefault(caption, set()).add(j)
        relevant[lang] = [same[caption] for caption in captions[lang]]
    size = len(languages)
    accuracy, cosine = np.ones((size, size)), np.ones((size, size))
    for a, lang_a in enumerate(languages):
        for b, lang_b in enumerate(languages):
            if a != b:
                scores = cosine_matrix(vectors[lang_a], vectors[lang_b])
                accuracy[a, b] = retrieval_metrics(scores, relevant[lang_b], ks=(1,))["R@1"]
                cosine[a, b] = float(np.mean(np.diag(scores)))
    return accuracy, cosine


# ---------------------------------------------------------------- image to captions


def nearest_captions(
    embedder: Embedder, image: int, indices: Sequence[int], languages: Sequence[str]
) -> list[list[object]]:
    """For each language, the caption of ``indices`` (distinct captions) nearest to world image ``image``.

    Returns:
        One row per language: ``[language, caption, cosine, correct]`` where ``correct`` says whether the caption
        is the image's own; ready for :func:`~jclip_lab.tables.format_table`.

    Example:
        >>> scenes = world.select("scenes", "test")
        >>> rows = nearest_captions(Embedder(model, world), scenes[0], scenes, ["en", "ja"])
        >>> [row[0] for row in rows], len(rows[0])
        (['en', 'ja'], 4)
    """
    world, image_vector = embedder.world, embedder.images([image])[0]
    rows = []
    for lang in languages:
        captions = list(dict.fromkeys(world.captions(list(indices), lang)))
        scores = cosine_matrix(embedder.texts(captions), image_vector[None])[:, 0]
        best = int(np.argmax(scores))
        rows.append([lang, captions[best], float(scores[best]), captions[best] == world.images[image]["short"][lang]])
    return rows


# ---------------------------------------------------------------- hubs


def k_occurrence(scores: np.ndarray, k: int = 5) -> np.ndarray:
    """How many queries have each document in their top ``k``: ``N_k`` per document, from ``(queries, documents)``.

    With no hubs every document appears about ``k x queries / documents`` times. In high-dimensional spaces a few
    documents, *hubs*, are near almost every query and fill the top-k lists while others never appear
    (Radovanović et al. 2010, "Hubs in Space", JMLR 11).

    Example:
        >>> k_occurrence(np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1]]), k=1)  # document 0 tops both queries
        array([2, 0, 0])
    """
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.bincount(top.ravel(), minlength=scores.shape[1])


def hub_share(counts: np.ndarray, hubs: int = 5) -> float:
    """The share of all top-k slots taken by the ``hubs`` documents that appear most often.

    Example:
        >>> hub_share(np.array([8, 1, 1, 0]), hubs=1)
        0.8
    """
    return float(np.sort(counts)[::-1][:hubs].sum() / counts.sum())
