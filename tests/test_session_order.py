"""The test session's order (conftest.py at the repository root): the showcase's trainer first, every notebook placed.

With ``pytest -n 2`` a notebook missing from the order would start last, after the browser test, and stretch the run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _session_conftest():
    spec = importlib.util.spec_from_file_location("session_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_notebook_has_a_place_of_its_own_and_the_showcase_trainer_starts_first():
    session = _session_conftest()
    notebooks = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "notebooks").glob("*.ipynb"))
    places = [session.start_place(f"{name}::Cell 0") for name in notebooks]
    assert len(set(places)) == len(notebooks), dict(zip(notebooks, places, strict=True))
    assert max(places) < len(session.ORDER), "a notebook matches no prefix of ORDER"
    assert notebooks[places.index(0)] == "notebooks/06_evaluation.ipynb"


def test_unit_tests_start_before_the_notebooks_that_need_the_showcase_and_the_browser_test_after_them():
    session = _session_conftest()
    unit, browser = session.start_place("tests/test_losses.py::t"), session.start_place("tests/test_browser.py::t")
    for name in ("05_first_training", "07_multi_stage", "08_matryoshka", "09_embedding_space"):
        assert unit < session.start_place(f"notebooks/{name}.ipynb::Cell 0") < browser, name
