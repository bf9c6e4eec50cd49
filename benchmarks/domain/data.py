"""Image data sets for the CNN and training harnesses, read from local files without a network.

``load`` returns a ``TensorDataset`` of images scaled to ``[-1, 1]`` (``x = u / 127.5 - 1`` for the
8-bit pixel value ``u``), shape ``[N, C, H, W]``, float32, and int64 labels.

Fashion-MNIST is read from idx files (parsed here with numpy and gzip) found, in order, in
``data_dir``, Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``) and
torchvision's download root (``$PROXYGRAD_DATA`` or ``~/.cache/proxygrad-bench/data``).
CIFAR-10/100 are read from torchvision's python pickles in ``data_dir`` or the download root.
``"synthetic"`` is a small generated 10-class set (fixed seed) for smoke runs and tests; records made
from it carry the data set name ``"synthetic"``.

``main`` is the ``data`` subcommand that makes sure the data is present.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.framework.config import ResourceMissing
from torch.utils.data import TensorDataset

DATASETS: tuple[str, ...] = ("fashion-mnist", "cifar10", "cifar100", "synthetic")
SPLITS: tuple[str, ...] = ("train", "test")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"

IDX_STEMS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Fashion-MNIST's idx file stems per split: ``(images, labels)``; a file may also end in ``.gz``."""
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_CIFAR_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
_SYNTHETIC_SIZES = {"train": 1024, "test": 256}


class DataMissingError(ResourceMissing):
    """A data set is not on this machine; the message says how to get it."""


class DataFormatError(ValueError):
    """A data file exists but is not what its name promises (bad magic number or size)."""


def cache_root() -> Path:
    """torchvision's download root: ``$PROXYGRAD_DATA`` or ``~/.cache/proxygrad-bench/data``."""
    env = os.environ.get("PROXYGRAD_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "proxygrad-bench" / "data"


def _how_to_get(dataset: str) -> str:
    if dataset == "fashion-mnist":
        return (
            f"Fashion-MNIST was not found. Get it with `apt-get install {DEBIAN_PACKAGE}` (Debian/Ubuntu, "
            f"files land in {DEBIAN_DIR}), or `make data` (torchvision's download into {cache_root()}), "
            "or point to a directory holding the idx files with --data PATH."
        )
    return (
        f"{dataset} was not found. Get it with `python -m benchmarks data --cifar` (torchvision's "
        f"download into {cache_root()}), or point to a directory holding {_CIFAR_DIRS[dataset]}/ "
        "with --data PATH."
    )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


# ---------------------------------------------------------------------------------------- idx files
def read_idx(path: str | Path) -> np.ndarray:
    """Parse one idx file (gzipped or not) into a uint8 array.

    Header: two zero bytes, type code ``0x08`` (unsigned byte), number of dimensions ``d``, then
    ``d`` big-endian int32 sizes; the payload must hold exactly ``prod(sizes)`` bytes.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4:
        raise DataFormatError(f"{path}: too short for an idx header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC):
        raise DataFormatError(f"{path}: bad idx magic number 0x{magic:08x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFormatError(f"{path}: truncated idx header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != expected:
        raise DataFormatError(
            f"{path}: idx header promises shape {shape} ({expected} bytes) but holds {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8, 3-d images or 1-d labels) as an idx file, gzipped when ``path`` ends in
    ``.gz``: the inverse of :func:`read_idx`."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {3: _IDX_IMAGES_MAGIC, 1: _IDX_LABELS_MAGIC}.get(array.ndim)
    if magic is None:
        raise ValueError(f"idx arrays here are 3-d images or 1-d labels, got shape {array.shape}")
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())
    return path


def write_fashion_mnist_sample(directory: str | Path, *, train: int = 64, test: int = 32, seed: int = 0) -> Path:
    """A tiny data set in Fashion-MNIST's file format (gzipped idx, the real file names) in
    ``directory``, for tests and benchmarks on machines without the real data: 28x28 images of noise
    in 0..79 with a bright two-row bar at rows ``2+2k, 3+2k`` for label ``k = i mod 10``. Returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("test", test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 80, size=(n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k: 4 + 2 * k, :] = 220
        images_stem, labels_stem = IDX_STEMS[split]
        write_idx(directory / f"{images_stem}.gz", images)
        write_idx(directory / f"{labels_stem}.gz", labels)
    return directory


def _find_idx(directory: Path, stem: str) -> Path | None:
    for sub in (directory, directory / "FashionMNIST" / "raw", directory / "fashion-mnist"):
        for name in (stem, stem + ".gz"):
            if (sub / name).is_file():
                return sub / name
    return None


def fashion_mnist_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The directories searched for Fashion-MNIST, in order."""
    dirs = [Path(data_dir).expanduser()] if data_dir is not None else []
    return dirs + [DEBIAN_DIR, cache_root()]


def find_fashion_mnist(data_dir: str | Path | None = None) -> dict[str, tuple[Path, Path]] | None:
    """Paths ``{split: (images, labels)}`` of the first directory holding all four idx files, or None."""
    for d in fashion_mnist_dirs(data_dir):
        found = {s: (_find_idx(d, a), _find_idx(d, b)) for s, (a, b) in IDX_STEMS.items()}
        if all(p is not None for pair in found.values() for p in pair):
            return found  # type: ignore[return-value]
    return None


@functools.lru_cache(maxsize=4)
def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images ``(n, 28, 28)`` and labels ``(n,)`` of one Fashion-MNIST split, checked against each other
    (DataFormatError otherwise); the last few pairs read are cached (``read_idx_pair.cache_clear()`` forgets
    them)."""
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3:
        raise DataFormatError(f"{images}: expected a 3-dimensional idx image file, got shape {x.shape}")
    if y.ndim != 1:
        raise DataFormatError(f"{labels}: expected a 1-dimensional idx label file, got shape {y.shape}")
    if len(x) != len(y):
        raise DataFormatError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels")
    if y.size and int(y.max()) > 9:
        raise DataFormatError(f"{labels}: label {int(y.max())} outside 0..9")
    return x, y


def _fashion_mnist(split: str, data_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    found = find_fashion_mnist(data_dir)
    if found is None:
        raise DataMissingError(_how_to_get("fashion-mnist"))
    x, y = read_idx_pair(*found[split])
    return x[:, None, :, :], y


# ---------------------------------------------------------------------------------------- CIFAR
def find_cifar(dataset: str, data_dir: str | Path | None = None) -> Path | None:
    """The root directory (holding ``cifar-10-batches-py`` / ``cifar-100-python``) or None."""
    dirs = ([Path(data_dir).expanduser()] if data_dir is not None else []) + [cache_root()]
    for d in dirs:
        if (d / _CIFAR_DIRS[dataset]).is_dir():
            return d
    return None


def _cifar(dataset: str, split: str, data_dir: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    root = find_cifar(dataset, data_dir)
    if root is None:
        raise DataMissingError(_how_to_get(dataset))
    import torchvision

    cls = torchvision.datasets.CIFAR10 if dataset == "cifar10" else torchvision.datasets.CIFAR100
    try:
        ds = cls(str(root), train=(split == "train"), download=False)
    except RuntimeError as err:  # torchvision's integrity check failed
        raise DataMissingError(f"{_how_to_get(dataset)} ({err})") from err
    return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)), np.asarray(ds.targets, dtype=np.int64)


def require(dataset: str, data_dir: str | Path | None = None) -> None:
    """Raise ``DataMissingError`` (saying how to get it) unless ``dataset`` can be found; cheap: it
    looks for the files, it does not read them (``load`` checks their format)."""
    _check_choice("dataset", dataset, DATASETS)
    if dataset == "fashion-mnist" and find_fashion_mnist(data_dir) is None:
        raise DataMissingError(_how_to_get(dataset))
    if dataset in _CIFAR_DIRS and find_cifar(dataset, data_dir) is None:
        raise DataMissingError(_how_to_get(dataset))


# ---------------------------------------------------------------------------------------- synthetic
def _synthetic(split: str) -> tuple[np.ndarray, np.ndarray]:
    """10 classes of 28x28 images: class ``k < 5`` is a horizontal bar at rows ``3+5k .. 5+5k``, class
    ``k >= 5`` a vertical bar at columns ``3+5(k-5) .. 5+5(k-5)`` (value 200 on 30), plus Gaussian pixel
    noise of standard deviation 50; seeded per split, so every call gives the same images."""
    templates = np.full((10, 1, 28, 28), 30.0)
    for k in range(5):
        templates[k, 0, 3 + 5 * k: 6 + 5 * k, :] = 200.0
        templates[5 + k, 0, :, 3 + 5 * k: 6 + 5 * k] = 200.0
    rng = np.random.default_rng(0 if split == "train" else 1)
    n = _SYNTHETIC_SIZES[split]
    y = rng.integers(0, 10, size=n)
    x = templates[y] + rng.normal(0.0, 50.0, size=(n, 1, 28, 28))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8), y.astype(np.int64)


# ---------------------------------------------------------------------------------------- load
def load(
    dataset: str,
    split: str,
    data_dir: str | Path | None = None,
    *,
    size: int | None = None,
    limit: int | None = None,
) -> TensorDataset:
    """Load a split as ``TensorDataset(images, labels)``.

    images: float32 ``[N, C, H, W]`` with ``x = u / 127.5 - 1`` in ``[-1, 1]``; labels int64.
    ``limit`` keeps the first ``limit`` items (file order); ``size`` then average-pools to
    ``size x size`` (``adaptive_avg_pool2d``: each output pixel is the mean over its input window).
    """
    _check_choice("dataset", dataset, DATASETS)
    _check_choice("split", split, SPLITS)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive integer or None, got {size!r}")
    if dataset == "fashion-mnist":
        x, y = _fashion_mnist(split, data_dir)
    elif dataset == "synthetic":
        x, y = _synthetic(split)
    else:
        x, y = _cifar(dataset, split, data_dir)
    if size is not None and size > x.shape[-1]:
        raise ValueError(f"size {size} is larger than the images ({x.shape[-1]}x{x.shape[-2]})")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    images = torch.from_numpy(np.array(x, dtype=np.float32)).div_(127.5).sub_(1.0)
    if size is not None and size != images.shape[-1]:
        images = F.adaptive_avg_pool2d(images, size)
    labels = torch.from_numpy(np.array(y, dtype=np.int64))
    return TensorDataset(images, labels)


def num_classes(dataset: str) -> int:
    """Number of classes of a data set (100 for CIFAR-100, else 10)."""
    _check_choice("dataset", dataset, DATASETS)
    return 100 if dataset == "cifar100" else 10


def image_shape(dataset: str) -> tuple[int, int, int]:
    """``(C, H, W)`` of a data set's images before any ``size`` pooling."""
    _check_choice("dataset", dataset, DATASETS)
    return (3, 32, 32) if dataset.startswith("cifar") else (1, 28, 28)


# ---------------------------------------------------------------------------------------- CLI
def _install_fashion_mnist(data_dir: str | Path | None) -> str:
    """Try Debian's package (as root with apt-get), then torchvision's download. Returns a log line."""
    notes = []
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {DEBIAN_PACKAGE} with apt-get ...", flush=True)
        done = subprocess.run(
            f"apt-get update && apt-get install -y {DEBIAN_PACKAGE}", shell=True, check=False
        )
        if done.returncode == 0 and find_fashion_mnist(data_dir) is not None:
            return "installed with apt-get"
        notes.append(f"apt-get install {DEBIAN_PACKAGE} failed (exit {done.returncode})")
    root = Path(data_dir).expanduser() if data_dir is not None else cache_root()
    try:
        import torchvision

        print(f"downloading Fashion-MNIST with torchvision into {root} ...", flush=True)
        for train in (True, False):
            torchvision.datasets.FashionMNIST(str(root), train=train, download=True)
    except Exception as err:  # network or disk failure: report it, the caller prints the help text
        notes.append(f"torchvision download failed: {err}")
    return "; ".join(notes)


def main(args: list[str]) -> int:
    """``data [--data PATH] [--cifar] [--sample DIR]``: make sure the data sets are present and say where they
    are; ``--sample DIR`` instead writes the tests' tiny Fashion-MNIST sample (:func:`write_fashion_mnist_sample`,
    the data of the committed cnn-am smoke baseline) into DIR."""
    parser = argparse.ArgumentParser(prog="benchmarks data", description=main.__doc__)
    parser.add_argument("--data", default=None, help="directory with the data (searched first)")
    parser.add_argument("--cifar", action="store_true", help="also get CIFAR-10 and CIFAR-100")
    parser.add_argument("--sample", default=None, metavar="DIR",
                        help="write the tests' tiny Fashion-MNIST sample into DIR (the cnn-am smoke baseline's data)")
    ns = parser.parse_args(args)
    if ns.sample is not None:
        try:
            print(f"fashion-mnist sample: {write_fashion_mnist_sample(ns.sample)}")
        except OSError as exc:
            print(f"error: cannot write the sample into {ns.sample}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        return 0
    status = 0
    found = find_fashion_mnist(ns.data)
    if found is None:
        note = _install_fashion_mnist(ns.data)
        found = find_fashion_mnist(ns.data)
        if found is None:
            print(_how_to_get("fashion-mnist") + (f" ({note})" if note else ""), file=sys.stderr)
            status = 1
    if found is not None:
        print(f"fashion-mnist: {found['train'][0].parent}")
    if ns.cifar:
        for name in ("cifar10", "cifar100"):
            root = find_cifar(name, ns.data)
            if root is None:
                target = Path(ns.data).expanduser() if ns.data is not None else cache_root()
                try:
                    import torchvision

                    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
                    for train in (True, False):
                        cls(str(target), train=train, download=True)
                except Exception as err:  # network or disk failure
                    print(f"{_how_to_get(name)} (download failed: {err})", file=sys.stderr)
                root = find_cifar(name, ns.data)
            if root is None:
                status = 1
            else:
                print(f"{name}: {root / _CIFAR_DIRS[name]}")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
