"""The real retrieval benchmarks jina-clip-v2 is published on: Flickr30k, MSCOCO, XTD10 and Crossmodal-3600.

They need the internet the first time (then they are cached under ``jclip_lab.cache.cache_root() / "benchmarks"``);
the lab's offline benchmarks are in :mod:`jclip_lab.evaluate`, and few-row stand-ins in the real layouts in
:mod:`jclip_lab.offline`.

- :mod:`~jclip_lab.real_benchmarks.readers`: one :class:`RetrievalBenchmark` per benchmark and language, read in
  the layouts LAION's CLIP_benchmark uses (``read_*`` from files on disk, ``load_*`` download first).
- :mod:`~jclip_lab.real_benchmarks.download`: progress bars, resumed and verified downloads, the offline error.
- :mod:`~jclip_lab.real_benchmarks.retrieval`: text-to-image and image-to-text recall@k with CLIP_benchmark's
  conventions, for any model with jina-clip-v2's ``encode_text`` / ``encode_image``.
- :mod:`~jclip_lab.real_benchmarks.published`: the published jina-clip-v2 figures, with their sources, and
  :func:`beside_published`, a table of measured figures beside them.

Typical use (online)::

    bench = load_flickr30k()
    result = evaluate_retrieval(model, bench, batch_size=64, task="retrieval.query")
    print(100 * result.text_to_image["R@5"], published("flickr30k").percent)

Example:
    >>> sorted(GALLERY_SIZES.items())
    [('crossmodal3600', 3600), ('flickr30k', 1000), ('mscoco', 5000), ('xtd10', 1000)]
"""

from jclip_lab.real_benchmarks.download import DownloadError, OfflineError
from jclip_lab.real_benchmarks.published import PUBLISHED_JINA_CLIP_V2, PublishedFigure, beside_published, published
from jclip_lab.real_benchmarks.readers import (
    GALLERY_SIZES,
    XM3600_LANGUAGES,
    XTD10_LANGUAGES,
    ImageRef,
    RetrievalBenchmark,
    load_crossmodal3600,
    load_flickr30k,
    load_mscoco,
    load_xtd10,
    read_crossmodal3600,
    read_webdataset,
    read_xtd10,
)
from jclip_lab.real_benchmarks.retrieval import (
    BenchmarkEmbeddings,
    RetrievalResult,
    embed_benchmark,
    evaluate_retrieval,
    score_retrieval,
)

__all__ = [
    "GALLERY_SIZES",
    "PUBLISHED_JINA_CLIP_V2",
    "XM3600_LANGUAGES",
    "XTD10_LANGUAGES",
    "BenchmarkEmbeddings",
    "DownloadError",
    "ImageRef",
    "OfflineError",
    "PublishedFigure",
    "RetrievalBenchmark",
    "RetrievalResult",
    "beside_published",
    "embed_benchmark",
    "evaluate_retrieval",
    "load_crossmodal3600",
    "load_flickr30k",
    "load_mscoco",
    "load_xtd10",
    "published",
    "read_crossmodal3600",
    "read_webdataset",
    "read_xtd10",
    "score_retrieval",
]
