"""Experiment ``training``: CNNs trained with a ProxyGrad backward rule against conventional training,
each method at a learning rate tuned for it on validation data.

Variants: every forward rectifier in ``activations`` (``relu``; ``leaky`` = LeakyReLU(``leaky_slope``))
times every backward method in ``methods``, in the vocabulary of AM (:mod:`benchmarks.framework.methods`):
``plain`` (the autograd gradient: conventional training), ``proxy-<s>`` (ProxyGrad, negative-side factor
``s`` in the backward pass only), ``bsilu`` / ``nelu`` (SUGAR's surrogate derivatives).  A variant is
labelled ``<activation>/<method>``; the baseline is ``relu/plain``.

Data: the training split (all of it) is the pool; a permutation seeded by ``split_seed`` carves
``val_size`` validation images out of it and takes the next ``train_limit`` (0 = all the rest) as the
training images.  Validation and training are disjoint, and both are disjoint from the test split (a
separate file).  The split is the same for every cell.

Cells (a staged run, ``cells(cfg, done)``):

1. *tuning* cells ``(dataset, arch, variant, lr index k, tuning seed)`` for the initial indices of the
   log grid ``lr(k) = 10 ** (k / per_decade)`` of ``lr_grid`` (:class:`benchmarks.framework.tuning.Grid`).
   They train on the training images and are scored by the validation accuracy after the last epoch; the
   test split is never loaded.
2. per (dataset, arch, variant), :func:`benchmarks.framework.tuning.choose` on the score per index (mean over
   the tuning seeds; NaN when any tuning run of that index diverged, so a diverging lr is never chosen).
   When the best lies at an edge of the indices tried, one more index beyond it is run (a later round);
   a variant whose every lr diverged down to the grid's lower limit is *failed* and gets no final cells.
3. *final* cells ``(dataset, arch, variant, seed)`` at the chosen lr (``lr`` and ``lr_k`` in the cell's
   params and rows).  They train on the same training images; the test split is evaluated once, after
   the last epoch (``test_acc`` on the last row, NaN on the others).
4. *matched* cells (only when the profile declares ``matched_lr``, a point ``k_m`` of the grid): every
   variant at that one lr on the final seeds, listed with the variant's final cells.  There is one run per
   (variant, seed, lr): where a variant's chosen index is ``k_m`` its final runs are its matched runs and
   no matched cell is listed.  Their rows carry ``matched_lr_k`` (a column only such profiles have, so the
   records of the other profiles keep their header) and are evaluated on the test split like final runs.
5. *reference* cells (only when the profile declares ``reference_epochs``): the baseline ``relu/plain`` of
   every (dataset, arch) at its chosen lr on the tuning seeds, trained for ``reference_epochs`` epochs (a
   schedule of that length) and scored on validation data only, never on the test split.  They are the
   plateau the stopping rule is checked against (:mod:`benchmarks.experiments.training.plateau`): how much
   validation accuracy the same recipe still gains when trained longer.

With ``tune_epochs`` set, a tuning run trains the first ``tune_epochs`` epochs of the final runs' schedule
(the cosine over ``epochs``, cut short: every step sees the rate a final run's step sees), so a lr that
diverges early in a final run diverges in its tuning run too; the analysis's ``rank_check`` table tests, on
the final seeds' validation accuracies, whether the cut schedule orders the lrs as the full one does.  The
rows of such profiles carry ``schedule_epochs`` (the schedule's length every run follows).

Selection rule (declared): among the lr indices tried, those where no tuning seed diverged; of these the
highest mean last-epoch validation accuracy over the tuning seeds; exact ties go to the lower middle of
the tied block (:func:`benchmarks.framework.tuning.choose`).

Paired design: every variant of a seed starts from the same initial weights (``build_seeded(seed, ...)``;
the ReLU and Leaky ReLU networks share their weights) and sees the same batches (data order seeded by
``seed``).

Rows: one per epoch (role ``tune``, ``final`` or ``matched``): the training loop's columns (validation metrics as
``val_loss`` / ``val_acc``, the epoch's first step size as ``lr_epoch``), the mechanism probe
(:mod:`benchmarks.experiments.training.mechanism`) and the cell's identity.  A cell whose training loss
becomes non-finite is a result: its finished epochs, then one row for the diverging epoch with NaN
metrics, every row with ``diverged=True``, ``diverged_epoch`` and ``diverged_step``; the run goes on.

This module is the experiment's protocol surface; the package holds one concept per module: :mod:`.config`
(the profile), :mod:`.variants`, :mod:`.plan` (the staged cells), :mod:`.splits` (the data),
:mod:`.runners` (running a cell) and :mod:`.mechanism` (the probe); tables and claims live in
:mod:`.analysis`, figures in :mod:`.figures`.
"""
from __future__ import annotations

from benchmarks.experiments.training.analysis import analyze, claims, summarize
from benchmarks.experiments.training.config import (ACTIVATIONS, BASELINE_ACTIVATION, BASELINE_METHOD, LR_SCHEDULES,
                                                   MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LIMIT, MAX_LR, MAX_PROBE,
                                                   MAX_SEED, MAX_SEEDS, NAME, ROLES, TESTED_ROLES,
                                                   Config, parse_config)
from benchmarks.experiments.training.figures import figures
from benchmarks.experiments.training.plan import Group, cell, cells, tuning_scores
from benchmarks.experiments.training.runners import run_cell
from benchmarks.experiments.training.splits import pool, split_indices, splits
from benchmarks.experiments.training.variants import forward_slope, rule_of, variant_name, variants

#: Certified bounds (benchmarks.framework.bounds): none, training records have no certified optimum.
BOUNDS: dict = {}
#: Wall-time columns: the only ones that are not a pure function of the config.
TIMING_COLUMNS: tuple[str, ...] = ("seconds",)
#: The columns that say what a row is (not what it measured): rows of two runs of one config are compared
#: on them (benchmarks.framework.spread).
ROW_KEY: tuple[str, ...] = ("method", "seed", "dataset", "arch", "activation", "variant", "role", "lr_k", "epoch")
#: The outcome columns whose spread the report's reproducibility statement shows first.
OUTCOME_COLUMNS: tuple[str, ...] = ("test_acc",)
#: What repeats bit for bit where (the report's reproducibility statement quotes it).
CROSS_MACHINE = ("records repeat bit for bit only on the same CPU and library build: float32 convolutions and "
                 "matrix products round by the CPU's instruction set, and SGD carries every rounding into the "
                 "next step. Measured on a second machine (0.2.0 quick records): 19 of 147 test "
                 "accuracies differed, by up to 1.6 points; losses, dead fractions and gradient norms differed "
                 "in most rows; the verdicts were the same.")
#: Regression tolerance of the baseline metric ``.../final_test_acc`` (a mean test accuracy over seeds): 0.05,
#: about 6 of the smoke profile's 128 test images; on one machine the CPU records repeat bit for bit
#: (one torch thread per cell), so it absorbs the float differences of another machine's kernels only.
BASELINE_TOLERANCES: dict[str, dict[str, float]] = {"final_test_acc": {"abs": 0.05}}


__all__ = ["NAME", "BOUNDS", "TIMING_COLUMNS", "ROW_KEY", "OUTCOME_COLUMNS", "CROSS_MACHINE", "BASELINE_TOLERANCES",
           "ACTIVATIONS", "BASELINE_ACTIVATION", "BASELINE_METHOD", "LR_SCHEDULES", "MAX_BATCH_SIZE", "MAX_EPOCHS",
           "MAX_LIMIT", "MAX_LR", "MAX_PROBE", "MAX_SEED", "MAX_SEEDS", "ROLES", "TESTED_ROLES",
           "Config", "Group", "parse_config", "cell", "cells", "tuning_scores", "run_cell", "pool",
           "split_indices", "splits", "forward_slope", "rule_of", "variant_name", "variants", "analyze", "figures",
           "summarize", "claims"]
