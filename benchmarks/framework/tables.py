"""Writing analysis tables as CSV (full precision), Markdown and LaTeX (rounded for reading)."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.framework.store import atomic_write_text

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def fmt(value: Any, digits: int = 4) -> str:
    """Human text for one table entry: floats to ``digits`` significant digits, NaN as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) or hasattr(value, "dtype") and getattr(value, "dtype").kind == "f":
        v = float(value)
        if math.isnan(v):
            return ""
        return f"{v:.{digits}g}"
    return str(value)


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (index not shown; numbers right-aligned)."""
    cols = [str(c) for c in df.columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    esc = lambda s: s.replace("|", r"\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join("---:" if n else ":---" for n in numeric) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(esc(fmt(v, digits)) for v in row) + " |")
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    """Escape LaTeX special characters."""
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_latex(df: pd.DataFrame, digits: int = 4) -> str:
    """A booktabs ``tabular`` of ``df`` (index not shown)."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = [r"\begin{tabular}{" + "".join("r" if n else "l" for n in numeric) + "}", r"\toprule",
             " & ".join(tex_escape(str(c)) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(tex_escape(fmt(v, digits)) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: Path, name: str, digits: int = 4) -> list[Path]:
    """Write ``df`` as ``out_dir/name.csv`` (full precision), ``.md`` and ``.tex``; returns the paths."""
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid table name {name!r}: use letters, digits and ._- only")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.{ext}" for ext in ("csv", "md", "tex")]
    atomic_write_text(paths[0], df.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(paths[1], to_markdown(df, digits))
    atomic_write_text(paths[2], to_latex(df, digits))
    return paths
