"""Behaviour of the embedding-space measures: the modality gap on known geometry, projections, labelled points,
and the cross-lingual matrix of an oracle (perfect) and of random text embeddings (near chance)."""

from __future__ import annotations

import numpy as np
import pytest
from concept_model import ConceptModel

from jclip_lab.embedding_space import (
    collect_points,
    modality_gap,
    nearest_captions,
    paired_embeddings,
    project,
    translation_matrix,
)
from jclip_lab.evaluate import Embedder


def test_modality_gap_is_the_distance_between_unit_norm_centroids():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((20, 8))
    assert modality_gap(images, 3 * images) == pytest.approx(0.0, abs=1e-12)  # scale does not matter
    assert modality_gap(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(np.sqrt(2))
    assert modality_gap(np.array([[1.0, 0.0]]), np.array([[-2.0, 0.0]])) == pytest.approx(2.0)  # opposite poles


def test_projections_are_two_dimensional():
    vectors = np.random.default_rng(0).standard_normal((30, 16))
    points = project(vectors, method="pca")
    assert points.shape == (30, 2)
    assert np.var(points[:, 0]) >= np.var(points[:, 1])  # the first axis explains the most
    with pytest.raises(ValueError, match="valid: umap, pca"):
        project(vectors, method="tsne")


def test_points_are_images_then_captions_per_language(world):
    embedder = Embedder(ConceptModel(world), world)
    indices = world.select("digits", "test")[:4]
    points = collect_points(embedder, indices, ["en", "ja"], label=lambda record: record["group"])
    assert points.vectors.shape == (12, 64)
    assert points.modality == ["image"] * 4 + ["text"] * 8
    assert points.language == ["image"] * 4 + ["en"] * 4 + ["ja"] * 4
    assert points.label[:4] == points.label[4:8] == [world.images[i]["group"] for i in indices]
    images, texts = paired_embeddings(embedder, indices, ["en", "ja"])
    assert np.allclose(images, points.vectors[:4]) and np.allclose(texts, points.vectors[4:])


def test_an_oracle_translates_perfectly(world):
    languages = ["en", "de", "ja", "ar"]
    accuracy, cosine = translation_matrix(Embedder(ConceptModel(world), world), world.select("scenes"), languages)
    assert accuracy.shape == cosine.shape == (4, 4)
    assert accuracy.min() == 1.0 and cosine.min() == pytest.approx(1.0)


class RandomTextModel(ConceptModel):
    """Every distinct text gets its own random vector: no language knows any other."""

    def encode_text(self, texts, batch_size: int = 32, normalize_embeddings: bool = True) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts])


def test_unrelated_languages_translate_at_chance(world):
    scenes = world.select("scenes")
    accuracy, cosine = translation_matrix(Embedder(RandomTextModel(world), world), scenes, ["en", "ja"])
    concepts = len({world.images[i]["short"]["en"] for i in scenes})
    assert accuracy[0, 0] == 1.0 and accuracy[0, 1] < 5 / concepts
    assert abs(cosine[0, 1]) < 0.1


def test_an_oracle_captions_an_image_correctly_in_every_language(world):
    scenes = world.select("scenes", "test")
    rows = nearest_captions(Embedder(ConceptModel(world), world), scenes[3], scenes, ["en", "ru", "zh"])
    assert [row[0] for row in rows] == ["en", "ru", "zh"]
    assert all(correct for *_, correct in rows)
    assert rows[1][1] == world.images[scenes[3]]["short"]["ru"] and rows[1][2] == pytest.approx(1.0)
