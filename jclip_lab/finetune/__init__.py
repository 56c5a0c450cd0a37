"""Fine-tuning on your own images and texts without forgetting text retrieval.

- ``data``: read a folder of images with a captions table (CSV/JSONL), and text-pair tables; every bad row reported.
- ``tuning``: :func:`finetune`, :class:`FinetuneConfig` (freeze a tower, LoRA, checkpointing, caching, precision);
  the measurements before and after; memory plans for any GPU (:func:`finetune_cost`, :func:`check_fits_on`).

Example:
    >>> FinetuneConfig(lora_rank=8).lora_rank
    8
"""

from jclip_lab.finetune.data import (
    BadDataError,
    CaptionedImages,
    DataReport,
    TextPairs,
    read_captioned_images,
    read_text_pairs,
)
from jclip_lab.finetune.tuning import (
    FinetuneConfig,
    FinetuneResult,
    check_fits_on,
    finetune,
    finetune_cost,
    forgetting_measures,
    held_out_retrieval,
    lab_retrieval,
    lab_text_pairs,
    largest_batch,
    merge_lora,
)

__all__ = [
    "BadDataError",
    "CaptionedImages",
    "DataReport",
    "FinetuneConfig",
    "FinetuneResult",
    "TextPairs",
    "check_fits_on",
    "finetune",
    "finetune_cost",
    "forgetting_measures",
    "held_out_retrieval",
    "lab_retrieval",
    "lab_text_pairs",
    "largest_batch",
    "merge_lora",
    "read_captioned_images",
    "read_text_pairs",
]
