"""Shared fixtures. Tests never depend on data installed on the machine: the ones that need
Fashion-MNIST get a directory of tiny idx files made here and pass it as ``data_dir`` (``--data``)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

#: Images per split of the test-made Fashion-MNIST (the real one has 60000 / 10000).
TINY_SIZES = {"train": 64, "test": 32}
_STEMS = {"train": "train", "test": "t10k"}


def write_idx(path: Path, array: np.ndarray) -> None:
    """One idx file (gzipped when ``path`` ends in .gz): magic 0x0803 for 3-d images, 0x0801 for 1-d labels,
    big-endian int32 sizes, then the uint8 payload."""
    magic = {3: 0x00000803, 1: 0x00000801}[array.ndim]
    payload = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload += np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(payload)


def make_fashion_mnist(directory: Path, sizes: dict[str, int] = TINY_SIZES, seed: int = 0) -> Path:
    """Write valid Fashion-MNIST-format idx files (train / t10k images and labels, gzipped) into
    ``directory``: 28x28 uint8 images, labels 0..9, a bright bar per class on noise. Returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in sizes.items():
        labels = np.arange(n) % 10
        images = rng.integers(0, 80, size=(n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k: 4 + 2 * k, :] = 220
        write_idx(directory / f"{_STEMS[split]}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{_STEMS[split]}-labels-idx1-ubyte.gz", labels)
    return directory


@pytest.fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding a tiny, valid Fashion-MNIST (see ``make_fashion_mnist``)."""
    return make_fashion_mnist(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def all_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory where every data set of the suite is found: the tiny Fashion-MNIST and empty
    CIFAR folders (enough for a profile's presence check; nothing in them can be loaded)."""
    root = make_fashion_mnist(tmp_path_factory.mktemp("all-data"))
    for name in ("cifar-10-batches-py", "cifar-100-python"):
        (root / name).mkdir()
    return root
