"""The committed quick baselines hold under another CPU's kernels and still catch a regression (issue 32, item 4).

Each experiment's quick baseline (``results/baselines/<experiment>-quick.json``) is calibrated
(``baseline --update --spread``) to the spread that ``perturb`` measured for the committed quick records
(``results/quick/perturb/<experiment>/<kind>-spread/``). For every such perturbation:

- the baseline's metrics are the summary of the committed native quick records;
- ``check`` passes on the perturbed run: on its committed records where they are committed (cnn-am, training),
  else on the perturbed metrics its spread table lists (toy-am: its perturbed records are 34 MB);
- the same check fails, naming exactly the metrics tampered, once two of the baseline's checked metrics claim
  just over one tolerance more than the perturbed run attained, and still passes when they claim just under it
  (metrics the calibration found to move by more than their declared tolerance under a perturbation are listed
  as ``unchecked`` in the baseline and skipped, with a note).

Nothing is re-run: these are checks of committed files against each other (seconds).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.framework import baseline
from benchmarks.framework.meta import REPO_ROOT

pytest.importorskip("toy_functions")
pytest.importorskip("proxygrad.engine")

QUICK = REPO_ROOT / "results" / "quick"
PERTURB = QUICK / "perturb"
EXPERIMENTS = ("toy-am", "cnn-am", "training")


def _spreads(experiment: str) -> list[Path]:
    """The committed spread folders of the experiment's quick records, one per perturbation."""
    return sorted((PERTURB / experiment).glob("*-spread"))


def _perturbed(experiment: str, spread_dir: Path, data_dir: Path) -> baseline.Measurement:
    """The perturbed run's metrics: summarized from its committed records, else read from the spread table.
    ``data_dir``: where the profile's presence check finds its data sets (nothing is loaded from it)."""
    kind = spread_dir.name.removesuffix("-spread")
    run = PERTURB / experiment / kind
    if (run / "records.csv").is_file():
        return baseline.measurement_from_run(run, experiment, "quick", data_dir=data_dir)
    table = pd.read_csv(spread_dir / "metrics.csv")
    doc = json.loads((spread_dir / "spread.json").read_text())
    return baseline.Measurement(dict(zip(table["metric"], table["run"].astype(float))), doc["config_hash"])


CASES = [(e, s) for e in EXPERIMENTS for s in _spreads(e)]


def test_every_experiment_has_a_calibrated_quick_baseline_and_a_spread():
    for experiment in EXPERIMENTS:
        doc = baseline.read(baseline.baseline_path(experiment, "quick"))
        assert _spreads(experiment), f"no committed spread of {experiment}/quick"
        said = " ".join(doc.get("tolerance_source", {}).values())
        for spread_dir in _spreads(experiment):  # calibrated to every committed perturbation
            assert f"{spread_dir.relative_to(REPO_ROOT).as_posix()}/spread.json" in said, (experiment, said)


@pytest.mark.parametrize(("experiment", "spread_dir"), CASES, ids=[f"{e}-{s.name}" for e, s in CASES])
def test_quick_check_passes_under_the_perturbation_and_fails_on_a_tampered_baseline(experiment, spread_dir,
                                                                                    tmp_path, fashion_mnist_dir):
    # the config hash does not depend on where the data lie; the tests' tiny sample passes the presence check
    # of the profiles that train or take dataset maxima on Fashion-MNIST, on a machine without the data set
    path = baseline.baseline_path(experiment, "quick")
    doc = baseline.read(path)
    table = pd.read_csv(spread_dir / "metrics.csv")
    assert dict(zip(table["metric"], table["reference"].astype(float))) == doc["metrics"], \
        "the baseline is not the summary of the records the spread was measured against"
    perturbed = _perturbed(experiment, spread_dir, fashion_mnist_dir)
    assert perturbed.config_hash == doc["config_hash"]
    ok, lines = baseline.check(experiment, "quick", measurement=perturbed, path=path, data_dir=fashion_mnist_dir)
    assert ok, lines

    tolerances = doc.get("tolerances") or {k: float(doc["tolerance"]) for k in doc["metrics"]}
    keys = sorted(k for k in doc["metrics"] if k not in doc.get("unchecked", {}))[:2]
    for by, fails in ((1.0 - 1e-6, False), (1.0 + 1e-6, True)):
        tampered = {**doc, "metrics": {**doc["metrics"], **{k: perturbed.metrics[k] + by * tolerances[k] + 1e-12 * fails
                                                           for k in keys}}}
        file = tmp_path / f"{experiment}-quick.json"
        file.write_text(json.dumps(tampered))
        ok, lines = baseline.check(experiment, "quick", measurement=perturbed, path=file, data_dir=fashion_mnist_dir)
        flagged = [ln.split(":")[0].removeprefix("REGRESSION ") for ln in lines if ln.startswith("REGRESSION ")]
        assert ok is not fails and flagged == (keys if fails else []), lines
