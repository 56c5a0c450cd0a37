"""The cost model (``jclip_lab.cost``) beside PyTorch's own counts, on the tiny and small geometries.

For one image-text training step (the towers, then the CLIP loss summed over the Matryoshka prefixes) it prints
the model's figure, the measured one and their ratio:

- FLOPs of the forward pass and of forward + backward, against ``torch.utils.flop_counter.FlopCounterMode``;
- activation bytes autograd keeps for backward (``saved_tensors_hooks``), in float32 and bf16 autocast;
- the peak memory the step allocates above what existed before it (the profiler's allocation events on a CPU,
  ``torch.cuda.max_memory_allocated`` on a GPU), in float32, bf16 and float32 with activation checkpointing.

Then the plan the cost model makes for the real jina-clip-v2 on 8 x H100. Run it from the repository root::

    python benchmarks/bench_cost_check.py              # CPU, one thread
    python benchmarks/bench_cost_check.py --device cuda  # on a GPU it runs unchanged (CUDA's autocast rules)

Memory figures are the same on any machine for a given device type; FLOP counts are the same everywhere.
"""

from __future__ import annotations

import argparse
import platform

import torch

from jclip_lab import cost, measure
from jclip_lab.losses import clip_loss, matryoshka_loss
from jclip_lab.models import JClipModel, config_preset

VOCAB = 1000


def row(what: str, modelled: float, measured: float, unit: str) -> None:
    """One line: the cost model's figure, the measured one, their ratio."""
    print(f"  {what:<36} {modelled:>12.3f} {measured:>12.3f} {unit:<6} {modelled / measured:>6.3f}")


def check(name: str, batch: int, device: torch.device) -> None:
    """Print the model's and the measured FLOPs and bytes of one step of preset ``name``."""
    torch.manual_seed(0)
    config = config_preset(name, vocab_size=VOCAB)
    model = JClipModel(config).train().to(device)
    ids = torch.randint(0, VOCAB, (batch, config.max_text_length), device=device)
    pixels = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    task = cost.Task("image_text", batch, config.max_text_length, config.image_size)
    dims = config.matryoshka_dims

    def loss(precision: str) -> torch.Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            images, texts = model.get_image_features(pixels), model.get_text_features(ids)
            return matryoshka_loss(clip_loss, images, texts, dims=dims, scale=model.get_scale())

    print(f"{name}: batch {batch}, {config.max_text_length} tokens, {config.image_size} px, "
          f"{cost.parameter_counts(config)['total'] / 1e6:.2f}M parameters")  # fmt: skip
    print(f"  {'':<36} {'cost model':>12} {'measured':>12} {'':<6} {'ratio':>6}")
    forward = batch * (cost.tower_forward_flops(config, task) + cost.loss_forward_flops(task, dims))
    row("forward FLOPs", forward / 1e9, measure.count_flops(lambda: loss("fp32")) / 1e9, "GFLOP")
    training = cost.step_cost(config, [task], precision="fp32").model_flops
    row("forward + backward FLOPs", training / 1e9, measure.count_flops(lambda: loss("fp32").backward()) / 1e9, "GFLOP")
    model.zero_grad(set_to_none=False)

    autocast_device = "cuda" if device.type == "cuda" else "cpu"
    for precision in ("fp32", "bf16"):
        weight_copies = cost.state_bytes(config, precision) - cost.state_bytes(config, "fp32")  # autocast's bf16 copies
        kept = sum(
            batch * cost.activation_bytes_per_example(config, tower, size, precision, autocast_device=autocast_device)
            for tower, size in (("image", task.image_size), ("text", task.text_length))
        )
        kept += cost.loss_activation_bytes(task, dims) - 2 * 4 * batch * batch + weight_copies  # minus the transient
        _, saved = measure.saved_activation_bytes(lambda p=precision: loss(p), exclude=model.parameters())
        row(f"activations kept, {precision}", kept / 2**20, saved / 2**20, "MiB")
    for precision, checkpointing in (("fp32", False), ("bf16", False), ("fp32", True)):
        estimate = cost.step_cost(
            config, [task], precision=precision, checkpointing=checkpointing, autocast_device=autocast_device
        )
        weight_copies = cost.state_bytes(config, precision) - cost.state_bytes(config, "fp32")
        modelled = estimate.activation_bytes + estimate.loss_bytes + weight_copies

        def step(p: str = precision) -> None:
            loss(p).backward()

        with measure.checkpoint_blocks(model) if checkpointing else torch.enable_grad():
            step()  # the gradients exist before the measured step, as in training
            peak = measure.peak_memory_bytes(step, device)
        row(f"peak of a step, {precision}{', checkpointed' if checkpointing else ''}", modelled / 2**20,
            peak / 2**20, "MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=16, help="examples per step")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device} ({name}), {torch.get_num_threads()} threads, torch {torch.__version__}")
    for preset in ("tiny", "small"):
        check(preset, args.batch, device)
    print("\nThe plan for the real jina-clip-v2 (estimates; batch sizes assumed, see jclip_lab.cost):")
    print(cost.format_plan(cost.plan_real_model()))
    print("\nWith activation checkpointing on every block:")
    print(cost.format_plan(cost.plan_real_model(checkpointing=True)))


if __name__ == "__main__":
    main()
