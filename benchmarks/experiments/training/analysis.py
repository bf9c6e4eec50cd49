"""Analysis of the ``training`` records: the tables the report writes and the baseline metrics.

Runs (:mod:`.runs`): a diverged run is excluded from the main tests and accuracies (its seed drops out of
every test it is in) and counted separately (:mod:`.stability`); the intention-to-treat (ITT) line counts
it at chance level ``1 / num_classes``.

Choices are made on validation data only (:mod:`.selection`): each variant's lr (the run's rule: the
highest mean validation accuracy over the tuning seeds among the lrs where no tuning seed diverged), and
the best conventional variant a ProxyGrad variant is compared with.  The test split enters only as the
final runs' scores.

Claims: :mod:`.declared_claims` (``C3`` on the tuned runs, ``B9`` on the matched runs).  Descriptive
tables (:mod:`.tables` and the modules named below): ``paired_tests`` (every variant against
``relu/plain``, its own Holm family per dataset/arch, diverged seeds excluded), ``final_accuracy`` /
``matched_accuracy``, ``tuning``, ``chosen_lrs``, ``best_conventional``, ``stability``, ``divergence``,
``plateau``, ``mechanism``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmarks.experiments.training.declared_claims import claim_family, claim_rows, claim_table, claims, stopping_note
from benchmarks.experiments.training.plateau import plateau_table
from benchmarks.experiments.training.rank_check import rank_check_table
from benchmarks.experiments.training.runs import matched_k
from benchmarks.experiments.training.selection import best_conventional
from benchmarks.experiments.training.stability import divergence_table, stability_table
from benchmarks.experiments.training.tables import (chosen_lrs, curves, final_accuracy, final_rows, matched_accuracy,
                                                    mechanism_table, paired_tests, tuning_table)

def analyze(records: pd.DataFrame, out: Path) -> dict[str, pd.DataFrame]:
    """Tables: ``tuning``, ``chosen_lrs``, ``stability``, ``final_accuracy``, ``divergence``, ``plateau``,
    ``best_conventional``, ``paired_tests``, ``claim_C3``, ``claim_C3_itt``, ``mechanism`` and, with matched
    runs, ``matched_accuracy``, ``claim_B9``, ``claim_B9_itt``, ``rank_check``."""
    tables = {"tuning": tuning_table(records), "chosen_lrs": chosen_lrs(records),
              "stability": stability_table(records), "final_accuracy": final_accuracy(records),
              "divergence": divergence_table(records), "plateau": plateau_table(records),
              "best_conventional": best_conventional(records), "paired_tests": paired_tests(records),
              "claim_C3": claim_table(records, "tuned"), "claim_C3_itt": claim_table(records, "tuned", itt=True),
              "mechanism": mechanism_table(records)}
    if matched_k(records) is not None:
        tables.update({"matched_accuracy": matched_accuracy(records), "claim_B9": claim_table(records, "matched"),
                       "claim_B9_itt": claim_table(records, "matched", itt=True),
                       "rank_check": rank_check_table(records)})
    return tables


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Baseline metrics: per ``dataset/arch/variant`` the mean final test accuracy over seeds, a diverged run
    at chance (the ITT mean: the value these metrics have always had)."""
    table = final_accuracy(records)
    return {f"{r.dataset}/{r.arch}/{r.variant}/final_test_acc": float(r.itt_mean)
            for r in table.itertuples(index=False)}


__all__ = ["analyze", "chosen_lrs", "claim_family", "claim_rows", "claim_table", "claims", "curves", "final_accuracy",
           "final_rows", "matched_accuracy", "mechanism_table", "paired_tests", "stopping_note", "summarize"]
