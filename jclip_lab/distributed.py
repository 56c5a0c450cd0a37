"""Training on many GPUs: torchrun, DDP, and contrastive losses over the negatives of every GPU.

Data parallelism (PyTorch's ``DistributedDataParallel``, DDP) runs one process per GPU, each with a full copy of
the model and its own slice of the batch; after ``backward`` DDP averages the gradients over the processes
(*ranks*), so every copy takes the same optimizer step. ``torchrun --nproc_per_node N`` starts the N processes
and tells each its place through environment variables; :func:`init_distributed` reads them.

A contrastive loss needs more than that. Its negatives are the *other examples of the batch*: a GPU that only
sees its own ``B`` rows trains with ``B - 1`` negatives, not the ``N x B - 1`` of the global batch. So each rank
gathers every rank's embeddings (the *keys*, the columns of the logits) and scores its own rows (the *queries*)
against all of them, the positive of its row ``i`` being global column ``rank * B + i``. That is open_clip's
``ClipLoss(local_loss=True, gather_with_grad=True)``:

- ``gather_with_grad``: the gather is differentiable (``torch.distributed.nn.functional.all_gather``). Its
  backward sends each rank's gradient for every gathered block back to the block's owner and sums them there,
  so the gradient at a rank's own rows is the sum over *all ranks' losses*, ``N`` times the gradient of the
  global mean loss. DDP's average divides by ``N`` again: N ranks of batch B take exactly the gradient of one
  process with batch N x B (:func:`compare_with_one_process` measures it: within 1e-6 of the values in
  float32, 1e-15 in float64).
- ``local_loss``: each rank computes only its ``B x (N B)`` block of the logits, not the whole ``N B x N B``
  matrix: N times less loss compute and memory than every rank computing everything.

The learned temperature stays one parameter: every rank uses its own copy of ``logit_scale`` (DDP keeps the
copies equal) and DDP averages its gradient like any other.

The gathered losses below are the losses of :mod:`jclip_lab.losses` with the keys gathered; with one process
(or without ``init_distributed``) they *are* those losses, so a training loop can call them unconditionally.
They compose with :func:`jclip_lab.losses.matryoshka_loss` unchanged: each Matryoshka prefix is gathered on its
own, ``sum(dims) / embed_dim`` times the traffic (and memory) of one gather at full width: 2.7x for jina-clip-v2's
dims, about 1.5 GB received per GPU per step at its stage 1 (2 tasks x 2 directions x 32k rows x 2,784 floats),
tens of milliseconds over NVLink against seconds of compute.

Every rank must pass the same number of rows (the :class:`~jclip_lab.world.datasets.TaskMixer` with
``rank`` / ``world_size`` gives each rank an equal slice of one global batch).

How a training loop uses this (``torchrun --nproc_per_node N ...``)::

    device = init_distributed()
    model = model.to(device)
    ddp_model = DistributedDataParallel(model, gradient_as_bucket_view=True)  # no device_ids on CPUs
    batches = TaskMixer(data, batch_size, collate, seed=seed, rank=rank(), world_size=world_size())
    torch.manual_seed(seed + rank())  # the same global batch everywhere, but each rank its own patch dropout
    loss = matryoshka_loss(gathered_clip_loss, images, texts, dims=dims, scale=scale)  # ... + other tasks
    loss.backward()  # DDP averages the gradients; then the optimizer step, the same on every rank
    if is_main_process():
        ...  # log, evaluate, save the checkpoint (of ``model``, not ``ddp_model``)
    barrier()
    cleanup()

With gradient caching the loss runs on cached embeddings outside the model's forward, where DDP does not see
it: run the caching passes on ``model`` (or under ``ddp_model.no_sync()``) and call :func:`average_gradients`
before the optimizer step (``compare_with_one_process`` proves that this, too, equals one process).

References:
    - open_clip, ``src/open_clip/loss.py`` (``gather_features``, ``ClipLoss``):
      https://github.com/mlfoundations/open_clip
    - PyTorch, "Getting started with DDP" and ``torchrun``: https://pytorch.org/docs/stable/elastic/run.html

Example:
    >>> import torch
    >>> from jclip_lab.losses import clip_loss
    >>> images, texts = torch.randn(4, 8), torch.randn(4, 8)
    >>> world_size(), rank()  # not launched by torchrun: a world of one
    (1, 0)
    >>> bool(torch.equal(gathered_clip_loss(images, texts, 10.0), clip_loss(images, texts, 10.0)))
    True
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable
from functools import partial
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_functional
from torch import Tensor, nn

from jclip_lab.losses import (
    clip_loss,
    info_nce,
    matryoshka_loss,
    text_pair_loss,
    triplet_loss,
)
from jclip_lab.profiles import get_device

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")

# ---------------------------------------------------------------- the process group


def init_distributed() -> torch.device:
    """Join the process group torchrun set up and return this rank's device; without torchrun, do nothing.

    torchrun starts one process per GPU and sets, in each, ``RANK`` (0 .. N-1 over all machines), ``WORLD_SIZE``
    (N), ``LOCAL_RANK`` (the index on this machine: the GPU to use) and ``MASTER_ADDR`` / ``MASTER_PORT`` (where
    rank 0 listens). The backend is NCCL when CUDA is available (it moves GPU tensors) and gloo otherwise (CPU
    tensors); on CUDA the rank's GPU becomes the current device. Without ``WORLD_SIZE`` in the environment (a
    plain ``python`` or a notebook) nothing is initialised: :func:`world_size` is 1, :func:`rank` is 0 and every
    collective here is the identity. Calling it again is harmless.

    Returns:
        ``cuda:LOCAL_RANK`` or ``cpu`` under torchrun; else :func:`jclip_lab.profiles.get_device`.

    Raises:
        ValueError: if ``WORLD_SIZE`` is set but one of the other variables torchrun sets is missing.

    Example:
        >>> init_distributed().type in {"cuda", "mps", "cpu"}
        True
    """
    if "WORLD_SIZE" not in os.environ:
        return get_device()
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(f"WORLD_SIZE is set but {missing} are not; launch with `torchrun --nproc_per_node N ...`.")
    use_cuda = torch.cuda.is_available()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device


def world_size() -> int:
    """The number of processes training together (1 outside torchrun).

    Example:
        >>> world_size()
        1
    """
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    """This process's index among them, ``0 .. world_size() - 1`` (0 outside torchrun).

    Example:
        >>> rank()
        0
    """
    return dist.get_rank() if dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0, the one process that logs, evaluates and writes checkpoints.

    Example:
        >>> is_main_process()
        True
    """
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here (e.g. before reading a checkpoint rank 0 writes); a no-op alone.

    Example:
        >>> barrier()
    """
    if dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (call once at the end of training); a no-op when none was joined.

    Example:
        >>> cleanup()
    """
    if dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------- gathering with gradients


def gather_with_grad(x: Tensor) -> Tensor:
    """Every rank's rows of ``x``, concatenated in rank order: ``(world_size() * batch, ...)``.

    Differentiable: the gradient at the gathered rows goes back to the rank that owns them, summed over all
    ranks (``torch.distributed.nn.functional.all_gather``, whose backward is a reduce-scatter with ``SUM``),
    so each rank's own rows receive the gradient of every rank's loss. Every rank must pass the same shape.
    With one process ``x`` comes back unchanged.

    Example:
        >>> x = torch.randn(2, 3)
        >>> gather_with_grad(x) is x  # one process
        True
    """
    if world_size() == 1:
        return x
    with warnings.catch_warnings():
        # torch 2.13 deprecates this (eager, torch >= 1.x) API for the private functional collectives
        # (torch.distributed._functional_collectives.all_gather_single), whose first call imports torch._dynamo.
        warnings.filterwarnings("ignore", "torch.distributed.nn.functional.all_gather is deprecated", FutureWarning)
        return torch.cat(dist_functional.all_gather(x), dim=0)


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Average every parameter's ``.grad`` over the ranks, in place: DDP's averaging, by hand.

    DDP averages the gradients that a backward pass *through its own forward* produces. Gradient caching runs
    the loss on cached embeddings, outside the model's forward (the learned ``logit_scale`` gets its gradient
    there), and backpropagates the towers chunk by chunk: run those passes on the unwrapped model (or under
    ``ddp_model.no_sync()``) and call this once, before the optimizer step. A parameter without a gradient
    counts as zeros, so every rank sends the same tensors. One flat all-reduce for all of them.

    Example:
        >>> layer = nn.Linear(2, 1)
        >>> layer(torch.ones(1, 2)).sum().backward()
        >>> average_gradients(layer.parameters())  # one process: nothing to average
        >>> layer.bias.grad
        tensor([1.])
    """
    if world_size() == 1:
        return
    parameters = [p for p in parameters if p.requires_grad]
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in parameters])
    dist.all_reduce(flat)
    flat /= world_size()
    for p, averaged in zip(parameters, flat.split([p.numel() for p in parameters]), strict=True):
        p.grad.copy_(averaged.view_as(p.grad))


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """The mean of each number over the ranks (every rank gets the same dict), e.g. the loss parts to log.

    Example:
        >>> mean_over_ranks({"pairs": 2.5})  # one process: unchanged
        {'pairs': 2.5}
    """
    if world_size() == 1:
        return values
    flat = torch.tensor(list(values.values()), dtype=torch.float64, device=_collective_device())
    dist.all_reduce(flat)
    return dict(zip(values, (flat / world_size()).tolist(), strict=True))


def gather_tensors(tensors: dict[str, Tensor]) -> list[dict[str, Tensor]]:
    """Every rank's ``tensors`` (same names and shapes on every rank), on the CPU, in rank order.

    Used to save each rank's random-generator states in one checkpoint.

    Example:
        >>> gather_tensors({"a": torch.ones(2)})  # one process
        [{'a': tensor([1., 1.])}]
    """
    if world_size() == 1:
        return [tensors]
    device = _collective_device()
    gathered: list[dict[str, Tensor]] = [{} for _ in range(world_size())]
    for name, tensor in tensors.items():
        parts = [torch.empty_like(tensor, device=device) for _ in range(world_size())]
        dist.all_gather(parts, tensor.to(device))
        for rank_tensors, part in zip(gathered, parts, strict=True):
            rank_tensors[name] = part.cpu()
    return gathered


def _collective_device() -> torch.device:
    """Where collectives run: the current GPU with NCCL, the CPU with gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gathered_info_nce(queries: Tensor, keys: Tensor, scale: Tensor | float) -> Tensor:
    """:func:`~jclip_lab.losses.info_nce` of this rank's queries against every rank's keys.

    The keys of all ranks are gathered (``[keys of rank 0; keys of rank 1; ...]``); this rank's query ``i`` has
    its positive at global row ``rank * len(keys) + i``. The first ``len(queries)`` local keys must be the
    positives; further local keys (hard negatives) are gathered too and are negatives for every query.

    Args:
        queries: ``(batch, dim)`` this rank's queries.
        keys: ``(batch + extra, dim)`` this rank's keys; row ``i < batch`` is the positive of query ``i``.
        scale: the inverse temperature ``1 / tau``.

    Returns:
        The mean loss over this rank's queries (DDP averages it over ranks: the mean over the global batch).

    Example:
        >>> q, k = torch.randn(4, 8), torch.randn(4, 8)
        >>> bool(torch.equal(gathered_info_nce(q, k, 10.0), info_nce(q, k, 10.0)))  # one process
        True
    """
    return info_nce(queries, gather_with_grad(keys), scale, first_positive=rank() * keys.shape[0])


def gathered_clip_loss(image_embeds: Tensor, text_embeds: Tensor, scale: Tensor | float) -> Tensor:
    """:func:`~jclip_lab.losses.clip_loss` over the global batch: images against every rank's texts and back.

    Args:
        image_embeds: ``(batch, dim)`` this rank's image embeddings.
        text_embeds: ``(batch, dim)`` this rank's text embeddings; row ``i`` describes image ``i``.
        scale: ``exp(logit_scale)``, the learned inverse temperature (a tensor, so its gradient flows).

    Raises:
        ValueError: on mismatched batch sizes (and whatever :func:`~jclip_lab.losses.info_nce` refuses).

    Example:
        >>> images, texts = torch.randn(4, 8), torch.randn(4, 8)
        >>> loss = gathered_clip_loss(images, texts, torch.tensor(14.3))
        >>> bool(torch.equal(loss, clip_loss(images, texts, torch.tensor(14.3))))
        True
    """
    return clip_loss(image_embeds, text_embeds, scale, nce=gathered_info_nce)


def gathered_text_pair_loss(
    a: Tensor, b: Tensor, temperature: float = 0.05, symmetric: bool = True, directions: str = "mean"
) -> Tensor:
    """:func:`~jclip_lab.losses.text_pair_loss` over the global batch, at its fixed temperature.

    Args:
        a: ``(batch, dim)`` this rank's first texts.
        b: ``(batch, dim)`` their partners.
        temperature: ``tau``; the logits are ``cos / tau``.
        symmetric: count both directions (``a -> b`` and ``b -> a``); if False only ``a -> b``.
        directions: ``"mean"`` averages the two directions, ``"sum"`` adds them.

    Raises:
        ValueError: on mismatched batch sizes, a non-positive temperature, or an unknown ``directions``.

    Example:
        >>> a, b = torch.randn(4, 8), torch.randn(4, 8)
        >>> bool(torch.equal(gathered_text_pair_loss(a, b), text_pair_loss(a, b)))
        True
    """
    return text_pair_loss(a, b, temperature, symmetric, directions, nce=gathered_info_nce)


def gathered_triplet_loss(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor,
    temperature: float = 0.05,
    bidirectional: bool = True,
    directions: str = "mean",
) -> Tensor:
    """:func:`~jclip_lab.losses.triplet_loss` over the global batch: positives AND hard negatives are gathered.

    Anchor ``i`` of this rank is scored against every rank's ``[positives; negatives]`` (gathered as one block
    per rank, so the columns are those of one process's ``[all positives; all negatives]`` in another order,
    which a softmax does not see). With ``bidirectional`` (jina-clip-v1, arXiv 2405.20204, Eq. 2) each positive
    must also pick its anchor among every rank's anchors, without negatives.

    Args:
        anchors: ``(batch, dim)`` this rank's anchors (e.g. queries).
        positives: ``(batch, dim)``; row ``i`` matches anchor ``i``.
        negatives: ``(n_negatives, dim)`` hard negatives; every rank must pass the same number.
        temperature: ``tau``; the logits are ``cos / tau``.
        bidirectional: add the positive -> anchor term.
        directions: ``"mean"`` averages the two terms, ``"sum"`` adds them.

    Raises:
        ValueError: on mismatched batch sizes, a non-positive temperature, or an unknown ``directions``.

    Example:
        >>> anchors, positives, negatives = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
        >>> loss = gathered_triplet_loss(anchors, positives, negatives)
        >>> bool(torch.equal(loss, triplet_loss(anchors, positives, negatives)))
        True
    """
    return triplet_loss(anchors, positives, negatives, temperature, bidirectional, directions, nce=gathered_info_nce)


# ---------------------------------------------------------------- the proof: N ranks of B == one process of N x B


def _loss_cases(dims: tuple[int, ...]) -> dict[str, tuple[int, Callable, Callable, bool]]:
    """Name -> (embedding inputs, one-process loss, gathered loss, whether it takes the learned ``scale``)."""
    cases = {
        "clip_loss": (2, clip_loss, gathered_clip_loss, True),
        "text_pair_loss": (2, text_pair_loss, gathered_text_pair_loss, False),
        "triplet_loss": (
            3,
            partial(triplet_loss, bidirectional=False),
            partial(gathered_triplet_loss, bidirectional=False),
            False,
        ),
        "triplet_loss bidirectional": (3, triplet_loss, gathered_triplet_loss, False),
    }
    for name, (inputs, single, gathered, learned) in list(cases.items()):
        cases[f"matryoshka {name}"] = (
            inputs,
            partial(matryoshka_loss, single, dims=dims),
            partial(matryoshka_loss, gathered, dims=dims),
            learned,
        )
    return cases


class Agreement(NamedTuple):
    """How closely a gathered run matches one process: largest absolute and relative differences.

    Relative differences divide by the largest one-process magnitude (of the loss, or of any gradient entry),
    so float32's resolution, about 1.2e-7 of a value, is the floor whatever the size of the loss.
    """

    loss_abs: float
    loss_rel: float
    grad_abs: float
    grad_rel: float


def _max_over_ranks(values: Agreement, device: torch.device) -> Agreement:
    """The largest of each figure over all ranks (every rank gets them)."""
    if world_size() == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return Agreement(*tensor.tolist())


def _mean_over_ranks(x: Tensor) -> Tensor:
    """What DDP does to a gradient (and how to log a loss as the global mean): the mean over ranks."""
    if world_size() == 1:
        return x
    x = x.detach().clone()
    dist.all_reduce(x)
    return x / world_size()


def _agreement(loss: Tensor, reference_loss: Tensor, grads: list[Tensor], reference_grads: list[Tensor]) -> Agreement:
    """Absolute and relative differences of a loss and its gradients from the one-process reference."""
    loss_abs = (loss - reference_loss).abs().item()
    grad_abs = max((g - r).abs().max().item() for g, r in zip(grads, reference_grads, strict=True))
    grad_scale = max(r.abs().max().item() for r in reference_grads)
    return Agreement(loss_abs, loss_abs / reference_loss.abs().item(), grad_abs, grad_abs / grad_scale)


def _loss_and_grads(loss_fn: Callable, embeddings: list[Tensor], logit_scale: Tensor | None):
    """A loss of leaf copies of ``embeddings`` (and of ``logit_scale``), and its gradients with respect to them."""
    leaves = [x.clone().requires_grad_() for x in embeddings]
    if logit_scale is None:
        loss = loss_fn(*leaves)
    else:
        leaves.append(logit_scale.clone().requires_grad_())
        loss = loss_fn(*leaves[:-1], scale=leaves[-1].exp())
    return loss, list(torch.autograd.grad(loss, leaves))


def _leaf_agreement(
    inputs: int, single: Callable, gathered: Callable, learned: bool, batch: int, dim: int, generator, dtype, device
) -> Agreement:
    """One loss on leaf embeddings (and a learned ``logit_scale``): gathered on this rank vs one process."""
    full = [torch.randn(world_size() * batch, dim, generator=generator, dtype=dtype).to(device) for _ in range(inputs)]
    logit_scale = torch.tensor(math.log(1 / 0.07), dtype=dtype, device=device) if learned else None
    loss, grads = _loss_and_grads(single, full, logit_scale)  # one process, the whole global batch
    rows = slice(rank() * batch, (rank() + 1) * batch)
    local_loss, local_grads = _loss_and_grads(gathered, [x[rows] for x in full], logit_scale)  # this rank's rows
    # What DDP makes of them, the mean over ranks. A rank's rows hold the gradient of all N ranks' losses (N times
    # the one-process gradient there, which DDP divides by N); the scale, a parameter, holds its own loss's.
    local_grads[:inputs] = [g / world_size() for g in local_grads[:inputs]]
    if learned:
        local_grads[-1] = _mean_over_ranks(local_grads[-1])
    grads[:inputs] = [g[rows] for g in grads[:inputs]]
    return _agreement(_mean_over_ranks(local_loss), loss, local_grads, grads)


class _TwoTowers(nn.Module):
    """A dual encoder small enough for a test: one linear layer per tower and a learned ``logit_scale``."""

    def __init__(self, dim: int):
        super().__init__()
        self.image = nn.Linear(dim, dim)
        self.text = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, images: Tensor, texts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.image(images), self.text(texts), self.logit_scale.exp()


def _toy_multi_task_loss(
    image_embeds: Tensor, text_embeds: Tensor, scale: Tensor, dims: tuple[int, ...], gathered: bool
):
    """jina-clip-v2's stage-3 mix: image-text + text pairs + triplets, each summed over the prefixes ``dims``.

    ``text_embeds`` stacks six equal groups: captions, pair texts a and b, anchors, positives, negatives.
    """
    captions, a, b, anchors, positives, negatives = text_embeds.chunk(6)
    if gathered:
        return (
            matryoshka_loss(gathered_clip_loss, image_embeds, captions, dims=dims, scale=scale)
            + matryoshka_loss(gathered_text_pair_loss, a, b, dims=dims)
            + matryoshka_loss(gathered_triplet_loss, anchors, positives, negatives, dims=dims)
        )
    return (
        matryoshka_loss(clip_loss, image_embeds, captions, dims=dims, scale=scale)
        + matryoshka_loss(text_pair_loss, a, b, dims=dims)
        + matryoshka_loss(triplet_loss, anchors, positives, negatives, dims=dims)
    )


def _toy_problem(batch: int, dim: int, dims: tuple[int, ...], generator, dtype, device):
    """A toy model, this rank's inputs, and the one-process loss and gradients on the whole global batch."""
    torch.manual_seed(0)  # the same initial weights on every rank (DDP would broadcast rank 0's anyway)
    model = _TwoTowers(dim).to(device, dtype)
    reference = copy.deepcopy(model)
    images = torch.randn(world_size() * batch, dim, generator=generator, dtype=dtype).to(device)
    texts = [torch.randn(world_size() * batch, dim, generator=generator, dtype=dtype).to(device) for _ in range(6)]
    loss = _toy_multi_task_loss(*reference(images, torch.cat(texts)), dims, gathered=False)
    loss.backward()
    rows = slice(rank() * batch, (rank() + 1) * batch)
    local_inputs = images[rows], torch.cat([t[rows] for t in texts])
    return model, local_inputs, loss, [p.grad for p in reference.parameters()]


def _ddp_agreement(batch: int, dim: int, dims: tuple[int, ...], generator, dtype, device) -> Agreement:
    """A toy model wrapped in ``DistributedDataParallel`` on this rank's rows vs the same model on one process."""
    model, (images, texts), loss, reference_grads = _toy_problem(batch, dim, dims, generator, dtype, device)
    ddp_model = nn.parallel.DistributedDataParallel(model) if world_size() > 1 else model
    local_loss = _toy_multi_task_loss(*ddp_model(images, texts), dims, gathered=True)
    local_loss.backward()  # DDP averages the gradients over ranks here
    grads = [p.grad for p in model.parameters()]
    return _agreement(_mean_over_ranks(local_loss), loss, grads, reference_grads)


def _grad_cache_agreement(batch: int, dim: int, dims: tuple[int, ...], generator, dtype, device) -> Agreement:
    """Gradient caching on every rank, gradients averaged by :func:`average_gradients`, vs one process."""
    model, (images, texts), loss, reference_grads = _toy_problem(batch, dim, dims, generator, dtype, device)
    with torch.no_grad():  # 1. embed without a graph
        image_cache, text_cache = model.image(images), model.text(texts)
    image_cache.requires_grad_(), text_cache.requires_grad_()
    local_loss = _toy_multi_task_loss(image_cache, text_cache, model.logit_scale.exp(), dims, gathered=True)
    local_loss.backward()  # 2. the loss: gradients at the cached embeddings (and of the scale)
    for tower, inputs, cache in ((model.image, images, image_cache), (model.text, texts, text_cache)):
        for start in range(0, len(inputs), 2):  # 3. re-embed two rows at a time, backpropagate their gradient
            tower(inputs[start : start + 2]).backward(cache.grad[start : start + 2])
    average_gradients(model.parameters())  # 4. what DDP would have done
    grads = [p.grad for p in model.parameters()]
    return _agreement(_mean_over_ranks(local_loss), loss, grads, reference_grads)


def compare_with_one_process(
    batch_per_rank: int = 4,
    dim: int = 16,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    ddp: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, Agreement]:
    """Prove that N ranks of batch B train like one process of batch N x B: the largest differences.

    Call it on every rank at once (after :func:`init_distributed`); alone it compares a world of one with
    itself. Every rank draws the same global batch from ``seed``, computes the one-process losses and gradients
    on all of it, then the gathered ones on its own rows, and compares what DDP makes of them (the mean over
    ranks) with the one-process figures:

    - each loss alone and summed over Matryoshka prefixes, on leaf embeddings and a learned ``logit_scale``;
    - ``"gradient caching"``: a small dual encoder trained on the sum of the gathered image-text, text-pair and
      bidirectional triplet losses, each summed over the Matryoshka prefixes, with gradient caching (embed
      without a graph, the loss on the cached embeddings, re-embed two rows at a time) and
      :func:`average_gradients`: its gradients;
    - ``"DDP model"`` (with ``ddp``): the same model and losses without caching, wrapped in
      ``DistributedDataParallel``: its gradients after DDP's own averaging. (Building the first DDP module
      imports ``torch._dynamo``, several seconds on a CPU.)

    The sums run in another order (a mean of rank means, gradients summed over ranks), so in float32 the
    figures are a few units of float32's resolution, not zero; in float64 they are about 1e-15.

    Args:
        batch_per_rank: rows per rank (B).
        dim: embedding width; the Matryoshka prefixes are ``dim / 4``, ``dim / 2`` and ``dim``.
        seed: seed of the random embeddings (the same on every rank).
        dtype: ``torch.float32`` or ``torch.float64``.
        ddp: also check a model wrapped in ``DistributedDataParallel``.
        device: where the tensors live (a GPU under NCCL, the CPU under gloo).

    Returns:
        Name -> :class:`Agreement` (largest absolute and relative differences), the maxima over all ranks.

    Example:
        >>> figures = compare_with_one_process()  # a world of one: exactly equal
        >>> len(figures), figures["clip_loss"].grad_abs, figures["DDP model"].loss_rel
        (10, 0.0, 0.0)
    """
    device = torch.device(device)
    dims = (dim // 4, dim // 2, dim)
    generator = torch.Generator().manual_seed(seed)
    figures = {
        name: _leaf_agreement(*case, batch_per_rank, dim, generator, dtype, device)
        for name, case in _loss_cases(dims).items()
    }
    figures["gradient caching"] = _grad_cache_agreement(batch_per_rank, dim, dims, generator, dtype, device)
    if ddp:
        figures["DDP model"] = _ddp_agreement(batch_per_rank, dim, dims, generator, dtype, device)
    return {name: _max_over_ranks(values, device) for name, values in figures.items()}


def format_agreement(figures: dict[str, Agreement]) -> str:
    """The figures of :func:`compare_with_one_process` as a small table.

    Example:
        >>> print(format_agreement({"clip_loss": Agreement(0.0, 0.0, 1.5e-08, 2.1e-09)}))
        loss        |loss diff|   relative  |grad diff|   relative
        clip_loss       0.0e+00    0.0e+00      1.5e-08    2.1e-09
    """
    width = max(len("loss"), *map(len, figures)) + 2
    lines = [f"{'loss':<{width}} {'|loss diff|':>11} {'relative':>10} {'|grad diff|':>12} {'relative':>10}"]
    lines += [
        f"{name:<{width}} {f.loss_abs:>11.1e} {f.loss_rel:>10.1e} {f.grad_abs:>12.1e} {f.grad_rel:>10.1e}"
        for name, f in figures.items()
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``torchrun --nproc_per_node 2 -m jclip_lab.distributed``: run :func:`compare_with_one_process`, print it.

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``): ``--batch-per-rank``, ``--dim``, ``--float64``,
            ``--no-ddp``, ``--json PATH`` (rank 0 also writes the figures there).
    """
    parser = argparse.ArgumentParser(description="Gathered contrastive losses on N ranks vs one process.")
    parser.add_argument("--batch-per-rank", type=int, default=4)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--float64", action="store_true", help="compare in float64 instead of float32")
    parser.add_argument("--no-ddp", action="store_true", help="skip the DistributedDataParallel model")
    parser.add_argument("--json", default=None, help="write the figures to this file (rank 0)")
    args = parser.parse_args(argv)
    device = init_distributed()
    device = device if device.type == "cuda" else torch.device("cpu")  # gloo moves CPU tensors, not MPS ones
    dtype = torch.float64 if args.float64 else torch.float32
    figures = compare_with_one_process(args.batch_per_rank, args.dim, dtype=dtype, ddp=not args.no_ddp, device=device)
    if is_main_process():
        print(
            f"{world_size()} ranks x batch {args.batch_per_rank} vs 1 process x batch "
            f"{world_size() * args.batch_per_rank} ({device.type}, {str(dtype).removeprefix('torch.')}):"
        )
        print(format_agreement(figures))
        if args.json:
            with open(args.json, "w") as file:
                json.dump({"world_size": world_size(), "figures": {k: v._asdict() for k, v in figures.items()}}, file)
    cleanup()


if __name__ == "__main__":
    main()
