"""Tests for jclip_lab.cost against jclip_lab.measure: the cost model's FLOPs and bytes are PyTorch's own.

Tolerances, and why they are not zero:
- forward FLOPs: exact (the same matmuls, counted by the same formula);
- forward + backward FLOPs: within 1%, below the counter (fused attention recomputes its scores in backward,
  2.5x its forward where the model says 2x; the patch embedding needs no input gradient, 1x where it says 2x);
- activations autograd keeps: within 3% (measured 1-2% below: LayerNorm statistics and attention log-sum-exps
  are neglected);
- peak memory of a step, with and without checkpointing: within 6% (measured 0-5% below: the transients of
  backward are modelled by their largest tensor).
"""

from __future__ import annotations

import math

import pytest
import torch

from jclip_lab import cost, measure
from jclip_lab.losses import clip_loss, matryoshka_loss
from jclip_lab.models import JClipModel, config_preset, count_parameters

VOCAB = 1000
# The real jina-clip-v2's architecture options, on a small geometry: post-LN text, a learned position table
# (which makes the vision residual stream float32 under autocast), scaled 2-D RoPE, no projections.
JINA_OPTIONS = dict(text_post_norm=True, vision_pos_embed=True, vision_rope_reference_grid=16, add_projections=False)


pytestmark = pytest.mark.usefixtures("one_thread")


def _model_and_batch(
    name: str, batch: int, options: dict | None = None
) -> tuple[JClipModel, torch.Tensor, torch.Tensor, cost.Task]:
    torch.manual_seed(0)
    config = config_preset(name, vocab_size=VOCAB, **(options or {}))
    model = JClipModel(config).train()
    ids = torch.randint(0, VOCAB, (batch, config.max_text_length))
    pixels = torch.randn(batch, 3, config.image_size, config.image_size)
    return model, ids, pixels, cost.Task("image_text", batch, config.max_text_length, config.image_size)


def _loss(model: JClipModel, ids: torch.Tensor, pixels: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """One image-text step's loss, summed over the Matryoshka prefixes, as the trainer computes it."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        images, texts = model.get_image_features(pixels), model.get_text_features(ids)
        return matryoshka_loss(clip_loss, images, texts, dims=model.config.matryoshka_dims, scale=model.get_scale())


# --- parameters and FLOPs -------------------------------------------------------------------------------------


def test_parameter_counts_are_those_of_the_built_model() -> None:
    config = config_preset("small", vocab_size=VOCAB)
    assert cost.parameter_counts(config) == count_parameters(JClipModel(config))


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_forward_flops_equal_the_flop_counter(name: str) -> None:
    model, ids, pixels, task = _model_and_batch(name, batch=4)
    counted = measure.count_flops(lambda: _loss(model, ids, pixels))
    config = model.config
    expected = task.batch_size * (
        cost.tower_forward_flops(config, task) + cost.loss_forward_flops(task, config.matryoshka_dims)
    )
    assert counted == expected


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_training_flops_within_one_percent_of_the_flop_counter(name: str) -> None:
    model, ids, pixels, task = _model_and_batch(name, batch=4)
    counted = measure.count_flops(lambda: _loss(model, ids, pixels).backward())
    ratio = cost.step_cost(model.config, [task], precision="fp32").model_flops / counted
    assert 0.99 < ratio < 1.0  # measured: 0.993 (tiny), 0.994 (small)


def test_image_flops_at_the_real_geometry() -> None:
    config = config_preset("jina-clip-v2")
    with torch.device("meta"):  # 304M parameters and a 512 px batch, without memory
        model = JClipModel(config).train()
        pixels = torch.zeros(2, 3, 512, 512)
    assert measure.count_flops(lambda: model.get_image_features(pixels)) == 2 * cost.image_forward_flops(config, 512)


def test_training_flops_are_three_forwards_and_grad_caching_one_more() -> None:
    config = config_preset("tiny", vocab_size=VOCAB)
    task = cost.Task("text_pair", 64, 32)
    per_example = cost.tower_forward_flops(config, task) + cost.loss_forward_flops(task, config.matryoshka_dims)
    plain = cost.step_cost(config, [task])
    cached = cost.step_cost(config, [task], chunk_size=16, checkpointing=True)
    assert plain.model_flops == plain.hardware_flops == 64 * 3 * per_example
    assert cached.model_flops == plain.model_flops
    assert cached.hardware_flops == plain.model_flops + 2 * 64 * cost.tower_forward_flops(config, task)


# --- memory ---------------------------------------------------------------------------------------------------


def _weight_copies(model: JClipModel, precision: str) -> int:
    """Autocast's bf16 copies of matmul weights: in the step when measured, in the state in the cost model."""
    return cost.state_bytes(model.config, precision) - cost.state_bytes(model.config, "fp32")


@pytest.mark.parametrize(
    ("name", "precision", "options"),
    [
        ("tiny", "fp32", None),
        ("tiny", "bf16", None),
        ("small", "fp32", None),
        ("small", "bf16", None),
        ("tiny", "fp32", JINA_OPTIONS),
        ("tiny", "bf16", JINA_OPTIONS),
    ],
)
def test_activations_match_what_autograd_keeps(name: str, precision: str, options: dict | None) -> None:
    model, ids, pixels, task = _model_and_batch(name, batch=8, options=options)
    _, saved = measure.saved_activation_bytes(lambda: _loss(model, ids, pixels, precision), exclude=model.parameters())
    config = model.config
    kept = task.batch_size * sum(
        cost.activation_bytes_per_example(config, tower, size, precision, autocast_device="cpu")
        for tower, size in (("image", task.image_size), ("text", task.text_length))
    )
    loss_transient = 2 * 4 * task.batch_size**2  # two logits-sized matrices, alive only while the loss runs
    kept += cost.loss_activation_bytes(task, config.matryoshka_dims) - loss_transient + _weight_copies(model, precision)
    assert abs(kept / saved - 1) < 0.03


@pytest.mark.parametrize(
    ("name", "precision", "checkpointing", "options"),
    [
        ("tiny", "fp32", False, None),
        ("tiny", "bf16", False, None),
        ("tiny", "fp32", True, None),
        ("small", "fp32", False, None),
        ("small", "fp32", True, None),
        ("tiny", "bf16", False, JINA_OPTIONS),
        ("tiny", "fp32", True, JINA_OPTIONS),
    ],
)
def test_peak_memory_of_a_step_matches(name: str, precision: str, checkpointing: bool, options: dict | None) -> None:
    model, ids, pixels, task = _model_and_batch(name, batch=8, options=options)
    step = lambda: _loss(model, ids, pixels, precision).backward()  # noqa: E731
    with measure.checkpoint_blocks(model) if checkpointing else torch.enable_grad():
        step()  # gradients exist before the measured step, as in training
        peak = measure.peak_memory_bytes(step)
    estimate = cost.step_cost(
        model.config, [task], precision=precision, checkpointing=checkpointing, autocast_device="cpu"
    )
    modelled = estimate.activation_bytes + estimate.loss_bytes + _weight_copies(model, precision)
    assert abs(modelled / peak - 1) < 0.06


def test_loss_memory_at_a_larger_batch() -> None:
    task, dims = cost.Task("image_text", 512, 8, 8), (16, 32, 64, 128)
    embeddings = [torch.randn(512, 128, requires_grad=True) for _ in range(2)]
    scale = torch.tensor(14.0, requires_grad=True)

    def loss() -> torch.Tensor:
        return matryoshka_loss(clip_loss, *embeddings, dims=dims, scale=scale)

    _, saved = measure.saved_activation_bytes(loss, exclude=[*embeddings, scale])
    transient = 2 * 4 * 512 * 512  # two logits-sized matrices while it runs
    assert abs((cost.loss_activation_bytes(task, dims) - transient) / saved - 1) < 0.03
    assert abs(cost.loss_activation_bytes(task, dims) / measure.peak_memory_bytes(lambda: loss().backward()) - 1) < 0.05


def test_state_is_16_bytes_per_parameter_plus_bf16_weight_copies() -> None:
    config = config_preset("small", vocab_size=VOCAB)
    model = JClipModel(config)
    matmul_weights = sum(m.weight.numel() for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    parameters = sum(p.numel() for p in model.parameters())
    assert cost.state_bytes(config, "fp32") == 16 * parameters
    assert cost.state_bytes(config, "bf16") == 16 * parameters + 2 * matmul_weights


def test_checkpointing_and_chunks_shrink_activations() -> None:
    config = config_preset("jina-clip-v2")
    tasks = cost.JINA_CLIP_V2_STAGES[2].tasks
    whole = cost.step_cost(config, tasks, n_gpus=8)
    checkpointed = cost.step_cost(config, tasks, n_gpus=8, checkpointing=True)
    chunked = cost.step_cost(config, tasks, n_gpus=8, chunk_size=32)
    assert checkpointed.activation_bytes < whole.activation_bytes / 5
    assert chunked.activation_bytes < whole.activation_bytes / 50
    assert chunked.loss_bytes == whole.loss_bytes  # caching does not shrink the loss's logits


# --- the real model's plan ------------------------------------------------------------------------------------


def test_plan_picks_the_largest_chunk_that_fits() -> None:
    config = config_preset("jina-clip-v2")
    plans = cost.plan_real_model()
    assert [plan.stage.name[0] for plan in plans] == ["1", "2", "3"]
    for plan in plans:
        assert not plan.fits_without_cache and plan.peak_bytes <= plan.usable_bytes
        assert plan.chunk_size >= 1 and math.log2(plan.chunk_size).is_integer()
        twice = cost.step_cost(config, plan.stage.tasks, n_gpus=8, chunk_size=2 * plan.chunk_size)
        assert twice.peak_bytes > plan.usable_bytes
        assert plan.cost.step_time_s == pytest.approx(plan.cost.model_flops / (8 * 989e12 * 0.4))
    table = cost.format_plan(plans)
    assert len(table.splitlines()) == 5 and "H100" in table


def test_a_small_batch_fits_without_caching() -> None:
    stage = cost.Stage("small", (cost.Task("image_text", 256, 77, 224),))
    plan = cost.plan_stage(config_preset("jina-clip-v2"), stage)
    assert plan.fits_without_cache and plan.chunk_size is None and plan.peak_bytes == plan.peak_bytes_without_cache


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: cost.Task("captions", 8, 8), "Unknown task kind 'captions'"),
        (lambda: cost.Task("image_text", 8, 8), "image_size > 0"),
        (lambda: cost.Task("text_pair", 0, 8), "must be positive; got 0, 8"),
        (lambda: cost.state_bytes(config_preset("tiny"), "fp16"), "precision must be one of"),
        (lambda: cost.step_cost(config_preset("tiny"), [cost.Task("text_pair", 10, 8)], n_gpus=4), r"\[10\].*n_gpus=4"),
        (lambda: cost.step_cost(config_preset("tiny"), [cost.Task("text_pair", 8, 8)], chunk_size=0), "chunk_size"),
        (lambda: cost.activation_bytes_per_example(config_preset("tiny"), "audio", 8), "tower must be"),
    ],
)
def test_bad_input_raises(make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()
