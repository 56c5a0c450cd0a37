"""One rank of the spawned two-process test, in a module of its own: each spawned process imports the module
its function lives in, and this one needs only torch and ``jclip_lab.distributed`` (not the test module's world
and tokenizer imports, seconds per process)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from jclip_lab import distributed


def run_rank(rank: int, world_size: int, port: int, result_file: str) -> None:
    """Set torchrun's variables by hand, join the gloo group, compare with one process in float32 and float64."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    distributed.init_distributed()
    figures = {
        str(dtype): distributed.compare_with_one_process(dtype=dtype, ddp=False)
        for dtype in (torch.float32, torch.float64)
    }
    if distributed.is_main_process():
        Path(result_file).write_text(json.dumps({"world_size": distributed.world_size(), "figures": {
            dtype: {name: agreement._asdict() for name, agreement in by_name.items()}
            for dtype, by_name in figures.items()
        }}))  # fmt: skip
    distributed.cleanup()
