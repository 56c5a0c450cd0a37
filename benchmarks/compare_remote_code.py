"""The lab's jina-clip-v2 against the hub's own modelling code, on the same texts and images: do they agree?

``JClipModel.from_jina_clip_v2`` runs the real weights through the lab's towers. The proof that it computes what
jina-clip-v2 computes is a comparison with Jina AI's own code, which is *remote code*: Python files downloaded from
the hub and executed. The lab never runs it. It was written for transformers 4.x (4.51.3 is the last version
reported to work: github.com/jina-ai/jina-vdr/issues/2; transformers 5 fails on import:
github.com/embeddings-benchmark/mteb/issues/4060), so the comparison takes two environments and two steps:

1. In a separate, throw-away environment, where the remote code runs (it also needs einops, timm, torchvision)::

       python -m venv /tmp/jina-remote && . /tmp/jina-remote/bin/activate
       pip install "transformers>=4.51,<4.52" "huggingface_hub<1" torch torchvision einops timm pillow numpy
       python benchmarks/compare_remote_code.py remote --out remote.npz
       deactivate

   This step imports nothing from the lab. It loads ``jinaai/jina-clip-v2`` at the lab's pinned revision
   (``REVISION`` below, the same commit as ``jclip_lab.models.jina_clip_v2.JINA_CLIP_V2_REVISION``) in fp32 on the
   CPU, embeds the texts and images of :func:`inputs` (with and without ``task="retrieval.query"``, at several
   ``truncate_dim``) and saves the inputs and the embeddings to ``remote.npz`` (no pickle). The remote code pulls
   ``jinaai/jina-clip-implementation``, ``jinaai/xlm-roberta-flash-implementation`` and jina-embeddings-v3's config
   at their current revisions; without ``flash_attn`` and ``xformers`` installed it takes their plain PyTorch paths.

2. In the lab's environment::

       python benchmarks/compare_remote_code.py lab --reference remote.npz

   This loads the same revision with ``JClipModel.from_jina_clip_v2``, embeds the very same inputs (the images are
   read back from the file, pixel for pixel) and prints, for every text and image setting, the largest absolute
   difference and the smallest cosine between the two implementations. It exits with status 1 if a difference
   exceeds ``--tolerance``.

Both steps take a few minutes on a CPU and download the 1.7 GB weights once each (two environments, one Hugging
Face cache if they share ``HF_HOME``). The weights are Jina AI's, CC BY-NC 4.0. ``tests/test_compare_remote_code.py``
runs step 2 offline against a reference written by the tests' independent forward pass on a fake checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = "jinaai/jina-clip-v2"
REVISION = "344d954da76eb8ad47a7aaff42d012e30c15b8fe"  # = jclip_lab.models.jina_clip_v2.JINA_CLIP_V2_REVISION
TASKS = (None, "retrieval.query")
DIMS = (None, 256, 64)  # full width, then two Matryoshka prefixes
TEXTS = (
    "a red circle on the left and a blue square on the right",
    "un círculo rojo a la izquierda",
    "ein Hund läuft über eine Wiese",
    "赤い丸が左にある",
    "قطة نائمة على الأريكة",
    "Красная машина, припаркованная у дома",
    "a photo of a cat " * 120,  # longer than the 512 tokens encode_text keeps
)
IMAGE_SIZES = ((640, 480), (300, 500), (512, 512), (96, 64))  # (width, height): landscape, portrait, exact, small


def inputs() -> tuple[list[str], list[Image.Image]]:
    """The texts and images both implementations embed: several scripts, several image sizes and one grey image.

    The images are smooth (gradients and shapes, no noise), as photos are, so that tiny differences between
    resizing libraries stay tiny.
    """
    images = []
    for index, (width, height) in enumerate(IMAGE_SIZES):
        x = np.linspace(0, 1, width)[None, :, None]
        y = np.linspace(0, 1, height)[:, None, None]
        base = np.concatenate([x * np.ones_like(y), y * np.ones_like(x), (x + y) / 2], axis=2)
        image = Image.fromarray((255 * base).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        draw.ellipse((width * 0.1, height * 0.2, width * 0.45, height * 0.7), fill=(220, 30, 30))
        draw.rectangle((width * 0.55, height * 0.3, width * 0.9, height * 0.8), fill=(30, 60, 200))
        images.append(image.convert("L") if index == len(IMAGE_SIZES) - 1 else image)
    return list(TEXTS), images


def key(kind: str, task: str | None, dim: int | None) -> str:
    """The name of one embedding array in the .npz file, e.g. ``text-retrieval.query-256`` or ``image-none-full``."""
    return f"{kind}-{task or 'none'}-{dim or 'full'}"


def embed_all(model, texts: Sequence[str], images: Sequence[Image.Image], dims: Sequence[int | None]) -> dict:
    """Every text (per task) and every image embedding at every dim, from any model with jina-clip-v2's API."""
    out = {}
    for dim in dims:
        for task in TASKS:
            out[key("text", task, dim)] = np.asarray(model.encode_text(list(texts), task=task, truncate_dim=dim))
        out[key("image", None, dim)] = np.asarray(model.encode_image(list(images), truncate_dim=dim))
    return out


def save_reference(path: Path | str, model, dims: Sequence[int | None] = DIMS) -> Path:
    """Embed :func:`inputs` with ``model`` and save inputs and embeddings to ``path`` (arrays only: no pickle)."""
    texts, images = inputs()
    arrays = {name: value.astype(np.float32) for name, value in embed_all(model, texts, images, dims).items()}
    arrays |= {f"input-image-{i}": np.asarray(image) for i, image in enumerate(images)}
    arrays["input-texts"] = np.array(texts, dtype=np.str_)
    arrays["dims"] = np.array([0 if dim is None else dim for dim in dims])
    np.savez(path, **arrays)
    return Path(path)


def load_reference(path: Path | str) -> tuple[list[str], list[Image.Image], list[int | None], dict]:
    """The inputs, dims and embeddings saved by :func:`save_reference`."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    texts = [str(text) for text in arrays.pop("input-texts")]
    count = sum(name.startswith("input-image-") for name in arrays)
    images = [Image.fromarray(arrays.pop(f"input-image-{i}")) for i in range(count)]
    dims = [None if dim == 0 else int(dim) for dim in arrays.pop("dims")]
    return texts, images, dims, arrays


def compare(model, reference: Path | str) -> list[tuple[str, float, float]]:
    """``(name, largest absolute difference, smallest cosine)`` for every embedding array in ``reference``."""
    texts, images, dims, theirs = load_reference(reference)
    ours = embed_all(model, texts, images, dims)
    rows = []
    for name, expected in theirs.items():
        got = ours[name].astype(np.float32)
        cosine = float(
            np.min(np.sum(got * expected, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1))
        )
        rows.append((name, float(np.abs(got - expected).max()), cosine))
    return rows


def run_remote(out: Path, revision: str) -> None:
    """Step 1: the hub's remote code, in its own pinned environment (imports nothing from the lab)."""
    import torch
    from transformers import AutoModel

    torch.set_grad_enabled(False)
    print(f"loading {REPO}@{revision} with its remote code (weights: Jina AI, CC BY-NC 4.0)")
    model = AutoModel.from_pretrained(REPO, revision=revision, trust_remote_code=True, torch_dtype=torch.float32)
    save_reference(out, model.eval())
    print(f"saved {out}")


def run_lab(reference: Path, revision: str, checkpoint: str | None, tolerance: float) -> int:
    """Step 2: the lab's converter on the same inputs; prints the differences and returns the exit status."""
    from jclip_lab.models import JClipModel

    model = JClipModel.from_jina_clip_v2(checkpoint or REPO, revision=revision)
    rows = compare(model, reference)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'embeddings':<{width}}  max |difference|  min cosine")
    for name, difference, cosine in rows:
        print(f"{name:<{width}}  {difference:16.2e}  {cosine:10.7f}")
    worst = max(difference for _, difference, _ in rows)
    verdict = "agree" if worst <= tolerance else "DISAGREE"
    print(f"the two implementations {verdict}: largest difference {worst:.2e} (tolerance {tolerance:.0e})")
    return 0 if worst <= tolerance else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    remote = steps.add_parser("remote", help="step 1: embed with the hub's remote code (separate environment)")
    remote.add_argument("--out", type=Path, default=Path("remote.npz"))
    remote.add_argument("--revision", default=REVISION)
    lab = steps.add_parser("lab", help="step 2: embed with the lab's converter and compare")
    lab.add_argument("--reference", type=Path, default=Path("remote.npz"))
    lab.add_argument("--revision", default=REVISION)
    lab.add_argument("--checkpoint", help="a local folder holding the four files, instead of the hub")
    lab.add_argument("--tolerance", type=float, default=1e-3, help="largest absolute difference accepted")
    args = parser.parse_args(argv)
    if args.step == "remote":
        run_remote(args.out, args.revision)
        return 0
    return run_lab(args.reference, args.revision, args.checkpoint, args.tolerance)


if __name__ == "__main__":
    sys.exit(main())
