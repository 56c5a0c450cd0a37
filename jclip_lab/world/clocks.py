"""Clock faces: a new domain the lab's models never see in pretraining, captioned in 14 languages by Unicode CLDR.

Unicode has 24 clock-face emoji (🕐 "one o'clock" ... 🕧 "twelve-thirty") whose CLDR names exist in every caption
language of the world ("1.00 uhr", "1時半", "une heure et demie"...). The lab draws the faces itself, in many
looks (face and hand colours, sizes, positions), so the *picture* is new to a pretrained model while the *words*
(numbers) are half familiar: the domain notebook 12 fine-tunes on.

Example:
    >>> clock_caption(3, 30, "en"), clock_caption(12, 0, "de")
    ('three-thirty', '12.00 uhr')
    >>> render_clock(3, 30, size=32, variant=0).shape
    (32, 32, 3)
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from jclip_lab.world.cldr import emoji_name
from jclip_lab.world.languages import CAPTION_LANGUAGES

TIMES: tuple[tuple[int, int], ...] = tuple((hour, minute) for hour in range(1, 13) for minute in (0, 30))
FACES = ((250, 250, 245), (255, 236, 179), (207, 232, 252), (230, 230, 230), (40, 40, 48))
HANDS = ((20, 20, 20), (170, 30, 30), (20, 60, 160), (250, 250, 250))
_SUPERSAMPLE = 4


def clock_emoji(hour: int, minute: int) -> str:
    """The clock-face emoji of ``hour:minute`` (1-12, 0 or 30): U+1F550 is one o'clock, U+1F55C one-thirty.

    Example:
        >>> clock_emoji(1, 0), clock_emoji(12, 30)
        ('🕐', '🕧')
    """
    if (hour, minute) not in TIMES:
        raise ValueError(f"Clock faces show hours 1-12 at minute 0 or 30, got {hour}:{minute:02d}.")
    return chr((0x1F550 if minute == 0 else 0x1F55C) + hour - 1)


def clock_caption(hour: int, minute: int, language: str) -> str:
    """CLDR's name of the clock face showing ``hour:minute`` in ``language``."""
    return emoji_name(clock_emoji(hour, minute), language)


def render_clock(hour: int, minute: int, size: int, variant: int) -> np.ndarray:
    """A clock face showing ``hour:minute`` as a ``size`` x ``size`` RGB ``uint8`` image; ``variant`` picks its look.

    The look (face and hand colours, radius, centre) is drawn from ``variant`` alone, so a variant is the same
    clock at every time: only the hands tell the times apart.
    """
    rng = random.Random(variant)
    face = FACES[rng.randrange(len(FACES))]
    hands = [c for c in HANDS if sum(c) < 300] if sum(face) > 300 else [HANDS[-1]]
    hand = hands[rng.randrange(len(hands))]
    big = size * _SUPERSAMPLE
    radius = big * rng.uniform(0.30, 0.45)
    cx, cy = big / 2 + rng.uniform(-1, 1) * (big / 2 - radius), big / 2 + rng.uniform(-1, 1) * (big / 2 - radius)
    image = Image.new("RGB", (big, big), (245, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=face, outline=hand, width=big // 32)
    for tick in range(12):  # hour marks
        angle = math.tau * tick / 12
        ends = [(cx + r * math.sin(angle), cy - r * math.cos(angle)) for r in (radius * 0.8, radius * 0.92)]
        draw.line(ends, fill=hand, width=big // 48)
    hour_angle = math.tau * ((hour % 12) + minute / 60) / 12
    minute_angle = math.tau * minute / 60
    for angle, length, width in ((hour_angle, 0.5, big // 14), (minute_angle, 0.78, big // 22)):
        tip = (cx + radius * length * math.sin(angle), cy - radius * length * math.cos(angle))
        draw.line([(cx, cy), tip], fill=hand, width=width)
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


@dataclass(frozen=True)
class ClockImage:
    """One drawn clock: what it shows, its look, its split, and its captions (language -> CLDR name)."""

    hour: int
    minute: int
    variant: int
    split: str
    captions: dict[str, str]


def clock_images(variants: int = 12, test_variants: int = 4, languages: tuple[str, ...] = CAPTION_LANGUAGES):
    """Every time of :data:`TIMES` drawn in ``variants`` looks; the last ``test_variants`` looks are the test split.

    A test clock's look never appears in training, at any time: the test asks whether the hands were learned,
    not the look.

    Example:
        >>> clocks = clock_images(variants=3, test_variants=1)
        >>> len(clocks), sum(c.split == "test" for c in clocks), clocks[0].captions["en"]
        (72, 24, 'one o’clock')
    """
    return [
        ClockImage(hour, minute, variant, "test" if variant >= variants - test_variants else "train",
                   {lang: clock_caption(hour, minute, lang) for lang in languages})
        for variant in range(variants)
        for hour, minute in TIMES
    ]  # fmt: skip


def write_clock_folder(folder: Path, clocks: list[ClockImage], size: int = 64, languages: tuple[str, ...] = ("en",)):
    """Write ``clocks`` as PNG files plus a ``captions.csv`` (``image,caption,language``): a user's own data.

    This is the layout :func:`jclip_lab.finetune.read_captioned_images` reads, one row per (image, language).

    Returns:
        The path of ``captions.csv``.

    Example:
        >>> import tempfile
        >>> table = write_clock_folder(Path(tempfile.mkdtemp()), clock_images(variants=1, test_variants=0)[:2])
        >>> table.read_text().splitlines()[:2]
        ['image,caption,language', 'clock-01-00-v0.png,one o’clock,en']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "captions.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["image", "caption", "language"])
        for clock in clocks:
            name = f"clock-{clock.hour:02d}-{clock.minute:02d}-v{clock.variant}.png"
            Image.fromarray(render_clock(clock.hour, clock.minute, size, clock.variant)).save(folder / name)
            for language in languages:
                writer.writerow([name, clock.captions[language], language])
    return folder / "captions.csv"
