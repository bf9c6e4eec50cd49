"""benchmarks.domain.data: idx parsing, the search order, scaling, pooling, limits and the missing-data message."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmarks.domain import data


def _idx_bytes(arr: np.ndarray) -> bytes:
    magic = bytes([0, 0, 0x08, arr.ndim])
    dims = b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return magic + dims + arr.astype(np.uint8).tobytes()


def write_fake(directory: Path, n_train: int = 12, n_test: int = 6, gz: bool = True, seed: int = 0) -> dict:
    """A tiny fake Fashion-MNIST (random 28x28 images, labels 0..9) as idx files in ``directory``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[split] = (x, y)
        for stem, arr in zip(data.IDX_STEMS[split], (x, y)):
            raw = _idx_bytes(arr)
            if gz:
                (directory / f"{stem}.gz").write_bytes(gzip.compress(raw, mtime=0))
            else:
                (directory / stem).write_bytes(raw)
    return arrays


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Hide Debian's directory and the download root so only ``data_dir`` can be found."""
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PROXYGRAD_DATA", str(tmp_path / "no-cache"))
    data.read_idx_pair.cache_clear()


@pytest.mark.parametrize("gz", [True, False])
def test_load_fake_idx_scales_to_minus_one_one(tmp_path, no_system_data, gz):
    arrays = write_fake(tmp_path / "fm", gz=gz)
    for split in ("train", "test"):
        ds = data.load("fashion-mnist", split, tmp_path / "fm")
        x, y = ds.tensors
        raw_x, raw_y = arrays[split]
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == (len(raw_x), 1, 28, 28)
        expected = torch.from_numpy(raw_x.astype(np.float32))[:, None] / 127.5 - 1.0
        assert torch.equal(x, expected)
        assert torch.equal(y, torch.from_numpy(raw_y.astype(np.int64)))
        assert x.min() >= -1.0 and x.max() <= 1.0


def test_torchvision_layout_limit_and_pooling(tmp_path, no_system_data):
    arrays = write_fake(tmp_path / "root" / "FashionMNIST" / "raw", n_train=10)
    full = data.load("fashion-mnist", "train", tmp_path / "root")
    part = data.load("fashion-mnist", "train", tmp_path / "root", limit=4)
    assert torch.equal(part.tensors[0], full.tensors[0][:4]) and len(part) == 4
    pooled = data.load("fashion-mnist", "train", tmp_path / "root", size=7, limit=3)
    assert pooled.tensors[0].shape == (3, 1, 7, 7)
    # 28 -> 7 is exact 4x4 average pooling
    assert torch.allclose(pooled.tensors[0], F.avg_pool2d(full.tensors[0][:3], 4), atol=1e-6)
    eight = data.load("fashion-mnist", "test", tmp_path / "root", size=8)
    assert eight.tensors[0].shape == (len(arrays["test"][0]), 1, 8, 8)


def test_data_dir_is_searched_first(tmp_path, monkeypatch):
    write_fake(tmp_path / "first", seed=1)
    write_fake(tmp_path / "second", seed=2)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "second")
    monkeypatch.setenv("PROXYGRAD_DATA", str(tmp_path / "none"))
    found = data.find_fashion_mnist(tmp_path / "first")
    assert found["train"][0].parent == tmp_path / "first"
    assert data.find_fashion_mnist(None)["train"][0].parent == tmp_path / "second"


def test_bad_magic_and_bad_size_are_rejected(tmp_path, no_system_data):
    write_fake(tmp_path / "fm", gz=False)
    img = tmp_path / "fm" / "train-images-idx3-ubyte"
    raw = bytearray(img.read_bytes())
    img.write_bytes(bytes(raw[:-5]))  # truncated payload
    with pytest.raises(data.DataFormatError, match="holds"):
        data.load("fashion-mnist", "train", tmp_path / "fm")
    raw[2] = 0x09
    img.write_bytes(bytes(raw))
    data.read_idx_pair.cache_clear()
    with pytest.raises(data.DataFormatError, match="magic"):
        data.load("fashion-mnist", "train", tmp_path / "fm")


def test_label_count_must_match(tmp_path, no_system_data):
    write_fake(tmp_path / "fm", gz=False)
    lab = tmp_path / "fm" / "train-labels-idx1-ubyte"
    lab.write_bytes(_idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(data.DataFormatError, match="labels"):
        data.load("fashion-mnist", "train", tmp_path / "fm")


def test_missing_data_says_how_to_get_it(tmp_path, no_system_data):
    with pytest.raises(data.DataMissingError) as err:
        data.load("fashion-mnist", "train", tmp_path / "empty")
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert "apt-get install dataset-fashion-mnist" in msg and "make data" in msg and "--data PATH" in msg
    with pytest.raises(data.DataMissingError, match="--cifar"):
        data.load("cifar10", "test", tmp_path / "empty")


@pytest.mark.parametrize("kwargs, word", [
    ({"dataset": "mnist", "split": "train"}, "mnist"),
    ({"dataset": "synthetic", "split": "val"}, "val"),
    ({"dataset": "synthetic", "split": "train", "limit": 0}, "limit"),
    ({"dataset": "synthetic", "split": "train", "size": 64}, "size 64"),
    ({"dataset": "synthetic", "split": "train", "size": 2.5}, "size"),
])
def test_bad_arguments_raise_value_error(kwargs, word):
    with pytest.raises(ValueError, match=word):
        data.load(**kwargs)


def test_synthetic_is_deterministic_and_labelled():
    a, b = data.load("synthetic", "train"), data.load("synthetic", "train")
    assert torch.equal(a.tensors[0], b.tensors[0]) and torch.equal(a.tensors[1], b.tensors[1])
    t = data.load("synthetic", "test")
    assert not torch.equal(a.tensors[0][: len(t)], t.tensors[0])
    assert set(a.tensors[1].tolist()) == set(range(10))
    assert data.num_classes("cifar100") == 100 and data.image_shape("cifar10") == (3, 32, 32)


def test_main_reports_found_data(tmp_path, no_system_data, capsys):
    write_fake(tmp_path / "fm")
    assert data.main(["--data", str(tmp_path / "fm")]) == 0
    assert str(tmp_path / "fm") in capsys.readouterr().out


def test_main_tries_apt_then_download_and_fails_clearly(tmp_path, no_system_data, monkeypatch, capsys):
    calls = []

    class Done:
        returncode = 100

    monkeypatch.setattr(data.os, "geteuid", lambda: 0, raising=False)
    monkeypatch.setattr(data.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(data.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    import torchvision

    def offline(*a, **kw):
        raise RuntimeError("offline")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    assert data.main(["--data", str(tmp_path / "none")]) == 1
    assert calls and "apt-get install -y dataset-fashion-mnist" in calls[0]
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and "offline" in err


@pytest.mark.skipif(data.find_fashion_mnist() is None, reason="Fashion-MNIST is not installed here")
def test_real_fashion_mnist_if_installed():
    ds = data.load("fashion-mnist", "test")
    x, y = ds.tensors
    assert x.shape == (10000, 1, 28, 28)
    assert torch.equal(torch.bincount(y), torch.full((10,), 1000))  # the test split is balanced


def test_write_idx_is_the_inverse_of_read_idx_and_the_sample_loads(tmp_path):
    rng = np.random.default_rng(3)
    for name, array in (("a.gz", rng.integers(0, 256, size=(3, 5, 7))), ("b", rng.integers(0, 10, size=11))):
        assert np.array_equal(data.read_idx(data.write_idx(tmp_path / name, array)), array)
    with pytest.raises(ValueError, match="shape"):
        data.write_idx(tmp_path / "c", np.zeros((2, 2)))
    root = data.write_fashion_mnist_sample(tmp_path / "fm", train=20, test=10)
    assert data.find_fashion_mnist(root)["test"][0].parent == root
    images, labels = data.load("fashion-mnist", "test", root).tensors
    assert images.shape == (10, 1, 28, 28) and labels.tolist() == list(range(10))
    data.require("fashion-mnist", root)
    data.require("synthetic")


def test_require_names_a_missing_data_set(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("PROXYGRAD_DATA", str(tmp_path / "no-cache"))
    with pytest.raises(data.DataMissingError, match="Fashion-MNIST was not found"):
        data.require("fashion-mnist", tmp_path / "empty")
    with pytest.raises(data.DataMissingError, match="cifar10 was not found"):
        data.require("cifar10", tmp_path / "empty")


def test_data_sample_writes_the_tests_sample_or_names_an_unusable_dir(tmp_path, capsys):
    from benchmarks.__main__ import main

    assert main(["data", "--sample", str(tmp_path / "s")]) == 0
    assert data.find_fashion_mnist(tmp_path / "s") is not None
    assert str(tmp_path / "s") in capsys.readouterr().out
    (tmp_path / "f").write_text("")
    assert main(["data", "--sample", str(tmp_path / "f" / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "f" / "s") in err[0]
