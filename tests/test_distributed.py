"""Tests for jclip_lab.distributed and data-parallel batches: N ranks of batch B train like one process of N x B.

The two-process tests run on CPUs with gloo, once started by ``torch.multiprocessing.spawn`` and once by
``torchrun`` (what users run), each on a free loopback port.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import jclip_lab
from jclip_lab import distributed
from jclip_lab.distributed import (
    gather_with_grad,
    gathered_clip_loss,
    gathered_info_nce,
    gathered_text_pair_loss,
    gathered_triplet_loss,
)
from jclip_lab.losses import clip_loss, info_nce, matryoshka_loss, text_pair_loss, triplet_loss
from jclip_lab.world.datasets import TaskMixer

WORLD_SIZE = 2


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def free_port() -> int:
    """A TCP port on the loopback interface that nobody listens on (the OS picks it when we bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- info_nce's first positive ------------------------------------------------------------------------------


def test_first_positive_shifts_the_targets() -> None:
    queries, keys = randn(3, 8, seed=0), randn(7, 8, seed=1)
    q, k = F.normalize(queries, dim=-1), F.normalize(keys, dim=-1)
    expected = F.cross_entropy(10.0 * q @ k.T, torch.tensor([4, 5, 6]))
    torch.testing.assert_close(info_nce(queries, keys, 10.0, first_positive=4), expected)


@pytest.mark.parametrize("first_positive", [-1, 5])
def test_first_positive_out_of_range_raises(first_positive: int) -> None:
    with pytest.raises(ValueError, match=rf"first_positive={first_positive} and queries \(3, 8\), keys \(7, 8\)"):
        info_nce(randn(3, 8), randn(7, 8), 1.0, first_positive=first_positive)


# --- one process: the gathered losses are the plain ones ------------------------------------------------------


def test_gather_is_the_identity_without_torchrun() -> None:
    x = randn(4, 8)
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main_process()
    assert gather_with_grad(x) is x


@pytest.mark.parametrize(
    ("gathered", "plain", "inputs", "kwargs"),
    [
        (gathered_clip_loss, clip_loss, 2, {"scale": torch.tensor(14.3)}),
        (gathered_text_pair_loss, text_pair_loss, 2, {}),
        (gathered_text_pair_loss, text_pair_loss, 2, {"temperature": 0.1, "symmetric": False}),
        (gathered_text_pair_loss, text_pair_loss, 2, {"directions": "sum"}),
        (gathered_triplet_loss, triplet_loss, 3, {}),
        (gathered_triplet_loss, triplet_loss, 3, {"bidirectional": False}),
        (gathered_triplet_loss, triplet_loss, 3, {"temperature": 0.1, "directions": "sum"}),
    ],
)
def test_gathered_losses_equal_the_plain_ones_on_one_process(gathered, plain, inputs: int, kwargs: dict) -> None:
    embeddings = [randn(4, 8, seed=i) for i in range(inputs)]
    assert torch.equal(gathered(*embeddings, **kwargs), plain(*embeddings, **kwargs))
    assert torch.equal(
        matryoshka_loss(gathered, *embeddings, dims=(4, 8), **kwargs),
        matryoshka_loss(plain, *embeddings, dims=(4, 8), **kwargs),
    )


def test_gathered_info_nce_takes_extra_keys_as_negatives() -> None:
    queries, keys = randn(4, 8, seed=0), randn(6, 8, seed=1)
    assert torch.equal(gathered_info_nce(queries, keys, 5.0), info_nce(queries, keys, 5.0))


def test_gathered_losses_refuse_what_the_plain_ones_refuse() -> None:
    with pytest.raises(ValueError, match="batch size"):
        gathered_clip_loss(randn(4, 8), randn(3, 8), 1.0)
    with pytest.raises(ValueError, match="temperature must be positive"):
        gathered_text_pair_loss(randn(4, 8), randn(4, 8), temperature=0.0)
    with pytest.raises(ValueError, match="batch size"):
        gathered_triplet_loss(randn(4, 8), randn(3, 8), randn(4, 8))
    with pytest.raises(ValueError, match="directions must be 'mean' or 'sum'"):
        gathered_triplet_loss(randn(4, 8), randn(4, 8), randn(4, 8), directions="max")


def test_init_distributed_needs_every_torchrun_variable(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"\['RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'\].*torchrun"):
        distributed.init_distributed()


# --- two processes: N ranks of B == one process of N x B ------------------------------------------------------


def _assert_agree(figures: dict, float_resolution: float) -> None:
    """Every loss and gradient agrees with one process to ``float_resolution`` of its magnitude."""
    for name, agreement in figures.items():
        assert agreement["loss_rel"] <= float_resolution, (name, agreement)
        assert agreement["grad_rel"] <= float_resolution, (name, agreement)


@pytest.fixture(scope="module")
def session(world, tokenizer, tmp_path_factory) -> dict:
    """Run tests/ddp_session.py once on two processes launched by torchrun (what users run); its outputs."""
    out = tmp_path_factory.mktemp("ddp")
    tokenizer.save_pretrained(out / "tokenizer")
    fields = ("scenes", "emoji", "flags", "charts", "digits")
    setup = {"out": str(out), "cache": str(world.directory.parent), "tokenizer": str(out / "tokenizer"),
             "stages": [stage_dict(batch_size=4)],
             "profile": {"name": world.profile.name, **{f: getattr(world.profile, f) for f in fields}}}  # fmt: skip
    (out / "setup.json").write_text(json.dumps(setup))
    repo = str(Path(jclip_lab.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([repo, str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "torch.distributed.run",  # = torchrun, with this interpreter
        "--nproc_per_node", str(WORLD_SIZE), "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(Path(__file__).parent / "ddp_session.py"), str(out / "setup.json"),
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return {"out": out, **json.loads((out / "figures.json").read_text())}


def stage_dict(batch_size: int) -> dict:
    return {"name": "s", "tasks": {"short": 1.0, "pairs": 1.0}, "steps": 4, "batch_size": batch_size,
            "image_size": 32, "max_text_length": 24, "warmup": 1, "matryoshka_dims": [16, 128]}  # fmt: skip


def test_two_ranks_with_ddp_equal_one_process(session) -> None:
    assert session["world_size"] == WORLD_SIZE
    figures = session["figures"]
    assert set(figures["torch.float32"]) >= {"clip_loss", "matryoshka triplet_loss bidirectional", "gradient caching",
                                              "DDP model"}  # fmt: skip
    _assert_agree(figures["torch.float32"], 1e-6)  # float32 resolves 1.2e-7 of a value
    _assert_agree(figures["torch.float64"], 1e-12)  # the same arithmetic: exact to float64's resolution


@pytest.mark.parametrize("name, chunk_size", [("full-batch", None), ("gradient-cached", 2)])
def test_two_processes_train_like_one_with_the_doubled_batch(session, world, tokenizer, name, chunk_size) -> None:
    from safetensors.torch import load_file

    from jclip_lab.models import JClipModel
    from jclip_lab.profiles import seed_everything
    from jclip_lab.train import Stage, train

    seed_everything(0)
    one = JClipModel.from_preset("tiny", tokenizer=tokenizer, vocab_size=len(tokenizer), patch_dropout=0.0)
    train(one, world, [Stage(**stage_dict(batch_size=8))], device="cpu", chunk_size=chunk_size, progress=False)
    two = load_file(session["out"] / f"{name}.safetensors")
    assert one.state_dict().keys() == two.keys()
    for key, value in one.state_dict().items():  # 4 AdamW steps: fp32 sums in another order, a little amplified
        torch.testing.assert_close(two[key], value, atol=1e-5, rtol=1e-4, msg=key)


def test_a_two_process_run_stopped_and_resumed_ends_identical(session) -> None:
    from safetensors.torch import load_file

    assert (session["out"] / "stopped-latest.txt").read_text() == "checkpoint-0000002"  # where the stop left it
    reference, resumed = (load_file(session["out"] / f"{n}.safetensors") for n in ("full-batch", "resumed"))
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], atol=0, rtol=0, msg=key)


# --- data: one global batch, sliced per rank ------------------------------------------------------------------


class Concepts:
    """A dataset of ``n`` integer items whose key (concept) is ``item % concepts``."""

    def __init__(self, n: int, concepts: int):
        self.n, self.concepts = n, concepts

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i

    def key(self, i: int) -> int:
        return i % self.concepts


def _steps(mixer: TaskMixer, steps: int) -> list[dict]:
    stream = iter(mixer)
    return [next(stream) for _ in range(steps)]


def test_single_process_batches_are_unchanged() -> None:
    # Drawn with TaskMixer before the rank / world_size option existed: one process must stay bit-identical.
    mixer = TaskMixer(
        {"pairs": Concepts(60, 20), "few": Concepts(12, 3)}, batch_size={"pairs": 8, "few": 4}, collate=list, seed=3
    )
    assert _steps(mixer, 3) == [
        {"pairs": [8, 10, 5, 37, 6, 38, 12, 19], "few": [11, 1, 6]},
        {"pairs": [28, 56, 24, 59, 7, 35, 23, 53], "few": [4, 2, 9]},
        {"pairs": [48, 16, 4, 43, 20, 13, 34, 57], "few": [10, 8, 3]},
    ]


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_slice_one_global_batch_without_repeated_concepts(world_size: int) -> None:
    data = {"pairs": Concepts(300, 40)}
    ranks = [_steps(TaskMixer(data, 6, list, seed=1, rank=r, world_size=world_size), 20) for r in range(world_size)]
    one_process = _steps(TaskMixer(data, 6 * world_size, list, seed=1), 20)
    for step, expected in enumerate(one_process):
        slices = [ranks[r][step]["pairs"] for r in range(world_size)]
        assert all(len(s) == 6 for s in slices)
        global_batch = [i for s in slices for i in s]
        assert global_batch == expected["pairs"]  # the concatenation is the one-process batch of N x B
        assert len({i % 40 for i in global_batch}) == len(global_batch)  # no concept twice in the global batch


def test_a_short_global_batch_is_cut_to_equal_slices() -> None:
    data = {"few": Concepts(30, 5)}  # 5 concepts: a global batch of 2 x 4 holds 5 items, cut to 2 x 2
    slices = [_steps(TaskMixer(data, 4, list, rank=r, world_size=2), 6) for r in (0, 1)]
    for step in range(6):
        rank_0, rank_1 = slices[0][step]["few"], slices[1][step]["few"]
        assert len(rank_0) == len(rank_1) == 2
        assert len({i % 5 for i in rank_0 + rank_1}) == 4


def test_bad_rank_or_too_few_concepts_raise() -> None:
    with pytest.raises(ValueError, match="rank=2, world_size=2"):
        TaskMixer({"pairs": Concepts(10, 5)}, 2, list, rank=2, world_size=2)
    with pytest.raises(ValueError, match=r"only 2 distinct keys.*world_size=3"):
        next(iter(TaskMixer({"few": Concepts(10, 2)}, 2, list, world_size=3)))
