"""Scaling up: every profile's geometry trains every embedding dim, the small recipe runs end to end, the cost of a
stage is what PyTorch counts, and the GPU benchmarks' CPU paths run.

The profiles are shrunk in steps and batch, never in shape: the models, image sizes and text lengths are the
profiles' own (the vocabulary is the test tokenizer's).
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from jclip_lab import cost, measure
from jclip_lab.models import JClipModel, config_preset
from jclip_lab.profiles import format_stage_times, get_profile, seed_everything, stage_times
from jclip_lab.train import Stage, compute_gradients, three_stage_recipe, train
from jclip_lab.train.loop import stage_batches

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def profile_model(name: str, tokenizer) -> JClipModel:
    seed_everything(0)
    return JClipModel.from_preset(get_profile(name).model, tokenizer=tokenizer, vocab_size=len(tokenizer))


@pytest.mark.parametrize("name", ["tiny", "small", "base"])
def test_one_step_at_each_profile_geometry_trains_every_embedding_dim(name: str, world, tokenizer) -> None:
    model = profile_model(name, tokenizer).train()
    stage = replace(three_stage_recipe(get_profile(name))[0], steps=1, batch_size=4)  # its shapes, a small batch
    assert stage.matryoshka_dims is None  # the recipe takes the model's dims, which end at its full width
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "dims ... get no gradient" would fail here
        compute_gradients(model, next(stage_batches(model, world, stage, seed=0)), stage, CPU)
    for projection in (model.text_projection, model.vision_projection):
        assert projection.weight.shape[0] == {"tiny": 128, "small": 256, "base": 512}[name]  # the profile's width
        assert (projection.weight.grad.abs().sum(dim=1) > 0).all()  # every output dim receives a gradient


def test_two_steps_of_each_stage_of_the_recipe_at_the_small_geometry(world, tokenizer) -> None:
    model = profile_model("small", tokenizer)
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    stages = [replace(stage, steps=2, batch_size=4, warmup=1) for stage in three_stage_recipe(get_profile("small"))]
    history = train(model, world, stages, device="cpu", progress=False)
    assert [(row["stage"], row["step"]) for row in history.steps] == [
        (stage.name, 2 * index + step) for index, stage in enumerate(stages) for step in range(2)
    ]
    assert set(history.steps[-1]) >= {"long", "charts", "triplets"}
    assert all(math.isfinite(row["loss"]) for row in history.steps)
    for name in ("text_projection.weight", "vision_projection.weight", "logit_scale"):
        assert not torch.equal(dict(model.named_parameters())[name], start[name]), name


def test_the_cost_of_a_stage_is_what_the_flop_counter_counts() -> None:
    config = config_preset("tiny", vocab_size=1000)
    stage = Stage("s", {"short": 1.0, "pairs": 1.0, "triplets": 1.0}, 1, batch_size=4, image_size=32,
                  max_text_length=16)  # fmt: skip
    model = JClipModel(config).train()
    batches = measure.synthetic_batches(config, stage)
    counted = measure.count_flops(lambda: compute_gradients(model, batches, stage, CPU))
    modelled = cost.step_cost(config, cost.stage_tasks(stage), precision="fp32").model_flops
    assert 0.99 < modelled / counted <= 1.0  # see tests/test_cost.py: backward of fused attention is 2.5x


def test_stage_times_are_measured_for_tiny_and_estimated_on_named_gpus() -> None:
    assert [row.basis for row in stage_times("tiny")] == ["measured"]
    rows = stage_times("base")
    assert [row.hardware for row in rows] == ["1 x T4 16GB, fp16", "1 x A100 40GB, bf16", "1 x H100 SXM 80GB, bf16"]
    assert all(row.basis.startswith("estimated") and len(row.seconds) == 3 for row in rows)
    assert rows[0].seconds[0] > rows[2].seconds[0]  # a T4 is slower than an H100
    assert "estimated: cost model at 20% MFU" in format_stage_times("small")
    with pytest.raises(ValueError, match="Unknown profile 'huge'"):
        stage_times("huge")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_without_a_gpu_says_so_and_runs_dry_on_the_cpu(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _script("gpu_check").main(["--json", str(tmp_path / "rows.json")]) == 0
    assert "No CUDA GPU here" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "rows.json").read_text())
    tasks = len(three_stage_recipe(get_profile("tiny"))[0].tasks)  # short captions, text pairs, digits
    assert (row["profile"], row["examples_per_step"], row["peak_bytes"]) == ("tiny", 2 * tasks, None)
    assert row["model_flops"] > 0 and row["mfu"] > 0


def test_bench_train_prints_a_row_per_setting_with_ratios_to_fp32_eager(capsys) -> None:
    arguments = ["--device", "cpu", "--profiles", "tiny", "--compile", "eager", "--batch-size", "2", "--steps", "1"]
    _script("bench_train").main(arguments)
    out = capsys.readouterr().out
    assert out.startswith("device cpu") and f"torch {torch.__version__}" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("tiny")]
    assert [(row[1], row[2], row[6]) for row in rows] == [("fp32", "eager", "1.00x"), ("bf16", "eager", rows[1][6])]


def test_top_operators_rank_a_profiled_step_by_self_time() -> None:
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    rows = measure.top_operators(measure.profile_step(lambda: [(a @ b).add(1.0) for _ in range(3)]), k=20)
    assert [row.seconds for row in rows] == sorted((row.seconds for row in rows), reverse=True)
    assert rows[0].name == "aten::mm" and rows[0].calls == 3  # the matmul dominates an add of the same size
    assert {row.name for row in rows} >= {"aten::mm", "aten::add"}
    assert sum(row.share for row in rows) == pytest.approx(1.0)  # k above the number of operators: all of them


def test_top_operators_of_several_runs_take_each_operators_median_so_one_disturbed_run_does_not_reorder_them():
    a, b, big = torch.randn(256, 256), torch.randn(256, 256), torch.randn(2048, 2048)

    def step(disturbed: bool) -> None:  # a disturbed run: its add takes far longer, as if the core were taken away
        (a @ b).add(1.0)
        if disturbed:
            big.add(1.0)

    runs = [measure.profile_step(lambda disturbed=disturbed: step(disturbed)) for disturbed in (False, True, False)]
    assert measure.top_operators(runs[1], k=1)[0].name == "aten::add"  # alone, the disturbed run ranks add first
    rows = measure.top_operators(runs, k=20)
    assert rows[0].name == "aten::mm" and rows[0].calls == 1  # the median of the three runs: mm, as in two of them
    assert {row.name: row.calls for row in rows}["aten::add"] == 2  # the most calls of any run
    assert sum(row.share for row in rows) == pytest.approx(1.0)
