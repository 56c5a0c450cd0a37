"""Turn images of any common form into the normalised pixel tensor the vision tower takes.

Accepted, as jina-clip-v2's ``encode_image`` accepts them: PIL images in any mode, numpy ``uint8`` arrays of
shape ``H x W``, ``H x W x 3`` or ``H x W x 4``, paths to image files, ``http(s)://`` URLs (fetched with a
timeout) and ``data:`` URIs. Every image is turned upright by its EXIF orientation (a phone photo is stored
sideways with a tag that says so), 16- and 32-bit images are scaled to 8 bits by their real range, transparent
pixels become white, and everything becomes RGB.

Example:
    >>> import numpy as np
    >>> pixels = images_to_tensor([np.zeros((10, 20), dtype=np.uint8)], image_size=8)
    >>> pixels.shape
    torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

import base64
import io
import os
import urllib.request
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from jclip_lab.models.config import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from jclip_lab.pixels import normalize_pixels

ImageInput = Image.Image | np.ndarray | str | os.PathLike
IMAGE_TYPES = (Image.Image, np.ndarray, str, os.PathLike)
ACCEPTED_IMAGES = (
    "a PIL.Image.Image, a numpy uint8 array (HxW, HxWx3 or HxWx4), a file path (str or Path), an http(s) URL or a "
    "data: URI"
)
URL_TIMEOUT_S = 10.0
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # 16-bit and 32-bit single-channel modes


def to_rgb(image: Image.Image) -> Image.Image:
    """A new upright RGB copy of ``image``.

    EXIF orientation is applied; 16- and 32-bit images (modes ``I;16``, ``I``, ``F``) are scaled to 0-255 by their
    own minimum and maximum (``convert("RGB")`` would clip them to white); transparent pixels become white.

    Example:
        >>> clear = Image.new("RGBA", (1, 1), (255, 0, 0, 0))  # fully transparent red
        >>> to_rgb(clear).getpixel((0, 0))
        (255, 255, 255)
        >>> to_rgb(Image.fromarray(np.array([[0, 1000, 4000]], dtype=np.uint16))).getpixel((1, 0))  # 16-bit grey
        (64, 64, 64)
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        image = Image.fromarray(np.round(scaled).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _open(source: str | os.PathLike) -> Image.Image:
    """Open a path, an http(s) URL or a data: URI as a PIL image (not yet decoded)."""
    text = str(source)
    if text.startswith("data:"):
        header, _, payload = text.partition(",")
        data = base64.b64decode(payload) if header.endswith(";base64") else urllib.request.unquote(payload).encode()
        return Image.open(io.BytesIO(data))
    if text.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(text, timeout=URL_TIMEOUT_S) as response:
                return Image.open(io.BytesIO(response.read()))
        except OSError as error:
            raise ValueError(f"Could not fetch {text} ({error}); offline, pass a local file instead.") from None
    if not os.path.isfile(source):
        raise FileNotFoundError(f"No image file at {os.path.abspath(source)}.")
    return Image.open(source)


def load_image(image: ImageInput) -> Image.Image:
    """Read a PIL image, numpy array, file path, URL or data: URI into an upright RGB PIL image.

    Raises:
        TypeError: for any other type, or an array whose dtype is not uint8.
        ValueError: for an array of another shape, an empty (0-pixel) image, a file that is not an image, or a
            URL that cannot be fetched.
        FileNotFoundError: for a path with no file.

    Example:
        >>> load_image(np.full((2, 3, 4), 255, dtype=np.uint8)).size
        (3, 2)
    """
    if isinstance(image, (str, os.PathLike)):
        try:
            with _open(image) as opened:
                image = to_rgb(opened)
        except UnidentifiedImageError:
            raise ValueError(f"{str(image)[:100]} is not an image file PIL can read (or it is damaged).") from None
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            hint = (
                " (for floats in [0, 1], pass (array * 255).round().astype(np.uint8))"
                if image.dtype.kind == "f"
                else ""
            )
            raise TypeError(f"Image arrays must have dtype uint8 (0-255), got {image.dtype}{hint}.")
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
            raise ValueError(f"Image arrays must be HxW, HxWx3 or HxWx4, got shape {image.shape}.")
        if image.size == 0:
            raise ValueError(f"The image array is empty (shape {image.shape}): there is nothing to embed.")
        image = to_rgb(Image.fromarray(image))
    elif isinstance(image, Image.Image):
        image = to_rgb(image)
    else:
        raise TypeError(f"Unsupported image type {type(image).__name__}; expected {ACCEPTED_IMAGES}.")
    if 0 in image.size:
        raise ValueError(f"The image is {image.size[0]}x{image.size[1]} pixels: there is nothing to embed.")
    return image


def check_image_size(image_size: object) -> int:
    """Return ``image_size`` if it is a positive integer (numpy integers too), else raise naming it.

    Example:
        >>> check_image_size(np.int64(32))
        32
    """
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive number of pixels, got {image_size!r}.")
    return int(image_size)


def resize_shortest_and_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize (bicubic) so the shortest side is ``size``, then cut the central ``size`` x ``size`` square.

    This is jina-clip-v2's preprocessing (``resize_mode="shortest"`` in its preprocessor_config.json: open_clip's
    ``Resize(size)`` then ``CenterCrop(size)``), with torchvision's rounding: the long side becomes
    ``int(size * long / short)`` and the crop starts at ``round((side - size) / 2)``.

    Example:
        >>> resize_shortest_and_crop(Image.new("RGB", (60, 30)), 16).size
        (16, 16)
    """
    width, height = image.size
    short, long = min(width, height), max(width, height)
    long = int(size * long / short)  # torchvision.transforms.functional._compute_resized_output_size
    image = image.resize((size, long) if width <= height else (long, size), Image.Resampling.BICUBIC)
    left, top = int(round((image.width - size) / 2.0)), int(round((image.height - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def resize_images(images: Sequence[ImageInput], image_size: int, resize_mode: str = "squash") -> np.ndarray:
    """Load and resize (bicubic) images to ``image_size`` x ``image_size``: ``uint8`` ``(B, S, S, 3)``.

    With ``resize_mode="squash"`` (the lab's default) the whole image is squashed to a square rather than
    center-cropped as in CLIP, so nothing at the borders of a wide chart or a tall page is cut away. With
    ``"shortest"`` the shortest side is resized and the centre cropped, as jina-clip-v2 does
    (:func:`resize_shortest_and_crop`).

    Raises:
        ValueError: another ``resize_mode``, an ``image_size`` below 1, or as :func:`load_image`.
        TypeError, FileNotFoundError: as :func:`load_image`. Errors about an image name its index (and path).

    Example:
        >>> resize_images([Image.new("RGB", (40, 20), "red")], image_size=16).shape
        (1, 16, 16, 3)
        >>> resize_images([Image.new("RGB", (4, 4)), "missing.png"], image_size=16)
        Traceback (most recent call last):
        ...
        FileNotFoundError: images[1] ('missing.png'): No image file at ...
    """
    image_size = check_image_size(image_size)
    if resize_mode not in ("squash", "shortest"):
        raise ValueError(f"resize_mode must be 'squash' or 'shortest', got {resize_mode!r}.")
    arrays = []
    for index, image in enumerate(images):
        try:
            loaded = load_image(image)
        except (TypeError, ValueError, FileNotFoundError) as error:
            where = f" ({str(image)[:100]!r})" if isinstance(image, (str, os.PathLike)) else ""
            raise type(error)(f"images[{index}]{where}: {error}") from None
        if resize_mode == "shortest":
            resized = resize_shortest_and_crop(loaded, image_size)
        else:
            resized = loaded.resize((image_size, image_size), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(resized))
    return np.stack(arrays)


def images_to_tensor(
    images: Sequence[ImageInput],
    image_size: int,
    mean: Sequence[float] = OPENAI_CLIP_MEAN,
    std: Sequence[float] = OPENAI_CLIP_STD,
    resize_mode: str = "squash",
) -> torch.Tensor:
    """Load, resize (:func:`resize_images`) and normalise images into the ``(B, 3, S, S)`` pixels the tower takes.

    Example:
        >>> pixels = images_to_tensor([Image.new("RGB", (40, 20), "red")], image_size=16)
        >>> pixels.shape, round(pixels[0, 0, 0, 0].item(), 3)  # red channel: (1 - mean) / std
        (torch.Size([1, 3, 16, 16]), 1.93)
    """
    return normalize_pixels(resize_images(images, image_size, resize_mode), mean, std)
