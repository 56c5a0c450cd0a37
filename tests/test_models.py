"""Tests for jclip_lab.models: RoPE, the towers, JClipModel's API, save/load, parameter counts and input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from jclip_lab.models import JClipModel, check_same_architecture, config_preset, count_parameters
from jclip_lab.models.layers import apply_rope, rope_1d, rope_2d
from jclip_lab.models.vision import PatchDropout
from jclip_lab.tokenizer import train_tokenizer

SENTENCES = [
    "a red circle on the left",
    "un círculo rojo a la izquierda",
    "ein blaues Quadrat oben rechts",
    "зелёный треугольник внизу",
    "赤い丸が左にある",
    "a small yellow star in the middle of a white picture",
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(SENTENCES * 5, vocab_size=120)


@pytest.fixture()
def model(tokenizer) -> JClipModel:
    torch.manual_seed(0)
    return JClipModel.from_preset("tiny", tokenizer=tokenizer)


def scene(size: int = 40) -> Image.Image:
    """A small RGB picture: a red square and a blue disc on white."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, 16, 16), fill="red")
    draw.ellipse((20, 18, 36, 34), fill="blue")
    return image


def rotated_score(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, i: int, j: int) -> float:
    """q rotated to position i, dotted with k rotated to position j."""
    return (apply_rope(q, cos[i], sin[i]) @ apply_rope(k, cos[j], sin[j])).item()


# --- RoPE ----------------------------------------------------------------------------------------------------


def test_rope_1d_score_depends_only_on_the_offset() -> None:
    q, k = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    cos, sin = rope_1d(seq_len=40, head_dim=16)
    for offset in (0, 3, -5):
        scores = [rotated_score(q, k, cos, sin, start + offset, start) for start in (5, 12, 30)]
        assert scores == pytest.approx([scores[0]] * 3, abs=1e-5)
    by_offset = {round(rotated_score(q, k, cos, sin, 5 + offset, 5), 3) for offset in range(8)}
    assert len(by_offset) == 8  # ... and it does change with the offset


def test_rope_2d_score_depends_only_on_the_row_and_column_offset() -> None:
    q, k = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    height, width = 6, 9  # a non-square grid
    cos, sin = rope_2d(height, width, head_dim=16)

    def score(q_at: tuple[int, int], k_at: tuple[int, int]) -> float:
        return rotated_score(q, k, cos, sin, q_at[0] * width + q_at[1], k_at[0] * width + k_at[1])

    base = score((2, 3), (1, 1))
    assert score((4, 8), (3, 6)) == pytest.approx(base, abs=1e-5)  # both moved by (+2, +5)
    assert score((3, 3), (2, 1)) == pytest.approx(base, abs=1e-5)  # both moved by (+1, 0)
    assert score((2, 4), (1, 1)) != pytest.approx(base, abs=1e-3)  # another column offset
    assert score((3, 3), (1, 1)) != pytest.approx(base, abs=1e-3)  # another row offset


def test_rope_2d_gives_a_patch_the_same_rotation_on_any_grid() -> None:
    small_cos, small_sin = rope_2d(4, 4, head_dim=8)
    for height, width in ((8, 8), (4, 7), (6, 4)):
        cos, sin = rope_2d(height, width, head_dim=8)
        for row, col in ((0, 0), (1, 3), (3, 2)):
            torch.testing.assert_close(cos[row * width + col], small_cos[row * 4 + col])
            torch.testing.assert_close(sin[row * width + col], small_sin[row * 4 + col])
    assert len({tuple(row.tolist()) for row in rope_2d(5, 3, head_dim=8)[1]}) == 15  # every patch its own angles


def test_vision_tower_runs_on_non_square_and_bigger_images(model) -> None:
    model.eval()
    for height, width in ((32, 32), (48, 48), (32, 64), (64, 32)):
        assert model.get_image_features(torch.randn(2, 3, height, width)).shape == (2, 128)


# --- towers ----------------------------------------------------------------------------------------------------


def test_padding_does_not_change_a_text_embedding(model) -> None:
    model.eval()
    short, long = torch.tensor([5, 17, 9, 23, 2]), torch.tensor([5, 8, 20, 11, 14, 12, 7, 19, 2])
    alone = model.get_text_features(short[None], torch.ones(1, 5, dtype=torch.long))
    batch = torch.full((2, 9), 1)
    batch[0, :5], batch[1] = short, long
    mask = torch.tensor([[1] * 5 + [0] * 4, [1] * 9])
    together = model.get_text_features(batch, mask)
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=0)
    batch[0, 5:] = 29  # other ids under the padding
    torch.testing.assert_close(model.get_text_features(batch, mask)[0], alone[0], atol=1e-5, rtol=0)


def test_patch_dropout_keeps_positions_with_their_patches() -> None:
    cos, sin = rope_2d(4, 4, head_dim=8)
    tokens = torch.arange(16.0).repeat(3, 1)[:, :, None]  # each token holds its own position index
    dropout = PatchDropout(p=0.25).train()
    kept, kept_cos, kept_sin = dropout(tokens, cos, sin)
    assert kept.shape == (3, 12, 1) and kept_cos.shape == (3, 1, 12, 8)
    positions = kept[..., 0].long()
    torch.testing.assert_close(kept_cos[:, 0], cos[positions])
    torch.testing.assert_close(kept_sin[:, 0], sin[positions])
    unchanged = dropout.eval()(tokens, cos, sin)
    assert unchanged[0] is tokens and unchanged[1] is cos


def test_patch_dropout_acts_in_training_only(model) -> None:
    pixels = torch.randn(2, 3, 64, 64)
    patches = (64 // model.config.patch_size) ** 2
    model.eval()
    assert model.vision.token_states(pixels).shape[1] == 1 + patches
    torch.testing.assert_close(model.get_image_features(pixels), model.get_image_features(pixels))
    model.train()
    assert model.vision.token_states(pixels).shape[1] == 1 + int(patches * 0.9)
    assert not torch.allclose(model.get_image_features(pixels), model.get_image_features(pixels))


def test_forward_returns_unnormalised_features_and_the_learned_scale(model) -> None:
    ids = torch.randint(0, 50, (3, 6))
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=torch.randn(3, 3, 32, 32))
    assert out.text_embeds.shape == out.image_embeds.shape == (3, 128)
    assert not torch.allclose(out.text_embeds.norm(dim=-1), torch.ones(3))
    assert model.logit_scale.item() == pytest.approx(2.6592, abs=1e-4)
    assert out.scale.item() == pytest.approx(1 / 0.07, rel=1e-5)
    assert model(pixel_values=torch.randn(1, 3, 32, 32)).text_embeds is None


# --- encode_text / encode_image ------------------------------------------------------------------------------


def test_encode_text_batched_equals_one_by_one(model) -> None:
    batched = model.encode_text(SENTENCES, batch_size=4)
    single = np.stack([model.encode_text(sentence) for sentence in SENTENCES])
    assert batched.shape == (len(SENTENCES), 128) and single.shape == batched.shape
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_encode_image_batched_equals_one_by_one(model) -> None:
    images = [scene(), scene(24).rotate(90), Image.new("RGB", (50, 30), "green")]
    batched = model.encode_image(images, batch_size=2)
    single = np.stack([model.encode_image(image) for image in images])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_truncate_dim_slices_then_renormalises(model) -> None:
    full = model.encode_text(SENTENCES[:2], normalize_embeddings=False, convert_to_numpy=False)
    cut = model.encode_text(SENTENCES[:2], truncate_dim=32, convert_to_numpy=False)
    torch.testing.assert_close(cut, torch.nn.functional.normalize(full[:, :32], dim=-1))
    assert model.encode_image(scene(), truncate_dim=16).shape == (16,)


def test_task_prefixes_the_instruction(model) -> None:
    instruction = model.config.task_instructions["retrieval.query"]
    assert instruction == "Represent the query for retrieving evidence documents: "
    np.testing.assert_allclose(
        model.encode_text("a red circle", task="retrieval.query"), model.encode_text(instruction + "a red circle")
    )
    np.testing.assert_allclose(
        model.encode_text("a red circle", task="retrieval.passage"), model.encode_text("a red circle")
    )


def test_encode_restores_the_train_or_eval_mode(model) -> None:
    model.train()
    model.encode_text("a red circle")
    model.encode_image(scene())
    assert model.training and model.vision.patch_dropout.training
    model.eval()
    model.encode_text("a red circle")
    assert not model.training


def test_every_image_form_is_accepted(model, tmp_path: Path) -> None:
    rgb = scene()
    rgb.save(tmp_path / "scene.png")
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    images = [
        rgb,
        rgb.convert("L"),
        rgb.convert("RGBA"),
        rgb.convert("P"),
        rgb.convert("CMYK"),
        rgb.convert("1"),
        rgb.convert("LA"),
        transparent,
        np.asarray(rgb),
        np.asarray(rgb.convert("L")),
        np.asarray(rgb.convert("RGBA")),
        str(tmp_path / "scene.png"),
        tmp_path / "scene.png",
    ]
    embeddings = model.encode_image(images)
    assert embeddings.shape == (len(images), 128) and np.isfinite(embeddings).all()
    np.testing.assert_allclose(embeddings[0], embeddings[8], atol=1e-6)  # PIL image = its array
    np.testing.assert_allclose(embeddings[0], embeddings[11], atol=1e-6)  # = its PNG file
    white = model.encode_image(Image.new("RGB", (40, 40), "white"))
    np.testing.assert_allclose(embeddings[7], white, atol=1e-6)  # transparent pixels become white


# --- save / load --------------------------------------------------------------------------------------------


def test_save_and_load_round_trip_keeps_embeddings_and_tokenizer(model, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "tokenizer.json").is_file()
    loaded = JClipModel.from_pretrained(tmp_path)
    assert loaded.tokenizer is not None
    assert loaded.tokenizer(SENTENCES)["input_ids"] == model.tokenizer(SENTENCES)["input_ids"]
    for name, weight in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], weight, atol=0, rtol=0)
    np.testing.assert_allclose(loaded.encode_text(SENTENCES), model.encode_text(SENTENCES), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_image(scene()), model.encode_image(scene()), atol=1e-6)
    assert loaded.config.matryoshka_dims == model.config.matryoshka_dims
    assert loaded.config.task_instructions == model.config.task_instructions


def test_loading_into_another_architecture_names_the_fields(model, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path)
    vocab = model.config.vocab_size
    other = config_preset("tiny", vocab_size=vocab, text_layers=3, embed_dim=64, matryoshka_dims=(32, 64))
    with pytest.raises(ValueError, match=r"text_layers: saved 2, given 3; embed_dim: saved 128, given 64"):
        JClipModel.from_pretrained(tmp_path, config=other)
    bigger_images = JClipModel.from_pretrained(tmp_path, config=config_preset("tiny", vocab_size=vocab, image_size=48))
    assert bigger_images.config.image_size == 48
    check_same_architecture(model.config, bigger_images.config)


# --- parameter counts -------------------------------------------------------------------------------------------


def test_jina_clip_v2_geometry_has_the_published_parameter_count() -> None:
    with torch.device("meta"):
        real = JClipModel(config_preset("jina-clip-v2"))
    counts = count_parameters(real)
    assert counts["total"] == pytest.approx(865e6, rel=0.02)
    assert counts["text"] == pytest.approx(561e6, rel=0.02)
    assert counts["vision"] == pytest.approx(304e6, rel=0.02)
    assert counts["total"] == counts["text"] + counts["vision"] + counts["projection"] + 1  # + logit_scale


def test_tiny_preset_is_about_a_million_parameters_besides_embeddings() -> None:
    with torch.device("meta"):
        tiny = JClipModel(config_preset("tiny", vocab_size=4000))
    besides_embeddings = count_parameters(tiny)["total"] - tiny.text.embed_tokens.weight.numel()
    assert 0.5e6 < besides_embeddings < 1.5e6


# --- errors ----------------------------------------------------------------------------------------------------


def test_bad_text_input_raises_a_clear_error(model) -> None:
    with pytest.raises(ValueError, match="empty list"):
        model.encode_text([])
    with pytest.raises(ValueError, match=r"sentences\[1\] is empty or whitespace-only"):
        model.encode_text(["fine", ""])
    with pytest.raises(ValueError, match=r"sentences\[2\] is empty or whitespace-only"):
        model.encode_text(["fine", "also fine", " \n\t"])
    with pytest.raises(TypeError, match=r"sentences\[0\] is a int, expected str"):
        model.encode_text([3])
    with pytest.raises(ValueError, match="Unknown task 'retrieval'"):
        model.encode_text("fine", task="retrieval")


@pytest.mark.parametrize("truncate_dim", [0, -1, 129, 2.5, True])
def test_truncate_dim_outside_the_embedding_is_an_error(model, truncate_dim) -> None:
    with pytest.raises(ValueError, match=r"truncate_dim must be an integer in 1\.\.128"):
        model.encode_text("fine", truncate_dim=truncate_dim)
    with pytest.raises(ValueError, match=r"truncate_dim must be an integer in 1\.\.128"):
        model.encode_image(scene(), truncate_dim=truncate_dim)


def test_bad_image_input_raises_a_clear_error(model) -> None:
    with pytest.raises(ValueError, match="empty list"):
        model.encode_image([])
    with pytest.raises(TypeError, match=r"Unsupported image type Tensor; expected a PIL\.Image\.Image"):
        model.encode_image(torch.zeros(3, 32, 32))
    with pytest.raises(TypeError, match="Unsupported image type int"):
        model.encode_image([scene(), 7])
    with pytest.raises(TypeError, match="dtype uint8"):
        model.encode_image(np.zeros((8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"HxW, HxWx3 or HxWx4, got shape \(8, 8, 2\)"):
        model.encode_image(np.zeros((8, 8, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="smaller than one 8 px patch"):
        model.get_image_features(torch.zeros(1, 3, 2, 32))


def test_encode_text_without_a_tokenizer_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"needs a tokenizer: call model\.set_tokenizer"):
        JClipModel(config_preset("tiny", vocab_size=100)).encode_text("hello")


def test_a_tokenizer_larger_than_the_vocabulary_is_an_error(tokenizer) -> None:
    with pytest.raises(ValueError, match=rf"tokenizer has {len(tokenizer)} tokens but .* vocab_size=10"):
        JClipModel(config_preset("tiny", vocab_size=10), tokenizer=tokenizer)


def test_bad_configs_are_errors() -> None:
    with pytest.raises(ValueError, match="Unknown preset 'huge'"):
        config_preset("huge")
    with pytest.raises(ValueError, match="matryoshka_dims must be strictly increasing .* embed_dim=128"):
        config_preset("tiny", matryoshka_dims=(64, 32, 128))
    with pytest.raises(ValueError, match="matryoshka_dims .* embed_dim=128, got \\(16, 64\\)"):
        config_preset("tiny", matryoshka_dims=(16, 64))
    with pytest.raises(ValueError, match="text_width \\(100\\) must be divisible by text_heads \\(3\\)"):
        config_preset("tiny", text_width=100, text_heads=3)


def test_gradient_checkpointing_gives_the_same_gradients(model) -> None:
    ids = torch.randint(0, 50, (3, 6))
    pixels = torch.randn(3, 3, 32, 32)
    model.config.patch_dropout = 0.0
    model.vision.patch_dropout.p = 0.0

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad()
        out = model.train()(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels)
        (out.text_embeds.square().sum() + out.image_embeds.square().sum()).backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    plain = gradients()
    model.gradient_checkpointing_enable()
    checkpointed = gradients()
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], msg=name)
