"""Charts: bar, line and pie charts drawn with matplotlib, a miniature of jina-clip-v2's visually rich documents.

Stage 3 of jina-clip-v2 adds charts, tables and document pages so that text queries find them. Here each chart
shows 2-5 coloured series; its caption says what kind of chart it is and which series is highest and lowest, and
retrieval asks for the chart that fits a description. Captions are in English, like most document benchmarks.

Example:
    >>> import random
    >>> spec = random_chart(random.Random(0))
    >>> chart_caption(spec, long=False) in {"bar chart", "line chart", "pie chart"}
    True
    >>> [image.shape for image in render_chart(spec, (32, 48))]
    [(32, 32, 3), (48, 48, 3)]
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from jclip_lab.world.scenes import COLOURS

KINDS = ("bar", "line", "pie")
_RENDER_SIZE = 96  # matplotlib draws at this side; smaller sizes are downsampled for clean anti-aliasing
_PART = {"bar": "bar", "line": "line", "pie": "slice"}
_HIGH = {"bar": "highest", "line": "highest at the end", "pie": "largest"}
_LOW = {"bar": "lowest", "line": "lowest at the end", "pie": "smallest"}


def random_chart(rng: random.Random) -> dict:
    """A chart spec: its kind, 3-5 distinct colours (2-3 lines), and a value per colour (a series of 6 per line)."""
    kind = rng.choice(KINDS)
    colours = rng.sample(list(COLOURS), rng.randint(2, 3) if kind == "line" else rng.randint(3, 5))
    if kind == "line":
        values = [[round(rng.uniform(1, 10), 2) for _ in range(6)] for _ in colours]
    else:
        values = [round(v, 2) for v in rng.sample(range(1, 20), len(colours))]
    return {"kind": kind, "colours": colours, "values": values}


def _ranked(spec: dict) -> list[str]:
    finals = [v[-1] if isinstance(v, list) else v for v in spec["values"]]
    return [c for _, c in sorted(zip(finals, spec["colours"], strict=True), reverse=True)]


def chart_caption(spec: dict, long: bool = True) -> str:
    """'bar chart' (short), or the kind, the count and the highest and lowest series (long).

    Example:
        >>> chart_caption({"kind": "pie", "colours": ["red", "blue", "green"], "values": [5, 9, 1]})
        'pie chart with 3 slices; the blue slice is largest and the green slice is smallest'
    """
    kind = spec["kind"]
    if not long:
        return f"{kind} chart"
    ranked, part = _ranked(spec), _PART[kind]
    return (
        f"{kind} chart with {len(ranked)} {part}s; "
        f"the {ranked[0]} {part} is {_HIGH[kind]} and the {ranked[-1]} {part} is {_LOW[kind]}"
    )


@cache
def _figure() -> tuple[Figure, FigureCanvasAgg]:
    figure = Figure(figsize=(1, 1), dpi=_RENDER_SIZE)
    return figure, FigureCanvasAgg(figure)


def render_chart(spec: dict, sizes: tuple[int, ...]) -> list[np.ndarray]:
    """Draw the chart once with matplotlib and return it as RGB ``uint8`` arrays, one per side in ``sizes``.

    Drawing costs ~12 ms whatever the size while resizing is nearly free, so all sizes share one drawing.
    """
    figure, canvas = _figure()
    figure.clear()
    ax = figure.add_axes((0.08, 0.08, 0.86, 0.86))
    colours = [np.array(COLOURS[c]) / 255 for c in spec["colours"]]
    if spec["kind"] == "bar":
        ax.bar(range(len(colours)), spec["values"], color=colours, width=0.8)
    elif spec["kind"] == "line":
        for series, colour in zip(spec["values"], colours, strict=True):
            ax.plot(series, color=colour, linewidth=2.5)
    else:
        ax.pie(spec["values"], colors=colours, startangle=90)
    if spec["kind"] != "pie":
        ax.set_xticks([])
        ax.set_yticks([])
        ax.spines[["top", "right"]].set_visible(False)
    canvas.draw()
    drawing = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    return [np.asarray(drawing.resize((size, size), Image.Resampling.LANCZOS)) for size in sizes]
