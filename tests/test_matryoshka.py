"""Behaviour of the Matryoshka tools: the slider's update function on toy embeddings (ranking at a prefix, sizes,
errors), retention, and the dimension sweep and image search on a small world."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from concept_model import ConceptModel

from jclip_lab.evaluate import Embedder
from jclip_lab.matryoshka import (
    ImageSearch,
    Sweep,
    dimension_sweep,
    matryoshka_view,
    seed_dimension_curves,
    sweep_table,
    top_k,
)
from jclip_lab.studies import Measure
from jclip_lab.vector_search import index_megabytes, search_seconds

matplotlib.use("Agg")

# Item 0 wins on the first two dims, item 1 on all four: the prefix changes the answer.
QUERY = np.array([1.0, 0.0, 0.0, 1.0])
GALLERY = np.array([[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 1.0], [-1.0, 0.0, 1.0, 0.0]])


def test_view_ranks_by_the_prefix_it_is_given():
    short = matryoshka_view(QUERY, GALLERY, truncate_dim=2, matryoshka_dims=(2, 4), k=3, timing_vectors=0)
    full = matryoshka_view(QUERY, GALLERY, truncate_dim=4, matryoshka_dims=(2, 4), k=3, timing_vectors=0)
    assert list(short["top_k"]) == [0, 1, 2] and list(full["top_k"]) == [1, 0, 2]
    assert short["scores"][0] == pytest.approx(1.0)  # the prefixes [1, 0] and [1, 0], re-normalised
    assert full["scores"][0] == pytest.approx(1.8 / 2)  # (0.8 + 1) / (sqrt 2 * sqrt 2)
    assert np.all(np.diff(full["scores"]) <= 0)


def test_view_returns_k_results_and_the_sweep_at_its_dim():
    sweep = Sweep({2: {"R@1": 0.2, "R@5": 0.6}, 4: {"R@1": 0.4, "R@5": 0.9}}, {"R@1": 0.01, "R@5": 0.05})
    view = matryoshka_view(QUERY, GALLERY, truncate_dim=2, matryoshka_dims=(2, 4), k=2, sweep=sweep, timing_vectors=0)
    assert len(view["top_k"]) == 2
    assert (view["R@1"], view["R@5"]) == (0.2, 0.6)
    assert view["ms_per_query"] is None


def test_untrained_dims_and_mismatched_widths_are_errors():
    with pytest.raises(ValueError, match=r"truncate_dim=3 is not a trained Matryoshka dim; choose one of \[2, 4\]"):
        matryoshka_view(QUERY, GALLERY, truncate_dim=3, matryoshka_dims=(2, 4), timing_vectors=0)
    with pytest.raises(ValueError, match="same width"):
        matryoshka_view(QUERY[:3], GALLERY, truncate_dim=2, matryoshka_dims=(2, 4), timing_vectors=0)


def test_index_sizes_per_million_vectors():
    assert index_megabytes(128) == 512.0  # 128 float32 = 512 bytes, times a million
    assert index_megabytes(1024, dtype="float16") == 2048.0
    assert index_megabytes(256, vectors=1000, dtype="int8") == 0.256
    view = matryoshka_view(QUERY, GALLERY, truncate_dim=4, matryoshka_dims=(4,), timing_vectors=0)
    assert view["mb_per_million"] == {"float32": 16.0, "float16": 8.0, "int8": 4.0}
    with pytest.raises(ValueError, match="Unknown dtype"):
        index_megabytes(64, dtype="float8")


def test_search_is_timed_on_a_synthetic_index():
    assert 0 < search_seconds(16, vectors=2000) < 0.1
    view = matryoshka_view(QUERY, GALLERY, truncate_dim=4, matryoshka_dims=(4,), timing_vectors=2000)
    assert view["ms_per_query"] > 0


def test_top_k_renormalises_each_prefix():
    indices, scores = top_k(np.array([3.0, 4.0]), np.array([[6.0, 8.0], [0.0, 1.0]]), truncate_dim=2, k=2)
    assert list(indices) == [0, 1] and scores == pytest.approx([1.0, 0.8])


def test_retention_divides_by_the_full_width():
    sweep = Sweep({16: {"R@1": 0.1}, 64: {"R@1": 0.3}, 128: {"R@1": 0.4}}, {"R@1": 0.01})
    assert sweep.truncate_dims == [16, 64, 128]
    assert sweep.retention() == pytest.approx({16: 0.25, 64: 0.75, 128: 1.0})
    table = sweep_table({"mrl": sweep}, ["R@1"])
    assert table.splitlines()[2].split() == ["mrl", "16", "0.100", "0.250"]


def test_an_oracle_keeps_its_quality_at_every_prefix(world):
    sweep = dimension_sweep(Embedder(ConceptModel(world), world), truncate_dims=(16, 64), languages=("en", "ja"))
    assert sweep.truncate_dims == [16, 64]
    assert sweep.metrics[16]["R@1"] == sweep.metrics[64]["R@1"] == 1.0
    assert sweep.retention() == {16: 1.0, 64: 1.0}
    assert 0 < sweep.chance["R@1"] < sweep.chance["R@5"] < 1


def test_image_search_finds_the_query_concept_at_any_trained_dim(world):
    gallery = world.select("scenes", "test")
    query = world.images[gallery[0]]["short"]["de"]
    search = ImageSearch(Embedder(ConceptModel(world), world), gallery, matryoshka_dims=(16, 64), timing_vectors=0)
    view = search.view(query, truncate_dim=16, k=2)
    assert view["top_k"][0] in gallery and world.images[view["top_k"][0]]["short"]["de"] == query
    assert view["R@1"] is None  # no sweep given
    assert search.view(query)["truncate_dim"] == 64  # the full width by default
    with pytest.raises(ValueError, match="not a trained"):
        search.view(query, truncate_dim=32)


def test_seed_curves_give_each_seeds_model_its_own_curve(world):
    """An oracle keeps R@1 1.0 at every prefix; a model that only knows seed 1 is the oracle scores its seed 1 so."""
    oracle = ConceptModel(world)
    measures = [Measure("t2i R@1", "t2i", "R@1"), Measure("i2t R@1", "i2t", "R@1")]
    curves = seed_dimension_curves(lambda seed: oracle, world, measures, (16, 64), ["en", "de"], seeds=(0, 1, 2))
    assert list(curves) == ["t2i R@1", "i2t R@1"]
    assert curves["t2i R@1"] == [{16: 1.0, 64: 1.0}] * 3
    loaded = []
    seed_dimension_curves(lambda seed: loaded.append(seed) or oracle, world, measures[:1], (16,), ["en"], seeds=(2, 0))
    assert loaded == [2, 0]  # one model per seed, in the seeds' order
