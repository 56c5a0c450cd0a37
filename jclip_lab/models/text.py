"""The text tower: Jina-XLM-RoBERTa in miniature.

jina-clip-v2 embeds text with Jina-XLM-RoBERTa (the backbone of jina-embeddings-v3): XLM-RoBERTa-large whose
absolute position embeddings are replaced by rotary ones (so it reads 8k tokens), pooled by the mean over the
real tokens. The miniature keeps exactly those ideas: token embeddings with no position table, RoPE encoder
blocks with XLM-R's GELU MLP, a final LayerNorm and mean pooling. (XLM-R normalises after each branch; the
blocks here normalise before it, which trains more stably from scratch. ``post_norm=True`` gives XLM-R's layout:
a LayerNorm right after the embeddings, ``norm(x + branch(x))`` blocks and no final LayerNorm, as the real
jina-clip-v2 checkpoint needs.)

Example:
    >>> import torch
    >>> tower = TextTower(vocab_size=100, width=32, num_layers=1, num_heads=4, mlp_hidden_dim=64)
    >>> ids, mask = torch.randint(0, 100, (2, 7)), torch.ones(2, 7, dtype=torch.long)
    >>> tower(ids, mask).shape
    torch.Size([2, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from jclip_lab.models.layers import Block, GeluMLP, rope_1d, run_block


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token states ``(B, L, D)`` over the real tokens (``attention_mask`` 1), ignoring padding (0).

    Example:
        >>> hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> mean_pool(hidden, torch.tensor([[1, 1, 0]]))  # the padded 100 does not count
        tensor([[2.]])
    """
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class TextTower(nn.Module):
    """Token embeddings, RoPE encoder blocks with GELU MLPs, a final LayerNorm and mean pooling.

    Args:
        vocab_size: number of token ids (``len(tokenizer)``).
        width: model width.
        num_layers: encoder blocks.
        num_heads: attention heads per block.
        mlp_hidden_dim: hidden width of the GELU MLP (XLM-R: ``4 * width``).
        rope_theta: RoPE base; larger values turn the slowest pairs more slowly (longer reach).
        eps: LayerNorm epsilon.
        post_norm: XLM-R's layout: a LayerNorm on the embeddings, post-norm blocks, no final LayerNorm.

    Example:
        >>> tower = TextTower(vocab_size=100, width=32, num_layers=1, num_heads=4, mlp_hidden_dim=64)
        >>> tower.token_states(torch.tensor([[5, 6, 7]]), torch.tensor([[1, 1, 1]])).shape
        torch.Size([1, 3, 32])
    """

    def __init__(
        self,
        vocab_size: int,
        width: int,
        num_layers: int,
        num_heads: int,
        mlp_hidden_dim: int,
        rope_theta: float = 10000.0,
        eps: float = 1e-5,
        post_norm: bool = False,
    ):
        super().__init__()
        self.head_dim = width // num_heads
        self.rope_theta = rope_theta
        self.embed_tokens = nn.Embedding(vocab_size, width)
        # XLM-R normalises the embeddings (its emb_ln) and each residual sum; pre-norm blocks need a final norm instead.
        self.embed_norm = nn.LayerNorm(width, eps=eps) if post_norm else nn.Identity()
        self.blocks = nn.ModuleList(
            Block(width, num_heads, GeluMLP(width, mlp_hidden_dim), key_bias=True, eps=eps, post_norm=post_norm)
            for _ in range(num_layers)
        )
        self.norm = nn.Identity() if post_norm else nn.LayerNorm(width, eps=eps)
        self.gradient_checkpointing = False  # JClipModel.gradient_checkpointing_enable() turns it on

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The final, normalised state of every token, ``(B, L, width)``; states at padding are to be ignored.

        Args:
            input_ids: token ids ``(B, L)``.
            attention_mask: ``(B, L)``, 1 for real tokens and 0 for padding.
        """
        x = self.embed_norm(self.embed_tokens(input_ids))
        cos, sin = rope_1d(input_ids.shape[1], self.head_dim, self.rope_theta, device=x.device)
        key_mask = attention_mask.bool()
        key_mask = None if key_mask.all() else key_mask
        for block in self.blocks:
            x = run_block(block, x, cos, sin, key_mask, self.gradient_checkpointing and self.training)
        return self.norm(x)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embed each text as the mean of its real tokens' final states, ``(B, width)``."""
        return mean_pool(self.token_states(input_ids, attention_mask), attention_mask)
