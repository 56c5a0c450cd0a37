"""The lab's two interactive widgets, driven in a real browser: JupyterLab + Chromium, through Playwright.

The test starts JupyterLab on a loopback port with a random token, on a copy of the notebooks (nothing is saved
into the committed ones), opens a notebook, runs all its cells and then uses its widget as a learner would:

- 08: moves the Matryoshka dimension slider to three dims with the keyboard and checks that what the panel
  prints changes and matches the library's numbers at that dim (R@1, R@5 and the index size);
- 09: types a query in two scripts (Latin, CJK) into the query panel and checks that results appear.

Browser console errors fail the test, except those listed in ``ALLOWED_CONSOLE_ERRORS``.

It needs a Chromium or Chrome binary (``apt-get install chromium``; no browser is downloaded) and
``pip install playwright``; without either it is skipped, saying which. ``JCLIP_CHROMIUM`` names another binary.
Screenshots go to ``$JCLIP_SCREENSHOTS`` if set, else to pytest's temporary folder.

The notebooks load trained zoo models. The browser tests run last in a session (tests/conftest.py), after the
notebook tests have trained and cached them; run alone, the test first loads (on a cold cache trains) every zoo
variant the two notebooks use, on the profile and on the study profile for every seed, in this process, on the CPU
with one thread, as the notebooks' kernels would, so that the browser's timeouts only have to cover running the
notebooks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

REPOSITORY = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPOSITORY / "notebooks"
# Stored outputs and zoo models are those of the tiny profile on a CPU; one thread, as on a busy CI machine.
KERNEL_ENVIRONMENT = {"JCLIP_PROFILE": "tiny", "JCLIP_DEVICE": "cpu", "JCLIP_THREADS": "1"}
# Without the background-networking flags Chromium keeps calling Google services, which a closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Console errors that say nothing about the lab (each with the reason it is allowed).
ALLOWED_CONSOLE_ERRORS: dict[str, str] = {
    r"net::ERR_\w+ \(https://colab\.research\.google\.com/assets/colab-badge\.svg\)": (
        "the notebooks' Open in Colab badge is an image on the web: offline it cannot load"
    ),
    r"Could not restore the debugger state: Canceled future for debug_request message": (
        "JupyterLab's own debugger, asking a kernel still starting for its state when the test closes the page "
        "(seen on a busy machine, with the other test process training)"
    ),
}

SERVER_START_S = 120
RUN_ALL_S = 15 * 60  # a warm cache needs about a minute per notebook; the margin covers a slow, shared machine
WIDGET_UPDATE_S = 60  # one slider step or one query: embeds one text, ranks, draws one figure


# ---------------------------------------------------------------- what the test needs, or why it skips


CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]


@pytest.fixture(scope="module")
def chromium():
    """Playwright's sync API and the Chromium binary to drive (``$JCLIP_CHROMIUM``, else the first on the PATH).

    Checked first, so that a machine without them skips at once, before any model is loaded.
    """
    api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: pip install playwright", exc_type=ImportError
    )
    for name in filter(None, [os.environ.get("JCLIP_CHROMIUM"), *CHROMIUM_NAMES]):
        if path := shutil.which(name):
            return api, path
    pytest.skip("no Chromium found: apt-get install chromium (or set JCLIP_CHROMIUM to a Chromium or Chrome binary)")


def _notebook_variants(*names: str) -> tuple[list[str], list[str]]:
    """The zoo variants the notebooks load: ``(on the profile, on the study profile)``.

    ``zoo.load()`` is the canonical one; ``zoo.load(variant="x")`` a variant on the profile;
    ``zoo.load(study, "x", ...)`` a variant on ``studies.study_profile(profile)``, loaded for every seed.
    """
    sources = "".join(cell.source for name in names for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells)
    on_profile = sorted({"canonical", *re.findall(r"""variant=["']([\w-]+)["']""", sources)})
    on_study = sorted(set(re.findall(r"""zoo\.load\(study, ["']([\w-]+)["']""", sources)))
    return on_profile, on_study


@contextlib.contextmanager
def _kernel_like_environment():
    """This process set up as the notebooks' kernels are (profile, device, one torch thread), then restored."""
    import torch

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in KERNEL_ENVIRONMENT.items():
            patch.setenv(key, value)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def expected(chromium):
    """The library's view of what the widgets show: the Matryoshka sweep of the final model, and test queries.

    Loading the zoo models here warms the cache for the notebooks (or trains them, a few minutes on a cold cache).
    """
    with _kernel_like_environment():
        from jclip_lab import studies, zoo
        from jclip_lab.evaluate import Embedder
        from jclip_lab.matryoshka import dimension_sweep
        from jclip_lab.profiles import get_profile
        from jclip_lab.world import load_world

        world = load_world(progress=False)
        on_profile, on_study = _notebook_variants("08_matryoshka.ipynb", "09_embedding_space.ipynb")
        for variant in on_profile:
            zoo.load(variant=variant, progress=False)
        study = studies.study_profile(get_profile())
        for variant in on_study:
            for seed in studies.SEEDS:
                zoo.load(study, variant, seed=seed, progress=False)
        final = zoo.load(progress=False)
        dims = final.config.matryoshka_dims
        scene = world.images[world.select("scenes", "test")[0]]["short"]
        return {
            "dims": tuple(dims),
            "sweep": dimension_sweep(Embedder(final, world), dims),
            "queries": {"Latin": scene["en"], "CJK": scene["ja"]},
        }


# ---------------------------------------------------------------- JupyterLab on a copy of the notebooks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quiet_lab_settings(settings: Path) -> None:
    """JupyterLab user settings: no news or update checks (no network here), every cell in the page."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "checkForUpdates": False,
            "fetchNews": "false",
        },
        # Windowing leaves cells out of the page until scrolled to; the test looks cells up in the page.
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, content in files.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(content))


@pytest.fixture(scope="module")
def lab(expected, tmp_path_factory):
    """A JupyterLab server: yields ``(base_url, token)``; its kernels can import this repository's jclip_lab."""
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    shutil.copytree(NOTEBOOKS, notebooks, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    _quiet_lab_settings(root / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    environment = {
        **os.environ,
        **KERNEL_ENVIRONMENT,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])),
        "JUPYTER_CONFIG_DIR": str(root / "config"),  # no user configuration (passwords, extensions' settings)
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands instead of clicking menus
        f"--LabApp.user_settings_dir={root / 'settings'}",
        f"--LabApp.workspaces_dir={root / 'workspaces'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",  # the default one asks PyPI about extensions
        "--allow-root",  # CI containers run as root
    ]
    log = (root / "server.log").open("w")
    server = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(base_url, token, server, root / "server.log")
        yield base_url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_for_server(base_url: str, token: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{base_url}/api/status?token={token}", timeout=5) as response:
                if response.status == 200:
                    return
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


# ---------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser(chromium, lab, tmp_path_factory):
    """A headless Chromium with a new, empty profile."""
    api, executable = chromium
    profile = tmp_path_factory.mktemp("chromium-profile")
    with api.sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ["JCLIP_SCREENSHOTS"]) if os.environ.get("JCLIP_SCREENSHOTS") else None
    folder = folder or tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class ConsoleErrors(list):
    """The browser's console errors and uncaught exceptions, collected while a page is open."""

    def unexpected(self) -> list[str]:
        return [error for error in self if not any(re.search(p, error) for p in ALLOWED_CONSOLE_ERRORS)]


def _open_notebook(browser, lab, name: str):
    """Open ``name`` in JupyterLab; return the page and its console errors once the kernel is idle."""
    base_url, token = lab
    page = browser.new_page()
    errors = ConsoleErrors()
    page.on("console", lambda message: message.type == "error" and errors.append(_console_line(message)))
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.goto(f"{base_url}/lab/tree/{name}?reset&token={token}")  # reset: no tabs from an earlier page
    page.wait_for_function(
        """name => {
            const panel = window.jupyterapp?.shell.currentWidget;
            return panel?.context?.path === name && panel.sessionContext.session?.kernel?.status === "idle";
        }""",
        arg=name,
        timeout=SERVER_START_S * 1000,
    )
    # A notebook without a kernelspec opens as changed (JupyterLab adds one), and may pick another kernel.
    assert not page.evaluate("window.jupyterapp.shell.currentWidget.context.model.dirty"), f"{name} opened as changed"
    return page, errors


def _close(page) -> None:
    """Shut the notebook's kernel down (it holds a trained model and a CPU) and close the page."""
    page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
    page.close()


def _console_line(message) -> str:
    """A console error with the address it is about (a failed load names only its cause in its text)."""
    return f"console: {message.text} ({message.location.get('url', '')})"


def _run_all(page) -> None:
    """JupyterLab's "Run All Cells" (the command behind the menu item); wait until every cell has run."""
    page.evaluate(
        """() => {
            window.runAllResult = undefined;
            window.jupyterapp.commands.execute("notebook:run-all-cells").then(
                ok => { window.runAllResult = ok; },
                error => { window.runAllResult = String(error); },
            );
        }"""
    )
    page.wait_for_function("window.runAllResult !== undefined", timeout=RUN_ALL_S * 1000, polling=1000)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, f"a cell raised:\n{errors.first.inner_text()[:3000]}"
    assert page.evaluate("window.runAllResult") is True
    unrun = page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets
            .filter(cell => cell.model.type === "code" && !cell.model.executionCount).length"""
    )
    assert unrun == 0, f"{unrun} code cells did not run"


def _widget(page, kind: str, label: str):
    """The ipywidgets control of class ``widget-<kind>`` whose description is ``label``."""
    description = page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    return page.locator(f".widget-{kind}").filter(has=description)


def _wait_for_view(page, output, line: str, figures: int = 1) -> str:
    """Wait until the panel's output prints ``line`` and shows ``figures`` loaded figures; return its printed text.

    A view's figures arrive one by one (each is its own display message): wait for all of them before comparing.
    """
    page.wait_for_function(
        """([output, line, figures]) => output.innerText.includes(line)
            && [...output.querySelectorAll("img")].filter(img => img.complete && img.naturalWidth > 0).length
               >= figures""",
        arg=[output.element_handle(), line, figures],
        timeout=WIDGET_UPDATE_S * 1000,
    )
    return output.inner_text().strip()


def _filled_columns(output, k: int) -> list[float]:
    """For the panel's figure, split into ``k`` vertical bands: the fraction of each band's pixels that is not white.

    A figure of k results in a row (or in several rows) fills every band; one drawn while another thread was
    still building it shows one or two thumbnails and leaves the other bands white.
    """
    return output.locator("img").last.evaluate(
        """(img, k) => {
            const canvas = document.createElement("canvas");
            [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
            const context = canvas.getContext("2d");
            context.drawImage(img, 0, 0);
            const {data, width, height} = context.getImageData(0, 0, canvas.width, canvas.height);
            const filled = new Array(k).fill(0);
            for (let y = 0; y < height; y++)
                for (let x = 0; x < width; x++) {
                    const i = 4 * (y * width + x);
                    if (data[i] < 245 || data[i + 1] < 245 || data[i + 2] < 245) filled[Math.floor(x * k / width)]++;
                }
            return filled.map(count => count / (width * height / k));
        }""",
        k,
    )


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", ["08_matryoshka.ipynb", "09_embedding_space.ipynb"])
def test_stored_widget_output_is_not_a_text_repr(browser, lab, screenshots, name):
    """Before a learner runs the notebook, its panel's cell shows what was stored, not ``VBox(children=...``."""
    page, console = _open_notebook(browser, lab, name)
    source = page.locator(".jp-InputArea .cm-content", has_text="query_panel(")
    cell = page.locator(".jp-CodeCell").filter(has=source).last
    cell.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / f"{name[:2]}_stored_panel_output.png")
    stored = cell.locator(".jp-OutputArea-output").all_inner_texts()
    _close(page)
    assert not [text for text in stored if re.search(r"\b[HV]Box\(children=", text)], stored
    assert not console.unexpected(), "\n".join(console.unexpected())


def test_matryoshka_slider_shows_the_librarys_numbers_at_each_dim(browser, lab, expected, screenshots):
    page, console = _open_notebook(browser, lab, "08_matryoshka.ipynb")
    _run_all(page)
    slider = _widget(page, "hslider", "dim")
    assert slider.count() == 1, "notebook 08 shows no slider described 'dim'"
    output = page.locator(".widget-vbox").filter(has=slider).locator(".widget-output")
    slider.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "08_slider_after_run.png")

    dims, sweep = expected["dims"], expected["sweep"]
    readout, handle = slider.locator(".widget-readout"), slider.locator(".noUi-handle")
    start = int(readout.inner_text())
    assert start == max(dims), f"the slider starts at {start}, not at the full width {max(dims)}"
    down = sorted(dims, reverse=True)[:4]  # the full width, then three smaller dims, one keyboard step each
    count = 2  # every view draws two figures: the top-k results, and the R@5 curves with the dim marked
    shown = {start: _wait_for_view(page, output, f"dim {start}\n", count)}
    figures = {start: _figures(output)}
    assert len(figures[start]) == count, f"the panel shows {len(figures[start])} figures, not {count}"
    for dim in down[1:]:
        began = time.perf_counter()
        _press(handle, "ArrowLeft")  # noUiSlider's keyboard support: one step down
        text = shown[dim] = _wait_for_view(page, output, f"dim {dim}\n", count)
        print(f"slider at {dim}: panel updated in {time.perf_counter() - began:.1f} s")
        page.screenshot(path=screenshots / f"08_slider_dim_{dim}.png")
        assert int(readout.inner_text()) == dim
        figures[dim] = _figures(output)
        assert figures[dim] != figures[down[down.index(dim) - 1]], f"the figure did not change at dim {dim}"
        numbers = _printed_numbers(text)
        assert numbers["dim"] == dim
        assert numbers["R@1"] == pytest.approx(sweep.metrics[dim]["R@1"], abs=5e-4), text
        assert numbers["R@5"] == pytest.approx(sweep.metrics[dim]["R@5"], abs=5e-4), text
        assert numbers["float32 MB"] == 4 * dim  # per million vectors: dim x 4 bytes
    assert len(set(shown.values())) == len(shown), "the panel printed the same text at two dims"
    for dim in down[-2::-1]:  # back up: each dim draws the figure it drew on the way down
        _press(handle, "ArrowRight")
        _wait_for_view(page, output, f"dim {dim}\n", count)
        assert _figures(output) == figures[dim], f"dim {dim} drew a different figure the second time"
    _close(page)
    assert not console.unexpected(), "\n".join(console.unexpected())


def test_query_panel_answers_queries_in_two_scripts(browser, lab, expected, screenshots):
    page, console = _open_notebook(browser, lab, "09_embedding_space.ipynb")
    _run_all(page)
    box = _widget(page, "text", "query")
    assert box.count() == 1, "notebook 09 shows no text box described 'query'"
    output = page.locator(".widget-vbox").filter(has=box).locator(".widget-output")
    k = int(_widget(page, "hslider", "top k").locator(".widget-readout").inner_text())
    figures = {}
    for script, query in [*expected["queries"].items()] * 2:  # each query twice: the same query, the same figure
        began = time.perf_counter()
        box.locator("input").fill(query)
        box.locator("input").press("Enter")  # continuous_update=False: the value is sent on Enter
        _wait_for_view(page, output, f"query: {query}")
        print(f"query {query!r} ({script}): results in {time.perf_counter() - began:.1f} s")
        if query in figures:
            assert _figures(output) == figures[query], f"{query!r} drew a different figure the second time"
            continue
        figures[query] = _figures(output)
        output.scroll_into_view_if_needed()
        page.screenshot(path=screenshots / f"09_query_{script}.png")
        filled = _filled_columns(output, k)
        assert min(filled) > 0.1, f"the figure for {query!r} does not show {k} results: {filled}"
    _close(page)
    assert not console.unexpected(), "\n".join(console.unexpected())


def _press(handle, key: str) -> None:
    handle.focus()
    handle.press(key)


def _figures(output) -> list[str]:
    """The figures the panel shows, as their ``data:`` addresses (equal figures have equal addresses)."""
    return output.locator("img").evaluate_all("images => images.map(img => img.src)")


def _printed_numbers(text: str) -> dict[str, float]:
    """The numbers the slider's panel prints: ``dim N``, ``R@1 x``, ``R@5 y`` and the float32 index size."""
    patterns = {
        "dim": r"\bdim (\d+)",
        "R@1": r"R@1 ([\d.]+)",
        "R@5": r"R@5 ([\d.]+)",
        "float32 MB": r"([\d,.]+) MB float32",
    }
    numbers = {}
    for name, pattern in patterns.items():
        match = re.search(pattern, text)
        assert match, f"the panel does not print {name} ({pattern}):\n{text}"
        numbers[name] = float(match.group(1).replace(",", ""))
    return numbers
