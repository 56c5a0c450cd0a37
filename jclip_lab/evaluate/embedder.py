"""Embed texts and world images through any model with jina-clip-v2's ``encode_*`` API, each item only once.

Evaluation asks for the same captions and images many times (per language, per benchmark, per Matryoshka dim);
an :class:`Embedder` remembers every embedding it computed, at full width, so each is computed once.

Example:
    >>> embedder = Embedder(model, world)           # `model` and `world` as in the notebooks
    >>> embedder.texts(["red circle", "red circle"]).shape
    (2, 128)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jclip_lab.world import World


class Embedder:
    """Embeds texts and world images through a model's ``encode_text`` / ``encode_image``, each item once.

    Args:
        model: anything with jina-clip-v2's ``encode_text`` and ``encode_image``.
        world: the world whose images are embedded (by index).
        image_size: resolution to feed (default: the model's ``config.image_size``, else the profile's).
        batch_size: items per forward pass.
    """

    def __init__(self, model, world: World, image_size: int | None = None, batch_size: int = 256) -> None:
        self.model, self.world, self.batch_size = model, world, batch_size
        config = getattr(model, "config", None)
        self.image_size = image_size or getattr(config, "image_size", None) or world.profile.image_size
        self._texts: dict[str, np.ndarray] = {}
        self._images: dict[int, np.ndarray] = {}

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings (N, dim) of ``texts``."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._texts))
        if missing:
            vectors = self.model.encode_text(missing, batch_size=self.batch_size, normalize_embeddings=True)
            self._texts.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.stack([self._texts[t] for t in texts])

    def images(self, indices: Sequence[int]) -> np.ndarray:
        """Unit-norm embeddings (N, dim) of world images ``indices``."""
        missing = list(dict.fromkeys(i for i in indices if i not in self._images))
        if missing:
            images = [np.asarray(self.world.pixels(self.image_size)[i]) for i in missing]
            vectors = self.model.encode_image(images, batch_size=self.batch_size, normalize_embeddings=True)
            self._images.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        return np.stack([self._images[i] for i in indices])
