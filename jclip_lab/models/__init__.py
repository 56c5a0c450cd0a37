"""The model: a RoPE text tower and an EVA02-style vision tower projected into one space, as in jina-clip-v2.

- ``layers``: rotary position embeddings (1-D and 2-D), attention, GELU and SwiGLU MLPs, pre-norm blocks.
- ``text``: the text tower (Jina-XLM-RoBERTa in miniature), mean pooling.
- ``vision``: the vision tower (EVA02 in miniature), patch dropout, CLS pooling.
- ``config``: ``JClipConfig``, the presets (``tiny`` ... ``jina-clip-v2``), ``check_same_architecture``.
- ``preprocess``: images of any form to normalised pixel tensors.
- ``model``: ``JClipModel`` with ``encode_text`` / ``encode_image``, and ``count_parameters``.
- ``jina_clip_v2``: the converter that loads the real jina-clip-v2 weights into ``JClipModel``
  (``JClipModel.from_jina_clip_v2``).

Importing the package registers the model type ``jclip`` with ``transformers.AutoConfig`` and ``AutoModel``, so a
folder written by ``JClipModel.save_pretrained`` loads through them too.

Example:
    >>> from jclip_lab.models import JClipModel, config_preset
    >>> model = JClipModel(config_preset("tiny", vocab_size=100))
    >>> model.config.embed_dim
    128
"""

from transformers import AutoConfig, AutoModel

from jclip_lab.models.config import PRESETS, JClipConfig, check_same_architecture, config_preset
from jclip_lab.models.model import JClipModel, JClipOutput, count_parameters
from jclip_lab.models.preprocess import images_to_tensor, load_image

AutoConfig.register(JClipConfig.model_type, JClipConfig, exist_ok=True)
AutoModel.register(JClipConfig, JClipModel, exist_ok=True)

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
