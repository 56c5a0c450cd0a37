"""Load the real jina-clip-v2 weights into the lab's own ``JClipModel``: no remote code, no pickle.

jina-clip-v2 (Koukounas et al. 2024, https://arxiv.org/abs/2412.08802) is published as ``jinaai/jina-clip-v2``
on the Hugging Face hub: ``model.safetensors``, ``config.json``, XLM-R's ``tokenizer.json`` and a
``preprocessor_config.json``. Its own modelling code is remote code written for transformers 4.x; the lab does not
run it. It reads the safetensors and maps every tensor onto the towers it built itself
(``JClipModel.from_jina_clip_v2`` is the entry point). The mapping does four things:

- **LoRA.** The text tower carries one LoRA adapter (``retrieval.query``), stored through
  ``torch.nn.utils.parametrize`` as ``<layer>.parametrizations.weight.original`` plus ``...weight.0.lora_A`` and
  ``...weight.0.lora_B``. The real model applies it on every call (``default_lora_task``), so it is merged once, in
  fp32: ``W + B @ A * alpha / rank`` for linear layers, ``W + A @ B * alpha / rank`` for embeddings.
- **Token types.** XLM-R adds ``token_type_embeddings[0]`` to every token; the row is folded into the word embeddings.
- **Fused q/k/v.** The text tower's ``Wqkv`` is ``cat([Wq, Wk, Wv])`` with one bias, which splits into the lab's
  q, k and v biases.
- **RoPE layout.** EVA02 rotates interleaved pairs ``(x[2i], x[2i+1])`` of each head (the first half of the head by
  the patch's row, the second by its column); the lab rotates split halves ``(x[i], x[i + D/2])``. Reordering the
  rows of q and k (and q's bias) inside every head turns one convention into the other without changing a single
  attention score (:func:`interleaved_to_half_split`). The text tower already uses split halves.

Tensors stored in bf16 or fp16 are upcast to fp32. Every stored key is used exactly once; a missing, unknown or
misshapen key is an error that names it. The weights are Jina AI's, licensed CC BY-NC 4.0 (non-commercial use):
they are downloaded on demand into the Hugging Face cache, never shipped with the lab.

Sources (all public; the lab's code is written from them, none of it is copied or executed):

- https://huggingface.co/jinaai/jina-clip-v2: config.json (``add_projections: false``, ``text_config``,
  ``vision_config``), preprocessor_config.json, model card, licence.
- https://huggingface.co/jinaai/jina-clip-implementation: ``modeling_clip.py`` (vision LayerNorms with eps 1e-6;
  ``encode_text`` truncates at 512 tokens; the instruction prefix of ``task``), ``hf_model.py`` (the text config is
  jina-embeddings-v3's config updated with ``hf_model_config_kwargs``; attention mask ``input_ids != pad_token_id``;
  mean pooling), ``eva_model.py`` and ``rope_embeddings.py`` (EVA02: ``pos_embed`` added to CLS and patches, RoPE on
  patches only with positions ``arange(G) / G * pt_hw_seq_len``), ``transform.py`` (shortest-side resize, centre crop).
- https://huggingface.co/jinaai/xlm-roberta-flash-implementation: ``modeling_xlm_roberta.py`` (post-LN blocks,
  ``emb_ln``, exact GELU for ``hidden_act="gelu"``), ``modeling_lora.py`` (the LoRA parametrisation above),
  ``configuration_xlm_roberta.py``.
- https://huggingface.co/jinaai/jina-embeddings-v3: config.json, where the text tower's size, its RoPE base 20000
  and its pad id 1 come from.
- The pinned revision is the one MTEB's model registry pins: https://github.com/embeddings-benchmark/mteb,
  ``mteb/models/model_implementations/jina_clip.py`` (``jina_clip_v2 = ModelMeta(..., revision=...)``).

Example:
    >>> interleaved_to_half_split(8).tolist()  # a head of 8: pairs (0,1) (2,3) by row, (4,5) (6,7) by column
    [0, 2, 4, 6, 1, 3, 5, 7]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import safe_open
from transformers import PreTrainedTokenizerFast

from jclip_lab.models.config import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, JClipConfig, config_preset

if TYPE_CHECKING:
    from jclip_lab.models.model import JClipModel

JINA_CLIP_V2_REPO = "jinaai/jina-clip-v2"
# A commit of jinaai/jina-clip-v2, pinned by MTEB's model registry (mteb/models/model_implementations/jina_clip.py).
JINA_CLIP_V2_REVISION = "344d954da76eb8ad47a7aaff42d012e30c15b8fe"
JINA_CLIP_V2_FILES = ("config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors")
LICENCE_NOTICE = (
    "jina-clip-v2 weights (c) Jina AI, licensed CC BY-NC 4.0 (non-commercial use only): "
    "https://huggingface.co/jinaai/jina-clip-v2"
)

TEXT = "text_model.transformer.roberta."
VISION = "vision_model."
LORA = ".parametrizations.weight."
# What jina-clip-v2's text tower takes from jinaai/jina-embeddings-v3's config.json (hf_model_name_or_path) unless
# text_config.hf_model_config_kwargs overrides it (hf_model.py: AutoConfig.from_pretrained + config.update).
JINA_EMBEDDINGS_V3_DEFAULTS: dict[str, Any] = {
    "num_attention_heads": 16,
    "rotary_emb_base": 20000.0,
    "layer_norm_eps": 1e-5,
    "pad_token_id": 1,
    "hidden_act": "gelu",
    "position_embedding_type": "rotary",
    "lora_rank": 4,
    "lora_alpha": 1,
}
ENCODE_TEXT_MAX_LENGTH = 512  # modeling_clip.py, encode_text: tokenizer_kwargs.get("max_length", 512)
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def interleaved_to_half_split(head_dim: int) -> torch.Tensor:
    """The order of a head's q/k rows that turns EVA02's interleaved 2-D RoPE into the lab's split-half one.

    EVA02 rotates the pairs ``(2i, 2i+1)``: the first ``head_dim / 4`` pairs by the patch's row, the rest by its
    column. The lab rotates the pairs ``(i, i + head_dim/2)``: its first ``head_dim / 4`` pairs by row, the rest by
    column, with the same frequencies in the same order. Lab row ``d`` takes real row ``order[d]``.

    Example:
        >>> order = interleaved_to_half_split(64)
        >>> order[:3].tolist(), order[16:18].tolist(), order[32:34].tolist()  # row pairs, column pairs, partners
        ([0, 2, 4], [32, 34], [1, 3])
    """
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs a head dimension divisible by 4, got {head_dim}.")
    half, quarter = head_dim // 2, head_dim // 4
    pairs = torch.arange(half)
    first = torch.where(pairs < quarter, 2 * pairs, half + 2 * (pairs - quarter))  # each pair's first real row
    return torch.cat([first, first + 1])


def checkpoint_inventory(config: JClipConfig, lora_rank: int = 4, num_adapters: int = 1) -> dict[str, tuple]:
    """Every tensor a jina-clip-v2 checkpoint of ``config``'s geometry stores, with its shape.

    ``logit_scale`` is not in it: the published checkpoint does not store it (its 865,278,476 parameters are the
    towers' exactly), and the converter takes it when present.

    Args:
        config: a geometry with jina-clip-v2's options (``config_preset("jina-clip-v2")`` is the real one).
        lora_rank: rank of the text tower's LoRA adapters.
        num_adapters: number of LoRA adapters (jina-clip-v2: 1, ``retrieval.query``).

    Example:
        >>> inventory = checkpoint_inventory(config_preset("jina-clip-v2"))
        >>> inventory["vision_model.pos_embed"], f"{sum(torch.Size(s).numel() for s in inventory.values()):,}"
        ((1, 1297, 1024), '865,278,476')
    """
    width, hidden, vocab = config.text_width, config.text_mlp_hidden_dim, config.vocab_size
    shapes: dict[str, tuple] = {}

    def lora_layer(name: str, fan_out: int, fan_in: int, embedding: bool = False) -> None:
        shapes[f"{name}{LORA}original"] = (fan_out, fan_in)  # nn.Embedding: (num_embeddings, dim)
        if embedding:  # modeling_lora.py: A (n, num_embeddings, rank), B (n, rank, dim); delta = A @ B
            shapes[f"{name}{LORA}0.lora_A"] = (num_adapters, fan_out, lora_rank)
            shapes[f"{name}{LORA}0.lora_B"] = (num_adapters, lora_rank, fan_in)
        else:  # A (n, rank, fan_in), B (n, fan_out, rank); delta = B @ A
            shapes[f"{name}{LORA}0.lora_A"] = (num_adapters, lora_rank, fan_in)
            shapes[f"{name}{LORA}0.lora_B"] = (num_adapters, fan_out, lora_rank)

    def norm(name: str, dim: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (dim,), (dim,)

    lora_layer(f"{TEXT}embeddings.word_embeddings", vocab, width, embedding=True)
    lora_layer(f"{TEXT}embeddings.token_type_embeddings", 1, width, embedding=True)
    norm(f"{TEXT}emb_ln", width)
    for i in range(config.text_layers):
        layer = f"{TEXT}encoder.layers.{i}."
        for name, fan_out, fan_in in (
            ("mixer.Wqkv", 3 * width, width),
            ("mixer.out_proj", width, width),
            ("mlp.fc1", hidden, width),
            ("mlp.fc2", width, hidden),
        ):
            lora_layer(layer + name, fan_out, fan_in)
            shapes[f"{layer}{name}.bias"] = (fan_out,)
        norm(layer + "norm1", width)
        norm(layer + "norm2", width)

    width, hidden, patch = config.vision_width, config.vision_mlp_hidden_dim, config.patch_size
    shapes[f"{VISION}patch_embed.proj.weight"] = (width, config.num_channels, patch, patch)
    shapes[f"{VISION}patch_embed.proj.bias"] = (width,)
    shapes[f"{VISION}cls_token"] = (1, 1, width)
    shapes[f"{VISION}pos_embed"] = (1, 1 + config.vision_grid**2, width)
    for i in range(config.vision_layers):
        block = f"{VISION}blocks.{i}."
        for name in ("q_proj", "k_proj", "v_proj"):
            shapes[f"{block}attn.{name}.weight"] = (width, width)
        shapes[f"{block}attn.q_bias"], shapes[f"{block}attn.v_bias"] = (width,), (width,)
        norm(block + "attn.inner_attn_ln", width)
        shapes[f"{block}attn.proj.weight"], shapes[f"{block}attn.proj.bias"] = (width, width), (width,)
        norm(block + "norm1", width)
        norm(block + "norm2", width)
        for name in ("w1", "w2"):
            shapes[f"{block}mlp.{name}.weight"], shapes[f"{block}mlp.{name}.bias"] = (hidden, width), (hidden,)
        norm(block + "mlp.ffn_ln", hidden)
        shapes[f"{block}mlp.w3.weight"], shapes[f"{block}mlp.w3.bias"] = (width, hidden), (width,)
    norm(f"{VISION}norm", width)
    return shapes


def _require(settings: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in settings:
        raise ValueError(f"{where} has no {key!r}; is this a jina-clip-v2 checkpoint?")
    return settings[key]


def _refuse(condition: bool, what: str) -> None:
    if condition:
        raise ValueError(f"This checkpoint uses {what}, which the lab's towers do not implement.")


def text_settings(jina_config: Mapping[str, Any]) -> dict[str, Any]:
    """The text tower's settings: jina-embeddings-v3's defaults updated with ``hf_model_config_kwargs``.

    Example:
        >>> text_settings({"text_config": {"hf_model_config_kwargs": {"lora_alpha": 4}}})["lora_alpha"]
        4
    """
    text_config = _require(jina_config, "text_config", "config.json")
    return {**JINA_EMBEDDINGS_V3_DEFAULTS, **(text_config.get("hf_model_config_kwargs") or {})}


def jclip_config_from_jina(
    jina_config: Mapping[str, Any], preprocessor: Mapping[str, Any], shapes: Mapping[str, tuple]
) -> JClipConfig:
    """The :class:`JClipConfig` that holds a jina-clip-v2 checkpoint, from its two configs and its tensor shapes.

    The vision tower's size is in ``config.json``; the text tower's comes from jina-embeddings-v3's config, which
    the checkpoint does not carry, so it is read off the tensor shapes (width, vocabulary, layers, MLP width) and
    :func:`text_settings` (heads, RoPE base, LayerNorm epsilon). Features the lab does not implement are refused.

    Args:
        jina_config: the checkpoint's config.json.
        preprocessor: the checkpoint's preprocessor_config.json.
        shapes: every stored tensor's shape, by key.

    Raises:
        ValueError: a missing setting or an unsupported feature (the message names it).

    Example:
        >>> preset = config_preset("jina-clip-v2")
        >>> real = {"text_config": {"hf_model_config_kwargs": {}}, "add_projections": False, "vision_config": {
        ...     "width": 1024, "layers": 24, "head_width": 64, "mlp_ratio": 2.6667, "patch_size": 14,
        ...     "image_size": 512, "pt_hw_seq_len": 16, "intp_freq": True},
        ...     "matryoshka_dimensions": [32, 64, 128, 256, 512, 768, 1024]}
        >>> config = jclip_config_from_jina(real, {"size": 512}, checkpoint_inventory(preset))
        >>> config.to_dict() == preset.to_dict()
        True
    """
    _refuse(bool(jina_config.get("add_projections", False)), "projection layers (add_projections)")
    text_config, settings = jina_config["text_config"], text_settings(jina_config)
    _refuse(text_config.get("proj_type") is not None, f"a text projection (proj_type={text_config.get('proj_type')})")
    _refuse(text_config.get("pooler_type") not in (None, "mean_pooler"), f"pooler {text_config.get('pooler_type')}")
    _refuse(text_config.get("default_instruction_task") is not None, "a default instruction (default_instruction_task)")
    _refuse(settings["position_embedding_type"] != "rotary", f"{settings['position_embedding_type']} positions")
    _refuse(settings["hidden_act"] != "gelu", f"activation {settings['hidden_act']} (the lab's MLP uses exact GELU)")
    vocab, text_width = _require(shapes, f"{TEXT}embeddings.word_embeddings{LORA}original", "model.safetensors")
    text_hidden = shapes[f"{TEXT}encoder.layers.0.mlp.fc1{LORA}original"][0]
    layer_key = re.compile(rf"{re.escape(TEXT)}encoder\.layers\.(\d+)\.")
    text_layers = len({match.group(1) for key in shapes if (match := layer_key.match(key))})

    vision = _require(jina_config, "vision_config", "config.json")

    def get(key: str) -> Any:
        return _require(vision, key, "config.json's vision_config")

    _refuse(not vision.get("rope_embeddings", True), "a vision tower without RoPE")
    _refuse(not vision.get("subln", True), "a vision tower without sub-LN")
    _refuse(not vision.get("naive_swiglu", True), "xformers' fused SwiGLU weights (naive_swiglu=false)")
    _refuse(bool(vision.get("post_norm", False)), "post-norm vision blocks")
    _refuse(vision.get("ls_init_value") is not None, "layer scale (ls_init_value)")
    _refuse(not vision.get("qkv_bias", True), "a vision tower without q/v biases")
    _refuse(vision.get("proj_type") is not None, f"a vision projection (proj_type={vision.get('proj_type')})")
    size = preprocessor.get("size", get("image_size"))  # an int in jina-clip-v2's preprocessor_config.json
    if not isinstance(size, int):  # [height, width]
        _refuse(len(set(size)) != 1, f"non-square images (size={size})")
        size = int(size[0])
    _refuse(preprocessor.get("interpolation", "bicubic") != "bicubic", f"{preprocessor.get('interpolation')} resizing")
    _refuse(preprocessor.get("resize_mode", "shortest") not in ("shortest", "squash"), "resize_mode 'longest'")
    grid, pretrain_grid = size // get("patch_size"), get("pt_hw_seq_len")
    if not vision.get("intp_freq", True) and grid != pretrain_grid:
        raise ValueError(f"intp_freq=false needs a {pretrain_grid}x{pretrain_grid} grid, got {grid}x{grid}.")
    width = get("width")
    overrides = dict(
        vocab_size=vocab,
        text_width=text_width,
        text_layers=text_layers,
        text_heads=settings["num_attention_heads"],
        text_mlp_ratio=text_hidden / text_width,
        text_rope_theta=float(settings["rotary_emb_base"]),
        text_layer_norm_eps=settings["layer_norm_eps"],
        vision_width=width,
        vision_layers=get("layers"),
        vision_heads=width // get("head_width"),
        vision_mlp_ratio=get("mlp_ratio"),
        patch_size=get("patch_size"),
        image_size=size,
        vision_rope_reference_grid=pretrain_grid if vision.get("intp_freq", True) else None,
        patch_dropout=vision.get("patch_dropout", 0.1),
        resize_mode=preprocessor.get("resize_mode", "shortest"),
        image_mean=tuple(preprocessor.get("mean") or OPENAI_CLIP_MEAN),
        image_std=tuple(preprocessor.get("std") or OPENAI_CLIP_STD),
        embed_dim=width,
        matryoshka_dims=tuple(jina_config.get("matryoshka_dimensions") or (width,)),
    )
    if "logit_scale_init_value" in jina_config:
        overrides["logit_scale_init"] = jina_config["logit_scale_init_value"]
    if settings.get("task_instructions"):
        overrides["task_instructions"] = dict(settings["task_instructions"])
    if overrides["text_width"] != width:
        raise ValueError(f"Without projections both towers must be as wide: text {text_width}, vision {width}.")
    return config_preset("jina-clip-v2", **overrides)


def _checkpoint_files(
    repo_or_path: str | os.PathLike, revision: str, cache_dir: str | os.PathLike | None, local_files_only: bool
) -> dict[str, Path]:
    """The four files, from a local folder or through the Hugging Face cache (downloading only what is missing)."""
    folder = Path(repo_or_path).expanduser()
    looks_like_path = isinstance(repo_or_path, os.PathLike) or str(repo_or_path).startswith(("/", ".", "~", "\\"))
    if looks_like_path and not folder.is_dir():
        raise FileNotFoundError(
            f"No folder {folder}; pass a folder holding {list(JINA_CLIP_V2_FILES)} or a hub repository id "
            f"such as {JINA_CLIP_V2_REPO!r}."
        )
    if folder.is_dir():
        missing = [name for name in JINA_CLIP_V2_FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder} lacks {missing}; a jina-clip-v2 folder holds {list(JINA_CLIP_V2_FILES)}."
            )
        return {name: folder / name for name in JINA_CLIP_V2_FILES}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import LocalEntryNotFoundError, OfflineModeIsEnabled

    files = {}
    for name in JINA_CLIP_V2_FILES:  # only these four: not the ONNX exports, not the remote code
        try:
            files[name] = Path(
                hf_hub_download(
                    str(repo_or_path),
                    name,
                    revision=revision,
                    cache_dir=cache_dir,
                    local_files_only=local_files_only,
                )
            )
        except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
            raise FileNotFoundError(
                f"{name} of {repo_or_path} at revision {revision} is not in the Hugging Face cache and cannot be "
                f"downloaded here (offline: HF_HUB_OFFLINE=1 or no network). Run once with network access, or pass "
                f"a folder holding {list(JINA_CLIP_V2_FILES)}."
            ) from error
    return files


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def _listing(keys: list[str]) -> str:
    return f"{len(keys)} ({', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''})"


def _check_inventory(stored: Mapping[str, tuple], expected: Mapping[str, tuple]) -> None:
    """Raise a KeyError naming missing and unknown keys, or a ValueError naming every misshapen one."""
    missing = sorted(set(expected) - set(stored))
    unknown = sorted(set(stored) - set(expected) - {"logit_scale"})
    if missing or unknown:
        raise KeyError(
            f"The checkpoint does not match jina-clip-v2's layout: missing keys {_listing(missing)}; "
            f"unknown keys {_listing(unknown)}."
        )
    expected = {**expected, "logit_scale": ()} if "logit_scale" in stored else expected
    wrong = [
        f"{key}: stored {tuple(stored[key])}, expected {shape}"
        for key, shape in expected.items()
        if tuple(stored[key]) != tuple(shape)
    ]
    if wrong:
        raise ValueError(f"Tensors of the wrong shape: {'; '.join(wrong[:5])}{'; ...' if len(wrong) > 5 else ''}.")


class _Tensors:
    """Reads each stored tensor once, as fp32, and remembers which ones were read."""

    def __init__(self, handle: Any):
        self.handle = handle
        self.used: set[str] = set()

    def take(self, key: str) -> torch.Tensor:
        if key in self.used:
            raise RuntimeError(f"{key} was read twice; the key mapping is wrong.")
        self.used.add(key)
        tensor = self.handle.get_tensor(key)
        if tensor.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{key} is stored as {tensor.dtype}; expected one of {FLOAT_DTYPES}.")
        return tensor.float()

    def merged(self, name: str, adapter: int | None, lora_scaling: float, embedding: bool = False) -> torch.Tensor:
        """The weight of a LoRA-parametrised layer with its adapter merged in fp32 (modeling_lora.py)."""
        weight = self.take(f"{name}{LORA}original")
        lora_a, lora_b = self.take(f"{name}{LORA}0.lora_A"), self.take(f"{name}{LORA}0.lora_B")
        if adapter is None:  # the real model runs without an adapter: nothing to merge
            return weight
        if embedding:  # W + A @ B * scaling, (num_embeddings, rank) @ (rank, dim)
            return weight.addmm_(lora_a[adapter], lora_b[adapter], alpha=lora_scaling)
        return weight.addmm_(lora_b[adapter], lora_a[adapter], alpha=lora_scaling)  # W + B @ A * scaling


def _convert_state_dict(tensors: _Tensors, config: JClipConfig, adapter: int | None, lora_scaling: float) -> dict:
    """Map a jina-clip-v2 checkpoint onto :class:`JClipModel`'s state dict (keys as ``JClipModel.state_dict()``).

    Args:
        tensors: the checkpoint, read through ``_Tensors`` so that every key is used once.
        config: the target geometry (:func:`jclip_config_from_jina`).
        adapter: index of the LoRA adapter the real model applies (``default_lora_task``), or None.
        lora_scaling: ``lora_alpha / lora_rank`` (modeling_lora.py's ``scaling``).
    """
    out: dict[str, torch.Tensor] = {}

    def copy(lab: str, real: str) -> None:  # weight and bias of a norm or a plain linear layer
        for kind in ("weight", "bias"):
            out[f"{lab}.{kind}"] = tensors.take(f"{real}.{kind}")

    word = tensors.merged(f"{TEXT}embeddings.word_embeddings", adapter, lora_scaling, embedding=True)
    token_type = tensors.merged(f"{TEXT}embeddings.token_type_embeddings", adapter, lora_scaling, embedding=True)
    out["text.embed_tokens.weight"] = word.add_(token_type[0])  # every token has type 0: fold its row in
    copy("text.embed_norm", f"{TEXT}emb_ln")
    for i in range(config.text_layers):
        real, lab = f"{TEXT}encoder.layers.{i}.", f"text.blocks.{i}."
        out[lab + "attention.qkv.weight"] = tensors.merged(real + "mixer.Wqkv", adapter, lora_scaling)
        biases = tensors.take(real + "mixer.Wqkv.bias").chunk(3)  # Wqkv = cat([Wq, Wk, Wv]), one bias
        for name, bias in zip(("q_bias", "k_bias", "v_bias"), biases, strict=True):
            out[f"{lab}attention.{name}"] = bias.clone()  # own storage: the parameters must not share memory
        for lab_name, real_name in (
            ("attention.proj", "mixer.out_proj"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        ):
            out[f"{lab}{lab_name}.weight"] = tensors.merged(real + real_name, adapter, lora_scaling)
            out[f"{lab}{lab_name}.bias"] = tensors.take(f"{real}{real_name}.bias")
        copy(lab + "norm1", real + "norm1")  # post-LN: norm1(x + attention(x)), norm2(x + mlp(x))
        copy(lab + "norm2", real + "norm2")

    head_dim = config.vision_width // config.vision_heads
    rows = (torch.arange(config.vision_heads)[:, None] * head_dim + interleaved_to_half_split(head_dim)).reshape(-1)
    out["vision.patch_embed.weight"] = tensors.take(f"{VISION}patch_embed.proj.weight")
    out["vision.patch_embed.bias"] = tensors.take(f"{VISION}patch_embed.proj.bias")
    out["vision.cls_token"] = tensors.take(f"{VISION}cls_token")
    out["vision.pos_embed"] = tensors.take(f"{VISION}pos_embed")
    for i in range(config.vision_layers):
        real, lab = f"{VISION}blocks.{i}.", f"vision.blocks.{i}."
        q, k, v = (tensors.take(f"{real}attn.{name}.weight") for name in ("q_proj", "k_proj", "v_proj"))
        out[lab + "attention.qkv.weight"] = torch.cat([q[rows], k[rows], v])  # interleaved RoPE -> split halves
        out[lab + "attention.q_bias"] = tensors.take(real + "attn.q_bias")[rows]
        out[lab + "attention.v_bias"] = tensors.take(real + "attn.v_bias")
        for lab_name, real_name in (
            ("norm1", "norm1"),
            ("attention.norm", "attn.inner_attn_ln"),
            ("attention.proj", "attn.proj"),
            ("norm2", "norm2"),
            ("mlp.w1", "mlp.w1"),
            ("mlp.w2", "mlp.w2"),
            ("mlp.norm", "mlp.ffn_ln"),
            ("mlp.w3", "mlp.w3"),
        ):
            copy(lab + lab_name, real + real_name)
    copy("vision.norm", f"{VISION}norm")
    return out


def load_tokenizer(
    path: str | os.PathLike, pad_token_id: int = 1, max_length: int = ENCODE_TEXT_MAX_LENGTH
) -> PreTrainedTokenizerFast:
    """XLM-R's fast tokenizer from a ``tokenizer.json`` (no remote code runs), padding with ``<pad>``.

    Args:
        path: the ``tokenizer.json``.
        pad_token_id: the id the model treats as padding (jina-clip-v2 masks ``input_ids != 1``).
        max_length: the tokenizer's ``model_max_length`` (``encode_text`` truncates there: 512).

    Raises:
        ValueError: if ``<pad>`` is not token ``pad_token_id``.

    Example:
        >>> import tempfile
        >>> from jclip_lab.tokenizer import train_tokenizer
        >>> path = Path(tempfile.mkdtemp()) / "tokenizer.json"
        >>> train_tokenizer(["a red circle", "un círculo rojo"] * 5, vocab_size=40).backend_tokenizer.save(str(path))
        >>> tokenizer = load_tokenizer(path)
        >>> tokenizer.pad_token, tokenizer.pad_token_id, tokenizer("a red circle")["input_ids"][0]  # <s> first
        ('<pad>', 1, 0)
    """
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path), model_max_length=max_length)
    specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}  # fmt: skip
    tokenizer.add_special_tokens({key: token for key, token in specials.items() if token in tokenizer.get_vocab()})
    if tokenizer.pad_token_id != pad_token_id:
        raise ValueError(
            f"The tokenizer's <pad> is token {tokenizer.pad_token_id}, but the model masks padding as token "
            f"{pad_token_id}; this tokenizer.json does not belong to the checkpoint."
        )
    return tokenizer


def _load_jina_clip_v2(
    repo_or_path: str | os.PathLike = JINA_CLIP_V2_REPO,
    revision: str = JINA_CLIP_V2_REVISION,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
) -> JClipModel:
    """The body of :meth:`JClipModel.from_jina_clip_v2` (see there)."""
    from jclip_lab.models.model import JClipModel

    files = _checkpoint_files(repo_or_path, revision, cache_dir, local_files_only)
    print(LICENCE_NOTICE)
    jina_config = _read_json(files["config.json"])
    settings = text_settings(jina_config)
    with safe_open(files["model.safetensors"], framework="pt") as handle:
        shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
        config = jclip_config_from_jina(jina_config, _read_json(files["preprocessor_config.json"]), shapes)
        adapters = settings.get("lora_adaptations") or ["retrieval.query"]
        task = jina_config["text_config"].get("default_lora_task")
        if task is not None and task not in adapters:
            raise ValueError(f"default_lora_task {task!r} is not one of the adapters {adapters}.")
        rank = settings["lora_rank"]
        _check_inventory(shapes, checkpoint_inventory(config, lora_rank=rank, num_adapters=len(adapters)))
        tensors = _Tensors(handle)
        adapter = None if task is None else adapters.index(task)
        state = _convert_state_dict(tensors, config, adapter, lora_scaling=settings["lora_alpha"] / rank)
        if "logit_scale" in shapes:  # the published checkpoint does not store it: CLIP's initial value stands in
            state["logit_scale"] = tensors.take("logit_scale").reshape(())
        else:
            state["logit_scale"] = torch.tensor(config.logit_scale_init)
        unused = sorted(set(shapes) - tensors.used)
        if unused:
            raise RuntimeError(f"Keys left unused by the mapping: {unused[:5]}.")
    with torch.device("meta"):
        model = JClipModel(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.set_tokenizer(load_tokenizer(files["tokenizer.json"], settings["pad_token_id"], config.max_text_length))
    return model.eval()
