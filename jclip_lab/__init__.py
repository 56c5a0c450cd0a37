"""jclip_lab: build, train and evaluate a multilingual multimodal embedding model like jina-clip-v2, in miniature.

The package is small on purpose; each module holds one idea (notebooks 00-12 walk through them):

Data
- ``world``: the offline multilingual image-text world: sources, languages, splits, torch datasets.
- ``tokenizer``: the multilingual subword (Unigram) tokenizer trained on the world's text.
- ``pixels``: ``uint8`` images to the normalised tensors the vision tower takes.

Model
- ``models``: RoPE text tower, EVA02-style vision tower, ``JClipModel`` with jina-clip-v2's ``encode_text`` and
  ``encode_image``; ``models.jina_clip_v2`` loads the real checkpoint into it.

Training
- ``losses``: InfoNCE (image-text, text pairs, hard negatives) and the Matryoshka loss.
- ``train``: stages and the three-stage recipe, tasks and their losses, gradients (and gradient caching),
  checkpoints, the loop.
- ``zoo``: trained models on demand: each recipe trained once per seed and cached.
- ``distributed``: many GPUs: torchrun, DDP, contrastive losses over every GPU's negatives.
- ``finetune``: fine-tuning on your own images and texts without forgetting text retrieval.

Measuring
- ``similarity``: cosine similarity of embeddings, optionally of a Matryoshka prefix.
- ``evaluate``: metrics with their chance levels, an embedding memo, the world's benchmarks, the report.
- ``studies``: comparisons that hold up: short paired runs over several seeds, each claim with its spread.
- ``matryoshka``: quality against the truncated dimension, and the dimension slider's logic.
- ``vector_search``: what an index of embeddings costs: its size and the time of one exact search.
- ``embedding_space``: maps of the space, the modality gap, cross-lingual alignment.
- ``real_benchmarks``: readers and recall@k for the real benchmarks (Flickr30k, MSCOCO, XTD10, Crossmodal-3600).
- ``offline``: stand-ins for the real model and benchmarks in their real formats, for offline demos and tests.
- ``cost``: the cost model (parameters, FLOPs, memory and time of a training step, on paper); ``measure``
  checks it against PyTorch.

Around them
- ``profiles``: hardware-aware sizes (tiny on CPU, small/base on GPU), device, dtype, seeding.
- ``notebook``: the first cell of every notebook (profile, seed, quiet libraries) and ``timed``.
- ``viz`` and ``tables``: figures, widgets and plain-text tables.
- ``cache``: where worlds, tokenizers and models are cached (``$JCLIP_CACHE``).
- ``cli``: the ``jclip-lab`` command (open the lab, build the world, train, evaluate, fine-tune).

Importing ``jclip_lab`` registers the lab's model type ``jclip`` with ``transformers.AutoConfig`` and
``AutoModel``: ``AutoModel.from_pretrained(folder)`` loads a saved ``JClipModel``.

Example:
    >>> import jclip_lab
    >>> jclip_lab.__version__
    '0.1.0'
"""

__version__ = "0.1.0"

from jclip_lab import models  # noqa: E402, F401  (registers the model type "jclip" with transformers' Auto classes)
