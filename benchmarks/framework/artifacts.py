"""The tables and figures of one run directory, rebuilt from its records alone (``report DIR``)."""
from __future__ import annotations

from pathlib import Path

from benchmarks.framework import bounds, store
from benchmarks.framework.registry import load

VIOLATIONS_TABLE = "BOUND_VIOLATIONS"


def report_run(out: Path) -> tuple[list[Path], list[str]]:
    """Tables (``out/tables/*.{csv,md,tex}``) and figures (``out/figures/*.{png,pdf}``) of one run dir,
    and the bound-violation lines (empty when every record is within its declared bound).

    The run must be complete and undamaged (:func:`benchmarks.framework.store.load_records`: RunDirError naming the
    file otherwise; nothing is written then).  Violations are also written, all of them, to
    ``out/tables/BOUND_VIOLATIONS.{csv,md,tex}``.
    """
    from benchmarks.framework.tables import write_table

    out = Path(out)
    meta = store.read_meta(out)
    module = load(meta["experiment"])
    records = store.load_records(out)
    violations = bounds.violations(records, bounds.declared(module))
    written: list[Path] = []
    for name, df in module.analyze(records, out / "tables").items():
        written += write_table(df, out / "tables", name)
    written += list(module.figures(records, out / "figures"))
    for suffix in (".csv", ".md", ".tex"):
        (out / "tables" / f"{VIOLATIONS_TABLE}{suffix}").unlink(missing_ok=True)
    lines: list[str] = []
    if len(violations):
        written += write_table(violations, out / "tables", VIOLATIONS_TABLE)
        lines = bounds.describe(violations, str(out))
    return written, lines
