"""Training: stages, the loop, gradient caching, checkpoints and resume.

jina-clip-v2 trains in three stages, each a mix of tasks with its own losses summed into one:

1. short captions (image-text InfoNCE) + text pairs (text InfoNCE), at a low resolution;
2. long, detailed captions + text pairs, at a higher resolution;
3. hard-negative text triplets + charts and documents + long captions.

A :class:`Stage` describes one; :func:`train` runs a list of them with AdamW, warm-up then cosine decay,
gradient clipping, bf16 autocast on CUDA, a progress bar and a history for plots. Checkpoints are written
atomically and :func:`train` with ``resume=True`` carries on from the last one, ending with the same weights as a
run that was never stopped.

Example:
    >>> stages = tiny_recipe(get_profile("tiny"))           # doctest: +SKIP
    >>> history = train(model, world, stages, out_dir="run")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from jclip_lab.cache import write_directory_atomically, write_file_atomically
from jclip_lab.losses import clip_loss, matryoshka_loss, multi_task_loss, text_pair_loss, triplet_loss
from jclip_lab.models import JClipModel
from jclip_lab.models.config import JClipConfig, check_same_architecture
from jclip_lab.profiles import Profile, autocast_dtype, get_device, seed_everything
from jclip_lab.world import World
from jclip_lab.world.datasets import (
    IMAGE_TEXT_LANGUAGES,
    Collator,
    ImageTextDataset,
    TaskMixer,
    TextPairDataset,
    TripletDataset,
)

IMAGE_TEXT_TASKS = ("short", "long", "charts")
TASKS = (*IMAGE_TEXT_TASKS, "pairs", "triplets")
PHOTO_SOURCES = ("scenes", "emoji", "flags", "digits")


@dataclass(frozen=True)
class Stage:
    """One training stage.

    Attributes:
        name: shown in the progress bar and the history.
        tasks: task -> loss weight. Tasks: ``short`` and ``long`` (image-caption pairs with short or long
            captions), ``charts`` (charts with their descriptions), ``pairs`` (text pairs), ``triplets`` (text
            triplets with a hard negative).
        steps: optimizer steps.
        batch_size: items per task per step.
        image_size: image side in pixels.
        max_text_length: tokens per text.
        lr: peak learning rate (reached after ``warmup`` steps, then cosine decay to 10% of it).
        warmup: linear warm-up steps.
        weight_decay: AdamW weight decay (not applied to biases, norms, embeddings' scale).
        matryoshka_dims: prefix dims the loss is summed over; empty for the plain loss at full width.
        languages: caption languages of the image-text tasks (default: all but the transfer languages).
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
    matryoshka_dims: tuple[int, ...] = ()
    languages: tuple[str, ...] = IMAGE_TEXT_LANGUAGES

    def __post_init__(self) -> None:
        unknown = [task for task in self.tasks if task not in TASKS]
        if unknown:
            raise ValueError(f"Unknown task(s) {unknown}; valid tasks: {', '.join(TASKS)}")
        if self.steps < 1 or self.batch_size < 2:
            raise ValueError(f"A stage needs steps >= 1 and batch_size >= 2 (got {self.steps}, {self.batch_size}).")


def tiny_recipe(profile: Profile, matryoshka_dims: tuple[int, ...] = (16, 32, 64, 128)) -> list[Stage]:
    """The canonical three-stage recipe at the sizes of ``profile`` (a few minutes on a 2-core CPU for ``tiny``).

    Example:
        >>> from jclip_lab.profiles import get_profile
        >>> [stage.name for stage in tiny_recipe(get_profile("tiny"))]
        ['1-short-captions', '2-long-captions', '3-triplets-charts']
    """
    common = {"batch_size": profile.batch_size, "matryoshka_dims": matryoshka_dims}
    steps = profile.steps_per_stage
    return [
        Stage("1-short-captions", {"short": 1.0, "pairs": 1.0}, steps, image_size=profile.image_size,
              max_text_length=profile.max_text_length, **common),
        Stage("2-long-captions", {"long": 1.0, "pairs": 1.0}, steps // 2, image_size=profile.long_image_size,
              max_text_length=2 * profile.max_text_length, **common),
        Stage("3-triplets-charts", {"long": 1.0, "charts": 1.0, "triplets": 1.0}, steps // 2,
              image_size=profile.long_image_size, max_text_length=2 * profile.max_text_length, lr=3e-4, **common),
    ]  # fmt: skip


# ---------------------------------------------------------------- data


def stage_datasets(world: World, stage: Stage) -> dict[str, torch.utils.data.Dataset]:
    """The training dataset of each task of ``stage``."""

    def image_text(sources: tuple[str, ...], long: bool, languages: tuple[str, ...]) -> ImageTextDataset:
        return ImageTextDataset(world, "train", sources, languages, long=long, image_size=stage.image_size)

    makers: dict[str, Callable[[], torch.utils.data.Dataset]] = {
        "short": lambda: image_text(PHOTO_SOURCES, False, stage.languages),
        "long": lambda: image_text(PHOTO_SOURCES, True, stage.languages),
        "charts": lambda: image_text(("charts",), True, ("en",)),
        "pairs": lambda: TextPairDataset(world, "train"),
        "triplets": lambda: TripletDataset(world, "train"),
    }
    return {task: makers[task]() for task in stage.tasks}


# ---------------------------------------------------------------- one step


def _roles(task: str, batch: dict) -> list[tuple[str, dict]]:
    """The inputs of a task's loss, in order, each with the tower that embeds it."""
    if task in IMAGE_TEXT_TASKS:
        return [("image", {"pixel_values": batch["pixel_values"]}), ("text", batch["text"])]
    if task == "pairs":
        return [("text", batch["a"]), ("text", batch["b"])]
    return [("text", batch["anchor"]), ("text", batch["positive"]), ("text", batch["negative"])]


def _embed(model: JClipModel, tower: str, inputs: dict) -> torch.Tensor:
    if tower == "image":
        return model.get_image_features(inputs["pixel_values"])
    return model.get_text_features(inputs["input_ids"], inputs["attention_mask"])


def task_loss(model: JClipModel, task: str, embeddings: list[torch.Tensor], dims: tuple[int, ...]) -> torch.Tensor:
    """The loss of one task on its embeddings; summed over Matryoshka prefixes when ``dims`` is not empty.

    Image-text tasks use CLIP's symmetric InfoNCE with the learned scale; text pairs and triplets use InfoNCE
    with the fixed text temperature (0.05); triplets add their hard negatives as extra columns.
    """
    temperature = model.config.text_temperature
    if task in IMAGE_TEXT_TASKS:
        scale = model.get_scale()

        def loss_fn(image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
            return clip_loss(image, text, scale)
    elif task == "pairs":

        def loss_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return text_pair_loss(a, b, temperature)
    else:

        def loss_fn(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
            return triplet_loss(anchor, positive, negative, temperature)

    if dims:
        return matryoshka_loss(loss_fn, *embeddings, dims=dims)
    return loss_fn(*embeddings)


def _rng_state(device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(state: tuple[torch.Tensor, torch.Tensor | None], device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _to_device(inputs: dict, device: torch.device) -> dict:
    return {key: value.to(device) for key, value in inputs.items()}


def compute_gradients(
    model: JClipModel, batches: dict[str, dict], stage: Stage, device: torch.device, chunk_size: int | None = None
) -> dict[str, float]:
    """Forward and backward one multi-task batch; returns the loss parts. Gradients accumulate in ``.grad``.

    With ``chunk_size`` set, this is *gradient caching* (Gao et al., 2021): embed the batch in chunks without
    gradients, take the loss and its gradient with respect to the embeddings, then re-embed each chunk with
    gradients and backpropagate that chunk's slice. Peak memory is one chunk's activations, yet the gradients
    equal the full batch's, so a batch of 4,096 negatives fits on a small GPU. RNG states are replayed so random
    patch dropout drops the same patches twice.
    """
    dtype = autocast_dtype(device)
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
    roles = {task: _roles(task, batch) for task, batch in batches.items()}
    if chunk_size is None:
        with autocast:
            losses = {
                task: task_loss(
                    model, task, [_embed(model, t, _to_device(x, device)) for t, x in task_roles], stage.matryoshka_dims
                )
                for task, task_roles in roles.items()
            }
            total, parts = multi_task_loss(losses, stage.tasks)
        total.backward()
        return parts
    cached: dict[str, list[tuple[torch.Tensor, list[tuple[dict, torch.Tensor]]]]] = {}
    for task, task_roles in roles.items():
        cached[task] = []
        for tower, inputs in task_roles:
            chunks = []
            for start in range(0, len(inputs[next(iter(inputs))]), chunk_size):
                chunk = _to_device({k: v[start : start + chunk_size] for k, v in inputs.items()}, device)
                rng_state = _rng_state(device)
                with torch.no_grad(), autocast:
                    chunks.append((chunk, rng_state, _embed(model, tower, chunk).float()))
            embeddings = torch.cat([c[2] for c in chunks]).requires_grad_()
            cached[task].append((tower, embeddings, chunks))
    with autocast:
        losses = {
            task: task_loss(model, task, [e for _, e, _ in entries], stage.matryoshka_dims)
            for task, entries in cached.items()
        }
        total, parts = multi_task_loss(losses, stage.tasks)
    total.backward()
    for entries in cached.values():
        for tower, embeddings, chunks in entries:
            start = 0
            for chunk, rng_state, chunk_embeddings in chunks:
                _set_rng_state(rng_state, device)
                with autocast:
                    replay = _embed(model, tower, chunk)
                replay.float().backward(embeddings.grad[start : start + len(chunk_embeddings)])
                start += len(chunk_embeddings)
    return parts


# ---------------------------------------------------------------- optimizer and schedule


def make_optimizer(model: JClipModel, stage: Stage) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not on biases, norms, the CLS token or ``logit_scale``)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": stage.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=stage.lr, betas=(0.9, 0.98), eps=1e-6)


def lr_factor(step: int, stage: Stage, floor: float = 0.1) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to ``floor``.

    Example:
        >>> s = Stage("s", {"pairs": 1.0}, steps=100, batch_size=8, image_size=32, max_text_length=16, warmup=10)
        >>> lr_factor(0, s), lr_factor(10, s), round(lr_factor(100, s), 2)
        (0.1, 1.0, 0.1)
    """
    if step < stage.warmup:
        return (step + 1) / stage.warmup
    progress = (step - stage.warmup) / max(1, stage.steps - stage.warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------- checkpoints


@dataclass
class History:
    """What happened during training: one row per step, one per evaluation.

    Attributes:
        steps: dicts with ``stage``, ``step`` (global), ``loss``, one key per task loss, ``lr``, ``scale``.
        evals: dicts with ``stage``, ``step`` and the metrics returned by the evaluation function.
    """

    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one logged quantity, for plotting."""
        rows = [row for row in self.steps if key in row]
        return [row["step"] for row in rows], [row[key] for row in rows]


CHECKPOINT_POINTER = "latest"


def save_checkpoint(
    out_dir: Path,
    model: JClipModel,
    optimizer: torch.optim.Optimizer,
    stage_index: int,
    stage_step: int,
    history: History,
) -> Path:
    """Write a resumable checkpoint atomically, then point ``out_dir/latest`` at it; keep the last two.

    It holds the weights (safetensors, via ``save_pretrained``), the optimizer state, where the run is (stage,
    step), the history, and every random generator's state.
    """
    out_dir = Path(out_dir)
    global_step = len(history.steps)
    name = f"checkpoint-{global_step:07d}"

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp / "model")
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "numpy_rng": np.random.get_state(),
                "python_rng": random.getstate(),
            },
            tmp / "state.pt",
        )
        position = {"stage_index": stage_index, "stage_step": stage_step, "global_step": global_step}
        (tmp / "position.json").write_text(json.dumps(position))
        (tmp / "history.json").write_text(json.dumps(asdict(history)))

    write_directory_atomically(out_dir / name, write)
    write_file_atomically(out_dir / CHECKPOINT_POINTER, lambda tmp: tmp.write_text(name))
    for old in sorted(out_dir.glob("checkpoint-*"))[:-2]:
        shutil.rmtree(old)
    return out_dir / name


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The checkpoint ``out_dir/latest`` points at, or None if the run has none."""
    pointer = Path(out_dir) / CHECKPOINT_POINTER
    return Path(out_dir) / pointer.read_text().strip() if pointer.exists() else None


# ---------------------------------------------------------------- the loop


def train(
    model: JClipModel,
    world: World,
    stages: list[Stage],
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    out_dir: Path | str | None = None,
    resume: bool = False,
    checkpoint_every: int = 100,
    eval_every: int | None = None,
    eval_fn: Callable[[JClipModel], dict[str, float]] | None = None,
    chunk_size: int | None = None,
    max_grad_norm: float = 1.0,
    progress: bool = True,
) -> History:
    """Train ``model`` on ``world`` through ``stages``; return the :class:`History`.

    Args:
        model: the model (with its tokenizer attached).
        world: the world to train on.
        stages: the stages, run in order.
        seed: seeds the order of the data and the random generators at the start of each stage (patch dropout);
            the model's initialisation is seeded by whoever builds it.
        device: where to train (default: the best available).
        out_dir: where checkpoints go (none without it).
        resume: carry on from ``out_dir``'s latest checkpoint (weights, optimizer, position, random states).
        checkpoint_every: steps between checkpoints (and one at the end of every stage).
        eval_every: steps between calls of ``eval_fn(model)``, whose metrics go into ``history.evals``.
        chunk_size: compute each batch in chunks of this size with gradient caching (same gradients).
        max_grad_norm: gradient clipping threshold.
        progress: show a progress bar per stage with the running loss parts.

    Raises:
        ValueError: ``resume`` without ``out_dir``, or a checkpoint from a model of another architecture.
    """
    device = torch.device(device) if device is not None else get_device()
    if model.tokenizer is None:
        raise ValueError("train needs a model with a tokenizer: model.set_tokenizer(tokenizer).")
    model.to(device)
    history, start_stage, start_step, state = History(), 0, 0, None
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs the out_dir of the run to resume.")
        checkpoint = latest_checkpoint(Path(out_dir))
        if checkpoint is not None:
            check_same_architecture(JClipConfig.from_pretrained(checkpoint / "model"), model.config)
            restored = JClipModel.from_pretrained(checkpoint / "model")
            model.load_state_dict(restored.state_dict())
            position = json.loads((checkpoint / "position.json").read_text())
            start_stage, start_step = position["stage_index"], position["stage_step"]
            history = History(**json.loads((checkpoint / "history.json").read_text()))
            state = torch.load(checkpoint / "state.pt", weights_only=False)
            if start_stage < len(stages) and start_step >= stages[start_stage].steps:  # saved at a stage's end
                start_stage, start_step, state = start_stage + 1, 0, None
    for stage_index in range(start_stage, len(stages)):
        stage = stages[stage_index]
        first_step = start_step if stage_index == start_stage else 0
        model.config.image_size = stage.image_size  # encode_image then defaults to the latest training resolution
        optimizer = make_optimizer(model, stage)
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
        mixer = TaskMixer(
            stage_datasets(world, stage),
            stage.batch_size,
            Collator(model.tokenizer, stage.max_text_length, model.config.image_mean, model.config.image_std),
            seed=hash_seed(seed, stage_index),
        )
        batches = mixer.iterate(skip=first_step)
        if state is not None:  # resuming inside this stage: random states as they were at the checkpoint
            _restore_random_state(state)
            state = None
        else:  # every stage starts from its own seed, so a run does not depend on what ran before it
            seed_everything(hash_seed(seed, stage_index))
        model.train()
        # A bar redrawn at most every 2 s: in Jupyter each redraw is a message, and a flood of them can be dropped.
        bar = tqdm(range(first_step, stage.steps), desc=stage.name, disable=not progress, mininterval=2.0)
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = stage.lr * lr_factor(step, stage)
            optimizer.zero_grad(set_to_none=True)
            parts = compute_gradients(model, next(batches), stage, device, chunk_size)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, model.config.logit_scale_max)
            row = {
                "stage": stage.name,
                "step": len(history.steps),
                "loss": sum(parts[t] * w for t, w in stage.tasks.items()),
            }
            row |= parts | {"lr": optimizer.param_groups[0]["lr"], "scale": model.get_scale().item()}
            history.steps.append(row)
            bar.set_postfix({task: f"{value:.2f}" for task, value in parts.items()})
            done = step + 1
            if eval_fn is not None and eval_every and (done % eval_every == 0 or done == stage.steps):
                model.eval()
                history.evals.append({"stage": stage.name, "step": len(history.steps), **eval_fn(model)})
                model.train()
            if out_dir is not None and (done % checkpoint_every == 0 or done == stage.steps):
                save_checkpoint(Path(out_dir), model, optimizer, stage_index, done, history)
    model.eval()
    return history


def hash_seed(seed: int, stage_index: int) -> int:
    """A distinct, reproducible data-order seed for each stage of a run."""
    return seed * 1000 + stage_index


def _restore_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
