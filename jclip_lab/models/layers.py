"""The building blocks both towers share: rotary position embeddings (1-D and 2-D), attention, MLPs, blocks.

Rotary position embeddings (RoPE, Su et al. 2021) encode a token's position by *rotating* pairs of query and
key dimensions by an angle proportional to the position. Because a rotation by ``m`` followed by the transpose
of a rotation by ``n`` is a rotation by ``m - n``, the attention score ``q . k`` then depends on the two
positions only through their offset: the model sees relative positions, with no position embedding table and
no maximum length.

- ``rope_1d``: positions ``0 .. L-1`` of a text (Jina-XLM-RoBERTa).
- ``rope_2d``: an ``H x W`` grid of image patches (EVA02): the first half of the rotated pairs turn with the
  patch's row, the second half with its column, so ``q . k`` depends on the (row, column) offset. The grid is
  computed for whatever image comes in, so non-square images and larger training resolutions need no
  interpolation.

Example:
    >>> import torch
    >>> cos, sin = rope_1d(seq_len=5, head_dim=8)
    >>> apply_rope(torch.randn(2, 4, 5, 8), cos, sin).shape
    torch.Size([2, 4, 5, 8])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn


def rope_inverse_frequencies(num_pairs: int, theta: float = 10000.0) -> torch.Tensor:
    """Angular speed of each rotated pair: ``theta ** (-i / num_pairs)`` for ``i = 0 .. num_pairs-1``.

    Pair 0 turns by one radian per position; the last pair turns almost ``theta`` times slower, so fast pairs
    resolve neighbours and slow pairs resolve long distances.

    Example:
        >>> rope_inverse_frequencies(4, theta=10000.0)
        tensor([1.0000, 0.1000, 0.0100, 0.0010])
    """
    return theta ** (-torch.arange(num_pairs, dtype=torch.float32) / num_pairs)


def _cos_sin(angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn per-pair angles ``(N, D/2)`` into the ``(N, D)`` cos and sin tables :func:`apply_rope` expects."""
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rope_1d(
    seq_len: int, head_dim: int, theta: float = 10000.0, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cos and sin tables ``(seq_len, head_dim)`` for the positions ``0 .. seq_len-1`` of a sequence.

    Example:
        >>> cos, sin = rope_1d(seq_len=3, head_dim=4)
        >>> cos.shape, bool((cos[0] == 1).all())
        (torch.Size([3, 4]), True)
    """
    if head_dim % 2:
        raise ValueError(f"RoPE rotates pairs of dimensions: head_dim must be even, got {head_dim}.")
    positions = torch.arange(seq_len, dtype=torch.float32, device=device)
    angles = positions[:, None] * rope_inverse_frequencies(head_dim // 2, theta).to(device)[None, :]
    return _cos_sin(angles)


def rope_2d(
    grid_height: int,
    grid_width: int,
    head_dim: int,
    theta: float = 10000.0,
    device: torch.device | str | None = None,
    reference_grid: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cos and sin tables ``(grid_height * grid_width, head_dim)`` for a grid of patches in row-major order.

    The ``head_dim / 2`` rotated pairs are split in two: the first half turn with the patch's row index, the
    second half with its column index, each half with its own spread of frequencies. Any grid size works: the
    tables are built for the grid at hand, so a model trained at 32 px runs at 48 px (a bigger grid) or on a
    32x64 image.

    Args:
        grid_height: patch rows.
        grid_width: patch columns.
        head_dim: dimensions per attention head (a multiple of 4).
        theta: RoPE base.
        device: where to build the tables.
        reference_grid: if set, positions are ``arange(G) / G * reference_grid`` instead of ``0 .. G-1``, so any
            grid spans the same range of angles as the ``reference_grid``-sized one the model was pre-trained on
            (EVA02's ``pt_hw_seq_len`` = 16, with ``intp_freq``; jina-clip-v2's 36 patches per side turn by steps
            of 16/36).

    Example:
        >>> cos, sin = rope_2d(grid_height=2, grid_width=3, head_dim=8)
        >>> cos.shape
        torch.Size([6, 8])
        >>> cos, sin = rope_2d(grid_height=4, grid_width=4, head_dim=4, reference_grid=2)  # positions 0, .5, 1, 1.5
        >>> torch.allclose(cos[4, 0], torch.cos(torch.tensor(0.5)))  # row 1 of 4 sits at position 0.5
        True
    """
    if head_dim % 4:
        raise ValueError(
            f"2-D RoPE splits the rotated pairs between rows and columns: head_dim must be a multiple "
            f"of 4, got {head_dim}."
        )
    inverse_frequencies = rope_inverse_frequencies(head_dim // 4, theta).to(device)
    rows = torch.arange(grid_height, dtype=torch.float32, device=device)
    cols = torch.arange(grid_width, dtype=torch.float32, device=device)
    if reference_grid is not None:  # EVA02's rope_embeddings.py: t = arange(ft_seq_len) / ft_seq_len * pt_seq_len
        rows, cols = rows / grid_height * reference_grid, cols / grid_width * reference_grid
    row_index, col_index = torch.meshgrid(rows, cols, indexing="ij")
    angles = torch.cat(
        [row_index.reshape(-1, 1) * inverse_frequencies, col_index.reshape(-1, 1) * inverse_frequencies],
        dim=-1,
    )
    return _cos_sin(angles)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """Map each pair ``(a, b)`` = (dim ``i``, dim ``i + D/2``) to ``(-b, a)``: a 90-degree turn of every pair.

    Example:
        >>> rotate_half(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor([-3., -4.,  1.,  2.])
    """
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate every pair of ``x`` (``(..., N, D)``) by its angle: ``x cos + rotate_half(x) sin``.

    ``cos`` and ``sin`` are ``(N, D)`` tables, or ``(B, 1, N, D)`` when each example has its own positions
    (after patch dropout).

    Example:
        >>> cos, sin = rope_1d(seq_len=4, head_dim=8)
        >>> x = torch.randn(4, 8)
        >>> torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1))  # rotations keep lengths
        True
    """
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    """Multi-head self-attention with RoPE on queries and keys, through ``F.scaled_dot_product_attention``.

    Args:
        dim: model width.
        num_heads: attention heads; ``dim / num_heads`` is the head dimension.
        key_bias: give the keys a bias. EVA02 has q and v biases but none on k: a key bias adds ``q . b_k`` to
            the score of every key alike, which the softmax cancels, so it is a parameter that cannot learn
            anything. XLM-R keeps it (``key_bias=True``).
        sub_norm: EVA02's sub-LN, a LayerNorm on the attention output before the output projection.
        eps: LayerNorm epsilon for the sub-LN.

    Example:
        >>> attention = Attention(dim=32, num_heads=4)
        >>> cos, sin = rope_1d(seq_len=5, head_dim=8)
        >>> attention(torch.randn(2, 5, 32), cos, sin).shape
        torch.Size([2, 5, 32])
    """

    def __init__(self, dim: int, num_heads: int, key_bias: bool = True, sub_norm: bool = False, eps: float = 1e-5):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads}).")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.k_bias = nn.Parameter(torch.zeros(dim)) if key_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.norm = nn.LayerNorm(dim, eps=eps) if sub_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attend within each sequence of ``x`` ``(B, N, dim)``.

        Args:
            x: token states.
            cos: RoPE table, ``(N, head_dim)`` or ``(B, 1, N, head_dim)``.
            sin: RoPE table, same shape as ``cos``.
            key_mask: bool ``(B, N)``, True for real tokens; padding keys (False) get no attention. None: no
                padding.
        """
        batch, length, dim = x.shape
        k_bias = self.k_bias if self.k_bias is not None else torch.zeros_like(self.q_bias)
        # Call the layer, not its weight, so that an adapter wrapping it (LoRA, via peft) takes part.
        qkv = self.qkv(x)
        qkv += torch.cat([self.q_bias, k_bias, self.v_bias]).to(qkv.dtype)  # in place: no second qkv-sized tensor
        qkv = qkv.view(batch, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(qkv[:2], cos, sin)  # rotate queries and keys in one go: (2, B, heads, N, head_dim)
        v = qkv[2]
        attn_mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(self.norm(out.transpose(1, 2).reshape(batch, length, dim)))


class GeluMLP(nn.Module):
    """The feed-forward layer of BERT and XLM-R: ``Linear -> GELU -> Linear``.

    Example:
        >>> GeluMLP(dim=16, hidden_dim=64)(torch.randn(2, 3, 16)).shape
        torch.Size([2, 3, 16])
    """

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to every token of ``x`` ``(..., dim)``."""
        return self.fc2(F.gelu(self.fc1(x)))


class SwiGLU(nn.Module):
    """The gated feed-forward layer of EVA02 (Shazeer 2020): ``w3(silu(w1 x) * w2 x)``.

    One branch (``w1``, through SiLU) decides how much of the other (``w2``) passes. With three matrices
    instead of two, a hidden size of ``2.667 * dim`` costs the same as a ``4 * dim`` GELU MLP.

    Args:
        dim: model width.
        hidden_dim: width of the gated hidden layer (EVA02: ``int(dim * 2.6667)``).
        sub_norm: EVA02's sub-LN, a LayerNorm on the hidden layer before the output projection ``w3``.
        eps: LayerNorm epsilon for the sub-LN.

    Example:
        >>> SwiGLU(dim=16, hidden_dim=42)(torch.randn(2, 3, 16)).shape
        torch.Size([2, 3, 16])
    """

    def __init__(self, dim: int, hidden_dim: int, sub_norm: bool = False, eps: float = 1e-5):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim)
        self.w2 = nn.Linear(dim, hidden_dim)
        self.norm = nn.LayerNorm(hidden_dim, eps=eps) if sub_norm else nn.Identity()
        self.w3 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the gated MLP to every token of ``x`` ``(..., dim)``."""
        return self.w3(self.norm(F.silu(self.w1(x)) * self.w2(x)))


class Block(nn.Module):
    """A transformer block, pre-norm by default: ``x + attention(norm(x))`` then ``x + mlp(norm(x))``.

    Normalising the input of each branch (not its output, as BERT and XLM-R do) keeps the residual stream an
    untouched sum, which trains stably from scratch without learning-rate warm-up tricks. With ``post_norm=True``
    the block is BERT's and XLM-R's instead: ``norm1(x + attention(x))`` then ``norm2(x + mlp(x))``, the layout
    jina-clip-v2's text tower inherits from XLM-RoBERTa.

    Args:
        dim: model width.
        num_heads: attention heads.
        mlp: the feed-forward module (:class:`GeluMLP` or :class:`SwiGLU`).
        key_bias: see :class:`Attention`.
        sub_norm: see :class:`Attention`.
        eps: LayerNorm epsilon.
        post_norm: normalise after each residual sum (XLM-R) instead of before each branch.

    Example:
        >>> block = Block(dim=32, num_heads=4, mlp=GeluMLP(32, 128))
        >>> cos, sin = rope_1d(seq_len=5, head_dim=8)
        >>> block(torch.randn(2, 5, 32), cos, sin).shape
        torch.Size([2, 5, 32])
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp: nn.Module,
        key_bias: bool = True,
        sub_norm: bool = False,
        eps: float = 1e-5,
        post_norm: bool = False,
    ):
        super().__init__()
        self.post_norm = post_norm
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attention = Attention(dim, num_heads, key_bias=key_bias, sub_norm=sub_norm, eps=eps)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = mlp

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Run the block on ``x`` ``(B, N, dim)``; ``cos``, ``sin``, ``key_mask`` as in :class:`Attention`."""
        if self.post_norm:  # XLM-R (flash_attn's Block with prenorm=False): norm(x + branch(x))
            x = self.norm1(x + self.attention(x, cos, sin, key_mask))
            return self.norm2(x + self.mlp(x))
        x = x + self.attention(self.norm1(x), cos, sin, key_mask)
        return x + self.mlp(self.norm2(x))


def run_block(
    block: nn.Module,
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    checkpointing: bool = False,
) -> torch.Tensor:
    """Run ``x`` through one block; with ``checkpointing`` (and gradients on), trade compute for memory.

    Gradient (activation) checkpointing keeps only the block's input during the forward pass and recomputes the
    block's inside during backward: activation memory drops from every intermediate of every block to one
    tensor per block, for about a third more compute (Chen et al. 2016, arXiv:1604.06174). The towers call this
    in their loop over blocks (a loop inside a helper would keep the first block's input alive).

    Example:
        >>> block = Block(dim=16, num_heads=2, mlp=GeluMLP(16, 32))
        >>> cos, sin = rope_1d(seq_len=3, head_dim=8)
        >>> x = torch.randn(1, 3, 16, requires_grad=True)
        >>> torch.allclose(run_block(block, x, cos, sin), run_block(block, x, cos, sin, checkpointing=True))
        True
    """
    if checkpointing and torch.is_grad_enabled():
        return torch.utils.checkpoint.checkpoint(block, x, cos, sin, key_mask, use_reentrant=False)
    return block(x, cos, sin, key_mask)
