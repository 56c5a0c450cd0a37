"""Pictures, tables and widgets for the notebooks.

Galleries (:func:`show_images`), Matryoshka curves (:func:`plot_dimension_curves`, over seeds
:func:`plot_seed_curves`), per-seed comparisons (:func:`plot_seed_dots`), the image search at one
prefix length (:func:`show_search`), 2-D maps of the embedding space (:func:`plot_projection`), labelled heatmaps
(:func:`plot_heatmap`) and a query panel of ipywidgets (:func:`query_panel`) that works in JupyterLab and Colab.
Text tables are in :mod:`jclip_lab.tables`.

Figures label things in English and with language codes (matplotlib's default fonts cannot shape every script);
text in other scripts is printed, where the browser renders every script correctly.

Example:
    >>> fig = show_images([np.zeros((8, 8, 3), np.uint8)], ["black"]); plt.close(fig)
"""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def show_images(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.3,
    suptitle: str | None = None,
    pyplot: bool = True,
) -> Figure:
    """Draw images in a grid, each with an optional title beneath; returns the figure.

    Each line of a title is wrapped to lines of 22 characters, at most three of them (longer text ends in "…"),
    so a short first line (a score) is never lost to a long second one (a caption). With ``pyplot=False`` the
    figure is not registered with pyplot (see :func:`show_search`): show it with ``IPython.display.display``.

    Example:
        >>> fig = show_images([np.zeros((8, 8, 3), np.uint8)] * 3, ["a", "b", "c"]); plt.close(fig)
    """
    nrows = -(-len(images) // ncols)
    figsize = (ncols * size, nrows * (size + 0.6))
    fig = plt.figure(figsize=figsize) if pyplot else Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(axes.flat, images, strict=False)):
        ax.imshow(image, interpolation="nearest")
        if titles is not None:
            lines = [wrapped for line in titles[i].split("\n") for wrapped in textwrap.wrap(line, 22) or [""]]
            title = "\n".join(lines[:3]) + ("…" if len(lines) > 3 else "")
            ax.set_title(title, fontsize=7, y=-0.05, va="top")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_dimension_curves(
    curves: Mapping[str, Mapping[int, float]],
    metric: str = "R@1",
    chance: float | None = None,
    matryoshka_dims: Sequence[int] | None = None,
    marker_at: int | None = None,
    axes: Sequence[plt.Axes] | None = None,
) -> plt.Figure:
    """Two panels: ``metric`` against the truncated dimension, and its retention (value / value at full width).

    Args:
        curves: model name -> ``{truncate_dim: metric there}``.
        metric: the metric's name, for the axis labels.
        chance: the metric of a random ranking, drawn as a dashed line.
        matryoshka_dims: the trained prefix lengths; prefixes below the smallest are shaded as untrained.
        marker_at: a prefix length to mark on both panels (the slider's position).
        axes: two axes to draw into (default: a new figure).

    Example:
        >>> fig = plot_dimension_curves({"a": {8: 0.1, 16: 0.2, 64: 0.4}}, chance=0.01, matryoshka_dims=(16, 64),
        ...                             marker_at=16)
        >>> plt.close(fig)
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    quality, kept = axes
    for (name, curve), marker in zip(curves.items(), "osD^v<>", strict=False):
        dims = sorted(curve)
        quality.plot(dims, [curve[d] for d in dims], marker=marker, label=name)
        kept.plot(dims, [100 * curve[d] / curve[dims[-1]] for d in dims], marker=marker, label=name)
        if marker_at in curve:
            quality.plot([marker_at], [curve[marker_at]], "o", ms=12, mfc="none", mec="tab:red", mew=2)
            kept.plot([marker_at], [100 * curve[marker_at] / curve[dims[-1]]], "o", ms=12, mfc="none", mec="tab:red",
                      mew=2)  # fmt: skip
    if chance is not None:
        quality.axhline(chance, color="gray", ls="--", lw=1, label="chance")
    for ax in (quality, kept):
        if matryoshka_dims is not None and dims[0] < min(matryoshka_dims):
            ax.axvspan(dims[0] / 1.2, min(matryoshka_dims) / 1.2, color="0.92", zorder=0)
            ax.text(dims[0], 0.97, "untrained\nprefixes", transform=ax.get_xaxis_transform(), fontsize=7, va="top")
        if marker_at is not None:
            ax.axvline(marker_at, color="tab:red", lw=1, alpha=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("embedding dimension (prefix)")
    quality.set(ylabel=f"text-to-image {metric}", title=f"{metric} at each prefix", ylim=(0, None))
    kept.set(ylabel=f"% of full-width {metric}", title="Retention", ylim=(0, 105))
    quality.legend(fontsize=8)
    quality.figure.tight_layout()
    return quality.figure


def plot_seed_curves(
    curves: Mapping[str, Sequence[Mapping[int, float]]],
    metric: str = "R@1",
    chance: float | None = None,
    matryoshka_dims: Sequence[int] | None = None,
) -> plt.Figure:
    """:func:`plot_dimension_curves` over seeds: each seed's values as dots, the mean over seeds as the line.

    Each seed's retention divides by that seed's own full-width value (the mean line is the mean of those ratios).

    Args:
        curves: arm name -> one ``{truncate_dim: metric there}`` per seed.
        metric: the metric's name, for the axis labels.
        chance: the metric of a random ranking, drawn as a dashed line.
        matryoshka_dims: the trained prefix lengths; prefixes below the smallest are shaded as untrained.

    Example:
        >>> fig = plot_seed_curves({"a": [{16: 0.2, 64: 0.4}, {16: 0.3, 64: 0.5}]}, chance=0.01)
        >>> [round(float(y), 1) for y in fig.axes[1].get_lines()[0].get_ydata()]  # mean of 50% and 60%, then 100%
        [55.0, 100.0]
        >>> plt.close(fig)
    """
    kept = {name: [{d: v / c[max(c)] for d, v in c.items()} for c in seeds] for name, seeds in curves.items()}
    means = {name: {d: float(np.mean([c[d] for c in seeds])) for d in seeds[0]} for name, seeds in curves.items()}
    fig = plot_dimension_curves(means, metric, chance, matryoshka_dims)
    quality, retention = fig.axes
    for name, line in zip(curves, retention.get_lines(), strict=False):  # the retention of the means: replace it
        dims = sorted(means[name])
        line.set_ydata([100 * np.mean([c[d] for c in kept[name]]) for d in dims])
    for (name, seeds), line in zip(curves.items(), quality.get_lines(), strict=False):
        for curve, ratios in zip(seeds, kept[name], strict=True):
            dims = sorted(curve)
            quality.plot(dims, [curve[d] for d in dims], ".", color=line.get_color(), alpha=0.6, ms=5)
            retention.plot(dims, [100 * ratios[d] for d in dims], ".", color=line.get_color(), alpha=0.6, ms=5)
    quality.set_title(f"{metric} at each prefix (dots: seeds, line: mean)")
    return fig


def plot_seed_dots(values: Mapping[str, Mapping[str, Sequence[float]]], ncols: int = 5) -> plt.Figure:
    """A dot plot per measure: each arm's value per seed as dots and its mean as a bar, arms side by side.

    Args:
        values: arm name -> ``{measure: [value per seed]}`` (:func:`jclip_lab.studies.measure_seeds`' form).
        ncols: panels per row.

    Example:
        >>> fig = plot_seed_dots({"joint": {"STS": [52.0, 54.0]}, "alone": {"STS": [33.0, 35.0]}})
        >>> fig.axes[0].get_title(), [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ('STS', ['joint', 'alone'])
        >>> plt.close(fig)
    """
    arms, measures = list(values), list(next(iter(values.values())))
    ncols = min(ncols, len(measures))
    nrows = -(-len(measures) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.flat[len(measures) :]:
        ax.axis("off")
    for ax, measure in zip(axes.flat, measures, strict=False):
        for x, arm in enumerate(arms):
            seeds = values[arm][measure]
            colour = f"C{x}"
            ax.plot([x] * len(seeds), seeds, "o", color=colour, alpha=0.7, ms=6)
            ax.plot([x - 0.25, x + 0.25], [np.mean(seeds)] * 2, color=colour, lw=2.5)
        ax.set_xticks(range(len(arms)), arms)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        ax.set_title(measure, fontsize=9)
    fig.tight_layout()
    return fig


def _display(figure: Figure) -> None:
    """Show a figure in Jupyter (outside IPython, e.g. in a script or a doctest, do nothing)."""
    from IPython import get_ipython

    if get_ipython() is not None:
        from IPython.display import display

        display(figure)


def show_search(
    search, query: str, truncate_dim: int | None = None, k: int = 8, size: int = 48, costs: bool = True
) -> dict:
    """Show an :class:`~jclip_lab.matryoshka.ImageSearch` view: its numbers, the top-k images, and where the
    prefix sits on the quality curve; return the view.

    Prints the query and, with ``costs``, the prefix length with the benchmark there ("keeps X% of full-width
    R@5"), the index size and the search time; draws the top-k images, each with its cosine on the first line and
    its English caption beneath; with a sweep, draws the R@5 and retention curves with the current prefix marked.

    The figures are plain ``matplotlib.figure.Figure`` objects, shown with ``display``, never pyplot's: a widget
    calls this from a kernel thread of its own while JupyterLab's main thread may be closing pyplot's figures.

    Example:
        >>> from jclip_lab.evaluate import Embedder
        >>> from jclip_lab.matryoshka import ImageSearch
        >>> search = ImageSearch(Embedder(model, world), world.select("scenes", "test"), (16, 128), timing_vectors=0)
        >>> view = show_search(search, "red circle", truncate_dim=16, k=2)
        query: red circle | dim 16
        index per million vectors: 64 MB float32 | 32 MB float16 | 16 MB int8
    """
    view = search.view(query, truncate_dim, k)
    sizes = view["mb_per_million"]
    lines = [f"query: {query}" + (f" | dim {view['truncate_dim']}" if costs else "")]
    if costs and view["R@5"] is not None:
        lines.append(
            f"test scenes (mean over languages): R@1 {view['R@1']:.3f}, R@5 {view['R@5']:.3f}, keeps "
            f"{100 * view['R@5 kept']:.0f}% of full-width R@5"
        )
    if costs:
        lines.append(
            f"index per million vectors: {sizes['float32']:,.0f} MB float32 | {sizes['float16']:,.0f} MB float16 | "
            f"{sizes['int8']:,.0f} MB int8"
        )
    if costs and view["ms_per_query"] is not None:
        lines.append(f"search: {view['ms_per_query']:.2f} ms per query over {search.timing_vectors:,} vectors")
    print(*lines, sep="\n")
    world = search.embedder.world
    titles = [f"{score:.2f}\n{world.images[i]['short']['en']}" for i, score in zip(view["top_k"], view["scores"],
                                                                                     strict=True)]  # fmt: skip
    _display(show_images([world.image(i, size) for i in view["top_k"]], titles, ncols=min(k, 8), size=1.4,
                         pyplot=False))  # fmt: skip
    if costs and search.sweep is not None:
        axes = Figure(figsize=(8, 2.6)).subplots(1, 2)
        plot_dimension_curves({"R@5": search.sweep.curve("R@5")}, "R@5", search.sweep.chance["R@5"],
                              search.matryoshka_dims, marker_at=view["truncate_dim"], axes=axes)  # fmt: skip
        _display(axes[0].figure)
    return view


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


class LivePlot:
    """A figure that redraws as training logs its steps: loss parts on the left, the learning rate on the right.

    Pass :meth:`update` as ``train``'s ``callback``. It redraws every ``every`` steps in the same output (a display
    handle, so the notebook keeps one figure, not one per redraw); outside Jupyter it only collects the rows.

    Args:
        keys: the logged quantities to draw on the left (e.g. the tasks' losses).
        every: steps between redraws.

    Example:
        >>> live = LivePlot(["pairs"], every=2)
        >>> for step in range(3):
        ...     live.update({"step": step, "pairs": 3.0 - step, "lr": 1e-4})
        >>> live.rows[-1]["pairs"], len(live.figure.axes)
        (1.0, 2)
    """

    def __init__(self, keys: Sequence[str], every: int = 10) -> None:
        self.keys, self.every, self.rows = list(keys), every, []
        self.figure = Figure(figsize=(10, 3))
        self.losses, self.lr = self.figure.subplots(1, 2)
        self.handle = None

    def update(self, row: dict) -> None:
        """Add one step's row; redraw every ``every`` steps."""
        self.rows.append(row)
        if len(self.rows) % self.every == 0:
            self.draw()

    def draw(self) -> None:
        """Redraw both panels from every row so far, in place."""
        steps = [row["step"] for row in self.rows]
        self.losses.clear()
        for key in self.keys:
            self.losses.plot(steps, [row.get(key, np.nan) for row in self.rows], label=key)
        self.losses.set(xlabel="step", ylabel="loss (summed over Matryoshka dims)", title="loss of each task")
        self.losses.legend(fontsize=8)
        self.lr.clear()
        self.lr.plot(steps, [row["lr"] for row in self.rows], color="tab:gray")
        self.lr.set(xlabel="step", ylabel="learning rate", title="warm-up, then cosine decay")
        self.figure.tight_layout()
        from IPython import get_ipython

        if get_ipython() is None:
            return
        from IPython.display import Image, display

        # As a PNG: a Figure made without pyplot has no rich display unless matplotlib's inline backend is active.
        png = io.BytesIO()
        self.figure.savefig(png, format="png", dpi=80)
        if self.handle is None:
            self.handle = display(Image(data=png.getvalue()), display_id=True)
        else:
            self.handle.update(Image(data=png.getvalue()))


class Panel:
    """A widget panel whose plain-text form says what it is, where a notebook is read without a running kernel.

    Jupyter stores a widget's output as a reference to live widget state plus a text fallback; viewers without the
    state (GitHub, nbviewer, a notebook not yet run) show the fallback, by default a long ``VBox(children=...)``.
    """

    def __init__(self, box, description: str) -> None:
        self.box, self.description = box, description

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = self.box._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"[{self.description}: run the notebook to use it]"
        return bundle


def query_panel(
    render: Callable[..., None],
    query: str,
    truncate_dims: Sequence[int] | None = None,
    k: int = 8,
) -> Panel:
    """An ipywidgets panel: a query box, a top-k slider and (with ``truncate_dims``) a dimension slider.

    Every change calls ``render(query=..., k=...)`` (and ``truncate_dim=...``) and shows what it prints and plots
    below the controls. Works in JupyterLab and in Colab (ipywidgets 8; Colab needs its custom widget manager,
    which this turns on).

    Args:
        render: draws the view for the current values (e.g. a call of :func:`show_search`).
        query: the initial query; type any language.
        truncate_dims: the choices of the dimension slider (the trained Matryoshka dims); None for no slider.
        k: the initial number of results.

    Returns:
        The panel; display it as a cell's last expression.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # outside Jupyter the first view prints to stdout
        ...     panel = query_panel(lambda query, k, truncate_dim: None, "red circle", truncate_dims=[32, 64])
        >>> [type(c).__name__ for c in panel.box.children[0].children]
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
    if truncate_dims is not None:
        controls["truncate_dim"] = widgets.SelectionSlider(
            options=list(truncate_dims), value=max(truncate_dims), description="dim", style=style
        )
    box = widgets.VBox([widgets.HBox(list(controls.values())), widgets.interactive_output(render, controls)])
    return Panel(box, "query panel" + (" with a dimension slider" if truncate_dims else ""))
