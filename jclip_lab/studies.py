"""Comparisons that hold up: short paired runs over several seeds, each claim printed with its spread.

One training run is an anecdote: another seed orders the data differently and initialises the weights
differently, and a difference between two runs can be that alone. So every comparison the notebooks draw runs
each arm with the same :data:`SEEDS` (paired: arm A with seed 1 against arm B with seed 1), on a *study* schedule
short enough to afford it (:func:`study_profile`), and a claim is kept only if it survives the spread
(:func:`paired`): every seed's difference points the same way, and their mean is at least twice their standard
deviation.

Example:
    >>> result = paired("STS", joint=[52.0, 55.1, 53.4], alone=[33.0, 35.2, 31.9])
    >>> result.holds, result.line()
    (True, 'STS: joint 53.50 ± 1.55 vs alone 33.37 ± 1.68 (3 seeds; difference +20.13 ± 1.27, every seed > 0): holds')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from jclip_lab.profiles import Profile

SEEDS: tuple[int, ...] = (0, 1, 2)


def study_profile(profile: Profile, steps_per_stage: int = 100, batch_size: int = 24) -> Profile:
    """``profile`` with the short schedule of the comparisons: fewer, smaller steps (a fraction of the canonical
    recipe's compute), so that every arm can run with every seed.

    Example:
        >>> from jclip_lab.profiles import get_profile
        >>> study_profile(get_profile("tiny")).name
        'tiny-study'
    """
    return replace(profile, name=f"{profile.name}-study", steps_per_stage=steps_per_stage, batch_size=batch_size)


@dataclass(frozen=True)
class Paired:
    """A paired comparison of two arms over seeds, and whether it holds.

    Attributes:
        label: what is measured.
        names: the two arms' names.
        a: arm A's value per seed.
        b: arm B's value per seed (the same seeds, in the same order).
    """

    label: str
    names: tuple[str, str]
    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def differences(self) -> np.ndarray:
        """A minus B, seed by seed."""
        return np.array(self.a) - np.array(self.b)

    @property
    def holds(self) -> bool:
        """A and B differ beyond the spread: every seed's difference has one sign and ``|mean| >= 2 x sd``.

        With 3 seeds, 3 differences of one sign happen by chance 1 time in 4 when there is no effect; the
        second condition (the mean at least twice the seeds' standard deviation) asks for more.
        """
        d = self.differences
        return bool((np.all(d > 0) or np.all(d < 0)) and abs(d.mean()) >= 2 * d.std(ddof=1))

    def line(self, digits: int = 2) -> str:
        """One printable line: both arms' mean ± sd over seeds, the paired difference, and the verdict."""
        d = self.differences
        sign = "> 0" if np.all(d > 0) else "< 0" if np.all(d < 0) else "of mixed sign"
        a, b = np.array(self.a), np.array(self.b)
        return (
            f"{self.label}: {self.names[0]} {a.mean():.{digits}f} ± {a.std(ddof=1):.{digits}f} vs {self.names[1]} "
            f"{b.mean():.{digits}f} ± {b.std(ddof=1):.{digits}f} ({len(d)} seeds; difference {d.mean():+.{digits}f} "
            f"± {d.std(ddof=1):.{digits}f}, every seed {sign}): {'holds' if self.holds else 'within the spread'}"
        )


def paired(label: str, **arms: Sequence[float]) -> Paired:
    """A :class:`Paired` comparison of two named arms' per-seed values.

    Raises:
        ValueError: not exactly two arms, arms of different lengths, or fewer than 3 seeds.
    """
    if len(arms) != 2:
        raise ValueError(f"A paired comparison takes exactly two arms; got {list(arms)}.")
    (name_a, a), (name_b, b) = arms.items()
    if len(a) != len(b) or len(a) < 3:
        raise ValueError(f"Both arms need the same seeds, at least 3; got {len(a)} and {len(b)}.")
    return Paired(label, (name_a, name_b), tuple(map(float, a)), tuple(map(float, b)))


@dataclass(frozen=True)
class Measure:
    """One number of an evaluation report: a row ``(task, metric, subset)`` and a label to print.

    Example:
        >>> Measure("STS", "sts", "spearman").subset
        'all'
    """

    label: str
    task: str
    metric: str
    subset: str = "all"


def measure_seeds(
    load: Callable[[int], object],
    world,
    measures: Sequence[Measure],
    languages: Sequence[str],
    seeds: Sequence[int] = SEEDS,
    image_size: int | None = None,
) -> dict[str, list[float]]:
    """Each measure of the model ``load(seed)`` returns, for every seed: ``{label: [value per seed]}``.

    Only the benchmarks the measures need are run (:func:`jclip_lab.evaluate.evaluate_world`'s ``tasks``).
    """
    from jclip_lab.evaluate import evaluate_world

    tasks = sorted({m.task for m in measures})
    values: dict[str, list[float]] = {m.label: [] for m in measures}
    for seed in seeds:
        report = evaluate_world(load(seed), world, languages=languages, image_size=image_size, tasks=tasks)
        for m in measures:
            values[m.label].append(report.get(m.task, m.metric, m.subset))
    return values


def seed_table(arms: dict[str, dict[str, list[float]]], digits: int = 3) -> str:
    """One row per measure, one column per arm: ``mean ± sd`` over its seeds.

    Example:
        >>> print(seed_table({"joint": {"STS": [52.0, 54.0, 53.0]}, "alone": {"STS": [33.0, 35.0, 34.0]}}, digits=1))
        measure  joint       alone
        -------  ----------  ----------
        STS      53.0 ± 1.0  34.0 ± 1.0
    """
    from jclip_lab.tables import format_table

    labels = list(next(iter(arms.values())))
    rows = [
        [label, *(f"{np.mean(v[label]):.{digits}f} ± {np.std(v[label], ddof=1):.{digits}f}" for v in arms.values())]
        for label in labels
    ]
    return format_table(rows, ["measure", *arms])


def per_seed(measure: Callable[[int], float], seeds: Sequence[int] = SEEDS) -> list[float]:
    """``[measure(seed) for seed in seeds]``: one arm's values, in the seeds' order.

    Example:
        >>> per_seed(lambda seed: seed * 2.0)
        [0.0, 2.0, 4.0]
    """
    return [float(measure(seed)) for seed in seeds]
