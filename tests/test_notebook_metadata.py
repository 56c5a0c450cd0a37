"""Every notebook records the kernel it runs in, and notebooks/build.py writes it.

Without a ``kernelspec`` JupyterLab marks a notebook as changed as soon as it opens it and, where a second Python
kernel is installed, may preselect that one, which has no jclip_lab.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _load_build_module():
    spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.name)
def test_every_notebook_records_the_python3_kernel(path):
    metadata = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: rebuild it with notebooks/build.py"
    assert metadata["kernelspec"]["language"] == "python"
    assert metadata.get("language_info", {}).get("name") == "python"


def test_build_writes_the_kernelspec_and_language_info(tmp_path):
    path = tmp_path / "one_cell.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    build = _load_build_module()
    build.build(path, timeout_s=120)
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.kernelspec == build.KERNELSPEC
    assert notebook.metadata.language_info.name == "python"
    assert notebook.cells[0].outputs[0].text == "42\n"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.name)
def test_the_colab_badge_and_install_line_point_at_the_repository(path):
    build = _load_build_module()
    notebook = nbformat.read(path, as_version=4)
    badge = build.BADGE.format(repository=build.REPOSITORY, branch=build.BRANCH, name=path.name)
    install = build.INSTALL.format(repository=build.REPOSITORY, branch=build.BRANCH).strip()
    first_markdown = next(c for c in notebook.cells if c.cell_type == "markdown")
    first_code = next(c for c in notebook.cells if c.cell_type == "code")
    assert badge in first_markdown.source, f"{path.name}: rebuild it with notebooks/build.py"
    assert install in first_code.source and 'if "google.colab" in sys.modules:' in first_code.source


def test_build_points_a_notebook_at_the_repository():
    build = _load_build_module()
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# T\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge"
                                      ".svg)](https://colab.research.google.com/github/old/place/blob/dev/x.ipynb)"),
        nbformat.v4.new_code_cell('if "google.colab" in sys.modules:\n    %pip install -q "jclip-lab @ git+https://github.com/old/place"'),
    ])  # fmt: skip
    build.point_at_repository(notebook, "05_first_training.ipynb")
    assert (
        f"github/{build.REPOSITORY}/blob/{build.BRANCH}/notebooks/05_first_training.ipynb" in notebook.cells[0].source
    )
    assert f"git+https://github.com/{build.REPOSITORY}@{build.BRANCH}" in notebook.cells[1].source
