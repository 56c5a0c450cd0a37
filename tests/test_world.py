"""Behaviour of the offline world: content, splits, determinism, caching, datasets and errors."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from small_world import SMALL

from jclip_lab.models.config import OPENAI_CLIP_MEAN as CLIP_MEAN
from jclip_lab.models.config import OPENAI_CLIP_STD as CLIP_STD
from jclip_lab.profiles import get_profile
from jclip_lab.studies import study_profile
from jclip_lab.world import CAPTION_LANGUAGES, TEXT_LANGUAGES, TRANSFER_LANGUAGES, load_world, scenes
from jclip_lab.world.build import build_records
from jclip_lab.world.datasets import Collator, ImageTextDataset, TaskMixer, TextPairDataset, TripletDataset
from jclip_lab.world.languages import SCRIPTS
from jclip_lab.world.world import world_directory


def test_every_source_split_and_language_is_present(world):
    counts = world.counts()
    for source in ("scenes", "emoji", "flags", "digits", "charts"):
        assert counts[(source, "train")] > 0 and counts[(source, "test")] > 0
    assert counts[("scenes", "compositional")] > 0
    captioned = {lang for r in world.images for lang in r["short"]}
    assert captioned == set(TEXT_LANGUAGES)  # flags are named in all 33 languages
    assert {SCRIPTS[lang] for lang in TEXT_LANGUAGES} >= {"Latin", "Cyrillic", "Arabic", "Han", "Devanagari", "Thai"}
    assert len({SCRIPTS[lang] for lang in TEXT_LANGUAGES}) >= 8


def test_images_have_the_requested_resolutions(world):
    assert world.pixels(32).shape == (len(world.images), 32, 32, 3)
    assert world.pixels(48).dtype == np.uint8
    assert world.image(0, 24).size == (24, 24)  # a size not rendered before is rendered on demand


def test_held_out_compositions_never_reach_training(world):
    for record in world.images:
        if record["source"] == "scenes":
            assert scenes.has_held_out_object(record["spec"]) == (record["split"] == "compositional")


def test_transfer_languages_meet_images_only_through_text_pairs(world):
    train_languages = {item[1] for item in ImageTextDataset(world, None, "train").items}
    assert not train_languages & set(TRANSFER_LANGUAGES)
    paired = {p["lang_b"] for p in world.text_pairs if p["split"] == "train" and p["kind"] == "caption"}
    assert set(TRANSFER_LANGUAGES) <= paired
    test_languages = {item[1] for item in ImageTextDataset(world, None, "test", languages=CAPTION_LANGUAGES).items}
    assert set(TRANSFER_LANGUAGES) <= test_languages


def test_hard_negatives_change_exactly_one_attribute():
    rng = random.Random(0)
    for _ in range(200):
        scene = scenes.random_scene(rng)
        negative = scenes.hard_negative(scene, rng)
        pairs = zip(scene["objects"], negative["objects"], strict=True)
        changes = sum(a != b for old, new in pairs for a, b in zip(old, new, strict=True))
        assert changes == 1
        assert scenes.short_caption(negative, "en") != scenes.short_caption(scene, "en")


def test_sts_scores_are_graded_and_span_the_scale(world):
    scores = {p["score"] for p in world.sts if p["split"] == "test"}
    assert min(scores) < 1 and max(scores) == 5.0 and len(scores) > 5


def test_same_seed_same_world_other_seed_other_world(world):
    a = build_records(world.profile, seed=1, sources=("scenes", "digits"))
    b = build_records(world.profile, seed=1, sources=("scenes", "digits"))
    c = build_records(world.profile, seed=2, sources=("scenes", "digits"))
    assert a == b
    assert a["images"] != c["images"]


def test_cached_world_loads_identically(world):
    again = load_world(world.profile, seed=0, cache_dir=world.directory.parent)
    assert again.images == world.images and again.text_pairs == world.text_pairs
    assert np.array_equal(again.pixels(32), world.pixels(32))
    assert not [p for p in world.directory.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_profiles_that_generate_the_same_world_share_its_cache(tmp_path):
    tiny = get_profile("tiny")
    assert world_directory(study_profile(tiny), 0, tmp_path) == world_directory(tiny, 0, tmp_path)
    assert world_directory(dataclasses.replace(tiny, flags=99), 0, tmp_path) != world_directory(tiny, 0, tmp_path)
    assert world_directory(tiny, 1, tmp_path) != world_directory(tiny, 0, tmp_path)


def test_unknown_language_source_and_split_name_the_valid_ones(world):
    with pytest.raises(ValueError, match="Unknown language 'xx'; valid languages: ar, bn"):
        world.captions([0], "xx")
    with pytest.raises(ValueError, match="Unknown source.*valid sources: scenes, emoji, flags, digits, charts"):
        world.select(source="photos")
    with pytest.raises(ValueError, match="Unknown split 'dev'"):
        world.select(split="dev")
    with pytest.raises(ValueError, match="Unknown language 'klingon'"):
        ImageTextDataset(world, None, "train", languages=["en", "klingon"])


def test_a_subset_renders_only_its_images_in_memory(world):
    evaluation = world.subset(["test", "compositional"])
    assert [r for r in world.images if r["split"] in ("test", "compositional")] == evaluation.images
    assert evaluation.directory is None and evaluation.text_pairs is world.text_pairs
    pixels = evaluation.pixels(12)  # a size the cache does not hold: rendered here, not written to disk
    assert pixels.shape == (len(evaluation.images), 12, 12, 3)
    first = next(i for i, r in enumerate(world.images) if r["split"] in ("test", "compositional"))
    assert np.array_equal(np.asarray(evaluation.image(0, 32)), np.asarray(world.image(first, 32)))  # the same image
    assert not (world.directory / "pixels-12.npy").exists()
    with pytest.raises(ValueError, match="Unknown splits \\['tset'\\]"):
        world.subset(["tset"])


def test_task_mixer_batches_have_no_duplicate_keys_and_are_seeded(world, tokenizer):
    data = {"image_text": ImageTextDataset(world, None, "train"), "pairs": TextPairDataset(world, "train")}
    data["triplets"] = TripletDataset(world, "train")
    indices = TaskMixer(data, batch_size=16, collate=list, seed=3)._batches("image_text")
    for _ in range(30):
        batch = next(indices)
        assert len(batch) == 16
        assert len({data["image_text"].key(i) for i in batch}) == 16
    first = next(iter(TaskMixer(data, 8, Collator(tokenizer, 24, CLIP_MEAN, CLIP_STD), seed=5)))
    second = next(iter(TaskMixer(data, 8, Collator(tokenizer, 24, CLIP_MEAN, CLIP_STD), seed=5)))
    assert first["image_text"]["pixel_values"].shape == (8, 3, 32, 32)
    assert first["triplets"]["negative"]["input_ids"].shape[0] == 8
    assert first["pairs"]["a"]["input_ids"].equal(second["pairs"]["a"]["input_ids"])
    skipped = next(TaskMixer(data, 8, Collator(tokenizer, 24, CLIP_MEAN, CLIP_STD), seed=5).iterate(skip=1))
    stream = iter(TaskMixer(data, 8, Collator(tokenizer, 24, CLIP_MEAN, CLIP_STD), seed=5))
    next(stream)
    assert skipped["pairs"]["b"]["input_ids"].equal(next(stream)["pairs"]["b"]["input_ids"])


def test_the_world_cache_heals_damaged_and_deleted_files(tmp_path):
    few = dataclasses.replace(SMALL, name="heal", scenes=10, emoji=2, flags=2, charts=2, digits=10)
    world = load_world(few, cache_dir=tmp_path, progress=False)
    expected = np.array(world.pixels(few.image_size))
    path = world.directory / f"pixels-{few.image_size}.npy"
    data = bytearray(path.read_bytes())
    data[-1000:] = bytes(1000)  # zeroed bytes inside the pixel array: they would load as black pixels
    path.write_bytes(bytes(data))
    reloaded = load_world(few, cache_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match=f"pixels-{few.image_size}.npy is damaged"):
        assert np.array_equal(reloaded.pixels(few.image_size), expected)
    (world.directory / "records.json").unlink()  # a deleted records.json made every later load fail
    with pytest.warns(UserWarning, match="records.json is missing or damaged"):
        assert load_world(few, cache_dir=tmp_path, progress=False).images == world.images
    (tmp_path / f".{world.directory.name}-999999999-abc").mkdir()  # left by a writer killed mid-write
    load_world(few, cache_dir=tmp_path, progress=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
