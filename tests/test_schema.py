"""The composed record schema (benchmarks.framework.schema) and the one boolean reader (codec.as_bool)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.framework import codec, schema
from benchmarks.framework.methods import Method, PluginMethod


def test_header_is_stamped_columns_method_columns_and_seed():
    assert schema.header() == ("experiment", "suite_version", *Method("plain").columns(), "seed")
    plug = PluginMethod("plugin-am", spec="pkg.mod:f", version="0.1")
    assert schema.header([Method("plain"), plug]) == (*schema.header(), "method_version")


def test_row_columns_compose_and_refuse_a_restated_header():
    assert schema.row_columns(["cell", "x"]) == ("method", "method_kind", "method_slope", "seed", "cell", "x")
    with pytest.raises(ValueError, match="seed"):
        schema.row_columns(["seed", "x"])


def test_budget_columns_have_one_name():
    assert schema.budget_column(16) == "best_at_16"
    found = schema.budget_columns(["f_best", "best_at_64", "best_at_2", "best_at_x"])
    assert found == {2: "best_at_2", 64: "best_at_64"}
    with pytest.raises(ValueError):
        schema.budget_column(-1)


def test_as_bool_reads_empty_as_missing_never_false():
    got = codec.as_bool(pd.Series([True, "False", np.nan, None, np.bool_(True)], name="flag"))
    assert str(got.dtype) == "boolean"
    assert got.tolist()[:2] == [True, False] and got.isna().tolist() == [False, False, True, True, False]
    with pytest.raises(ValueError, match="'yes'"):
        codec.as_bool(pd.Series(["yes"], name="flag"))


def test_read_csv_types_boolean_columns_once(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(codec.rows_to_csv([{"a": True, "b": None, "c": 1.5}, {"a": False, "b": False, "c": 2.0}]))
    df = codec.read_csv(path)
    assert str(df["a"].dtype) == "boolean" and str(df["b"].dtype) == "boolean" and df["c"].dtype == float
    assert df["b"].isna().tolist() == [True, False]
    assert codec.rows_to_csv(df.to_dict("records")) == path.read_text()
