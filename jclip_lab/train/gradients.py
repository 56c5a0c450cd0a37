"""One multi-task batch forward and backward: the plain way, and with gradient caching for large batches.

Both functions leave the gradients in ``.grad`` (they accumulate) and return each task's loss as a float. They
compute the same gradients: :func:`cached_gradients` only changes how much memory it takes.

Example:
    >>> from dataclasses import replace
    >>> from jclip_lab.train.stages import Stage
    >>> stage = Stage("s", {"pairs": 1.0}, steps=1, batch_size=2, image_size=32, max_text_length=8)
    >>> matryoshka_dims(stage, 128, (16, 32, 64, 128)), matryoshka_dims(replace(stage, matryoshka_dims=()), 128, ())
    ((16, 32, 64, 128), ())
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from jclip_lab.distributed import average_gradients
from jclip_lab.losses import matryoshka_loss, multi_task_loss
from jclip_lab.models import JClipModel
from jclip_lab.train.precision import FP32, Precision
from jclip_lab.train.stages import Stage
from jclip_lab.train.tasks import TASKS, Embed


def matryoshka_dims(stage: Stage, width: int, model_dims: Sequence[int]) -> tuple[int, ...]:
    """The prefix dims ``stage`` sums its losses over: its own, or (``None``) the model's ``matryoshka_dims``.

    Warns when the largest dim is not the full ``width``: the dims past it would then get no gradient at all.
    """
    dims = tuple(model_dims) if stage.matryoshka_dims is None else tuple(stage.matryoshka_dims)
    if dims and dims[-1] != width:
        warnings.warn(
            f"Stage {stage.name!r} trains the Matryoshka dims {dims}, whose largest is not the embedding width "
            f"{width}: dims {dims[-1]}..{width - 1} get no gradient. Add {width} to matryoshka_dims.",
            stacklevel=3,
        )
    return dims


def _task_losses(model: JClipModel, embeddings: Mapping[str, list[torch.Tensor]], stage: Stage) -> torch.Tensor:
    """The weighted sum of every task's loss on its embeddings, each summed over the Matryoshka prefixes."""
    dims = matryoshka_dims(stage, model.config.embed_dim, model.config.matryoshka_dims)
    losses = {}
    for name, task_embeddings in embeddings.items():

        def loss(*embeddings: torch.Tensor, task: str = name) -> torch.Tensor:
            return TASKS[task].loss(model, *embeddings)

        losses[name] = matryoshka_loss(loss, *task_embeddings, dims=dims) if dims else loss(*task_embeddings)
    return multi_task_loss(losses, stage.tasks)


def _scaled(loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> torch.Tensor:
    return scaler.scale(loss) if scaler is not None else loss


def _to_device(inputs: torch.Tensor | Mapping[str, torch.Tensor], device: torch.device):
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    return {key: value.to(device) for key, value in inputs.items()}


class TaskEmbeddings(nn.Module):
    """Every task's embeddings of a multi-task batch, in one forward pass: the module DDP wraps.

    DistributedDataParallel averages, over the processes, the gradients that flow back through *its* forward. So
    the whole step's tower passes happen in this one forward, which also returns the learned scale, so that
    ``logit_scale`` (used by the image-text loss) is part of the graph DDP sees.
    """

    def __init__(self, model: JClipModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batches: Mapping[str, Mapping]) -> tuple[dict[str, list[torch.Tensor]], torch.Tensor]:
        """``({task: [embeddings of each input]}, scale)``; the batches must be on the model's device."""
        return {name: TASKS[name].embed(self.model, batch) for name, batch in batches.items()}, self.model.get_scale()


def full_batch_gradients(
    model: JClipModel,
    batches: Mapping[str, Mapping],
    stage: Stage,
    device: torch.device,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
    forward: nn.Module | None = None,
) -> dict[str, float]:
    """Embed every task's whole batch with gradients, sum the losses, backpropagate once.

    Args:
        model: the model (in train mode).
        batches: task name -> collated batch (a :class:`~jclip_lab.world.datasets.Collator`'s output).
        stage: the stage (task weights, Matryoshka dims).
        device: where the model is.
        precision: the number format the towers run in (the losses are always fp32).
        scaler: fp16's gradient scaler: the loss is scaled before backward (None: no scaling).
        forward: the module that embeds the batches: the model's own :class:`TaskEmbeddings` by default, or the
            DistributedDataParallel wrapper of one, whose backward averages the gradients over the processes.

    Returns:
        Each task's loss as a float.
    """
    forward = forward if forward is not None else TaskEmbeddings(model)
    with precision.autocast(device):
        embeddings, _ = forward({name: {k: _to_device(v, device) for k, v in b.items()} for name, b in batches.items()})
        total, parts = _task_losses(model, embeddings, stage)
    _scaled(total, scaler).backward()
    return parts


class RandomState:
    """The CPU and CUDA generator states at one moment, to run a random forward pass (patch dropout) again exactly.

    :meth:`replay` restores them inside :func:`torch.random.fork_rng`, so the replay draws the same random numbers
    as the first pass and leaves the global generators as it found them (as sentence-transformers' ``RandContext``).
    """

    def __init__(self, device: torch.device) -> None:
        self.devices = [device] if device.type == "cuda" else []
        self.cpu = torch.get_rng_state()
        self.cuda = [torch.cuda.get_rng_state(d) for d in self.devices]

    @contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block with the random state captured at construction; restore the current one afterwards."""
        with torch.random.fork_rng(devices=self.devices):
            torch.set_rng_state(self.cpu)
            for device, state in zip(self.devices, self.cuda, strict=True):
                torch.cuda.set_rng_state(state, device)
            yield


@dataclass
class Chunk:
    """A slice of one input of a gradient-cached batch: the inputs, the tower, and the random state it ran with."""

    inputs: torch.Tensor | Mapping[str, torch.Tensor]
    embed: Embed
    random_state: RandomState
    rows: slice


def _chunks(
    inputs: torch.Tensor | Mapping[str, torch.Tensor], embed: Embed, size: int, device: torch.device
) -> list[Chunk]:
    rows = len(inputs) if isinstance(inputs, torch.Tensor) else len(next(iter(inputs.values())))
    chunks = []
    for start in range(0, rows, size):
        part = slice(start, min(start + size, rows))
        sliced = inputs[part] if isinstance(inputs, torch.Tensor) else {k: v[part] for k, v in inputs.items()}
        chunks.append(Chunk(_to_device(sliced, device), embed, RandomState(device), part))
    return chunks


def cached_gradients(
    model: JClipModel,
    batches: Mapping[str, Mapping],
    stage: Stage,
    device: torch.device,
    precision: Precision,
    scaler: torch.amp.GradScaler | None,
    chunk_size: int,
) -> dict[str, float]:
    """Gradient caching (Gao et al. 2021, arXiv:2101.06983): the full batch's gradients, one chunk's memory.

    1. Embed every input in chunks of ``chunk_size`` rows *without* gradients (no activations kept).
    2. Compute the loss on the detached embeddings and its gradient with respect to them, ``dL/de``.
    3. Embed each chunk again *with* gradients and backpropagate ``dL/de`` of its rows: by the chain rule the
       parameters receive exactly the full batch's gradient, while only one chunk's activations live at a time.

    The replay in step 3 runs with the random state of step 1, so patch dropout drops the same patches. With
    several processes the loss of step 2 runs outside any DDP forward, so the gradients are averaged over the
    processes at the end, in one all-reduce (:func:`jclip_lab.distributed.average_gradients`).
    Arguments as :func:`full_batch_gradients`, plus ``chunk_size`` (rows per forward pass).
    """
    chunks: dict[str, list[list[Chunk]]] = {}
    embeddings: dict[str, list[torch.Tensor]] = {}
    for name, batch in batches.items():
        chunks[name] = [_chunks(batch[field], embed, chunk_size, device) for field, embed in TASKS[name].inputs]
        with torch.no_grad(), precision.autocast(device):
            embeddings[name] = [
                torch.cat([chunk.embed(model, chunk.inputs).float() for chunk in input_chunks]).requires_grad_()
                for input_chunks in chunks[name]
            ]
    with precision.autocast(device):
        total, parts = _task_losses(model, embeddings, stage)
    _scaled(total, scaler).backward()  # the embeddings' gradients carry the scale into the replays
    for name, task_chunks in chunks.items():
        for input_chunks, detached in zip(task_chunks, embeddings[name], strict=True):
            for chunk in input_chunks:
                with chunk.random_state.replay(), precision.autocast(device):
                    replayed = chunk.embed(model, chunk.inputs)
                replayed.float().backward(detached.grad[chunk.rows])
    average_gradients(model.parameters())
    return parts


def compute_gradients(
    model: JClipModel,
    batches: Mapping[str, Mapping],
    stage: Stage,
    device: torch.device,
    precision: Precision = FP32,
    scaler: torch.amp.GradScaler | None = None,
    chunk_size: int | None = None,
    forward: nn.Module | None = None,
) -> dict[str, float]:
    """:func:`full_batch_gradients`, or :func:`cached_gradients` when ``chunk_size`` is set.

    Args:
        model: the model (in train mode).
        batches: task name -> collated batch.
        stage: the stage (task weights, Matryoshka dims).
        device: where the model is.
        precision: the number format the towers run in (default fp32).
        scaler: fp16's gradient scaler (None: no loss scaling).
        chunk_size: rows per forward pass with gradient caching; ``None`` embeds each batch whole.
        forward: the DDP-wrapped :class:`TaskEmbeddings` when training on several processes (full batches).
    """
    if chunk_size is None:
        return full_batch_gradients(model, batches, stage, device, precision, scaler, forward)
    return cached_gradients(model, batches, stage, device, precision, scaler, chunk_size)
