"""The model: a RoPE text tower and an EVA02-style vision tower projected into one space, as in jina-clip-v2.

- ``layers``: rotary position embeddings (1-D and 2-D), attention, GELU and SwiGLU MLPs, pre-norm blocks.
- ``text``: the text tower (Jina-XLM-RoBERTa in miniature), mean pooling.
- ``vision``: the vision tower (EVA02 in miniature), patch dropout, CLS pooling.
- ``config``: ``JClipConfig``, the presets (``tiny`` ... ``jina-clip-v2``), ``check_same_architecture``.
- ``preprocess``: images of any form to normalised pixel tensors.
- ``model``: ``JClipModel`` with ``encode_text`` / ``encode_image``, and ``count_parameters``.

Example:
    >>> from jclip_lab.models import JClipModel, config_preset
    >>> model = JClipModel(config_preset("tiny", vocab_size=100))
    >>> model.config.embed_dim
    128
"""

from jclip_lab.models.config import PRESETS, JClipConfig, check_same_architecture, config_preset
from jclip_lab.models.model import JClipModel, JClipOutput, count_parameters
from jclip_lab.models.preprocess import images_to_tensor, load_image

__all__ = [
    "PRESETS",
    "JClipConfig",
    "JClipModel",
    "JClipOutput",
    "check_same_architecture",
    "config_preset",
    "count_parameters",
    "images_to_tensor",
    "load_image",
]
