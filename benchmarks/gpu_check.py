"""One command for the first GPU: the small and base profiles in bf16 and fp32, eager and compiled, measured.

For each profile (its model at the geometry and batch of stage 1 of its recipe: short captions, text pairs, digits,
``batch`` of each per step) it runs a fixed number of real optimizer steps (``jclip_lab.measure.training_throughput``)
and prints examples/s, the MFU (the cost model's FLOPs per second over the GPU's datasheet peak, or a measured
matmul's on a GPU the lab does not know), the peak memory the timed steps allocated
(``torch.cuda.max_memory_allocated``: weights, gradients, AdamW state, activations) beside the cost model's
estimate of that peak (``jclip_lab.cost.step_cost``), and the first step's seconds (the compilation, when
compiled). A row that runs out of memory says so, and the next one runs. Run it from the repository root::

    python benchmarks/gpu_check.py                    # whatever GPU there is; a few minutes on an H100/H200
    python benchmarks/gpu_check.py --json gpu.json    # also keep the figures

Put its figures in notebook 11 and in ``jclip_lab.profiles`` (the MFU the estimates of ``stage_times`` assume).
Without a GPU it says so, trains the tiny profile for two steps on the CPU instead (a dry run, so that the
script itself is tested), and exits 0.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace

import torch

from jclip_lab.measure import reference_peak, training_throughput
from jclip_lab.models import JClipModel, config_preset
from jclip_lab.profiles import get_profile
from jclip_lab.train import three_stage_recipe

GiB = 2**30


def run(profiles: list[str], precisions: list[str], compiles: list[bool], device: torch.device, steps: int,
        warmup: int, batch: int | None = None) -> list[dict]:  # fmt: skip
    """Measure and print one row per profile, compile setting and precision; return the rows."""
    peak, source = reference_peak(device)
    print(f"MFU against {peak / 1e12:.3g} TFLOP/s ({source}); fp32 matmuls: {torch.get_float32_matmul_precision()}")
    print(f"{'profile':<7} {'precision':<9} {'compile':<8} {'batch':>5} {'step ms':>8} {'examples/s':>10} {'MFU':>6} "
          f"{'peak GiB':>9} {'model GiB':>10} {'ratio':>6} {'first s':>8}")  # fmt: skip
    rows = []
    for name in profiles:
        stage = three_stage_recipe(get_profile(name))[0]
        stage = replace(stage, batch_size=batch or stage.batch_size)
        for compile in compiles:
            for precision in precisions:
                row = dict(profile=name, precision=precision, compiled=compile, batch=stage.batch_size)
                torch.manual_seed(0)
                model = JClipModel(config_preset(get_profile(name).model))
                try:
                    result = training_throughput(model, stage, device, precision, compile, steps, warmup)
                except torch.cuda.OutOfMemoryError:
                    print(f"{name:<7} {precision:<9} {'compiled' if compile else 'eager':<8} {stage.batch_size:>5} "
                          "out of memory")  # fmt: skip
                    rows.append(row | {"out_of_memory": True})
                    continue
                finally:
                    del model
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                rows.append(row | asdict(result) | {"mfu": result.flops_per_second / peak})
                measured = "-" if result.peak_bytes is None else f"{result.peak_bytes / GiB:.2f}"
                ratio = "-" if result.peak_bytes is None else f"{result.peak_bytes / result.estimated_peak_bytes:.2f}"
                print(f"{name:<7} {precision:<9} {'compiled' if compile else 'eager':<8} {stage.batch_size:>5} "
                      f"{1e3 * result.step_seconds:>8.1f} {result.examples_per_second:>10.1f} "
                      f"{result.flops_per_second / peak:>6.1%} {measured:>9} "
                      f"{result.estimated_peak_bytes / GiB:>10.2f} {ratio:>6} {result.first_step_seconds:>8.1f}",
                      flush=True)  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation happens in the first)")
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args(argv)
    if torch.cuda.is_available():
        device = torch.device("cuda")
        print(f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
        rows = run(["small", "base"], ["bf16", "fp32"], [False, True], device, args.steps, args.warmup)
    else:
        torch.set_num_threads(1)
        print(f"No CUDA GPU here (torch {torch.__version__}): a dry run of the tiny profile on the CPU instead.")
        rows = run(["tiny"], ["fp32"], [False], torch.device("cpu"), steps=1, warmup=1, batch=2)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
