"""The real jina-clip-v2 through the lab's own code, proven offline on tiny checkpoints in the real format.

:mod:`jclip_lab.offline.fake_checkpoint` writes the checkpoints (the real key names, config schema, bf16
safetensors, non-zero LoRA), from its own description of the format; tests/jina_reference.py is an independent
forward pass in the original's conventions. The converted model's ``encode_text`` / ``encode_image`` must match it
to 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from jina_reference import JinaReference
from PIL import Image

from jclip_lab.models import JClipModel, config_preset, count_parameters
from jclip_lab.models.jina_clip_v2 import JINA_CLIP_V2_REVISION, LICENCE_NOTICE, checkpoint_inventory
from jclip_lab.offline.fake_checkpoint import (
    LORA,
    REAL,
    TEXT,
    VISION,
    checkpoint_shapes,
    write_fake_checkpoint,
    write_hf_cache,
)

TEXTS = [
    "a red circle on the left",
    "赤い丸",
    "зелёный треугольник внизу и ein blaues Quadrat oben rechts",
    "cat " * 700,  # longer than the 512 tokens encode_text keeps
]
HUB_PARAMETERS = 865_278_476  # https://huggingface.co/jinaai/jina-clip-v2 (safetensors metadata)


def images() -> list[Image.Image]:
    """Random pictures of several sizes and modes: the preprocessing resizes the shortest side and crops."""
    generator = np.random.default_rng(0)
    sizes_and_modes = [((30, 20), "RGB"), ((17, 41), "RGB"), ((16, 16), "RGB"), ((25, 25), "L")]
    pictures = []
    for (width, height), mode in sizes_and_modes:
        channels = (height, width, 3) if mode == "RGB" else (height, width)
        pictures.append(Image.fromarray(generator.integers(0, 256, channels, dtype=np.uint8), mode))
    return pictures


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_fake_checkpoint(tmp_path_factory.mktemp("jina-clip-v2"))


@pytest.fixture(scope="module")
def converted(checkpoint) -> JClipModel:
    torch.manual_seed(0)
    return JClipModel.from_jina_clip_v2(checkpoint)


@pytest.fixture(scope="module")
def reference(checkpoint) -> JinaReference:
    return JinaReference(checkpoint)


# --- parameter counts ---------------------------------------------------------------------------------------


def test_the_real_inventory_is_the_hubs_865_million_parameters() -> None:
    inventory = checkpoint_inventory(config_preset("jina-clip-v2"))
    assert inventory == checkpoint_shapes(REAL)  # the converter's layout = the independently written one
    count = {key: torch.Size(shape).numel() for key, shape in inventory.items()}
    lora = sum(n for key, n in count.items() if "lora_" in key)
    text = sum(n for key, n in count.items() if key.startswith(TEXT))
    vision = sum(n for key, n in count.items() if key.startswith(VISION))
    assert (sum(count.values()), text, lora, vision) == (HUB_PARAMETERS, 560_895_564, 2_581_068, 304_382_912)


def test_the_lab_model_counts_the_hub_total_less_lora_and_token_type_plus_logit_scale() -> None:
    with torch.device("meta"):
        model = JClipModel(config_preset("jina-clip-v2"))
    counts = count_parameters(model)
    token_type_row, logit_scale = 1024, 1  # the row is folded into the word embeddings; the scale is not stored
    assert counts["total"] == HUB_PARAMETERS - 2_581_068 - token_type_row + logit_scale == 862_696_385
    assert (counts["text"], counts["vision"], counts["projection"]) == (558_313_472, 304_382_912, 0)


# --- parity with the reference forward ------------------------------------------------------------------------


@pytest.mark.parametrize("task", [None, "retrieval.query"])
@pytest.mark.parametrize("truncate_dim", [None, 16, 8])
def test_encode_text_matches_the_reference(converted, reference, task, truncate_dim) -> None:
    ours = converted.encode_text(TEXTS, task=task, truncate_dim=truncate_dim, batch_size=3)
    theirs = reference.encode_text(TEXTS, task=task, truncate_dim=truncate_dim)
    assert ours.shape == theirs.shape == (len(TEXTS), truncate_dim or 32)
    assert np.abs(ours - theirs).max() < 1e-5


def test_the_query_prefix_and_the_lora_adapter_matter(converted, checkpoint) -> None:
    plain, query = converted.encode_text(TEXTS[:2]), converted.encode_text(TEXTS[:2], task="retrieval.query")
    assert np.abs(plain - query).max() > 1e-2
    without_adapter = JinaReference(checkpoint)
    without_adapter.lora_scale = 0.0  # the merged adapter changes the embeddings: it is not a no-op
    assert np.abs(without_adapter.encode_text(TEXTS[:2]) - plain).max() > 1e-2


@pytest.mark.parametrize("truncate_dim", [None, 16, 8])
def test_encode_image_matches_the_reference(converted, reference, truncate_dim) -> None:
    ours = converted.encode_image(images(), truncate_dim=truncate_dim, batch_size=3)
    theirs = reference.encode_image(images(), truncate_dim=truncate_dim)
    assert ours.shape == theirs.shape == (4, truncate_dim or 32)
    assert np.abs(ours - theirs).max() < 1e-5


def test_the_converted_config_is_the_checkpoints(converted, checkpoint) -> None:
    config = converted.config
    assert (config.text_width, config.text_layers, config.text_heads, config.text_rope_theta) == (32, 2, 4, 20000.0)
    assert (config.max_text_length, config.image_size, config.resize_mode) == (512, 16, "shortest")
    assert config.task_instructions == {"retrieval.query": "Represent the query for retrieving evidence documents: "}
    assert converted.tokenizer.pad_token_id == 1 and len(converted.tokenizer) == config.vocab_size
    assert converted.get_scale().item() == pytest.approx(np.exp(2.6592), rel=1e-6)  # logit_scale is not stored


def test_a_stored_logit_scale_is_used(tmp_path) -> None:
    model = JClipModel.from_jina_clip_v2(
        write_fake_checkpoint(tmp_path, edit=lambda t: t.update(logit_scale=torch.tensor(3.0)))
    )
    assert model.get_scale().item() == pytest.approx(np.exp(3.0), rel=1e-6)
    assert all(parameter.requires_grad for parameter in model.parameters())  # ready to fine-tune


def test_tasks_the_real_model_lacks_are_refused(converted) -> None:
    with pytest.raises(ValueError, match=r"Unknown task 'retrieval.passage'; choose one of \['retrieval.query'\]"):
        converted.encode_text("hello", task="retrieval.passage")


def test_a_converted_model_saves_and_reloads_through_automodel(converted, tmp_path) -> None:
    from transformers import AutoModel

    converted.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path)
    assert type(reloaded) is JClipModel
    assert np.allclose(reloaded.encode_text(TEXTS[:2]), converted.encode_text(TEXTS[:2]), atol=1e-6)


def test_the_licence_is_stated_when_the_weights_load(checkpoint, capsys) -> None:
    JClipModel.from_jina_clip_v2(checkpoint)
    assert "CC BY-NC 4.0" in LICENCE_NOTICE and capsys.readouterr().out == LICENCE_NOTICE + "\n"


# --- fp16, fp32, and broken checkpoints ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_other_float_dtypes_load_too(tmp_path, dtype) -> None:
    model = JClipModel.from_jina_clip_v2(write_fake_checkpoint(tmp_path, dtype=dtype))
    assert np.abs(model.encode_text(TEXTS[:2]) - JinaReference(tmp_path).encode_text(TEXTS[:2])).max() < 1e-5


def broken(tmp_path: Path, edit) -> Path:
    return write_fake_checkpoint(tmp_path, edit=edit)


def test_a_missing_key_is_named(tmp_path) -> None:
    folder = broken(tmp_path, lambda tensors: tensors.pop(f"{VISION}blocks.1.attn.q_bias"))
    with pytest.raises(KeyError, match=r"missing keys 1 \(vision_model\.blocks\.1\.attn\.q_bias\); unknown keys 0"):
        JClipModel.from_jina_clip_v2(folder)


def test_an_unknown_key_is_named(tmp_path) -> None:
    folder = broken(tmp_path, lambda tensors: tensors.update({f"{VISION}head.weight": torch.zeros(2, 2)}))
    with pytest.raises(KeyError, match=r"missing keys 0 \(\); unknown keys 1 \(vision_model\.head\.weight\)"):
        JClipModel.from_jina_clip_v2(folder)


def test_a_wrong_shape_is_named_before_anything_is_copied(tmp_path) -> None:
    key = f"{TEXT}encoder.layers.0.mlp.fc1{LORA}0.lora_B"
    folder = broken(tmp_path, lambda tensors: tensors.update({key: torch.zeros(1, 64, 8)}))
    with pytest.raises(ValueError, match=rf"{key.replace('.', '[.]')}: stored \(1, 64, 8\), expected \(1, 64, 4\)"):
        JClipModel.from_jina_clip_v2(folder)


def test_an_unsupported_feature_and_a_missing_file_are_refused(tmp_path, checkpoint) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    config["vision_config"]["ls_init_value"] = 0.1
    folder = write_fake_checkpoint(tmp_path / "layer-scale")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"uses layer scale \(ls_init_value\), which the lab's towers do not"):
        JClipModel.from_jina_clip_v2(folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks \['tokenizer.json'\]"):
        JClipModel.from_jina_clip_v2(folder)


def test_the_real_geometry_derives_the_preset() -> None:
    from jclip_lab.models.jina_clip_v2 import jclip_config_from_jina
    from jclip_lab.offline.fake_checkpoint import config_json, preprocessor_json

    derived = jclip_config_from_jina(config_json(REAL), preprocessor_json(REAL), checkpoint_shapes(REAL))
    preset = config_preset("jina-clip-v2", logit_scale_init=2.6592)
    assert derived.to_dict() == preset.to_dict()


# --- the Hugging Face cache, offline ------------------------------------------------------------------------


def offline_cache(monkeypatch, home: Path) -> None:
    """HF_HUB_OFFLINE=1 and HF_HOME / HF_HUB_CACHE in a temporary folder, as a fresh process would read them
    (huggingface_hub reads these variables once, at import, into ``huggingface_hub.constants``)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hub"))


def test_the_pinned_revision_loads_from_an_hf_cache_offline(checkpoint, reference, tmp_path, monkeypatch) -> None:
    assert len(JINA_CLIP_V2_REVISION) == 40 and int(JINA_CLIP_V2_REVISION, 16) >= 0
    write_hf_cache(tmp_path / "hub", checkpoint, JINA_CLIP_V2_REVISION)
    offline_cache(monkeypatch, tmp_path)
    model = JClipModel.from_jina_clip_v2()  # the default repository at the pinned revision, from the cache
    ours = model.encode_text(TEXTS[:2], task="retrieval.query")
    assert np.abs(ours - reference.encode_text(TEXTS[:2], task="retrieval.query")).max() < 1e-5


def test_an_empty_cache_offline_says_how_to_fix_it(tmp_path, monkeypatch) -> None:
    offline_cache(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache and cannot be downloaded here"):
        JClipModel.from_jina_clip_v2()
