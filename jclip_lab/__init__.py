"""jclip_lab: build, train and evaluate a multilingual multimodal embedding model like jina-clip-v2, in miniature.

The package is small on purpose; each module holds one idea:

- ``profiles``: hardware-aware sizes (tiny on CPU, small/base on GPU), device, dtype, seeding.
- ``world``: the offline multilingual image-text world the lab trains and evaluates on.
- ``tokenizer``: the multilingual subword tokenizer trained on the world's text.
- ``models``: RoPE text tower, EVA02-style vision tower, ``JClipModel``.
- ``losses``: InfoNCE (image-text, text pairs, hard negatives) and the Matryoshka loss.
- ``real_benchmarks``: readers and recall@k for the real benchmarks (Flickr30k, MSCOCO, XTD10, Crossmodal-3600).
- ``offline``: stand-ins for the real model and benchmarks in their real formats, for offline demos and tests.

Importing ``jclip_lab`` registers the lab's model type ``jclip`` with ``transformers.AutoConfig`` and
``AutoModel``: ``AutoModel.from_pretrained(folder)`` loads a saved ``JClipModel``.

Example:
    >>> import jclip_lab
    >>> jclip_lab.__version__
    '0.1.0'
"""

__version__ = "0.1.0"

from jclip_lab import models  # noqa: E402, F401  (registers the model type "jclip" with transformers' Auto classes)
