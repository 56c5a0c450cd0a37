"""The cost model: parameters, FLOPs, memory and step time of training a JClipModel, on paper.

Before renting GPUs for a run, count: how many FLOPs a step takes (so how long it runs at a given efficiency),
and how many bytes each GPU must hold (so whether it fits, and with which tricks). Everything here is arithmetic
on a :class:`~jclip_lab.models.JClipConfig`; ``jclip_lab.measure`` checks it against PyTorch's own counters on
the ``tiny`` and ``small`` geometries (see ``tests/test_cost.py`` and ``benchmarks/bench_cost_check.py``).

Conventions and assumptions (each function repeats the ones it uses):

- A FLOP is a multiply or an add: a ``(m x k) @ (k x n)`` matmul costs ``2 m k n``.
- Forward FLOPs count the matmuls: attention projections, attention scores and their weighted sum, the MLP,
  the patch embedding, the output projections and the contrastive logits. Neglected, as the flop counter
  does too (each scales with ``tokens x width``, not ``tokens x width^2``: about 1% of the matmuls at width
  128, 0.1% at 1024): LayerNorms, softmax, GELU/SiLU, RoPE rotations, residual adds, biases, pooling, L2
  normalisation, embedding lookups, the optimizer step.
- Backward = 2 x forward (a gradient for the input and one for the weights, each the size of the forward
  matmul). Two exceptions, seen by the flop counter: the patch embedding needs no input gradient (1x), and
  fused attention recomputes its scores in backward (2.5x). Training FLOPs = 3 x forward ("model FLOPs").
- Every text is counted at its full ``text_length`` (batches are padded to their longest text: an upper
  bound). Images drop ``config.patch_dropout`` of their patches while training, as the vision tower does.
- Activations are the tensors autograd keeps for backward, counted tensor by tensor for the blocks of
  ``jclip_lab.models.layers`` with a fused attention kernel (flash or memory-efficient: no ``T x T`` score
  matrix is kept, its output is kept in the layout ``proj`` reads), plus one transient while backward runs: a
  gradient the size of one MLP hidden layer. Neglected: LayerNorm statistics, attention log-sum-exps, RoPE
  tables, token ids (all ``~tokens`` per layer, not ``tokens x width``). Measured on CPUs, this comes within
  a few percent of what autograd keeps and of the peak (``tests/test_cost.py``).
- Mixed precision means ``torch.autocast`` to bf16 with float32 weights: the weights, their gradients and both
  AdamW moments stay float32 (16 bytes per parameter, the same as float32 training) and autocast keeps a bf16
  copy of every matmul weight during the step (2 more bytes per such weight). What stays float32 among the
  activations follows CUDA's autocast (LayerNorm runs in float32 there; on CPUs it runs in bf16, see
  ``autocast_device``).
- DDP with ``gradient_as_bucket_view=True`` (otherwise its buckets are another float32 copy of the
  gradients, 4 bytes per parameter more).

Example:
    >>> from jclip_lab.models import config_preset
    >>> config = config_preset("tiny", vocab_size=1000)
    >>> task = Task("image_text", batch_size=64, text_length=32, image_size=32)
    >>> cost = step_cost(config, [task], precision="fp32")
    >>> round(cost.model_flops / 1e9, 1), round(cost.peak_bytes / 2**20)  # GFLOP per step, MiB on the GPU
    (7.5, 81)
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from jclip_lab import train
from jclip_lab.models import JClipConfig, JClipModel, config_preset, count_parameters
from jclip_lab.profiles import Profile

GiB = 2**30
PRECISIONS = ("fp32", "bf16")
TASK_KINDS = ("image_text", "text_pair", "triplet")


@dataclass(frozen=True)
class GPU:
    """An accelerator, as the cost model sees it.

    Attributes:
        name: what to print.
        peak_flops: dense tensor-core peak in ``dtype``, FLOP/s (no 2:4 sparsity).
        memory_bytes: memory on the card.
        dtype: the 16-bit format it trains in and ``peak_flops`` is for: ``bf16``, or ``fp16`` where the GPU has
            no bf16 (T4, V100).
    """

    name: str
    peak_flops: float
    memory_bytes: int
    dtype: str = "bf16"


# Dense tensor-core peaks from NVIDIA's datasheets (the larger figures printed beside them assume 2:4 sparsity).
# H100 SXM5 80 GB: 989.4 TFLOP/s BF16 (1,979 with sparsity). H200 141 GB: the H100's compute, more memory.
H100_SXM = GPU("H100 SXM 80GB", peak_flops=989e12, memory_bytes=80 * GiB)
H200 = GPU("H200 141GB", peak_flops=989e12, memory_bytes=141 * GiB)
# A100 40 GB (Colab's): 312 TFLOP/s BF16. T4 16 GB (Colab's free GPU): 65 TFLOP/s FP16, no BF16 (it trains in
# fp16 with a gradient scaler, jclip_lab.train.precision); its peak_flops is the fp16 one.
A100_40GB = GPU("A100 40GB", peak_flops=312e12, memory_bytes=40 * GiB)
T4 = GPU("T4 16GB", peak_flops=65e12, memory_bytes=16 * GiB, dtype="fp16")
GPUS = (T4, A100_40GB, H100_SXM, H200)


def gpu_named(device_name: str) -> GPU | None:
    """The :data:`GPUS` entry for a name as ``torch.cuda.get_device_name`` gives it, or None if it is not one.

    Example:
        >>> gpu_named("NVIDIA H100 80GB HBM3").name, gpu_named("NVIDIA GeForce RTX 4090")
        ('H100 SXM 80GB', None)
    """
    if "H100" in device_name and "PCIe" in device_name:  # 756 TFLOP/s: not the SXM part
        return None
    for key, gpu in (("H200", H200), ("H100", H100_SXM), ("A100", A100_40GB), ("T4", T4)):
        if key in device_name:
            return gpu
    return None


@dataclass(frozen=True)
class Task:
    """One contrastive task of a training step, e.g. image-caption pairs or text triplets.

    Attributes:
        kind: ``image_text`` (an image and its caption; CLIP loss, both directions), ``text_pair`` (two
            texts; InfoNCE both directions), ``triplet`` (anchor, positive, hard negative; InfoNCE from the
            anchor over all positives and negatives, plus positive -> anchor when ``bidirectional``).
        batch_size: examples per step over all GPUs: the contrastive batch, every example a negative for all
            the others (each GPU holds ``batch_size / n_gpus`` of them).
        text_length: tokens per text.
        image_size: image side in pixels (``image_text`` only).
        bidirectional: for ``triplet``: add the positive -> anchor direction (jina-clip-v1, Eq. 2).

    Example:
        >>> Task("triplet", batch_size=1024, text_length=128).towers
        ('text', 'text', 'text')
    """

    kind: str
    batch_size: int
    text_length: int
    image_size: int = 0
    bidirectional: bool = False

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"Unknown task kind {self.kind!r}; choose one of {TASK_KINDS}.")
        if self.kind == "image_text" and self.image_size <= 0:
            raise ValueError(f"An image_text task needs image_size > 0; got {self.image_size}.")
        if self.batch_size < 1 or self.text_length < 1:
            raise ValueError(f"batch_size and text_length must be positive; got {self.batch_size}, {self.text_length}.")

    @property
    def towers(self) -> tuple[str, ...]:
        """The tower that embeds each input of an example, in the loss's order."""
        return {"image_text": ("image", "text"), "text_pair": ("text", "text"), "triplet": ("text",) * 3}[self.kind]

    @property
    def key_counts(self) -> tuple[int, ...]:
        """Columns of the logits of each loss direction: the global batch (twice that with hard negatives).

        They are also the rows of the tensors the gathered losses collect from every GPU, one per direction.
        """
        if self.kind == "triplet":
            return (2 * self.batch_size, self.batch_size) if self.bidirectional else (2 * self.batch_size,)
        return (self.batch_size, self.batch_size)


def _matmul_weights(module: nn.Module | None) -> int:
    """Weights of the linear and convolution layers of ``module`` (the ones autocast copies to bf16)."""
    if module is None:
        return 0
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


@dataclass(frozen=True)
class _Sizes:
    """What the cost model reads off the built model: parameter counts and the weights of its matmuls."""

    parameters: dict[str, int]
    text_projection: int
    vision_projection: int
    matmul_weights: int


@functools.lru_cache(maxsize=32)
def _sizes_of(config_json: str) -> _Sizes:
    with torch.device("meta"):  # shapes without memory: even jina-clip-v2 costs nothing
        model = JClipModel(JClipConfig.from_dict(json.loads(config_json)))
    return _Sizes(
        parameters=count_parameters(model),
        text_projection=_matmul_weights(getattr(model, "text_projection", None)),
        vision_projection=_matmul_weights(getattr(model, "vision_projection", None)),
        matmul_weights=_matmul_weights(model),
    )


def _sizes(config: JClipConfig) -> _Sizes:
    """The model's sizes, from a meta-device build (cached per config)."""
    return _sizes_of(config.to_json_string())


def parameter_counts(config: JClipConfig) -> dict[str, int]:
    """Parameters per part (``text``, ``vision``, ``projection``, ``total``), counted on a meta-device model.

    Building the model (not a formula) means new config fields that change the weights are counted as soon as
    the model has them.

    Example:
        >>> round(parameter_counts(config_preset("jina-clip-v2"))["total"] / 1e6)
        863
    """
    return dict(_sizes(config).parameters)


# ---------------------------------------------------------------- FLOPs


def image_tokens(config: JClipConfig, image_size: int, training: bool = True) -> int:
    """Tokens the vision tower's blocks see: the CLS token and the patches (``patch_dropout`` of them dropped).

    Example:
        >>> image_tokens(config_preset("jina-clip-v2"), 512)  # 1 + int(36 * 36 * 0.9)
        1167
    """
    patches = (image_size // config.patch_size) ** 2
    kept = max(1, int(patches * (1.0 - config.patch_dropout))) if training and config.patch_dropout else patches
    return 1 + kept


def _block_flops(tokens: int, width: int, mlp_hidden: int, mlp_matrices: int) -> int:
    """Forward matmul FLOPs of one transformer block on one sequence of ``tokens``."""
    attention = 2 * tokens * width * 3 * width  # qkv projection
    attention += 2 * 2 * tokens * tokens * width  # scores q k^T, then weights @ v (all heads together)
    attention += 2 * tokens * width * width  # output projection
    mlp = mlp_matrices * 2 * tokens * width * mlp_hidden  # GELU: fc1, fc2; SwiGLU: w1, w2, w3
    return attention + mlp


def text_forward_flops(config: JClipConfig, text_length: int) -> int:
    """Forward matmul FLOPs to embed one text of ``text_length`` tokens (blocks and output projection).

    Example:
        >>> text_forward_flops(config_preset("tiny", vocab_size=100), 32) / 1e6  # MFLOP
        26.247168
    """
    blocks = config.text_layers * _block_flops(text_length, config.text_width, config.text_mlp_hidden_dim, 2)
    return blocks + 2 * _sizes(config).text_projection


def image_forward_flops(config: JClipConfig, image_size: int, training: bool = True) -> int:
    """Forward matmul FLOPs to embed one image: patch embedding, blocks, output projection.

    Example:
        >>> image_forward_flops(config_preset("tiny", vocab_size=100), 32) / 1e6  # MFLOP
        12.8384
    """
    patches = (image_size // config.patch_size) ** 2
    patch_embed = 2 * patches * config.num_channels * config.patch_size**2 * config.vision_width
    tokens = image_tokens(config, image_size, training)
    blocks = config.vision_layers * _block_flops(tokens, config.vision_width, config.vision_mlp_hidden_dim, 3)
    return patch_embed + blocks + 2 * _sizes(config).vision_projection


def loss_forward_flops(task: Task, dims: Sequence[int]) -> int:
    """Forward FLOPs of the contrastive logits per example: each direction's row of ``keys x dim`` products.

    Summed over the Matryoshka prefixes ``dims`` (pass ``(embed_dim,)`` for the plain loss). Under data
    parallelism each GPU computes its rows against the global batch (``local_loss``), so per example the cost
    is the same as on one GPU.

    Example:
        >>> loss_forward_flops(Task("image_text", 32768, 77, 224), dims=(1024,)) / 1e6  # 2 directions
        134.217728
    """
    return sum(2 * keys * sum(dims) for keys in task.key_counts)


def tower_forward_flops(config: JClipConfig, task: Task) -> int:
    """Forward FLOPs of the towers for one example of ``task`` (an image and a text, two texts, three texts).

    Example:
        >>> config = config_preset("tiny", vocab_size=100)
        >>> tower_forward_flops(config, Task("text_pair", 64, 32)) == 2 * text_forward_flops(config, 32)
        True
    """
    image = image_forward_flops(config, task.image_size) if "image" in task.towers else 0
    return image + task.towers.count("text") * text_forward_flops(config, task.text_length)


def train_flops_per_example(config: JClipConfig, task: Task, dims: Sequence[int] | None = None) -> int:
    """Model FLOPs of one example, forward and backward: ``3 x (towers + loss)`` forward FLOPs.

    Args:
        config: the model.
        task: the task the example belongs to (its batch size sets the loss's columns).
        dims: Matryoshka prefixes of the loss (default ``config.matryoshka_dims``).

    Example:
        >>> config = config_preset("jina-clip-v2")
        >>> round(train_flops_per_example(config, Task("image_text", 32768, 77, 224)) / 1e9)  # GFLOP
        578
    """
    dims = config.matryoshka_dims if dims is None else dims
    return 3 * (tower_forward_flops(config, task) + loss_forward_flops(task, dims))


# ---------------------------------------------------------------- memory


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")


def _text_block_bytes(tokens: int, width: int, hidden: int, precision: str) -> int:
    """Bytes one text block (pre-norm, GELU MLP) keeps for backward, per sequence.

    Kept: norm1 input (the residual stream), qkv input, qkv output (it holds v), rotated q and k, attention
    output (also proj's input), norm2 input, fc1 input: ``10 T d``; GELU input and fc2 input: ``2 T h``. Under
    autocast the residual stream stays float32 (the token embeddings are float32, and float32 + bf16 is float32),
    so the two LayerNorm inputs are float32 and the rest bf16.
    """
    td, th = tokens * width, tokens * hidden
    if precision == "fp32":
        return 4 * (10 * td + 2 * th)
    return 4 * 2 * td + 2 * (8 * td + 2 * th)


def _vision_block_bytes(
    tokens: int, width: int, hidden: int, precision: str, autocast_device: str, residual_bytes: int
) -> int:
    """Bytes one vision block (pre-norm, sub-LN, SwiGLU MLP) keeps for backward, per image.

    Kept in float32: norm1 input, qkv input, qkv output, rotated q and k, attention output (also the sub-LN's
    input), sub-LN output, norm2 input, the SwiGLU input: ``11 T d``; w1 output, w2 output, SiLU output, their
    product (the sub-LN's input) and the sub-LN's output: ``5 T h``. Under autocast the residual stream is bf16
    (the patch convolution runs in bf16), or float32 when a float32 position table is added to the patches
    (``residual_bytes``). On CUDA LayerNorm runs in float32, so it keeps a float32 copy (or the float32
    original) of each of its four inputs (``3 T d + T h`` at 4 bytes) and each of w1 and w2 casts its float32
    input to bf16 separately: ``10 T d + 4 T h`` at 2 bytes. On CPUs LayerNorm runs in its input's dtype: the
    two residual inputs at ``residual_bytes`` and the rest at 2 bytes, ``9 T d + 5 T h``, or ``10 T d + 5 T h``
    with a float32 residual (norm2's output is then float32, and w1 and w2 cast it separately).
    """
    td, th = tokens * width, tokens * hidden
    if precision == "fp32":
        return 4 * (11 * td + 5 * th)
    if autocast_device == "cuda":
        return 4 * (3 * td + th) + 2 * (10 * td + 4 * th)
    swiglu_inputs = 2 if residual_bytes == 4 else 1
    return residual_bytes * 2 * td + 2 * ((8 + swiglu_inputs) * td + 5 * th)


def _vision_residual_bytes(config: JClipConfig, precision: str) -> int:
    """Bytes per element of the vision tower's residual stream: float32, or bf16 under autocast unless a float32
    position table is added to the (bf16) patches, which promotes the sum to float32."""
    return 4 if precision == "fp32" or config.vision_pos_embed else 2


def _tower_shape(config: JClipConfig, tower: str, size: int) -> tuple[int, int, int, int]:
    """``(tokens, width, mlp_hidden, layers)`` of a tower on one input of ``size`` (tokens, or pixels)."""
    if tower == "text":
        return size, config.text_width, config.text_mlp_hidden_dim, config.text_layers
    if tower == "image":
        return image_tokens(config, size), config.vision_width, config.vision_mlp_hidden_dim, config.vision_layers
    raise ValueError(f"tower must be 'text' or 'image'; got {tower!r}.")


def block_activation_bytes(
    config: JClipConfig, tower: str, size: int, precision: str = "bf16", autocast_device: str = "cuda"
) -> int:
    """Bytes one block of ``tower`` keeps for backward, per example: what checkpointing recomputes at a time.

    Args:
        config: the model.
        tower: ``"text"`` or ``"image"``.
        size: tokens per text, or image side in pixels.
        precision: ``"fp32"``, or ``"bf16"`` (autocast with float32 weights).
        autocast_device: whose autocast rules set the float32 tensors under bf16: ``"cuda"`` or ``"cpu"``.

    Example:
        >>> round(block_activation_bytes(config_preset("jina-clip-v2"), "text", 512) / 2**20)  # MiB per text
        20
    """
    _check_precision(precision)
    tokens, width, hidden, _ = _tower_shape(config, tower, size)
    if tower == "text":
        return _text_block_bytes(tokens, width, hidden, precision)
    residual_bytes = _vision_residual_bytes(config, precision)
    return _vision_block_bytes(tokens, width, hidden, precision, autocast_device, residual_bytes)


def activation_bytes_per_example(
    config: JClipConfig,
    tower: str,
    size: int,
    precision: str = "bf16",
    checkpointing: bool = False,
    autocast_device: str = "cuda",
) -> int:
    """Bytes of activations one input keeps in one tower for backward, per example.

    With ``checkpointing`` (``torch.utils.checkpoint`` around every block) a block keeps only its input (one
    ``T x d`` residual) and recomputes the rest during backward, one block at a time; that one recomputed
    block (:func:`block_activation_bytes`) is not included here, since one block of the whole step is alive
    at a time, not one per input.

    Args:
        config: the model.
        tower: ``"text"`` or ``"image"``.
        size: tokens per text, or image side in pixels.
        precision: ``"fp32"``, or ``"bf16"`` (autocast with float32 weights).
        checkpointing: activation (gradient) checkpointing on every block.
        autocast_device: whose autocast rules set the float32 tensors under bf16: ``"cuda"`` or ``"cpu"``.

    Raises:
        ValueError: for an unknown tower or precision.

    Example:
        >>> config = config_preset("jina-clip-v2")
        >>> round(activation_bytes_per_example(config, "image", 512) / 2**20)  # MiB per image, bf16
        1761
        >>> round(activation_bytes_per_example(config, "image", 512, checkpointing=True) / 2**20)
        121
    """
    block = block_activation_bytes(config, tower, size, precision, autocast_device)
    tokens, width, _, layers = _tower_shape(config, tower, size)
    low = 4 if precision == "fp32" else 2  # bytes of the autocast dtype
    if tower == "text":
        residual = 4  # float32 even under autocast
        extras = 4 * tokens * width + low * width  # final LayerNorm input; pooled vector (the projection's input)
    else:
        residual = _vision_residual_bytes(config, precision)
        patches = (size // config.patch_size) ** 2
        extras = low * config.num_channels * size * size  # pixels, kept by the patch convolution
        extras += residual * patches * width if config.patch_dropout else 0  # patch tokens, kept by dropout's gather
        norm_input = 4 if autocast_device == "cuda" else residual
        extras += norm_input * tokens * width + low * width  # final LayerNorm input; CLS vector
    per_block = residual * tokens * width if checkpointing else block
    return layers * per_block + extras


def loss_activation_bytes(task: Task, dims: Sequence[int], n_gpus: int = 1) -> int:
    """Bytes the contrastive loss keeps for backward on one GPU, float32, plus its largest transient.

    Per direction and Matryoshka prefix of width ``d``: the log-softmax of the ``B_local x keys`` logits
    (``cross_entropy`` keeps it) and the normalised queries, scaled queries and normalised keys,
    ``(2 B_local + keys) d``, and with several GPUs the prefix of the keys gathered from all of them
    (``keys x d``: ``jclip_lab.distributed`` gathers each prefix). While it runs, two more logits-sized
    matrices are alive (before the softmax; in backward, their gradients).
    With 7 Matryoshka dims and both directions that is 14 logits matrices: at jina-clip-v2's scale (32k pairs
    on 8 GPUs) 17 GiB per GPU for two tasks, which no gradient-caching chunk size reduces.

    Example:
        >>> round(loss_activation_bytes(Task("image_text", 32768, 77, 224), (1024,), n_gpus=8) / GiB, 2)
        2.56
    """
    local = task.batch_size // n_gpus
    kept = sum(4 * (local * keys + (2 * local + keys) * dim) for keys in task.key_counts for dim in dims)
    gathered = sum(4 * keys * sum(dims) for keys in task.key_counts) if n_gpus > 1 else 0
    return kept + gathered + 2 * 4 * local * max(task.key_counts)


def state_bytes(config: JClipConfig, precision: str = "bf16", trainable: int | None = None) -> int:
    """Bytes of weights, gradients and AdamW state on each GPU (DDP keeps a full copy on every GPU).

    float32 weights (4 bytes), float32 gradients (4), AdamW's two moments (4 + 4): 16 bytes per parameter, in
    float32 and under autocast alike (the float32 weights are the "master weights"). Autocast adds a bf16 copy
    of every linear and convolution weight for the step (2 bytes each; the token embeddings are not copied).
    When only ``trainable`` parameters train (a frozen tower, LoRA), the others need their weights alone: 4 bytes
    each, and 12 more for each trainable one (LoRA's adapter is counted among the trainable, not the weights).

    Example:
        >>> round(state_bytes(config_preset("jina-clip-v2")) / GiB, 1)
        14.0
        >>> round(state_bytes(config_preset("jina-clip-v2"), trainable=0) / GiB, 1)  # nothing trains: weights only
        4.3
    """
    _check_precision(precision)
    sizes = _sizes(config)
    total = sizes.parameters["total"]
    trainable = total if trainable is None else trainable
    return 4 * total + 12 * trainable + (2 * sizes.matmul_weights if precision == "bf16" else 0)


# ---------------------------------------------------------------- one step


@dataclass(frozen=True)
class StepCost:
    """What one training step costs (each GPU's share of it, for memory).

    Attributes:
        parameters: parameters of the model.
        model_flops: forward + backward FLOPs of the step over all GPUs, ``3 x forward`` (what MFU counts).
        hardware_flops: FLOPs actually run: model FLOPs plus the towers' extra forward passes of gradient
            caching (its first, gradient-free pass) and checkpointing (the recomputation).
        state_bytes: weights, gradients, AdamW moments (and autocast's bf16 weight copies) per GPU.
        activation_bytes: the towers' activations per GPU: the whole local batch, or one chunk of one input
            with gradient caching.
        loss_bytes: what the contrastive losses keep (and their largest transient) per GPU.
        cache_bytes: gradient caching's float32 embeddings of the local batch and their gradients (0 without).
        peak_bytes: the estimated peak per GPU: state + cache + the larger of what the loss holds and what the
            towers hold (with gradient caching they take turns; without, they coexist).
        step_time_s: ``model_flops / (n_gpus x peak FLOP/s x MFU)``.
    """

    parameters: int
    model_flops: float
    hardware_flops: float
    state_bytes: int
    activation_bytes: int
    loss_bytes: int
    cache_bytes: int
    peak_bytes: int
    step_time_s: float


def step_cost(
    config: JClipConfig,
    tasks: Sequence[Task],
    n_gpus: int = 1,
    precision: str = "bf16",
    checkpointing: bool = False,
    chunk_size: int | None = None,
    gpu: GPU = H100_SXM,
    mfu: float = 0.4,
    dims: Sequence[int] | None = None,
    autocast_device: str = "cuda",
    trainable: int | None = None,
) -> StepCost:
    """The cost of one training step on ``tasks`` (summed into one loss), on ``n_gpus`` GPUs with DDP.

    Args:
        config: the model.
        tasks: the tasks of the step, each with its global batch size.
        n_gpus: data-parallel GPUs; each holds ``batch_size / n_gpus`` examples of every task.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        checkpointing: activation checkpointing on every block.
        chunk_size: gradient caching's chunk (examples of one input embedded at a time); None: no caching.
        gpu: the accelerator (for the step time).
        mfu: model FLOPs utilisation, the fraction of the GPU's peak the step achieves.
        dims: Matryoshka prefixes of the loss (default ``config.matryoshka_dims``).
        autocast_device: whose autocast rules decide which activations stay float32 (``"cuda"`` or ``"cpu"``).
        trainable: parameters that train, when not all do (a frozen tower, LoRA; see :func:`state_bytes`). The
            activations are counted as if both towers backpropagate (an upper bound for a frozen one).

    Raises:
        ValueError: if a batch does not split evenly over the GPUs, or ``chunk_size`` is not positive.

    Example:
        >>> config = config_preset("jina-clip-v2")
        >>> stage_1 = [Task("image_text", 32768, 77, 224), Task("text_pair", 32768, 77)]
        >>> cost = step_cost(config, stage_1, n_gpus=8, chunk_size=128)
        >>> round(cost.peak_bytes / GiB, 1), round(cost.step_time_s, 1)
        (57.8, 8.9)
    """
    dims = config.matryoshka_dims if dims is None else tuple(dims)
    uneven = [task.batch_size for task in tasks if task.batch_size % n_gpus]
    if uneven:
        raise ValueError(f"Batch sizes {uneven} do not split evenly over n_gpus={n_gpus}.")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive number of examples or None; got {chunk_size}.")

    def size(tower: str, task: Task) -> int:
        return task.image_size if tower == "image" else task.text_length

    def kept(tower: str, task: Task) -> int:  # per example
        return activation_bytes_per_example(config, tower, size(tower, task), precision, checkpointing, autocast_device)

    def transient(tower: str, task: Task) -> int:  # per example, alive at the same time as what is kept
        tokens, _, hidden, _ = _tower_shape(config, tower, size(tower, task))
        low = 4 if precision == "fp32" else 2
        # checkpointing replays one block at a time; backward holds a gradient the size of one MLP hidden layer
        replay = block_activation_bytes(config, tower, size(tower, task), precision, autocast_device)
        return (replay if checkpointing else 0) + low * tokens * hidden

    model_flops = sum(task.batch_size * train_flops_per_example(config, task, dims) for task in tasks)
    tower_flops = sum(task.batch_size * tower_forward_flops(config, task) for task in tasks)
    recomputed_forwards = (chunk_size is not None) + checkpointing  # caching's first pass; checkpoint's replay
    loss = sum(loss_activation_bytes(task, dims, n_gpus) for task in tasks)
    inputs = [(tower, task) for task in tasks for tower in task.towers]
    if chunk_size is None:
        activations = sum(task.batch_size // n_gpus * kept(tower, task) for tower, task in inputs)
        activations += max(task.batch_size // n_gpus * transient(tower, task) for tower, task in inputs)
        cache, peak_work = 0, activations + loss
    else:  # one chunk of one input at a time; the loss runs on the cached embeddings, in between
        activations = max(
            min(chunk_size, task.batch_size // n_gpus) * (kept(t, task) + transient(t, task)) for t, task in inputs
        )
        cache = sum(2 * 4 * task.batch_size // n_gpus * config.embed_dim for _, task in inputs)
        peak_work = max(activations, loss)
    state = state_bytes(config, precision, trainable)
    return StepCost(
        parameters=parameter_counts(config)["total"],
        model_flops=model_flops,
        hardware_flops=model_flops + recomputed_forwards * tower_flops,
        state_bytes=state,
        activation_bytes=activations,
        loss_bytes=loss,
        cache_bytes=cache,
        peak_bytes=state + cache + peak_work,
        step_time_s=model_flops / (n_gpus * gpu.peak_flops * mfu),
    )


# ---------------------------------------------------------------- planning the real model


@dataclass(frozen=True)
class Stage:
    """A training stage as the cost model needs it: a name and the tasks of each step.

    Example:
        >>> Stage("warm-up", (Task("text_pair", 1024, 64),)).tasks[0].kind
        'text_pair'
    """

    name: str
    tasks: tuple[Task, ...]


# jina-clip-v2's three stages (arXiv 2412.08802, Sec. 4, after jina-clip-v1, arXiv 2405.20204): the image sizes
# (224 / 384 / 512 px) and text lengths (77 tokens, then 512) are the paper's. The batch sizes are ASSUMED: no
# public source we could read states them; 32k per task in stage 1 and 16k in stages 2-3 are the scale of large
# CLIP runs (open_clip, EVA-CLIP) and of jina-clip-v1's text batches. Stage 3's text length (512) is assumed
# equal to stage 2's, and its triplets (one hard negative each) bidirectional as in jina-clip-v1.
JINA_CLIP_V2_STAGES = (
    Stage("1 short captions + pairs", (Task("image_text", 32768, 77, 224), Task("text_pair", 32768, 77))),
    Stage("2 long captions + pairs", (Task("image_text", 16384, 512, 384), Task("text_pair", 16384, 512))),
    Stage(
        "3 docs + triplets",
        (Task("image_text", 16384, 512, 512), Task("triplet", 16384, 512, bidirectional=True)),
    ),
)


@dataclass(frozen=True)
class StagePlan:
    """How one stage runs on a cluster: memory, the gradient-caching chunk it needs, and the step time.

    Attributes:
        stage: the stage planned.
        n_gpus: data-parallel GPUs.
        gpu: the accelerator.
        mfu: the model FLOPs utilisation the step time assumes.
        usable_bytes: memory a step may use per GPU (the card's memory times the usable fraction).
        peak_bytes_without_cache: estimated peak per GPU with the whole local batch in one pass.
        fits_without_cache: whether that fits in ``usable_bytes``.
        chunk_size: the largest power-of-two chunk that fits with gradient caching (None if the whole local batch
            fits without caching, 0 if not even the loss on the cached embeddings fits).
        peak_bytes: estimated peak per GPU as planned (without caching, or with ``chunk_size``).
        cost: the step's :class:`StepCost` as planned.
    """

    stage: Stage
    n_gpus: int
    gpu: GPU
    mfu: float
    usable_bytes: int
    peak_bytes_without_cache: int
    fits_without_cache: bool
    chunk_size: int | None
    peak_bytes: int
    cost: StepCost


def plan_stage(
    config: JClipConfig,
    stage: Stage,
    n_gpus: int = 8,
    gpu: GPU = H100_SXM,
    mfu: float = 0.4,
    precision: str = "bf16",
    checkpointing: bool = False,
    usable_fraction: float = 0.9,
) -> StagePlan:
    """Plan one stage: does the local batch fit at once, else the largest gradient-caching chunk that does.

    ``usable_fraction`` of the card is left to the step: the rest goes to the CUDA context, NCCL's buffers and
    the caching allocator's fragmentation (an assumption: measure ``torch.cuda.max_memory_reserved``).

    Example:
        >>> plan = plan_stage(config_preset("jina-clip-v2"), JINA_CLIP_V2_STAGES[0])
        >>> plan.fits_without_cache, plan.chunk_size, round(plan.cost.step_time_s, 1)
        (False, 128, 8.9)
    """
    settings = dict(n_gpus=n_gpus, gpu=gpu, mfu=mfu, precision=precision, checkpointing=checkpointing)
    usable = int(gpu.memory_bytes * usable_fraction)
    whole = step_cost(config, stage.tasks, **settings)
    if whole.peak_bytes <= usable:
        return StagePlan(stage, n_gpus, gpu, mfu, usable, whole.peak_bytes, True, None, whole.peak_bytes, whole)
    local = max(task.batch_size // n_gpus for task in stage.tasks)
    chunk, cost = 2 ** int(math.log2(local)), whole
    while chunk >= 1:
        cost = step_cost(config, stage.tasks, chunk_size=chunk, **settings)
        if cost.peak_bytes <= usable:
            return StagePlan(stage, n_gpus, gpu, mfu, usable, whole.peak_bytes, False, chunk, cost.peak_bytes, cost)
        chunk //= 2
    return StagePlan(stage, n_gpus, gpu, mfu, usable, whole.peak_bytes, False, 0, cost.peak_bytes, cost)


def plan_real_model(
    n_gpus: int = 8,
    gpu: GPU = H100_SXM,
    mfu: float = 0.4,
    checkpointing: bool = False,
    stages: Sequence[Stage] = JINA_CLIP_V2_STAGES,
    config: JClipConfig | None = None,
) -> list[StagePlan]:
    """Plan jina-clip-v2's three stages: memory per GPU, whether it fits, the chunk it needs, the step time.

    Estimates, with the assumptions of this module and of :data:`JINA_CLIP_V2_STAGES` (the batch sizes are
    assumed): bf16 autocast with float32 master weights and AdamW, DDP on ``n_gpus`` GPUs with negatives
    gathered from all of them, 90% of each card usable, step time at ``mfu`` of the bf16 dense peak counting
    model FLOPs (gradient caching's extra forward pass of the towers has to fit inside that figure).

    Args:
        n_gpus: data-parallel GPUs.
        gpu: the accelerator (default H100 SXM 80 GB, 989 TFLOP/s).
        mfu: model FLOPs utilisation assumed for the step time.
        checkpointing: activation checkpointing on every block (a bigger chunk fits, a forward pass more).
        stages: the stages (default jina-clip-v2's).
        config: the model (default the ``jina-clip-v2`` preset).

    Example:
        >>> [plan.chunk_size for plan in plan_real_model()]
        [128, 32, 32]
    """
    config = config_preset("jina-clip-v2") if config is None else config
    return [plan_stage(config, stage, n_gpus, gpu, mfu, checkpointing=checkpointing) for stage in stages]


def format_plan(plans: Sequence[StagePlan]) -> str:
    """The plans as a small table, one row per stage.

    Columns: image side (px) and text length (tokens); the global batch of each task; the estimated peak per GPU
    with the whole local batch at once, and whether it fits; the gradient-caching chunk (``-``: none needed)
    and the peak as planned; model PFLOP per step; the step time at the assumed MFU; and the hardware
    utilisation that MFU implies once the recomputed forward passes are counted (HFU).

    Example:
        >>> print(format_plan(plan_real_model()[:1]))
        stage                    image  text        batch  GiB at once  fits  chunk  GiB planned  PFLOP  s/step  HFU
        1 short captions + pairs   224    77  32768/32768         2302    no    128         57.8   28.2     8.9  53%
        (8 x H100 SXM 80GB, 989 TFLOP/s bf16 dense, 40% MFU)
    """
    lines = [
        f"{'stage':<24} {'image':>5} {'text':>5} {'batch':>12} {'GiB at once':>12} {'fits':>5} {'chunk':>6} "
        f"{'GiB planned':>12} {'PFLOP':>6} {'s/step':>7} {'HFU':>4}"
    ]
    for plan in plans:
        tasks, cost = plan.stage.tasks, plan.cost
        batch = "/".join(str(task.batch_size) for task in tasks)
        chunk = "-" if plan.chunk_size is None else str(plan.chunk_size)
        hfu = plan.mfu * cost.hardware_flops / cost.model_flops
        lines.append(
            f"{plan.stage.name:<24} {max(t.image_size for t in tasks):>5} {max(t.text_length for t in tasks):>5} "
            f"{batch:>12} {plan.peak_bytes_without_cache / GiB:>12.0f} {'yes' if plan.fits_without_cache else 'no':>5} "
            f"{chunk:>6} {plan.peak_bytes / GiB:>12.1f} {cost.model_flops / 1e15:>6.1f} {cost.step_time_s:>7.1f} "
            f"{hfu:>4.0%}"
        )
    if plans:
        gpu, peak = plans[0].gpu, plans[0].gpu.peak_flops / 1e12
        lines.append(f"({plans[0].n_gpus} x {gpu.name}, {peak:.0f} TFLOP/s {gpu.dtype} dense, {plans[0].mfu:.0%} MFU)")
    return "\n".join(lines)


# ---------------------------------------------------------------- the lab's own training runs


def stage_tasks(stage: train.Stage) -> tuple[Task, ...]:
    """The cost model's tasks of one step of a lab training stage (a :class:`jclip_lab.train.Stage`).

    Each task of the stage is read off the towers that embed its inputs (:data:`jclip_lab.train.TASKS`): an image
    and a text make an ``image_text`` task, two texts a ``text_pair``, three a ``triplet``, bidirectional as the
    trainer's hard-negative loss is. Every text counts at the stage's ``max_text_length``.

    Example:
        >>> from jclip_lab.profiles import get_profile
        >>> [task.kind for task in stage_tasks(train.three_stage_recipe(get_profile("tiny"))[2])]
        ['image_text', 'image_text', 'triplet', 'image_text']
    """
    kinds = {("image", "text"): "image_text", ("text", "text"): "text_pair", ("text", "text", "text"): "triplet"}
    tasks = []
    for name in stage.tasks:
        towers = tuple("image" if field == "pixel_values" else "text" for field, _ in train.TASKS[name].inputs)
        kind = kinds[towers]
        image_size = stage.image_size if kind == "image_text" else 0
        tasks.append(Task(kind, stage.batch_size, stage.max_text_length, image_size, bidirectional=kind == "triplet"))
    return tuple(tasks)


def plan_recipe(
    profile: Profile, gpu: GPU = H100_SXM, mfu: float = 0.4, n_gpus: int = 1
) -> list[tuple[train.Stage, StagePlan]]:
    """Plan each stage of a profile's three-stage recipe (:func:`jclip_lab.train.three_stage_recipe`) on ``gpu``.

    As :func:`plan_stage` does for the real model: bf16 autocast (fp16 takes the same memory), the profile's
    batch of every task on ``n_gpus`` GPUs, the gradient-caching chunk when the batch does not fit at once, and
    the step time at ``mfu`` of the GPU's peak. A stage takes ``stage.steps * plan.cost.step_time_s``. Not
    counted: drawing and collating the batches, evaluation, checkpoints, compilation.

    Example:
        >>> from jclip_lab.profiles import get_profile
        >>> plans = plan_recipe(get_profile("small"), mfu=0.2)
        >>> [(stage.steps, round(plan.cost.step_time_s * 1e3, 1), plan.chunk_size) for stage, plan in plans]
        [(3000, 7.8, None), (1500, 17.0, None), (1500, 25.5, None)]
    """
    config = config_preset(profile.model)
    return [
        (stage, plan_stage(config, Stage(stage.name, stage_tasks(stage)), n_gpus, gpu, mfu))
        for stage in train.three_stage_recipe(profile)
    ]
