"""Behaviour of the model zoo: train once, then load from the cache; variants; stages; concurrent callers."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from jclip_lab import train as train_module
from jclip_lab import zoo


@pytest.fixture
def quick_profile(world, monkeypatch):
    # The session's world cache, so the world and its tokenizer are built once; each test uses its own seed.
    monkeypatch.setenv("JCLIP_CACHE", str(world.directory.parent))
    calls: list[str] = []
    real_train = train_module.train

    def counting_train(*args, **kwargs):
        calls.append(args[2][0].name)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(zoo, "train", counting_train)
    profile = dataclasses.replace(world.profile, steps_per_stage=4, batch_size=8)
    return profile, calls


def test_trains_once_then_loads_from_the_cache(quick_profile):
    profile, calls = quick_profile
    first = zoo.load(profile, seed=1, progress=False)
    assert calls == ["1-short-captions", "2-long-captions", "3-triplets-charts"]
    again = zoo.load(profile, seed=1, progress=False)
    assert len(calls) == 3  # nothing retrained
    text = "red circle"
    assert np.allclose(first.encode_text(text), again.encode_text(text))
    after_stage_1 = zoo.load(profile, stage=1, seed=1, progress=False)
    assert not np.allclose(after_stage_1.encode_text(text), first.encode_text(text))
    assert zoo.load_history(profile, seed=1).steps[-1]["step"] == 4 + 2 + 2 - 1


def test_a_variant_starts_from_the_stages_it_shares(quick_profile, monkeypatch):
    profile, calls = quick_profile
    monkeypatch.setattr(zoo, "study_profile", lambda p: p)  # the study schedule at the quick profile's size
    zoo.load(profile, "stage-3-no-triplets", seed=2, progress=False)
    zoo.load(profile, "stage-3-anchor-positive", seed=2, progress=False)
    # both start from the showcase (canonical, seed 0) after stage 2, trained once; seed 2's canonical never is
    assert calls == ["1-short-captions", "2-long-captions", *["3-triplets-charts"] * 3]
    assert not zoo.variant_directory(profile, "canonical", seed=2).exists()
    with pytest.raises(ValueError, match="has stages 3..3; got stage=1"):
        zoo.load(profile, "stage-3-no-triplets", stage=1, seed=2)


def test_two_callers_at_once_train_once(quick_profile):
    profile, calls = quick_profile
    threads = [
        threading.Thread(target=zoo.load, args=(profile, "image-text-only"), kwargs={"seed": 3, "progress": False})
    ]
    threads.append(
        threading.Thread(target=zoo.load, args=(profile, "image-text-only"), kwargs={"seed": 3, "progress": False})
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["1-short-captions"]


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown variant 'best'; valid variants: canonical, stage-1, image-text-only"):
        zoo.load("tiny", "best")


def test_a_deleted_or_damaged_stage_is_trained_again(quick_profile):
    profile, calls = quick_profile
    zoo.load(profile, "image-text-only", seed=4, progress=False)
    stage = zoo.variant_directory(profile, "image-text-only", seed=4) / "stage-1"
    weights = stage / "model.safetensors"
    weights.write_bytes(bytes(weights.stat().st_size))  # zeroed on disk
    with pytest.warns(UserWarning, match="incomplete or damaged: training it again"):
        zoo.load(profile, "image-text-only", seed=4, progress=False)
    import shutil

    shutil.rmtree(stage)
    with pytest.warns(UserWarning, match="incomplete or damaged"):
        model = zoo.load(profile, "image-text-only", seed=4, progress=False)
    assert calls == ["1-short-captions"] * 3 and model.encode_text("red circle").shape == (128,)
