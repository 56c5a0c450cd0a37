"""Bad input gets a clear error naming the problem, or is handled right; nothing gives a silent wrong answer.

Each test here failed on the lab before it was hardened (issue "Reliability"): the old behaviour is in a comment.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import time

import numpy as np
import pytest
from PIL import Image

from jclip_lab.models import JClipModel, config_preset
from jclip_lab.models.preprocess import load_image


@pytest.fixture
def saved(model, tmp_path):
    model.save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def stripes(width: int = 40, height: int = 20) -> np.ndarray:
    """A picture that is not symmetric: left half dark, right half light, a red row at the top."""
    pixels = np.full((height, width, 3), 30, np.uint8)
    pixels[:, width // 2 :] = 220
    pixels[0] = (255, 0, 0)
    return pixels


# --- images -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["I;16", "I", "F"])
def test_16_and_32_bit_images_are_scaled_by_their_range(mode):
    # Before: convert("RGB") clipped every value above 255 to white.
    values = np.array([[0, 20000, 40000]], dtype=np.float64)
    image = Image.fromarray(values.astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    assert image.mode == mode
    assert [load_image(image).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_a_16_bit_png_file_is_not_near_white(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)).save(path)
    grey = np.asarray(load_image(path))[..., 0]
    assert grey.min() == 0 and grey.max() == 255 and 100 < grey.mean() < 155


def test_exif_orientation_turns_a_phone_photo_upright(model, tmp_path):
    # Before: the EXIF orientation tag was ignored and a phone photo was embedded sideways.
    upright = Image.fromarray(stripes())
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # stored rotated, with a tag saying "rotate back"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: rotate 90 degrees clockwise to view
    sideways.save(tmp_path / "phone.png", exif=exif)
    assert np.array_equal(np.asarray(load_image(tmp_path / "phone.png")), stripes())
    a, b = model.encode_image([upright, tmp_path / "phone.png"])
    assert float(a @ b) > 0.999


def test_empty_images_and_sizes_are_errors(model):
    # Before: a 0x0 image returned a unit vector; image_size=0 silently used the default.
    with pytest.raises(ValueError, match=r"images\[0\]: The image is 0x0 pixels"):
        model.encode_image(Image.new("RGB", (0, 0)))
    for size in (0, -8):
        with pytest.raises(ValueError, match=f"image_size must be a positive number of pixels, got {size}"):
            model.encode_image(Image.new("RGB", (8, 8)), image_size=size)


@pytest.mark.parametrize("images", [None, 3, b"\x89PNG"])
def test_images_of_the_wrong_type_name_the_parameter(model, images):
    with pytest.raises(TypeError, match="images must be a PIL.Image.Image, .*got"):
        model.encode_image(images)


def test_a_corrupt_file_in_a_list_names_its_index_and_path(model, tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.fromarray(stripes()).save(good)
    bad.write_bytes(b"not really a png")
    with pytest.raises(ValueError, match=r"images\[1\] \('.*bad.png'\): .*not an image file"):
        model.encode_image([good, bad])
    with pytest.raises(FileNotFoundError, match=r"images\[0\] \('.*gone.png'\): No image file at"):
        model.encode_image([tmp_path / "gone.png"])


def test_data_uris_are_read_and_unreachable_urls_say_so(model):
    buffer = io.BytesIO()
    Image.fromarray(stripes()).save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert np.allclose(model.encode_image(uri), model.encode_image(Image.fromarray(stripes())), atol=1e-6)
    with pytest.raises(ValueError, match=r"images\[0\].*Could not fetch http://127.0.0.1:9/cat.jpg.*offline"):
        model.encode_image("http://127.0.0.1:9/cat.jpg")  # the discard port: connection refused at once


# --- texts --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sentences", [None, 7, b"red circle"])
def test_sentences_of_the_wrong_type_name_the_parameter(model, sentences):
    with pytest.raises(TypeError, match="sentences must be a string or a list of strings; got"):
        model.encode_text(sentences)


def test_a_lone_surrogate_is_named_with_its_position(model):
    with pytest.raises(ValueError, match=r"sentences\[1\] is not valid Unicode: '\\udc80' at position 3"):
        model.encode_text(["red circle", "red\udc80 circle"])


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_batch_size_must_be_positive(model, batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.encode_text("red circle", batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.encode_image(Image.new("RGB", (8, 8)), batch_size=batch_size)


def test_numpy_integers_are_accepted_as_truncate_dim(model):
    # Before: np.int64(32), what a slider or np.arange gives, was refused.
    assert model.encode_text("red circle", truncate_dim=np.int64(32)).shape == (32,)
    assert model.encode_image(Image.new("RGB", (8, 8)), truncate_dim=np.int32(16)).shape == (16,)


# --- model folders ------------------------------------------------------------------------------------------


def test_a_missing_folder_is_named_at_once(tmp_path, monkeypatch):
    # Before: an absolute path gave a hub repo-id error, a relative one retried the hub for 20-40 s.
    monkeypatch.chdir(tmp_path)
    for folder in (tmp_path / "nowhere", "run/final"):
        start = time.perf_counter()
        with pytest.raises(FileNotFoundError, match="No model at .*: the folder does not exist"):
            JClipModel.from_pretrained(folder)
        assert time.perf_counter() - start < 2


def test_a_folder_without_config_says_what_it_holds(saved):
    (saved / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"there is no config.json; the folder holds \['model.safetensors'"):
        JClipModel.from_pretrained(saved)


@pytest.mark.parametrize("layers", [1, 3])
def test_a_config_that_disagrees_with_the_weights_names_the_tensors(saved, layers):
    # Before: loaded with random (3) or dropped (1) layers and only a log line.
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps(config | {"text_layers": layers}))
    kind = "missing" if layers == 3 else "unexpected"
    with pytest.raises(ValueError, match=f"do not fit its config: 14 tensors {kind} \\(text.blocks.{min(layers, 2)}"):
        JClipModel.from_pretrained(saved)


def test_another_presets_weights_are_explained(saved, tmp_path):
    JClipModel(config_preset("small", vocab_size=50)).save_pretrained(tmp_path / "small")
    shutil.copy(saved / "config.json", tmp_path / "small" / "config.json")
    with pytest.raises(ValueError, match=r"tensors of another shape \(text.blocks.0.attention.k_bias \(256,\) vs"):
        JClipModel.from_pretrained(tmp_path / "small")


def test_damaged_weights_and_tokenizer_files_are_named(saved):
    data = bytearray((saved / "model.safetensors").read_bytes())
    data[:64] = bytes(64)  # zeroed header
    (saved / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors is damaged or not a safetensors file"):
        JClipModel.from_pretrained(saved)


def test_a_damaged_tokenizer_is_named(saved):
    (saved / "tokenizer.json").write_text('{"version": "1.0", "trunc')
    with pytest.raises(ValueError, match="tokenizer.json is damaged"):
        JClipModel.from_pretrained(saved)


def test_a_config_field_of_the_wrong_type_is_named(saved):
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps(config | {"text_heads": "4"}))
    with pytest.raises(ValueError, match=r"Config field text_heads must be of type int \(like 4\), got '4'"):
        JClipModel.from_pretrained(saved)


def test_saving_onto_a_file_is_an_error(model, tmp_path):
    # Before: save_pretrained logged an error and returned, having saved nothing.
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(FileExistsError, match="it is a file, not a folder"):
        model.save_pretrained(tmp_path / "taken")
