"""Behaviour of evaluation: the metrics on known cases, chance levels, and the whole report on oracle and random
models (an oracle must score perfectly, a random model near chance)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from jclip_lab.evaluate import (
    PER_CAPTION,
    Embedder,
    Report,
    chance_retrieval,
    cross_modal_retrieval,
    evaluate_world,
    ndcg_at_10,
    retrieval_metrics,
    sts_spearman,
)


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


def test_ndcg_agrees_with_scikit_learn():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    scores = rng.random((40, 30))
    relevant = [set(rng.choice(30, size=rng.integers(1, 4), replace=False).tolist()) for _ in range(40)]
    truth = np.zeros_like(scores)
    for query, rel in enumerate(relevant):
        truth[query, list(rel)] = 1
    assert ndcg_at_10(scores, relevant) == pytest.approx(ndcg_score(truth, scores, k=10))


def test_nan_scores_are_an_error_not_a_recall():
    scores = np.array([[0.2, np.nan], [0.1, 0.3]])
    with pytest.raises(ValueError, match="1 of 4 scores are NaN or infinite .*the model diverged"):
        retrieval_metrics(scores, [{0}, {1}])


def test_report_lookups_share_one_order_and_one_error():
    report = Report()
    report.add("t2i", "R@1", "en", 0.4, 0.01)
    assert (report.get("t2i", "R@1", "en"), report.chance("t2i", "R@1", "en")) == (0.4, 0.01)
    for lookup in (report.get, report.chance):
        with pytest.raises(KeyError, match="task='t2i', metric='R@1', subset='ja'"):
            lookup("t2i", "R@1", "ja")


class FixedEmbedder:
    """Captions and images with hand-made embeddings, to compute retrieval by hand."""

    def __init__(self, captions, text_vectors, image_vectors):
        self.world = type("World", (), {"captions": lambda _, indices, language, long=False: captions})()
        self.text_vectors, self.image_vectors = text_vectors, image_vectors

    def texts(self, texts):
        return np.array([self.text_vectors[t] for t in texts], dtype=float)

    def images(self, indices):
        return np.array([self.image_vectors[i] for i in indices], dtype=float)


def test_shared_captions_and_clip_benchmarks_per_caption_convention_by_hand():
    # Three images; images 0 and 1 share the caption "a". Image 1 points at "a", images 0 and 2 at "b".
    embedder = FixedEmbedder(["a", "a", "b"], {"a": [1, 0], "b": [0, 1]}, {0: [0.1, 1], 1: [1, 0.1], 2: [0, 1]})
    shared = cross_modal_retrieval(embedder, [0, 1, 2], "en")
    # Queries "a" and "b": "a" ranks image 1 first (correct: 0 or 1); "b" ranks image 2 first (correct): R@1 = 1.
    assert shared["t2i"]["R@1"] == 1.0
    # Images to the 2 distinct captions: image 0 prefers "b" (wrong), 1 prefers "a", 2 prefers "b": R@1 = 2/3.
    assert shared["i2t"]["R@1"] == pytest.approx(2 / 3)
    per_caption = cross_modal_retrieval(embedder, [0, 1, 2], "en", convention=PER_CAPTION)
    # Caption 0 ("a") must find image 0 only, but image 1 ranks first: a miss; caption 1 hits; caption 2 hits.
    assert per_caption["t2i"]["R@1"] == pytest.approx(2 / 3)
    assert per_caption["t2i"]["R@5"] == 1.0  # 3 images: every caption's image is in its top 5
    # Each image must find its own caption. Image 0 prefers caption 2 ("b"): a miss. Image 1 ties its caption 1
    # with caption 0 (both "a") and the tie goes to the one listed first: a miss. Image 2 finds caption 2: a hit.
    assert per_caption["i2t"]["R@1"] == pytest.approx(1 / 3)
    assert per_caption["t2i_chance"]["R@1"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="Unknown convention 'mine'"):
        cross_modal_retrieval(embedder, [0, 1, 2], "en", convention="mine")


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


class ConstantTextModel(RandomModel):
    """Embeds every text alike, as a tokenizer that reads a whole script as one unknown token makes a model do."""

    def encode_text(self, texts, **_):
        return np.stack([self._vector("the same") for _ in texts])


def test_sts_of_a_constant_model_is_undefined_without_a_warning(world, recwarn):
    pairs = [p for p in world.sts if p["split"] == "test" and p["lang"] == "zh"]
    assert np.isnan(sts_spearman(Embedder(ConstantTextModel(world), world, image_size=32), pairs))
    assert not recwarn.list
