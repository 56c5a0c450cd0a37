"""A tidy evaluation report: one row per (task, metric, subset), each value beside its chance level.

Example:
    >>> report = Report()
    >>> report.add("t2i", "R@1", "en", value=0.42, chance=0.01)
    >>> report.get("t2i", "R@1", "en"), report.chance("t2i", "R@1", "en")
    (0.42, 0.01)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jclip_lab.tables import format_table


@dataclass
class Result:
    """One measured metric beside its chance level."""

    task: str
    metric: str
    subset: str
    value: float
    chance: float


@dataclass
class Report:
    """A list of :class:`Result` rows with lookups and a printable table.

    Every lookup names a row the same way, ``(task, metric, subset)``, with ``subset`` defaulting to ``"all"``;
    a row that does not exist raises ``KeyError``.
    """

    results: list[Result] = field(default_factory=list)

    def add(self, task: str, metric: str, subset: str, value: float, chance: float) -> None:
        """Append one row."""
        self.results.append(Result(task, metric, subset, value, chance))

    def _find(self, task: str, metric: str, subset: str) -> Result:
        for result in self.results:
            if (result.task, result.metric, result.subset) == (task, metric, subset):
                return result
        raise KeyError(f"No result for task={task!r}, metric={metric!r}, subset={subset!r}.")

    def get(self, task: str, metric: str, subset: str = "all") -> float:
        """The value of one metric, e.g. ``report.get("t2i", "R@1", "en")``.

        Example:
            >>> Report().get("t2i", "R@1")
            Traceback (most recent call last):
            ...
            KeyError: "No result for task='t2i', metric='R@1', subset='all'."
        """
        return self._find(task, metric, subset).value

    def chance(self, task: str, metric: str, subset: str = "all") -> float:
        """The chance level of one metric (raises ``KeyError`` like :meth:`get`)."""
        return self._find(task, metric, subset).chance

    def table(self, tasks: Iterable[str] | None = None, subsets: Iterable[str] | None = ("all",)) -> str:
        """Printable table of the results (of some tasks and subsets), three decimals, chance beside each.

        Example:
            >>> report = Report([Result("sts", "spearman", "all", 51.2, 0.0)])
            >>> print(report.table())
            task  subset  metric     value  chance
            ----  ------  --------  ------  ------
            sts   all     spearman  51.200   0.000
        """
        tasks = set(tasks) if tasks is not None else None
        subsets = set(subsets) if subsets is not None else None
        rows = [
            [r.task, r.subset, r.metric, r.value, r.chance]
            for r in self.results
            if (tasks is None or r.task in tasks) and (subsets is None or r.subset in subsets)
        ]
        return format_table(rows, ["task", "subset", "metric", "value", "chance"])

    def to_dict(self) -> dict[str, float]:
        """``{"task/subset/metric": value}``, e.g. for a JSON log.

        Example:
            >>> Report([Result("t2i", "R@1", "en", 0.5, 0.01)]).to_dict()
            {'t2i/en/R@1': 0.5}
        """
        return {f"{r.task}/{r.subset}/{r.metric}": r.value for r in self.results}
