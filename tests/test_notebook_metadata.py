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
