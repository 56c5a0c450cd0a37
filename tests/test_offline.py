"""jclip_lab.offline: the online/offline decision, and the fixtures standing in for the real benchmarks."""

from __future__ import annotations

import socket

import pytest

import jclip_lab.offline as offline
from jclip_lab.offline import FIXTURE_LANGUAGES, benchmark_languages, online, real_benchmark
from jclip_lab.real_benchmarks import XM3600_LANGUAGES, XTD10_LANGUAGES


@pytest.fixture
def no_connection(monkeypatch):
    """Any connection attempt fails the test: the variable alone must decide."""

    def refuse(*args, **kwargs):
        raise AssertionError("online() tried to connect although JCLIP_OFFLINE was set")

    monkeypatch.setattr(socket, "create_connection", refuse)


SETTINGS = [("1", False), ("true", False), ("YES", False), ("0", True), ("no", True)]


@pytest.mark.parametrize(("value", "expected"), SETTINGS)
def test_the_variable_decides_without_a_connection(monkeypatch, no_connection, value, expected) -> None:
    monkeypatch.setenv("JCLIP_OFFLINE", value)
    assert online() is expected


def test_an_unknown_setting_is_an_error(monkeypatch) -> None:
    monkeypatch.setenv("JCLIP_OFFLINE", "maybe")
    with pytest.raises(ValueError, match="JCLIP_OFFLINE='maybe'; set it to 1 \\(offline\\), 0 \\(online\\)"):
        online()


def test_unset_a_connection_decides(monkeypatch) -> None:
    monkeypatch.delenv("JCLIP_OFFLINE", raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert online(host="127.0.0.1", port=port, timeout=2) is True
    assert online(host="127.0.0.1", port=port, timeout=2) is False  # closed now: refused


def test_every_fixture_reads_in_every_language_it_has(tmp_path) -> None:
    assert benchmark_languages("xtd10", online=False) == XTD10_LANGUAGES  # all eleven, as online
    assert benchmark_languages("crossmodal3600", online=True) == XM3600_LANGUAGES
    for name, languages in FIXTURE_LANGUAGES.items():
        for language in languages:
            bench = real_benchmark(name, language, online=False, folder=tmp_path)
            images = 2 if name == "crossmodal3600" else 3
            assert (bench.name, bench.language, bench.num_images) == (name, language, images)
            assert [ref.open().size for ref in bench.images] == [(16, 12)] * bench.num_images
    xtd10 = {lang: real_benchmark("xtd10", lang, online=False, folder=tmp_path).captions for lang in XTD10_LANGUAGES}
    assert len({tuple(map(tuple, captions)) for captions in xtd10.values()}) == 11  # eleven different translations


def test_offline_errors_name_the_fix(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"crossmodal3600 has no language 'de'; choose one of \('ar', 'en', 'ja'\)"):
        real_benchmark("crossmodal3600", "de", online=False, folder=tmp_path)
    with pytest.raises(ValueError, match="needs a folder to write the fixtures into"):
        real_benchmark("flickr30k", online=False)
    with pytest.raises(ValueError, match="Unknown benchmark 'imagenet'"):
        real_benchmark("imagenet", online=False, folder=tmp_path)


def test_online_goes_to_the_real_loaders(monkeypatch, tmp_path) -> None:
    calls = []
    for loader in ("load_flickr30k", "load_mscoco"):
        monkeypatch.setattr(offline, loader, lambda loader=loader, **kwargs: calls.append((loader, kwargs)))
    for loader in ("load_xtd10", "load_crossmodal3600"):
        monkeypatch.setattr(offline, loader, lambda lang, loader=loader, **kwargs: calls.append((loader, lang, kwargs)))
    real_benchmark("flickr30k", online=True, folder=tmp_path, progress=False)
    real_benchmark("mscoco", online=True)
    real_benchmark("xtd10", "ko", online=True)
    real_benchmark("crossmodal3600", "fil", online=True)
    assert calls == [
        ("load_flickr30k", {"cache_dir": tmp_path, "progress": False}),
        ("load_mscoco", {"cache_dir": None, "progress": True}),
        ("load_xtd10", "ko", {"cache_dir": None, "progress": True}),
        ("load_crossmodal3600", "fil", {"cache_dir": None, "progress": True}),
    ]
