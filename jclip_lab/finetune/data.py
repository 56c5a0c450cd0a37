"""Your own data, in the layout people already have, read with every problem reported and nothing dropped silently.

- Captioned images: a folder of images and a table (CSV with a header, or JSON Lines) of ``image,caption[,language]``
  rows; an image may have several rows (captions, languages). ``image`` is a path relative to the folder.
- Text pairs: a table of ``a,b[,language]`` rows (a query and its document, a sentence and its translation).

Rows whose image is missing or unreadable, whose caption is empty, whose language is unknown, or that repeat
another row are *problems*: :func:`read_captioned_images` raises a :class:`BadDataError` with a summary (counts
and the first offending rows) unless ``skip_bad_rows=True``, in which case they are skipped and the summary stays
available on the result.

Example:
    >>> import tempfile
    >>> from jclip_lab.world.clocks import clock_images, write_clock_folder
    >>> table = write_clock_folder(Path(tempfile.mkdtemp()), clock_images(variants=2, test_variants=1)[:3])
    >>> data = read_captioned_images(table)
    >>> len(data.rows), data.report.problems
    (3, [])
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from babel import Locale, UnknownLocaleError
from PIL import Image, UnidentifiedImageError

from jclip_lab.tables import format_table


@dataclass(frozen=True)
class Row:
    """One usable row: an image file, one caption, its language (None when the table has no language column)."""

    image: Path
    caption: str
    language: str | None
    line: int


@dataclass(frozen=True)
class Problem:
    """One row that cannot be used, and why."""

    line: int
    reason: str
    row: dict


@dataclass
class DataReport:
    """What reading a table found: how many rows, and every problem row."""

    path: Path
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Problem rows per reason."""
        return dict(Counter(problem.reason for problem in self.problems))

    def summary(self, first: int = 5) -> str:
        """A readable summary: totals, problems per reason, and the first offending rows with their line numbers.

        Example:
            >>> report = DataReport(Path("captions.csv"), 3, [Problem(2, "empty caption", {"caption": ""})])
            >>> print(report.summary())
            captions.csv: 3 rows, 1 with problems (empty caption: 1)
            line  problem        row
            ----  -------------  ---------------
               2  empty caption  {'caption': ''}
        """
        totals = ", ".join(f"{reason}: {count}" for reason, count in self.counts().items())
        head = f"{self.path}: {self.rows} rows, {len(self.problems)} with problems" + (f" ({totals})" if totals else "")
        if not self.problems:
            return head
        rows = [[p.line, p.reason, str(p.row)[:80]] for p in self.problems[:first]]
        return head + "\n" + format_table(rows, ["line", "problem", "row"])


class BadDataError(ValueError):
    """A table has rows that cannot be used; the message is the report's summary, ``report`` has every row."""

    def __init__(self, report: DataReport) -> None:
        super().__init__(
            f"{report.summary()}\nFix these rows, or pass skip_bad_rows=True (--skip-bad-rows) to train without them."
        )
        self.report = report


@dataclass
class CaptionedImages:
    """The usable rows of a captions table, and the report of reading it."""

    rows: list[Row]
    report: DataReport

    @property
    def images(self) -> list[Path]:
        """The distinct image files, in the order of their first row."""
        return list(dict.fromkeys(row.image for row in self.rows))

    def split(self, held_out: float = 0.2, seed: int = 0) -> tuple[CaptionedImages, CaptionedImages]:
        """(training, held-out) rows, split by image: every caption of one image lands on the same side.

        Example:
            >>> rows = [Row(Path(f"{i}.png"), f"caption {i}", None, i) for i in range(10)]
            >>> train, test = CaptionedImages(rows, DataReport(Path("t.csv"), 10)).split(0.3)
            >>> len(train.rows), len(test.rows)
            (7, 3)
        """
        images = self.images
        random.Random(seed).shuffle(images)
        test_images = set(images[: round(held_out * len(images))])
        test = [row for row in self.rows if row.image in test_images]
        train = [row for row in self.rows if row.image not in test_images]
        return CaptionedImages(train, self.report), CaptionedImages(test, self.report)


def _read_table(path: Path) -> list[dict]:
    """The rows of a CSV (with a header) or JSON Lines file, as dicts of strings."""
    if path.suffix.lower() in (".jsonl", ".json"):
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    with open(path, newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file))


def _check_columns(path: Path, rows: list[dict], required: tuple[str, ...]) -> None:
    columns = set(rows[0]) if rows else set()
    missing = [name for name in required if name not in columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; it needs {', '.join(required)} (and optionally language); "
            f"found {sorted(columns)}."
        )


def is_known_language(code: str) -> bool:
    """Whether CLDR knows ``code`` as a language (``de``, ``pt_BR``, ``zh-Hant``...).

    Example:
        >>> is_known_language("de"), is_known_language("klingon")
        (True, False)
    """
    try:
        Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return False
    return True


def _image_problem(path: Path) -> str | None:
    if not path.is_file():
        return "image missing"
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError):
        return "image unreadable"
    return None


def read_captioned_images(table: str | Path, images: str | Path | None = None, skip_bad_rows: bool = False):
    """Read a captions table (CSV or JSONL: ``image,caption[,language]``) whose images lie in ``images``.

    Args:
        table: the table's path.
        images: the folder the ``image`` paths are relative to (default: the table's folder).
        skip_bad_rows: skip problem rows (they stay in the report) instead of raising.

    Returns:
        A :class:`CaptionedImages`.

    Raises:
        FileNotFoundError: no such table.
        ValueError: a missing column.
        BadDataError: problem rows, unless ``skip_bad_rows``.
    """
    table = Path(table)
    if not table.is_file():
        raise FileNotFoundError(f"No captions table at {table.resolve()}.")
    folder = Path(images) if images is not None else table.parent
    raw = _read_table(table)
    _check_columns(table, raw, ("image", "caption"))
    report, rows, seen, checked = DataReport(table, len(raw)), [], set(), {}
    for line, row in enumerate(raw, start=2):
        path = folder / str(row.get("image") or "")
        caption = str(row.get("caption") or "").strip()
        language = str(row.get("language") or "").strip() or None
        if path not in checked:
            checked[path] = _image_problem(path) if row.get("image") else "image missing"
        reason = checked[path]
        if reason is None and not caption:
            reason = "empty caption"
        elif reason is None and language is not None and not is_known_language(language):
            reason = "unknown language"
        elif reason is None and (path, caption, language) in seen:
            reason = "duplicate row"
        if reason is not None:
            report.problems.append(Problem(line, reason, row))
            continue
        seen.add((path, caption, language))
        rows.append(Row(path, caption, language, line))
    if report.problems and not skip_bad_rows:
        raise BadDataError(report)
    if not rows:
        raise ValueError(f"{table} has no usable rows: {report.summary()}")
    return CaptionedImages(rows, report)


@dataclass
class TextPairs:
    """Usable text pairs (``a``, ``b``) of a table, and the report of reading it."""

    pairs: list[tuple[str, str]]
    report: DataReport


def read_text_pairs(table: str | Path, skip_bad_rows: bool = False) -> TextPairs:
    """Read a text-pairs table (CSV or JSONL: ``a,b[,language]``); empty texts and repeated pairs are problems.

    Raises:
        FileNotFoundError, ValueError, BadDataError: as :func:`read_captioned_images`.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "pairs.csv"
        >>> _ = path.write_text('a,b\\nred circle,"círculo rojo"\\nblue heart,\\n')
        >>> read_text_pairs(path, skip_bad_rows=True).report.counts()
        {'empty text': 1}
    """
    table = Path(table)
    if not table.is_file():
        raise FileNotFoundError(f"No text-pairs table at {table.resolve()}.")
    raw = _read_table(table)
    _check_columns(table, raw, ("a", "b"))
    report, pairs, seen = DataReport(table, len(raw)), [], set()
    for line, row in enumerate(raw, start=2):
        a, b = str(row.get("a") or "").strip(), str(row.get("b") or "").strip()
        language = str(row.get("language") or "").strip()
        reason = "empty text" if not a or not b else None
        if reason is None and language and not is_known_language(language):
            reason = "unknown language"
        elif reason is None and (a, b) in seen:
            reason = "duplicate row"
        if reason is not None:
            report.problems.append(Problem(line, reason, row))
            continue
        seen.add((a, b))
        pairs.append((a, b))
    if report.problems and not skip_bad_rows:
        raise BadDataError(report)
    return TextPairs(pairs, report)
