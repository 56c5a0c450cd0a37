"""One training step of open_clip's CLIP against the lab's, at the same tower sizes and batch, in the same run.

open_clip (https://github.com/mlfoundations/open_clip) is what a user would pick to train a CLIP. For the
``tiny`` and ``small`` presets both models get the same widths, layers, heads, patch size, image size, embedding
size, text context (stage 1 of the profile's recipe) and vocabulary; open_clip keeps its own design elsewhere:
a causal text tower pooled at its last token, a learned position table instead of RoPE, a GELU MLP of ratio 4
in the vision tower (the same matmul FLOPs as the lab's SwiGLU of ratio 2.667: 2 x 4 = 3 x 2.667). Both drop 10%
of the patches while training. One step is the same work on both sides: embed a batch of images and texts, the
symmetric CLIP loss at the learned temperature (the lab's at the full width only, ``matryoshka_dims=()``, as
open_clip has no Matryoshka loss), backward, gradient clipping at 1.0, an AdamW step (CLIP's betas and eps, weight
decay on matrices only), the temperature clamp. The script times both alternately after a warm-up, on the same
random batch, and prints the median step times and their ratio lab / open_clip (goal: at most 1.0).

open_clip needs torchvision at import time (for its image transforms and a frozen BatchNorm, neither used by
a training step) and pins it; PyPI's torchvision wheels are built against PyPI's CUDA torch and fail to load
beside the CPU torch from download.pytorch.org (``operator torchvision::nms does not exist``). So install
open_clip without its dependencies, in its own environment that sees the lab's packages::

    python -m venv --system-site-packages .venv-open-clip
    .venv-open-clip/bin/pip install --no-deps open_clip_torch ftfy wcwidth   # ftfy: its tokenizer's text fixer
    .venv-open-clip/bin/python benchmarks/bench_open_clip.py                 # from the repository root

open_clip's other imports (huggingface_hub, safetensors, regex, tqdm) come with the lab; timm is optional to it.
Where torchvision is missing or fails to load, this script puts a stub module in its place before importing
open_clip: the names open_clip imports exist, and using any of them raises. With a torchvision that works
(a CUDA machine with PyPI's torch), nothing is stubbed.

Measured on the lab's 2-core AMD EPYC machine, 1 thread, while another job used the other core, torch 2.13,
open_clip 3.3.0, batch 32, fp32 (lab / open_clip, median of 10): tiny 0.90, small 0.99.
"""

from __future__ import annotations

import argparse
import enum
import math
import statistics
import sys
import time
import types
from collections.abc import Callable

import torch
from torch import nn

from jclip_lab.measure import synthetic_batches
from jclip_lab.models import JClipModel, config_preset
from jclip_lab.profiles import get_profile
from jclip_lab.train import Stage, make_optimizer, three_stage_recipe, training_step


def _stub_torchvision() -> None:
    """Register a ``torchvision`` whose names open_clip imports at load time exist, and raise when used."""

    class Unavailable:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("torchvision is a stub here (see benchmarks/bench_open_clip.py): no image transforms.")

    class InterpolationMode(enum.Enum):
        NEAREST, BILINEAR, BICUBIC = "nearest", "bilinear", "bicubic"

    modules = {name: types.ModuleType(name) for name in (
        "torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops",
        "torchvision.ops.misc")}  # fmt: skip
    transforms = modules["torchvision.transforms"]
    for name in ("Normalize", "Compose", "RandomResizedCrop", "ToTensor", "Resize", "CenterCrop", "ColorJitter",
                 "Grayscale"):  # fmt: skip
        setattr(transforms, name, type(name, (Unavailable,), {}))
    transforms.InterpolationMode = InterpolationMode
    transforms.functional = modules["torchvision.transforms.functional"]
    modules["torchvision.ops.misc"].FrozenBatchNorm2d = type("FrozenBatchNorm2d", (Unavailable,), {})
    modules["torchvision.ops"].misc = modules["torchvision.ops.misc"]
    modules["torchvision"].transforms, modules["torchvision"].ops = transforms, modules["torchvision.ops"]
    sys.modules.update(modules)


def import_open_clip() -> types.ModuleType:
    """``import open_clip``, with a stub torchvision where the real one is missing or fails to load."""
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError) as error:  # RuntimeError: a wheel built against another torch
        print(f"torchvision unavailable ({type(error).__name__}: {str(error).splitlines()[0]}): stubbed")
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        _stub_torchvision()
    import open_clip

    return open_clip


def open_clip_model(open_clip: types.ModuleType, name: str, stage: Stage) -> nn.Module:
    """open_clip's CLIP at the tower sizes of the lab's preset ``name``, for the geometry of ``stage``."""
    config = config_preset(name)
    vision = open_clip.CLIPVisionCfg(
        layers=config.vision_layers, width=config.vision_width, head_width=config.vision_width // config.vision_heads,
        patch_size=config.patch_size, image_size=stage.image_size, patch_dropout=config.patch_dropout,
    )  # fmt: skip
    text = open_clip.CLIPTextCfg(
        context_length=stage.max_text_length, vocab_size=config.vocab_size, width=config.text_width,
        heads=config.text_heads, layers=config.text_layers,
    )  # fmt: skip
    return open_clip.CLIP(embed_dim=config.embed_dim, vision_cfg=vision, text_cfg=text)


def open_clip_step(open_clip: types.ModuleType, model: nn.Module, stage: Stage, batch: dict) -> Callable[[], None]:
    """One training step of ``model`` on ``batch`` as the lab's ``training_step`` does it, as a function."""
    loss_fn = open_clip.ClipLoss()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": stage.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=stage.lr, betas=(0.9, 0.98), eps=1e-6)
    images, tokens = batch["pixel_values"], batch["text"]["input_ids"]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        image_features, text_features, scale = model(images, tokens)
        loss_fn(image_features, text_features, scale).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))

    return step


def lab_step(model: JClipModel, stage: Stage, batch: dict) -> Callable[[], None]:
    """One step of the lab's own ``training_step`` on ``batch``, as a function."""
    optimizer = make_optimizer(model, stage)
    device = torch.device("cpu")
    return lambda: training_step(model, optimizer, {"short": batch}, stage, 0, device)


def compare(open_clip: types.ModuleType, name: str, batch_size: int, warmup: int, repeats: int) -> float:
    """Time both steps alternately for preset ``name``; print the medians and the ratio; return the ratio."""
    stage = three_stage_recipe(get_profile(name))[0]
    stage = Stage("image-text", {"short": 1.0}, 1, batch_size, stage.image_size, stage.max_text_length,
                  matryoshka_dims=())  # fmt: skip
    torch.manual_seed(0)
    lab = JClipModel(config_preset(name)).train()
    theirs = open_clip_model(open_clip, name, stage).train()
    batch = synthetic_batches(lab.config, stage)["short"]
    steps = {"lab": lab_step(lab, stage, batch), "open_clip": open_clip_step(open_clip, theirs, stage, batch)}
    times: dict[str, list[float]] = {"lab": [], "open_clip": []}
    for index in range(warmup + repeats):
        for who, step in steps.items():
            start = time.perf_counter()
            step()
            if index >= warmup:
                times[who].append(time.perf_counter() - start)
    lab_ms, their_ms = (1e3 * statistics.median(times[who]) for who in ("lab", "open_clip"))
    sizes = {who: sum(p.numel() for p in model.parameters()) / 1e6 for who, model in (("lab", lab), ("oc", theirs))}
    print(f"{name:<6} {stage.image_size:>4} px {stage.max_text_length:>4} tokens  {sizes['lab']:>5.2f}M "
          f"{sizes['oc']:>5.2f}M params  {lab_ms:>9.1f} {their_ms:>12.1f}  {lab_ms / their_ms:>5.2f}")  # fmt: skip
    return lab_ms / their_ms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "base"])
    parser.add_argument("--batch-size", type=int, default=32, help="image-caption pairs per step")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each model first")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps of each model")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    open_clip = import_open_clip()
    print(f"torch {torch.__version__}, open_clip {open_clip.__version__}, {torch.get_num_threads()} thread(s), "
          f"batch {args.batch_size}, CPU fp32, median of {args.repeats} after {args.warmup} warm-up")  # fmt: skip
    print(f"{'preset':<6} {'image':>7} {'text':>11}  {'lab':>6} {'open_clip':>13}  {'lab ms':>9} {'open_clip ms':>12}"
          f"  {'ratio':>5}")  # fmt: skip
    for name in args.presets:
        compare(open_clip, name, args.batch_size, args.warmup, args.repeats)


if __name__ == "__main__":
    main()
