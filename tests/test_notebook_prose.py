"""Numbers in a notebook's prose are numbers its cells print, or cited facts with a source: prose cannot drift.

A measured number quoted in markdown goes stale when the code or the training changes; the notebooks print their
conclusions from the measurements instead. This test finds every decimal, percentage and large number in each
notebook's markdown (outside code spans and links) and looks for it in that notebook's outputs, or in
``notebooks/cited_facts.json`` (published figures and facts, each with its source).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted(Path(__file__).parent.parent.joinpath("notebooks").glob("*.ipynb"))
FACTS = Path(__file__).parent.parent / "notebooks" / "cited_facts.json"
# decimals (0.35, 89.84), percentages (98.7%, 40%) and numbers of three or more digits (512, 1,024, 865,278,476)
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+%|\d{3,})(?![\w])")
SKIP = re.compile(r"```.*?```|`[^`]*`|\]\([^)]*\)|https?://\S+|arXiv:\s?\d{4}\.\d{4,5}|\b(?:19|20)\d{2}\b", re.S)


def prose_numbers(markdown: str) -> set[str]:
    """The numbers a markdown cell states, outside code (spans and fenced blocks), links, arXiv ids and years.

    Example:
        >>> sorted(prose_numbers("R@5 of 89.84 at `dim=256` ([paper](https://x.org/2412.08802)), 98.7% kept, 1,024"))
        ['1024', '89.84', '98.7%']
        >>> prose_numbers("```python\nencode(texts, batch_size=512)\n```")
        set()
    """
    return {number.replace(",", "") for number in NUMBER.findall(SKIP.sub(" ", markdown))}


def printed_text(notebook: dict) -> str:
    """Everything the code cells printed or displayed as text, thousands separators removed."""
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts).replace(",", "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_number_in_the_prose_is_printed_or_cited(path: Path) -> None:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    printed = printed_text(notebook)
    stated = set().union(
        *(prose_numbers("".join(c["source"])) for c in notebook["cells"] if c["cell_type"] == "markdown")
    )
    missing = sorted(n for n in stated if n.rstrip("%") not in printed and n not in facts)
    assert not missing, f"{path.name}: numbers in the prose that no cell prints and no cited fact holds: {missing}"


def test_every_cited_fact_has_a_source() -> None:
    facts = json.loads(FACTS.read_text(encoding="utf-8"))
    assert all(isinstance(source, str) and len(source) > 10 for source in facts.values())
