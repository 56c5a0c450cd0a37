"""Training throughput (examples/s) and MFU per profile geometry, precision and compile setting, in one run.

For each profile (``tiny``, ``small``, ``base``: its model at the geometry of stage 1 of its recipe, short captions,
text pairs and digits), each precision (fp32, bf16 autocast) and eager or compiled towers, it times real optimizer steps
(``jclip_lab.measure.training_throughput``: forward, the Matryoshka losses, backward, clipping, AdamW) on
synthetic batches of fixed shape, and prints per row:

- examples/s (a step holds ``batch`` examples of each task) and their ratio to fp32 eager of the same profile,
  measured in the same run;
- model TFLOP/s from the cost model's FLOPs, and the MFU: against the datasheet's 16-bit peak on a known GPU
  (``jclip_lab.cost.GPUS``), else against a large matmul measured in the same run (``measure.reference_peak``);
- the first step's seconds (for compiled rows, the compilation).

Run it from the repository root::

    python benchmarks/bench_train.py                  # CPU, 1 thread: batch 4, 3 timed steps (minutes)
    python benchmarks/bench_train.py --device cuda    # unchanged on a GPU: each profile's own batch, 20 steps
    python benchmarks/bench_train.py --profiles tiny --compile eager   # a subset

Measured on the lab's 2-core AMD EPYC machine (AVX2, no AVX-512), 1 thread, while another job used the other
core, torch 2.13 (ratios against fp32 eager of the same profile, batch 8, 3 steps):

    tiny   bf16 eager 0.39x, fp32 compiled 0.96x, bf16 compiled 0.47x
    small  bf16 eager 0.39x, fp32 compiled 1.02x, bf16 compiled 0.63x
    base   bf16 eager 0.48x, fp32 compiled 1.08x, bf16 compiled 0.78x

A CPU without bf16 matmul units emulates bf16 (slower than fp32: the lab trains in fp32 on CPUs), and compiling
saves little where the matmuls dominate. On GPUs bf16 is the fast path; ``benchmarks/gpu_check.py`` measures it.
"""

from __future__ import annotations

import argparse
import platform
from dataclasses import replace

import torch

from jclip_lab.measure import reference_peak, training_throughput
from jclip_lab.models import JClipModel, config_preset
from jclip_lab.profiles import get_profile
from jclip_lab.train import three_stage_recipe


def describe(device: torch.device) -> str:
    """The device, the thread count and torch's version, in one line."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return f"device {device} ({name}), {torch.get_num_threads()} CPU threads, torch {torch.__version__}"


def run(profiles: list[str], precisions: list[str], compiles: list[bool], device: torch.device, batch: int | None,
        steps: int, warmup: int, everything: bool = False) -> None:  # fmt: skip
    """Print one row per profile, compile setting and precision, with ratios to fp32 eager of the profile.

    On a CPU, ``base`` in bf16 is left out unless ``everything``: without bf16 units a CPU emulates it, and one
    step took 126 s at batch 2 on the lab's machine.
    """
    peak, source = reference_peak(device)
    print(f"MFU against {peak / 1e12:.3g} TFLOP/s ({source})")
    print(f"{'profile':<7} {'precision':<9} {'compile':<8} {'batch':>5} {'step ms':>9} {'examples/s':>11} "
          f"{'ratio':>6} {'TFLOP/s':>8} {'MFU':>6} {'first step s':>13}")  # fmt: skip
    for name in profiles:
        profile = get_profile(name)
        stage = three_stage_recipe(profile)[0]
        stage = replace(stage, batch_size=batch or stage.batch_size)
        baseline = None
        for compile in compiles:
            for precision in precisions:
                if device.type == "cpu" and name == "base" and precision != "fp32" and not everything:
                    print(f"{name:<7} {precision:<9} {'compiled' if compile else 'eager':<8} left out on a CPU "
                          "(minutes per step; --everything runs it)")  # fmt: skip
                    continue
                torch.manual_seed(0)
                model = JClipModel(config_preset(profile.model))
                result = training_throughput(model, stage, device, precision, compile, steps, warmup)
                baseline = baseline or result.examples_per_second  # the profile's first row: fp32 eager by default
                print(f"{name:<7} {precision:<9} {'compiled' if compile else 'eager':<8} {stage.batch_size:>5} "
                      f"{1e3 * result.step_seconds:>9.1f} {result.examples_per_second:>11.1f} "
                      f"{result.examples_per_second / baseline:>5.2f}x {result.flops_per_second / 1e12:>8.3f} "
                      f"{result.flops_per_second / peak:>6.1%} {result.first_step_seconds:>13.1f}",
                      flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    parser.add_argument("--profiles", nargs="+", default=["tiny", "small", "base"], choices=["tiny", "small", "base"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--compile", default="both", choices=["eager", "compiled", "both"])
    parser.add_argument("--batch-size", type=int, default=None, help="per task (default: 4 on a CPU, else the "
                        "profile's)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 3 on a CPU, 20 on a GPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default: 1 on a CPU, 3 on a GPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--everything", action="store_true", help="on a CPU, also base in bf16 (minutes per step)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    on_cpu = device.type == "cpu"
    compiles = {"eager": [False], "compiled": [True], "both": [False, True]}[args.compile]
    print(describe(device))
    run(args.profiles, args.precisions, compiles, device, args.batch_size or (4 if on_cpu else None),
        args.steps or (3 if on_cpu else 20), args.warmup or (1 if on_cpu else 3), args.everything)  # fmt: skip


if __name__ == "__main__":
    main()
