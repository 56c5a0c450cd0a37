"""Execute notebooks top to bottom in a fresh kernel and store their outputs (what nbval compares against).

Authors edit a notebook, then run, from the repository root::

    python notebooks/build.py notebooks/03_encoders.ipynb

It prints each notebook's wall time, which is what the "at most 60 s" budget in the issues is measured with.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

# Where the lab lives: every notebook's "Open in Colab" badge and its first cell's install line point here.
REPOSITORY = "jclip-lab/jclip_lab"
BRANCH = "main"
BADGE = (
    "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
    "(https://colab.research.google.com/github/{repository}/blob/{branch}/notebooks/{name})"
)
INSTALL = '    %pip install -q "jclip-lab @ git+https://github.com/{repository}@{branch}"'
INSTALL_LINE = re.compile(r'^\s*%pip install -q "jclip-lab @ git\+https://github\.com/[^"]*"$', re.M)
BADGE_LINK = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")


def point_at_repository(notebook: nbformat.NotebookNode, name: str) -> None:
    """Make the Colab badge (first markdown cell) and the Colab install line (first code cell) use
    :data:`REPOSITORY` and :data:`BRANCH`, so that a badge opens the notebook and installs the lab from one place."""
    markdown = next((c for c in notebook.cells if c.cell_type == "markdown"), None)
    code = next((c for c in notebook.cells if c.cell_type == "code"), None)
    badge = BADGE.format(repository=REPOSITORY, branch=BRANCH, name=name)
    if markdown is not None:
        markdown.source = BADGE_LINK.sub(lambda _: badge, markdown.source)
    if code is not None:
        code.source = INSTALL_LINE.sub(lambda _: INSTALL.format(repository=REPOSITORY, branch=BRANCH), code.source)


# The kernel every notebook records, as `python -m ipykernel install` names it: without it JupyterLab marks a
# notebook as changed on opening and, with a second Python kernel installed, may preselect one without jclip_lab.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def build(path: Path, timeout_s: int = 600) -> float:
    """Run ``path`` in a fresh ``python3`` kernel with the notebook's folder as cwd; save it; return seconds.

    The saved notebook records its kernel (``kernelspec``) and the kernel's ``language_info``.
    """
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    point_at_repository(notebook, path.name)
    client = NotebookClient(
        notebook, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()  # also stores the kernel's language_info in the notebook's metadata
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds


if __name__ == "__main__":
    # The stored outputs are those of the tiny profile on a CPU, offline, as notebooks/conftest.py tests them.
    os.environ.setdefault("JCLIP_PROFILE", "tiny")
    os.environ.setdefault("JCLIP_DEVICE", "cpu")
    os.environ.setdefault("JCLIP_OFFLINE", "1")  # notebook 10 stores no online measurement
    # One CPU thread per process, as the test session runs the notebooks (see conftest.py): a model trained on
    # one thread differs in its last bits from one trained on two.
    for variable in ("JCLIP_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in sys.argv[1:]:
        print(f"{name}: {build(Path(name)):.1f} s", flush=True)
