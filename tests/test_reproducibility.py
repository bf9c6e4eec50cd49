"""The report's reproducibility statement (issue 32): each experiment's bit-for-bit scope, the spread measured
under another CPU's kernels read from the perturbation summaries, and verdicts that change under it marked
unstable in the headline."""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.framework import report as rp
from benchmarks.framework import reproducibility, spread
from benchmarks.framework.claims import Claim
from benchmarks.framework.registry import EXPERIMENTS, load

PROV = {"command": "python -m benchmarks reproduce --profile quick --out results/quick", "git_commit": "abc",
        "machine": {}, "versions": {}, "suite_version": "0.2.1", "profile": "quick", "date": "2026-01-01T00:00:00Z"}


def _summary(changed: list[dict] | None = None, config_hash: str = "h") -> dict:
    return {"format": spread.SUMMARY_FORMAT, "experiment": "cnn-am", "profile": "quick", "config_hash": config_hash,
            "perturbation": "avx2", "rows": {"compared": 100, "only_reference": 1, "only_run": 2},
            "columns_differing": {"f_best": {"differing": 40, "rows": 100, "max_rel": 0.39},
                                  "f_start": {"differing": 30, "rows": 100, "max_rel": 2e-5}},
            "columns_identical": ["upper_bound", "cert_status"],
            "outcome_columns": {"f_best": {"differing": 40, "rows": 100, "max_rel": 0.39, "max_abs": 1.2},
                                "upper_bound": {"differing": 0, "rows": 100, "max_rel": None, "max_abs": None}},
            "statistics": {"median_F": {"n": 8, "differing": 3, "max_abs": 0.02, "max_rel": 0.01}},
            "verdicts": {"compared": 2, "changed": changed or []}}


def _result(spreads: tuple[dict, ...]) -> rp.ExperimentResult:
    claim = Claim("slope-raises-maxima", "s", "cnn-am (quick)", "effect", "supported", id="C2", method="proxy-0.5")
    return rp.ExperimentResult("cnn-am", "ran", "", (claim,), cross_machine="certificates repeat on any CPU.",
                               spreads=spreads)


def test_statement_quotes_the_scope_and_tabulates_the_spread():
    text = rp.render_report([_result((_summary(),))], PROV)
    part = text.split("## Reproducibility", 1)[1]
    assert "**cnn-am:** certificates repeat on any CPU." in part
    assert ("| cnn-am | avx2 | 100 (3) | 2 of 4 | `f_best` 40 rows (0.39 rel., 1.2 abs.); `upper_bound` 0 rows; "
            "most rows: `f_best` (40); largest: `f_best` (0.39 rel.) | 3 of 8 (0.02) | none |") in part
    assert "none changes under the perturbations measured" in part
    assert "unstable" not in text.split("## Reproducibility", 1)[0]


def test_a_verdict_that_flips_is_marked_unstable_in_the_headline_and_the_statement():
    flip = [{"claim": "C2", "method": "proxy-0.5", "reference": "supported", "run": "mixed"}]
    text = rp.render_report([_result((_summary(flip),))], PROV)
    headline = text.split("## Headline", 1)[1].split("\n\n", 2)[1]
    assert "**supported** (unstable: avx2: mixed under another CPU's kernels; not a finding)" in headline
    assert "C2 proxy-0.5 (cnn-am) under avx2: mixed" in text.split("## Reproducibility", 1)[1]
    section = text.split("### C2:", 1)[1]
    assert "proxy-0.5 **supported** (unstable: avx2: mixed under another CPU's kernels; not a finding)" in section


def test_without_a_measurement_the_statement_says_how_to_make_one():
    part = rp.render_report([_result(())], PROV).split("## Reproducibility", 1)[1]
    assert "not measured for these records" in part and "python -m benchmarks perturb" in part


def test_only_summaries_of_the_runs_config_are_found(tmp_path: Path):
    for kind, h in (("avx2", "h"), ("sse41", "other")):
        d = tmp_path / "perturb" / "cnn-am" / f"{kind}-spread"
        d.mkdir(parents=True)
        (d / "spread.json").write_text(json.dumps({**_summary(config_hash=h), "perturbation": kind}))
    found = reproducibility.find_spreads(tmp_path, "cnn-am", "h")
    assert [d["perturbation"] for d in found] == ["avx2"]


def test_every_experiment_states_its_bit_for_bit_scope_and_row_key():
    for name in EXPERIMENTS:
        module = load(name)
        assert isinstance(module.CROSS_MACHINE, str) and "bit for bit" in module.CROSS_MACHINE or \
            "repeat on any x86-64 CPU" in module.CROSS_MACHINE
        assert module.ROW_KEY and all(isinstance(c, str) for c in module.ROW_KEY)
        assert module.OUTCOME_COLUMNS and not set(module.OUTCOME_COLUMNS) & set(module.ROW_KEY)
