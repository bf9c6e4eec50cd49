"""REPORT.md rendering on synthetic claims, and the performance suite's goal-figure table."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.framework import registry
from benchmarks.framework import report as rp
from benchmarks.framework.catalogue import gather
from benchmarks.framework.claims import Claim, ClaimDeclaration
from benchmarks.framework.tables import to_markdown

pytest_plugins = ["pytester"]

PROV = {"command": "python -m benchmarks reproduce --profile quick --out results/quick",
        "git_commit": "abc123+dirty", "machine": {"hostname": "box", "platform": "Linux-x", "cpu_count": 2},
        "versions": {"torch": "2.14.1"}, "suite_version": "0.1.0", "profile": "quick",
        "date": "2026-01-01T00:00:00Z"}


def claim(key: str, verdict: str, experiment: str = "toy-am (quick)", table: pd.DataFrame | None = None) -> Claim:
    found = rp.expected_finding(key)
    return Claim(key, f"statement of {key} by {experiment}", experiment, f"effect of {key}: CI [1, 2], p = 0.01",
                 verdict, f"rule for {key}", table, rule=f"rule-{key}", id=found[1] if found else "")


def results() -> list[rp.ExperimentResult]:
    toy_table = pd.DataFrame({"family": ["dead_unit", "bumps"], "success": [0.125, 0.5]})
    toy = rp.ExperimentResult("toy-am", "ran", "40 records", (
        claim("beyond:anneal", "mixed"),
        claim("am-fails", "supported", table=toy_table),
        claim("slope-raises-maxima", "supported"),
        claim("beyond:peers", "contradicted"),
    ))
    cnn = rp.ExperimentResult("cnn-am", "ran", "12 records", (
        claim("slope-raises-maxima", "contradicted", "cnn-am (quick)"),
        claim("beyond:certified-gaps-cnn", "supported", "cnn-am (quick)"),
        claim("extra-finding", "supported", "cnn-am (quick)"),
    ))
    training = rp.ExperimentResult("training", "unavailable", "data missing: no Fashion-MNIST")
    return [toy, cnn, training]


@pytest.mark.parametrize("verdicts, expected", [
    (["supported"], "supported"),
    (["supported", "supported"], "supported"),
    (["supported", "contradicted"], "mixed"),
    (["contradicted", "not tested"], "contradicted"),
    (["mixed", "not tested"], "mixed"),
    (["not tested", "not tested"], "not tested"),
    ([], "not tested"),
])
def test_combined_verdict(verdicts, expected):
    assert rp.combined_verdict(verdicts) == expected


def test_combined_verdict_rejects_unknown():
    with pytest.raises(ValueError, match="'confirmed'"):
        rp.combined_verdict(["supported", "confirmed"])


def test_experiment_result_rejects_unknown_status():
    with pytest.raises(ValueError, match="'done'"):
        rp.ExperimentResult("toy-am", "done")


def test_sections_order_merge_and_not_tested_parts():
    sections = rp.build_sections(results())
    keys = [s.key for s in sections]
    assert keys == ["am-fails", "slope-raises-maxima", "training",              # the paper, in its order
                    "beyond:anneal", "beyond:peers", "beyond:certified-gaps-cnn",  # produced, in order
                    "beyond:straight-through", "beyond:switch", "beyond:best-of",  # expected, not produced
                    "beyond:network", "beyond:baselines", "beyond:proxygrad-in-recipes",
                    "beyond:recipes-vs-gradient-am", "extra-finding"]
    by = {s.key: s for s in sections}
    # one section, two parts, from the two experiments; mixed verdicts -> partly
    assert [name for name, _ in by["slope-raises-maxima"].parts] == ["toy-am", "cnn-am"]
    assert by["slope-raises-maxima"].verdict == "mixed"
    assert by["am-fails"].verdict == "supported"
    # an experiment that did not run: a not-tested part carrying its reason
    (name, part), = by["training"].parts
    assert name == "training" and part.verdict == "not tested"
    assert "data missing: no Fashion-MNIST" in part.rationale
    assert by["training"].verdict == "not tested"
    # expected finding that an experiment that ran did not produce
    (_, abl), = by["beyond:network"].parts
    assert abl.verdict == "not tested" and "ran but produced no claim" in abl.rationale
    assert by["extra-finding"].statement == "statement of extra-finding by cnn-am (quick)"


def test_every_expected_claim_has_a_stable_id_in_every_profile():
    """The ids come from the declarations, not from what a profile ran: no run at all lists them all."""
    ids = [s.id for s in rp.build_sections([])]
    catalogue = registry.catalogue()
    expected = [d.id for d in (*catalogue.paper, *catalogue.beyond)]
    assert ids == expected and len(set(ids)) == len(ids)
    assert expected == ["C1", "C2", "C3", "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B10", "B11"]
    text = rp.render_report([], PROV)
    head = text.split("## Headline", 1)[1].split("\n## ", 1)[0]
    for cid in expected:
        assert f"| {cid} |" in head


def test_declared_ids_match_the_expected_ones():
    """The experiments' ClaimSpecs declare the same id their manifests declare for the key."""
    import inspect

    from benchmarks.experiments.toy_am import analysis as toy

    source = inspect.getsource(toy.claim_specs)
    for d in registry.catalogue().beyond:
        if f'"{d.key}"' in source:
            assert f'spec("{d.id}", "{d.key}"' in source or f'ClaimSpec("{d.id}", "{d.key}' in source


def test_the_catalogue_gathers_the_manifests_declarations():
    """Each key once, in id order, with its experiments in registry order; a paper claim several experiments
    test is declared once (in the domain); a finding not every profile makes is declared but not expected."""
    catalogue = registry.catalogue()
    assert catalogue.tested_by("am-fails") == ("toy-am", "cnn-am")
    assert catalogue.tested_by("beyond:training-matched-lr") == ("training",)
    assert "beyond:training-matched-lr" not in {d.key for d in catalogue.beyond}
    assert catalogue.title("beyond:training-matched-lr") == "training matched lr"
    assert catalogue.effects() == "; for C1 the failure rate; for C3 the test-accuracy difference"
    assert catalogue.units == ("a toy instance (family, dim, seed)", "a CNN unit (model, unit)", "a training seed")


def test_a_new_experiment_is_its_package_and_one_registry_line(monkeypatch):
    """What a new experiment declares in its manifest reaches the report with no change to the framework."""
    import sys
    import types

    package = types.ModuleType("fake_new_experiment")
    package.CLAIMS = (ClaimDeclaration("beyond:new-thing", "B99", "A new thing", "Something new holds."),)
    package.UNIT = "a new unit"
    monkeypatch.setitem(sys.modules, "fake_new_experiment", package)
    monkeypatch.setitem(registry.EXPERIMENTS, "new", "fake_new_experiment.experiment")
    by = {s.key: s for s in rp.build_sections([])}
    (name, part), = by["beyond:new-thing"].parts
    assert name == "new" and by["beyond:new-thing"].id == "B99" and by["beyond:new-thing"].title == "A new thing"
    assert "'new' is not part of this reproduction" in part.rationale
    text = rp.render_report([], PROV)
    assert "| B99 | A new thing |" in text and ", a new unit. Starts of one unit" in text


def test_conflicting_declarations_are_refused():
    import types

    def manifest(*claims):
        m = types.ModuleType("m")
        m.CLAIMS = claims
        return m

    a = ClaimDeclaration("k", "B1", "title", "statement")
    assert gather([("x", manifest(a)), ("y", manifest(a))]).tested_by("k") == ("x", "y")
    with pytest.raises(ValueError, match="y declares claim 'k' other than x does"):
        gather([("x", manifest(a)), ("y", manifest(ClaimDeclaration("k", "B1", "other")))])
    with pytest.raises(ValueError, match="y declares id B1 for 'j'; x uses it for 'k'"):
        gather([("x", manifest(a)), ("y", manifest(ClaimDeclaration("j", "B1")))])
    with pytest.raises(ValueError, match="a letter and a number"):
        ClaimDeclaration("k", "1B")


def test_variants_of_an_expected_finding():
    toy = rp.ExperimentResult("toy-am", "ran", "", (claim("beyond:network-0.5", "contradicted"),
                                                    claim("beyond:network-1.0", "supported")))
    sections = rp.build_sections([toy])
    titles = {s.key: s.title for s in sections}
    assert titles["beyond:network-0.5"] == "Network ablation (0.5)"
    assert titles["beyond:network-1.0"] == "Network ablation (1.0)"
    assert "beyond:network" not in titles  # covered by its variants
    assert titles["beyond:anneal"] == "Annealed backward slope"  # expected, not produced
    assert {s.id for s in sections if s.key.startswith("beyond:network")} == {"B6"}
    text = rp.render_report([toy], PROV)
    # a finding is stated as its experiment tested it, once, in one section for its id
    assert text.count("statement of beyond:network-0.5 by toy-am (quick)") == 1
    assert text.count("### B6: Network ablation") == 1


def test_missing_experiment_is_named():
    sections = rp.build_sections([])
    assert all(s.verdict == "not tested" for s in sections)
    (_, part), (_, cnn) = sections[0].parts
    assert "'toy-am' is not part of this reproduction" in part.rationale
    assert "'cnn-am' is not part of this reproduction" in cnn.rationale


def family(method: str = "proxy-0.5") -> pd.DataFrame:
    """A claim's family table as replication.claim_table makes it (two strata)."""
    return pd.DataFrame({"claim": "C2", "method": method, "reference": "plain", "family": ["dead_unit", "bumps"] * 2,
                         "optimizer": ["ascent", "ascent", "adam", "adam"], "value": 0.9, "value_ref": 0.1,
                         "test": "wilcoxon", "n": 20, "wins": 5, "ties": 0, "losses": 0, "statistic": 0.0,
                         "median_diff": 0.8, "mean_diff": [0.8, 0.1, 0.5, -0.2], "diff_low": [0.7, 0.0, 0.4, -0.3],
                         "diff_high": [0.9, 0.2, 0.6, -0.1], "effect": 1.0, "p": 0.001, "p_holm": 0.004,
                         "family_size": 4, "mde_dz": 1.0, "mde": [0.1, 0.2, 0.3, 0.4], "margin": 0.01,
                         "relevance": 0.1, "powered": [True, True, True, False],
                         "outcome": ["higher", "inconclusive", "higher", "lower"], "higher": False, "lower": False})


def test_headline_numbers_come_from_the_claim_table():
    c = Claim("slope-raises-maxima", "s", "toy-am", "e", "mixed", "r", family(), rule="majority", id="C2",
              method="proxy-0.5")
    h = rp.headline(c)
    assert h.tests == 4 and h.n == "20 (x4 tests)"
    # the median test (the lower of the two middle effects, 0.1): its interval
    assert h.effect.startswith("+0.100 [+0.000, +0.200]") and "bumps/ascent" in h.effect
    assert h.mde == "0.250"
    assert rp.headline(Claim("k", "s", "x", "e", "not tested")).effect == "n/a"


def test_condensed_tables_have_at_most_ten_columns():
    grid = rp.condense(family())
    assert list(grid.columns) == ["family", "n", "ascent", "adam"]
    assert grid.loc[grid["family"] == "bumps", "adam"].iloc[0] == "-0.200 [-0.300, -0.100] lower*"
    three = pd.concat([family(m) for m in ("a", "b", "c")], ignore_index=True)
    assert rp.condense(three).shape[1] == 8  # family, n, and method x optimizer
    wide = pd.DataFrame({f"c{i}": [1.0, 2.0] for i in range(30)} | {"name": ["x", "y"]})
    assert rp.condense(wide).shape[1] <= rp.MAX_COLUMNS
    many = pd.concat([family(m) for m in "abcdef"], ignore_index=True)  # too wide to pivot: rows per test
    assert rp.condense(many).shape[1] <= rp.MAX_COLUMNS


def test_render_report_contents(tmp_path: Path):
    fig = tmp_path / "toy-am" / "figures" / "success.png"
    res = results()
    toy = res[0]
    res[0] = rp.ExperimentResult(toy.name, toy.status, toy.reason, toy.claims, toy.artifacts,
                                 claim_figures=(("C1", "Plain AM stays below 1 on most families.", fig),))
    text = rp.write_report(tmp_path, res, PROV).read_text()
    # provenance: command, commit, machine
    for needle in (PROV["command"], "abc123+dirty", "box", "Linux-x", "2 CPUs", "torch 2.14.1",
                   "2026-01-01T00:00:00Z"):
        assert needle in text
    # the headline first, then the paper's claims, then the findings beyond it, glossary, reproducibility
    order = ["## Headline", "## Claims of the paper", "### C1: AM fails on simple ReLU", "### C2: A large backward",
             "## Beyond the paper", "### B3: Annealed backward slope", "### B8: Certified gaps", "### extra-finding",
             "## Not tested in this profile", "## Glossary", "## Reproducibility", "## Experiments", "## Provenance"]
    at = [text.index(x) for x in order]
    assert at == sorted(at)
    assert "**C3** ProxyGrad-trained CNNs" in text  # not tested: listed with its reason
    assert "| C2 | A large backward slope raises the maxima AM finds | toy-am |" in text
    # each experiment's part, each with its verdict; the merged verdict
    assert "**toy-am**: **supported**" in text and "**cnn-am**: **contradicted**" in text
    assert "**Verdict: mixed.**" in text
    # the claim's table, condensed, and its full table written and linked
    assert "| dead_unit |" in text and "[C1-toy-am.md](claims/C1-toy-am.md)" in text
    assert (tmp_path / "claims" / "C1-toy-am.md").is_file()
    # the declared figure with its caption, in its claim's section
    c1 = text.split("### C1:", 1)[1].split("### C2:", 1)[0]
    assert "![C1 figure 1: success](toy-am/figures/success.png)<br>" in c1
    assert "Plain AM stays below 1 on most families." in c1
    # glossary terms
    for term in ("majority", "mde", "d_z", "attained fraction", "stuck", "role", "`5=7`"):
        assert term in text.split("## Glossary", 1)[1]
    assert "**Not standardized:**" in text  # the fixtures carry no records commit
    assert len(text.splitlines()) < 250


def test_write_report_links_tables_relative(tmp_path: Path):
    table = tmp_path / "toy-am" / "tables" / "rel_gap.md"
    res = [rp.ExperimentResult("toy-am", "ran", "4 records", (claim("am-fails", "supported"),), (table,))]
    path = rp.write_report(tmp_path, res, PROV)
    assert path == tmp_path / "REPORT.md"
    assert "[rel_gap.md](toy-am/tables/rel_gap.md)" in path.read_text()


# --- benchmarks/perf/conftest.py: the goal-figure table -------------------------------------------

def _perf_conftest():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "perf" / "conftest.py"
    spec = importlib.util.spec_from_file_location("perf_conftest_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_figure_rows_ratio_absolute_and_missing():
    pc = _perf_conftest()
    declared = [("b.py", "ratio", ("op", "test_a", "test_b", 1.5)),
                ("b.py", "ratio", ("slow op", "test_c", "test_b", 1.5)),
                ("b.py", "ratio", ("solve", "test_a", None, 0.5)),
                ("b.py", "ratio", ("absent", "test_a", "test_zz", 2.0)),
                ("b.py", "extra", ("own", "test_c", "per_step", 10.0)),
                ("b.py", "extra", ("own missing", "test_a", "per_step", 10.0))]
    medians = {("b.py", "test_a"): 0.3, ("b.py", "test_b"): 0.25, ("b.py", "test_c"): 1.0}
    extras = {("b.py", "test_a"): {}, ("b.py", "test_c"): {"per_step": 12.5}}
    rows = pc.figure_rows(declared, medians, extras)
    assert rows == [("op", "1.2x", "<= 1.5x", "yes"), ("slow op", "4x", "<= 1.5x", "NO"),
                    ("solve", "0.3s", "<= 0.5s", "yes"), ("absent", "not measured", "<= 2x", "-"),
                    ("own", "12.5x", "<= 10x", "NO"), ("own missing", "not measured", "<= 10x", "-")]
    lines = pc.format_table(rows)
    assert [c.strip() for c in lines[0].split("|")] == ["figure", "measured", "goal", "met"]


@pytest.mark.parametrize("entry, bad", [
    (("op", "test_a", "test_b"), "got"),
    (("op", "test_a", 3, 1.5), "denominator may be None"),
    (("op", "test_a", "test_b", 0), "goal must be a positive"),
    (("op", "test_a", "test_b", float("inf")), "inf"),
])
def test_check_ratio_rejects(entry, bad):
    with pytest.raises(ValueError, match=bad):
        _perf_conftest().check_ratio(entry, "bench_x.py RATIOS[0]")


BENCH_FILE = '''
import time
RATIOS = [("slow over fast", "test_slow", "test_fast", 100.0)]
FIGURES = [("own figure", "test_fast", "own", 2.0)]

def test_fast(benchmark):
    benchmark.extra_info["own"] = 3.0
    benchmark(time.sleep, 0.001)

def test_slow(benchmark):
    benchmark(time.sleep, 0.004)
'''


def test_table_printed_after_benchmark_run_and_silent_when_disabled(pytester):
    pytester.makeconftest((Path(__file__).resolve().parents[1] / "benchmarks/perf/conftest.py").read_text())
    pytester.makepyfile(bench_demo=BENCH_FILE)
    opts = ["-p", "no:cacheprovider", "bench_demo.py", "--benchmark-min-rounds=3",
            "--benchmark-max-time=0.02", "--benchmark-warmup=off"]
    on = pytester.runpytest_subprocess(*opts)
    on.assert_outcomes(passed=2)
    on.stdout.fnmatch_lines(["*goal figures*", "figure*| measured*| goal*| met",
                             "slow over fast*| *x*| <= 100x | yes",
                             "own figure*| 3x*| <= 2x*| NO"])
    off = pytester.runpytest_subprocess(*opts, "--benchmark-disable")
    off.assert_outcomes(passed=2)
    assert "goal figures" not in off.stdout.str()


# --- CITATION.cff ------------------------------------------------------------------------------------

def test_citation_matches_the_suite_version_and_cites_the_paper():
    import tomllib

    import yaml

    from benchmarks import __version__

    root = Path(__file__).resolve().parents[1]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0"
    assert cff["title"] == project["name"] == "proxygrad-bench"
    assert cff["version"] == project["version"] == __version__
    assert f"version\n  {__version__}" in cff["message"] or f"version {__version__}" in " ".join(cff["message"].split())
    (paper,) = cff["references"]
    assert [a["family-names"] for a in paper["authors"]] == ["Linse", "Barth", "Martinetz"]
    assert paper["year"] == 2024 and "2410.16958" in paper["url"]
    assert paper["doi"] in rp.PAPER and "2410.16958" in rp.PAPER


def test_provenance_names_the_make_command_and_what_it_runs():
    from benchmarks.framework.report import render_provenance

    lines = render_provenance({"command": "python -m benchmarks reproduce --profile quick --out results/quick",
                               "make_command": "make reproduce PROFILE=quick", "git_commit": "abc"})
    assert ("- **Command:** `make reproduce PROFILE=quick`, which runs "
            "`python -m benchmarks reproduce --profile quick --out results/quick`") in "\n".join(lines)
    plain = render_provenance({"command": "python -m benchmarks reproduce --profile smoke --out x"})
    assert "- **Command:** `python -m benchmarks reproduce --profile smoke --out x`;" in "\n".join(plain)


def _claim(experiment, verdict, rule):
    from benchmarks.framework.claims import Claim

    return Claim("slope-raises-maxima", "s", experiment, "e", verdict, "r", rule=rule)


def test_a_section_merges_only_parts_decided_by_the_same_rule():
    same = rp.Section("k", "t", "s", (("toy-am", _claim("toy-am", "supported", "majority")),
                                      ("cnn-am", _claim("cnn-am", "contradicted", "majority"))))
    assert same.mergeable and same.verdict == "mixed"
    different = rp.Section("k", "t", "s", (("toy-am", _claim("toy-am", "supported", "majority")),
                                           ("cnn-am", _claim("cnn-am", "supported", "some"))))
    assert not different.mergeable
    assert different.verdict == "per experiment: toy-am: supported; cnn-am: supported"
    own = rp.Section("k", "t", "s", (("toy-am", _claim("toy-am", "supported", "")),
                                     ("cnn-am", _claim("cnn-am", "not tested", ""))))
    assert own.mergeable and own.verdict == "supported"


def test_readme_bibtex_names_the_suite_version_and_the_paper():
    from benchmarks import __version__

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    bib = readme[readme.index("```bibtex"):]
    bib = bib[: bib.index("```", 3)]
    assert f"version = {{{__version__}}}" in bib
    assert f"Suite version **{__version__}**" in readme and f"suite version {__version__}" in readme
    assert "10.1109/IJCNN60899.2024.10650881" in bib and "2410.16958" in bib


def test_a_section_merges_only_parts_that_tested_the_same_method():
    def part(name, verdict, method):
        return (name, Claim("slope-raises-maxima", "s", name, "e", verdict, rule="majority", method=method))
    same = rp.Section("k", "t", "s", (part("toy-am", "supported", "proxy-0.5"), part("cnn-am", "mixed", "proxy-0.5")))
    assert same.mergeable and same.verdict == "mixed"
    other = rp.Section("k", "t", "s", (part("toy-am", "supported", "proxy-1.0"), part("cnn-am", "supported", "proxy-0.5")))
    assert not other.mergeable and other.verdict.startswith("per experiment")


def test_standardized_only_for_one_clean_commit_and_version():
    def ran(name, commit, version="0.2.0"):
        return rp.ExperimentResult(name, "ran", records_commit=commit, records_suite_version=version)
    ok, text = rp.standardized([ran("toy-am", "a" * 40), ran("cnn-am", "a" * 40)])
    assert ok and "Standardized" in text
    assert not rp.standardized([ran("toy-am", "a" * 40 + "+dirty")])[0]
    assert not rp.standardized([ran("toy-am", "a" * 40), ran("cnn-am", "b" * 40)])[0]
    assert not rp.standardized([ran("toy-am", "a" * 40), ran("cnn-am", "a" * 40, "0.1.0")])[0]


def test_records_of_another_suite_version_than_the_code_are_not_standardized():
    ran = [rp.ExperimentResult("training", "ran", records_commit="a" * 40, records_suite_version="0.1.0")]
    assert rp.standardized(ran)[0]
    ok, text = rp.standardized(ran, "0.2.0")
    assert not ok and "suite version 0.1.0, read by the code of suite version 0.2.0" in text
