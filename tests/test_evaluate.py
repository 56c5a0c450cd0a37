"""Behaviour of evaluation: the metrics on known cases, chance levels, and the whole report on oracle and random
models (an oracle must score perfectly, a random model near chance)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from jclip_lab.evaluate import chance_retrieval, evaluate_world, ndcg_at_10, retrieval_metrics


def test_recall_counts_any_of_several_positives():
    scores = np.array([[0.1, 0.9, 0.8, 0.0], [0.9, 0.1, 0.2, 0.3]])
    metrics = retrieval_metrics(scores, [{2, 3}, {1, 2}], ks=(1, 2))
    assert metrics["R@1"] == 0.0 and metrics["R@2"] == 0.5  # first query: doc 2 at rank 2; second: doc 2 at rank 3
    assert metrics["mean_rank"] == 2.5


def test_chance_levels_match_random_rankings():
    rng = np.random.default_rng(0)
    relevant = [set(rng.choice(50, size=rng.integers(1, 4), replace=False).tolist()) for _ in range(3000)]
    measured = retrieval_metrics(rng.random((3000, 50)), relevant)
    expected = chance_retrieval(50, relevant)
    for metric in ("R@1", "R@5", "R@10"):
        assert abs(measured[metric] - expected[metric]) < 0.02, metric


def test_ndcg_rewards_higher_ranks():
    assert ndcg_at_10(np.array([[0.9, 0.1, 0.0]]), [{0}]) == 1.0
    assert ndcg_at_10(np.array([[0.1, 0.9, 0.0]]), [{0}]) == pytest.approx(1 / np.log2(3))


def test_bad_relevance_is_an_error():
    with pytest.raises(ValueError, match="at least one relevant"):
        retrieval_metrics(np.zeros((1, 3)), [set()])


class OracleModel:
    """Knows the world's answers: every caption of one concept, and its images, embed to the same vector."""

    def __init__(self, world, dim: int = 64) -> None:
        self.dim, self.concept_of_text, self.concept_of_image = dim, {}, {}
        for record in world.images:
            concept = record["group"] if record["source"] != "scenes" else record["short"]["en"]
            for key in ("short", "long"):
                self.concept_of_text.update(dict.fromkeys(record[key].values(), concept))
        for pair in world.text_pairs:
            self.concept_of_text.setdefault(pair["a"], pair["group"])
            self.concept_of_text.setdefault(pair["b"], self.concept_of_text[pair["a"]])
        for size in (32, 48):
            for record, pixels in zip(world.images, world.pixels(size), strict=True):
                concept = record["group"] if record["source"] != "scenes" else record["short"]["en"]
                self.concept_of_image[np.asarray(pixels).tobytes()] = concept
        self.config = None

    def _vector(self, key: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim)
        return vector / np.linalg.norm(vector)

    def encode_text(self, texts, **_):
        return np.stack([self._vector(self.concept_of_text.get(t, t)) for t in texts])

    def encode_image(self, images, **_):
        return np.stack([self._vector(self.concept_of_image[np.asarray(i).tobytes()]) for i in images])


class RandomModel(OracleModel):
    def encode_text(self, texts, **_):
        return np.stack([self._vector("text:" + t) for t in texts])

    def encode_image(self, images, **_):
        return np.stack([self._vector(np.asarray(i).tobytes().hex()) for i in images])


def test_an_oracle_scores_perfectly_and_a_random_model_near_chance(world):
    oracle = evaluate_world(OracleModel(world), world, image_size=32)
    assert oracle.get("t2i", "R@1") == 1.0 and oracle.get("i2t", "R@1") == 1.0
    assert oracle.get("t2i", "R@1", "transfer") == 1.0
    assert oracle.get("hard_negative", "accuracy") == 1.0
    assert oracle.get("text_retrieval", "R@1", "country") == 1.0
    randomised = evaluate_world(RandomModel(world), world, image_size=32)
    for task, subset, metric in [("t2i", "all", "R@5"), ("i2t", "all", "R@5"), ("charts", "en", "R@5")]:
        assert abs(randomised.get(task, metric, subset) - randomised.chance(task, metric, subset)) < 0.15
    assert abs(randomised.get("sts", "spearman")) < 25
    assert "t2i" in randomised.table(["t2i"])
