"""How the whole test session (`pytest --nbval -n 2`: unit tests and notebooks) shares two CPU cores.

Two pytest-xdist workers run test files side by side (``--dist loadfile``: a notebook's cells stay in one kernel, in
order), each process on **one** CPU thread. The tiny model's small matrices leave a second thread of one process
mostly waiting, while two one-thread processes share two cores well. Measured on the lab's idle 2-core machine,
per training step of the study schedule (batch 24):

=================  ==========  ==========  =============================
stage              2 threads   1 thread    1 thread, 2 processes at once
=================  ==========  ==========  =============================
1 (32 px)          117 ms      159 ms      150 ms each
2 (48 px, long)    166 ms      179 ms      197-213 ms each
=================  ==========  ==========  =============================

Two processes of two threads each on two cores crawl (more than 10x slower). The notebooks' stored outputs are made
the same way (``notebooks/build.py`` runs kernels on one thread): a model trained on one thread differs in its last
bits from one trained on two.

Files are handed out in :data:`ORDER` (``--no-loadscope-reorder``), a worker taking the next file when it is almost
done with its last. The showcase model (the canonical recipe, about four minutes of training on one thread) is the
critical path: most notebooks load it. Notebook 06 needs it in its first cells, so it starts first and trains it,
while the other worker runs what does not need it: the unit tests, notebooks 00-04 and 11, and notebook 05's study
runs (05 loads the showcase only in its last section). A notebook that needs a model another worker is still
training waits on the zoo's file lock, then loads it.
"""

from __future__ import annotations

import os

import pytest

# One thread per process, in this process and every kernel, server or subprocess it starts.
for variable in ("JCLIP_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Test files in the order they start, as path prefixes; a file takes the place of the longest prefix it starts
# with, files that match none come last, and collection order holds within a place (and so within a file).
ORDER = (
    "notebooks/06_",  # trains the showcase in its first cells
    "tests/",  # the unit tests and the notebooks that do not need the showcase, meanwhile
    "notebooks/00_",
    "notebooks/01_",
    "notebooks/02_",
    "notebooks/03_",
    "notebooks/04_",
    "notebooks/11_",
    "notebooks/05_",  # study runs from scratch first; the showcase only at the end
    "notebooks/07_",  # the longest of the rest (15 study runs)
    "notebooks/10_",
    "notebooks/08_",
    "notebooks/09_",
    "tests/test_browser.py",  # JupyterLab runs 08 and 09 again: their models are trained by then
    "notebooks/12_",
)


def start_place(nodeid: str) -> int:
    """The place in :data:`ORDER` of the test ``nodeid``: that of the longest prefix it starts with.

    Example:
        >>> start_place("notebooks/06_evaluation.ipynb::Cell 0"), start_place("tests/test_browser.py::test_x")
        (0, 13)
    """
    matches = [(len(prefix), place) for place, prefix in enumerate(ORDER) if nodeid.startswith(prefix)]
    return max(matches)[1] if matches else len(ORDER)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Sort the items by :data:`ORDER`, keeping the collection order within a group (and so within a file)."""
    items.sort(key=lambda item: start_place(item.nodeid))
