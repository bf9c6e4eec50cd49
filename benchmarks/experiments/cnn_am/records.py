"""The record schema of ``cnn-am``: the experiment's own columns (:data:`COLUMNS`, the budget columns
``best_at_<t>`` after ``f_best`` and ``method_adapter`` for runs with recipes), composed after the common
header and the methods' columns by :func:`benchmarks.framework.schema.row_columns`, and the columns that
describe a model and a unit.
"""
from __future__ import annotations

from typing import Any

from benchmarks.domain import zoo
from benchmarks.framework import schema
from benchmarks.experiments.cnn_am.config import Config, ModelCfg, has_recipes
from benchmarks.experiments.cnn_am.units import Unit

#: The experiment's own columns of every record, in order (see :func:`row` for the ones a run adds).
COLUMNS: tuple[str, ...] = (
    "cell", "cell_kind", "role", "model", "source", "weights",
    "trained", "model_sha256", "forward_slope", "optimizer", "unit", "unit_kind", "layer", "layer_depth", "index",
    "draw", "dead", "certified", "claim_method", "start", "start_grad_zero", "steps", "lr", "lr_index", "lr_group",
    "f_start", "f_best", "f_final", "best_step",
    "grad_evals", "dataset_max", "dataset_max_n", "dataset_max_source", "beats_dataset", "upper_bound",
    "incumbent", "optimum", "cert_status", "mip_gap", "gap_lower", "gap_upper", "bound_ok", "arrays", "array_row")


def row(cfg: Config, **values: Any) -> dict[str, Any]:
    """One record: the method columns and the seed, then the experiment's own columns (the budget columns
    after ``f_best``); a column the values leave out is empty."""
    cols = list(COLUMNS)
    at = cols.index("f_best") + 1
    cols[at:at] = [schema.budget_column(t) for t in cfg.checkpoints]
    if has_recipes(cfg):  # how a recipe's image space maps into the box (empty for the other methods)
        cols.insert(cols.index("optimizer") + 1, "method_adapter")
    cols = list(schema.row_columns(cols, cfg.methods))
    unknown = set(values) - set(cols)
    if unknown:
        raise ValueError(f"unknown record columns {sorted(unknown)}")
    return {c: values.get(c) for c in cols}


def model_columns(m: ModelCfg, zm: zoo.ZooModel) -> dict[str, Any]:
    """The columns that say which model (and which weights) a record is of."""
    return {"model": m.label, "source": zm.source, "weights": zm.weights_label, "trained": zm.trained,
            "model_sha256": zm.sha256 or "", "forward_slope": zm.forward_slope}


def unit_columns(u: Unit) -> dict[str, Any]:
    """The columns that say which unit a record is of."""
    return {"unit": u.label, "unit_kind": u.kind, "layer": u.layer_label, "layer_depth": u.depth, "index": u.index}
