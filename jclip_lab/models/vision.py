"""The vision tower: EVA02 in miniature.

jina-clip-v2 sees images with EVA02-L/14 (Fang et al. 2023): a ViT that cuts a 512 px image into 14 px patches
and adds, to the plain ViT, 2-D rotary position embeddings, SwiGLU MLPs (hidden ratio 2.667), sub-LN (a
LayerNorm before each output projection), q and v biases without a k bias, patch dropout while training, and
pooling by the CLS token. The miniature has every one of those, at a few layers and 32-96 px.

Two choices to know:

- The CLS token gets no rotation (the identity: cos 1, sin 0), as in EVA02, which rotates patch tokens only:
  the CLS token is not a place on the image, so its scores with every patch are left position-free.
- By default there is no learned absolute position table: 2-D RoPE alone tells the patches apart, built for
  whatever grid comes in, so the tower runs at any resolution, square or not. EVA02 (and so jina-clip-v2) adds
  a learned table too, one row for the CLS token and one per patch, and scales its RoPE positions to its
  16 x 16 pre-training grid: ``pos_embed_grid`` and ``rope_reference_grid`` turn both on, and the table then
  fixes the grid. As in any ViT, pixels past the last whole patch are not seen (jina-clip-v2 cuts its 512 px
  images into a 36 x 36 grid of 14 px patches).

Example:
    >>> import torch
    >>> tower = VisionTower(patch_size=4, width=32, num_layers=1, num_heads=4, mlp_hidden_dim=85)
    >>> tower(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from jclip_lab.models.layers import Block, SwiGLU, rope_2d, run_block


class PatchDropout(nn.Module):
    """Keep a random ``1 - p`` of the patch tokens of each image, in training only (Li et al. 2023, FLIP).

    Fewer tokens make a training step cheaper and act as a regulariser. The RoPE rows are gathered with the
    same indices, so every kept patch keeps its own (row, column) rotation. In eval mode it returns its inputs
    unchanged.

    Args:
        p: fraction of patch tokens to drop, in ``[0, 1)``.

    Example:
        >>> dropout = PatchDropout(p=0.5).train()
        >>> cos, sin = rope_2d(4, 4, head_dim=8)
        >>> tokens, cos_kept, sin_kept = dropout(torch.randn(2, 16, 32), cos, sin)
        >>> tokens.shape, cos_kept.shape
        (torch.Size([2, 8, 32]), torch.Size([2, 1, 8, 8]))
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"patch dropout p must be in [0, 1), got {p}.")
        self.p = p

    def forward(
        self, tokens: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Drop patches from ``tokens`` ``(B, N, D)`` and the same rows of the ``(N, head_dim)`` RoPE tables.

        Returns:
            The kept tokens ``(B, K, D)`` and per-image tables ``(B, 1, K, head_dim)``; unchanged inputs when
            not training or ``p == 0``.
        """
        if not self.training or self.p == 0.0:
            return tokens, cos, sin
        batch, num_patches, width = tokens.shape
        num_keep = max(1, int(num_patches * (1.0 - self.p)))
        keep = torch.rand(batch, num_patches, device=tokens.device).argsort(dim=1)[:, :num_keep]
        tokens = tokens.gather(1, keep[:, :, None].expand(-1, -1, width))
        return tokens, cos[keep].unsqueeze(1), sin[keep].unsqueeze(1)


class VisionTower(nn.Module):
    """Patch embedding, CLS token, 2-D RoPE blocks with SwiGLU and sub-LN, final LayerNorm, CLS pooling.

    Args:
        patch_size: side of a square patch in pixels (the stride of the patch convolution).
        width: model width.
        num_layers: transformer blocks.
        num_heads: attention heads per block (``width / num_heads`` must be a multiple of 4 for 2-D RoPE).
        mlp_hidden_dim: hidden width of the SwiGLU MLP (EVA02: ``int(width * 2.6667)``).
        patch_dropout: fraction of patch tokens dropped while training.
        rope_theta: RoPE base.
        num_channels: input channels (3 for RGB).
        eps: LayerNorm epsilon.
        pos_embed_grid: if set, a learned position embedding ``(1, 1 + G * G, width)`` is added to the CLS token
            and the patches of a ``G x G`` grid (EVA02's ``pos_embed``); images must then give exactly that grid.
        rope_reference_grid: scale the RoPE positions to this grid (EVA02's ``pt_hw_seq_len``); see
            :func:`~jclip_lab.models.layers.rope_2d`.

    Example:
        >>> tower = VisionTower(patch_size=4, width=32, num_layers=1, num_heads=4, mlp_hidden_dim=85)
        >>> tower(torch.randn(1, 3, 16, 24)).shape  # a non-square 4 x 6 grid of patches
        torch.Size([1, 32])
        >>> eva = VisionTower(patch_size=4, width=32, num_layers=1, num_heads=4, mlp_hidden_dim=85, pos_embed_grid=4)
        >>> eva.pos_embed.shape  # CLS + 4 x 4 patches
        torch.Size([1, 17, 32])
    """

    def __init__(
        self,
        patch_size: int,
        width: int,
        num_layers: int,
        num_heads: int,
        mlp_hidden_dim: int,
        patch_dropout: float = 0.0,
        rope_theta: float = 10000.0,
        num_channels: int = 3,
        eps: float = 1e-5,
        pos_embed_grid: int | None = None,
        rope_reference_grid: float | None = None,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.head_dim = width // num_heads
        self.rope_theta = rope_theta
        self.rope_reference_grid = rope_reference_grid
        self.pos_embed_grid = pos_embed_grid
        self.patch_embed = nn.Conv2d(num_channels, width, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        grid = pos_embed_grid
        self.pos_embed = None if grid is None else nn.Parameter(torch.zeros(1, 1 + grid * grid, width))
        self.patch_dropout = PatchDropout(patch_dropout)
        self.blocks = nn.ModuleList(
            Block(
                width,
                num_heads,
                SwiGLU(width, mlp_hidden_dim, sub_norm=True, eps=eps),
                key_bias=False,
                sub_norm=True,
                eps=eps,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(width, eps=eps)
        self.gradient_checkpointing = False  # JClipModel.gradient_checkpointing_enable() turns it on

    def token_states(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The final, normalised states ``(B, 1 + K, width)``: CLS first, then the ``K`` patches kept.

        Args:
            pixel_values: normalised images ``(B, C, H, W)``, at least one patch in each direction.
        """
        height, width = pixel_values.shape[-2:]
        if min(height, width) < self.patch_size:
            raise ValueError(f"Images of {height}x{width} px are smaller than one {self.patch_size} px patch.")
        patches = self.patch_embed(pixel_values)  # (B, width, grid_h, grid_w)
        grid = patches.shape[-2:]
        cos, sin = rope_2d(*grid, self.head_dim, self.rope_theta, pixel_values.device, self.rope_reference_grid)
        patches, cls = patches.flatten(2).transpose(1, 2), self.cls_token
        if self.pos_embed is not None:  # EVA02: x = cat([cls, patches]) + pos_embed, before patch dropout
            if tuple(grid) != (self.pos_embed_grid, self.pos_embed_grid):
                side = self.pos_embed_grid * self.patch_size
                raise ValueError(
                    f"This tower's learned position embedding fits a {self.pos_embed_grid}x{self.pos_embed_grid} "
                    f"grid of patches; {height}x{width} px images give {grid[0]}x{grid[1]}. Resize them to "
                    f"{side}x{side} px (or more, up to the next whole patch)."
                )
            patches, cls = patches + self.pos_embed[:, 1:], cls + self.pos_embed[:, :1]
        x, cos, sin = self.patch_dropout(patches, cos, sin)
        x = torch.cat([cls.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        cos, sin = _prepend_identity(cos, value=1.0), _prepend_identity(sin, value=0.0)
        for block in self.blocks:
            x = run_block(block, x, cos, sin, checkpointing=self.gradient_checkpointing and self.training)
        return self.norm(x)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Embed each image as the final state of its CLS token, ``(B, width)``."""
        return self.token_states(pixel_values)[:, 0]


def _prepend_identity(table: torch.Tensor, value: float) -> torch.Tensor:
    """Add the CLS token's row (all ``value``: cos 1 and sin 0 rotate by nothing) in front of a RoPE table."""
    row = table.new_full((*table.shape[:-2], 1, table.shape[-1]), value)
    return torch.cat([row, table], dim=-2)
