"""The architecture options jina-clip-v2 needs, and the Hugging Face conventions the lab's models follow."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoConfig, AutoModel
from transformers.utils import logging as transformers_logging

import jclip_lab  # noqa: F401  (registers the model type "jclip")
from jclip_lab.models import JClipConfig, JClipModel, config_preset, images_to_tensor
from jclip_lab.models.layers import rope_2d
from jclip_lab.tokenizer import train_tokenizer


def tiny(**overrides) -> JClipModel:
    torch.manual_seed(0)
    return JClipModel(config_preset("tiny", vocab_size=60, **overrides)).eval()


def test_the_tiny_preset_keeps_its_layout() -> None:
    keys = set(tiny().state_dict())
    assert {"text.norm.weight", "text_projection.weight", "vision_projection.weight"} <= keys
    assert not any("embed_norm" in key or "pos_embed" in key for key in keys)


def test_post_norm_text_blocks_normalise_the_embeddings_and_each_sum() -> None:
    model = tiny(text_post_norm=True)
    keys = set(model.state_dict())
    assert "text.embed_norm.weight" in keys and "text.norm.weight" not in keys
    states = model.text.token_states(torch.tensor([[0, 5, 6, 2]]), torch.ones(1, 4, dtype=torch.long))
    # the last block ends in a LayerNorm with unit gain and zero bias: each token has mean 0 and variance 1
    assert torch.allclose(states.mean(-1), torch.zeros(1, 4), atol=1e-5)
    assert torch.allclose(states.var(-1, unbiased=False), torch.ones(1, 4), atol=1e-3)


def test_a_learned_position_table_fixes_the_grid() -> None:
    model = tiny(vision_pos_embed=True)
    assert model.vision.pos_embed.shape == (1, 1 + 4 * 4, 128)  # 32 px in 8 px patches
    assert model.get_image_features(torch.randn(1, 3, 32, 32)).shape == (1, 128)
    with pytest.raises(ValueError, match=r"fits a 4x4 grid of patches; 48x48 px images give 6x6\. Resize them"):
        model.get_image_features(torch.randn(1, 3, 48, 48))


def test_the_position_table_changes_the_embedding_of_a_patch_moved_elsewhere() -> None:
    model = tiny(vision_pos_embed=True, patch_dropout=0.0)
    image = torch.zeros(1, 3, 32, 32)
    image[..., :8, :8] = 1.0
    moved = image.roll(shifts=(8, 8), dims=(-2, -1))
    assert not torch.allclose(model.get_image_features(image), model.get_image_features(moved), atol=1e-4)


def test_rope_positions_scaled_to_a_reference_grid() -> None:
    cos, _ = rope_2d(36, 36, head_dim=64, reference_grid=16)
    plain, _ = rope_2d(16, 16, head_dim=64)
    # patch (9, 0) of a 36 x 36 grid sits at row 9 / 36 * 16 = 4: the rotation of row 4 on the 16 x 16 grid
    assert torch.allclose(cos[9 * 36, :16], plain[4 * 16, :16], atol=1e-6)


def test_per_tower_epsilons_and_no_projections() -> None:
    model = tiny(text_layer_norm_eps=1e-5, vision_layer_norm_eps=1e-6)
    assert model.text.blocks[0].norm1.eps == 1e-5 and model.vision.blocks[0].norm1.eps == 1e-6
    assert model.vision.blocks[0].mlp.norm.eps == 1e-6 and model.vision.blocks[0].attention.norm.eps == 1e-6
    bare = tiny(add_projections=False)
    assert isinstance(bare.text_projection, torch.nn.Identity) and bare.config.embed_dim == 128
    with pytest.raises(ValueError, match="add_projections=False needs embed_dim == text_width == vision_width"):
        config_preset("tiny", add_projections=False, embed_dim=64, matryoshka_dims=(32, 64))


def test_shortest_side_resize_crops_the_centre_and_squash_keeps_everything() -> None:
    stripes = Image.new("RGB", (60, 20), "red")
    stripes.paste((0, 255, 0), (20, 0, 40, 20))  # red | green | blue
    stripes.paste((0, 0, 255), (40, 0, 60, 20))
    cropped = images_to_tensor([stripes], image_size=16, resize_mode="shortest")[0]
    squashed = images_to_tensor([stripes], image_size=16, resize_mode="squash")[0]
    green = (1 - 0.4578275) / 0.26130258
    # only the green middle is left (bicubic blends the two outermost columns with the red and blue stripes)
    assert torch.allclose(cropped[1, :, 1:-1], torch.full((16, 14), green), atol=0.05)
    assert squashed[0, 8, 0] > 1.5 and squashed[2, 8, 15] > 1.5  # red on the left, blue on the right
    with pytest.raises(ValueError, match="resize_mode must be 'squash' or 'shortest', got 'longest'"):
        images_to_tensor([stripes], image_size=16, resize_mode="longest")


def test_the_jina_clip_v2_preset_is_the_real_geometry() -> None:
    config = config_preset("jina-clip-v2")
    assert (config.text_rope_theta, config.max_text_length, config.vision_grid) == (20000.0, 512, 36)
    assert (config.text_norm_eps, config.vision_norm_eps, config.add_projections) == (1e-5, 1e-6, False)
    assert (config.vision_rope_reference_grid, config.resize_mode) == (16, "shortest")
    assert list(config.task_instructions) == ["retrieval.query"]


def test_a_position_table_cannot_load_at_another_resolution(tmp_path) -> None:
    tiny(vision_pos_embed=True).save_pretrained(tmp_path)
    bigger = config_preset("tiny", vocab_size=60, vision_pos_embed=True, image_size=48)
    with pytest.raises(ValueError, match="image_size // patch_size: saved 4, given 6"):
        JClipModel.from_pretrained(tmp_path, config=bigger)


# --- Hugging Face conventions ----------------------------------------------------------------------------------


def test_automodel_loads_a_saved_jclip_model_with_its_tokenizer(tmp_path) -> None:
    tokenizer = train_tokenizer(["a red circle", "un círculo rojo", "ein blaues Quadrat"] * 5, vocab_size=60)
    torch.manual_seed(0)
    model = JClipModel.from_preset("tiny", tokenizer=tokenizer)
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is JClipConfig
    loaded = AutoModel.from_pretrained(tmp_path)
    assert type(loaded) is JClipModel and loaded.tokenizer is not None
    assert np.allclose(loaded.encode_text(["a red circle"]), model.encode_text(["a red circle"]), atol=1e-6)


def test_save_and_load_print_no_progress_bar(tmp_path, capfd) -> None:
    was_enabled = transformers_logging.is_progress_bar_enabled()
    tiny().save_pretrained(tmp_path)
    JClipModel.from_pretrained(tmp_path)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert transformers_logging.is_progress_bar_enabled() == was_enabled  # the global setting is left as it was
