"""``JClipConfig``: every size and hyperparameter of a jina-clip-v2-like model, and the named presets.

The presets go from ``tiny`` (trains in minutes on a laptop CPU) to ``jina-clip-v2`` (the real geometry: build
it on the meta device to count its 865M parameters without allocating them).

Example:
    >>> config = config_preset("tiny", vocab_size=4000)
    >>> config.embed_dim, config.matryoshka_dims
    (128, (16, 32, 64, 128))
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from transformers import PretrainedConfig

from jclip_lab.profiles import PROFILES

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

JINA_CLIP_V2_TASK_INSTRUCTIONS = {
    "retrieval.query": "Represent the query for retrieving evidence documents: ",
    "retrieval.passage": "",
}

# The fields that shape the weights: two configs that differ in one of them cannot share a checkpoint.
ARCHITECTURE_FIELDS = (
    "vocab_size",
    "text_width",
    "text_layers",
    "text_heads",
    "text_mlp_ratio",
    "vision_width",
    "vision_layers",
    "vision_heads",
    "vision_mlp_ratio",
    "patch_size",
    "num_channels",
    "embed_dim",
    "text_post_norm",
    "vision_pos_embed",
    "add_projections",
)
RESIZE_MODES = ("squash", "shortest")


class JClipConfig(PretrainedConfig):
    """Configuration of :class:`~jclip_lab.models.JClipModel`; the defaults are the ``tiny`` preset.

    Args:
        vocab_size: token ids the text tower embeds, ``len(tokenizer)`` (default: the tiny profile's).
        text_width: width of the text tower.
        text_layers: blocks in the text tower.
        text_heads: attention heads in the text tower.
        text_mlp_ratio: GELU MLP hidden width over ``text_width`` (XLM-R: 4).
        text_rope_theta: RoPE base of the text tower.
        max_text_length: tokens kept per text by ``encode_text`` (jina-clip-v2's ``encode_text`` truncates at 512,
            although its RoPE text tower reads 8192).
        vision_width: width of the vision tower.
        vision_layers: blocks in the vision tower.
        vision_heads: attention heads in the vision tower.
        vision_mlp_ratio: SwiGLU hidden width over ``vision_width`` (EVA02: 2.6667).
        vision_rope_theta: RoPE base of the vision tower.
        patch_size: side of an image patch in pixels.
        image_size: side of the (square) images ``encode_image`` resizes to; the tower itself takes any size
            (pixels past the last whole patch are ignored: 512 px in 14 px patches is a 36 x 36 grid).
        num_channels: image channels (3, RGB).
        patch_dropout: fraction of patch tokens dropped while training (jina-clip-v2: 0.1).
        image_mean: per-channel mean used to normalise pixels (OpenAI CLIP's).
        image_std: per-channel standard deviation used to normalise pixels (OpenAI CLIP's).
        embed_dim: size of the shared embedding space both towers project into.
        matryoshka_dims: the prefix sizes the Matryoshka loss trains, ascending, the last one ``embed_dim``.
        logit_scale_init: initial value of the learned ``logit_scale`` (ln(1/0.07) = 2.6592, as CLIP).
        logit_scale_max: the largest ``logit_scale`` the trainer allows, ln(100) = 4.6052 (a scale of 100, as
            open_clip).
        text_temperature: fixed temperature of the text-pair InfoNCE loss (0.05, as Jina's training code).
        task_instructions: prefixes ``encode_text(task=...)`` puts before each text.
        layer_norm_eps: LayerNorm epsilon.
        initializer_range: standard deviation of the random initial weights.
        text_post_norm: XLM-R's post-LN text blocks (``norm(x + branch(x))``, a LayerNorm after the embeddings and
            none at the end), as jina-clip-v2 inherits them; the tiny presets keep pre-LN blocks, which train more
            stably from scratch.
        text_layer_norm_eps: LayerNorm epsilon of the text tower; None: ``layer_norm_eps`` (jina-clip-v2: 1e-5).
        vision_layer_norm_eps: LayerNorm epsilon of the vision tower; None: ``layer_norm_eps`` (jina-clip-v2's EVA02
            uses 1e-6).
        vision_pos_embed: add a learned position embedding (one row for the CLS token and one per patch) to the
            vision tokens, alongside 2-D RoPE, as EVA02 does. It is never interpolated, so it fixes the grid to
            ``image_size // patch_size``; the tiny presets rely on RoPE alone and run at any resolution.
        vision_rope_reference_grid: scale the 2-D RoPE positions of a ``G x G`` grid to ``arange(G) / G * ref``, as
            EVA02 does with its pre-training grid ``pt_hw_seq_len`` = 16 (jina-clip-v2's 36 x 36 patches turn as
            if they were on a 16 x 16 grid); None keeps integer positions (the tiny presets).
        add_projections: end both towers in a linear projection to ``embed_dim``; jina-clip-v2 has none (its
            towers are 1024 wide and ``embed_dim`` is 1024), which needs ``embed_dim == text_width ==
            vision_width``.
        resize_mode: how ``encode_image`` sizes images: ``"squash"`` (bicubic resize of the whole image to a square,
            the tiny presets, so nothing at the borders of a chart is lost) or ``"shortest"`` (bicubic resize of the
            shortest side, then a centre crop, as jina-clip-v2's preprocessor does).
        **kwargs: passed to ``transformers.PretrainedConfig``.

    Example:
        >>> config = JClipConfig(text_layers=1)
        >>> config.text_layers, round(config.logit_scale_init, 4)
        (1, 2.6593)
    """

    model_type = "jclip"

    def __init__(
        self,
        vocab_size: int = PROFILES["tiny"].vocab_size,
        text_width: int = 128,
        text_layers: int = 2,
        text_heads: int = 4,
        text_mlp_ratio: float = 4.0,
        text_rope_theta: float = 10000.0,
        max_text_length: int = 2 * PROFILES["tiny"].max_text_length,
        vision_width: int = 128,
        vision_layers: int = 2,
        vision_heads: int = 4,
        vision_mlp_ratio: float = 2.6667,
        vision_rope_theta: float = 10000.0,
        patch_size: int = 8,
        image_size: int = PROFILES["tiny"].image_size,
        num_channels: int = 3,
        patch_dropout: float = 0.1,
        image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN,
        image_std: tuple[float, ...] = OPENAI_CLIP_STD,
        embed_dim: int = 128,
        matryoshka_dims: tuple[int, ...] = (16, 32, 64, 128),
        logit_scale_init: float = math.log(1 / 0.07),
        logit_scale_max: float = math.log(100),
        text_temperature: float = 0.05,
        task_instructions: dict[str, str] | None = None,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        text_post_norm: bool = False,
        text_layer_norm_eps: float | None = None,
        vision_layer_norm_eps: float | None = None,
        vision_pos_embed: bool = False,
        vision_rope_reference_grid: float | None = None,
        add_projections: bool = True,
        resize_mode: str = "squash",
        **kwargs: Any,
    ):
        self.vocab_size = vocab_size
        self.text_width = text_width
        self.text_layers = text_layers
        self.text_heads = text_heads
        self.text_mlp_ratio = text_mlp_ratio
        self.text_rope_theta = text_rope_theta
        self.max_text_length = max_text_length
        self.vision_width = vision_width
        self.vision_layers = vision_layers
        self.vision_heads = vision_heads
        self.vision_mlp_ratio = vision_mlp_ratio
        self.vision_rope_theta = vision_rope_theta
        self.patch_size = patch_size
        self.image_size = image_size
        self.num_channels = num_channels
        self.patch_dropout = patch_dropout
        self.image_mean = tuple(image_mean)
        self.image_std = tuple(image_std)
        self.embed_dim = embed_dim
        self.matryoshka_dims = tuple(matryoshka_dims)
        self.logit_scale_init = logit_scale_init
        self.logit_scale_max = logit_scale_max
        self.text_temperature = text_temperature
        self.task_instructions = dict(
            JINA_CLIP_V2_TASK_INSTRUCTIONS if task_instructions is None else task_instructions
        )
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        self.text_post_norm = text_post_norm
        self.text_layer_norm_eps = text_layer_norm_eps
        self.vision_layer_norm_eps = vision_layer_norm_eps
        self.vision_pos_embed = vision_pos_embed
        self.vision_rope_reference_grid = vision_rope_reference_grid
        self.add_projections = add_projections
        self.resize_mode = resize_mode
        super().__init__(**kwargs)
        self._check_types()
        self._check_consistent()

    @property
    def text_mlp_hidden_dim(self) -> int:
        """Hidden width of the text tower's GELU MLP (1024 * 4 = 4096 in jina-clip-v2)."""
        return int(self.text_width * self.text_mlp_ratio)

    @property
    def vision_mlp_hidden_dim(self) -> int:
        """Hidden width of the vision tower's SwiGLU MLP (int(1024 * 2.6667) = 2730 in jina-clip-v2)."""
        return int(self.vision_width * self.vision_mlp_ratio)

    def _check_types(self) -> None:
        """Raise a ValueError naming the first field whose value is not of its default's type.

        A hand-edited config.json (``"text_layers": "2"``) would otherwise fail later with an error about an
        operator, far from its cause. Integers are accepted for floats, lists for tuples.
        """
        accepted = {float: (int, float), tuple: (list, tuple), int: (int,), str: (str,), dict: (dict,), bool: (bool,)}
        for name, parameter in inspect.signature(JClipConfig.__init__).parameters.items():
            default, value = parameter.default, getattr(self, name, None)
            if default is inspect.Parameter.empty or default is None or type(default) not in accepted:
                continue
            if (isinstance(value, bool) and type(default) is not bool) or not isinstance(
                value, accepted[type(default)]
            ):
                raise ValueError(
                    f"Config field {name} must be of type {type(default).__name__} (like {default!r}), "
                    f"got {value!r} ({type(value).__name__})."
                )

    @property
    def text_norm_eps(self) -> float:
        """The LayerNorm epsilon the text tower uses: ``text_layer_norm_eps``, else ``layer_norm_eps``."""
        return self.layer_norm_eps if self.text_layer_norm_eps is None else self.text_layer_norm_eps

    @property
    def vision_norm_eps(self) -> float:
        """The LayerNorm epsilon the vision tower uses: ``vision_layer_norm_eps``, else ``layer_norm_eps``."""
        return self.layer_norm_eps if self.vision_layer_norm_eps is None else self.vision_layer_norm_eps

    @property
    def vision_grid(self) -> int:
        """Patches per side at ``image_size``: ``image_size // patch_size`` (512 // 14 = 36 in jina-clip-v2)."""
        return self.image_size // self.patch_size

    def _check_consistent(self) -> None:
        """Raise a ValueError naming the first inconsistent pair of fields."""
        for tower in ("text", "vision"):
            width, heads = getattr(self, f"{tower}_width"), getattr(self, f"{tower}_heads")
            if width % heads:
                raise ValueError(f"{tower}_width ({width}) must be divisible by {tower}_heads ({heads}).")
        if (self.vision_width // self.vision_heads) % 4:
            raise ValueError(
                f"2-D RoPE needs a vision head dimension divisible by 4, got {self.vision_width // self.vision_heads}."
            )
        if self.image_size < self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) is smaller than one patch ({self.patch_size}).")
        if not self.add_projections and not self.embed_dim == self.text_width == self.vision_width:
            raise ValueError(
                f"add_projections=False needs embed_dim == text_width == vision_width, got embed_dim={self.embed_dim}, "
                f"text_width={self.text_width}, vision_width={self.vision_width}."
            )
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}.")
        if self.vision_rope_reference_grid is not None and not self.vision_rope_reference_grid > 0:
            raise ValueError(
                f"vision_rope_reference_grid must be positive or None, got {self.vision_rope_reference_grid}."
            )
        dims = self.matryoshka_dims
        if not dims or list(dims) != sorted(set(dims)) or dims[0] < 1 or dims[-1] != self.embed_dim:
            raise ValueError(
                f"matryoshka_dims must be strictly increasing positive sizes ending at "
                f"embed_dim={self.embed_dim}, got {dims}."
            )


def _profile_sizes(profile: str) -> dict[str, Any]:
    """The model fields a profile decides: its tokenizer's size, its final training resolution and text length."""
    sizes = PROFILES[profile]
    return {
        "vocab_size": sizes.vocab_size,
        "image_size": sizes.image_size,  # encode_image's default until training records its last stage's
        "max_text_length": 2 * sizes.max_text_length,  # the long-caption stages' text length
    }


# Geometry of each preset; the sizes a profile decides (vocabulary, resolution, text length) come from PROFILES.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": _profile_sizes("tiny"),
    "small": _profile_sizes("small") | dict(
        text_width=256, text_layers=4, text_heads=4, vision_width=256, vision_layers=4, vision_heads=4, patch_size=8,
        embed_dim=256, matryoshka_dims=(32, 64, 128, 256),
    ),
    "base": _profile_sizes("base") | dict(
        text_width=512, text_layers=8, text_heads=8, vision_width=512, vision_layers=8, vision_heads=8, patch_size=8,
        embed_dim=512, matryoshka_dims=(32, 64, 128, 256, 512),
    ),
    # The real geometry, as jinaai/jina-clip-v2's config.json, jina-embeddings-v3's config.json and the code they
    # name describe it (sources in jclip_lab/models/jina_clip_v2.py): XLM-R large with RoPE (base 20000) and post-LN
    # blocks, EVA02-L/14 at 512 px with a learned position table and RoPE scaled to a 16 x 16 grid, no projections.
    "jina-clip-v2": dict(
        vocab_size=250002, text_width=1024, text_layers=24, text_heads=16, text_rope_theta=20000.0,
        max_text_length=512, text_post_norm=True, text_layer_norm_eps=1e-5,
        vision_width=1024, vision_layers=24, vision_heads=16, patch_size=14, image_size=512,
        vision_pos_embed=True, vision_rope_reference_grid=16, vision_layer_norm_eps=1e-6,
        add_projections=False, resize_mode="shortest",
        embed_dim=1024, matryoshka_dims=(32, 64, 128, 256, 512, 768, 1024),
        task_instructions={"retrieval.query": JINA_CLIP_V2_TASK_INSTRUCTIONS["retrieval.query"]},
    ),
}  # fmt: skip


def config_preset(name: str, **overrides: Any) -> JClipConfig:
    """A :class:`JClipConfig` by preset name, with any field overridden (pass ``vocab_size=len(tokenizer)``).

    Presets: ``tiny`` (minutes on a 2-core CPU, ~0.8M parameters besides the token embeddings), ``small`` (a
    GPU session), ``base`` (a bigger GPU) and ``jina-clip-v2`` (the real geometry, exactly: XLM-R large text tower
    with 250,002 tokens, EVA02-L/14 vision tower at 512 px, 1024 dims; the weights the converter
    ``JClipModel.from_jina_clip_v2`` loads fit it).

    Raises:
        ValueError: for an unknown preset name.

    Example:
        >>> config_preset("jina-clip-v2").vision_mlp_hidden_dim
        2730
        >>> config_preset("small", vocab_size=1234).vocab_size
        1234
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {list(PRESETS)}.")
    return JClipConfig(**{**PRESETS[name], **overrides})


def check_same_architecture(saved: JClipConfig, config: JClipConfig) -> None:
    """Raise a ValueError listing every weight-shaping field in which ``config`` differs from ``saved``.

    Use it before loading weights saved under ``saved`` into a model built from ``config``
    (``from_pretrained`` with a ``config=``, resuming training). Fields that do not shape weights (image size,
    temperatures, ...) may differ.

    Example:
        >>> check_same_architecture(config_preset("tiny"), config_preset("tiny", image_size=48))  # fine
        >>> check_same_architecture(config_preset("tiny"), config_preset("tiny", text_layers=3))
        Traceback (most recent call last):
        ...
        ValueError: The checkpoint was saved with a different architecture: text_layers: saved 2, given 3.
    """
    differences = [
        f"{field}: saved {getattr(saved, field)}, given {getattr(config, field)}"
        for field in ARCHITECTURE_FIELDS
        if getattr(saved, field) != getattr(config, field)
    ]
    if saved.vision_pos_embed and saved.vision_grid != config.vision_grid:  # the position table fixes the grid
        differences.append(f"image_size // patch_size: saved {saved.vision_grid}, given {config.vision_grid}")
    if differences:
        raise ValueError(f"The checkpoint was saved with a different architecture: {'; '.join(differences)}.")
