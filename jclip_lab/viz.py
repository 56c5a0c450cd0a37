"""Pictures and tables for the notebooks: image galleries and small aligned text tables.

Figures label things in English (matplotlib's default fonts cannot shape every script); text in other scripts is
printed, where the browser renders every script correctly.

Example:
    >>> print(format_table([["en", 3], ["ja", 12]], headers=["language", "tokens"]))
    language  tokens
    --------  ------
    en             3
    ja            12
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


def show_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.3,
    suptitle: str | None = None,
) -> plt.Figure:
    """Draw images in a grid, each with an optional title beneath (wrapped to two short lines); returns the figure.

    Example:
        >>> fig = show_images([np.zeros((8, 8, 3), np.uint8)] * 3, ["a", "b", "c"]); plt.close(fig)
    """
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.45)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(image, interpolation="nearest")
        if titles is not None:
            title = textwrap.fill(textwrap.shorten(titles[i], 44, placeholder="…"), 22)
            ax.set_title(title, fontsize=7, y=-0.05, va="top")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def format_table(rows: Sequence[Sequence[object]], headers: Sequence[str], floats: str = ".3f") -> str:
    """Rows as an aligned plain-text table: text left-aligned, numbers right-aligned, floats with ``floats``.

    Example:
        >>> print(format_table([["R@1", 0.51234]], ["metric", "value"]))
        metric  value
        ------  -----
        R@1     0.512
    """

    def cell(value: object) -> str:
        return format(value, floats) if isinstance(value, float) else str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        cells = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in text)])
