"""An independent forward pass of jina-clip-v2, written from the equations of its published code, for parity tests.

It runs on the raw state dict of a real-format checkpoint and keeps the original's conventions as they are: LoRA as
separate matrices applied at run time, the token-type row added, RoPE on split halves with base 20000 in the text
tower (flash_attn's ``apply_rotary_emb_torch``, non-interleaved) and on interleaved pairs with positions scaled to
EVA02's 16 x 16 pre-training grid in the vision tower (``rope_embeddings.py``), post-LN text blocks
(``modeling_xlm_roberta.py``, ``prenorm=False``), padding masked with -10000 as the non-flash path does, mean
pooling without a clamp (``hf_model.py``), EVA02's pre-LN blocks with ``inner_attn_ln`` and ``ffn_ln``
(``eva_model.py``), shortest-side bicubic resize and centre crop with torchvision's rounding (``transform.py``).
Nothing is imported from ``jclip_lab.models``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tokenizers import Tokenizer

TEXT = "text_model.transformer.roberta."
VISION = "vision_model."
LORA = ".parametrizations.weight."
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class JinaReference:
    """jina-clip-v2's ``encode_text`` / ``encode_image`` on the raw tensors of a checkpoint folder."""

    def __init__(self, folder: Path):
        from safetensors.torch import load_file

        self.state = {key: value.float() for key, value in load_file(folder / "model.safetensors").items()}
        self.config = json.loads((folder / "config.json").read_text())
        self.preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        text_config = self.config["text_config"]
        kwargs = text_config["hf_model_config_kwargs"]
        self.heads = kwargs.get("num_attention_heads", 16)  # jina-embeddings-v3's config.json: 16
        self.rope_base = kwargs.get("rotary_emb_base", 20000.0)  # jina-embeddings-v3's config.json: 20000
        self.text_eps = kwargs.get("layer_norm_eps", 1e-5)
        self.lora_scale = kwargs["lora_alpha"] / kwargs["lora_rank"]
        self.adapter = kwargs["lora_adaptations"].index(text_config["default_lora_task"])
        self.instructions = kwargs["task_instructions"]
        self.pad_id = 1
        self.max_length = 512  # modeling_clip.py, encode_text

    # --- text ------------------------------------------------------------------------------------------------

    def _lora_linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """``F.linear`` with the LoRA adapter kept apart: ``x W^T + ((x A^T) B^T) * scale + b``."""
        s, t = self.state, self.adapter
        base = F.linear(x, s[name + LORA + "original"], s[name + ".bias"])
        low_rank = F.linear(F.linear(x, s[name + LORA + "0.lora_A"][t]), s[name + LORA + "0.lora_B"][t])
        return base + low_rank * self.lora_scale

    def _lora_embedding(self, ids: torch.Tensor, name: str) -> torch.Tensor:
        """``W[ids] + (A[ids] @ B) * scale``."""
        s, t = self.state, self.adapter
        a, b = s[name + LORA + "0.lora_A"][t], s[name + LORA + "0.lora_B"][t]
        return s[name + LORA + "original"][ids] + (a[ids] @ b) * self.lora_scale

    def _rotary(self, x: torch.Tensor) -> torch.Tensor:
        """Non-interleaved RoPE on ``(B, L, H, D)``: halves ``x1, x2`` -> ``(x1 cos - x2 sin, x2 cos + x1 sin)``."""
        length, dim = x.shape[1], x.shape[-1]
        inv_freq = 1.0 / (self.rope_base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        freqs = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
        cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]
        x1, x2 = x[..., : dim // 2], x[..., dim // 2 :]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def text_features(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Mean-pooled final token states ``(B, width)`` of a padded batch of ids (padding = id 1)."""
        s, eps = self.state, self.text_eps
        mask = (input_ids != self.pad_id).float()
        x = self._lora_embedding(input_ids, TEXT + "embeddings.word_embeddings")
        x = x + self._lora_embedding(torch.zeros_like(input_ids), TEXT + "embeddings.token_type_embeddings")
        width = x.shape[-1]
        x = F.layer_norm(x, (width,), s[TEXT + "emb_ln.weight"], s[TEXT + "emb_ln.bias"], eps)
        layer = 0
        while f"{TEXT}encoder.layers.{layer}.norm1.weight" in s:
            p = f"{TEXT}encoder.layers.{layer}."
            batch, length, _ = x.shape
            qkv = self._lora_linear(x, p + "mixer.Wqkv").view(batch, length, 3, self.heads, -1)
            q, k, v = self._rotary(qkv[:, :, 0]), self._rotary(qkv[:, :, 1]), qkv[:, :, 2]
            scores = torch.einsum("bthd,bshd->bhts", q, k) / q.shape[-1] ** 0.5
            scores = scores + ((1.0 - mask) * -10000.0)[:, None, None, :]
            attended = torch.einsum("bhts,bshd->bthd", scores.softmax(dim=-1), v).reshape(batch, length, width)
            x = F.layer_norm(x + self._lora_linear(attended, p + "mixer.out_proj"), (width,),
                             s[p + "norm1.weight"], s[p + "norm1.bias"], eps)  # fmt: skip
            hidden = F.gelu(self._lora_linear(x, p + "mlp.fc1"), approximate="none")
            x = F.layer_norm(x + self._lora_linear(hidden, p + "mlp.fc2"), (width,),
                             s[p + "norm2.weight"], s[p + "norm2.bias"], eps)  # fmt: skip
            layer += 1
        return (x * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """Ids padded on the right with id 1, truncated at 512 tokens (``</s>`` kept last)."""
        rows = []
        for text in texts:
            ids = self.tokenizer.encode(text).ids
            rows.append(ids if len(ids) <= self.max_length else ids[: self.max_length - 1] + ids[-1:])
        longest = max(len(row) for row in rows)
        return torch.tensor([row + [self.pad_id] * (longest - len(row)) for row in rows])

    def encode_text(self, texts: list[str], task: str | None = None, truncate_dim: int | None = None) -> np.ndarray:
        prefix = "" if task is None else self.instructions[task]
        features = self.text_features(self.tokenize([prefix + text for text in texts]))[:, :truncate_dim]
        return F.normalize(features, dim=-1).numpy()

    # --- vision ----------------------------------------------------------------------------------------------

    def _vision_rope(self, grid: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """EVA02's VisionRotaryEmbeddingFast tables ``(grid*grid, head_dim)``: interleaved, row half then column."""
        dim = head_dim // 2
        freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        t = torch.arange(grid) / grid * self.config["vision_config"]["pt_hw_seq_len"]
        freqs = (t[:, None] * freqs[None, :]).repeat_interleave(2, dim=-1)  # '... n -> ... (n r)', r=2
        table = torch.cat([freqs[:, None, :].expand(grid, grid, dim), freqs[None, :, :].expand(grid, grid, dim)], -1)
        table = table.reshape(grid * grid, head_dim)
        return table.cos(), table.sin()

    @staticmethod
    def _rotate_half_interleaved(x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([-x2, x1], dim=-1).flatten(-2)

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The CLS token's final state ``(B, width)`` of EVA02 on normalised pixels."""
        s, eps, vision = self.state, 1e-6, self.config["vision_config"]
        heads = vision["width"] // vision["head_width"]
        x = F.conv2d(pixels, s[VISION + "patch_embed.proj.weight"], s[VISION + "patch_embed.proj.bias"],
                     stride=vision["patch_size"])  # fmt: skip
        grid = x.shape[-1]
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([s[VISION + "cls_token"].expand(x.shape[0], -1, -1), x], dim=1) + s[VISION + "pos_embed"]
        cos, sin = self._vision_rope(grid, vision["head_width"])
        batch, tokens, width = x.shape
        block = 0
        while f"{VISION}blocks.{block}.norm1.weight" in s:
            p = f"{VISION}blocks.{block}."
            h = F.layer_norm(x, (width,), s[p + "norm1.weight"], s[p + "norm1.bias"], eps)
            q = F.linear(h, s[p + "attn.q_proj.weight"], s[p + "attn.q_bias"])
            k = F.linear(h, s[p + "attn.k_proj.weight"])
            v = F.linear(h, s[p + "attn.v_proj.weight"], s[p + "attn.v_bias"])
            q, k, v = (t.reshape(batch, tokens, heads, -1).permute(0, 2, 1, 3) for t in (q, k, v))
            q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + self._rotate_half_interleaved(q[:, :, 1:]) * sin], dim=2)
            k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + self._rotate_half_interleaved(k[:, :, 1:]) * sin], dim=2)
            attention = ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            out = (attention @ v).transpose(1, 2).reshape(batch, tokens, width)
            out = F.layer_norm(out, (width,), s[p + "attn.inner_attn_ln.weight"], s[p + "attn.inner_attn_ln.bias"], eps)
            x = x + F.linear(out, s[p + "attn.proj.weight"], s[p + "attn.proj.bias"])
            h = F.layer_norm(x, (width,), s[p + "norm2.weight"], s[p + "norm2.bias"], eps)
            hidden = F.silu(F.linear(h, s[p + "mlp.w1.weight"], s[p + "mlp.w1.bias"])) * F.linear(
                h, s[p + "mlp.w2.weight"], s[p + "mlp.w2.bias"]
            )
            hidden = F.layer_norm(hidden, hidden.shape[-1:], s[p + "mlp.ffn_ln.weight"], s[p + "mlp.ffn_ln.bias"], eps)
            x = x + F.linear(hidden, s[p + "mlp.w3.weight"], s[p + "mlp.w3.bias"])
            block += 1
        return F.layer_norm(x, (width,), s[VISION + "norm.weight"], s[VISION + "norm.bias"], eps)[:, 0]

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """torchvision's ``Resize(size)`` (shortest side, bicubic), ``CenterCrop(size)``, RGB, normalise."""
        size = self.preprocessor["size"]
        width, height = image.size
        if width <= height:
            new_width, new_height = size, int(size * height / width)
        else:
            new_width, new_height = int(size * width / height), size
        image = image.resize((new_width, new_height), Image.Resampling.BICUBIC)
        top, left = int(round((new_height - size) / 2.0)), int(round((new_width - size) / 2.0))
        image = image.crop((left, top, left + size, top + size)).convert("RGB")
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.preprocessor["mean"] or OPENAI_MEAN)[:, None, None]
        std = torch.tensor(self.preprocessor["std"] or OPENAI_STD)[:, None, None]
        return (pixels - mean) / std

    def encode_image(self, images: list[Image.Image], truncate_dim: int | None = None) -> np.ndarray:
        pixels = torch.stack([self.preprocess(image) for image in images])
        return F.normalize(self.image_features(pixels)[:, :truncate_dim], dim=-1).numpy()
