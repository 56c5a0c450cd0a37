"""Every example in the library's docstrings runs and prints what it says.

Examples may use two names the notebooks also use: ``world`` (here the tests' small world) and ``model`` (an
untrained tiny model with the world's tokenizer), so they show real calls without training anything.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import matplotlib
import pytest

import jclip_lab
from jclip_lab.models import JClipModel
from jclip_lab.profiles import seed_everything

matplotlib.use("Agg")
# Every module but ``jclip_lab.__main__``, which runs the command line when imported.
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(jclip_lab.__path__, prefix="jclip_lab.") if m.name != "jclip_lab.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, world, tokenizer):
    seed_everything(0)
    model = JClipModel.from_preset("tiny", tokenizer=tokenizer)
    result = doctest.testmod(
        importlib.import_module(name), extraglobs={"world": world, "model": model}, optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_no_docstring_example_is_skipped():
    sources = {name: importlib.import_module(name).__loader__.get_source(name) or "" for name in MODULES}
    skipped = [name for name, source in sources.items() if "doctest: +SKIP" in source]
    assert not skipped, f"examples marked +SKIP (run them or delete them) in {skipped}"
