"""Handwritten digits: scikit-learn's 1,797 real 8x8 digits, captioned with number words in many languages.

Captions come from CLDR's rule-based number spelling ("sieben", "七", "سبعة"), so one image of a 7 matches the
word seven in every caption language: a miniature zero-shot classification benchmark.

Example:
    >>> images, labels = load_digits_data()
    >>> images.shape, int(labels[0])
    ((1797, 8, 8), 0)
    >>> render_digit(images[0], 32).shape
    (32, 32, 3)
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image
from sklearn import datasets

INK, PAPER = np.array([30, 30, 60]), np.array([245, 245, 240])
ATTRIBUTION = "Handwritten digits: UCI Optical Recognition of Handwritten Digits (via scikit-learn), CC BY 4.0."


@cache
def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 8, 8) with ink 0-16, and labels (1797,)."""
    digits = datasets.load_digits()
    return digits.images, digits.target


def render_digit(ink: np.ndarray, size: int) -> np.ndarray:
    """Upscale an 8x8 ink map (0-16) to an RGB ``uint8`` image of ``size`` x ``size``, dark ink on paper."""
    small = Image.fromarray((ink / 16 * 255).astype(np.uint8), mode="L")
    alpha = np.asarray(small.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)[..., None] / 255
    return (PAPER * (1 - alpha) + INK * alpha).round().astype(np.uint8)
