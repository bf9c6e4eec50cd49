"""On-disk cache of certificates, keyed by a hash of the linearized weights, the box, the settings and
the certifier's own source code.

Default directory: `$PROXYGRAD_CACHE`, else `~/.cache/proxygrad-bench/certificates`. One JSON file
per key, written atomically (temporary file + rename), so concurrent harness workers are safe.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .network import PiecewiseLinearNet

FORMAT = "toy_functions.certificate.v2"


def default_dir() -> Path:
    """`$PROXYGRAD_CACHE` or `~/.cache/proxygrad-bench/certificates`."""
    env = os.environ.get("PROXYGRAD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "proxygrad-bench" / "certificates"


def source_digest(package_dir: Path) -> str:
    """sha256 over the name and bytes of every ``*.py`` file of ``package_dir``, in name order."""
    h = hashlib.sha256()
    for path in sorted(Path(package_dir).glob("*.py")):
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """:func:`source_digest` of this package (``toy_functions/certify``), read once per process.  Part of
    every key, so that a certificate solved by other certifier code (another commit, or an edit not yet
    committed) is never returned as a cache hit, whether or not the edit bumped ``CERTIFIER_VERSION``."""
    return source_digest(Path(__file__).parent)


def key(net: PiecewiseLinearNet, input_shape: tuple[int, ...], lo: float, hi: float,
        settings: dict[str, Any]) -> str:
    """sha256 over the format tag, the certifier's source (:func:`code_digest`), the input shape, the
    box, the solve `settings` (every limit, solver option and version that can change the answer) and
    every weight, bias and slope."""
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT, code_digest(), list(input_shape), repr(lo), repr(hi), list(net.slopes),
                         settings], sort_keys=True, default=repr).encode())
    for w, b in zip(net.weights, net.biases):
        h.update(np.asarray(w.shape, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(w, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(b, dtype=np.float64).tobytes())
    return h.hexdigest()


def load(directory: Path, k: str) -> dict[str, Any] | None:
    """The stored record for key `k`, or None when absent or unreadable."""
    path = Path(directory) / f"{k}.json"
    try:
        with open(path, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    return record if record.get("format") == FORMAT else None


def store(directory: Path, k: str, record: dict[str, Any]) -> Path:
    """Write `record` for key `k` atomically; returns the file path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{k}.json"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{k[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": FORMAT, **record}, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
