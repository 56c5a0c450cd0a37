"""Everything the two-process tests check, in one ``torchrun`` session (a process group costs seconds to start).

Run by tests/test_distributed.py as ``torchrun --nproc_per_node 2 tests/ddp_session.py SETUP.json``. Each rank:

1. compares the gathered losses and their gradients with one process, in float32 and float64, with a DDP model
   (``jclip_lab.distributed.compare_with_one_process``);
2. trains the lab's tiny model for a few steps with full batches, then with gradient caching;
3. trains again, is interrupted after 3 steps (a checkpoint at step 2), and resumes.

Rank 0 writes the figures and the final weights of each run where SETUP.json says.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import PreTrainedTokenizerFast

from jclip_lab import distributed
from jclip_lab.models import JClipModel
from jclip_lab.profiles import get_profile, seed_everything
from jclip_lab.train import Stage, train
from jclip_lab.world import load_world


class Stop(Exception):
    """Interrupts training, as a kill would (train sees an exception from its evaluation callback)."""


def stopper(after: int):
    calls = []

    def stop(model) -> dict:
        calls.append(1)
        if len(calls) > after:
            raise Stop
        return {}

    return stop


def train_once(setup: dict, world, tokenizer, name: str, **options) -> None:
    seed_everything(0)
    model = JClipModel.from_preset("tiny", tokenizer=tokenizer, vocab_size=len(tokenizer), patch_dropout=0.0)
    stages = [Stage(**stage) for stage in setup["stages"]]
    try:
        train(model, world, stages, device="cpu", checkpoint_every=2, progress=False, **options)
    except Stop:
        if distributed.is_main_process():  # where the interruption left the run
            latest = (Path(options["out_dir"]) / "latest").read_text()
            (Path(setup["out"]) / f"{name}-latest.txt").write_text(latest)
        return
    if distributed.is_main_process():
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()}, Path(setup["out"]) / f"{name}.safetensors"
        )


def main(setup_file: str) -> None:
    setup = json.loads(Path(setup_file).read_text())
    torch.set_num_threads(1)
    distributed.init_distributed()
    figures = {
        str(dtype): {name: a._asdict() for name, a in distributed.compare_with_one_process(dtype=dtype).items()}
        for dtype in (torch.float32, torch.float64)
    }
    if distributed.is_main_process():
        (Path(setup["out"]) / "figures.json").write_text(json.dumps({"world_size": distributed.world_size(),
                                                                     "figures": figures}))  # fmt: skip
    world = load_world(replace(get_profile("tiny"), **setup["profile"]), cache_dir=setup["cache"], progress=False)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(setup["tokenizer"])
    train_once(setup, world, tokenizer, "full-batch")
    train_once(setup, world, tokenizer, "gradient-cached", chunk_size=2)
    run = str(Path(setup["out"]) / "run")
    train_once(setup, world, tokenizer, "stopped", out_dir=run, eval_every=1, eval_fn=stopper(3))
    train_once(setup, world, tokenizer, "resumed", out_dir=run, resume=True)
    distributed.cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
