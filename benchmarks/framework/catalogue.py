"""What the registered experiments declare about themselves, gathered from their manifests.

An experiment's manifest is the package its protocol module lives in (its ``__init__.py``; a top-level
protocol module is its own manifest, see :func:`benchmarks.framework.registry.manifest`). It is read
without running anything, so the report can list what an experiment sets out to test even when the
experiment did not run. Optional names in a manifest:

- ``CLAIMS: tuple[ClaimDeclaration, ...]``: the claims and findings it sets out to test
  (:class:`benchmarks.framework.claims.ClaimDeclaration`); a claim several experiments test (one of the
  paper's) is declared once, in the domain, and listed by each of them;
- ``UNIT: str``: its unit of replication in words, for the report's glossary (e.g. "a seed of ...").

:func:`gather` makes one :class:`Catalogue` of them; nothing here knows an experiment or a claim by name.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

from benchmarks.framework.claims import ClaimDeclaration

BEYOND = "beyond:"
"""The key prefix of the findings beyond the paper (every other key is one of the paper's claims)."""


def id_order(cid: str) -> tuple[int, int, str]:
    """Sort key of a claim id: the paper's claims (``C``) first, then those beyond it (``B``), then any
    other id; by number."""
    m = re.fullmatch(r"([A-Z])(\d+)", cid)
    if not m:
        return (2, 0, cid)
    return (0 if m.group(1) == "C" else 1, int(m.group(2)), cid)


@dataclass(frozen=True)
class Catalogue:
    """The claims the registered experiments declare, each key once, in id order, with the experiments that
    declare it (in registry order), and each experiment's unit of replication in words (registry order)."""

    declared: tuple[ClaimDeclaration, ...] = ()
    testers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    units: tuple[str, ...] = ()

    @property
    def paper(self) -> tuple[ClaimDeclaration, ...]:
        """The paper's claims (keys without :data:`BEYOND`), in id order."""
        return tuple(d for d in self.declared if not d.key.startswith(BEYOND))

    @property
    def beyond(self) -> tuple[ClaimDeclaration, ...]:
        """The expected findings beyond the paper, in id order."""
        return tuple(d for d in self.declared if d.key.startswith(BEYOND) and d.expected)

    def tested_by(self, key: str) -> tuple[str, ...]:
        """The experiments that declare ``key`` (registry order)."""
        return dict(self.testers).get(key, ())

    def expected(self, key: str) -> tuple[str, str, str, str, tuple[str, ...]] | None:
        """``(declared key, id, title, statement, experiments)`` of the paper claim or expected finding that
        ``key`` is (or is a ``-<variant>`` of), else None.  A variant's title names the variant."""
        for d in (*self.paper, *self.beyond):
            if key == d.key:
                return d.key, d.id, d.title, d.statement, self.tested_by(d.key)
            if d.key.startswith(BEYOND) and key.startswith(d.key + "-"):
                return d.key, d.id, f"{d.title} ({key[len(d.key) + 1:]})", d.statement, self.tested_by(d.key)
        return None

    def title(self, key: str) -> str:
        """The section title of a key that is no expected claim: its declaration's, else the key in words."""
        found = next((d.title for d in self.declared if d.key == key and d.title), None)
        return found or key.removeprefix(BEYOND).replace("-", " ")

    def effects(self) -> str:
        """``"; for <id> <effect>"`` for every declaration whose effect is not the default one, in id order."""
        return "".join(f"; for {d.id} {d.effect}" for d in self.declared if d.effect)


def gather(manifests: Iterable[tuple[str, ModuleType | None]]) -> Catalogue:
    """One :class:`Catalogue` of the experiments' manifests ``(experiment, manifest or None)``, in registry
    order. ValueError naming both experiments when two declare one key differently, or one id for two keys."""
    by_key: dict[str, ClaimDeclaration] = {}
    testers: dict[str, list[str]] = {}
    units = []
    for name, manifest in manifests:
        if manifest is None:
            continue
        unit = getattr(manifest, "UNIT", "")
        if not isinstance(unit, str):
            raise TypeError(f"{name}: UNIT must be a str, got {unit!r}")
        if unit:
            units.append(unit)
        for d in getattr(manifest, "CLAIMS", ()):
            if not isinstance(d, ClaimDeclaration):
                raise TypeError(f"{name}: CLAIMS must hold ClaimDeclarations, got {d!r}")
            if d.key in by_key and by_key[d.key] != d:
                raise ValueError(f"{name} declares claim {d.key!r} other than {testers[d.key][0]} does: "
                                 f"{d} != {by_key[d.key]}")
            same_id = next((k for k, other in by_key.items() if other.id == d.id and k != d.key), None)
            if same_id is not None:
                raise ValueError(f"{name} declares id {d.id} for {d.key!r}; {testers[same_id][0]} uses it for "
                                 f"{same_id!r}")
            by_key.setdefault(d.key, d)
            testers.setdefault(d.key, []).append(name)
    declared = tuple(sorted(by_key.values(), key=lambda d: id_order(d.id)))
    return Catalogue(declared, tuple((k, tuple(v)) for k, v in testers.items()), tuple(units))
