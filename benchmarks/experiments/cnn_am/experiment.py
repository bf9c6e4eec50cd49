"""Experiment ``cnn-am``: activation maximization on real CNNs, each method at its own tuned step size,
paired unit by unit.

Units (:mod:`.units`): per model a pool of logits and channel means of rectified layers; a seeded
draw spanning the logits and every layer gives disjoint *tuning* and *evaluation* units, after the
profile's dead-unit rule (dataset maximum ``<= dead_epsilon``) has excluded units dead on the data.
With ``f_u(x) = unit(model(preprocess(x)))`` and the same ``S`` starts per unit for every method and
step size (drawn uniformly in ``[-1, 1]^shape`` from ``seed_of(seed, model, unit)``), the run is staged
(``cells(cfg, done)``):

1. ``survey`` cells, one per model: every pool unit's dataset maximum, the dead-unit rule and the draw
   (one row per pool unit with its ``role``: tuning / evaluation / excluded / unused);
2. ``certificate`` cells (models with ``certify = true``): the exact bound of each of the
   ``certify_units`` first evaluation units; ``tuning`` cells, one per (model, optimizer, method, grid
   index ``k``), all tuning units batched; ``fixed`` cells, one per (model, optimizer, method of
   ``fixed_methods``) at the profile's ``lr``, on the evaluation units (the untuned comparison);
3. more ``tuning`` cells where :func:`benchmarks.framework.tuning.choose` extends the grid past an edge
   for some unit group; once every group's choice is final, one ``evaluation`` cell per (model, optimizer,
   method, chosen index) holding the evaluation units of the groups that chose it (each record names the
   group that decided its lr, ``lr_group``), and with ``sweep = true`` one ``sweep`` cell per tried index
   on every evaluation unit (``sweep_starts`` starts; the lr-regret diagnostic, never read by a choice).

The choice is a pure function of the tuning records, made per unit group (the logits; the channels of each
layer), since units of different gradient scales do not share one lr (:func:`.analysis.group_choices`):
per tuning unit the best value over starts at the full budget, ranked across step sizes
(:class:`benchmarks.framework.tuning.Score`) and averaged over the group's units.  Every AM
cell runs one ``methods.run_am`` call on all its units at once (:class:`.units.UnitBatch`).  One record
per (cell, unit, start) for AM cells:

- ``f_start``, ``best_at_<t>`` (best original value within the first ``t`` steps, for every checkpoint
  ``t``; from the trace, which holds the ORIGINAL network's value), and ``f_best``: ``f_u(best input)``
  re-evaluated with the single-unit objective on the plain network;
- ``dataset_max``, ``beats_dataset`` (NaN / empty without data), ``dataset_max_source``;
- certified units: ``upper_bound`` (a proven bound on the float32 forward pass: every value of ``f_u`` that
  any record holds is at most ``upper_bound``, exactly, with no tolerance), ``incumbent`` (the certifier's
  best value, attained at its argmax), ``optimum`` (proven units only: the maximum of ``f_u``, stated by its
  proven upper end ``upper_bound``; it lies in ``[incumbent, upper_bound]``, an interval of relative width at
  most about 1e-4, the rigorous float32 rounding margin, so no attained value can exceed it), gaps
  ``[gap_lower, gap_upper]``; the certificate cell keeps the argmax in its array file (``stimulus``);
- ``arrays`` / ``array_row``: the cell's ``.npz`` file of traces and stimuli (:mod:`.arrays`).
- recipe methods (``lucent``, ``horama`` and their ``-proxy-<s>`` variants, :mod:`benchmarks.framework.recipes`):
  the run's records carry ``method_adapter`` (how the recipe's image space is mapped into the box; empty for
  the other methods, absent from runs without recipes). A recipe starts from its own published initial
  distribution, with its noise taken from the unit's shared start (so its ``f_start`` is its own start's
  value, the same for the recipe's plain and ProxyGrad variants); ``start_grad_zero`` is still the plain
  gradient at the shared start. Its values, like every method's, are the original network's at images in
  the box, never at a transformed copy.

This module is the experiment's protocol surface; the package holds one concept per module: :mod:`.config`
(the profile), :mod:`.networks` (models, objectives, unit pools, dataset maxima), :mod:`.certificates` (the
exact certifier's adapter), :mod:`.plan` (the staged cells), :mod:`.records` (the row schema),
:mod:`.runners` (running a cell), :mod:`.units` and :mod:`.arrays`; analysis, figures and claims live in
:mod:`.analysis` and :mod:`.figures`.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.framework import arrays as _framework_arrays
from benchmarks.experiments.cnn_am.analysis import (POOLED, SCORE_DEFINITION, analyze, claims, group_choices,
                                                   leaderboard_scores, summarize, tuning_choices)
from benchmarks.experiments.cnn_am.runners import STIMULUS_SIDE, TRACE_POINTS, run_cell
from benchmarks.experiments.cnn_am.certificates import certifiable, certificate
from benchmarks.experiments.cnn_am.config import (MAX_DATASET_LIMIT, MAX_LR, MAX_NODE_LIMIT,
                                                 MAX_SEED, MAX_STARTS, MAX_STEPS, MAX_TIME_LIMIT, MAX_UNITS, NAME,
                                                 Config, ModelCfg, has_recipes, parse_config)
from benchmarks.experiments.cnn_am.figures import figures
from benchmarks.experiments.cnn_am.networks import dataset_maxima, layer_depths, load_model, objective
from benchmarks.experiments.cnn_am.plan import cells
from benchmarks.experiments.cnn_am.records import COLUMNS
from benchmarks.experiments.cnn_am.units import Unit, UnitBatch, draw, seed_of, unit_of

#: Certified bounds (benchmarks.framework.bounds): f_best <= upper_bound exactly where the unit is certified
#: (``upper_bound`` carries the rigorous float32 rounding margin, so no tolerance is needed or allowed).
BOUNDS = {"f_best": ("upper_bound", ("model", "unit", "optimizer", "method", "start"))}
#: No column is a wall time: every one is a pure function of the config (and the data set).
TIMING_COLUMNS: tuple[str, ...] = ()
#: The columns that say what a row is (not what it measured): rows of two runs of one config are compared
#: on them (benchmarks.framework.spread).
ROW_KEY: tuple[str, ...] = ("cell", "role", "model", "method", "optimizer", "unit", "start", "lr_index", "steps",
                            "draw")
#: The outcome columns whose spread the report's reproducibility statement shows first.
OUTCOME_COLUMNS: tuple[str, ...] = ("f_start", "f_best", "upper_bound")
#: What repeats bit for bit where (the report's reproducibility statement quotes it).
CROSS_MACHINE = ("records repeat bit for bit only on the same CPU and library build: every float32 forward value "
                 "(`f_start`, `dataset_max`), all that AM makes of it (`f_best`, the checkpoints, the lr choices) "
                 "and the certificates' numbers (`upper_bound`, `incumbent`, `mip_gap`) round by the CPU's "
                 "kernels; `cert_status` did not change anywhere it was measured. On a second machine (0.2.0 "
                 "quick records) `f_start` differed in 2,445 of 5,069 rows by about 1e-7 relative (at most 2e-5), "
                 "`dataset_max` in 2,433 rows; AM amplified it to `f_best` differing in 2,099 rows, by more than "
                 "1e-3 relative in 568 and by up to 39%; the certificates and every verdict and its counts were "
                 "the same there. Under the avx2 and sse41 kernels of this machine (smoke profile) `upper_bound` "
                 "moves by up to 3e-8 relative.")
#: Regression tolerances of ``check`` per summary statistic (:func:`.analysis.summarize`), written into the
#: baseline file: ``max(abs, rel * |baseline|)``.
BASELINE_TOLERANCES: dict[str, dict[str, float]] = {"median_F": {"rel": 0.05}, "median_ratio": {"abs": 0.05}}



def extra_files(out: Path, key: str) -> list[Path]:
    """The array file of cell ``key`` when it wrote one (the runner's marker covers it)."""
    return _framework_arrays.existing(out, key)


__all__ = ["NAME", "TIMING_COLUMNS", "ROW_KEY", "CROSS_MACHINE", "OUTCOME_COLUMNS", "BASELINE_TOLERANCES", "BOUNDS",
           "Config", "parse_config", "cells", "run_cell", "analyze", "figures", "summarize", "claims", "extra_files",
           "tuning_choices", "leaderboard_scores", "SCORE_DEFINITION",
           # the package's other public names, kept here for the callers that import them from this module
           "COLUMNS", "MAX_DATASET_LIMIT", "MAX_LR", "MAX_NODE_LIMIT", "MAX_SEED",
           "MAX_STARTS", "MAX_STEPS", "MAX_TIME_LIMIT", "MAX_UNITS", "POOLED", "STIMULUS_SIDE", "TRACE_POINTS",
           "ModelCfg", "Unit", "UnitBatch", "certifiable", "certificate", "dataset_maxima", "draw", "group_choices",
           "has_recipes", "layer_depths", "load_model", "objective", "seed_of", "unit_of"]
