"""Forward + backward step time of the tiny towers against ``torch.nn.TransformerEncoder`` baselines, on CPU.

Each baseline has the same width, depth, heads, MLP width and batch as the tower it is compared with, built from
``nn.TransformerEncoderLayer`` (pre-norm, batch first, GELU MLP) with a learned position table instead of RoPE.
Both are timed in the same run, alternating, after a warm-up; the script prints the median step times, their ratio
and the number of torch threads. Run it from the repository root::

    python benchmarks/bench_towers.py

A ratio above 1 means our tower is slower; the script then says how many milliseconds per step that costs. What
the vision tower pays for (measured with one thread, when the tiny preset still used 4 px patches): EVA02's sub-LN
(two more LayerNorms per block, ~4%), the RoPE rotation of queries and keys (~3%) and a SwiGLU hidden width of 341
(int(128 * 2.6667)), which matrix kernels handle ~15% slower than a multiple of 8 such as 344; patch dropout (0.1,
training only) wins about as much back. With today's 8 px patches (17 tokens per 32 px image) the ratios were 1.00
(text), 0.91 (vision, patch dropout) and 0.98 (vision, none) with 2 threads on an idle 2-core machine.
On a shared machine timings swing by 10% or more; ``--threads 1`` is steadier.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from jclip_lab.models import config_preset
from jclip_lab.models.text import TextTower, mean_pool
from jclip_lab.models.vision import VisionTower
from jclip_lab.profiles import get_profile


class BaselineText(nn.Module):
    """Token + learned position embeddings, ``nn.TransformerEncoder`` (pre-norm), mean pooling."""

    def __init__(self, vocab_size: int, width: int, layers: int, heads: int, mlp_dim: int, max_len: int):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, width)
        self.embed_positions = nn.Embedding(max_len, width)
        layer = nn.TransformerEncoderLayer(
            width, heads, mlp_dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled text embeddings ``(B, width)``."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.embed_tokens(input_ids) + self.embed_positions(positions)
        x = self.encoder(x, src_key_padding_mask=attention_mask == 0)
        return mean_pool(x, attention_mask)


class BaselineVision(nn.Module):
    """Conv patch embedding, CLS token, learned position table, ``nn.TransformerEncoder`` (pre-norm), CLS pooling."""

    def __init__(self, patch_size: int, image_size: int, width: int, layers: int, heads: int, mlp_dim: int):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + (image_size // patch_size) ** 2, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, mlp_dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLS embeddings ``(B, width)``."""
        x = self.patch_embed(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.encoder(x)[:, 0]


def step_time(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> float:
    """Seconds for one forward + backward pass (gradients cleared first)."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    model(*inputs).square().mean().backward()
    return time.perf_counter() - start


def compare(name: str, ours: nn.Module, baseline: nn.Module, inputs: tuple, warmup: int, repeats: int) -> float:
    """Time both models alternately; print medians and the ratio ours / baseline; return the ratio."""
    ours.train()
    baseline.train()
    for _ in range(warmup):
        step_time(ours, inputs)
        step_time(baseline, inputs)
    ours_times, baseline_times = [], []
    for _ in range(repeats):
        ours_times.append(step_time(ours, inputs))
        baseline_times.append(step_time(baseline, inputs))
    ours_ms, baseline_ms = 1000 * statistics.median(ours_times), 1000 * statistics.median(baseline_times)
    ratio = ours_ms / baseline_ms
    print(f"{name:<34} {ours_ms:9.1f} {baseline_ms:12.1f} {ratio:7.2f}")
    if ratio > 1.0:
        print(f"{'':<34} slower: costs {ours_ms - baseline_ms:.1f} ms per step ({100 * (ratio - 1):.0f}% more)")
    return ratio


def main(warmup: int, repeats: int, threads: int | None) -> None:
    """Compare the tiny text and vision towers with their baselines at the tiny profile's batch size."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    profile = get_profile("tiny")
    config = config_preset("tiny")
    batch, length = profile.batch_size, profile.max_text_length
    input_ids = torch.randint(0, config.vocab_size, (batch, length))
    attention_mask = (torch.arange(length)[None, :] < torch.randint(length // 4, length + 1, (batch, 1))).long()
    pixels = torch.randn(batch, 3, config.image_size, config.image_size)

    text_args = (config.vocab_size, config.text_width, config.text_layers, config.text_heads)
    text = TextTower(*text_args, config.text_mlp_hidden_dim)
    text_baseline = BaselineText(*text_args, mlp_dim=config.text_mlp_hidden_dim, max_len=length)

    vision_args = dict(
        patch_size=config.patch_size, width=config.vision_width, num_layers=config.vision_layers,
        num_heads=config.vision_heads, mlp_hidden_dim=config.vision_mlp_hidden_dim,
    )  # fmt: skip
    vision_baseline = BaselineVision(
        config.patch_size, config.image_size, config.vision_width, config.vision_layers, config.vision_heads,
        mlp_dim=4 * config.vision_width,
    )  # fmt: skip

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {batch}, warm-up {warmup}, "
          f"median of {repeats}")  # fmt: skip
    print(f"{'tower (tiny preset)':<34} {'ours ms':>9} {'baseline ms':>12} {'ratio':>7}")
    compare("text (RoPE, mean pool)", text, text_baseline, (input_ids, attention_mask), warmup, repeats)
    for patch_dropout in (config.patch_dropout, 0.0):
        vision = VisionTower(**vision_args, patch_dropout=patch_dropout)
        compare(f"vision (patch dropout {patch_dropout})", vision, vision_baseline, (pixels,), warmup, repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per model first")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per model")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    main(args.warmup, args.repeats, args.threads)
