"""Shared figure helpers: one seaborn style, and saving every figure as PNG and PDF.

Figures are saved without time stamps in their metadata, so the same records give the same files.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DPI = 150


def setup() -> None:
    """Apply the suite's seaborn theme (white grid, paper context, colour-blind palette)."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind")


def palette(names: list[str]) -> dict[str, tuple[float, float, float]]:
    """A stable colour per name (in the given order), shared by all figures of one experiment."""
    n = max(len(names), 1)
    colours = sns.color_palette("colorblind" if n <= 10 else "tab20", n_colors=n)
    out = {name: colours[i] for i, name in enumerate(names)}
    if "plain" in out:  # the reference method is always black
        out["plain"] = (0.0, 0.0, 0.0)
    return out


def save(fig: plt.Figure, out_dir: Path, name: str, *, tight: bool = True) -> list[Path]:
    """Save ``fig`` as ``out_dir/name.png`` and ``.pdf`` (no time stamps), close it, return both paths.

    ``tight``: apply ``tight_layout`` first (skipped for constrained-layout figures).
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid figure name {name!r}: use letters, digits and ._- only")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    try:
        if tight and not fig.get_constrained_layout():
            fig.tight_layout()
        fig.savefig(paths[0], dpi=DPI, bbox_inches="tight", metadata={"Software": None})
        fig.savefig(paths[1], bbox_inches="tight", metadata={"Creator": None, "Producer": None,
                                                              "CreationDate": None})
    finally:
        plt.close(fig)
    return paths
