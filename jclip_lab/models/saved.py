"""The files of a saved model, checked before anything is loaded, so a bad folder fails at once with its name.

``transformers`` loads a folder whose weights disagree with its config (more or fewer layers, another preset's
widths) with random or dropped layers and only a log line; a folder that does not exist becomes a hub request.
:func:`check_saved_model` reads the safetensors header (names and shapes, no weights) and compares it with the
tensors the config builds, on the meta device.

Example:
    >>> import tempfile
    >>> from jclip_lab.models import JClipModel, config_preset
    >>> folder = Path(tempfile.mkdtemp())
    >>> JClipModel(config_preset("tiny", vocab_size=10)).save_pretrained(folder)
    >>> check_saved_model(folder, config_preset("tiny", vocab_size=10, text_layers=3))
    Traceback (most recent call last):
    ...
    ValueError: The weights in .../model.safetensors do not fit its config: 14 tensors missing (text.blocks.2...
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from torch import nn

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def check_folder(folder: str | os.PathLike) -> Path:
    """The folder of a saved model, or a FileNotFoundError that says what is missing and what to pass instead.

    Example:
        >>> check_folder("no/such/run")
        Traceback (most recent call last):
        ...
        FileNotFoundError: No model at .../no/such/run: the folder does not exist.
    """
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"No model at {path.resolve()}: the folder does not exist.")
    if not (path / CONFIG_FILE).is_file():
        inside = sorted(p.name for p in path.iterdir())[:8]
        hint = " (a training checkpoint keeps its model in its model/ subfolder)" if "position.json" in inside else ""
        raise FileNotFoundError(
            f"No model at {path.resolve()}: there is no {CONFIG_FILE}{hint}; the folder holds {inside}. "
            "Pass a folder written by save_pretrained."
        )
    return path


def _summary(kind: str, names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
    return f"{len(names)} tensors {kind} ({shown})"


def check_weights(weights: Path, model: nn.Module) -> None:
    """Raise a ValueError naming the tensors in which ``weights`` (a safetensors file) and ``model`` disagree.

    Only the file's header is read. ``model`` may live on the meta device.
    """
    try:
        with safe_open(weights, framework="pt") as stored:
            shapes = {name: tuple(stored.get_slice(name).get_shape()) for name in stored.keys()}
    except Exception as error:  # a truncated, zeroed or foreign file
        raise ValueError(f"{weights} is damaged or not a safetensors file: {error}") from error
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    missing = [name for name in expected if name not in shapes]
    unexpected = [name for name in shapes if name not in expected]
    mismatched = [f"{n} {shapes[n]} vs {expected[n]}" for n in expected if n in shapes and shapes[n] != expected[n]]
    found = {"missing": missing, "unexpected": unexpected, "of another shape": mismatched}
    problems = [_summary(kind, names) for kind, names in found.items() if names]
    if problems:
        raise ValueError(
            f"The weights in {weights} do not fit its config: {'; '.join(problems)}. The config.json beside them "
            "describes another architecture (edited by hand, or copied from another preset): save the model again "
            "with save_pretrained, or load with the config it was saved with."
        )


def check_saved_model(folder: str | os.PathLike, config) -> Path:
    """Check that ``folder`` holds a config and weights that fit ``config``; return the folder.

    Raises:
        FileNotFoundError: no folder, no config.json or no weights file.
        ValueError: damaged weights, or weights that do not fit ``config`` (the tensors are named).
    """
    from jclip_lab.models.model import JClipModel

    path = check_folder(folder)
    weights = path / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"No {WEIGHTS_FILE} in {path.resolve()}: the model's weights are missing.")
    with torch.device("meta"):
        model = JClipModel(config)
    check_weights(weights, model)
    return path


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' progress bars ("Loading weights", "Writing model shards") for the block.

    In a notebook each bar is a widget that clutters the cell's output (and nbval's comparison).
    """
    was_enabled = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers.utils.logging.enable_progress_bar()
