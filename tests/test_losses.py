"""Tests for jclip_lab.losses: InfoNCE is cross-entropy with identity targets, and everything built on it."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from jclip_lab.losses import (
    clip_loss,
    cosine_logits,
    info_nce,
    matryoshka_loss,
    multi_task_loss,
    text_pair_loss,
    triplet_loss,
)


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A seeded standard-normal tensor, so each test is reproducible on its own."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- InfoNCE ------------------------------------------------------------------------------------------------


def test_info_nce_equals_cross_entropy_with_arange_labels() -> None:
    queries, keys = randn(6, 8, seed=0), randn(6, 8, seed=1)
    q, k = F.normalize(queries, dim=-1), F.normalize(keys, dim=-1)
    expected = F.cross_entropy(10.0 * q @ k.T, torch.arange(6))
    torch.testing.assert_close(info_nce(queries, keys, scale=10.0), expected)


def test_info_nce_matches_a_hand_computation() -> None:
    # Unit vectors, so the cosines are plain dot products: q0.k0 = 1, q0.k1 = 0, q1.k0 = 0.6, q1.k1 = 0.8.
    queries = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    scale = 2.0
    # loss_i = -s * cos(q_i, k_i) + log(sum_j exp(s * cos(q_i, k_j)))
    loss_0 = -2.0 + math.log(math.exp(2.0) + math.exp(0.0))
    loss_1 = -1.6 + math.log(math.exp(1.2) + math.exp(1.6))
    expected = (loss_0 + loss_1) / 2
    assert info_nce(queries, keys, scale).item() == pytest.approx(expected, rel=1e-6)


def test_extra_keys_are_extra_negatives() -> None:
    queries, keys, extra = randn(4, 8, seed=0), randn(4, 8, seed=1), randn(3, 8, seed=2)
    all_keys = torch.cat([keys, extra])
    logits = cosine_logits(queries, all_keys, 5.0)
    expected = F.cross_entropy(logits, torch.arange(4))
    torch.testing.assert_close(info_nce(queries, all_keys, 5.0), expected)
    assert info_nce(queries, all_keys, 5.0) > info_nce(queries, keys, 5.0)  # more competitors, higher loss


def test_aligned_embeddings_with_large_scale_give_loss_near_zero() -> None:
    embeddings = randn(16, 64)
    assert info_nce(embeddings, embeddings, scale=100.0).item() < 1e-3


def test_random_embeddings_give_loss_near_ln_batch_size() -> None:
    batch = 256
    loss = info_nce(randn(batch, 512, seed=0), randn(batch, 512, seed=1), scale=1.0)
    assert loss.item() == pytest.approx(math.log(batch), abs=0.02)


def test_inputs_are_normalised_so_their_length_does_not_matter() -> None:
    queries, keys = randn(5, 8, seed=0), randn(5, 8, seed=1)
    lengths = torch.rand(5, 1, generator=torch.Generator().manual_seed(2)) * 10 + 0.1
    torch.testing.assert_close(info_nce(queries * lengths, 3.0 * keys, 7.0), info_nce(queries, keys, 7.0))
    torch.testing.assert_close(clip_loss(queries * lengths, keys, 7.0), clip_loss(queries, keys, 7.0))


# --- The symmetric, text-pair and triplet losses ------------------------------------------------------------


def test_clip_loss_is_the_mean_of_both_directions() -> None:
    images, texts = randn(6, 8, seed=0), randn(6, 8, seed=1)
    scale = torch.tensor(1 / 0.07)
    both = (info_nce(images, texts, scale) + info_nce(texts, images, scale)) / 2
    torch.testing.assert_close(clip_loss(images, texts, scale), both)
    logits = cosine_logits(images, texts, scale)  # the same, as open_clip writes it: rows and columns
    labels = torch.arange(6)
    by_columns = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(clip_loss(images, texts, scale), by_columns)


def test_clip_loss_passes_gradient_to_the_learned_scale() -> None:
    log_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    clip_loss(randn(4, 8, seed=0), randn(4, 8, seed=1), log_scale.exp().clamp(max=100)).backward()
    assert log_scale.grad is not None and log_scale.grad.item() != 0


def test_text_pair_loss_uses_its_temperature() -> None:
    a, b = randn(6, 8, seed=0), randn(6, 8, seed=1)
    torch.testing.assert_close(text_pair_loss(a, b, symmetric=False), info_nce(a, b, scale=20.0))
    torch.testing.assert_close(text_pair_loss(a, b, temperature=0.1), clip_loss(a, b, scale=10.0))


def test_triplet_loss_scores_anchors_against_positives_and_negatives() -> None:
    anchors, positives, negatives = randn(4, 8, seed=0), randn(4, 8, seed=1), randn(4, 8, seed=2)
    logits = cosine_logits(anchors, torch.cat([positives, negatives]), 1 / 0.05)
    assert logits.shape == (4, 8)  # the negatives add columns
    expected = F.cross_entropy(logits, torch.arange(4))
    torch.testing.assert_close(triplet_loss(anchors, positives, negatives, bidirectional=False), expected)
    # The papers' bidirectional loss adds positive -> anchor, scored against the anchors only (no negatives).
    reverse = F.cross_entropy(cosine_logits(positives, anchors, 1 / 0.05), torch.arange(4))
    torch.testing.assert_close(triplet_loss(anchors, positives, negatives), (expected + reverse) / 2)
    torch.testing.assert_close(triplet_loss(anchors, positives, negatives, directions="sum"), expected + reverse)


def test_text_pair_directions_average_or_add() -> None:
    a, b = randn(4, 8, seed=0), randn(4, 8, seed=1)
    forward, backward = info_nce(a, b, 20.0), info_nce(b, a, 20.0)
    torch.testing.assert_close(text_pair_loss(a, b), (forward + backward) / 2)
    torch.testing.assert_close(text_pair_loss(a, b, directions="sum"), forward + backward)
    with pytest.raises(ValueError, match="directions must be 'mean' or 'sum'; got 'max'"):
        text_pair_loss(a, b, directions="max")


def test_hard_negatives_raise_the_loss() -> None:
    anchors = randn(8, 16, seed=0)
    positives = anchors + 0.3 * randn(8, 16, seed=1)
    hard_negatives = anchors + 0.4 * randn(8, 16, seed=2)  # almost as close to the anchors as positives
    easy_negatives = randn(8, 16, seed=3)
    no_negatives = text_pair_loss(anchors, positives, symmetric=False)
    easy = triplet_loss(anchors, positives, easy_negatives, bidirectional=False)
    hard = triplet_loss(anchors, positives, hard_negatives, bidirectional=False)
    assert no_negatives < easy < hard
    assert hard > no_negatives + 0.5


# --- Multi-task and Matryoshka ------------------------------------------------------------------------------


def test_multi_task_loss_weights_and_reports_parts() -> None:
    image_text = torch.tensor(2.0, requires_grad=True)
    text_pair = torch.tensor(4.0, requires_grad=True)
    total, parts = multi_task_loss({"image_text": image_text, "text_pair": text_pair}, {"text_pair": 0.25})
    assert total.item() == pytest.approx(3.0)
    assert parts == {"image_text": 2.0, "text_pair": 4.0}
    assert all(isinstance(value, float) for value in parts.values())
    total.backward()
    assert image_text.grad.item() == 1.0 and text_pair.grad.item() == 0.25


def test_multi_task_loss_defaults_to_weight_one() -> None:
    total, _ = multi_task_loss({"a": torch.tensor(1.5), "b": torch.tensor(2.0)})
    assert total.item() == pytest.approx(3.5)


def test_matryoshka_loss_is_the_sum_over_prefixes() -> None:
    images, texts = randn(6, 16, seed=0), randn(6, 16, seed=1)
    loss = matryoshka_loss(clip_loss, images, texts, dims=(4, 8, 16), scale=10.0)
    explicit = sum(clip_loss(images[:, :d], texts[:, :d], scale=10.0) for d in (4, 8, 16))
    torch.testing.assert_close(loss, explicit)


def test_matryoshka_loss_weights_and_renormalises_each_prefix() -> None:
    anchors, positives, negatives = randn(4, 8, seed=0), randn(4, 8, seed=1), randn(4, 8, seed=2)
    loss = matryoshka_loss(
        triplet_loss, anchors, positives, negatives, dims=(2, 8), weights=(0.5, 2.0), bidirectional=False
    )
    # The 2-dim prefixes, re-normalised, then InfoNCE over [positives; negatives] by hand:
    a2, p2, n2 = (F.normalize(x[:, :2], dim=-1) for x in (anchors, positives, negatives))
    prefix_loss = F.cross_entropy(20.0 * a2 @ torch.cat([p2, n2]).T, torch.arange(4))
    expected = 0.5 * prefix_loss + 2.0 * triplet_loss(anchors, positives, negatives, bidirectional=False)
    torch.testing.assert_close(loss, expected)


# --- Gradients (float64 gradcheck) --------------------------------------------------------------------------


def test_gradcheck_info_nce() -> None:
    queries = randn(3, 4, seed=0, dtype=torch.float64).requires_grad_()
    keys = randn(5, 4, seed=1, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda q, k: info_nce(q, k, 3.0), (queries, keys))


def test_gradcheck_clip_loss_including_the_scale() -> None:
    images = randn(3, 4, seed=0, dtype=torch.float64).requires_grad_()
    texts = randn(3, 4, seed=1, dtype=torch.float64).requires_grad_()
    scale = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(clip_loss, (images, texts, scale))


def test_gradcheck_triplet_loss() -> None:
    inputs = tuple(randn(3, 4, seed=seed, dtype=torch.float64).requires_grad_() for seed in range(3))
    assert torch.autograd.gradcheck(triplet_loss, inputs)


def test_gradcheck_matryoshka_loss() -> None:
    images = randn(3, 6, seed=0, dtype=torch.float64).requires_grad_()
    texts = randn(3, 6, seed=1, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x, y: matryoshka_loss(clip_loss, x, y, dims=(2, 4, 6), scale=4.0), (images, texts)
    )


# --- Mixed precision ----------------------------------------------------------------------------------------


def test_losses_are_float32_and_finite_under_bf16_autocast() -> None:
    a, b, c = randn(8, 16, seed=0), randn(8, 16, seed=1), randn(8, 16, seed=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a_bf16, b_bf16, c_bf16 = (x @ torch.eye(16) for x in (a, b, c))  # matmuls give bf16 "tower outputs"
        assert a_bf16.dtype == torch.bfloat16
        results = [
            info_nce(a_bf16, b_bf16, 20.0),
            clip_loss(a_bf16, b_bf16, torch.tensor(1 / 0.07)),
            text_pair_loss(a_bf16, b_bf16),
            triplet_loss(a_bf16, b_bf16, c_bf16),
            matryoshka_loss(clip_loss, a_bf16, b_bf16, dims=(4, 16), scale=100.0),
        ]
        assert cosine_logits(a, b, 1.0).dtype == torch.float32  # float32 inputs are not cast down either
    for loss in results:
        assert loss.dtype == torch.float32
        assert torch.isfinite(loss)
    torch.testing.assert_close(results[1], clip_loss(a, b, 1 / 0.07), atol=0.05, rtol=0.0)


# --- Bad input ----------------------------------------------------------------------------------------------


def m(*shape: int) -> torch.Tensor:
    """A matrix of the given shape (the values do not matter for shape errors)."""
    return torch.zeros(shape)


@pytest.mark.parametrize(
    ("loss_fn", "args", "match"),
    [
        (info_nce, (m(4), m(4), 1.0), r"2-D .*queries \(4,\), keys \(4,\)"),
        (info_nce, (m(2, 3, 4), m(2, 4), 1.0), r"2-D .*queries \(2, 3, 4\)"),
        (info_nce, (m(0, 4), m(0, 4), 1.0), r"empty.*queries \(0, 4\)"),
        (info_nce, (m(4, 8), m(4, 6), 1.0), r"width.*queries \(4, 8\), keys \(4, 6\)"),
        (info_nce, (m(4, 8), m(3, 8), 1.0), r"per query.*queries \(4, 8\), keys \(3, 8\)"),
        (clip_loss, (m(4, 8), m(5, 8), 1.0), r"batch size.*image_embeds \(4, 8\), text_embeds \(5, 8\)"),
        (clip_loss, (m(4, 8), m(4, 6), 1.0), r"width.*image_embeds \(4, 8\), text_embeds \(4, 6\)"),
        (clip_loss, (m(8), m(8), 1.0), r"2-D .*image_embeds \(8,\)"),
        (text_pair_loss, (m(4, 8), m(3, 8)), r"batch size.*a \(4, 8\), b \(3, 8\)"),
        (text_pair_loss, (m(4, 8), m(4, 8), 0.0), r"temperature must be positive"),
        (triplet_loss, (m(4, 8), m(3, 8), m(4, 8)), r"batch size.*positives \(3, 8\)"),
        (triplet_loss, (m(4, 8), m(4, 8), m(4, 6)), r"width.*negatives \(4, 6\)"),
        (triplet_loss, (m(4, 8), m(4, 8), m(0, 8)), r"empty.*negatives \(0, 8\)"),
        (multi_task_loss, ({},), r"at least one loss"),
        (multi_task_loss, ({"a": torch.tensor(1.0)}, {"a": 1.0, "typo": 2.0}), r"unknown tasks \['typo'\]"),
    ],
)
def test_bad_input_raises(loss_fn, args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        loss_fn(*args)


@pytest.mark.parametrize(
    ("dims", "weights", "match"),
    [
        ((), None, r"strictly increasing; got \[\]"),
        ((8, 4), None, r"strictly increasing; got \[8, 4\]"),
        ((4, 4), None, r"strictly increasing"),
        ((0, 4), None, r"positive"),
        ((4, 16), None, r"at most the embedding width 8; got \[4, 16\]"),
        ((4, 8), (1.0,), r"one weight per dim"),
    ],
)
def test_matryoshka_bad_dims_raise(dims: tuple[int, ...], weights: tuple[float, ...] | None, match: str):
    with pytest.raises(ValueError, match=match):
        matryoshka_loss(clip_loss, m(4, 8), m(4, 8), dims=dims, weights=weights, scale=1.0)


def test_matryoshka_bad_embeddings_raise() -> None:
    with pytest.raises(ValueError, match=r"at least one embedding"):
        matryoshka_loss(clip_loss, dims=(4,), scale=1.0)
    with pytest.raises(ValueError, match=r"width.*embeddings\[0\] \(4, 8\), embeddings\[1\] \(4, 6\)"):
        matryoshka_loss(clip_loss, m(4, 8), m(4, 6), dims=(4,), scale=1.0)


def test_the_learned_scale_keeps_its_gradient_at_the_cap() -> None:
    from jclip_lab.models import JClipModel, config_preset

    model = JClipModel(config_preset("tiny", vocab_size=10))
    with torch.no_grad():
        model.logit_scale.fill_(model.config.logit_scale_max)  # where the trainer's clamp leaves it: ln 100
    images, texts = torch.randn(8, 16), torch.randn(8, 16)
    clip_loss(images, texts, model.get_scale()).backward()
    assert model.get_scale().item() == pytest.approx(100.0, rel=1e-6)
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs().item() > 1e-6
