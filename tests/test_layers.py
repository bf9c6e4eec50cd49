"""The import graph of the project's own modules: no cycles, and no layer imports a higher one.

Every ``import`` and ``from ... import`` statement counts, at module level and inside functions alike
(lazy imports included). Layers, lowest first (see docs/DESIGN.md):

0. the libraries ``proxygrad`` and ``toy_functions`` (neither imports the other or ``benchmarks``);
1. ``benchmarks.framework`` (config, methods, store, runner, compare, tables, plotting, report, CLI);
2. ``benchmarks.domain`` (data, models, zoo, the training loop);
3. ``benchmarks.experiments`` (one package per experiment; experiments do not import each other);
4. the entry points ``benchmarks`` (package), ``benchmarks.__main__`` and the performance suite ``benchmarks.perf``.

Experiments are found by the framework through import paths (strings), never by an import statement.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("proxygrad", "toy_functions", "benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module that ``name`` refers to (the longest existing prefix), or None when not ours."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        candidate = ".".join(parts[:k])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (any statement anywhere in the file)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # "from pkg import sub" imports the submodule when there is one
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                r = _resolve(t, modules)
                if r is not None and r != mod:
                    graph[mod].add(r)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> int:
    """The layer of a module (see the module docstring)."""
    if module.split(".")[0] in ("proxygrad", "toy_functions"):
        return 0
    for prefix, rank in (("benchmarks.framework", 1), ("benchmarks.domain", 2), ("benchmarks.experiments", 3)):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return 4


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert graph, "no modules found"
    # a sanity check of the parser itself: every experiment package uses the framework
    assert any(layer(t) == 1 for m, ts in graph.items() if layer(m) == 3 for t in ts)


def test_no_import_cycles():
    cycles = _cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_module_imports_a_higher_layer():
    bad = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
           for m, ts in import_graph().items() for t in sorted(ts) if layer(t) > layer(m)]
    assert not bad, "\n".join(bad)


def test_libraries_are_independent():
    graph = import_graph()
    bad = [f"{m} imports {t}" for m, ts in graph.items() for t in ts
           if m.split(".")[0] != t.split(".")[0] and layer(m) == 0]
    assert not bad, "\n".join(bad)


def test_experiments_do_not_import_each_other():
    def experiment(m: str) -> str | None:
        parts = m.split(".")
        return parts[2] if len(parts) > 2 and parts[:2] == ["benchmarks", "experiments"] else None

    bad = [f"{m} imports {t}" for m, ts in import_graph().items() for t in ts
           if experiment(m) and experiment(t) and experiment(m) != experiment(t)]
    assert not bad, "\n".join(bad)
