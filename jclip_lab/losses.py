"""Contrastive losses of jina-clip-v2: InfoNCE for image-text and text pairs, hard negatives, Matryoshka.

Every loss here is a function of embeddings, not of a model, so the same code trains the tiny lab model and
could train the real one. Three conventions hold throughout:

- Each loss L2-normalises its inputs itself, so similarities are cosines and callers may pass raw vectors
  (the Matryoshka loss relies on this: it passes raw prefix slices ``x[:, :d]``).
- Row ``i`` of the queries matches row ``i`` of the keys (identity targets, as in CLIP); every other key in
  the batch is a negative. The loss is ``F.cross_entropy`` of the scaled cosine logits with ``arange`` labels.
- Logits and losses are computed in float32 (inputs are upcast, autocast is switched off for the matmul),
  so the losses stay accurate when the towers run in bf16.

Example:
    >>> import torch
    >>> from jclip_lab.losses import clip_loss
    >>> image_embeds, text_embeds = torch.randn(8, 32), torch.randn(8, 32)
    >>> clip_loss(image_embeds, text_embeds, scale=1 / 0.07).shape
    torch.Size([])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor

InfoNCE = Callable[[Tensor, Tensor, "Tensor | float"], Tensor] | None  # info_nce, or a variant of it


def _shapes(named: dict[str, Tensor]) -> str:
    """The shapes of named tensors, for error messages: ``"queries (4, 8), keys (4, 6)"``."""
    return ", ".join(f"{name} {tuple(x.shape)}" for name, x in named.items())


def _check_embeddings(**named: Tensor) -> None:
    """Raise ``ValueError`` unless all tensors are non-empty ``(batch, dim)`` matrices of one width."""
    if any(x.dim() != 2 for x in named.values()):
        raise ValueError(f"Embeddings must be 2-D (batch, dim) matrices; got {_shapes(named)}.")
    if any(x.numel() == 0 for x in named.values()):
        raise ValueError(f"Embeddings must not be empty; got {_shapes(named)}.")
    if len({x.shape[1] for x in named.values()}) > 1:
        raise ValueError(f"Embeddings must share one width (dim); got {_shapes(named)}.")


def _check_same_batch(**named: Tensor) -> None:
    """Raise ``ValueError`` unless the tensors hold the same number of rows (one per example)."""
    if len({x.shape[0] for x in named.values()}) > 1:
        raise ValueError(f"Embeddings must have the same batch size (one row each); got {_shapes(named)}.")


def _check_temperature(temperature: float) -> None:
    """Raise ``ValueError`` unless the temperature is positive."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive; got {temperature}.")


def cosine_logits(queries: Tensor, keys: Tensor, scale: Tensor | float) -> Tensor:
    """The ``(n_queries, n_keys)`` matrix ``scale * cos(queries[i], keys[j])``, in float32 (or float64).

    Inputs are L2-normalised here, upcast to at least float32, and multiplied with autocast switched off, so
    bf16 embeddings give float32 logits.

    Args:
        queries: ``(n_queries, dim)`` embeddings, not necessarily normalised.
        keys: ``(n_keys, dim)`` embeddings, not necessarily normalised.
        scale: the inverse temperature ``1 / tau`` that multiplies the cosines.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
        >>> cosine_logits(x, x, scale=10.0)
        tensor([[10.,  0.],
                [ 0., 10.]])
    """
    _check_embeddings(queries=queries, keys=keys)
    with torch.autocast(queries.device.type, enabled=False):
        queries = F.normalize(queries.to(torch.promote_types(queries.dtype, torch.float32)), dim=-1)
        keys = F.normalize(keys.to(torch.promote_types(keys.dtype, torch.float32)), dim=-1)
        return scale * queries @ keys.T  # cos(q, k) = q . k / (|q| |k|), on unit vectors a dot product


def info_nce(queries: Tensor, keys: Tensor, scale: Tensor | float, *, first_positive: int = 0) -> Tensor:
    """InfoNCE in one direction: query ``i`` must pick key ``first_positive + i`` out of all keys in the batch.

    The loss is the mean over queries of ``-log softmax_j(scale * cos(q_i, k_j))[first_positive + i]``, i.e.
    ``F.cross_entropy(scale * q @ k.T, first_positive + arange(n_queries))`` on normalised ``q`` and ``k``.
    ``keys`` may have more rows than ``queries``: the extra rows are extra negatives for every query (e.g. hard
    negatives, or the other GPUs' keys under data parallelism, where a GPU's queries are the rows
    ``rank * batch ...`` of the global batch: see ``jclip_lab.distributed``).

    Args:
        queries: ``(batch, dim)`` embeddings.
        keys: ``(n_keys, dim)`` embeddings; row ``first_positive + i`` is the positive of query ``i``.
        scale: inverse temperature ``1 / tau`` (a float, or a tensor such as a learned scale).
        first_positive: the row of ``keys`` that is the positive of query 0 (default 0: the first ``batch``
            keys are the positives).

    Returns:
        The mean loss, a float32 scalar (float64 for float64 inputs).

    Raises:
        ValueError: on non-2-D or empty inputs, mismatched widths, or when the positives
            ``keys[first_positive : first_positive + batch]`` do not all exist.

    Example:
        >>> q = torch.eye(3)
        >>> round(info_nce(q, q, scale=100.0).item(), 4)  # every query is closest to its own key
        0.0
        >>> round(info_nce(q, torch.ones(3, 3), scale=1.0).item(), 4)  # all keys alike: ln 3
        1.0986
        >>> keys = torch.cat([-q, q])  # the positives are keys 3, 4, 5
        >>> round(info_nce(q, keys, scale=100.0, first_positive=3).item(), 4)
        0.0
    """
    _check_embeddings(queries=queries, keys=keys)
    if first_positive < 0 or keys.shape[0] < first_positive + queries.shape[0]:
        shapes = _shapes({"queries": queries, "keys": keys})
        raise ValueError(
            f"Need one positive key per query, keys[first_positive : first_positive + n_queries]; got "
            f"first_positive={first_positive} and {shapes}."
        )
    logits = cosine_logits(queries, keys, scale)  # logits[i, j] = s * cos(q_i, k_j)
    targets = first_positive + torch.arange(queries.shape[0], device=queries.device)  # query i: key first_positive + i
    # L = -1/B sum_i log( exp(logits[i, first_positive + i]) / sum_j exp(logits[i, j]) )
    return F.cross_entropy(logits, targets)


def clip_loss(image_embeds: Tensor, text_embeds: Tensor, scale: Tensor | float, nce: InfoNCE = None) -> Tensor:
    """The CLIP loss: InfoNCE image-to-text and text-to-image, averaged, at the learned temperature.

    Args:
        image_embeds: ``(batch, dim)`` image embeddings; row ``i`` shows what text ``i`` says.
        text_embeds: ``(batch, dim)`` text embeddings.
        scale: the inverse temperature ``1 / tau``, *already exponentiated*: the model learns ``logit_scale``
            (initialised at ``ln(1 / 0.07) = 2.6592``) and passes ``logit_scale.exp()``, a tensor so the gradient
            reaches it (a float also works).
        nce: the InfoNCE of one direction (default :func:`info_nce`; ``jclip_lab.distributed`` passes one that
            scores against every process's keys).

    Returns:
        The mean of the two directions, a float32 scalar.

    Raises:
        ValueError: on non-2-D or empty inputs, or mismatched shapes.

    Example:
        >>> images, texts = torch.randn(4, 8), torch.randn(4, 8)
        >>> loss = clip_loss(images, texts, scale=torch.tensor(1 / 0.07))
        >>> both_ways = (info_nce(images, texts, 1 / 0.07) + info_nce(texts, images, 1 / 0.07)) / 2
        >>> bool(torch.isclose(loss, both_ways))
        True
    """
    _check_embeddings(image_embeds=image_embeds, text_embeds=text_embeds)
    _check_same_batch(image_embeds=image_embeds, text_embeds=text_embeds)
    nce = nce or info_nce
    image_to_text = nce(image_embeds, text_embeds, scale)
    text_to_image = nce(text_embeds, image_embeds, scale)
    return (image_to_text + text_to_image) / 2


def _combine(forward: Tensor, backward: Tensor, directions: str) -> Tensor:
    """Two directions of a loss, averaged (``"mean"``) or added (``"sum"``)."""
    if directions not in ("mean", "sum"):
        raise ValueError(f"directions must be 'mean' or 'sum'; got {directions!r}.")
    total = forward + backward
    return total / 2 if directions == "mean" else total


def text_pair_loss(
    a: Tensor,
    b: Tensor,
    temperature: float = 0.05,
    symmetric: bool = True,
    directions: str = "mean",
    nce: InfoNCE = None,
) -> Tensor:
    """InfoNCE for text pairs (query-document, sentence-translation) at its own fixed temperature.

    jina-clip trains text pairs at ``temperature = 0.05`` (scale 20), apart from the learned image-text scale.
    Both directions count (``a -> b`` and ``b -> a``). The papers *add* them (jina-clip-v1, arXiv:2405.20204,
    section 4.2, Eq. 1: "we sum the loss in both directions"; jina-embeddings-v3, arXiv:2409.10173, Eq. 1);
    Jina's training code (github.com/jina-ai/jina-openclip, ``loss/pairs.py``) and open_clip's ``ClipLoss``
    *average* them. The two differ by a factor of 2, i.e. by the task's weight; the lab averages, like
    :func:`clip_loss`, so every task's loss is on the same scale.

    Args:
        a: ``(batch, dim)`` embeddings of the first texts (e.g. queries).
        b: ``(batch, dim)`` embeddings of their partners (e.g. documents).
        temperature: ``tau``; the logits are ``cos / tau``.
        symmetric: count both directions; if False only ``a -> b``.
        directions: ``"mean"`` averages the two directions, ``"sum"`` adds them (as the papers write it).
        nce: the InfoNCE of one direction (default :func:`info_nce`; see :func:`clip_loss`).

    Raises:
        ValueError: on non-2-D or empty inputs, mismatched shapes, a non-positive temperature, or an unknown
            ``directions``.

    Example:
        >>> a, b = torch.randn(4, 8), torch.randn(4, 8)
        >>> bool(torch.isclose(text_pair_loss(a, b, symmetric=False), info_nce(a, b, scale=20.0)))
        True
        >>> bool(torch.isclose(text_pair_loss(a, b, directions="sum"), 2 * text_pair_loss(a, b)))
        True
    """
    _check_embeddings(a=a, b=b)
    _check_same_batch(a=a, b=b)
    _check_temperature(temperature)
    nce = nce or info_nce
    forward = nce(a, b, 1 / temperature)
    return _combine(forward, nce(b, a, 1 / temperature), directions) if symmetric else forward


def triplet_loss(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor,
    temperature: float = 0.05,
    bidirectional: bool = True,
    directions: str = "mean",
    nce: InfoNCE = None,
) -> Tensor:
    """InfoNCE with hard negatives: each anchor must pick its positive among all positives and all negatives.

    The negatives add columns to the logits: anchor ``i`` is scored against ``[positives; negatives]``, so
    every hard negative in the batch competes with every positive. With ``bidirectional`` (the default), each
    positive must also pick its anchor among all anchors, *without* the negatives: this is jina-clip-v1's
    ``L_nce+`` (arXiv:2405.20204, section 4.2, Eq. 2, "bidirectional but incorporates additional negatives when
    pairing queries with passages"), from jina-embeddings-v2 (arXiv:2310.19923) and v3 (arXiv:2409.10173, Eq. 3).
    Jina's public training code defaults to the one-way loss (``bidirectional=False``), so both are offered.

    Args:
        anchors: ``(batch, dim)`` embeddings (e.g. queries).
        positives: ``(batch, dim)``; row ``i`` matches anchor ``i``.
        negatives: ``(n_negatives, dim)`` hard negatives (usually one per anchor); none matches any anchor.
        temperature: ``tau``; the logits are ``cos / tau``.
        bidirectional: add the reverse positive -> anchor term (the papers' choice).
        directions: ``"mean"`` averages the two terms, ``"sum"`` adds them (see :func:`text_pair_loss`).
        nce: the InfoNCE of one direction (default :func:`info_nce`; see :func:`clip_loss`). The positives come
            first among the keys ``[positives; negatives]``, as :func:`info_nce` expects.

    Raises:
        ValueError: on non-2-D or empty inputs, mismatched shapes, a non-positive temperature, or an unknown
            ``directions``.

    Example:
        >>> anchors, positives, negatives = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
        >>> one_way = triplet_loss(anchors, positives, negatives, bidirectional=False)
        >>> bool(torch.isclose(one_way, info_nce(anchors, torch.cat([positives, negatives]), scale=20.0)))
        True
        >>> both = (one_way + info_nce(positives, anchors, scale=20.0)) / 2
        >>> bool(torch.isclose(triplet_loss(anchors, positives, negatives), both))
        True
    """
    _check_embeddings(anchors=anchors, positives=positives, negatives=negatives)
    _check_same_batch(anchors=anchors, positives=positives)
    _check_temperature(temperature)
    nce = nce or info_nce
    forward = nce(anchors, torch.cat([positives, negatives]), 1 / temperature)
    if not bidirectional:
        return forward
    return _combine(forward, nce(positives, anchors, 1 / temperature), directions)


def multi_task_loss(
    losses: dict[str, Tensor], weights: dict[str, float] | None = None
) -> tuple[Tensor, dict[str, float]]:
    """Sum task losses with weights (default 1 each); also return each task's loss as a float for logging.

    jina-clip trains image-text and text-text jointly: the total is ``sum_t weights[t] * losses[t]``.

    Args:
        losses: scalar loss per task name, e.g. ``{"image_text": ..., "text_pair": ...}``.
        weights: weight per task name; tasks without a weight get 1.

    Returns:
        ``(total, parts)``: the weighted sum (keeps the graph) and the unweighted losses as detached floats.

    Raises:
        ValueError: if ``losses`` is empty or ``weights`` names a task not in ``losses``.

    Example:
        >>> total, parts = multi_task_loss({"image_text": torch.tensor(2.0), "text_pair": torch.tensor(1.0)},
        ...                                weights={"text_pair": 0.5})
        >>> total.item(), parts
        (2.5, {'image_text': 2.0, 'text_pair': 1.0})
    """
    if not losses:
        raise ValueError("multi_task_loss needs at least one loss.")
    weights = weights or {}
    unknown = sorted(set(weights) - set(losses))
    if unknown:
        raise ValueError(f"Weights given for unknown tasks {unknown}; the losses are {sorted(losses)}.")
    total = sum(weights.get(name, 1.0) * loss for name, loss in losses.items())
    parts = {name: loss.detach().item() for name, loss in losses.items()}
    return total, parts


def matryoshka_loss(
    loss_fn: Callable[..., Tensor],
    *embeddings: Tensor,
    dims: Sequence[int],
    weights: Sequence[float] | None = None,
    **kwargs: object,
) -> Tensor:
    """The Matryoshka loss: ``loss_fn`` summed over nested prefixes ``x[:, :d]`` of every embedding.

    Each prefix is a smaller embedding in its own right: ``loss_fn`` re-normalises it (every loss in this
    module L2-normalises its inputs), so the first ``d`` dims alone are trained to work. jina-clip-v2 uses
    ``dims = (32, 64, 128, 256, 512, 768, 1024)``.

    Args:
        loss_fn: a loss of embeddings, e.g. :func:`clip_loss` or :func:`text_pair_loss`.
        *embeddings: the ``(batch, dim)`` embeddings ``loss_fn`` takes, all sliced the same way.
        dims: increasing prefix sizes, each at most the embedding width.
        weights: one weight per dim (default 1 each).
        **kwargs: passed to ``loss_fn`` unchanged (e.g. ``scale`` or ``temperature``).

    Raises:
        ValueError: if ``dims`` is empty, not increasing, or exceeds the width; if ``weights`` has the wrong
            length; if the embeddings are not non-empty 2-D matrices of one width.

    Example:
        >>> images, texts = torch.randn(4, 8), torch.randn(4, 8)
        >>> loss = matryoshka_loss(clip_loss, images, texts, dims=(4, 8), scale=10.0)
        >>> explicit = clip_loss(images[:, :4], texts[:, :4], 10.0) + clip_loss(images, texts, 10.0)
        >>> bool(torch.isclose(loss, explicit))
        True
    """
    if not embeddings:
        raise ValueError("matryoshka_loss needs at least one embedding tensor.")
    _check_embeddings(**{f"embeddings[{i}]": x for i, x in enumerate(embeddings)})
    width = embeddings[0].shape[1]
    dims = list(dims)
    if not dims or dims[0] < 1 or any(a >= b for a, b in pairwise(dims)):
        raise ValueError(f"dims must be positive and strictly increasing; got {dims}.")
    if dims[-1] > width:
        raise ValueError(f"dims must be at most the embedding width {width}; got {dims}.")
    weights = [1.0] * len(dims) if weights is None else list(weights)
    if len(weights) != len(dims):
        raise ValueError(f"Need one weight per dim; got {len(weights)} weights for dims {dims}.")
    total = 0.0
    for dim, weight in zip(dims, weights, strict=True):
        prefixes = [x[:, :dim] for x in embeddings]  # raw slices: loss_fn re-normalises them
        total = total + weight * loss_fn(*prefixes, **kwargs)
    return total
