"""Plain-text tables for notebooks and the command line (no plotting library needed).

Example:
    >>> print(format_table([["en", 3], ["ja", 12]], headers=["language", "tokens"]))
    language  tokens
    --------  ------
    en             3
    ja            12
"""

from __future__ import annotations

from collections.abc import Sequence


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
    widths = [max([len(h), *(len(r[i]) for r in text)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        cells = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in text)])
