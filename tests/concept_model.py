"""A stand-in model for fast tests: an oracle with jina-clip-v2's ``encode_text`` / ``encode_image`` API."""

from __future__ import annotations

import hashlib

import numpy as np


class ConceptModel:
    """Embeds a scene's images and its short captions in every language to one random unit vector per concept
    (the scene's English caption); any other text gets a random unit vector of its own."""

    config = None

    def __init__(self, world, dim: int = 64) -> None:
        self.dim, self.concept_of_text = dim, {}
        for record in world.images:
            self.concept_of_text.update(dict.fromkeys(record["short"].values(), record["short"]["en"]))
        pixels = world.pixels(world.profile.image_size)
        self.concept_of_image = {
            np.asarray(p).tobytes(): r["short"]["en"] for r, p in zip(world.images, pixels, strict=True)
        }

    def _vector(self, key: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dim)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def encode_text(self, texts, batch_size: int = 32, normalize_embeddings: bool = True) -> np.ndarray:
        return np.stack([self._vector(self.concept_of_text.get(t, t)) for t in texts])

    def encode_image(self, images, batch_size: int = 32, normalize_embeddings: bool = True) -> np.ndarray:
        return np.stack([self._vector(self.concept_of_image[np.asarray(i).tobytes()]) for i in images])
