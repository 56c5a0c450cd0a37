"""A jina-clip-v2 checkpoint in the real format, at any size, written from scratch for the converter's tests.

Nothing here imports ``jclip_lab.models``: the key names, shapes and config schema are written out from the
published files (``jinaai/jina-clip-v2``'s config.json, preprocessor_config.json and model.safetensors layout, and
the code they name), so the converter is checked against an independent description of the format.

- :func:`checkpoint_shapes` lists every stored tensor and its shape for a geometry (at ``REAL`` it sums to the hub's
  865,278,476 parameters).
- :func:`write_checkpoint` writes a random checkpoint (bf16 safetensors, non-zero LoRA) with its config.json,
  preprocessor_config.json and a tiny XLM-R-style tokenizer.json into a folder;
  :func:`write_hf_cache` lays the same files out as a Hugging Face cache snapshot.
- :func:`block_network` makes socket connections to anything but loopback raise :class:`NetworkBlocked`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import save_file

TEXT = "text_model.transformer.roberta."
VISION = "vision_model."
LORA = ".parametrizations.weight."
QUERY_INSTRUCTION = "Represent the query for retrieving evidence documents: "


@dataclass(frozen=True)
class Geometry:
    """The sizes of a jina-clip-v2 checkpoint (field names follow its config.json and jina-embeddings-v3's)."""

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
        return int(self.vision_width * self.mlp_ratio)  # EVA02: int(dim * mlp_ratio) = 2730

    @property
    def grid(self) -> int:
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
TOKENIZER_TEXTS = [
    "a red circle on the left",
    "un círculo rojo a la izquierda",
    "ein blaues Quadrat oben rechts",
    "зелёный треугольник внизу",
    "赤い丸が左にある",
    "Represent the query for retrieving evidence documents: a photo of a cat",
]


def checkpoint_shapes(geometry: Geometry) -> dict[str, tuple[int, ...]]:
    """Every tensor of model.safetensors with its shape (``logit_scale`` is not stored in the published file)."""
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
    """Random fp32 tensors of the real shapes, scaled so that every part (LoRA B, token type, biases) matters."""
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


def tokenizer_json(vocab_size: int = 120) -> str:
    """A tiny XLM-R-style tokenizer.json: Unigram, <s>=0 <pad>=1 </s>=2 <unk>=3, ``<s> ... </s>`` around each text."""
    from jclip_lab.tokenizer import train_tokenizer

    return train_tokenizer(TOKENIZER_TEXTS * 3, vocab_size=vocab_size).backend_tokenizer.to_str()


def config_json(geometry: Geometry) -> dict:
    """config.json in jinaai/jina-clip-v2's schema; the text tower's sizes would come from jina-embeddings-v3's
    config, so a geometry other than the real one sets its heads through ``hf_model_config_kwargs``."""
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
    """preprocessor_config.json as jinaai/jina-clip-v2 ships it (mean/std null: OpenAI CLIP's)."""
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


def write_checkpoint(
    folder: Path,
    geometry: Geometry = TINY,
    seed: int = 0,
    dtype: torch.dtype = torch.bfloat16,
    edit: Callable[[dict[str, torch.Tensor]], None] | None = None,
) -> Path:
    """Write config.json, preprocessor_config.json, tokenizer.json and model.safetensors into ``folder``.

    A ``geometry`` with ``vocab_size=0`` takes the tokenizer's size. ``edit`` may change the tensors before they
    are saved (to make a broken checkpoint).
    """
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
    (folder / "geometry.json").write_text(json.dumps(asdict(geometry)))  # for the reference forward, not a hub file
    return folder


def write_hf_cache(cache: Path, source: Path, revision: str, repo_id: str = "jinaai/jina-clip-v2") -> Path:
    """Lay the files of ``source`` out as huggingface_hub's cache does: blobs, a snapshot of symlinks, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors"):
        data = (source / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return repo


class NetworkBlocked(RuntimeError):
    """Raised by a socket operation aimed at anything but this machine while the tests run."""


def _is_loopback(host: object) -> bool:
    if host in (None, "localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else str(host)).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def block_network() -> Callable[[], None]:
    """Make connections, sends and name lookups for anything but loopback raise; returns the undo function."""
    originals = {
        "connect": socket.socket.connect,
        "connect_ex": socket.socket.connect_ex,
        "sendto": socket.socket.sendto,
        "getaddrinfo": socket.getaddrinfo,
    }

    def check(address: object) -> None:
        if isinstance(address, (str, bytes)):  # an AF_UNIX path
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise NetworkBlocked(f"Tests must not use the network: a connection to {address!r} was refused.")

    def connect(sock: socket.socket, address: object) -> None:
        check(address)
        return originals["connect"](sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        check(address)
        return originals["connect_ex"](sock, address)

    def sendto(sock: socket.socket, data: bytes, *args: object) -> int:
        check(args[-1])
        return originals["sendto"](sock, data, *args)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        check((host,))
        return originals["getaddrinfo"](host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo

    def undo() -> None:
        socket.socket.connect, socket.socket.connect_ex = originals["connect"], originals["connect_ex"]
        socket.socket.sendto, socket.getaddrinfo = originals["sendto"], originals["getaddrinfo"]

    return undo
