"""Ideal-formulation cuts (`cuts`) separated by SCIP at every node of its tree.

At a node, the inputs of a unit have local bounds (the global ones, tightened by branching and by
SCIP's bound propagation: a fixed phase d_i = 0 of a ReLU input makes its y_i <= u_i d_i = 0). The
inequalities (*) of `cuts` hold with any valid bounds, so with the local bounds they hold in the
node's subtree: such a cut is added as a local row (as a global one when no bound is local). This
is the bound tightening inside the tree that a big-M formulation lacks: the cut follows the
node's bounds. Separation is linear in the fan-in per unit (`cuts.most_violated`), deterministic
(no clock); a variable that presolve fixed enters the right side as its constant, and a unit with
a variable that presolve aggregated away is skipped (no cut, never a wrong one).
"""

from __future__ import annotations

import numpy as np
import pyscipopt

from .cuts import UnitRows, most_violated

SEPA_PRIORITY = 100000


class IdealCuts(pyscipopt.Sepa):
    """SCIP separator of the cuts (*) for `units` (`Formulation.units`); `xs`: the original SCIP
    variables, in formulation order."""

    def __init__(self, units: list[UnitRows], xs: list) -> None:
        self.units = units
        self.xs = xs
        self.tvars: list = []
        self.n_added = 0

    def sepainitsol(self) -> None:
        self.tvars = [self.model.getTransformedVar(v) for v in self.xs]

    def sepaexeclp(self) -> dict:
        m = self.model
        found = False
        for unit in self.units:
            idx = np.concatenate([unit.inputs, [unit.y, unit.d]])
            tv = [self.tvars[i] for i in idx]
            status = [v.getStatus() for v in tv]
            if any(st not in ("COLUMN", "LOOSE", "FIXED") for st in status):
                continue
            val = np.array([m.getSolVal(None, v) for v in tv])
            n = len(unit.inputs)
            lo_loc = np.array([v.getLbLocal() for v in tv[:n]])
            hi_loc = np.array([v.getUbLocal() for v in tv[:n]])
            lo_loc, hi_loc = np.maximum(lo_loc, unit.lo), np.minimum(hi_loc, unit.hi)
            local = bool(np.any(lo_loc > unit.lo) or np.any(hi_loc < unit.hi))
            here = UnitRows(inputs=np.arange(n), w=unit.w, lo=lo_loc, hi=hi_loc, b=unit.b,
                            s=unit.s, y=n, d=n + 1)
            got = most_violated(here, val)
            if got is None:
                continue
            cidx, coef, rhs = got[1]
            terms, const = [], 0.0
            for k, a in zip(cidx, coef):
                var = tv[int(k)]
                if status[int(k)] == "FIXED":
                    const += a * var.getLbGlobal()
                elif a != 0.0:
                    terms.append((var, float(a)))
            row = m.createEmptyRowSepa(self, "ideal", lhs=None, rhs=float(rhs - const),
                                       local=local, removable=True)
            m.cacheRowExtensions(row)
            for var, a in terms:
                m.addVarToRow(row, var, a)
            m.flushRowExtensions(row)
            m.addCut(row, forcecut=False)
            m.releaseRow(row)
            self.n_added += 1
            found = True
        return {"result": pyscipopt.SCIP_RESULT.SEPARATED if found
                else pyscipopt.SCIP_RESULT.DIDNOTFIND}


def install(model, units: list[UnitRows], xs: list, *, freq: int = 1) -> IdealCuts:
    """Include the separator in `model` (before optimize); the involved variables are marked
    not to be aggregated by presolve, so that cuts can be stated on them."""
    for unit in units:
        for i in np.concatenate([unit.inputs, [unit.y, unit.d]]):
            model.markDoNotAggrVar(xs[int(i)])
            model.markDoNotMultaggrVar(xs[int(i)])
    sepa = IdealCuts(units, xs)
    model.includeSepa(sepa, "idealrelu", "ideal-formulation cuts of rectifier units",
                      priority=SEPA_PRIORITY, freq=freq, maxbounddist=1.0)
    return sepa
