"""Checkpoints that survive a kill at any moment, load without pickle, and resume a run exactly.

A checkpoint is a folder ``checkpoint-<global step>``:

- ``model/``: ``save_pretrained`` (config, safetensors weights, tokenizer);
- ``state.pt``: the optimizer state and every random generator's state, as tensors and plain numbers only, so it
  loads with ``torch.load(..., weights_only=True)``: a crafted file cannot run code (pickle could);
- ``position.json``: the stage and step to carry on from; ``history.json``: the training history so far.

It is written into a temporary folder and renamed into place, then the ``latest`` pointer file is replaced
atomically, so a kill leaves either the old or the new checkpoint, never half of one.

Example:
    >>> state = random_state()
    >>> sorted(state)
    ['cuda', 'gaussians', 'numpy', 'numpy_position', 'python', 'torch']
    >>> restore_random_state(state)
"""

from __future__ import annotations

import json
import math
import pickle
import random
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from jclip_lab.cache import remove_stale_temporaries, write_directory_atomically, write_file_atomically
from jclip_lab.models import JClipModel
from jclip_lab.models.config import JClipConfig, check_same_architecture

CHECKPOINT_POINTER = "latest"
KEEP = 2  # checkpoints kept per run: the latest, and one to fall back on if the latest is damaged


@dataclass
class Position:
    """Where a run stands: ``stage_step`` steps done in stage ``stage_index``; ``global_step`` steps in all."""

    stage_index: int = 0
    stage_step: int = 0
    global_step: int = 0


def random_state() -> dict[str, torch.Tensor]:
    """Every random generator's state (Python, NumPy, torch CPU and CUDA) as tensors, safe to save and load.

    ``torch.load(..., weights_only=True)`` accepts tensors and plain containers only, so NumPy's and Python's
    states (tuples holding arrays) are stored as integer tensors.
    """
    version, python_state, python_gauss = random.getstate()
    _, keys, position, has_gauss, numpy_gauss = np.random.get_state()
    return {
        "python": torch.tensor([version, *python_state], dtype=torch.int64),
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_position": torch.tensor([position, has_gauss], dtype=torch.int64),
        # Both generators may hold one spare Gaussian sample (NaN: none).
        "gaussians": torch.tensor([math.nan if python_gauss is None else python_gauss, numpy_gauss]).double(),
        "torch": torch.get_rng_state(),
        "cuda": torch.stack(torch.cuda.get_rng_state_all()) if torch.cuda.is_available() else torch.empty(0),
    }


def restore_random_state(state: dict[str, torch.Tensor]) -> None:
    """Set every random generator back to a :func:`random_state`."""
    python = state["python"].tolist()
    python_gauss, numpy_gauss = state["gaussians"].tolist()
    random.setstate((python[0], tuple(python[1:]), None if math.isnan(python_gauss) else python_gauss))
    position, has_gauss = state["numpy_position"].tolist()
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), position, has_gauss, numpy_gauss))
    torch.set_rng_state(state["torch"])
    if len(state["cuda"]) and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def save_checkpoint(
    out_dir: Path,
    model: JClipModel,
    optimizer: torch.optim.Optimizer,
    position: Position,
    history: object,
    random_states: list[dict[str, torch.Tensor]] | None = None,
) -> Path:
    """Write a resumable checkpoint atomically, point ``out_dir/latest`` at it, and keep the last :data:`KEEP`.

    Args:
        out_dir: the run's folder.
        model: the model being trained.
        optimizer: its optimizer.
        position: where the run stands after this step.
        history: the run's :class:`~jclip_lab.train.loop.History` (a dataclass, saved as JSON).
        random_states: every process's :func:`random_state`, in rank order (default: this process's alone).

    Returns:
        The checkpoint's folder.
    """
    out_dir = Path(out_dir)
    name = f"checkpoint-{position.global_step:07d}"

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp / "model")
        states = random_states if random_states is not None else [random_state()]
        torch.save({"optimizer": optimizer.state_dict(), "random": states}, tmp / "state.pt")
        (tmp / "position.json").write_text(json.dumps(asdict(position)))
        (tmp / "history.json").write_text(json.dumps(asdict(history)))

    write_directory_atomically(out_dir / name, write)
    write_file_atomically(out_dir / CHECKPOINT_POINTER, lambda tmp: tmp.write_text(name))
    for old in checkpoints(out_dir)[KEEP:]:
        shutil.rmtree(old)
    return out_dir / name


def checkpoints(out_dir: Path) -> list[Path]:
    """The run's checkpoint folders, newest first.

    Example:
        >>> checkpoints(Path("no-such-run"))
        []
    """
    return sorted(Path(out_dir).glob("checkpoint-*"), reverse=True)


def latest_checkpoint(out_dir: Path) -> Path | None:
    """The checkpoint ``out_dir/latest`` points at, or None if the run has none (or it was deleted).

    Example:
        >>> latest_checkpoint(Path("no-such-run")) is None
        True
    """
    pointer = Path(out_dir) / CHECKPOINT_POINTER
    if not pointer.is_file():
        return None
    checkpoint = Path(out_dir) / pointer.read_text().strip()
    return checkpoint if checkpoint.is_dir() else None


@dataclass
class Checkpoint:
    """What a checkpoint restores: the weights (already loaded into the model), and the rest of the run's state.

    ``random`` holds one :func:`random_state` per process of the run that saved it, in rank order.
    """

    path: Path
    position: Position
    history: dict
    optimizer: dict
    random: list[dict[str, torch.Tensor]]


def _read(checkpoint: Path, model: JClipModel) -> Checkpoint:
    """Load one checkpoint into ``model``; raise ValueError naming the file if any part of it is unreadable."""
    check_same_architecture(JClipConfig.from_pretrained(checkpoint / "model"), model.config)
    part = checkpoint / "model"
    try:
        restored = JClipModel.from_pretrained(part)
        part = checkpoint / "state.pt"
        state = torch.load(part, weights_only=True)
        part = checkpoint / "position.json"
        position = Position(**json.loads(part.read_text()))
        part = checkpoint / "history.json"
        history = json.loads(part.read_text())
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{part} is damaged: it holds objects other than tensors and numbers, which this lab never writes and "
            "refuses to unpickle (they could run code)"
        ) from error
    except Exception as error:  # any other damage: a truncated or zeroed file, bad JSON
        raise ValueError(f"{part} is damaged: {str(error).splitlines()[0]}") from error
    model.load_state_dict(restored.state_dict())
    return Checkpoint(checkpoint, position, history, state["optimizer"], state["random"])


def load_checkpoint(out_dir: Path, model: JClipModel) -> Checkpoint | None:
    """Load the newest readable checkpoint of the run in ``out_dir`` into ``model``; None if the run has none.

    The checkpoint ``latest`` points at comes first; if it is damaged (a disk error, a crafted file), the next
    older one is used, with a warning that names the damaged one.

    Raises:
        ValueError: if the run's checkpoints were saved from another architecture (the message lists the
            fields), or every checkpoint is damaged.
    """
    remove_stale_temporaries(Path(out_dir))
    latest = latest_checkpoint(out_dir)
    candidates = ([latest] if latest else []) + [c for c in checkpoints(out_dir) if c != latest]
    errors = []
    for candidate in candidates:
        try:
            checkpoint = _read(candidate, model)
        except ValueError as error:
            if "different architecture" in str(error):
                raise
            errors.append(str(error))
            continue
        if errors:
            warnings.warn(f"{errors[-1]}; resuming from the older {candidate.name} instead.", stacklevel=2)
        return checkpoint
    if errors:
        raise ValueError(f"No readable checkpoint in {out_dir}: {'; '.join(errors)}")
    return None
