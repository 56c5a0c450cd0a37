"""Behaviour of training: a loss that falls, gradient caching, checkpoints, resume and reproducibility."""

from __future__ import annotations

import pytest
import torch

from jclip_lab.models import JClipModel
from jclip_lab.profiles import seed_everything
from jclip_lab.train import Stage, compute_gradients, latest_checkpoint, train
from jclip_lab.train.loop import stage_batches


def stages(steps: tuple[int, ...] = (6, 4)) -> list[Stage]:
    tasks = [{"short": 1.0, "pairs": 1.0}, {"long": 1.0, "charts": 0.5, "triplets": 1.0}]
    return [
        Stage(f"s{i}", tasks[i % 2], n, batch_size=8, image_size=32 if i == 0 else 48, max_text_length=24,
              matryoshka_dims=(16, 128), warmup=2)
        for i, n in enumerate(steps)
    ]  # fmt: skip


def fresh_model(tokenizer, **overrides) -> JClipModel:
    seed_everything(0)
    return JClipModel.from_preset("tiny", tokenizer=tokenizer, vocab_size=len(tokenizer), **overrides)


def weights(model: JClipModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_loss_falls_on_text_pairs(world, tokenizer):
    model = fresh_model(tokenizer)
    stage = Stage("pairs", {"pairs": 1.0}, 40, batch_size=16, image_size=32, max_text_length=24, warmup=5)
    history = train(model, world, [stage], progress=False)
    _, losses = history.series("pairs")
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5  # well below the untrained ln(16) = 2.77


def test_gradient_caching_gives_the_full_batch_gradients(world, tokenizer):
    model = fresh_model(tokenizer, patch_dropout=0.0).train()
    stage = Stage("s", {"short": 1.0, "pairs": 0.5, "triplets": 1.0}, 1, 12, 32, 24, matryoshka_dims=(16, 64, 128))
    batch = next(stage_batches(model, world, stage, seed=0))
    compute_gradients(model, batch, stage, torch.device("cpu"))
    full = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    compute_gradients(model, batch, stage, torch.device("cpu"), chunk_size=5)
    cached = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    assert full.keys() == cached.keys() and "logit_scale" in full
    for name in full:
        torch.testing.assert_close(cached[name], full[name], atol=2e-5, rtol=1e-4, msg=name)


def test_same_seed_same_weights(world, tokenizer):
    first, second = fresh_model(tokenizer), fresh_model(tokenizer)
    train(first, world, stages((3, 2)), progress=False)
    train(second, world, stages((3, 2)), progress=False)
    assert all(torch.equal(a, b) for a, b in zip(weights(first).values(), weights(second).values(), strict=True))


def test_a_stopped_and_resumed_run_ends_with_the_same_weights(world, tokenizer, tmp_path):
    reference = fresh_model(tokenizer)
    train(reference, world, stages(), progress=False)

    def stop_at_step_9(model: JClipModel) -> dict[str, float]:
        if len(calls) == 9:
            raise KeyboardInterrupt
        calls.append(1)
        return {}

    calls: list[int] = []
    interrupted = fresh_model(tokenizer)
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, world, stages(), out_dir=tmp_path, checkpoint_every=2, eval_every=1, eval_fn=stop_at_step_9,
              progress=False)  # fmt: skip
    assert latest_checkpoint(tmp_path).name == "checkpoint-0000008"  # stage 2, step 2
    resumed = fresh_model(tokenizer)
    history = train(resumed, world, stages(), out_dir=tmp_path, resume=True, checkpoint_every=2, progress=False)
    assert len(history.steps) == 10
    for (name, a), b in zip(weights(reference).items(), weights(resumed).values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written checkpoint left
    assert len(list(tmp_path.glob("checkpoint-*"))) == 2


def test_resuming_into_another_architecture_is_refused(world, tokenizer, tmp_path):
    train(fresh_model(tokenizer), world, stages((2,)), out_dir=tmp_path, progress=False)
    other = fresh_model(tokenizer, text_layers=3)
    with pytest.raises(ValueError, match="different architecture: text_layers: saved 2, given 3"):
        train(other, world, stages((2,)), out_dir=tmp_path, resume=True, progress=False)


def test_bad_stage_and_resume_arguments(world, tokenizer):
    with pytest.raises(ValueError, match="Unknown task.*'captions'.*valid tasks: short, long"):
        Stage("s", {"captions": 1.0}, 1, 8, 32, 16)
    with pytest.raises(ValueError, match="resume=True needs the out_dir"):
        train(fresh_model(tokenizer), world, stages((1,)), resume=True, progress=False)


def test_a_crafted_pickle_in_a_run_folder_is_refused_and_an_older_checkpoint_used(world, tokenizer, tmp_path):
    train(fresh_model(tokenizer), world, stages((4,)), out_dir=tmp_path, checkpoint_every=2, progress=False)
    latest = latest_checkpoint(tmp_path)

    class Exploit:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))  # would create a file when unpickled

    torch.save({"optimizer": Exploit()}, latest / "state.pt")  # a full pickle, as weights_only=False would run
    resumed = fresh_model(tokenizer)
    damaged = f"{latest.name}/state.pt is damaged: it holds objects other than tensors.*refuses to unpickle"
    with pytest.warns(UserWarning, match=damaged + ".*resuming from the older checkpoint-0000002"):
        history = train(resumed, world, stages((4,)), out_dir=tmp_path, resume=True, progress=False)
    assert not (tmp_path / "pwned").exists()
    assert len(history.steps) == 4  # steps 3-4 trained again from the older checkpoint


def test_a_fresh_run_into_a_folder_holding_a_run_is_refused(world, tokenizer, tmp_path):
    train(fresh_model(tokenizer), world, stages((2,)), out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds a run.*resume=True.*overwrite=True"):
        train(fresh_model(tokenizer), world, stages((2,)), out_dir=tmp_path, progress=False)
    train(fresh_model(tokenizer), world, stages((3,)), out_dir=tmp_path, overwrite=True, progress=False)
    assert latest_checkpoint(tmp_path).name == "checkpoint-0000003"
    assert [p.name for p in tmp_path.glob("checkpoint-*")] == ["checkpoint-0000003"]


def test_temporaries_of_a_killed_writer_are_cleaned_on_resume(world, tokenizer, tmp_path):
    train(fresh_model(tokenizer), world, stages((2,)), out_dir=tmp_path, progress=False)
    (tmp_path / ".checkpoint-0000004-999999999-x1").mkdir()  # a kill mid-write by a process that is gone
    train(fresh_model(tokenizer), world, stages((2,)), out_dir=tmp_path, resume=True, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_recipe_trains_every_matryoshka_dim_of_the_model(world, tokenizer):
    model = fresh_model(tokenizer, embed_dim=64, matryoshka_dims=(8, 16, 32, 64), patch_dropout=0.0)
    stage = Stage("s", {"short": 1.0, "pairs": 1.0}, 1, 8, 32, 24)  # matryoshka_dims=None: the model's own
    compute_gradients(model.train(), next(stage_batches(model, world, stage, seed=0)), stage, torch.device("cpu"))
    for projection in (model.text_projection, model.vision_projection):
        assert (projection.weight.grad.abs().sum(dim=1) > 0).all()  # every output dim receives a gradient


def test_matryoshka_dims_short_of_the_width_warn(world, tokenizer):
    model = fresh_model(tokenizer)
    stage = Stage("s", {"pairs": 1.0}, 1, 8, 32, 24, matryoshka_dims=(16, 32))
    with pytest.warns(UserWarning, match=r"largest is not the embedding width 128: dims 32..127 get no gradient"):
        compute_gradients(model.train(), next(stage_batches(model, world, stage, seed=0)), stage, torch.device("cpu"))


def test_training_applies_the_thread_policy_and_says_so(world, tokenizer, monkeypatch, capsys):
    before = torch.get_num_threads()
    monkeypatch.setenv("JCLIP_THREADS", "1")
    try:
        train(fresh_model(tokenizer), world, stages((1,)), device="cpu", progress=True)
        assert torch.get_num_threads() == 1
        assert "training on cpu with 1 CPU thread(s)" in capsys.readouterr().out
        monkeypatch.setenv("JCLIP_THREADS", "two")
        with pytest.raises(ValueError, match="JCLIP_THREADS='two': set it to a positive number of threads"):
            train(fresh_model(tokenizer), world, stages((1,)), device="cpu", progress=False)
    finally:
        torch.set_num_threads(before)


def _loss_on_a_fixed_batch(model, world, precision):
    from jclip_lab.train.precision import choose_precision

    stage = Stage("s", {"short": 1.0, "pairs": 1.0}, 1, 16, 32, 24)
    batch = next(stage_batches(model, world, stage, seed=0))
    model.eval()  # no patch dropout: the same tokens in both runs
    return compute_gradients(model, batch, stage, torch.device("cpu"), choose_precision(torch.device("cpu"), precision))


def test_bf16_autocast_gives_the_fp32_loss_within_one_percent(world, tokenizer):
    fp32 = _loss_on_a_fixed_batch(fresh_model(tokenizer), world, "fp32")
    bf16 = _loss_on_a_fixed_batch(fresh_model(tokenizer), world, "bf16")
    for task in fp32:  # bf16 keeps 8 bits of mantissa: the towers' outputs differ by ~0.4%, the loss by less
        assert bf16[task] == pytest.approx(fp32[task], rel=0.01), task


def test_fp16_with_a_gradient_scaler_trains(world, tokenizer):
    model = fresh_model(tokenizer)
    history = train(model, world, stages((3,)), device="cpu", precision="fp16", progress=False)
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in history.steps)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_compiled_towers_give_the_eager_loss(world, tokenizer):
    from jclip_lab.train.loop import compile_towers

    eager = _loss_on_a_fixed_batch(fresh_model(tokenizer), world, "fp32")
    model = fresh_model(tokenizer)
    compile_towers(model, backend="aot_eager")  # dynamo's graph capture and AOT autograd, without codegen
    compiled = _loss_on_a_fixed_batch(model, world, "fp32")
    assert compiled == pytest.approx(eager, rel=1e-5)
    assert list(model.state_dict()) == list(fresh_model(tokenizer).state_dict())  # names unchanged


def test_resume_finds_a_checkpoint_when_latest_points_at_a_deleted_one(world, tokenizer, tmp_path):
    import shutil

    reference = fresh_model(tokenizer)
    train(reference, world, stages((4,)), progress=False)
    interrupted = fresh_model(tokenizer)
    train(interrupted, world, stages((4,)), out_dir=tmp_path, checkpoint_every=2, progress=False)
    shutil.rmtree(tmp_path / "checkpoint-0000004")  # `latest` still names it
    resumed = fresh_model(tokenizer)
    history = train(resumed, world, stages((4,)), out_dir=tmp_path, resume=True, progress=False)
    assert len(history.steps) == 4  # steps 3-4 trained again from checkpoint-0000002
    for (name, a), b in zip(weights(reference).items(), weights(resumed).values(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)
