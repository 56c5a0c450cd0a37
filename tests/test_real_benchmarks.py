"""The real-benchmark readers on few-row fixtures written in the real layouts, recall@k against hand-computed values,
and downloads (resume, verification, offline error) against a server on 127.0.0.1. No test reaches the network."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jclip_lab.offline.fake_benchmarks import (
    WEBDATASET_CAPTIONS,
    add_tar_members,
    fixture_image_bytes,
    fixture_image_index,
    write_crossmodal3600,
    write_webdataset,
    write_xtd10,
)
from jclip_lab.real_benchmarks import download, readers, retrieval
from jclip_lab.real_benchmarks.download import DownloadError, OfflineError, download_from_hub, download_url
from jclip_lab.real_benchmarks.readers import (
    RetrievalBenchmark,
    load_crossmodal3600,
    load_flickr30k,
    load_xtd10,
    read_crossmodal3600,
    read_webdataset,
    read_xtd10,
)
from jclip_lab.real_benchmarks.retrieval import BenchmarkEmbeddings, evaluate_retrieval, score_retrieval

OFFLINE_MESSAGE = (
    "cannot reach {host}: the real benchmarks need the internet; the lab's offline benchmarks are in jclip_lab.evaluate"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any name lookup other than the loopback address fails: these tests cannot reach the network."""
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(f"tests may not resolve {host}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


# ---------------------------------------------------------------- the three-image benchmark and its stub model

CAPTIONS = [list(captions) for captions in WEBDATASET_CAPTIONS]  # a comma; Japanese / Arabic / Russian
IMAGE_VECTORS = np.eye(3)
# Unit vectors whose dot products with the one-hot images are the scores; the comment gives the rank of the own image.
CAPTION_VECTORS = {
    "a dog, running on grass": (1.0, 0.0, 0.0),  # image 0: 1.0 -> rank 1
    "犬が草の上を走っている": (0.6, 0.8, 0.0),  # image 0: 0.6 < image 1: 0.8 -> rank 2
    "قطة نائمة على الأريكة": (0.6, 0.64, 0.48),  # image 1: 0.64 > 0.6 > 0.48 -> rank 1
    "a red car, parked": (0.8, 0.0, 0.6),  # image 2: 0.6 < image 0: 0.8 -> rank 2
    "Красная машина": (0.6, 0.48, 0.64),  # image 2: 0.64 > 0.6 > 0.48 -> rank 1
}
# Image-to-text, scores of image i = component i of each caption vector (captions in order c0..c4):
#   image 0: 1.0, 0.6, 0.6, 0.8, 0.6   -> c0 (its own) first: rank 1
#   image 1: 0, 0.8, 0.64, 0, 0.48     -> c1 (image 0's) first, c2 (its own) second: rank 2
#   image 2: 0, 0, 0.48, 0.6, 0.64     -> c4 (its own) first: rank 1
T2I_RANKS, I2T_RANKS = [1, 2, 1, 2, 1], [1, 2, 1]


class StubModel:
    """jina-clip-v2's encode API; queries embedded with task="retrieval.query" point straight at their own image."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str | None]] = []

    def encode_image(self, images, batch_size=32):
        self.calls.append(("image", len(images), None))
        return IMAGE_VECTORS[[fixture_image_index(image) for image in images]]

    def encode_text(self, texts, batch_size=32, task=None):
        self.calls.append(("text", len(texts), task))
        if task == "retrieval.query":
            owner = {t: i for i, captions in enumerate(CAPTIONS) for t in captions}
            return IMAGE_VECTORS[[owner[t] for t in texts]]
        return np.array([CAPTION_VECTORS[t] for t in texts])


@pytest.fixture
def webdataset(tmp_path) -> Path:
    write_webdataset(tmp_path / "wds")
    return tmp_path / "wds"


@pytest.fixture
def bench(webdataset) -> RetrievalBenchmark:
    return read_webdataset(webdataset, "toy")


# ---------------------------------------------------------------- readers


def test_webdataset_reader_reads_the_real_layout(bench):
    assert bench.captions == CAPTIONS
    assert [fixture_image_index(ref.open()) for ref in bench.images] == [0, 1, 2]
    assert bench.images[1].open().size == (16, 12)
    assert (bench.num_images, bench.num_captions) == (3, 5)


def test_webdataset_sample_without_text_is_an_error(webdataset):
    add_tar_members(webdataset / "test" / "1.tar", [("s0000003.jpg", fixture_image_bytes(1, "jpeg"))], mode="a")
    with pytest.raises(ValueError, match="sample 's0000003'.*needs one of"):
        read_webdataset(webdataset, "toy")


def test_xtd10_reader_pairs_line_i_with_image_i(tmp_path):
    write_xtd10(tmp_path)
    english, japanese = read_xtd10(tmp_path, "en"), read_xtd10(tmp_path, "jp")
    assert english.captions == [["a dog, running"], ["a sleeping cat"], ["a red car, parked"]]
    assert japanese.captions == [["走っている犬"], ["寝ている猫"], ["赤い車"]]
    assert read_xtd10(tmp_path, "de").captions[2] == ["ein rotes Auto"]
    assert [fixture_image_index(ref.open()) for ref in japanese.images] == [0, 1, 2]
    assert japanese.language == "jp"


def test_xtd10_keeps_the_gallery_whole(tmp_path):
    write_xtd10(tmp_path)
    (tmp_path / "images" / "COCO_train2014_000000000001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 3 images are missing"):
        read_xtd10(tmp_path, "en")
    with pytest.raises(ValueError, match="XTD10 writes Japanese 'jp'"):
        read_xtd10(tmp_path, "ja")


def test_xtd10_caption_count_must_match_the_image_list(tmp_path):
    write_xtd10(tmp_path)
    (tmp_path / "XTD10" / "test_1kcaptions_en.txt").write_text("only one line\n")
    with pytest.raises(ValueError, match="has 1 lines but XTD10/test_image_names.txt lists 3"):
        read_xtd10(tmp_path, "en")


def test_crossmodal3600_reader_takes_the_first_caption_like_clip_benchmark(tmp_path):
    write_crossmodal3600(tmp_path)
    assert read_crossmodal3600(tmp_path, "ar").captions == [["كلب يجري"], ["قطة نائمة"]]
    assert read_crossmodal3600(tmp_path, "ja", all_captions=True).captions == [["走る犬"], ["寝ている猫", "猫"]]
    assert [fixture_image_index(ref.open()) for ref in read_crossmodal3600(tmp_path, "en").images] == [0, 1]
    with pytest.raises(ValueError, match=r"language='de': image 000411001ff7dd4f has captions in \['ar', 'en', 'ja'\]"):
        read_crossmodal3600(tmp_path, "de")


# ---------------------------------------------------------------- recall@k, hand-computed


def test_recall_matches_the_hand_computed_ranks(bench):
    model = StubModel()
    result = evaluate_retrieval(model, bench, batch_size=2, ks=(1, 2, 5), progress=False)
    assert result.text_to_image == pytest.approx({"R@1": 3 / 5, "R@2": 1.0, "R@5": 1.0, "mean_rank": 7 / 5})
    assert result.image_to_text == pytest.approx({"R@1": 2 / 3, "R@2": 1.0, "R@5": 1.0, "mean_rank": 4 / 3})
    assert np.mean(T2I_RANKS) == pytest.approx(7 / 5) and np.mean(I2T_RANKS) == pytest.approx(4 / 3)
    # chance: 1 correct image in 3; image-to-text 2, 1, 2 correct captions in 5: 1 - C(5-r, 1) / C(5, 1)
    assert result.chance_text_to_image["R@1"] == pytest.approx(1 / 3)
    assert result.chance_image_to_text["R@1"] == pytest.approx((0.4 + 0.2 + 0.4) / 3)
    # images were embedded batch_size at a time, captions without a task
    assert [c for c in model.calls if c[0] == "image"] == [("image", 2, None), ("image", 1, None)]
    assert {c[2] for c in model.calls if c[0] == "text"} == {None}


def test_task_applies_to_caption_queries_only(bench):
    model = StubModel()
    result = evaluate_retrieval(model, bench, task="retrieval.query", ks=(1, 2), progress=False)
    assert result.text_to_image["R@1"] == 1.0  # the queries now point at their own image
    assert result.image_to_text == pytest.approx({"R@1": 2 / 3, "R@2": 1.0, "mean_rank": 4 / 3})  # documents: no task
    assert sorted(c[2] or "" for c in model.calls if c[0] == "text") == ["", "retrieval.query"]


def test_max_queries_cuts_queries_never_the_gallery(bench):
    result = evaluate_retrieval(StubModel(), bench, max_queries=2, ks=(1,), progress=False)
    assert (result.num_text_queries, result.num_image_queries, result.num_images, result.num_captions) == (2, 2, 3, 5)
    assert result.text_to_image["R@1"] == pytest.approx(0.5)  # ranks 1, 2
    assert result.image_to_text["R@1"] == pytest.approx(0.5)  # ranks 1, 2
    assert result.chance_text_to_image["R@1"] == pytest.approx(1 / 3)  # still a gallery of 3


def test_chunked_scoring_equals_scoring_at_once(bench, monkeypatch):
    whole = evaluate_retrieval(StubModel(), bench, progress=False)
    monkeypatch.setattr(retrieval, "QUERY_CHUNK", 2)
    chunked = evaluate_retrieval(StubModel(), bench, progress=False)
    assert chunked.text_to_image == pytest.approx(whole.text_to_image)
    assert chunked.image_to_text == pytest.approx(whole.image_to_text)


def test_truncate_dim_scores_the_renormalised_prefix():
    rng = np.random.default_rng(0)
    images, captions = rng.normal(size=(20, 8)), rng.normal(size=(40, 8))
    owners = np.arange(40) // 2
    full = BenchmarkEmbeddings("toy", "en", images, captions, captions, owners)
    prefix = BenchmarkEmbeddings("toy", "en", images[:, :3], captions[:, :3], captions[:, :3], owners)
    truncated, expected = score_retrieval(full, truncate_dim=3), score_retrieval(prefix)
    assert truncated.text_to_image == pytest.approx(expected.text_to_image)
    assert truncated.image_to_text == pytest.approx(expected.image_to_text)
    assert truncated.truncate_dim == 3 and truncated.row()["dim"] == 3
    with pytest.raises(ValueError, match="truncate_dim=9 must be in 1..8"):
        score_retrieval(full, truncate_dim=9)


# ---------------------------------------------------------------- a local HTTP server with Range support


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    log: list[tuple[str, str | None]] = []
    honour_range = True
    cut_after: int | None = None  # announce the whole length, send only this many bytes, close

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.log.append((self.path, self.headers.get("Range")))
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") and self.honour_range else 0
        if start >= len(data) and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:] if self.cut_after is None else data[start : start + self.cut_after]
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    Handler.files, Handler.log, Handler.honour_range, Handler.cut_after = {}, [], True, None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/x.tar"  # nothing listens there any more: connection refused


# ---------------------------------------------------------------- downloads


PAYLOAD = bytes(range(256)) * 1200  # 300 KiB


def test_a_partial_download_is_resumed_with_a_range_request(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:100_000])
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    path = download_url(f"{base}/data.bin", tmp_path / "data.bin", size=len(PAYLOAD), sha256=sha, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert handler.log == [("/data.bin", "bytes=100000-")]  # only the missing tail travelled
    assert not (tmp_path / "data.bin.part").exists()
    download_url(f"{base}/data.bin", path, progress=False)  # already there: no request
    assert len(handler.log) == 1


def test_a_download_that_breaks_off_resumes_on_the_next_call(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"], handler.cut_after = PAYLOAD, 50_000
    with pytest.raises(DownloadError, match="broke off after 50,000 bytes.*call again to resume"):
        download_url(f"{base}/data.bin", tmp_path / "data.bin", progress=False)
    assert (tmp_path / "data.bin.part").stat().st_size == 50_000 and not (tmp_path / "data.bin").exists()
    handler.cut_after = None
    assert download_url(f"{base}/data.bin", tmp_path / "data.bin", progress=False).read_bytes() == PAYLOAD
    assert handler.log[-1] == ("/data.bin", "bytes=50000-")


def test_a_server_that_ignores_range_gets_a_fresh_file(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"], handler.honour_range = PAYLOAD, False
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)
    assert download_url(f"{base}/data.bin", tmp_path / "data.bin", progress=False).read_bytes() == PAYLOAD


def test_a_corrupt_partial_file_fails_verification_then_downloads_afresh(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(b"\0" * 100_000)  # the right length of the wrong bytes
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(DownloadError, match="has sha256 .* expected .*partial file was removed"):
        download_url(f"{base}/data.bin", tmp_path / "data.bin", sha256=sha, progress=False)
    assert not (tmp_path / "data.bin.part").exists() and not (tmp_path / "data.bin").exists()
    assert download_url(f"{base}/data.bin", tmp_path / "data.bin", sha256=sha, progress=False).read_bytes() == PAYLOAD


def test_a_complete_partial_file_is_verified_and_renamed(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    path = download_url(f"{base}/data.bin", tmp_path / "data.bin", size=len(PAYLOAD), progress=False)  # HTTP 416
    assert path.read_bytes() == PAYLOAD


def test_http_errors_and_wrong_sizes_are_named(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"] = PAYLOAD
    with pytest.raises(DownloadError, match="answered HTTP 404"):
        download_url(f"{base}/missing.bin", tmp_path / "m.bin", progress=False)
    with pytest.raises(DownloadError, match="has 307,200 bytes, expected 5"):
        download_url(f"{base}/data.bin", tmp_path / "data.bin", size=5, progress=False)


def test_offline_is_a_clear_error(tmp_path):
    with pytest.raises(OfflineError) as info:
        download_url(closed_port_url(), tmp_path / "x.tar", timeout=2, progress=False)
    assert str(info.value) == OFFLINE_MESSAGE.format(host="127.0.0.1")
    with pytest.raises(OfflineError, match="cannot reach huggingface.co: the real benchmarks need the internet"):
        download_url("https://huggingface.co/x", tmp_path / "y", progress=False)  # name lookup fails (no_network)


# ---------------------------------------------------------------- the hub


def test_hub_download_offline_is_a_clear_error(monkeypatch, tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants
    from huggingface_hub.utils import LocalEntryNotFoundError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", closed_port_url().rsplit("/", 1)[0])
    with pytest.raises(OfflineError, match="^cannot reach 127.0.0.1: the real benchmarks need the internet"):
        download_from_hub("clip-benchmark/wds_flickr30k", "test/0.tar", "f8af3ce", cache_dir=tmp_path)

    def unreachable(**kwargs):
        raise LocalEntryNotFoundError("Connection error, and the file is not in the local cache")

    monkeypatch.setattr(download, "check_reachable", lambda url: None)
    monkeypatch.setattr(hub, "hf_hub_download", unreachable)
    with pytest.raises(OfflineError, match="the lab's offline benchmarks are in jclip_lab.evaluate"):
        download_from_hub("clip-benchmark/wds_flickr30k", "test/0.tar", "f8af3ce", cache_dir=tmp_path)


def fake_hub_download(blob_name: str | None = None):
    """An hf_hub_download that lays a file out as the hub cache does: snapshots/<rev>/<file> -> blobs/<sha256>."""
    calls = []

    def hf_hub_download(repo_id, filename, repo_type, revision, cache_dir, tqdm_class=None):
        calls.append(dict(repo_id=repo_id, filename=filename, repo_type=repo_type, revision=revision, bar=tqdm_class))
        repo = Path(cache_dir) / f"datasets--{repo_id.replace('/', '--')}"
        blob = repo / "blobs" / (blob_name or hashlib.sha256(PAYLOAD).hexdigest())
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(PAYLOAD)
        target = repo / "snapshots" / revision / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(os.path.relpath(blob, target.parent))
        return str(target)

    return hf_hub_download, calls


def test_hub_files_are_checked_against_their_lfs_sha256(monkeypatch, tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setattr(download, "check_reachable", lambda url: None)
    good, calls = fake_hub_download()
    monkeypatch.setattr(hub, "hf_hub_download", good)
    path = download_from_hub("clip-benchmark/wds_flickr30k", "test/0.tar", "f8af3ce", cache_dir=tmp_path / "a")
    assert path.read_bytes() == PAYLOAD and calls[0]["repo_type"] == "dataset" and calls[0]["revision"] == "f8af3ce"
    bad, _ = fake_hub_download(blob_name="0" * 64)
    monkeypatch.setattr(hub, "hf_hub_download", bad)
    with pytest.raises(DownloadError, match="test/0.tar@f8af3ce has sha256 .* expected 00000000"):
        download_from_hub("clip-benchmark/wds_flickr30k", "test/0.tar", "f8af3ce", cache_dir=tmp_path / "b")
    assert not (tmp_path / "b" / "datasets--clip-benchmark--wds_flickr30k" / "blobs" / ("0" * 64)).exists()


def test_load_flickr30k_reads_the_pinned_revision(monkeypatch, tmp_path, webdataset):
    requested = []

    def from_fixture(repo_id, filename, revision, cache_dir, progress):
        requested.append((repo_id, filename, revision))
        return webdataset / filename

    monkeypatch.setattr(readers, "download_from_hub", from_fixture)
    monkeypatch.setitem(readers.GALLERY_SIZES, "flickr30k", 3)
    bench = load_flickr30k(cache_dir=tmp_path, progress=False)
    repo, revision = readers.HUB_WEBDATASETS["flickr30k"]
    assert requested == [(repo, f, revision) for f in ("test/nshards.txt", "test/0.tar", "test/1.tar")]
    assert bench.captions == CAPTIONS and bench.source.endswith(revision)
    monkeypatch.setitem(readers.GALLERY_SIZES, "flickr30k", 1000)
    with pytest.raises(ValueError, match="flickr30k has 3 images, but its published gallery has 1000"):
        load_flickr30k(cache_dir=tmp_path, progress=False)


# ---------------------------------------------------------------- download, unpack, read (end to end, locally served)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_load_xtd10_downloads_unpacks_and_reads(server, monkeypatch, tmp_path):
    handler, base = server
    files = write_xtd10(tmp_path / "source")
    images = {f"images/{p.name}": p.read_bytes() for p in sorted((tmp_path / "source" / "images").iterdir())}
    handler.files = {f"/xtd/{k}": v for k, v in files.items()} | {"/images.tar.gz": tar_gz(images)}
    monkeypatch.setattr(readers, "XTD10_BASE_URL", f"{base}/xtd")
    monkeypatch.setattr(readers, "XTD10_IMAGES_URL", f"{base}/images.tar.gz")
    monkeypatch.setattr(readers, "XTD10_FILES", {k: (len(v), hashlib.sha256(v).hexdigest()) for k, v in files.items()})
    monkeypatch.setitem(readers.GALLERY_SIZES, "xtd10", 3)
    bench = load_xtd10("jp", cache_dir=tmp_path / "cache", progress=False)
    assert bench.captions == [["走っている犬"], ["寝ている猫"], ["赤い車"]]
    assert [fixture_image_index(ref.open()) for ref in bench.images] == [0, 1, 2]
    assert not (tmp_path / "cache" / "xtd10" / "images.tar.gz").exists()  # unpacked, then dropped
    served = len(handler.log)
    assert load_xtd10("jp", cache_dir=tmp_path / "cache", progress=False).captions == bench.captions
    assert len(handler.log) == served  # the second time everything came from the cache


def test_load_crossmodal3600_downloads_unpacks_and_reads(server, monkeypatch, tmp_path):
    handler, base = server
    write_crossmodal3600(tmp_path / "source")
    captions_zip = io.BytesIO()
    with zipfile.ZipFile(captions_zip, "w") as archive:
        archive.write(tmp_path / "source" / "captions.jsonl", "captions.jsonl")
    images = {f"./{p.name}": p.read_bytes() for p in (tmp_path / "source" / "images").iterdir()}
    handler.files = {"/captions.zip": captions_zip.getvalue(), "/images.tgz": tar_gz(images)}
    monkeypatch.setattr(readers, "XM3600_CAPTIONS_URL", f"{base}/captions.zip")
    monkeypatch.setattr(readers, "XM3600_IMAGES_URL", f"{base}/images.tgz")
    monkeypatch.setitem(readers.GALLERY_SIZES, "crossmodal3600", 2)
    bench = load_crossmodal3600("ar", cache_dir=tmp_path / "cache", progress=False)
    assert bench.captions == [["كلب يجري"], ["قطة نائمة"]]
    assert [fixture_image_index(ref.open()) for ref in bench.images] == [0, 1]
    with pytest.raises(ValueError, match="language='xx' is not in Crossmodal-3600"):
        load_crossmodal3600("xx", cache_dir=tmp_path / "cache")


def test_a_corrupt_archive_is_removed_with_a_clear_error(server, monkeypatch, tmp_path):
    handler, base = server
    write_crossmodal3600(tmp_path / "source")
    captions_zip = io.BytesIO()
    with zipfile.ZipFile(captions_zip, "w") as archive:
        archive.write(tmp_path / "source" / "captions.jsonl", "captions.jsonl")
    handler.files = {"/captions.zip": captions_zip.getvalue(), "/images.tgz": b"<html>not a tar.gz</html>"}
    monkeypatch.setattr(readers, "XM3600_CAPTIONS_URL", f"{base}/captions.zip")
    monkeypatch.setattr(readers, "XM3600_IMAGES_URL", f"{base}/images.tgz")
    with pytest.raises(DownloadError, match="(?s)images.tgz is not a readable archive.*it was removed: call again"):
        load_crossmodal3600("en", cache_dir=tmp_path / "cache", progress=False)
    folder = tmp_path / "cache" / "xm3600"
    assert not (folder / "images.tgz").exists() and not (folder / "images").exists()
    assert (folder / "captions.jsonl").exists() and not (folder / "captions.zip").exists()


def test_an_oversized_partial_file_fails_the_size_the_server_announces(server, tmp_path):
    handler, base = server
    handler.files["/data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD + b"extra")  # HTTP 416, Content-Range: bytes */307200
    with pytest.raises(DownloadError, match="has 307,205 bytes, expected 307,200"):
        download_url(f"{base}/data.bin", tmp_path / "data.bin", progress=False)


def test_a_shared_gallery_is_embedded_once(bench):
    first = StubModel()
    embedded = evaluate_retrieval(first, bench, progress=False)
    again = StubModel()
    from jclip_lab.real_benchmarks import embed_benchmark

    images = embed_benchmark(first, bench, progress=False).images
    reused = score_retrieval(embed_benchmark(again, bench, progress=False, image_embeddings=images))
    assert [call for call in again.calls if call[0] == "image"] == []  # no image was embedded again
    assert reused.text_to_image == pytest.approx(embedded.text_to_image)
    with pytest.raises(ValueError, match="image_embeddings has 2 rows but toy has 3 images"):
        embed_benchmark(again, bench, progress=False, image_embeddings=images[:2])
