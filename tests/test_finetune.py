"""Behaviour of fine-tuning: your data read with every bad row reported, the options (frozen towers, LoRA,
checkpointing, caching), the measurements before and after, and the real-format model."""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import replace

import pytest
import torch
from PIL import Image

from jclip_lab.finetune import BadDataError, FinetuneConfig, finetune, read_captioned_images, read_text_pairs
from jclip_lab.models import JClipModel
from jclip_lab.world.clocks import clock_images, write_clock_folder

QUICK = FinetuneConfig(steps=2, batch_size=4, warmup=1, held_out=0.25)


@pytest.fixture(scope="module")
def clocks(tmp_path_factory):
    return write_clock_folder(tmp_path_factory.mktemp("clocks"), clock_images(variants=2, test_variants=1)[:12],
                              size=32, languages=("en", "de"))  # fmt: skip


def write_table(path, rows, columns=("image", "caption", "language")):
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


# --- your data ----------------------------------------------------------------------------------------------


def test_a_clean_folder_reads_every_row(clocks):
    data = read_captioned_images(clocks)
    assert len(data.rows) == 24 and len(data.images) == 12 and not data.report.problems
    train, held_out = data.split(0.25)
    assert {r.image for r in train.rows}.isdisjoint({r.image for r in held_out.rows})
    assert len(held_out.images) == 3


def test_every_kind_of_bad_row_is_reported_never_dropped_silently(clocks, tmp_path):
    folder = clocks.parent
    (folder / "broken.png").write_bytes(b"not an image")
    table = write_table(tmp_path / "captions.csv", [
        ["clock-01-00-v0.png", "one o'clock", "en"],
        ["missing.png", "two o'clock", "en"],
        ["broken.png", "three o'clock", "en"],
        ["clock-01-30-v0.png", "   ", "en"],
        ["clock-02-00-v0.png", "zwei Uhr", "klingon"],
        ["clock-01-00-v0.png", "one o'clock", "en"],
    ])  # fmt: skip
    with pytest.raises(BadDataError) as error:
        read_captioned_images(table, images=folder)
    message = str(error.value)
    assert "6 rows, 5 with problems" in message and "skip_bad_rows=True" in message
    counts = error.value.report.counts()
    assert counts == {"image missing": 1, "image unreadable": 1, "empty caption": 1, "unknown language": 1,
                      "duplicate row": 1}  # fmt: skip
    assert [p.line for p in error.value.report.problems] == [3, 4, 5, 6, 7]
    data = read_captioned_images(table, images=folder, skip_bad_rows=True)
    assert [row.caption for row in data.rows] == ["one o'clock"] and len(data.report.problems) == 5


def test_jsonl_tables_and_missing_columns(clocks, tmp_path):
    rows = [{"image": "clock-01-00-v0.png", "caption": "一時", "language": "ja"}]
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    assert read_captioned_images(tmp_path / "captions.jsonl", images=clocks.parent).rows[0].caption == "一時"
    write_table(tmp_path / "bad.csv", [["clock-01-00-v0.png", "x"]], columns=("file", "text"))
    with pytest.raises(ValueError, match=r"has no column\(s\) \['image', 'caption'\]"):
        read_captioned_images(tmp_path / "bad.csv", images=clocks.parent)
    with pytest.raises(FileNotFoundError, match="No captions table"):
        read_captioned_images(tmp_path / "none.csv")


def test_text_pairs_report_their_bad_rows(tmp_path):
    table = write_table(tmp_path / "pairs.csv", [["red", "rot"], ["red", "rot"], ["", "blau"]], columns=("a", "b"))
    with pytest.raises(BadDataError, match="3 rows, 2 with problems"):
        read_text_pairs(table)
    assert read_text_pairs(table, skip_bad_rows=True).pairs == [("red", "rot")]


# --- fine-tuning --------------------------------------------------------------------------------------------


def changed(before: dict, after: JClipModel, prefix: str) -> bool:
    return any(not torch.equal(before[k], v) for k, v in after.state_dict().items() if k.startswith(prefix))


def test_finetuning_measures_before_and_after_and_leaves_the_input_alone(model, world, clocks):
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    result = finetune(model, read_captioned_images(clocks), QUICK, world=world, progress=False)
    assert set(result.before) == set(result.after) == {"held-out R@1", "held-out R@5", "text retrieval R@1", "sts",
                                                       "scenes t2i R@1"}  # fmt: skip
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())  # a copy was trained
    assert changed(weights, result.model, "vision.") and changed(weights, result.model, "text.")
    assert torch.equal(result.model.logit_scale, model.logit_scale)  # the learned temperature is kept
    assert "measure" in result.table() and len(result.history.steps) == 2


@pytest.mark.parametrize("frozen", ["text", "vision"])
def test_a_frozen_tower_does_not_move(model, world, clocks, frozen):
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    config = FinetuneConfig(**{**QUICK.__dict__, "freeze": frozen})
    result = finetune(model, read_captioned_images(clocks), config, world=world, progress=False)
    moving = "vision" if frozen == "text" else "text"
    assert not changed(weights, result.model, f"{frozen}.") and not changed(
        weights, result.model, f"{frozen}_projection"
    )
    assert changed(weights, result.model, f"{moving}.")


def test_lora_trains_few_parameters_and_merges_back_into_plain_weights(model, world, clocks, tmp_path):
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    config = FinetuneConfig(**{**QUICK.__dict__, "lora_rank": 4, "pair_ratio": 0.5})
    result = finetune(model, read_captioned_images(clocks), config, pairs="lab", world=world, progress=False)
    text_weights = sum(p.numel() for p in model.text.parameters())
    vision_weights = sum(p.numel() for p in model.vision.parameters()) + model.vision_projection.weight.numel()
    assert result.trainable < text_weights / 5 + vision_weights  # the adapter, not the text tower
    assert list(result.model.state_dict()) == list(weights)  # merged: the plain layout again
    assert changed(weights, result.model, "text.blocks")  # ... with the adapter folded in
    result.model.save_pretrained(tmp_path / "tuned")
    reloaded = JClipModel.from_pretrained(tmp_path / "tuned")
    assert torch.allclose(
        torch.tensor(reloaded.encode_text("one o'clock")), torch.tensor(result.model.encode_text("one o'clock"))
    )


def test_the_same_seed_gives_the_same_lora_run_whatever_ran_before(model, clocks):
    data, config = read_captioned_images(clocks), FinetuneConfig(**{**QUICK.__dict__, "lora_rank": 4})
    first = finetune(model, data, config, pairs=None, progress=False).model
    torch.randn(1000)  # other work between two runs moves the global random state
    second = finetune(model, data, config, pairs=None, progress=False).model
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_checkpointing_and_caching_give_the_same_model(model, world, clocks):
    data = read_captioned_images(clocks)
    model.config.patch_dropout = 0.0
    model.vision.patch_dropout.p = 0.0
    plain = finetune(model, data, QUICK, pairs=None, world=None, progress=False).model
    config = FinetuneConfig(**{**QUICK.__dict__, "gradient_checkpointing": True, "chunk_size": 2})
    lean = finetune(model, data, config, pairs=None, world=None, progress=False).model
    for (name, a), b in zip(plain.state_dict().items(), lean.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-4, msg=name)


def test_settings_that_cannot_work_are_refused(model, clocks):
    with pytest.raises(ValueError, match="freeze must be None, 'text' or 'vision'"):
        FinetuneConfig(freeze="both")
    with pytest.raises(ValueError, match='pairs="lab" needs the world'):
        finetune(model, read_captioned_images(clocks), QUICK, pairs="lab", world=None, progress=False)


def test_the_real_format_model_finetunes_with_lora_and_round_trips(tmp_path, clocks):
    from jclip_lab.offline.fake_checkpoint import write_fake_checkpoint

    real = JClipModel.from_jina_clip_v2(write_fake_checkpoint(tmp_path / "real"))
    before = {k: v.clone() for k, v in real.state_dict().items()}
    config = FinetuneConfig(steps=2, batch_size=4, warmup=1, lora_rank=2, held_out=0.25)
    result = finetune(real, read_captioned_images(clocks), config, pairs=None, progress=False)
    assert list(result.model.state_dict()) == list(before) and changed(before, result.model, "text.")
    result.model.save_pretrained(tmp_path / "tuned")
    again = JClipModel.from_pretrained(tmp_path / "tuned")
    text = "one o'clock"
    torch.testing.assert_close(torch.tensor(again.encode_text(text)), torch.tensor(result.model.encode_text(text)))
    image = Image.open(clocks.parent / "clock-01-00-v0.png")
    torch.testing.assert_close(torch.tensor(again.encode_image(image)), torch.tensor(result.model.encode_image(image)))


def test_a_setting_that_cannot_fit_is_refused_before_training(model, world, clocks, monkeypatch):
    from jclip_lab.finetune import tuning

    monkeypatch.setattr(tuning, "device_memory", lambda device: 2**20)  # a device with 1 MiB
    with pytest.raises(MemoryError, match=r"needs about .* GiB .* has 0.0 GiB.*chunk_size.*gradient_checkpointing"):
        finetune(model, read_captioned_images(clocks), QUICK, world=world, progress=False)


def test_the_command_line_reports_bad_rows_then_trains_without_them(model, world, clocks, tmp_path, capsys,
                                                                    monkeypatch):  # fmt: skip
    import jclip_lab.world
    from jclip_lab.cli import main

    monkeypatch.setattr(jclip_lab.world, "load_world", lambda profile: world)
    model.save_pretrained(tmp_path / "model")
    rows = [line.split(",") for line in clocks.read_text(encoding="utf-8").splitlines()[1:]] + [["gone.png", "x", "en"]]
    table = write_table(tmp_path / "captions.csv", rows)
    arguments = ["finetune", "--model", str(tmp_path / "model"), "--captions", str(table), "--images",
                 str(clocks.parent), "--steps", "2", "--batch-size", "4", "--out", str(tmp_path / "tuned")]  # fmt: skip
    with pytest.raises(SystemExit):
        main(arguments)
    assert "25 rows, 1 with problems (image missing: 1)" in capsys.readouterr().err
    assert main([*arguments, "--skip-bad-rows"]) == 0
    output = capsys.readouterr().out
    assert "skipped:" in output and "held-out R@1" in output and (tmp_path / "tuned" / "model.safetensors").exists()


# --- cheaper measurements and memory plans (notebook 12) ----------------------------------------------------


def test_lab_text_pairs_mix_in_without_measuring_the_world(model, world, clocks):
    from jclip_lab.finetune.tuning import lab_text_pairs

    pairs = lab_text_pairs(world)
    assert len(pairs.pairs) == sum(p["split"] == "train" for p in world.text_pairs) and not pairs.report.problems
    config = FinetuneConfig(**{**QUICK.__dict__, "pair_ratio": 0.5})
    result = finetune(model, read_captioned_images(clocks), config, pairs=pairs, world=None, progress=False)
    assert set(result.after) == {"held-out R@1", "held-out R@5"}  # no world: only your held-out rows


def test_forgetting_measures_are_the_lab_measures_in_fewer_languages(model, world):
    from jclip_lab.evaluate import Embedder
    from jclip_lab.evaluate.world_benchmarks import sts_benchmark
    from jclip_lab.finetune.tuning import forgetting_measures

    measured = forgetting_measures(model, world, ("de", "ja"))
    assert set(measured) == {"text retrieval R@1", "sts", "scenes t2i R@1"}
    sts = {r.subset: r.value for r in sts_benchmark(Embedder(model, world), "test", ("de", "ja"))}
    assert measured["sts"] == pytest.approx(sts["all"])
    assert forgetting_measures(model, world, ("de",))["sts"] == pytest.approx(sts["de"])


@pytest.mark.parametrize("options", [{}, {"freeze": "text"}, {"lora_rank": 4}, {"chunk_size": 2}])
def test_finetune_cost_without_a_model_matches_the_check_finetune_makes(model, options):
    from jclip_lab.finetune.tuning import estimate_memory, finetune_cost, prepare

    config = FinetuneConfig(batch_size=8, precision="fp32", **options)
    prepared = prepare(copy.deepcopy(model), config)
    expected = estimate_memory(prepared, config, pair_batch=8, device=torch.device("cpu"))
    assert finetune_cost(model.config, config).peak_bytes == expected.peak_bytes


def test_a_plan_for_a_gpu_names_the_gpu_and_finds_the_largest_batch():
    from jclip_lab.cost import T4
    from jclip_lab.finetune.tuning import check_fits_on, largest_batch
    from jclip_lab.models import config_preset

    real, at_512 = config_preset("jina-clip-v2"), {"image_size": 512, "max_text_length": 77}
    with pytest.raises(MemoryError, match=r"batch_size=32 needs about .* GiB .* a T4 16GB has 16 GiB.*chunk_size"):
        check_fits_on(real, FinetuneConfig(batch_size=32, **at_512), T4)
    lean = FinetuneConfig(lora_rank=16, gradient_checkpointing=True, chunk_size=8, **at_512)
    largest = largest_batch(real, replace(lean, chunk_size=None), T4, most=1024)
    assert 2 <= largest < 1024
    check_fits_on(real, replace(lean, chunk_size=None, batch_size=largest), T4)
    with pytest.raises(MemoryError):
        check_fits_on(real, replace(lean, chunk_size=None, batch_size=2 * largest), T4)
