"""``REPORT.md``: a report a person reads in five minutes, built from the experiments' claims.

Every number in the report comes from the records: each experiment's ``claims(records)`` makes the
effects, verdicts and tables, and this module only orders, condenses and renders them (tables via
:func:`benchmarks.framework.tables.to_markdown`). An experiment that did not run, or whose claims could
not be made, is reported as "not tested" with the reason.

Layout: a headline table first (one row per claim id, experiment and method tested: n units, the effect
with its 95% interval, the minimum detectable effect, the verdict); then one short section per claim
id that was tested, the paper's claims (``C*``) first, then the findings beyond it (``B*``): what was
tested, the decision rule in one sentence, one condensed table of at most :data:`MAX_COLUMNS` columns
(the full table written to ``claims/`` and linked), and the figures the experiments declare for the
claim (``CLAIM_FIGURES`` of their figures module: claim id -> ``(figure name pattern, caption)``), each
with a caption that says what to see; then the claims not tested; a glossary; the reproducibility
statement (what repeats bit for bit on one machine and on any CPU, the spread measured under another CPU's
kernels and the verdicts it changes, :mod:`benchmarks.framework.reproducibility`; compute per profile, the
commit of every experiment's records and whether they are one standardized result); the provenance of the
report itself.

Claim ids are stable: every paper claim and expected finding is declared, with its id, by the experiments
that test it (their manifests' ``CLAIMS``, gathered by :func:`benchmarks.framework.registry.catalogue`), so a
profile that does not test a claim still lists it, under the same id; the report knows no claim by name.
Claims with the same key from several experiments form one section with a part per experiment; the
section verdict is :func:`combined_verdict` of the parts when they tested the same method under the
same rule (else each part's verdict, named).
"""
from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.framework import registry, reproducibility
from benchmarks.framework.catalogue import BEYOND, Catalogue, id_order
from benchmarks.framework.claims import VERDICTS, Claim
from benchmarks.framework.compare import RULE_TEXT
from benchmarks.framework.meta import not_standardized_because
from benchmarks.framework.store import atomic_write_text
from benchmarks.framework.tables import to_markdown, write_table

PAPER = ('C. Linse, E. Barth and T. Martinetz, "Leaky ReLUs That Differ in Forward and Backward Pass '
         'Facilitate Activation Maximization in Deep Neural Networks", IJCNN 2024, '
         "doi:10.1109/IJCNN60899.2024.10650881, arXiv:2410.16958")

MAX_COLUMNS = 10
"""The most columns a claim section's condensed table has (the full table is linked)."""
MAX_ROWS = 12
"""The most rows a claim section's condensed table shows (the full table is linked)."""
INTERVALS: tuple[tuple[str, str, str], ...] = (("mean_diff", "diff_low", "diff_high"),
                                                ("fail_rate", "fail_low", "fail_high"), ("rate", "low", "high"),
                                                ("success", "success_low", "success_high"))
"""Columns ``(estimate, low, high)`` that a condensed table shows as one ``estimate [low, high]`` cell."""
N_COLUMNS: tuple[str, ...] = ("n", "instances", "units")
MDE_COLUMNS: tuple[str, ...] = ("mde", "mde_acc_claim")
DROPPED: tuple[str, ...] = ("claim", "reference", "test", "statistic", "median_diff", "effect", "p", "family_size",
                            "mde_dz", "margin", "relevance", "higher", "lower", "wins", "ties", "losses",
                            "p_t_holm", "p_wilcoxon_holm")
"""Columns of a claim's full table that its condensed table leaves out (they stay in the linked table)."""

GLOSSARY: tuple[tuple[str, str], ...] = (
    ("unit", "what replicates independently: {units}. Starts of one unit are summarized first (mean or best of "
             "starts); n counts units."),
    ("unit labels", "`logit=3`: output 3 of the network; `5=7`: channel 7 of layer 5 (the module named `5` in "
                    "`named_modules()`), its spatial maximum."),
    ("attained fraction", "a unit's score normalized to its reference: `(F - F_0) / (reference - F_0)` with "
                          "`F_0` the start value; the reference is the certified optimum or bound, else the "
                          "best value any method found on the unit. 1 = the optimum reached."),
    ("effect", "the claim's statistic: the mean over units of the paired difference (method minus reference) of "
               "the attained fraction{effects}. The headline shows the median test of a claim and its 95% "
               "interval (bootstrap over units)."),
    ("mde", "minimum detectable effect: the smallest difference the test detects with 80% power after Holm, "
            "in the effect's units (from the detectable d_z, the mean paired difference over its standard "
            "deviation); a detection whose mde exceeds the relevance threshold is flagged unpowered (*)."),
    ("outcome", "per test: higher / lower (Holm p < 0.05 and the interval excludes 0 and leaves the "
                "equivalence margin), equivalent (interval inside the margin), else inconclusive."),
    ("verdict", "supported, contradicted, mixed, inconclusive or not tested, by the claim's rule: `majority`, "
                "supported when higher in more than half of its tests and lower in none; `some`, higher in at "
                "least one and lower in none (the full text is under each claim)."),
    ("stuck", "a unit where the plain gradient is exactly zero at every start, decided before any method ran."),
    ("role", "which runs a record belongs to: `tuning` (step-size grid on tuning units), `evaluation` (each "
             "method at its tuned lr on disjoint units), `fixed` (one untuned lr), `baseline`, `sweep`."),
    ("methods", "`proxy-s`: ProxyGrad, forward pass unchanged, backward pass of a Leaky ReLU of negative slope "
                "s; optimizers `ascent` (x += lr * grad), `normalized` (the step over the gradient's norm), `adam`."),
)
"""Terms a reader meets in the report, each in one line; ``{units}`` and ``{effects}`` are filled from the
experiments' declarations (:func:`render_glossary`)."""


@dataclass(frozen=True)
class ExperimentResult:
    """What one experiment contributed: its claims when it ran, else why it is not tested.

    status: ``"ran"``, ``"unavailable"`` (module, data or profile missing) or ``"failed"``.
    violations: lines naming the records above their certified bound (:mod:`benchmarks.framework.bounds`); an
    experiment with any is ``"failed"`` and the report opens with them.
    claim_figures: ``(claim id, caption, PNG path)`` of the figures the experiment declares for its claims.
    run_info: ``meta.json`` facts about the run: ``started_utc``, ``finished_utc``, ``cpu_count``, ``device``,
    ``timing_columns`` (the record columns that measure time and so do not repeat).
    cross_machine: the experiment's ``CROSS_MACHINE`` sentence (what repeats bit for bit where, and what was
    measured on another machine); spreads: the spread summaries of perturbation runs of its config
    (:func:`benchmarks.framework.reproducibility.find_spreads`).
    """

    name: str
    status: str
    reason: str = ""
    claims: tuple[Claim, ...] = ()
    artifacts: tuple[Path, ...] = field(default=(), compare=False)
    violations: tuple[str, ...] = ()
    records_commit: str = ""
    records_suite_version: str = ""
    claim_figures: tuple[tuple[str, str, Path], ...] = field(default=(), compare=False)
    run_info: dict[str, Any] = field(default_factory=dict, compare=False)
    cross_machine: str = ""
    spreads: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.status not in ("ran", "unavailable", "failed"):
            raise ValueError(f"status must be 'ran', 'unavailable' or 'failed', got {self.status!r}")


@dataclass(frozen=True)
class Section:
    """One report section: key, title, the claim in one sentence, and its parts ``(experiment, claim)``."""

    key: str
    title: str
    statement: str
    parts: tuple[tuple[str, Claim], ...]
    expected_id: str = ""

    @property
    def mergeable(self) -> bool:
        """True when one verdict may stand for every tested part: they tested the same method under the
        same named decision rule. Parts that differ in either, or are decided by rules of their own, are
        reported per experiment."""
        tested = [claim for _, claim in self.parts if claim.verdict != "not tested"]
        rules = {claim.rule for claim in tested}
        methods = {claim.method for claim in tested}
        return len(tested) <= 1 or (len(rules) == 1 and "" not in rules and len(methods) == 1)

    @property
    def id(self) -> str:
        """The claim id of the section (the first part's that has one, else the expected id)."""
        return next((claim.id for _, claim in self.parts if claim.id), self.expected_id)

    @property
    def verdict(self) -> str:
        """The section's verdict: :func:`combined_verdict` of its parts when they are the same test
        (:attr:`mergeable`), else each experiment's verdict, named."""
        if self.mergeable:
            return combined_verdict([claim.verdict for _, claim in self.parts])
        return "per experiment: " + self.part_verdicts

    @property
    def part_verdicts(self) -> str:
        """``"<experiment>: <verdict>; ..."`` over the parts, in order."""
        return "; ".join(f"{name}: {c.verdict}" for name, c in self.parts)

    @property
    def tested(self) -> bool:
        """True when some part was tested."""
        return any(c.verdict != "not tested" for _, c in self.parts)


def combined_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for several parts: "not tested" parts are left out; equal verdicts stay; different
    verdicts among the tested parts give "mixed"; nothing tested gives "not tested"."""
    for v in verdicts:
        if v not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {v!r}")
    tested = {v for v in verdicts if v != "not tested"}
    if not tested:
        return "not tested"
    return tested.pop() if len(tested) == 1 else "mixed"


def _not_tested(result: ExperimentResult | None, name: str) -> str:
    """Why experiment ``name`` contributed no claim to a section that expects one."""
    if result is None:
        return f"experiment {name!r} is not part of this reproduction"
    if result.status != "ran":
        return f"experiment {name!r} was not tested: {result.reason}"
    return f"experiment {name!r} ran but produced no claim with this key"


def expected_finding(key: str,
                     catalogue: Catalogue | None = None) -> tuple[str, str, str, str, tuple[str, ...]] | None:
    """``(expected key, id, title, statement, experiments)`` of the paper claim or expected finding that
    ``key`` is (or is a ``-<variant>`` of) in ``catalogue`` (default: the registered experiments'), else None.
    A variant's title names the variant."""
    return (catalogue or registry.catalogue()).expected(key)


def build_sections(results: Sequence[ExperimentResult], catalogue: Catalogue | None = None) -> list[Section]:
    """Group the experiments' claims by key into sections: the paper's claims in id order, then every
    finding beyond it in the order the experiments produced them, then the expected findings no experiment
    produced, then any other key. ``catalogue``: the declared claims (default: the registered experiments').

    A paper claim or expected finding gets a "not tested" part, with the reason, for every experiment
    that declares it but produced no claim with its key (or a variant of it).
    """
    catalogue = catalogue or registry.catalogue()
    paper = [d.key for d in catalogue.paper]
    by_name = {r.name: r for r in results}
    grouped: dict[str, list[tuple[str, Claim]]] = {}
    for r in results:
        for claim in r.claims:
            grouped.setdefault(claim.key, []).append((r.name, claim))
    covered = {e[0] for e in map(catalogue.expected, grouped) if e is not None}
    order = [*paper, *(k for k in grouped if k.startswith(BEYOND)),
             *(d.key for d in catalogue.beyond if d.key not in covered),
             *(k for k in grouped if k not in paper and not k.startswith(BEYOND))]
    sections = []
    for key in order:
        parts = grouped.get(key, [])
        found = catalogue.expected(key)
        cid, title, statement, testers = ("", catalogue.title(key), "", ()) if found is None else found[1:]
        if parts and key not in paper:
            statement = parts[0][1].statement  # a finding is stated the way its experiment tested it
        have = {name for name, _ in parts}
        parts = parts + [(name, Claim(key, statement, name, "no measurement", "not tested",
                                      _not_tested(by_name.get(name), name), id=cid))
                         for name in testers if name not in have]
        sections.append(Section(key, title, statement, tuple(parts), cid))
    return sections


def by_id(sections: Sequence[Section]) -> list[tuple[str, list[Section]]]:
    """Sections grouped by claim id (variants of one finding, e.g. one per peer rule, share an id), in id
    order; sections without an id keep their own group, after the others."""
    groups: dict[str, list[Section]] = {}
    for s in sections:
        groups.setdefault(s.id or s.key, []).append(s)
    return sorted(groups.items(), key=lambda kv: id_order(kv[0]))


# ---- numbers of a claim, from its table ---------------------------------------------------------------

def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _first(table: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((c for c in names if c in table.columns), None)


def _triple(table: pd.DataFrame) -> tuple[str, str, str] | None:
    return next((t for t in INTERVALS if set(t) <= set(table.columns)), None)


def strata(table: pd.DataFrame) -> list[str]:
    """The columns that label a test of a claim's family table: those between ``reference`` and ``value``
    (see :func:`benchmarks.framework.replication.claim_table`); else the leading text columns."""
    cols = list(table.columns)
    if "reference" in cols and "value" in cols and cols.index("reference") < cols.index("value"):
        return cols[cols.index("reference") + 1:cols.index("value")]
    lead = []
    for c in cols:
        if pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]):
            break
        lead.append(c)
    return lead


def interval_text(est: float, low: float, high: float, signed: bool) -> str:
    """``est [low, high]`` with 3 significant decimals (signed for differences)."""
    f = (lambda v: f"{v:+.3f}") if signed else (lambda v: f"{v:.3f}")
    if not math.isfinite(est):
        return "n/a"
    return f"{f(est)} [{f(low)}, {f(high)}]" if math.isfinite(low) and math.isfinite(high) else f(est)


@dataclass(frozen=True)
class Headline:
    """The headline numbers of one claim line: n units per test, the median test's effect with its
    interval, the median minimum detectable effect, and the number of tests."""

    n: str
    effect: str
    mde: str
    tests: int


def headline(claim: Claim) -> Headline:
    """:class:`Headline` of a claim from its table (``n/a`` for what the table does not have)."""
    t = claim.table
    if t is None or t.empty:
        return Headline("n/a", "n/a", "n/a", 0)
    tri, ncol, mcol = _triple(t), _first(t, N_COLUMNS), _first(t, MDE_COLUMNS)
    ns = sorted({int(_num(v)) for v in t[ncol] if math.isfinite(_num(v))}) if ncol else []
    n = "n/a" if not ns else (str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}")
    if len(t) > 1 and ns:
        n += f" (x{len(t)} tests)"
    effect = "n/a"
    if tri:
        est = t[tri[0]].map(_num)
        order = est.sort_values(kind="stable").index
        row = t.loc[order[(len(order) - 1) // 2]]
        effect = interval_text(_num(row[tri[0]]), _num(row[tri[1]]), _num(row[tri[2]]), tri[0] == "mean_diff")
        where = "/".join(str(row[c]) for c in strata(t))
        if len(t) > 1:
            effect += f" (median test{': ' + where if where else ''})"
    mdes = [v for v in (t[mcol].map(_num) if mcol else []) if math.isfinite(v)]
    mde = "n/a" if mcol is None else (f"{pd.Series(mdes).median():.3f}" if mdes else "inf")
    return Headline(n, effect, mde, len(t))


# ---- condensed tables ---------------------------------------------------------------------------------

def _cell(row: pd.Series, tri: tuple[str, str, str]) -> str:
    text = interval_text(_num(row[tri[0]]), _num(row[tri[1]]), _num(row[tri[2]]), tri[0] == "mean_diff")
    if "outcome" in row.index:
        star = "" if "powered" not in row.index or str(row["powered"]) in ("True", "1", "1.0") else "*"
        text += f" {row['outcome']}{star}"
    return text


def pivot_family(table: pd.DataFrame) -> pd.DataFrame | None:
    """A family table (one row per test: method, strata, outcome) as a grid: rows = the first stratum,
    columns = method x the other strata, each cell ``difference [95% CI] outcome`` (``*``: unpowered).
    None when that grid would be wider than :data:`MAX_COLUMNS`."""
    tri = _triple(table)
    keys = strata(table)
    if tri is None or "outcome" not in table.columns or not keys:
        return None
    several = "method" in table.columns and table["method"].nunique() > 1
    col_keys = (["method"] if several else []) + keys[1:]
    labels = [" ".join(str(r[c]) for c in col_keys) or "effect" for _, r in table.iterrows()]
    grid = pd.DataFrame({keys[0]: table[keys[0]].astype(str).to_numpy(), "_col": labels,
                         "_cell": [_cell(r, tri) for _, r in table.iterrows()]})
    wide = grid.pivot_table(index=keys[0], columns="_col", values="_cell", aggfunc="first", sort=False)
    if wide.shape[1] + 1 > MAX_COLUMNS:
        return None
    wide = wide.reindex(columns=list(dict.fromkeys(labels))).reset_index()
    wide.columns.name = None
    n = _first(table, N_COLUMNS)
    if n and table[n].nunique() == 1:
        wide.insert(1, "n", int(table[n].iloc[0]))
    return wide.fillna("")


def condense(table: pd.DataFrame) -> pd.DataFrame:
    """A claim's table in at most :data:`MAX_COLUMNS` columns: a family table as :func:`pivot_family`'s grid;
    any other table with each ``(estimate, low, high)`` triple merged into one cell, the columns of
    :data:`DROPPED` and those constant over several rows left out, the rest cut at the limit."""
    grid = pivot_family(table)
    if grid is not None:
        return grid
    t = table.copy()
    for tri in INTERVALS:
        if set(tri) <= set(t.columns):
            at = list(t.columns).index(tri[0])
            merged = [_cell(r[list(tri)], tri) for _, r in t.iterrows()]
            t = t.drop(columns=list(tri))
            t.insert(at, f"{tri[0]} [95% CI]", merged)
    t = t.drop(columns=[c for c in DROPPED if c in t.columns])
    if len(t) > 1:
        t = t[[c for c in t.columns if t[c].astype(str).nunique() > 1 or c in strata(table)]]
    return t.iloc[:, :MAX_COLUMNS]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "claim"


def full_table_name(cid: str, experiment: str, method: str) -> str:
    """The file stem of a claim part's full table under ``claims/``."""
    return _slug("-".join(x for x in (cid, experiment, method) if x))


# ---- rendering ------------------------------------------------------------------------------------------

def _esc(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def _tested_parts(group: list[Section]) -> list[tuple[Section, str, Claim]]:
    return [(s, name, c) for s in group for name, c in s.parts]


def render_headline(groups: list[tuple[str, list[Section]]],
                    unstable: dict[tuple[str, str, str], str] | None = None) -> list[str]:
    """The headline table: one row per claim id, experiment and method tested (one row for a claim that
    nothing tested); a verdict that changes under a perturbation (``unstable``: (experiment, claim id, method)
    -> what it becomes, :func:`benchmarks.framework.reproducibility.unstable`) is marked unstable."""
    unstable = unstable or {}
    lines = ["## Headline", "",
             "| id | claim | experiment | method | n units | effect [95% CI] | mde | verdict |",
             "|:---|:---|:---|:---|:---|:---|---:|:---|"]
    for cid, group in groups:
        rows = [(s, name, c) for s, name, c in _tested_parts(group) if c.verdict != "not tested"]
        if not rows:
            lines.append(f"| {cid} | {_esc(group[0].title)} | | | | | | not tested |")
            continue
        for s, name, c in rows:
            h = headline(c)
            lines.append(f"| {cid} | {_esc(s.title)} | {name} | {_esc(c.method) or 'n/a'} | {h.n} | "
                         f"{_esc(h.effect)} | {h.mde} | **{c.verdict}**{_unstable_note(unstable, name, cid, c)} |")
    return lines + ["", "Effect: the claim's statistic (see the glossary), the median of its tests where it has "
                    "several, with that test's 95% interval. In the claims' tables each cell is `difference [95% CI] "
                    "outcome`; `*` marks a test whose mde exceeds the relevance threshold (unpowered).", ""]


def _unstable_note(unstable: dict[tuple[str, str, str], str], name: str, cid: str, c: Claim) -> str:
    what = unstable.get((name, cid, c.method))
    return "" if what is None else f" (unstable: {_esc(what)} under another CPU's kernels; not a finding)"


def rule_sentence(claim: Claim) -> str:
    """The decision rule of a claim in one sentence."""
    if claim.rule in RULE_TEXT:
        return f"Rule `{claim.rule}` over the tests: {RULE_TEXT[claim.rule]}."
    for sentence in re.split(r"(?<=\.)\s+", claim.rationale):
        if "supported when" in sentence:
            return sentence
    return claim.rationale.split(". ")[0].rstrip(".") + "." if claim.rationale else "No rule stated."


def render_figures(cid: str, results: Sequence[ExperimentResult], root: Path | None) -> list[str]:
    """The figures the experiments declare for claim ``cid``, each an image with its caption below."""
    lines: list[str] = []
    k = 0
    for r in results:
        for fid, caption, path in r.claim_figures:
            if fid != cid:
                continue
            k += 1
            rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
            lines += [f"![{cid} figure {k}: {path.stem}]({rel.as_posix()})<br>"
                      f"*Figure {cid}.{k} ({r.name}, `{path.stem}`).* {caption}", ""]
    return lines


def combined_table(claims: Sequence[Claim]) -> pd.DataFrame | None:
    """One table for the tested claims of one experiment in one section: their family tables stacked
    (one Holm family, a method column tells them apart), else the first claim's table."""
    tables = [c.table for c in claims if c.table is not None and not c.table.empty]
    if not tables:
        return None
    if len(tables) > 1 and all("method" in t.columns and "outcome" in t.columns for t in tables):
        return pd.concat(tables, ignore_index=True)
    return tables[0]


def render_part(cid: str, name: str, claims: Sequence[Claim], links: dict[tuple[str, str, str], str],
                statement: str, unstable: dict[tuple[str, str, str], str] | None = None) -> list[str]:
    """Lines of one experiment's tested claims in a section: the verdict of each method tested (marked when
    unstable, see :func:`render_headline`), what was tested, the decision rule in one sentence, the protocol
    (folded), one condensed table, and links to the full tables."""
    first = claims[0]
    verdicts = "; ".join(f"{c.method + ' ' if c.method else ''}**{c.verdict}**"
                         f"{_unstable_note(unstable or {}, name, cid, c)}" for c in claims)
    full = [links[k] for c in claims if (k := (cid, name, c.method)) in links]
    linked = ", ".join(f"[{Path(x).name}]({x})" for x in full)
    as_tested = f" As tested: {first.statement}" if first.statement != statement else ""
    lines = [f"**{name}**: {verdicts}.{as_tested} Decision: {rule_sentence(first)}"
             + (f" Full table{'s' if len(full) > 1 else ''}: {linked}." if linked else "")]
    why = list(dict.fromkeys([*(f"Measured: {_esc(c.effect)}" for c in claims if c.effect),
                              *(_esc(c.rationale) for c in claims if c.rationale)]))
    if why:
        lines.append("<details><summary>Every test in words, and how it was tested (protocol, lrs, budget, "
                     "power)</summary>" + " <br> ".join(why) + "</details>")
    table = combined_table(claims)
    if table is not None:
        small = condense(table)
        lines += ["", to_markdown(small.head(MAX_ROWS), digits=3).rstrip("\n")]
        if len(small) > MAX_ROWS:
            lines.append(f"(first {MAX_ROWS} of {len(small)} rows)")
    return lines + [""]


def render_claim(cid: str, group: list[Section], results: Sequence[ExperimentResult], root: Path | None,
                 links: dict[tuple[str, str, str], str]) -> list[str]:
    """One section per claim id: the claim, its verdict, each experiment's tested claims, the figures."""
    title = group[0].title.split(" (")[0] if len(group) > 1 else group[0].title
    verdicts = "; ".join(f"{s.title}: {s.verdict}" for s in group) if len(group) > 1 else group[0].verdict
    lines = [f"### {cid}: {title}", f"**Claim.** {group[0].statement} **Verdict: {verdicts}.**", ""]
    flips = reproducibility.unstable(spreads_of(results))
    parts: dict[str, list[Claim]] = {}
    for s in group:
        for name, claim in s.parts:
            parts.setdefault(name, []).append(claim)
    for name, claims in parts.items():
        tested = [c for c in claims if c.verdict != "not tested"]
        if tested:
            lines += render_part(cid, name, tested, links, group[0].statement, flips)
        else:
            lines += [f"*{name}: not tested ({_esc(claims[0].rationale)}).*", ""]
    return lines + render_figures(cid, results, root)


def render_not_tested(groups: list[tuple[str, list[Section]]]) -> list[str]:
    """One line per claim that nothing tested, with the reasons."""
    lines = []
    for cid, group in groups:
        if any(s.tested for s in group):
            continue
        why = "; ".join(dict.fromkeys(_esc(c.rationale) for s in group for _, c in s.parts))
        lines.append(f"- **{cid}** {group[0].title}: {why}")
    return ["## Not tested in this profile", "", *lines, ""] if lines else []


def render_glossary(catalogue: Catalogue) -> list[str]:
    """The glossary: one line per term, the units of replication and the claims' effects from ``catalogue``."""
    fill = {"units": ", ".join(catalogue.units), "effects": catalogue.effects()}
    return ["## Glossary", "", *[f"- **{term}**: {text.format(**fill)}" for term, text in GLOSSARY], ""]


def standardized(results: Sequence[ExperimentResult], code_version: str | None = None) -> tuple[bool, str]:
    """Whether the records that ran are standardized numbers: all from one commit of a clean tree and of one
    suite version (``code_version``, when given, that of the code that reads them); and the sentence that says
    so (or why not; :func:`benchmarks.framework.meta.not_standardized_because`)."""
    ran = [r for r in results if r.status == "ran"]
    if not ran:
        return False, "No experiment ran."
    why = not_standardized_because([(r.name, r.records_commit, r.records_suite_version) for r in ran], code_version)
    if why:
        return False, "**Not standardized:** " + "; ".join(why) + "."
    return True, (f"**Standardized:** every record comes from commit `{ran[0].records_commit}` of a clean tree, suite "
                  f"version {ran[0].records_suite_version}.")


def _minutes(info: dict[str, Any]) -> str:
    """Wall minutes from a run's start to its finish (``?`` when unknown)."""
    try:
        a, b = (_dt.datetime.strptime(str(info[k]), "%Y-%m-%dT%H:%M:%SZ") for k in ("started_utc", "finished_utc"))
    except (KeyError, ValueError):
        return "?"
    return f"{(b - a).total_seconds() / 60:.0f}"


def spreads_of(results: Sequence[ExperimentResult]) -> dict[str, tuple[dict[str, Any], ...]]:
    """Each experiment's spread summaries (those that ran and have any)."""
    return {r.name: r.spreads for r in results if r.status == "ran" and r.spreads}


def render_reproducibility(results: Sequence[ExperimentResult], provenance: dict[str, Any]) -> list[str]:
    """What repeats bit for bit where, the measured spread, unstable verdicts, and whether the records are
    standardized (:func:`benchmarks.framework.reproducibility.render`)."""
    scopes = {r.name: r.cross_machine for r in results if r.status == "ran"}
    return ["## Reproducibility", "", standardized(results, provenance.get("suite_version"))[1], "",
            *reproducibility.render(scopes, spreads_of(results), str(provenance.get("profile", "?")))]


def _compute(r: ExperimentResult) -> str:
    """``<minutes> min, <cpus> CPUs (<device>)`` of a run, and its timing columns."""
    if not r.run_info:
        return ""
    info = r.run_info
    timing = ", ".join(info.get("timing_columns", ())) or "none"
    return f"{_minutes(info)} min, {info.get('cpu_count', '?')} CPUs ({info.get('device', '?')}); timing: {timing}"


def render_experiments(results: Sequence[ExperimentResult], root: Path | None) -> list[str]:
    """A table of the experiments: status, the commit and suite version of its records, its compute (wall
    time from the run's start to its finish), reason and links to its tables."""
    lines = ["## Experiments", "", "| experiment | status | records from | compute | details |",
             "|:---|:---|:---|:---|:---|"]
    for r in results:
        detail = r.reason.replace("|", r"\|").replace("\n", " ")
        links = []
        for p in r.artifacts:
            if p.suffix != ".md":
                continue
            rel = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
            links.append(f"[{p.name}]({rel.as_posix()})")
        if links:
            detail = (detail + "; " if detail else "") + " ".join(links)
        origin = f"`{r.records_commit[:12]}`{' (dirty)' if r.records_commit.endswith('+dirty') else ''}, suite " \
                 f"{r.records_suite_version}" if r.records_commit else ""
        lines.append(f"| {r.name} | {'ran' if r.status == 'ran' else 'not tested (' + r.status + ')'} | {origin} | "
                     f"{_compute(r)} | {detail} |")
    return lines + [""]


def render_provenance(prov: dict[str, Any]) -> list[str]:
    """The provenance of the report itself: command, commit, date, machine, versions."""
    m = prov.get("machine", {})
    v = prov.get("versions", {})
    command = (f"`{prov['make_command']}`, which runs `{prov.get('command', 'unknown')}`"
               if prov.get("make_command") else f"`{prov.get('command', 'unknown')}`")
    return ["## Provenance", "",
            f"- **Command:** {command}; **commit** `{prov.get('git_commit', 'unknown')}`; **date (UTC)** "
            f"{prov.get('date', 'unknown')}; suite {prov.get('suite_version', 'unknown')}, profile "
            f"{prov.get('profile', '?')}",
            f"- **Machine:** {m.get('hostname', '?')}, {m.get('platform', '?')}, {m.get('cpu_count', '?')} CPUs; "
            "**versions:** " + ", ".join(f"{k} {val}" for k, val in v.items()), ""]


def render_violations(results: Sequence[ExperimentResult]) -> list[str]:
    """A section listing every experiment's bound violations, or nothing when there are none."""
    bad = [r for r in results if r.violations]
    if not bad:
        return []
    lines = ["## BOUND VIOLATIONS: records above their certified bound", "",
             "These records exceed the optimum or upper bound certified for their unit, which is impossible for "
             "a correct run; the experiments below are marked failed and their claims are not reported.", ""]
    for r in bad:
        lines += [f"### {r.name}", "", "```", *r.violations, "```", ""]
    return lines


def full_tables(results: Sequence[ExperimentResult]) -> dict[str, pd.DataFrame]:
    """Every tested claim part's full table, by the file stem it is written under in ``claims/``."""
    out = {}
    for r in results:
        for c in r.claims:
            if c.verdict != "not tested" and c.table is not None and not c.table.empty:
                out[full_table_name(c.id or c.key, r.name, c.method)] = c.table
    return out


def table_links(results: Sequence[ExperimentResult]) -> dict[tuple[str, str, str], str]:
    """``(claim id, experiment, method) -> claims/<stem>.md`` for every full table of :func:`full_tables`."""
    return {(c.id or c.key, r.name, c.method): f"claims/{full_table_name(c.id or c.key, r.name, c.method)}.md"
            for r in results for c in r.claims
            if c.verdict != "not tested" and c.table is not None and not c.table.empty}


def render_report(results: Sequence[ExperimentResult], provenance: dict[str, Any], root: Path | None = None,
                  catalogue: Catalogue | None = None) -> str:
    """The whole ``REPORT.md`` text (links relative to ``root``, the reproduction's output directory), with the
    claims the experiments declare (``catalogue``, default: the registered experiments')."""
    catalogue = catalogue or registry.catalogue()
    groups = by_id(build_sections(results, catalogue))
    links = table_links(results)
    tested = [(cid, g) for cid, g in groups if any(s.tested for s in g)]
    version = provenance.get("suite_version", "unknown")
    lines = [f"# proxygrad-bench {version}: reproduction report (profile `{provenance.get('profile', '?')}`)", "",
             f"Claims of {PAPER}, tested claim by claim (C = the paper's claims, B = findings beyond it; ids are "
             "stable across profiles and releases). Every number below is computed from the records by the "
             f"suite's code. {standardized(results, version)[1]}", ""]
    lines += render_violations(results)
    lines += render_headline(groups, reproducibility.unstable(spreads_of(results)))
    for heading, paper in (("## Claims of the paper", True), ("## Beyond the paper", False)):
        part = [(cid, g) for cid, g in tested if (id_order(cid)[0] == 0) == paper]
        if part:
            lines += [heading, ""]
        for cid, group in part:
            lines += render_claim(cid, group, results, root, links)
    lines += render_not_tested(groups)
    lines += render_glossary(catalogue)
    lines += render_reproducibility(results, provenance)
    lines += render_experiments(results, root)
    lines += render_provenance(provenance)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(out: Path, results: Sequence[ExperimentResult], provenance: dict[str, Any]) -> Path:
    """Write every claim part's full table to ``out/claims/`` and ``out/REPORT.md``; returns the report's path."""
    out = Path(out)
    for stem, table in full_tables(results).items():
        write_table(table, out / "claims", stem)
    path = out / "REPORT.md"
    atomic_write_text(path, render_report(results, provenance, out))
    return path
