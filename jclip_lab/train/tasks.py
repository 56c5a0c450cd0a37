"""The training tasks: what each one reads from the world, which tower embeds each of its inputs, and its loss.

jina-clip-v2 trains one model on several tasks at once (arXiv:2412.08802, section 3.2; jina-clip-v1,
arXiv:2405.20204, section 4.2): image-caption pairs with CLIP's symmetric InfoNCE at a learned temperature, and
text pairs and text triplets with InfoNCE at a fixed temperature of 0.05. A :class:`Task` holds all of that in one
place, so adding a task is adding one entry to :data:`TASKS`.

Example:
    >>> [(name, [field for field, _ in task.inputs]) for name, task in TASKS.items()][:2]
    [('short', ['pixel_values', 'text']), ('long', ['pixel_values', 'text'])]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.data import Dataset

from jclip_lab.distributed import gathered_clip_loss, gathered_text_pair_loss, gathered_triplet_loss
from jclip_lab.models import JClipModel
from jclip_lab.world import World
from jclip_lab.world.datasets import ImageTextDataset, TextPairDataset, TripletDataset

if TYPE_CHECKING:
    from jclip_lab.train.stages import Stage

PHOTO_SOURCES = ("scenes", "emoji", "flags", "digits")

Tokens = Mapping[str, torch.Tensor]  # a tokenizer's output: input_ids and attention_mask
Embed = Callable[[JClipModel, "torch.Tensor | Tokens"], torch.Tensor]


def embed_images(model: JClipModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """The vision tower's unnormalised features of a batch of pixels ``(B, 3, H, W)``."""
    return model.get_image_features(pixel_values)


def embed_texts(model: JClipModel, tokens: Tokens) -> torch.Tensor:
    """The text tower's unnormalised features of a batch of tokenised texts."""
    return model.get_text_features(tokens["input_ids"], tokens["attention_mask"])


# The losses score this process's rows against the rows of every process (``jclip_lab.distributed``); with one
# process they are exactly the losses of ``jclip_lab.losses``.


def image_text_loss(model: JClipModel, images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE at the model's learned scale ``exp(logit_scale)``."""
    return gathered_clip_loss(images, texts, model.get_scale())


def pair_loss(model: JClipModel, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """InfoNCE over text pairs, both directions averaged, at the fixed ``config.text_temperature``."""
    return gathered_text_pair_loss(a, b, model.config.text_temperature)


def hard_negative_loss(
    model: JClipModel, anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """InfoNCE with hard negatives, with the reverse positive -> anchor term (jina-clip-v1, Eq. 2)."""
    return gathered_triplet_loss(anchors, positives, negatives, model.config.text_temperature, bidirectional=True)


@dataclass(frozen=True)
class Task:
    """One training task.

    Attributes:
        name: the key a :class:`~jclip_lab.train.stages.Stage` weights it by.
        inputs: the batch fields the loss takes, in its argument order, each with the function (tower) that
            embeds it.
        dataset: builds the task's training dataset for a world and a stage (its image size, languages).
        loss: the loss of the embeddings (full width; the trainer slices them for the Matryoshka prefixes).
    """

    name: str
    inputs: tuple[tuple[str, Embed], ...]
    dataset: Callable[[World, Stage], Dataset]
    loss: Callable[..., torch.Tensor]

    def embed(self, model: JClipModel, batch: Mapping) -> list[torch.Tensor]:
        """The embeddings of every input of ``batch`` (already on the model's device), in the loss's order."""
        return [embed(model, batch[field]) for field, embed in self.inputs]


def _captioned_photos(long: bool) -> Callable[[World, Stage], Dataset]:
    def dataset(world: World, stage: Stage) -> Dataset:
        return ImageTextDataset(world, PHOTO_SOURCES, "train", stage.languages, long=long, image_size=stage.image_size,
                                source_weights=stage.source_weights)  # fmt: skip

    return dataset


def _digits(world: World, stage: Stage) -> Dataset:
    return ImageTextDataset(world, ("digits",), "train", stage.languages, image_size=stage.image_size)


def _charts(world: World, stage: Stage) -> Dataset:
    return ImageTextDataset(world, ("charts",), "train", ("en",), long=True, image_size=stage.image_size)


IMAGE_TEXT = (("pixel_values", embed_images), ("text", embed_texts))

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("short", IMAGE_TEXT, _captioned_photos(long=False), image_text_loss),
        Task("long", IMAGE_TEXT, _captioned_photos(long=True), image_text_loss),
        Task("charts", IMAGE_TEXT, _charts, image_text_loss),
        Task("digits", IMAGE_TEXT, _digits, image_text_loss),
        Task(
            "pairs",
            (("a", embed_texts), ("b", embed_texts)),
            lambda world, stage: TextPairDataset(world, "train"),
            pair_loss,
        ),
        Task(
            "triplets",
            (("anchor", embed_texts), ("positive", embed_texts), ("negative", embed_texts)),
            lambda world, stage: TripletDataset(world, "train"),
            hard_negative_loss,
        ),
        # The control for what a hard negative adds: the triplets' (anchor, positive) pairs, the negative left out.
        Task(
            "anchor-positive",
            (("anchor", embed_texts), ("positive", embed_texts)),
            lambda world, stage: TripletDataset(world, "train"),
            pair_loss,
        ),
    )
}
