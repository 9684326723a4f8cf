"""Checkpoints by URL: download once, verify, resume, fail clearly; against a server on 127.0.0.1."""

import hashlib
import io
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.http_server import hashed_name, local_server
from visdet.checkpoint import load_checkpoint
from visdet.download import DownloadError, cache_dir, download, expected_hash

PAYLOAD = bytes(range(256)) * 40  # 10 KiB, so "half the file" is a real prefix


@pytest.fixture()
def server():
    with local_server() as running:
        yield running


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISDET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VISDET_OFFLINE", raising=False)
    return tmp_path / "home" / "checkpoints"


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cache_dir_follows_visdet_home(cache):
    assert cache_dir() == cache


def test_hash_prefix_is_read_from_mmdet_file_names():
    base = "https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco/"
    assert expected_hash(base + "faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth") == "047c8118"
    # "_bbox_mAP-0.378_..." must not be mistaken for a hash (torch.hub's looser pattern would take "0")
    name = "faster_rcnn_r50_caffe_fpn_1x_coco_bbox_mAP-0.378_20200504_180032-c5925ee5.pth"
    assert expected_hash(base + name) == "c5925ee5"
    assert expected_hash(base + "plain.pth") is None
    assert expected_hash(base + "plain.pth", sha256="ABCDEF12") == "abcdef12"
    with pytest.raises(ValueError, match="hex digits"):
        expected_hash(base + "plain.pth", sha256="xyz")


def test_good_file_downloads_once_then_comes_from_the_cache(server, cache):
    url = server.serve(hashed_name("model", PAYLOAD), PAYLOAD)
    path = download(url, progress=False)
    assert path.parent == cache and path.read_bytes() == PAYLOAD
    assert _files(cache) == [path.name]  # no temporary file left
    assert len(server.requests) == 1
    assert download(url, progress=False) == path
    assert len(server.requests) == 1  # served from the cache


def test_cached_file_works_offline(server, cache, monkeypatch):
    url = server.serve(hashed_name("model", PAYLOAD), PAYLOAD)
    path = download(url, progress=False)
    server.routes.clear()  # the server no longer has it: only the cache can answer
    monkeypatch.setenv("VISDET_OFFLINE", "1")
    assert download(url, progress=False) == path
    with pytest.raises(DownloadError, match=r"other\.pth: not in the cache .* VISDET_OFFLINE"):
        download(server.base + "/other.pth", progress=False)


def test_given_sha256_is_checked(server, cache):
    url = server.serve("plain.bin", PAYLOAD)
    good = hashlib.sha256(PAYLOAD).hexdigest()
    assert download(url, sha256=good, progress=False).read_bytes() == PAYLOAD
    url2 = server.serve("plain2.bin", PAYLOAD)
    with pytest.raises(DownloadError, match=r"plain2\.bin: hash mismatch"):
        download(url2, sha256="0" * 64, progress=False)
    assert "plain2.bin" not in _files(cache) and "plain2.bin.partial" not in _files(cache)


def test_hash_mismatch_leaves_nothing(server, cache):
    url = server.serve("model-deadbeef.pth", PAYLOAD)
    with pytest.raises(DownloadError) as err:
        download(url, progress=False)
    assert url in str(err.value) and "hash mismatch" in str(err.value) and "deadbeef" in str(err.value)
    assert _files(cache) == []


def test_404_names_the_url(server, cache):
    url = server.base + "/missing-0123abcd.pth"
    with pytest.raises(DownloadError, match=r"missing-0123abcd\.pth: HTTP 404"):
        download(url, progress=False)
    assert _files(cache) == []


def test_truncated_download_fails_then_resumes(server, cache):
    name = hashed_name("model", PAYLOAD)
    url = server.serve(name, PAYLOAD, mode="truncate")
    with pytest.raises(DownloadError, match=rf"{name}: truncated: received {len(PAYLOAD) // 2} of {len(PAYLOAD)}"):
        download(url, progress=False)
    assert _files(cache) == [name + ".partial"]  # never under the final name
    server.routes[f"/{name}"] = (PAYLOAD, "ok")
    path = download(url, progress=False)
    assert path.read_bytes() == PAYLOAD and _files(cache) == [name]
    assert server.requests[-1] == (f"/{name}", f"bytes={len(PAYLOAD) // 2}-")  # only the rest was asked for


def test_resume_from_a_server_without_ranges_starts_over(server, cache):
    name = hashed_name("model", PAYLOAD)
    cache.mkdir(parents=True)
    (cache / (name + ".partial")).write_bytes(b"junk that is not a prefix")
    url = server.serve(name, PAYLOAD, mode="no-range")
    assert download(url, progress=False).read_bytes() == PAYLOAD
    assert _files(cache) == [name]


def test_stalling_server_times_out(server, cache):
    name = hashed_name("model", PAYLOAD)
    url = server.serve(name, PAYLOAD, mode="stall")
    with pytest.raises(DownloadError, match=rf"{name}: the server stopped sending for 0.5 s"):
        download(url, timeout=0.5, progress=False)
    assert name not in _files(cache)


def test_only_http_urls():
    with pytest.raises(DownloadError, match="only http"):
        download("ftp://example.invalid/x.pth")


def _checkpoint_bytes():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    buffer = io.BytesIO()
    torch.save({"state_dict": model.state_dict(), "meta": {}}, buffer)
    return model, buffer.getvalue()


def test_load_checkpoint_by_url(server, cache):
    source, payload = _checkpoint_bytes()
    url = server.serve(hashed_name("linear", payload), payload)
    target = nn.Linear(3, 2)
    load_checkpoint(target, url)
    assert torch.equal(target.weight, source.weight) and torch.equal(target.bias, source.bias)
    assert os.path.isfile(cache / hashed_name("linear", payload))


def test_init_detector_by_url(server, cache):
    from visdet import build_detector, init_detector

    tiny_config = str(Path(__file__).parent / "apis" / "tiny_faster_rcnn.yaml")

    torch.manual_seed(3)
    source = build_detector(tiny_config)
    buffer = io.BytesIO()
    torch.save({"state_dict": source.state_dict()}, buffer)
    url = server.serve(hashed_name("tiny_faster_rcnn", buffer.getvalue()), buffer.getvalue())
    model = init_detector(tiny_config, url, fuse=False)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(DownloadError, match="HTTP 404"):
        init_detector(tiny_config, server.base + "/nothing-0123abcd.pth")
