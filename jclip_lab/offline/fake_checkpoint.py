"""A jina-clip-v2 checkpoint in the real format, at any size, with random weights: for offline demos and tests.

The real checkpoint (``jinaai/jina-clip-v2`` on the Hugging Face hub) is four files: ``config.json``,
``preprocessor_config.json``, XLM-R's ``tokenizer.json`` and a bf16 ``model.safetensors``. This module writes the
same four files for any :class:`Geometry`: the real key names (LoRA parametrisation keys with a non-zero B,
``q_bias`` / ``v_bias``, ``inner_attn_ln``, ``pos_embed``, ...), the real config schema, bf16 tensors, and a tiny
XLM-R-style tokenizer. At :data:`TINY` it is about a hundred kilobytes, so a machine without network can run the whole
real-model path of the lab (:meth:`~jclip_lab.models.JClipModel.from_jina_clip_v2`, the benchmarks, notebook 10) on
it. Its weights are random: what it embeds means nothing.

The key names, shapes and config schema are written out here from the published files, not taken from the
converter (``jclip_lab.models.jina_clip_v2`` is not imported), so the tests check the converter against an
independent description of the format. At :data:`REAL` the inventory sums to the hub's 865,278,476 parameters.

Sources: https://huggingface.co/jinaai/jina-clip-v2 (config.json, preprocessor_config.json, the safetensors'
key names and shapes); https://huggingface.co/jinaai/xlm-roberta-flash-implementation (``modeling_lora.py``: how
LoRA is stored); https://huggingface.co/jinaai/jina-clip-implementation (``eva_model.py``: the vision keys).

Example:
    >>> import tempfile
    >>> folder = write_fake_checkpoint(Path(tempfile.mkdtemp()))
    >>> sorted(path.name for path in folder.iterdir())
    ['config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json']
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import save_file

from jclip_lab.offline.fake_benchmarks import FIXTURE_CAPTIONS

TEXT = "text_model.transformer.roberta."
VISION = "vision_model."
LORA = ".parametrizations.weight."
QUERY_INSTRUCTION = "Represent the query for retrieving evidence documents: "  # config.json: task_instructions
HUB_FILES = ("config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors")


@dataclass(frozen=True)
class Geometry:
    """The sizes of a jina-clip-v2 checkpoint (field names follow its config.json and jina-embeddings-v3's).

    The defaults are the real model's (:data:`REAL`); ``vocab_size=0`` means "the tokenizer's size".

    Example:
        >>> REAL.vision_hidden, REAL.grid, TINY.grid
        (2730, 36, 4)
    """

    vocab_size: int = 250002
    text_width: int = 1024
    text_layers: int = 24
    text_heads: int = 16
    text_hidden: int = 4096
    vision_width: int = 1024
    vision_layers: int = 24
    head_width: int = 64
    mlp_ratio: float = 2.6667
    patch_size: int = 14
    image_size: int = 512
    pt_hw_seq_len: int = 16
    lora_rank: int = 4
    lora_alpha: int = 4
    matryoshka_dimensions: tuple[int, ...] = (32, 64, 128, 256, 512, 768, 1024)

    @property
    def vision_hidden(self) -> int:
        """SwiGLU's hidden width: EVA02's ``int(dim * mlp_ratio)`` (2730 in the real model)."""
        return int(self.vision_width * self.mlp_ratio)

    @property
    def grid(self) -> int:
        """Patches per side: ``image_size // patch_size`` (36 in the real model)."""
        return self.image_size // self.patch_size


REAL = Geometry()
TINY = Geometry(
    vocab_size=0,  # set from the tokenizer
    text_width=32,
    text_layers=2,
    text_heads=4,
    text_hidden=64,
    vision_width=32,
    vision_layers=2,
    head_width=8,
    patch_size=4,
    image_size=16,
    matryoshka_dimensions=(8, 16, 32),
)
# What the fake tokenizer learns from: a few sentences, and the benchmark fixtures' captions (so that their scripts,
# Japanese, Korean, Chinese, Arabic, ..., do not fall to <unk>, where different captions would embed alike).
TOKENIZER_TEXTS = (
    "a red circle on the left",
    "un círculo rojo a la izquierda",
    "ein blaues Quadrat oben rechts",
    "зелёный треугольник внизу",
    "赤い丸が左にある",
    QUERY_INSTRUCTION + "a photo of a cat",
    *FIXTURE_CAPTIONS,
)


def checkpoint_shapes(geometry: Geometry) -> dict[str, tuple[int, ...]]:
    """Every tensor of model.safetensors with its shape (``logit_scale`` is not stored in the published file).

    Example:
        >>> shapes = checkpoint_shapes(REAL)
        >>> f"{sum(torch.Size(shape).numel() for shape in shapes.values()):,}", shapes[VISION + "pos_embed"]
        ('865,278,476', (1, 1297, 1024))
    """
    g, shapes = geometry, {}

    def lora(name: str, rows: int, cols: int, embedding: bool = False) -> None:
        # xlm-roberta-flash-implementation, modeling_lora.py: parametrize.register_parametrization(layer, "weight", ...)
        shapes[name + LORA + "original"] = (rows, cols)
        if embedding:  # lora_A (n, num_embeddings, rank), lora_B (n, rank, dim)
            a, b = (1, rows, g.lora_rank), (1, g.lora_rank, cols)
        else:  # lora_A (n, rank, fan_in), lora_B (n, fan_out, rank)
            a, b = (1, g.lora_rank, cols), (1, rows, g.lora_rank)
        shapes[name + LORA + "0.lora_A"], shapes[name + LORA + "0.lora_B"] = a, b

    lora(TEXT + "embeddings.word_embeddings", g.vocab_size, g.text_width, embedding=True)
    lora(TEXT + "embeddings.token_type_embeddings", 1, g.text_width, embedding=True)
    shapes[TEXT + "emb_ln.weight"] = shapes[TEXT + "emb_ln.bias"] = (g.text_width,)
    for i in range(g.text_layers):
        layer = f"{TEXT}encoder.layers.{i}."
        for name, rows, cols in (
            ("mixer.Wqkv", 3 * g.text_width, g.text_width),
            ("mixer.out_proj", g.text_width, g.text_width),
            ("mlp.fc1", g.text_hidden, g.text_width),
            ("mlp.fc2", g.text_width, g.text_hidden),
        ):
            lora(layer + name, rows, cols)
            shapes[layer + name + ".bias"] = (rows,)
        for norm in ("norm1", "norm2"):
            shapes[layer + norm + ".weight"] = shapes[layer + norm + ".bias"] = (g.text_width,)

    w, h = g.vision_width, g.vision_hidden
    shapes[VISION + "patch_embed.proj.weight"] = (w, 3, g.patch_size, g.patch_size)
    shapes[VISION + "patch_embed.proj.bias"] = (w,)
    shapes[VISION + "cls_token"] = (1, 1, w)
    shapes[VISION + "pos_embed"] = (1, 1 + g.grid**2, w)
    for i in range(g.vision_layers):
        block = f"{VISION}blocks.{i}."
        shapes.update({f"{block}norm1.weight": (w,), f"{block}norm1.bias": (w,)})
        shapes.update({f"{block}attn.{p}_proj.weight": (w, w) for p in "qkv"})
        shapes.update({f"{block}attn.q_bias": (w,), f"{block}attn.v_bias": (w,)})
        shapes.update({f"{block}attn.inner_attn_ln.weight": (w,), f"{block}attn.inner_attn_ln.bias": (w,)})
        shapes.update({f"{block}attn.proj.weight": (w, w), f"{block}attn.proj.bias": (w,)})
        shapes.update({f"{block}norm2.weight": (w,), f"{block}norm2.bias": (w,)})
        shapes.update({f"{block}mlp.w1.weight": (h, w), f"{block}mlp.w1.bias": (h,)})
        shapes.update({f"{block}mlp.w2.weight": (h, w), f"{block}mlp.w2.bias": (h,)})
        shapes.update({f"{block}mlp.ffn_ln.weight": (h,), f"{block}mlp.ffn_ln.bias": (h,)})
        shapes.update({f"{block}mlp.w3.weight": (w, h), f"{block}mlp.w3.bias": (w,)})
    shapes[VISION + "norm.weight"] = shapes[VISION + "norm.bias"] = (w,)
    return shapes


def random_checkpoint(geometry: Geometry, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random fp32 tensors of the real shapes, scaled so that every part (LoRA B, token type, biases) matters.

    Example:
        >>> tensors = random_checkpoint(replace(TINY, vocab_size=50))
        >>> tensors[TEXT + "embeddings.word_embeddings" + LORA + "0.lora_B"].abs().sum() > 0  # a trained adapter
        tensor(True)
    """
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, shape in checkpoint_shapes(geometry).items():
        values = torch.randn(shape, generator=generator)
        if key.endswith(("norm1.weight", "norm2.weight", "ln.weight", "norm.weight", "emb_ln.weight")):
            values = 1.0 + 0.1 * values  # LayerNorm gains near 1
        elif key.endswith(("lora_A", "lora_B")):
            values = 0.3 * values  # B is zero at initialisation; a trained adapter's is not
        elif "embeddings" in key or key.endswith(("cls_token", "pos_embed")):
            values = 0.5 * values
        else:
            values = 0.1 * values
        tensors[key] = values
    return tensors


def tokenizer_json(vocab_size: int = 250) -> str:
    """A tiny XLM-R-style tokenizer.json: Unigram, <s>=0 <pad>=1 </s>=2 <unk>=3, ``<s> ... </s>`` around each text.

    Example:
        >>> vocab = json.loads(tokenizer_json())["model"]["vocab"]
        >>> [piece for piece, _ in vocab[:4]]
        ['<s>', '<pad>', '</s>', '<unk>']
    """
    from jclip_lab.tokenizer import train_tokenizer

    return train_tokenizer(list(TOKENIZER_TEXTS) * 3, vocab_size=vocab_size).backend_tokenizer.to_str()


def config_json(geometry: Geometry) -> dict:
    """config.json in jinaai/jina-clip-v2's schema.

    The text tower's sizes would come from jina-embeddings-v3's config (``hf_model_name_or_path``), so a geometry
    other than the real one sets its number of heads through ``hf_model_config_kwargs``.

    Example:
        >>> config = config_json(TINY)
        >>> config["add_projections"], config["vision_config"]["image_size"], config["text_config"]["default_lora_task"]
        (False, 16, 'retrieval.query')
    """
    g = geometry
    kwargs = {
        "load_trained_adapters": False,
        "lora_adaptations": ["retrieval.query"],
        "lora_alpha": g.lora_alpha,
        "lora_dropout_p": 0.0,
        "lora_main_params_trainable": False,
        "lora_rank": g.lora_rank,
        "task_instructions": {"retrieval.query": QUERY_INSTRUCTION},
        "use_flash_attn": True,
    }
    if g != REAL:
        kwargs["num_attention_heads"] = g.text_heads
    return {
        "_name_or_path": "jinaai/jina-clip-v2",
        "add_projections": False,
        "architectures": ["JinaCLIPModel"],
        "auto_map": {
            "AutoConfig": "jinaai/jina-clip-implementation--configuration_clip.JinaCLIPConfig",
            "AutoModel": "jinaai/jina-clip-implementation--modeling_clip.JinaCLIPModel",
        },
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "matryoshka_dimensions": list(g.matryoshka_dimensions),
        "model_type": "jina_clip",
        "projection_dim": g.text_width,
        "text_config": {
            "default_instruction_task": None,
            "default_lora_task": "retrieval.query",
            "embed_dim": g.text_width,
            "hf_model_config_kwargs": kwargs,
            "hf_model_name_or_path": "jinaai/jina-embeddings-v3",
            "model_type": "jina_clip_text",
            "pooler_type": "mean_pooler",
            "proj_bias": False,
            "proj_type": None,
        },
        "torch_dtype": "bfloat16",
        "truncate_dim": None,
        "use_text_flash_attn": None,
        "use_vision_xformers": None,
        "vision_config": {
            "embed_dim": g.vision_width,
            "fused_layer_norm": False,
            "head_width": g.head_width,
            "image_size": g.image_size,
            "intp_freq": True,
            "layers": g.vision_layers,
            "ls_init_value": None,
            "mlp_ratio": g.mlp_ratio,
            "model_type": "jina_clip_vision",
            "naive_swiglu": True,
            "patch_dropout": 0.1,
            "patch_size": g.patch_size,
            "proj_type": None,
            "pt_hw_seq_len": g.pt_hw_seq_len,
            "qkv_bias": True,
            "rope_embeddings": True,
            "subln": True,
            "width": g.vision_width,
            "x_attention": True,
        },
    }


def preprocessor_json(geometry: Geometry) -> dict:
    """preprocessor_config.json as jinaai/jina-clip-v2 ships it (mean/std null: OpenAI CLIP's).

    Example:
        >>> preprocessor_json(REAL)["size"], preprocessor_json(REAL)["resize_mode"]
        (512, 'shortest')
    """
    return {
        "auto_map": {
            "AutoImageProcessor": "jinaai/jina-clip-implementation--processing_clip.JinaCLIPImageProcessor",
            "AutoProcessor": "jinaai/jina-clip-implementation--processing_clip.JinaCLIPProcessor",
        },
        "fill_color": 0,
        "image_processor_type": "JinaCLIPImageProcessor",
        "interpolation": "bicubic",
        "mean": None,
        "processor_class": "JinaCLIPProcessor",
        "resize_mode": "shortest",
        "size": geometry.image_size,
        "std": None,
    }


def write_fake_checkpoint(
    folder: Path | str,
    geometry: Geometry = TINY,
    seed: int = 0,
    dtype: torch.dtype = torch.bfloat16,
    edit: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> Path:
    """Write config.json, preprocessor_config.json, tokenizer.json and model.safetensors into ``folder``.

    Args:
        folder: where to write (created if missing).
        geometry: the sizes; ``vocab_size=0`` takes the tokenizer's size.
        seed: seed of the random weights.
        dtype: the stored dtype (the published file: bf16).
        edit: a function that may change the tensors before they are saved (to make a broken checkpoint).

    Returns:
        ``folder``, ready for ``JClipModel.from_jina_clip_v2(folder)``.

    Example:
        >>> import tempfile
        >>> folder = write_fake_checkpoint(Path(tempfile.mkdtemp()))
        >>> json.loads((folder / "config.json").read_text())["vision_config"]["width"]
        32
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer_json()
    if geometry.vocab_size == 0:
        geometry = replace(geometry, vocab_size=len(json.loads(tokenizer)["model"]["vocab"]))
    tensors = random_checkpoint(geometry, seed)
    if edit is not None:
        edit(tensors)
    save_file({key: value.to(dtype).contiguous() for key, value in tensors.items()}, folder / "model.safetensors")
    (folder / "tokenizer.json").write_text(tokenizer, encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(config_json(geometry), indent=2), encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor_json(geometry), indent=2))
    return folder


def write_hf_cache(cache: Path | str, source: Path | str, revision: str, repo_id: str = "jinaai/jina-clip-v2") -> Path:
    """Lay the files of ``source`` out as huggingface_hub's cache does: blobs, a snapshot of symlinks, refs/main.

    Args:
        cache: the cache folder (what ``HF_HUB_CACHE`` points to).
        source: a folder holding the four files (e.g. from :func:`write_fake_checkpoint`).
        revision: the commit the snapshot is filed under.
        repo_id: the repository it pretends to come from.

    Returns:
        The repository's folder in the cache (``models--jinaai--jina-clip-v2``).

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> repo = write_hf_cache(root / "hub", write_fake_checkpoint(root / "fake"), "0" * 40)
        >>> repo.name, (repo / "snapshots" / ("0" * 40) / "config.json").is_symlink()
        ('models--jinaai--jina-clip-v2', True)
    """
    repo = Path(cache) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name in HUB_FILES:
        data = (Path(source) / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return repo
