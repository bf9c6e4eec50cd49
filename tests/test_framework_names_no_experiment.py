"""Nothing under ``benchmarks/framework/`` names an experiment or one of its claims.

The names are taken from the suite, so the list cannot go stale: the experiments' names from the registry
(:data:`benchmarks.experiments.EXPERIMENTS`, registered into :data:`benchmarks.framework.registry.EXPERIMENTS`),
with their package names and protocol module paths; the claims' keys and ids from what the experiments'
manifests declare (:func:`benchmarks.framework.registry.catalogue`). The registry's one line per experiment
lives in ``benchmarks/experiments/__init__.py``, outside the framework, so nothing under the framework is
exempt from this test, save :data:`PENDING`.

Every file under ``benchmarks/framework/`` is read as text (code, comments and docstrings alike). A name with
a character other than a letter (``-``, ``_``, ``:``, a digit: an experiment's name or package, a claim key or
id) is matched wherever it stands as a word. A name that is a plain word and also an ordinary one (an
experiment or claim key that reads as English) is matched where it stands as a name: as a string literal of
its own (quoted), in backticks, or as a component of an import path; the word itself in prose (the activity
it names) is not a reference to the experiment, and the report's fixed text needs it.
"""
from __future__ import annotations

import re
from pathlib import Path

import benchmarks  # noqa: F401  (registers the suite's experiments)
from benchmarks.framework import registry

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK = ROOT / "benchmarks" / "framework"

PENDING: dict[str, str] = {}
"""Files under the framework that still name an experiment, with why and until when. The test below fails
once a file listed here no longer needs the exemption, so the list only shrinks."""


def names() -> set[str]:
    """Every name that would make a framework file name an experiment or a claim."""
    out: set[str] = set()
    for name, path in registry.EXPERIMENTS.items():
        package = path.rpartition(".")[0]
        out |= {name, name.replace("-", "_"), package.rpartition(".")[2], package, path}
    for d in registry.catalogue().declared:
        out |= {d.key, d.id}
    return {n for n in out if n}


def _patterns(name: str) -> list[re.Pattern[str]]:
    quoted = [re.compile(rf"([\"'`]){re.escape(name)}\1"), re.compile(rf"\.{re.escape(name)}\b")]
    if name.isalpha():  # a plain word: only where it stands as a name
        return quoted
    return [re.compile(rf"(?<![\w\-:.]){re.escape(name)}(?![\w\-:])")]


def mentions(text: str, found: set[str]) -> list[str]:
    """``"line N: name"`` for every name of ``found`` that ``text`` mentions (see the module docstring)."""
    hits = []
    for name in sorted(found):
        for pattern in _patterns(name):
            for m in pattern.finditer(text):
                hits.append(f"line {text.count(chr(10), 0, m.start()) + 1}: {name}")
    return sorted(set(hits))


def _framework_files() -> list[Path]:
    return sorted(p for p in FRAMEWORK.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_the_names_come_from_the_suite():
    found = names()
    assert set(registry.EXPERIMENTS) <= found and len(registry.EXPERIMENTS) >= 3
    declared = registry.catalogue().declared
    assert len(declared) >= 3 and {d.id for d in declared} <= found and {d.key for d in declared} <= found


def test_the_matcher_sees_names_and_leaves_prose():
    assert mentions('x = "cnn-am"', {"cnn-am"}) == ["line 1: cnn-am"]
    assert mentions("see toy_am.analysis", {"toy_am"}) == ["line 1: toy_am"]
    assert mentions("a\nfor C1 the rate", {"C1"}) == ["line 2: C1"]
    assert mentions('k == "beyond:peers"', {"beyond:peers"}) == ["line 1: beyond:peers"]
    assert mentions('if name == "training":', {"training"}) == ["line 1: training"]
    assert mentions("(``training``)", {"training"}) and mentions("experiments.training.x", {"training"})
    assert mentions("a training seed; AM and training amplify it", {"training"}) == []
    assert mentions("C10 and xC1", {"C1"}) == []


def test_nothing_under_the_framework_names_an_experiment_or_a_claim():
    found = names()
    bad = [f"{p.relative_to(ROOT)} {hit}" for p in _framework_files() if p.name not in PENDING
           for hit in mentions(p.read_text(encoding="utf-8", errors="replace"), found)]
    assert not bad, "the framework names an experiment or a claim:\n" + "\n".join(bad)


def test_every_pending_exemption_is_still_needed():
    found = names()
    stale = [name for name in PENDING
             if not (FRAMEWORK / name).is_file() or not mentions((FRAMEWORK / name).read_text(encoding="utf-8"), found)]
    assert not stale, f"remove from PENDING (they no longer name an experiment): {stale}"
