"""Shared fixtures. Tests never depend on data installed on the machine: the ones that need
Fashion-MNIST get a directory of tiny idx files made here (``benchmarks.domain.data.write_fashion_mnist_sample``)
and pass it as ``data_dir`` (the command line's ``--data``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.domain import data


@pytest.fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding a tiny, valid Fashion-MNIST (64 training, 32 test images)."""
    return data.write_fashion_mnist_sample(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def all_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory where every data set of the suite is found: the tiny Fashion-MNIST and empty
    CIFAR folders (enough for a profile's presence check; nothing in them can be loaded)."""
    root = data.write_fashion_mnist_sample(tmp_path_factory.mktemp("all-data"))
    for name in ("cifar-10-batches-py", "cifar-100-python"):
        (root / name).mkdir()
    return root


#: The example package outside the suite (examples/byo_example): one AM method, one model, one toy family.
EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "byo_example"


@pytest.fixture()
def example_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example plug-in package importable by its import path (as PYTHONPATH=examples/byo_example does)."""
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    return EXAMPLE_DIR
