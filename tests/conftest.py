"""Shared fixtures: no network, a small world (generated once per test session), its tokenizer and a tiny model."""

from __future__ import annotations

import pytest
from real_format import block_network
from small_world import SMALL

from jclip_lab.profiles import seed_everything
from jclip_lab.world import load_world


@pytest.fixture(autouse=True)
def no_network():
    """Every test runs offline: a connection or name lookup for anything but loopback raises NetworkBlocked."""
    undo = block_network()
    yield
    undo()


@pytest.fixture
def one_thread():
    """One torch thread for a test (modules opt in with ``pytestmark``): measurements need no speed, and two
    threads on a busy 2-core machine crawl."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    return load_world(SMALL, seed=0, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


@pytest.fixture(scope="session")
def tokenizer(world):
    from jclip_lab.tokenizer import train_tokenizer, world_texts

    return train_tokenizer(world_texts(world)[::4], vocab_size=4000)  # a quarter of the text: faster, few <unk>


@pytest.fixture
def model(tokenizer):
    from jclip_lab.models import JClipModel

    seed_everything(0)
    return JClipModel.from_preset("tiny", tokenizer=tokenizer, vocab_size=len(tokenizer))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: by then the notebook tests have trained and cached the zoo models they open."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)  # a stable sort keeps the rest
