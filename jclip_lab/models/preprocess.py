"""Turn images of any common form into the normalised pixel tensor the vision tower takes.

Accepted: PIL images in any mode (transparent ones are composited on white, everything is converted to RGB),
numpy ``uint8`` arrays of shape ``H x W``, ``H x W x 3`` or ``H x W x 4``, and paths to image files.

Example:
    >>> import numpy as np
    >>> pixels = images_to_tensor([np.zeros((10, 20), dtype=np.uint8)], image_size=8)
    >>> pixels.shape
    torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from jclip_lab.models.config import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

ImageInput = Image.Image | np.ndarray | str | os.PathLike
IMAGE_TYPES = (Image.Image, np.ndarray, str, os.PathLike)
ACCEPTED_IMAGES = "a PIL.Image.Image, a numpy uint8 array (HxW, HxWx3 or HxWx4) or a file path (str or Path)"


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB copy of ``image``; transparent pixels (RGBA, LA, P with transparency, ...) become white.

    Example:
        >>> clear = Image.new("RGBA", (1, 1), (255, 0, 0, 0))  # fully transparent red
        >>> to_rgb(clear).getpixel((0, 0))
        (255, 255, 255)
    """
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(image: ImageInput) -> Image.Image:
    """Read a PIL image, numpy array or file path into an RGB PIL image.

    Raises:
        TypeError: for any other type, or an array whose dtype is not uint8.
        ValueError: for an array of another shape.

    Example:
        >>> load_image(np.full((2, 3, 4), 255, dtype=np.uint8)).size
        (3, 2)
    """
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            return to_rgb(opened)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise TypeError(f"Image arrays must have dtype uint8 (0-255), got {image.dtype}.")
        if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
            raise ValueError(f"Image arrays must be HxW, HxWx3 or HxWx4, got shape {image.shape}.")
        return to_rgb(Image.fromarray(image))
    if isinstance(image, Image.Image):
        return to_rgb(image)
    raise TypeError(f"Unsupported image type {type(image).__name__}; expected {ACCEPTED_IMAGES}.")


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


def images_to_tensor(
    images: Sequence[ImageInput],
    image_size: int,
    mean: Sequence[float] = OPENAI_CLIP_MEAN,
    std: Sequence[float] = OPENAI_CLIP_STD,
    resize_mode: str = "squash",
) -> torch.Tensor:
    """Load, resize (bicubic) to ``image_size`` x ``image_size`` and normalise images into ``(B, 3, S, S)``.

    With ``resize_mode="squash"`` (the lab's default) the whole image is squashed to a square rather than
    center-cropped as in CLIP, so nothing at the borders of a wide chart or a tall page is cut away. With
    ``"shortest"`` the shortest side is resized and the centre cropped, as jina-clip-v2 does
    (:func:`resize_shortest_and_crop`).

    Raises:
        ValueError: for another ``resize_mode``.

    Example:
        >>> pixels = images_to_tensor([Image.new("RGB", (40, 20), "red")], image_size=16)
        >>> pixels.shape, round(pixels[0, 0, 0, 0].item(), 3)  # red channel: (1 - mean) / std
        (torch.Size([1, 3, 16, 16]), 1.93)
    """
    if resize_mode not in ("squash", "shortest"):
        raise ValueError(f"resize_mode must be 'squash' or 'shortest', got {resize_mode!r}.")
    arrays = [
        np.asarray(
            resize_shortest_and_crop(load_image(image), image_size)
            if resize_mode == "shortest"
            else load_image(image).resize((image_size, image_size), Image.Resampling.BICUBIC)
        )
        for image in images
    ]
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    return (pixels - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
