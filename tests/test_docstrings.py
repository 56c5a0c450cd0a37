"""Every example in the library's docstrings runs and prints what it says (examples that need a trained model or
a full world are marked ``+SKIP``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import jclip_lab

MODULES = sorted(m.name for m in pkgutil.walk_packages(jclip_lab.__path__, prefix="jclip_lab."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
