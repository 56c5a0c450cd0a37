"""Behaviour of the plot and widget helpers: labelled figures, and a query panel that re-renders on every change."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from jclip_lab.viz import plot_dimension_curves, plot_heatmap, plot_projection, query_panel

matplotlib.use("Agg")


def test_dimension_curves_plot_quality_and_retention():
    fig = plot_dimension_curves({"with": {16: 0.4, 128: 0.5}, "without": {16: 0.1, 128: 0.5}}, chance=0.02)
    quality, kept = fig.axes
    assert [line.get_label() for line in quality.get_lines()] == ["with", "without", "chance"]
    assert list(kept.get_lines()[0].get_ydata()) == [80.0, 100.0]  # 0.4 / 0.5
    assert "dimension" in quality.get_xlabel() and kept.get_title() == "Retention"
    assert not quality.patches  # no untrained prefixes to shade
    plt.close(fig)
    fig = plot_dimension_curves({"with": {8: 0.3, 16: 0.4, 128: 0.5}}, matryoshka_dims=(16, 128))
    assert len(fig.axes[0].patches) == 1 and "untrained" in fig.axes[0].texts[0].get_text()
    plt.close(fig)


def test_projection_has_one_panel_and_legend_per_colouring():
    points = np.random.default_rng(0).standard_normal((6, 2))
    fig = plot_projection(points, {"modality": ["image"] * 3 + ["text"] * 3, "language": list("aabbcc")})
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["a", "b", "c"]
    plt.close(fig)


def test_heatmap_writes_values_and_highlights_labels():
    ax = plot_heatmap(np.array([[1.0, 0.25], [0.5, 1.0]]), ["en", "ko"], ["en", "ko"], "alignment", highlight=["ko"])
    assert sorted(t.get_text() for t in ax.texts) == ["0.25", "0.50", "1.00", "1.00"]
    assert [label.get_color() for label in ax.get_yticklabels()] == ["black", "tab:red"]
    plt.close(ax.figure)


def test_query_panel_renders_now_and_on_every_change():
    calls = []
    panel = query_panel(lambda **values: calls.append(values), "red circle", truncate_dims=[16, 32, 64], k=5)
    assert calls == [{"query": "red circle", "k": 5, "truncate_dim": 64}]  # the first view: the largest dim
    query, k, dim = panel.box.children[0].children
    assert dim.options == (16, 32, 64)
    dim.value = 16
    query.value = "赤い丸"
    assert calls[-1] == {"query": "赤い丸", "k": 5, "truncate_dim": 16}
    # Read without a kernel (GitHub, a notebook not yet run), the panel says what it is, not VBox(children=...).
    text = panel._repr_mimebundle_()["text/plain"]
    assert text == "[query panel with a dimension slider: run the notebook to use it]"


def test_query_panel_without_dims_has_no_slider():
    calls = []
    panel = query_panel(lambda **values: calls.append(values), "rotes Herz")
    assert len(panel.box.children[0].children) == 2 and calls == [{"query": "rotes Herz", "k": 8}]


def test_dimension_curves_mark_the_sliders_position():
    fig = plot_dimension_curves({"R@5": {16: 0.4, 32: 0.45, 128: 0.5}}, marker_at=32)
    quality, kept = fig.axes
    marked = [line for line in kept.get_lines() if line.get_marker() == "o" and line.get_markersize() == 12]
    assert len(marked) == 1 and list(marked[0].get_ydata()) == [90.0]  # 0.45 / 0.5
    plt.close(fig)


def test_gallery_titles_keep_the_score_however_long_the_caption():
    from jclip_lab.viz import show_images

    caption = "large red circle on the left and small blue square in the middle and green heart right"
    fig = show_images([np.zeros((8, 8, 3), np.uint8)], [f"0.87\n{caption}"])
    title = fig.axes[0].get_title()
    assert title.startswith("0.87\n") and title.endswith("…") and len(title.splitlines()) == 3
    plt.close(fig)


def test_seed_curves_draw_each_seed_and_the_mean_of_its_retentions():
    from jclip_lab.viz import plot_seed_curves

    seeds = [{16: 0.2, 64: 0.4}, {16: 0.45, 64: 0.5}]  # retentions 50% and 90%: their mean 70% (not 65/90 = 72%)
    fig = plot_seed_curves({"with": seeds, "without": seeds}, "R@5", chance=0.01)
    quality, kept = fig.axes
    assert list(kept.get_lines()[0].get_ydata()) == [70.0, 100.0]
    dots = [line for line in quality.get_lines() if line.get_linestyle() == "None" and line.get_marker() == "."]
    assert len(dots) == 4 and list(dots[1].get_ydata()) == [0.45, 0.5]  # 2 arms x 2 seeds
    plt.close(fig)


def test_seed_dots_show_every_seed_and_the_mean_per_arm():
    from jclip_lab.viz import plot_seed_dots

    fig = plot_seed_dots({"a": {"gap": [0.4, 0.6], "R@1": [0.1, 0.2]}, "b": {"gap": [0.8, 1.0], "R@1": [0.5, 0.7]}})
    gap = fig.axes[0]
    assert [ax.get_title() for ax in fig.axes] == ["gap", "R@1"]
    points, mean = gap.get_lines()[2:4]  # arm b: its seeds, then its mean bar
    assert list(points.get_ydata()) == [0.8, 1.0] and list(mean.get_ydata()) == [0.9, 0.9]
    plt.close(fig)
