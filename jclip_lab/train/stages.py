"""A training stage (which tasks, how long, at what sizes), the three-stage recipe, and the learning-rate schedule.

jina-clip-v2 (arXiv:2412.08802, section 3; after jina-clip-v1, arXiv:2405.20204, section 4) trains in three
stages, each a mix of tasks whose losses are summed:

1. short image captions + text pairs, at a low resolution (224 px, 77 tokens);
2. long, detailed captions + text pairs, at a higher resolution (384 px);
3. hard-negative text triplets + long captions and visually rich documents (charts), at 512 px.

:func:`three_stage_recipe` is that recipe at the sizes of a :class:`~jclip_lab.profiles.Profile`.

Example:
    >>> from jclip_lab.profiles import get_profile
    >>> [(stage.name, stage.image_size) for stage in three_stage_recipe(get_profile("tiny"))]
    [('1-short-captions', 32), ('2-long-captions', 48), ('3-triplets-charts', 48)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from jclip_lab.profiles import Profile
from jclip_lab.train.tasks import TASKS
from jclip_lab.world.datasets import IMAGE_TEXT_LANGUAGES


@dataclass(frozen=True)
class Stage:
    """One training stage.

    Attributes:
        name: shown in the progress bar and the history.
        tasks: task name -> loss weight. The tasks are :data:`jclip_lab.train.tasks.TASKS`: ``short`` and ``long``
            (image-caption pairs with short or long captions), ``charts`` (charts with their descriptions),
            ``pairs`` (text pairs), ``triplets`` (text triplets with a hard negative).
        steps: optimizer steps.
        batch_size: items per task per step.
        image_size: side of the training images in pixels.
        max_text_length: tokens kept per text.
        lr: peak learning rate (reached after ``warmup`` steps, then cosine decay to 10% of it).
        warmup: linear warm-up steps.
        weight_decay: AdamW weight decay (on weight matrices only).
        matryoshka_dims: the prefix dims the loss is summed over; ``None`` (the default) takes the model's own
            ``config.matryoshka_dims`` (every nested dim up to its full width), ``()`` trains the full width only.
        languages: caption languages of the image-text tasks (default: all but the transfer languages).
        source_weights: the share of each image source in the ``short`` and ``long`` tasks (None: in proportion
            to their captions); see :class:`~jclip_lab.world.datasets.ImageTextDataset`.

    Example:
        >>> Stage("warm-up", {"pairs": 1.0}, steps=10, batch_size=8, image_size=32, max_text_length=16).lr
        0.0005
    """

    name: str
    tasks: dict[str, float]
    steps: int
    batch_size: int
    image_size: int
    max_text_length: int
    lr: float = 5e-4
    warmup: int = 20
    weight_decay: float = 0.05
    matryoshka_dims: tuple[int, ...] | None = None
    languages: tuple[str, ...] = IMAGE_TEXT_LANGUAGES
    source_weights: dict[str, float] | None = None

    def __post_init__(self) -> None:
        unknown = [task for task in self.tasks if task not in TASKS]
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown}; valid tasks: {', '.join(TASKS)}")
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(f"A stage needs steps >= 1 and batch_size >= 2 (got {self.steps}, {self.batch_size}).")
        if self.image_size < 1 or self.max_text_length < 1:
            raise ValueError(
                f"image_size and max_text_length must be positive (got {self.image_size}, {self.max_text_length})."
            )


# The share of each image source in the image-text tasks. In proportion to their captions, scenes would fill 44%
# of a batch and emoji 10%: the tiny model then learned scenes but barely emoji and flags (R@1 about 5x chance).
SOURCE_WEIGHTS = {"scenes": 0.35, "emoji": 0.2, "flags": 0.3, "digits": 0.15}
# Handwritten digits are 10 concepts, so a batch holds at most 10 of them (no concept twice): at 5-10 per step in
# the mixed task the tiny model never learned them (zero-shot 0.19, chance 0.1). A task of their own, 10 digits
# every step at a quarter of the weight, teaches them (zero-shot 0.6-0.7) for about 5% more time per step.
DIGITS_WEIGHT = 0.25


def three_stage_recipe(profile: Profile) -> list[Stage]:
    """jina-clip-v2's three stages at the sizes of ``profile`` (about 3 minutes on a 2-core CPU for ``tiny``).

    Stage 1 trains at the profile's ``image_size`` and ``max_text_length``; stages 2 and 3 at its
    ``long_image_size`` and twice the text length, with half the steps each; stage 3 at a lower peak learning
    rate. Every stage sums the loss over the model's Matryoshka dims, draws the image sources in the shares of
    :data:`SOURCE_WEIGHTS` and adds the ``digits`` task (see :data:`DIGITS_WEIGHT`).

    Example:
        >>> from jclip_lab.profiles import get_profile
        >>> [stage.steps for stage in three_stage_recipe(get_profile("tiny"))]
        [300, 150, 150]
    """
    steps, batch_size = profile.steps_per_stage, profile.batch_size
    short = {"image_size": profile.image_size, "max_text_length": profile.max_text_length}
    long = {"image_size": profile.long_image_size, "max_text_length": 2 * profile.max_text_length}
    common = {"source_weights": SOURCE_WEIGHTS}
    digits = {"digits": DIGITS_WEIGHT}
    return [
        Stage("1-short-captions", {"short": 1.0, "pairs": 1.0, **digits}, steps, batch_size, **short, **common),
        Stage("2-long-captions", {"long": 1.0, "pairs": 1.0, **digits}, steps // 2, batch_size, **long, **common),
        Stage("3-triplets-charts", {"long": 1.0, "charts": 1.0, "triplets": 1.0, **digits}, steps // 2, batch_size,
              lr=3e-4, **long, **common),
    ]  # fmt: skip


def lr_factor(step: int, stage: Stage, floor: float = 0.1) -> float:
    """Learning-rate multiplier at ``step``: linear warm-up to 1, then cosine decay to ``floor``.

    ``factor = (step + 1) / warmup`` during warm-up, then ``floor + (1 - floor) * (1 + cos(pi * progress)) / 2``
    with ``progress`` going from 0 to 1 over the remaining steps (Loshchilov & Hutter, SGDR, arXiv:1608.03983).

    Example:
        >>> s = Stage("s", {"pairs": 1.0}, steps=100, batch_size=8, image_size=32, max_text_length=16, warmup=10)
        >>> lr_factor(0, s), lr_factor(10, s), round(lr_factor(100, s), 2)
        (0.1, 1.0, 0.1)
    """
    if step < stage.warmup:
        return (step + 1) / stage.warmup
    progress = (step - stage.warmup) / max(1, stage.steps - stage.warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
