"""Compositional scenes: one to three coloured shapes, captioned in 14 languages with CLDR's own words.

Unicode's emoji include coloured circles, squares and hearts (🔴 🟦 💜 ...), and CLDR names them in every
emoji language ("red circle", "círculo rojo", "赤い丸"). A scene draws 1-3 such objects, each with a size and a
column (left, middle, right). Its *short* caption lists the objects' names; its *long* caption adds each object's
size and position, as the detailed captions of jina-clip-v2's stage 2 do.

Some colour-shape pairs (``HELD_OUT_OBJECTS``) never appear in training images: scenes holding them form the
``compositional`` test split, which asks whether the model composes a colour and a shape it saw only apart.

Example:
    >>> import numpy as np
    >>> scene = {"objects": [["red", "circle", 1, 0, 0.0]]}
    >>> short_caption(scene, "es"), long_caption(scene, "en")
    ('círculo rojo', 'red circle (large, left)')
    >>> render_scene(scene, 32).shape
    (32, 32, 3)
"""

from __future__ import annotations

import math
import random

import numpy as np
from babel.lists import format_list
from PIL import Image, ImageDraw

from jclip_lab.world.cldr import emoji_name
from jclip_lab.world.languages import POSITION_WORDS, SIZE_WORDS

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (221, 46, 68), "orange": (244, 144, 12), "yellow": (253, 203, 88), "green": (120, 177, 89),
    "blue": (85, 172, 238), "purple": (170, 142, 214), "brown": (193, 105, 79),
}  # fmt: skip
SHAPES: tuple[str, ...] = ("circle", "square", "heart")
# The emoji whose CLDR name is "<colour> <shape>", e.g. EMOJI["red"]["circle"] == "🔴".
EMOJI: dict[str, dict[str, str]] = {
    "red": {"circle": "🔴", "square": "🟥", "heart": "❤️"},
    "orange": {"circle": "🟠", "square": "🟧", "heart": "🧡"},
    "yellow": {"circle": "🟡", "square": "🟨", "heart": "💛"},
    "green": {"circle": "🟢", "square": "🟩", "heart": "💚"},
    "blue": {"circle": "🔵", "square": "🟦", "heart": "💙"},
    "purple": {"circle": "🟣", "square": "🟪", "heart": "💜"},
    "brown": {"circle": "🟤", "square": "🟫", "heart": "🤎"},
}
HELD_OUT_OBJECTS: frozenset[tuple[str, str]] = frozenset(
    {("green", "heart"), ("blue", "square"), ("orange", "circle"), ("purple", "heart")}
)
SIZES = (0.11, 0.17)  # object radius as a fraction of the image side: small, large
COLUMNS = (1 / 6, 1 / 2, 5 / 6)  # horizontal centres: left, middle, right
BACKGROUND = (245, 245, 240)
_SUPERSAMPLE = 4

# An object is [colour, shape, size index, column index, vertical offset in [-1, 1]].
Obj = list


def object_name(colour: str, shape: str, language: str) -> str:
    """CLDR's name of the coloured shape in ``language``, e.g. ``object_name("red", "circle", "ja") == "赤い丸"``."""
    return emoji_name(EMOJI[colour][shape], language)


def short_caption(scene: dict, language: str, order: list[int] | None = None) -> str:
    """The objects' names as a list in ``language`` ("red circle and blue square"); ``order`` permutes them.

    Without ``order`` the objects are listed in a canonical order (by colour, then shape), so scenes holding the
    same objects share one short caption wherever the objects stand: they are several positives of one query.
    """
    objects = sorted(scene["objects"], key=lambda o: (list(COLOURS).index(o[0]), SHAPES.index(o[1])))
    if order is not None:
        objects = [objects[i] for i in order]
    return format_list([object_name(o[0], o[1], language) for o in objects], locale=language)


def long_caption(scene: dict, language: str) -> str:
    """Each object from left to right with its size and position: "red circle (large, left), ..."."""
    parts = [
        f"{object_name(c, s, language)} ({SIZE_WORDS[language][size]}, {POSITION_WORDS[language][column]})"
        for c, s, size, column, _ in sorted(scene["objects"], key=lambda o: o[3])
    ]
    return ", ".join(parts)


def random_scene(rng: random.Random, max_objects: int = 3) -> dict:
    """Draw 1 to ``max_objects`` distinct coloured shapes, each with a size, its own column and a vertical jitter.

    Example:
        >>> len(random_scene(random.Random(0))["objects"]) in {1, 2, 3}
        True
    """
    count = rng.choice(range(1, max_objects + 1))
    pairs = rng.sample([(c, s) for c in COLOURS for s in SHAPES], count)
    columns = rng.sample(range(len(COLUMNS)), count)
    return {
        "objects": [
            [c, s, rng.randrange(len(SIZES)), col, round(rng.uniform(-1, 1), 3)]
            for (c, s), col in zip(pairs, columns, strict=True)
        ]
    }


def has_held_out_object(scene: dict) -> bool:
    """True if the scene holds a colour-shape pair that training images never show."""
    return any((o[0], o[1]) in HELD_OUT_OBJECTS for o in scene["objects"])


def hard_negative(scene: dict, rng: random.Random) -> dict:
    """The same scene with one attribute of one object changed (its colour or its shape): a hard negative.

    The new colour-shape pair is not already in the scene, so the two captions always differ.

    Example:
        >>> s = {"objects": [["red", "circle", 0, 0, 0.0]]}
        >>> short_caption(hard_negative(s, random.Random(0)), "en") != short_caption(s, "en")
        True
    """
    objects = [list(o) for o in scene["objects"]]
    target = rng.randrange(len(objects))
    taken = {(o[0], o[1]) for o in objects}
    colour, shape = objects[target][:2]
    new_colours = [(c, shape) for c in COLOURS if (c, shape) not in taken]
    new_shapes = [(colour, s) for s in SHAPES if (colour, s) not in taken]
    change_colour = not new_shapes or rng.random() < 0.5
    objects[target][:2] = rng.choice(new_colours if change_colour else new_shapes)
    return {"objects": objects}


def atoms(scene: dict) -> set[str]:
    """The scene's meaning as a set of facts: each object, each colour and each shape present."""
    facts = set()
    for colour, shape, *_ in scene["objects"]:
        facts |= {f"object:{colour}-{shape}", f"colour:{colour}", f"shape:{shape}"}
    return facts


def similarity(scene_a: dict, scene_b: dict) -> float:
    """Graded semantic similarity on the STS scale 0-5: 5 x the Jaccard overlap of the scenes' facts.

    Example:
        >>> a = {"objects": [["red", "circle", 0, 0, 0.0]]}
        >>> b = {"objects": [["red", "square", 0, 0, 0.0]]}
        >>> similarity(a, a), similarity(a, b)
        (5.0, 1.0)
    """
    facts_a, facts_b = atoms(scene_a), atoms(scene_b)
    return 5.0 * len(facts_a & facts_b) / len(facts_a | facts_b)


def _shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "circle":
        return [(cx + r * math.cos(t / 32 * 2 * math.pi), cy + r * math.sin(t / 32 * 2 * math.pi)) for t in range(32)]
    # The classic heart curve, scaled to fit a box of half-side r.
    points = []
    for i in range(48):
        t = i / 48 * 2 * math.pi
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((cx + r * x / 16, cy - r * (y + 2.5) / 15))
    return points


def render_scene(scene: dict, size: int) -> np.ndarray:
    """Draw the scene as an RGB ``uint8`` array of ``size`` x ``size`` (anti-aliased by supersampling)."""
    big = size * _SUPERSAMPLE
    image = Image.new("RGB", (big, big), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for colour, shape, size_index, column, dy in scene["objects"]:
        r = SIZES[size_index] * big
        cx, cy = COLUMNS[column] * big, big / 2 + dy * (big / 2 - r - 1)
        draw.polygon(_shape_polygon(shape, cx, cy, r), fill=COLOURS[colour])
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))
