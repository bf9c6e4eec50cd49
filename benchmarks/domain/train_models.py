"""Train the suite's own Fashion-MNIST networks and write the committed checkpoints.

``python -m benchmarks.domain.train_models [--only NAME ...] [--data PATH] [--out DIR]`` trains every model in
``benchmarks.domain.zoo.SUITE`` with its recipe (seeded SGD, ``benchmarks.domain.training.train``) on the first
``train_limit`` training images, measures the test accuracy on the full test split, and writes

- ``<out>/<name>.pt``: the state_dict, serialized to bytes that depend only on the weights
  (``torch.save`` into memory, so the archive name and id do not vary with the file name);
- ``<out>/<name>.json``: the manifest (sha256 of the ``.pt`` bytes, test accuracy, training recipe,
  per-epoch history without wall times, data source, suite and torch versions).

On a CPU the same recipe with the same number of torch intra-op threads (``torch.get_num_threads()``) gives
the same bytes, hence the same sha256. Another thread count sums in another order, and the weights can differ
in their last bits (for fmnist-tiny14: one thread gives other bytes than the two threads the committed
checkpoint was trained with). The committed checkpoints, not a retraining, are what the experiments load.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

from benchmarks.framework import store
from benchmarks.framework.meta import suite_version
from benchmarks.domain.zoo import MODELS_DIR, SUITE, SuiteModel

#: Per-epoch history keys kept in the manifest (wall times would make it differ between runs).
HISTORY_KEYS: tuple[str, ...] = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr")


def state_bytes(model: nn.Module) -> bytes:
    """The state_dict of ``model`` as ``torch.save`` bytes; equal weights give equal bytes."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()




def train_model(spec: SuiteModel, train_set: TensorDataset, test_set: TensorDataset) -> tuple[nn.Module, list[dict]]:
    """Build ``spec``'s network from its seed and train it with its recipe; returns (model, history)."""
    from benchmarks.domain import models, training

    model = models.build_seeded(spec.seed, spec.arch, **spec.build_kwargs())
    history = training.train(model, train_set, test_set, epochs=spec.epochs, lr=spec.lr,
                             batch_size=spec.batch_size, seed=spec.seed)
    return model, history


def write_checkpoint(spec: SuiteModel, model: nn.Module, out_dir: str | Path, *,
                     test_accuracy: float, test_size: int, history: list[dict],
                     data_source: str) -> dict[str, Any]:
    """Write ``<name>.pt`` and ``<name>.json`` into ``out_dir``; return the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = state_bytes(model)
    manifest = {
        "name": spec.name,
        "arch": spec.arch,
        "build_kwargs": spec.build_kwargs(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "test_accuracy": float(test_accuracy),
        "test_size": int(test_size),
        "training_config": spec.training_config(),
        "train_images": None if spec.train_limit is None else int(spec.train_limit),
        "history": [{k: row[k] for k in HISTORY_KEYS if k in row} for row in history],
        "data_source": data_source,
        "suite_version": suite_version(),
        "torch_version": torch.__version__,
    }
    store.atomic_write_bytes(out / f"{spec.name}.pt", data)
    store.atomic_write_bytes(out / f"{spec.name}.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def train_and_write(spec: SuiteModel, out_dir: str | Path, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Load the data for ``spec``, train, evaluate on the full test split, write checkpoint + manifest."""
    from benchmarks.domain import data, training

    train_set = data.load(spec.dataset, "train", data_dir, size=spec.input_size, limit=spec.train_limit)
    test_set = data.load(spec.dataset, "test", data_dir, size=spec.input_size)
    model, history = train_model(spec, train_set, test_set)
    _, accuracy = training.evaluate(model, test_set)
    source = data.find_fashion_mnist(data_dir) if spec.dataset == "fashion-mnist" else None
    where = str(source["test"][0].parent) if source else spec.dataset
    return write_checkpoint(spec, model, out_dir, test_accuracy=accuracy, test_size=len(test_set),
                            history=history, data_source=where)


def main(argv: list[str] | None = None) -> int:
    """Train the suite models (all, or ``--only`` some) and write their checkpoints and manifests."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.domain.train_models", description=main.__doc__)
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME", help=f"subset of {sorted(SUITE)}")
    parser.add_argument("--data", default=None, metavar="PATH", help="directory with the Fashion-MNIST idx files")
    parser.add_argument("--out", default=str(MODELS_DIR), help="output directory (default: results/models)")
    ns = parser.parse_args(argv)
    names = ns.only or list(SUITE)
    unknown = [n for n in names if n not in SUITE]
    if unknown:
        parser.error(f"unknown suite model(s) {unknown}; choose from {sorted(SUITE)}")
    from benchmarks.domain.data import DataMissingError

    for name in names:
        try:
            manifest = train_and_write(SUITE[name], ns.out, ns.data)
        except DataMissingError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"{name}: test accuracy {manifest['test_accuracy']:.4f}, sha256 {manifest['sha256'][:16]}, "
              f"{manifest['bytes']} bytes", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
