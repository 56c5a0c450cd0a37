"""Pictures, tables and widgets for the notebooks.

Galleries (:func:`show_images`), aligned text tables (:func:`format_table`), Matryoshka curves
(:func:`plot_dimension_curves`), 2-D maps of the embedding space (:func:`plot_projection`), labelled heatmaps
(:func:`plot_heatmap`) and a query panel of ipywidgets (:func:`query_panel`) that works in JupyterLab and Colab.

Figures label things in English and with language codes (matplotlib's default fonts cannot shape every script);
text in other scripts is printed, where the browser renders every script correctly.

Example:
    >>> print(format_table([["en", 3], ["ja", 12]], headers=["language", "tokens"]))
    language  tokens
    --------  ------
    en             3
    ja            12
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence

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


def plot_dimension_curves(
    curves: Mapping[str, Mapping[int, float]],
    metric: str = "R@1",
    chance: float | None = None,
    trained_dims: Sequence[int] | None = None,
) -> plt.Figure:
    """Two panels: ``metric`` against the truncated dimension, and its retention (value / value at full width).

    Args:
        curves: model name -> ``{dim: metric at dim}``.
        metric: the metric's name, for the axis labels.
        chance: the metric of a random ranking, drawn as a dashed line.
        trained_dims: the Matryoshka dims; prefixes below the smallest are shaded as untrained.

    Example:
        >>> fig = plot_dimension_curves({"a": {8: 0.1, 16: 0.2, 64: 0.4}}, chance=0.01, trained_dims=(16, 64))
        >>> plt.close(fig)
    """
    fig, (quality, kept) = plt.subplots(1, 2, figsize=(10, 3.6))
    for (name, curve), marker in zip(curves.items(), "osD^v<>", strict=False):
        dims = sorted(curve)
        quality.plot(dims, [curve[d] for d in dims], marker=marker, label=name)
        kept.plot(dims, [100 * curve[d] / curve[dims[-1]] for d in dims], marker=marker, label=name)
    if chance is not None:
        quality.axhline(chance, color="gray", ls="--", lw=1, label="chance")
    for ax in (quality, kept):
        if trained_dims is not None and dims[0] < min(trained_dims):
            ax.axvspan(dims[0] / 1.2, min(trained_dims) / 1.2, color="0.92", zorder=0)
            ax.text(dims[0], 0.97, "untrained\nprefixes", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("embedding dimension (prefix)")
    quality.set(ylabel=f"text-to-image {metric}", title=f"{metric} at each prefix", ylim=(0, None))
    kept.set(ylabel=f"% of full-width {metric}", title="Retention", ylim=(0, 105))
    quality.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_projection(
    points: np.ndarray, colourings: Mapping[str, Sequence[str]], suptitle: str | None = None
) -> plt.Figure:
    """Scatter 2-D ``points`` once per colouring (e.g. by modality, language, class), each with its legend.

    Args:
        points: ``(N, 2)`` coordinates (from UMAP or PCA).
        colourings: panel title -> one category per point.

    Example:
        >>> fig = plot_projection(np.zeros((2, 2)), {"modality": ["image", "text"]}); plt.close(fig)
    """
    fig, axes = plt.subplots(1, len(colourings), figsize=(4.6 * len(colourings), 4.6), squeeze=False)
    order = np.random.default_rng(0).permutation(len(points))  # draw in random order: no group hides another
    for ax, (title, categories) in zip(axes.flat, colourings.items(), strict=True):
        names = list(dict.fromkeys(categories))
        palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
        colour = {name: palette(i % palette.N) for i, name in enumerate(names)}
        ax.scatter(*points[order].T, s=8, alpha=0.7, c=[colour[categories[i]] for i in order], linewidths=0)
        handles = [plt.Line2D([], [], marker="o", ls="", color=colour[name], label=name) for name in names]
        ax.legend(handles=handles, fontsize=7, ncol=2 if len(names) > 8 else 1, framealpha=0.8)
        ax.set(title=f"coloured by {title}", xticks=[], yticks=[])
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    highlight: Sequence[str] = (),
    fmt: str = ".2f",
    ax: plt.Axes | None = None,
    **imshow: object,
) -> plt.Axes:
    """A labelled heatmap with each value written in its cell; tick labels in ``highlight`` are red and bold.

    Example:
        >>> ax = plot_heatmap(np.eye(2), ["en", "ko"], ["en", "ko"], "identity", highlight=["ko"])
        >>> plt.close(ax.figure)
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(columns) + 2.5, 0.4 * len(rows) + 1.5))
    image = ax.imshow(matrix, cmap=imshow.pop("cmap", "viridis"), **imshow)
    ax.figure.colorbar(image, ax=ax, fraction=0.04)
    ax.set_xticks(range(len(columns)), columns, rotation=90 if max(map(len, columns)) > 3 else 0)
    ax.set_yticks(range(len(rows)), rows)
    for label in (*ax.get_xticklabels(), *ax.get_yticklabels()):
        if label.get_text() in highlight:
            label.set(color="tab:red", fontweight="bold")
    low, high = image.get_clim()
    for (i, j), value in np.ndenumerate(matrix):
        dark = (value - low) / ((high - low) or 1) < 0.6  # white text on the dark end of viridis
        ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=6, color="white" if dark else "black")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def query_panel(
    render: Callable[..., None],
    query: str,
    dims: Sequence[int] | None = None,
    k: int = 8,
):
    """An ipywidgets panel: a query box, a top-k slider and (with ``dims``) a dimension slider over ``dims``.

    Every change calls ``render(query=..., k=...)`` (and ``dim=...``) and shows what it prints and plots below
    the controls. Works in JupyterLab and in Colab (ipywidgets 8; Colab needs its custom widget manager, which
    this turns on).

    Args:
        render: draws the view for the current values (e.g. ``ImageSearch.show``).
        query: the initial query; type any language.
        dims: the choices of the dimension slider (the trained Matryoshka dims); None for no slider.
        k: the initial number of results.

    Returns:
        The panel (an ``ipywidgets.VBox``); display it as a cell's last expression.

    Example:
        >>> panel = query_panel(lambda query, k, dim: None, "red circle", dims=[32, 64])  # doctest: +SKIP
        >>> [type(c).__name__ for c in panel.children[0].children]                       # doctest: +SKIP
        ['Text', 'IntSlider', 'SelectionSlider']
    """
    import ipywidgets as widgets

    if "google.colab" in sys.modules:
        from google.colab import output

        output.enable_custom_widget_manager()
    style = {"description_width": "initial"}
    controls = {
        "query": widgets.Text(value=query, description="query", continuous_update=False, style=style),
        "k": widgets.IntSlider(value=k, min=1, max=16, description="top k", style=style),
    }
    if dims is not None:
        controls["dim"] = widgets.SelectionSlider(options=list(dims), value=max(dims), description="dim", style=style)
    return widgets.VBox([widgets.HBox(list(controls.values())), widgets.interactive_output(render, controls)])
