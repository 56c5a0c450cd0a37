"""Fine-tune any ``JClipModel`` on your own captioned images without forgetting how to embed text.

Fine-tuning a CLIP on image-caption pairs alone is known to wreck its text-only retrieval: the text tower is
pulled towards short captions and forgets the rest (jina-clip-v1, arXiv:2405.20204, section 1: CLIP models are
weak text retrievers; jina-clip-v2's remedy is to train text pairs jointly). :func:`finetune` therefore mixes
text pairs into every step by default (the lab's, or yours), keeps the learned temperature, and measures, before
and after, your held-out captions *and* the lab's text retrieval, semantic similarity and old-domain retrieval.

Options a user of sentence-transformers or open_clip expects: freeze either tower, LoRA on the text tower (with
``peft``, merged back into plain weights afterwards), gradient checkpointing, gradient caching, mixed precision.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from jclip_lab.finetune import read_captioned_images
    >>> from jclip_lab.world.clocks import clock_images, write_clock_folder
    >>> data = read_captioned_images(write_clock_folder(Path(tempfile.mkdtemp()), clock_images(3, 1)))
    >>> result = finetune(model, data, FinetuneConfig(steps=2, batch_size=4), world=world, progress=False)
    >>> sorted(result.after)
    ['held-out R@1', 'held-out R@5', 'scenes t2i R@1', 'sts', 'text retrieval R@1']
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from jclip_lab.evaluate import Embedder, chance_retrieval, retrieval_metrics
from jclip_lab.evaluate.world_benchmarks import (
    cross_modal_retrieval,
    source_benchmark,
    sts_benchmark,
    text_retrieval,
    text_retrieval_benchmark,
)
from jclip_lab.finetune.data import CaptionedImages, DataReport, Row, TextPairs
from jclip_lab.models import JClipModel
from jclip_lab.models.preprocess import resize_images
from jclip_lab.profiles import get_device, seed_everything
from jclip_lab.similarity import cosine_matrix
from jclip_lab.train import History, Stage, make_optimizer, training_step
from jclip_lab.train.precision import choose_precision
from jclip_lab.world import World
from jclip_lab.world.datasets import Collator, TaskMixer, TextPairDataset

if TYPE_CHECKING:
    from jclip_lab.cost import GPU, StepCost, Task
    from jclip_lab.models import JClipConfig

TOWERS = ("text", "vision")
LORA_TARGETS = ("qkv", "proj", "fc1", "fc2")  # every linear layer of the text tower's blocks


@dataclass(frozen=True)
class FinetuneConfig:
    """How to fine-tune.

    Attributes:
        steps: optimizer steps.
        batch_size: image-caption pairs per step.
        lr: peak learning rate (linear warm-up, then cosine decay); fine-tuning wants it 5-10x below pretraining.
        warmup: warm-up steps.
        pair_ratio: text pairs per image-caption pair in each step; 0 fine-tunes on image-text alone.
        freeze: ``"text"`` or ``"vision"`` to keep that tower (and its projection) as it is.
        lora_rank: train a LoRA adapter of this rank on the text tower instead of its weights (Hu et al. 2021,
            arXiv:2106.09685), merged back into plain weights after training.
        lora_alpha: LoRA's scale numerator (default: the rank, a scale of 1).
        gradient_checkpointing: recompute activations in backward (less memory, ~1/3 more compute).
        chunk_size: gradient caching: embed each batch in chunks of this size (same gradients, less memory).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16`` (see :mod:`jclip_lab.train.precision`).
        image_size: training resolution (default: the model's ``config.image_size``).
        max_text_length: tokens per text (default: the model's ``config.max_text_length``).
        held_out: fraction of your images kept aside to measure before and after.
        seed: seeds the split, the data order and the random generators.
    """

    steps: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    warmup: int = 10
    pair_ratio: float = 1.0
    freeze: str | None = None
    lora_rank: int | None = None
    lora_alpha: float | None = None
    gradient_checkpointing: bool = False
    chunk_size: int | None = None
    precision: str = "auto"
    image_size: int | None = None
    max_text_length: int | None = None
    held_out: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.freeze not in (None, *TOWERS):
            raise ValueError(f"freeze must be None, 'text' or 'vision'; got {self.freeze!r}.")
        if self.freeze == "text" and self.lora_rank:
            raise ValueError("freeze='text' and lora_rank train nothing of the text tower together: choose one.")
        if self.pair_ratio < 0 or self.steps < 1 or self.batch_size < 2:
            raise ValueError(f"Need pair_ratio >= 0, steps >= 1, batch_size >= 2; got {self}.")


class CaptionDataset(Dataset):
    """Your image-caption rows as training items; two captions of one image never meet in one batch."""

    def __init__(self, rows: Sequence[Row], image_size: int, resize_mode: str = "squash") -> None:
        self.rows = list(rows)
        images = list(dict.fromkeys(row.image for row in self.rows))
        position = {image: i for i, image in enumerate(images)}
        self.pixels = resize_images(images, image_size, resize_mode)  # each image loaded once
        self.image_of = [position[row.image] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return {"pixels": self.pixels[self.image_of[i]], "text": self.rows[i].caption}

    def key(self, i: int) -> int:
        """The image: its captions are positives of one another, never in-batch negatives."""
        return self.image_of[i]


class PairDataset(Dataset):
    """Your text pairs as training items."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        return {"a": self.pairs[i][0], "b": self.pairs[i][1]}

    def key(self, i: int) -> str:
        return self.pairs[i][0]


def _towers(model: JClipModel) -> dict[str, list[torch.nn.Module]]:
    return {"text": [model.text, model.text_projection], "vision": [model.vision, model.vision_projection]}


def prepare(model: JClipModel, config: FinetuneConfig) -> JClipModel:
    """Freeze what the config keeps, add the LoRA adapter, turn on gradient checkpointing; return the model.

    The learned temperature (``logit_scale``) is always kept: a few fine-tuning steps should not re-learn it.
    """
    model.logit_scale.requires_grad_(False)
    if config.freeze:
        for module in _towers(model)[config.freeze]:
            module.requires_grad_(False)
    if config.lora_rank:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha or config.lora_rank,
                          target_modules=list(LORA_TARGETS))  # fmt: skip
        model.text = get_peft_model(model.text, lora)  # the tower's own weights freeze, the adapter trains
        model.text_projection.requires_grad_(False)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def merge_lora(model: JClipModel) -> JClipModel:
    """Fold a LoRA adapter of the text tower into plain weights (``W + B A * alpha / r``) and drop the adapter.

    Example:
        >>> merge_lora(model) is model  # nothing to merge: unchanged
        True
    """
    if hasattr(model.text, "merge_and_unload"):
        model.text = model.text.merge_and_unload()
    return model


def trainable_parameters(model: JClipModel) -> int:
    """How many parameters fine-tuning updates.

    Example:
        >>> trainable_parameters(model) == sum(p.numel() for p in model.parameters())
        True
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def held_out_retrieval(model: JClipModel, data: CaptionedImages, image_size: int | None = None) -> dict[str, float]:
    """Text-to-image R@1 and R@5 on your held-out rows, CLIP_benchmark's way: each caption is a query whose only
    correct image is its own (several captions of one image are each a query)."""
    images = data.images
    position = {image: i for i, image in enumerate(images)}
    size = image_size or model.config.image_size
    image_vectors = model.encode_image([str(p) for p in images], image_size=size)
    text_vectors = model.encode_text([row.caption for row in data.rows])
    relevant = [{position[row.image]} for row in data.rows]
    metrics = retrieval_metrics(cosine_matrix(text_vectors, image_vectors), relevant, ks=(1, 5))
    chance = chance_retrieval(len(images), relevant, ks=(1, 5))
    return {"held-out R@1": metrics["R@1"], "held-out R@5": metrics["R@5"], "chance R@1": chance["R@1"]}


def lab_retrieval(model: JClipModel, world: World, languages: Sequence[str] = ("en", "de", "ja", "ar")):
    """What fine-tuning may break, on the lab's world: text retrieval R@1 (mean over kinds), STS Spearman x100
    (mean over ``languages``) and scene text-to-image R@1 (mean over ``languages``)."""
    embedder = Embedder(model, world)
    text = [r.value for r in text_retrieval_benchmark(embedder, "test", languages) if r.metric == "R@1"]
    sts = [r.value for r in sts_benchmark(embedder, "test", languages) if r.subset == "all"]
    scenes = [
        r.value for r in source_benchmark(embedder, "test", languages) if (r.subset, r.metric) == ("scenes", "R@1")
    ]
    return {"text retrieval R@1": float(np.mean(text)), "sts": sts[0], "scenes t2i R@1": scenes[0]}


def lab_text_pairs(world: World, split: str = "train") -> TextPairs:
    """The world's text pairs of ``split`` (translations of names and captions, paraphrases) as :class:`TextPairs`.

    ``finetune(..., pairs="lab", world=world)`` mixes the same pairs in but also measures the world before and
    after; ``pairs=lab_text_pairs(world)`` with ``world=None`` mixes them in and leaves the measuring to you.

    Example:
        >>> pairs = lab_text_pairs(world)
        >>> len(pairs.pairs) == sum(p["split"] == "train" for p in world.text_pairs), pairs.report.problems
        (True, [])
    """
    pairs = [(p["a"], p["b"]) for p in world.text_pairs if p["split"] == split]
    return TextPairs(pairs, DataReport(Path(f"world text pairs ({split})"), len(pairs)))


def forgetting_measures(model: JClipModel, world: World, languages: Sequence[str] = ("de", "ja", "ar")):
    """:func:`lab_retrieval`'s three measures, each restricted to ``languages``: cheap enough to run per seed.

    Text retrieval R@1 finds the English name of a country, language or currency from its name in one of
    ``languages`` (English itself is skipped: its queries would be the answers), mean over the three kinds; STS
    Spearman x100 and scene text-to-image R@1 are means over ``languages``.

    Example:
        >>> sorted(forgetting_measures(model, world, ("de",)))
        ['scenes t2i R@1', 'sts', 'text retrieval R@1']
    """
    embedder = Embedder(model, world)
    text = []
    for kind in ("country", "language", "currency"):
        pairs = [
            p for p in world.text_pairs
            if p["split"] == "test" and p["kind"] == kind and p["lang_a"] == "en" and p["lang_b"] in languages
        ]  # fmt: skip
        if pairs:
            text.append(text_retrieval(embedder, pairs)[0]["R@1"])
    sts = [r.value for r in sts_benchmark(embedder, "test", languages) if r.subset == "all"]
    scenes = [
        cross_modal_retrieval(embedder, world.select("scenes", "test", language), language)["t2i"]["R@1"]
        for language in languages
    ]
    return {"text retrieval R@1": float(np.mean(text)), "sts": sts[0], "scenes t2i R@1": float(np.mean(scenes))}


def device_memory(device: torch.device) -> int:
    """Bytes of memory on ``device``: the GPU's, or the machine's RAM for a CPU.

    Example:
        >>> device_memory(torch.device("cpu")) > 2**30
        True
    """
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _step_tasks(model_config: JClipConfig, config: FinetuneConfig, pair_batch: int) -> list[Task]:
    """The cost model's tasks of one fine-tuning step: the image-caption batch, and the text pairs if any."""
    from jclip_lab.cost import Task

    text_length = config.max_text_length or model_config.max_text_length
    tasks = [Task("image_text", config.batch_size, text_length, config.image_size or model_config.image_size)]
    if pair_batch >= 2:
        tasks.append(Task("text_pair", pair_batch, text_length))
    return tasks


def estimate_memory(model: JClipModel, config: FinetuneConfig, pair_batch: int, device: torch.device):
    """The cost model's estimate of one fine-tuning step (:func:`jclip_lab.cost.step_cost`): peak bytes and FLOPs.

    Counts the trainable parameters only for gradients and AdamW state, the batch of image-caption pairs and of
    text pairs at the configured sizes, checkpointing and gradient caching.
    """
    from jclip_lab.cost import step_cost

    tasks = _step_tasks(model.config, config, pair_batch)
    precision = "fp32" if choose_precision(device, config.precision).name == "fp32" else "bf16"
    return step_cost(model.config, tasks, precision=precision, checkpointing=config.gradient_checkpointing,
                     chunk_size=config.chunk_size, trainable=trainable_parameters(model),
                     autocast_device="cuda" if device.type == "cuda" else "cpu")  # fmt: skip


def check_fits(model: JClipModel, config: FinetuneConfig, pair_batch: int, device: torch.device) -> int:
    """The estimated peak bytes of a step; a MemoryError before training if it exceeds 90% of the device's memory.

    The message lists what lowers it, each with its own cost: a smaller batch (fewer negatives), gradient caching
    (same gradients, one more forward), checkpointing (a third more compute), LoRA or a frozen tower (fewer
    weights that adapt).
    """
    peak = estimate_memory(model, config, pair_batch, device).peak_bytes
    available = device_memory(device)
    if peak > 0.9 * available:
        raise MemoryError(
            f"A step needs about {peak / 2**30:.1f} GiB (cost-model estimate) but {device} has "
            f"{available / 2**30:.1f} GiB. Lower it with chunk_size (gradient caching, e.g. 16), "
            "gradient_checkpointing=True, lora_rank (e.g. 8) or freeze='vision', or a smaller batch_size."
        )
    return peak


@functools.lru_cache(maxsize=64)
def _trainable_of(config_json: str, freeze: str | None, lora_rank: int | None) -> int:
    from jclip_lab.models import JClipConfig

    with torch.device("meta"):  # shapes only: nothing is allocated, even for the real model
        model = JClipModel(JClipConfig.from_dict(json.loads(config_json)))
    return trainable_parameters(prepare(model, FinetuneConfig(freeze=freeze, lora_rank=lora_rank)))


def finetune_cost(model_config: JClipConfig, config: FinetuneConfig, gpu: GPU | None = None) -> StepCost:
    """The cost model's estimate of one fine-tuning step of a model of this geometry, without building the model.

    As :func:`estimate_memory` (what :func:`finetune` checks before training), for a GPU you may not have:
    ``config.batch_size`` image-caption pairs and ``pair_ratio`` times as many text pairs, at the config's image
    size and text length; 16-bit autocast unless ``config.precision`` is ``fp32`` (fp16 on a T4 takes what bf16
    takes); only the parameters that ``freeze`` and ``lora_rank`` leave trainable get gradients and AdamW state.

    Args:
        model_config: the model's geometry (e.g. ``config_preset("jina-clip-v2")``).
        config: the fine-tuning settings.
        gpu: the accelerator, for the step time (default :data:`jclip_lab.cost.H100_SXM`).

    Returns:
        A :class:`jclip_lab.cost.StepCost` (``peak_bytes``: the estimated peak memory).

    Example:
        >>> from jclip_lab.models import config_preset
        >>> real = config_preset("jina-clip-v2")
        >>> settings = FinetuneConfig(batch_size=32, image_size=512, max_text_length=77, lora_rank=16)
        >>> round(finetune_cost(real, settings).peak_bytes / 2**30, 1)
        69.8
    """
    from jclip_lab.cost import H100_SXM, step_cost

    tasks = _step_tasks(model_config, config, round(config.batch_size * config.pair_ratio))
    trainable = _trainable_of(model_config.to_json_string(), config.freeze, config.lora_rank)
    return step_cost(model_config, tasks, precision="fp32" if config.precision == "fp32" else "bf16",
                     checkpointing=config.gradient_checkpointing, chunk_size=config.chunk_size,
                     gpu=gpu or H100_SXM, trainable=trainable)  # fmt: skip


def check_fits_on(model_config: JClipConfig, config: FinetuneConfig, gpu: GPU, usable: float = 0.9) -> int:
    """The estimated peak bytes of a fine-tuning step on ``gpu``; a MemoryError if it exceeds ``usable`` of its memory.

    The same check as :func:`finetune` makes on the device it runs on (:func:`check_fits`), for any GPU of
    :data:`jclip_lab.cost.GPUS`, before you rent or start one.

    Raises:
        MemoryError: the step does not fit; the message says by how much and what lowers it.

    Example:
        >>> from jclip_lab.cost import T4
        >>> from jclip_lab.models import config_preset
        >>> settings = FinetuneConfig(batch_size=8, image_size=512, max_text_length=77, lora_rank=16,
        ...                           gradient_checkpointing=True, chunk_size=8)
        >>> round(check_fits_on(config_preset("jina-clip-v2"), settings, T4) / 2**30, 1)
        9.4
    """
    peak = finetune_cost(model_config, config, gpu).peak_bytes
    if peak > usable * gpu.memory_bytes:
        raise MemoryError(
            f"A step with batch_size={config.batch_size} needs about {peak / 2**30:.1f} GiB (cost-model estimate) "
            f"but a {gpu.name} has {gpu.memory_bytes / 2**30:.0f} GiB, {usable:.0%} of it usable. Lower it with "
            "chunk_size (gradient caching, e.g. 8), gradient_checkpointing=True, lora_rank (e.g. 16) or "
            "freeze='vision', or a smaller batch_size."
        )
    return peak


def largest_batch(model_config: JClipConfig, config: FinetuneConfig, gpu: GPU, most: int = 4096) -> int:
    """The largest power-of-two ``batch_size`` (at most ``most``) whose step fits ``gpu`` (0 if not even 2 fits).

    Example:
        >>> from jclip_lab.cost import T4
        >>> from jclip_lab.models import config_preset
        >>> largest_batch(config_preset("jina-clip-v2"), FinetuneConfig(image_size=512, max_text_length=77), T4)
        0
    """
    batch, best = 2, 0
    while batch <= most:
        try:
            check_fits_on(model_config, replace(config, batch_size=batch), gpu)
        except MemoryError:
            break
        best, batch = batch, batch * 2
    return best


@dataclass
class FinetuneResult:
    """The fine-tuned model, the measurements before and after, and the training history."""

    model: JClipModel
    before: dict[str, float]
    after: dict[str, float]
    history: History
    config: FinetuneConfig
    trainable: int
    chance: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        """Before, after and the change of every measurement, as a printable table."""
        from jclip_lab.tables import format_table

        rows = [
            [name, self.before[name], self.after[name], self.after[name] - self.before[name]] for name in self.after
        ]
        return format_table(rows, ["measure", "before", "after", "change"])


def _measure(model: JClipModel, held_out: CaptionedImages, world: World | None, image_size: int) -> dict[str, float]:
    was_training = model.training
    model.eval()
    measured = held_out_retrieval(model, held_out, image_size)
    measured.pop("chance R@1")
    if world is not None:
        measured |= lab_retrieval(model, world)
    model.train(was_training)
    return measured


def finetune(
    model: JClipModel,
    data: CaptionedImages,
    config: FinetuneConfig = FinetuneConfig(),
    pairs: TextPairs | str | None = "lab",
    world: World | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune a copy of ``model`` on ``data``; measure before and after.

    Args:
        model: any ``JClipModel`` with a tokenizer (a zoo model, a run folder's, the converted jina-clip-v2).
            It is not changed: a copy is trained.
        data: your captioned images (:func:`~jclip_lab.finetune.read_captioned_images`); ``config.held_out`` of
            the images are kept aside to measure.
        config: the settings.
        pairs: the text pairs mixed into every step: ``"lab"`` (the world's training pairs: translations of names
            and captions, paraphrases), your :class:`~jclip_lab.finetune.data.TextPairs`, or None.
        world: the lab's world, for its text pairs and the forgetting measurements (None: neither).
        device: where to train (default: the best available).
        progress: print the plan and show a progress bar.

    Returns:
        A :class:`FinetuneResult`.
    """
    if model.tokenizer is None:
        raise ValueError("finetune needs a model with a tokenizer: model.set_tokenizer(tokenizer).")
    if pairs == "lab" and world is None and config.pair_ratio > 0:
        raise ValueError('pairs="lab" needs the world: pass world=load_world(...), your own pairs, or pairs=None.')
    device = torch.device(device) if device is not None else get_device()
    train_rows, held_out = data.split(config.held_out, config.seed)
    image_size = config.image_size or model.config.image_size
    seed_everything(config.seed)  # the LoRA adapter's initialisation follows the seed too
    model = prepare(copy.deepcopy(model).to(device), config)
    before = _measure(model, held_out, world, image_size)
    datasets: dict[str, Dataset] = {"short": CaptionDataset(train_rows.rows, image_size, model.config.resize_mode)}
    pair_batch = round(config.batch_size * config.pair_ratio)
    if pairs is not None and pair_batch >= 2:
        datasets["pairs"] = TextPairDataset(world, "train") if pairs == "lab" else PairDataset(pairs.pairs)
    stage = Stage(
        "finetune", dict.fromkeys(datasets, 1.0), config.steps, config.batch_size, image_size,
        config.max_text_length or model.config.max_text_length, lr=config.lr, warmup=config.warmup,
    )  # fmt: skip
    batches = TaskMixer(
        datasets, {"short": config.batch_size, "pairs": pair_batch},
        Collator(model.tokenizer, stage.max_text_length, model.config.image_mean, model.config.image_std),
        seed=config.seed,
    ).iterate()  # fmt: skip
    precision = choose_precision(device, config.precision)
    optimizer, scaler, history = make_optimizer(model, stage), precision.scaler(device), History()
    trainable = trainable_parameters(model)
    pairs_per_step = pair_batch if "pairs" in datasets else 0
    peak = check_fits(model, config, pairs_per_step, device)
    if progress:
        print(f"fine-tuning {trainable:,} of {sum(p.numel() for p in model.parameters()):,} parameters on "
              f"{len(train_rows.rows)} captions and {pairs_per_step} text pairs per step ({device.type}, "
              f"{precision.name}; about {peak / 2**20:,.0f} MiB per step by the cost model)")  # fmt: skip
    seed_everything(config.seed)
    model.train()
    for step in tqdm(range(config.steps), desc="finetune", disable=not progress, mininterval=2.0):
        parts = training_step(model, optimizer, next(batches), stage, step, device, config.chunk_size, 1.0,
                              precision, scaler)  # fmt: skip
        history.steps.append({"stage": stage.name, "step": step, **parts, "lr": optimizer.param_groups[0]["lr"]})
    model = merge_lora(model).eval()
    model.gradient_checkpointing_disable()
    after = _measure(model, held_out, world, image_size)
    return FinetuneResult(model, before, after, history, config, trainable)
