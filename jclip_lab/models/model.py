"""``JClipModel``: a text and a vision tower projected into one embedding space, with jina-clip-v2's API.

Both towers end in a linear projection to ``embed_dim`` dimensions (or, as in the real jina-clip-v2, in none:
``add_projections=False``). ``get_text_features`` /
``get_image_features`` return the projected, *unnormalised* features that training needs (the Matryoshka loss
slices before normalising); ``encode_text`` / ``encode_image`` are the inference API of jina-clip-v2 (batches,
task prefixes, ``truncate_dim``, L2-normalised numpy output). The model subclasses
``transformers.PreTrainedModel`` so ``save_pretrained`` / ``from_pretrained`` store it as safetensors,
together with its tokenizer; after ``import jclip_lab``, ``transformers.AutoConfig`` and ``AutoModel`` load such a
folder too (model type ``jclip``). ``JClipModel.from_jina_clip_v2`` loads the real jina-clip-v2 weights into it.

Example:
    >>> import torch
    >>> model = JClipModel(config_preset("tiny", vocab_size=100))
    >>> model.get_image_features(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerFast
from transformers.utils import ModelOutput

from jclip_lab.models.config import JClipConfig, check_same_architecture, config_preset
from jclip_lab.models.jina_clip_v2 import JINA_CLIP_V2_REPO, JINA_CLIP_V2_REVISION, _load_jina_clip_v2
from jclip_lab.models.layers import Attention
from jclip_lab.models.preprocess import ACCEPTED_IMAGES, IMAGE_TYPES, ImageInput, check_image_size, images_to_tensor
from jclip_lab.models.saved import check_folder, check_saved_model, quiet_transformers
from jclip_lab.models.text import TextTower
from jclip_lab.models.vision import VisionTower

TOKENIZER_FILE = "tokenizer.json"


@dataclass
class JClipOutput(ModelOutput):
    """What :meth:`JClipModel.forward` returns.

    Attributes:
        text_embeds: unnormalised projected text features ``(B, embed_dim)``, or None without text input.
        image_embeds: unnormalised projected image features ``(B, embed_dim)``, or None without image input.
        scale: ``exp(logit_scale)``, the learned inverse temperature of the image-text loss, a scalar.
    """

    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    scale: torch.Tensor | None = None


class JClipModel(PreTrainedModel):
    """A jina-clip-v2-like dual encoder: a RoPE text tower, an EVA02-style vision tower, two projections.

    Args:
        config: the sizes (see :func:`~jclip_lab.models.config_preset`).
        tokenizer: optional tokenizer for ``encode_text``; saved and loaded with the model.

    Example:
        >>> model = JClipModel(config_preset("tiny", vocab_size=100))
        >>> ids = torch.randint(0, 100, (3, 8))
        >>> pixels = torch.randn(3, 3, 32, 32)
        >>> out = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels)
        >>> out.text_embeds.shape, out.image_embeds.shape, round(out.scale.item(), 2)
        (torch.Size([3, 128]), torch.Size([3, 128]), 14.29)
    """

    config_class = JClipConfig
    base_model_prefix = "jclip"

    def __init__(self, config: JClipConfig, tokenizer: PreTrainedTokenizerFast | None = None):
        super().__init__(config)
        self.text = TextTower(
            vocab_size=config.vocab_size,
            width=config.text_width,
            num_layers=config.text_layers,
            num_heads=config.text_heads,
            mlp_hidden_dim=config.text_mlp_hidden_dim,
            rope_theta=config.text_rope_theta,
            eps=config.text_norm_eps,
            post_norm=config.text_post_norm,
        )
        self.vision = VisionTower(
            patch_size=config.patch_size,
            width=config.vision_width,
            num_layers=config.vision_layers,
            num_heads=config.vision_heads,
            mlp_hidden_dim=config.vision_mlp_hidden_dim,
            patch_dropout=config.patch_dropout,
            rope_theta=config.vision_rope_theta,
            num_channels=config.num_channels,
            eps=config.vision_norm_eps,
            pos_embed_grid=config.vision_grid if config.vision_pos_embed else None,
            rope_reference_grid=config.vision_rope_reference_grid,
        )
        # jina-clip-v2 has no projections (add_projections=False): its towers are already 1024 wide.
        self.text_projection, self.vision_projection = nn.Identity(), nn.Identity()
        if config.add_projections:
            self.text_projection = nn.Linear(config.text_width, config.embed_dim, bias=False)
            self.vision_projection = nn.Linear(config.vision_width, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init))
        self.tokenizer: PreTrainedTokenizerFast | None = None
        if tokenizer is not None:
            self.set_tokenizer(tokenizer)
        self.post_init()

    @classmethod
    def from_preset(cls, name: str, tokenizer: PreTrainedTokenizerFast | None = None, **overrides: Any) -> JClipModel:
        """A freshly initialised model from a preset; with a tokenizer, ``vocab_size`` is ``len(tokenizer)``.

        Example:
            >>> JClipModel.from_preset("tiny", vocab_size=100).config.vocab_size
            100
        """
        if tokenizer is not None:
            overrides.setdefault("vocab_size", len(tokenizer))
        return cls(config_preset(name, **overrides), tokenizer=tokenizer)

    @classmethod
    def from_jina_clip_v2(
        cls,
        repo_or_path: str | os.PathLike = JINA_CLIP_V2_REPO,
        revision: str = JINA_CLIP_V2_REVISION,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
    ) -> JClipModel:
        """The real jina-clip-v2, loaded into the lab's own towers (no remote code, no pickle), in eval mode.

        Downloads only ``config.json``, ``preprocessor_config.json``, ``tokenizer.json`` and ``model.safetensors``
        (1.7 GB) of ``jinaai/jina-clip-v2`` at a pinned commit into the Hugging Face cache, or reads them from a
        local folder or from the cache alone (``HF_HUB_OFFLINE=1``). Every stored tensor is mapped onto the lab's
        ``JClipModel``: the text tower's LoRA adapter merged, the token-type row folded in, the vision q/k rows
        reordered for the lab's RoPE layout, everything in fp32 (:mod:`jclip_lab.models.jina_clip_v2` explains
        each step). ``encode_text(task="retrieval.query")`` prefixes the real model's query instruction; tasks the
        real model lacks are refused. The weights are Jina AI's, licensed CC BY-NC 4.0 (non-commercial use); a
        one-line notice says so when they load.

        Args:
            repo_or_path: a hub repository id, or a folder holding the four files.
            revision: the commit to download (default: the one MTEB pins; see ``JINA_CLIP_V2_REVISION``).
            cache_dir: the Hugging Face cache to use (default: ``HF_HUB_CACHE``).
            local_files_only: use the cache only, never the network (as ``HF_HUB_OFFLINE=1`` does).

        Raises:
            FileNotFoundError: a file is missing from the folder, or from the cache while offline.
            KeyError: the checkpoint lacks a key the lab expects, or holds one it does not know (both named).
            ValueError: a tensor of the wrong shape or dtype, or a feature the lab's towers do not implement.

        Example:
            >>> JClipModel.from_jina_clip_v2("/no/such/folder")  # the tests load a small fake in the real format
            Traceback (most recent call last):
            ...
            FileNotFoundError: No folder /no/such/folder; pass a folder holding ['config.json', ...] or a hub ...
        """
        return _load_jina_clip_v2(repo_or_path, revision, cache_dir, local_files_only)

    def set_tokenizer(self, tokenizer: PreTrainedTokenizerFast) -> None:
        """Attach the tokenizer ``encode_text`` uses (and ``save_pretrained`` saves).

        Raises:
            ValueError: if it has no padding token, or more tokens than the text tower embeds.

        Example:
            >>> from jclip_lab.tokenizer import train_tokenizer
            >>> tokenizer = train_tokenizer(["a red circle", "un círculo rojo"] * 5, vocab_size=40)
            >>> model = JClipModel(config_preset("tiny", vocab_size=len(tokenizer)))
            >>> model.set_tokenizer(tokenizer)
            >>> model.encode_text("a red circle").shape
            (128,)
        """
        if tokenizer.pad_token is None:
            raise ValueError("The tokenizer has no padding token; set tokenizer.pad_token before attaching it.")
        if len(tokenizer) > self.config.vocab_size:
            raise ValueError(
                f"The tokenizer has {len(tokenizer)} tokens but the text tower embeds only "
                f"vocab_size={self.config.vocab_size}; build the model with vocab_size=len(tokenizer)."
            )
        self.tokenizer = tokenizer

    def _init_weights(self, module: nn.Module) -> None:
        """Initialise a module: normal(0, initializer_range) weights, zero biases, unit LayerNorms, CLIP's scale."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, Attention):
            for bias in (module.q_bias, module.k_bias, module.v_bias):
                if bias is not None:
                    nn.init.zeros_(bias)
        elif isinstance(module, VisionTower):
            nn.init.normal_(module.cls_token, std=std)
            if module.pos_embed is not None:
                nn.init.normal_(module.pos_embed, std=std)
        elif isinstance(module, JClipModel):
            nn.init.constant_(module.logit_scale, self.config.logit_scale_init)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        """Recompute each block's activations during backward instead of storing them (both towers).

        Activation memory falls to about one tensor per block, for about a third more compute; the gradients are
        the same. ``gradient_checkpointing_kwargs`` is accepted for transformers' API and ignored.

        Example:
            >>> model = JClipModel(config_preset("tiny", vocab_size=10))
            >>> model.gradient_checkpointing_enable(); model.text.gradient_checkpointing
            True
        """
        self.text.gradient_checkpointing = self.vision.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        """Store activations again (the default)."""
        self.text.gradient_checkpointing = self.vision.gradient_checkpointing = False

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Projected, unnormalised text features ``(B, embed_dim)``: mean-pooled tokens, then the projection.

        Args:
            input_ids: token ids ``(B, L)``.
            attention_mask: ``(B, L)``, 1 for real tokens and 0 for padding; None means no padding.

        Example:
            >>> model = JClipModel(config_preset("tiny", vocab_size=100))
            >>> model.get_text_features(torch.tensor([[0, 5, 6, 2, 1]]), torch.tensor([[1, 1, 1, 1, 0]])).shape
            torch.Size([1, 128])
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return self.text_projection(self.text(input_ids, attention_mask))

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected, unnormalised image features ``(B, embed_dim)``: the CLS token through the projection.

        Args:
            pixel_values: normalised images ``(B, 3, H, W)``.
        """
        return self.vision_projection(self.vision(pixel_values))

    def get_scale(self) -> torch.Tensor:
        """``exp(logit_scale)``: the learned inverse temperature ``1 / tau`` of the image-text loss.

        The model stores the log of the scale (``logit_scale``) so that the optimizer moves it multiplicatively
        and it stays positive. The trainer clamps the stored ``logit_scale`` to ``[0, config.logit_scale_max]``
        after each step (as open_clip does); the exponent itself is never clamped, since a clamp on a value
        sitting at its cap passes no gradient and would freeze the temperature there.

        Example:
            >>> model = JClipModel(config_preset("tiny", vocab_size=10))
            >>> round(model.get_scale().item(), 2)  # 1 / 0.07
            14.29
        """
        return self.logit_scale.exp()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
    ) -> JClipOutput:
        """Text features, image features (each when its input is given) and the learned scale ``exp(logit_scale)``."""
        return JClipOutput(
            text_embeds=None if input_ids is None else self.get_text_features(input_ids, attention_mask),
            image_embeds=None if pixel_values is None else self.get_image_features(pixel_values),
            scale=self.get_scale(),
        )

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Save config and weights (safetensors) and, if attached, the tokenizer, into ``save_directory``.

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     JClipModel(config_preset("tiny", vocab_size=10)).save_pretrained(folder)
            ...     sorted(os.listdir(folder))
            ['config.json', 'model.safetensors']
        """
        if Path(save_directory).exists() and not Path(save_directory).is_dir():
            raise FileExistsError(f"Cannot save into {save_directory}: it is a file, not a folder.")
        with quiet_transformers():
            super().save_pretrained(save_directory, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *args: Any,
        config: JClipConfig | None = None,
        **kwargs,
    ) -> JClipModel:
        """Load a model saved by :meth:`save_pretrained`, with its tokenizer when the folder holds one.

        The folder is checked before anything loads: it must exist (a lab model is a local folder; download a
        shared one first, e.g. with ``huggingface_hub.snapshot_download``), hold a ``config.json``, and weights
        whose every tensor fits that config.

        Args:
            pretrained_model_name_or_path: the folder ``save_pretrained`` wrote.
            config: load the weights into a model built from this config instead of the saved one; it may
                change fields like ``image_size`` or ``patch_dropout`` but not the architecture.
            *args: passed to ``transformers.PreTrainedModel.from_pretrained``.
            **kwargs: passed to ``transformers.PreTrainedModel.from_pretrained``.

        Raises:
            FileNotFoundError: no such folder, or no config.json or weights in it.
            ValueError: weights that do not fit the config (the tensors are named), a damaged weights or
                tokenizer file (named), or a ``config`` of a different architecture from the saved one (the
                fields are named).

        Example:
            >>> import tempfile
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     JClipModel(config_preset("tiny", vocab_size=10)).save_pretrained(folder)
            ...     JClipModel.from_pretrained(folder).config.vocab_size
            10
        """
        folder = check_folder(pretrained_model_name_or_path)
        saved = JClipConfig.from_pretrained(folder)
        if config is not None:
            check_same_architecture(saved, config)
        check_saved_model(folder, saved)
        with quiet_transformers():
            model = super().from_pretrained(folder, *args, config=config, **kwargs)
        if (folder / TOKENIZER_FILE).is_file():
            try:
                tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
            except Exception as error:
                raise ValueError(f"{folder / TOKENIZER_FILE} is damaged: {str(error).splitlines()[0]}") from error
            model.set_tokenizer(tokenizer)
        return model

    @contextmanager
    def _inference(self, device: torch.device | str | None) -> Iterator[torch.device]:
        """Eval mode and no_grad on ``device`` (default: where the model is); restores the train/eval mode."""
        if device is not None:
            self.to(device)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield self.device
        finally:
            self.train(was_training)

    def _check_truncate_dim(self, truncate_dim: object) -> int | None:
        """``truncate_dim`` as an int (numpy integers too), or None; raise a ValueError unless it is in
        ``1 .. embed_dim``."""
        if truncate_dim is None:
            return None
        embed_dim = self.config.embed_dim
        if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, (int, np.integer)):
            valid = False
        else:
            valid = 1 <= truncate_dim <= embed_dim
        if not valid:
            raise ValueError(
                f"truncate_dim must be an integer in 1..{embed_dim} "
                f"(trained at {self.config.matryoshka_dims}), "
                f"got {truncate_dim!r}."
            )
        return int(truncate_dim)

    @staticmethod
    def _finish(
        features: list[torch.Tensor],
        single: bool,
        convert_to_numpy: bool,
        normalize_embeddings: bool,
        truncate_dim: int | None,
    ) -> np.ndarray | torch.Tensor:
        """Concatenate the batches, keep the first ``truncate_dim`` dims, normalise, unwrap a single input."""
        embeddings = torch.cat(features)[:, :truncate_dim]
        if normalize_embeddings:
            embeddings = F.normalize(embeddings, dim=-1)
        if single:
            embeddings = embeddings[0]
        return embeddings.cpu().numpy() if convert_to_numpy else embeddings

    def encode_text(
        self,
        sentences: str | Sequence[str],
        task: str | None = None,
        batch_size: int = 32,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = True,
        truncate_dim: int | None = None,
        device: torch.device | str | None = None,
        show_progress_bar: bool = False,
    ) -> np.ndarray | torch.Tensor:
        """Embed texts, as jina-clip-v2's ``encode_text``: ``(N, dim)``, or ``(dim,)`` for a single string.

        Args:
            sentences: a string or a list of strings.
            task: a key of ``config.task_instructions`` (``"retrieval.query"`` prefixes the query instruction,
                ``"retrieval.passage"`` nothing); None adds no prefix.
            batch_size: texts per forward pass.
            convert_to_numpy: return a numpy array (else a torch tensor on the model's device).
            normalize_embeddings: L2-normalise each embedding.
            truncate_dim: keep the first ``truncate_dim`` dims (then re-normalise); any value in
                ``1..embed_dim`` works, but quality is only trained at ``config.matryoshka_dims``.
            device: move the model there first; default: where it is.
            show_progress_bar: show a tqdm progress bar over batches.

        Raises:
            ValueError: no tokenizer attached, no sentences, an empty or whitespace-only sentence or one that is not
                valid Unicode (a lone surrogate; its index is named), an unknown task, ``batch_size`` below 1, or
                ``truncate_dim`` outside ``1..embed_dim``.
            TypeError: ``sentences`` not a string or a list of strings (e.g. None, bytes, a number).

        Example:
            >>> from jclip_lab.tokenizer import train_tokenizer
            >>> tokenizer = train_tokenizer(["a red circle", "un círculo rojo"] * 5, vocab_size=40)
            >>> model = JClipModel.from_preset("tiny", tokenizer=tokenizer)
            >>> model.encode_text(["a red circle", "un círculo rojo"], task="retrieval.query", truncate_dim=32).shape
            (2, 32)
        """
        if self.tokenizer is None:
            raise ValueError("encode_text needs a tokenizer: call model.set_tokenizer(tokenizer) first.")
        single = isinstance(sentences, str)
        texts = [sentences] if single else _as_list(sentences, "sentences", "a string or a list of strings")
        if not texts:
            raise ValueError("encode_text got an empty list of sentences.")
        for index, text in enumerate(texts):
            _check_text(text, f"sentences[{index}]")
        if task is not None and task not in self.config.task_instructions:
            raise ValueError(f"Unknown task {task!r}; choose one of {list(self.config.task_instructions)} or None.")
        truncate_dim = self._check_truncate_dim(truncate_dim)
        _check_batch_size(batch_size)
        prefix = self.config.task_instructions[task] if task is not None else ""
        # Batch texts of similar length together (as sentence-transformers does): less padding, same embeddings.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        texts = [texts[i] for i in order]
        features = []
        with self._inference(device) as model_device:
            for start in tqdm(range(0, len(texts), batch_size), desc="encode_text", disable=not show_progress_bar):
                batch = self.tokenizer(
                    [prefix + text for text in texts[start : start + batch_size]],
                    padding=True,
                    truncation=True,
                    max_length=self.config.max_text_length,
                    return_tensors="pt",
                )
                features.append(
                    self.get_text_features(
                        batch["input_ids"].to(model_device), batch["attention_mask"].to(model_device)
                    )
                )
        unsorted = torch.empty_like(torch.cat(features))
        unsorted[order] = torch.cat(features)
        return self._finish([unsorted], single, convert_to_numpy, normalize_embeddings, truncate_dim)

    def encode_image(
        self,
        images: ImageInput | Sequence[ImageInput],
        batch_size: int = 32,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = True,
        truncate_dim: int | None = None,
        device: torch.device | str | None = None,
        image_size: int | None = None,
        show_progress_bar: bool = False,
    ) -> np.ndarray | torch.Tensor:
        """Embed images, as jina-clip-v2's ``encode_image``: ``(N, dim)``, or ``(dim,)`` for a single image.

        Args:
            images: one image or a list: PIL images (any mode, turned upright by their EXIF orientation), numpy
                uint8 arrays (HxW, HxWx3, HxWx4), paths, http(s) URLs (fetched with a timeout) or data: URIs.
            batch_size: images per forward pass.
            convert_to_numpy: return a numpy array (else a torch tensor on the model's device).
            normalize_embeddings: L2-normalise each embedding.
            truncate_dim: keep the first ``truncate_dim`` dims (then re-normalise); any value in
                ``1..embed_dim`` works, but quality is only trained at ``config.matryoshka_dims``.
            device: move the model there first; default: where it is.
            image_size: side the images are resized to (bicubic); default ``config.image_size``.
            show_progress_bar: show a tqdm progress bar over batches.

        Raises:
            ValueError: no images, an empty (0-pixel) or unreadable image (its index and path are named),
                ``batch_size`` or ``image_size`` below 1, or ``truncate_dim`` outside ``1..embed_dim``.
            TypeError: an image of an unsupported type (the message names it and the accepted ones).
            FileNotFoundError: a path with no file (its index is named).

        Example:
            >>> from PIL import Image
            >>> model = JClipModel(config_preset("tiny", vocab_size=10))
            >>> model.encode_image(Image.new("L", (50, 40)), truncate_dim=64).shape
            (64,)
        """
        single = isinstance(images, IMAGE_TYPES)
        images = [images] if single else _as_list(images, "images", f"{ACCEPTED_IMAGES}, or a list of them")
        if not images:
            raise ValueError("encode_image got an empty list of images.")
        truncate_dim = self._check_truncate_dim(truncate_dim)
        _check_batch_size(batch_size)
        image_size = check_image_size(self.config.image_size if image_size is None else image_size)
        features = []
        with self._inference(device) as model_device:
            for start in tqdm(range(0, len(images), batch_size), desc="encode_image", disable=not show_progress_bar):
                pixels = images_to_tensor(
                    images[start : start + batch_size],
                    image_size,
                    self.config.image_mean,
                    self.config.image_std,
                    self.config.resize_mode,
                )
                features.append(self.get_image_features(pixels.to(model_device)))
        return self._finish(features, single, convert_to_numpy, normalize_embeddings, truncate_dim)


def count_parameters(model: JClipModel) -> dict[str, int]:
    """Parameters per part: ``text`` tower, ``vision`` tower, the two ``projection`` layers and the ``total``.

    The total also counts the one ``logit_scale``. Works on a model built on the meta device (no memory used).

    Example:
        >>> with torch.device("meta"):
        ...     model = JClipModel(config_preset("jina-clip-v2"))
        >>> round(count_parameters(model)["total"] / 1e6)
        863
    """
    return {
        "text": sum(p.numel() for p in model.text.parameters()),
        "vision": sum(p.numel() for p in model.vision.parameters()),
        "projection": sum(
            p.numel() for layer in (model.text_projection, model.vision_projection) for p in layer.parameters()
        ),
        "total": sum(p.numel() for p in model.parameters()),
    }


def _as_list(values: object, name: str, accepted: str) -> list:
    """``values`` as a list, or a TypeError naming the parameter and what it accepts (None, numbers, bytes...)."""
    if isinstance(values, (bytes, bytearray, dict)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be {accepted}; got {type(values).__name__}.")
    return list(values)


def _check_text(text: object, name: str) -> None:
    """Raise unless ``text`` is a non-blank string of valid Unicode (no lone surrogates)."""
    if not isinstance(text, str):
        raise TypeError(f"{name} is a {type(text).__name__}, expected str.")
    if not text.strip():
        raise ValueError(f"{name} is empty or whitespace-only; it has nothing to embed.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{name} is not valid Unicode: {text[error.start : error.end]!r} at position {error.start} is a lone "
            "surrogate (often from bytes decoded with errors='surrogateescape'); decode with errors='replace'."
        ) from None


def _check_batch_size(batch_size: object) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
