"""The training loop: AdamW with warm-up and cosine decay, clipping, the temperature clamp, checkpoints, resume.

Example:
    >>> from dataclasses import replace
    >>> stage = Stage("pairs", {"pairs": 1.0}, steps=2, batch_size=4, image_size=32, max_text_length=16)
    >>> history = train(model, world, [stage], progress=False)   # `model` and `world` as in the notebooks
    >>> [row["step"] for row in history.steps]
    [0, 1]
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from jclip_lab.distributed import (
    barrier,
    gather_tensors,
    init_distributed,
    is_main_process,
    mean_over_ranks,
    rank,
    world_size,
)
from jclip_lab.models import JClipModel
from jclip_lab.profiles import seed_everything, set_threads
from jclip_lab.train.checkpoints import Position, load_checkpoint, random_state, restore_random_state, save_checkpoint
from jclip_lab.train.gradients import TaskEmbeddings, compute_gradients
from jclip_lab.train.precision import FP32, Precision, choose_precision
from jclip_lab.train.stages import Stage, lr_factor
from jclip_lab.train.tasks import TASKS
from jclip_lab.world import World
from jclip_lab.world.datasets import Collator, TaskMixer

PROCESS_SEED_STRIDE = 7919  # process r seeds its random generators (patch dropout) with the stage's seed + r * this


@dataclass
class History:
    """What happened during training: one row per step, one per evaluation.

    Attributes:
        steps: dicts with ``stage``, ``step`` (global), ``loss`` (the weighted sum), one key per task loss,
            ``lr`` and ``scale`` (the image-text inverse temperature).
        evals: dicts with ``stage``, ``step`` and the metrics returned by the evaluation function.

    Example:
        >>> History(steps=[{"step": 0, "loss": 2.0}, {"step": 1, "loss": 1.5}]).series("loss")
        ([0, 1], [2.0, 1.5])
    """

    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one logged quantity, for plotting."""
        rows = [row for row in self.steps if key in row]
        return [row["step"] for row in rows], [row[key] for row in rows]


def make_optimizer(model: JClipModel, stage: Stage) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices only (not on biases, norms, the CLS token or ``logit_scale``).

    betas (0.9, 0.98) and eps 1e-6 are CLIP's (arXiv:2103.00020, appendix F): a shorter second-moment memory
    than the default 0.999 keeps large-batch contrastive training stable.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": stage.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=stage.lr, betas=(0.9, 0.98), eps=1e-6)


def stage_seed(seed: int, stage_index: int) -> int:
    """A distinct, reproducible seed for each stage of a run (data order, patch dropout).

    Example:
        >>> stage_seed(0, 2), stage_seed(1, 0)
        (2, 1000)
    """
    return seed * 1000 + stage_index


def stage_batches(model: JClipModel, world: World, stage: Stage, seed: int, skip: int = 0) -> Iterator[dict]:
    """The endless stream of ``{task: collated batch}`` of ``stage``, after skipping ``skip`` steps.

    With several processes every one draws the same global batch of ``world_size() * stage.batch_size`` items
    (no concept twice in it) and keeps its own slice of ``stage.batch_size``.
    """
    datasets = {name: TASKS[name].dataset(world, stage) for name in stage.tasks}
    collate = Collator(model.tokenizer, stage.max_text_length, model.config.image_mean, model.config.image_std)
    mixer = TaskMixer(datasets, stage.batch_size, collate, seed=seed, rank=rank(), world_size=world_size())
    return mixer.iterate(skip=skip)


def training_step(
    model: JClipModel,
    optimizer: torch.optim.Optimizer,
    batches: dict,
    stage: Stage,
    step: int,
    device: torch.device,
    chunk_size: int | None = None,
    max_grad_norm: float = 1.0,
    precision: Precision = FP32,
    scaler: torch.amp.GradScaler | None = None,
    forward: torch.nn.Module | None = None,
) -> dict[str, float]:
    """One optimizer step: set the learning rate, compute the gradients, clip them, step, clamp the temperature.

    With fp16's ``scaler`` the gradients are unscaled before clipping, and the step is skipped (the scale
    lowered) when they hold an inf or NaN. ``forward`` is the DDP-wrapped
    :class:`~jclip_lab.train.gradients.TaskEmbeddings` when training on several processes.

    Returns:
        Each task's loss as a float (averaged over the processes).
    """
    for group in optimizer.param_groups:
        group["lr"] = stage.lr * lr_factor(step, stage)
    optimizer.zero_grad(set_to_none=True)
    parts = compute_gradients(model, batches, stage, device, precision, scaler, chunk_size, forward)
    if scaler is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    with torch.no_grad():  # clamp the stored log-scale (never its exponent: that would stop its gradient)
        model.logit_scale.clamp_(0, model.config.logit_scale_max)
    return mean_over_ranks(parts)


def compile_towers(model: JClipModel, **options: object) -> None:
    """``torch.compile`` both towers in place (their weights and state-dict names are unchanged).

    The first steps are slow while the graphs compile; later steps run fused kernels. ``options`` go to
    ``torch.compile`` (e.g. ``mode="max-autotune"`` on a GPU, ``backend="aot_eager"`` to check a graph quickly).
    """
    model.text.compile(**options)
    model.vision.compile(**options)


def _fresh_or_resumed(
    model: JClipModel, stages: list[Stage], out_dir: Path | None, resume: bool, overwrite: bool
) -> tuple[Position, History, dict | None, dict | None]:
    """Where the run starts: ``(position, history, optimizer state, random state)``, fresh or from a checkpoint."""
    fresh = Position(), History(), None, None
    if resume and out_dir is None:
        raise ValueError("resume=True needs the out_dir of the run to resume.")
    if out_dir is None:
        return fresh
    if not resume:
        existing = sorted(p.name for p in out_dir.glob("checkpoint-*")) if out_dir.is_dir() else []
        if existing and not overwrite:
            raise ValueError(
                f"{out_dir} already holds a run ({', '.join(existing)}): pass resume=True to carry it on, "
                "overwrite=True to replace it, or another out_dir."
            )
        barrier()  # every process has looked before the first one deletes
        for old in existing if is_main_process() else ():
            shutil.rmtree(out_dir / old)
        return fresh
    checkpoint = load_checkpoint(out_dir, model)
    if checkpoint is None:
        return fresh
    position = checkpoint.position
    if position.stage_index < len(stages) and position.stage_step >= stages[position.stage_index].steps:
        return Position(position.stage_index + 1, 0, position.global_step), History(**checkpoint.history), None, None
    if len(checkpoint.random) != world_size():
        raise ValueError(
            f"{checkpoint.path} was saved by {len(checkpoint.random)} process(es); resume it with as many "
            f"(now {world_size()}), so that every process takes up its own data and random state."
        )
    return position, History(**checkpoint.history), checkpoint.optimizer, checkpoint.random[rank()]


@dataclass
class _Run:
    """One training run's settings and state, so that its stage loop reads as plain steps."""

    model: JClipModel
    world: World
    seed: int
    device: torch.device
    out_dir: Path | None
    checkpoint_every: int
    eval_every: int | None
    eval_fn: Callable[[JClipModel], dict[str, float]] | None
    chunk_size: int | None
    max_grad_norm: float
    progress: bool
    history: History
    precision: Precision
    scaler: torch.amp.GradScaler | None
    forward: torch.nn.Module | None
    callback: Callable[[dict], None] | None = None

    def stage(self, stage: Stage, index: int, first_step: int, optimizer_state: dict | None, random: dict | None):
        """Run ``stage`` (the ``index``-th) from ``first_step``, from a checkpoint's optimizer and random states."""
        optimizer = make_optimizer(self.model, stage)
        if optimizer_state is not None:
            optimizer.load_state_dict(optimizer_state)
        batches = stage_batches(self.model, self.world, stage, stage_seed(self.seed, index), skip=first_step)
        if random is not None:  # resuming inside this stage: the random states as they were at the checkpoint
            restore_random_state(random)
        else:  # every stage starts from its own seed (each process its own), so a run does not depend on the past
            seed_everything(stage_seed(self.seed, index) + PROCESS_SEED_STRIDE * rank())
        self.model.train()
        # A bar redrawn at most every 2 s: in Jupyter each redraw is a message, and a flood of them can be dropped.
        bar = tqdm(range(first_step, stage.steps), desc=stage.name, disable=not self.progress, mininterval=2.0)
        for step in bar:
            parts = training_step(self.model, optimizer, next(batches), stage, step, self.device, self.chunk_size,
                                  self.max_grad_norm, self.precision, self.scaler, self.forward)  # fmt: skip
            self.log(stage, parts, optimizer.param_groups[0]["lr"])
            bar.set_postfix({task: f"{value:.2f}" for task, value in parts.items()})
            self.evaluate_and_save(stage, index, step + 1, optimizer)

    def log(self, stage: Stage, parts: dict[str, float], lr: float) -> None:
        """Append one step's row to the history: the weighted loss, each task's loss, the lr and the scale."""
        loss = sum(parts[task] * weight for task, weight in stage.tasks.items())
        row = {"stage": stage.name, "step": len(self.history.steps), "loss": loss, **parts}
        self.history.steps.append(row | {"lr": lr, "scale": self.model.get_scale().item()})
        if self.callback is not None:
            self.callback(self.history.steps[-1])

    def evaluate_and_save(self, stage: Stage, index: int, done: int, optimizer: torch.optim.Optimizer) -> None:
        """After ``done`` steps of the stage: evaluate and checkpoint when due (and always at the stage's end)."""
        end = done == stage.steps
        if self.eval_fn is not None and self.eval_every and (done % self.eval_every == 0 or end):
            self.model.eval()
            metrics = self.eval_fn(self.model)
            self.history.evals.append({"stage": stage.name, "step": len(self.history.steps), **metrics})
            self.model.train()
        if self.out_dir is not None and (done % self.checkpoint_every == 0 or end):
            position = Position(index, done, len(self.history.steps))
            states = gather_tensors(random_state())  # every process's generators, for an exact resume
            if is_main_process():  # the weights and the optimizer are the same in every process
                save_checkpoint(self.out_dir, self.model, optimizer, position, self.history, states)
            barrier()


def _data_parallel(model: JClipModel, device: torch.device) -> torch.nn.Module:
    """The model's :class:`TaskEmbeddings` wrapped in DistributedDataParallel (it also makes every process start
    from rank 0's weights).

    ``find_unused_parameters``: a stage without images leaves the vision tower without gradients.
    """
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(TaskEmbeddings(model), device_ids=device_ids, find_unused_parameters=True)


def train(
    model: JClipModel,
    world: World,
    stages: list[Stage],
    *,
    seed: int = 0,
    device: torch.device | str | None = None,
    out_dir: Path | str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_every: int = 100,
    eval_every: int | None = None,
    eval_fn: Callable[[JClipModel], dict[str, float]] | None = None,
    chunk_size: int | None = None,
    max_grad_norm: float = 1.0,
    precision: str = "auto",
    compile: bool = False,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
) -> History:
    """Train ``model`` on ``world`` through ``stages``; return the :class:`History`.

    The model's config is left as it is (the stages carry their own image sizes and text lengths); to make
    ``encode_image`` use the last stage's resolution, set ``model.config.image_size`` after training.

    Launched by ``torchrun --nproc_per_node N`` (see ``jclip-lab train --nproc``), N processes train as one
    process with N times the batch: each embeds its slice of one global batch (no concept twice in it), the
    contrastive losses score its rows against every process's embeddings (gathered with gradients), DDP averages
    the gradients, and process 0 writes the checkpoints, which hold every process's random state.

    Args:
        model: the model (with its tokenizer attached).
        world: the world to train on.
        stages: the stages, run in order.
        seed: seeds the order of the data and the random generators at the start of each stage (patch dropout);
            the model's initialisation is seeded by whoever builds it.
        device: where to train (default: the best available).
        out_dir: where checkpoints go (none without it). A fresh run refuses a folder that holds another run.
        resume: carry on from ``out_dir``'s newest readable checkpoint (weights, optimizer, position, random states).
        overwrite: start afresh in an ``out_dir`` that holds another run, deleting its checkpoints.
        checkpoint_every: steps between checkpoints (and one at the end of every stage).
        eval_every: steps between calls of ``eval_fn(model)``, whose metrics go into ``history.evals``.
        chunk_size: compute each batch in chunks of this size with gradient caching (same gradients).
        max_grad_norm: gradient clipping threshold.
        precision: ``auto`` (bf16 on GPUs that have it, fp16 with loss scaling on other GPUs, fp32 on a CPU), or
            ``fp32``, ``bf16``, ``fp16``; see :mod:`jclip_lab.train.precision`.
        compile: ``torch.compile`` the towers first (:func:`compile_towers`).
        progress: show a progress bar per stage with the running loss parts, and the thread count at the start.
        callback: called with every step's history row as it is logged (e.g. a live plot,
            :class:`jclip_lab.viz.LivePlot`).

    Raises:
        ValueError: a model without a tokenizer, ``resume`` without ``out_dir``, a fresh run into a folder holding
            another run, or a checkpoint from a model of another architecture.
    """
    launched = init_distributed()  # this process's device under torchrun; else the best device
    device = torch.device(device) if device is not None else launched
    if model.tokenizer is None:
        raise ValueError("train needs a model with a tokenizer: model.set_tokenizer(tokenizer).")
    model.to(device)
    threads = set_threads()
    chosen = choose_precision(device, precision)
    if compile:
        compile_towers(model)
    if progress and is_main_process():
        on = f"{device.type} with {threads} CPU thread(s)" if device.type == "cpu" else device.type
        on += f" x {world_size()} processes" if world_size() > 1 else ""
        print(f"training on {on} in {chosen.name}" + (", compiled" if compile else ""))
    out_dir = Path(out_dir) if out_dir is not None else None
    position, history, optimizer_state, random = _fresh_or_resumed(model, stages, out_dir, resume, overwrite)
    forward = _data_parallel(model, device) if world_size() > 1 else None
    run = _Run(model, world, seed, device, out_dir, checkpoint_every, eval_every, eval_fn, chunk_size, max_grad_norm,
               progress and is_main_process(), history, chosen, chosen.scaler(device), forward, callback)  # fmt: skip
    for index in range(position.stage_index, len(stages)):
        first_step = position.stage_step if index == position.stage_index else 0
        run.stage(stages[index], index, first_step, optimizer_state, random)
        optimizer_state = random = None
    model.eval()
    return history
