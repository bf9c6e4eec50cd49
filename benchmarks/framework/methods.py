"""The AM methods compared by the experiments: a method is a value, parsed once from its name.

A :class:`Method` is a frozen value ``(kind, slope)``; its :attr:`~Method.label` is an output (records,
tables, figures) and is never parsed back: code that needs the kind or the slope reads the fields, and
records carry them as the columns ``method``, ``method_kind`` and ``method_slope``. :func:`parse` is the
only place that reads a name. For a network whose rectifiers have forward (negative-side) slope ``a``
(0 for ReLU, 0.01 for the paper's Leaky ReLU), :meth:`Method.maximize_kwargs` gives the arguments of
``proxygrad.maximize``:

- ``plain``: the autograd gradient, ``backward_slope=None``.
- ``proxy-<s>``: ProxyGrad, every rectifier passes factor ``s`` on its negative side in the backward
  pass only (``rules.slope(s)``, forward unchanged). ``straight-through`` is an alias of ``proxy-1.0``
  (factor 1: LinBP), and its label is ``proxy-1.0``.
- ``network-<s>``: the proxy network, rectifiers become LeakyReLU(s) in both passes (``proxy="network"``).
- ``anneal`` / ``anneal-<s>``: slope going linearly from ``s`` (default 1.0) to ``a`` over the first
  half of the steps, then plain (``schedules.linear_anneal(s, end=a, fraction=0.5)``).
- ``redirected``: Lucid's redirected ReLU for the first ``min(16, steps)`` steps, then plain.
- ``switch-<s>``: ProxyGrad with factor ``s`` for the first ``ceil(steps / 4)`` steps, then plain
  (``schedules.first_steps(rules.slope(s), steps=ceil(steps * SWITCH_FRACTION))``): the proxy's reach
  early, the true gradient late.
- ``bsilu``, ``nelu``: the SUGAR surrogate derivatives on the negative side (default parameters).
- ``lucent``, ``horama``: the practitioners' recipes (:mod:`benchmarks.framework.recipes`): Lucent's
  decorrelated Fourier parametrization with a sigmoid and its standard transforms, and horama's Fourier
  recipe, each with its own autograd gradient; ``lucent-proxy-<s>``, ``horama-proxy-<s>``: the same recipe
  with ProxyGrad's backward (``rules.slope(s)``) in its gradient forward. They run through :func:`run_am`
  (not ``maximize``), at the same ``steps``, ``lr``, ``optimizer`` and seed, and every value is the
  original network's at the recipe's image mapped into the box.

Every experiment runs a method through :func:`run_am`, the one call site of ``proxygrad.maximize``.

Slopes are finite and ``>= 0``. A new backward rule is one constructor in ``proxygrad/rules.py`` (a rule
with its factor function, see there) and one entry of :data:`KINDS` here, whose traits (``trainable``,
``peer``, ``claim``) say where the experiments may use it: an experiment reads the traits, never a list of
kind names of its own.

Plug-ins: a name of the form ``package.module:name`` is a method defined outside the suite
(:mod:`benchmarks.framework.plugins`), parsed to a :class:`PluginMethod` whose kind is ``plugin-rule`` (a
``BackwardRule``), ``plugin-schedule`` (a schedule ``step -> rule``) or ``plugin-am`` (a full AM function
``am(f, x0, *, steps, lr, seed) -> Tensor``). Its label is the spec; its record columns add
``method_version`` (the plug-in's version, see :func:`benchmarks.framework.plugins.version`), which the
runner puts after the common header in every row of a run that lists a plug-in method (empty for the
built-in ones). :func:`run_am` runs all three kinds.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxygrad import rules as _rules
from proxygrad.rules import check_slope

#: Steps of the redirected-ReLU phase (Lucid uses it during the first steps only).
REDIRECTED_STEPS = 16
#: Default start slope and fraction of the ``anneal`` method.
ANNEAL_START = 1.0
ANNEAL_FRACTION = 0.5
#: Fraction of the steps that the ``switch`` method spends on the proxy before it turns plain.
SWITCH_FRACTION = 0.25


def _plain(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
    return {"backward_slope": None, "proxy": "mixed"}


def _network(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
    return {"backward_slope": slope, "proxy": "network"}


def _anneal(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import schedules

    start = ANNEAL_START if slope is None else slope
    return {"backward_slope": schedules.linear_anneal(start, end=forward_slope, fraction=ANNEAL_FRACTION),
            "proxy": "mixed"}


def _redirected(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules, schedules

    return {"backward_slope": schedules.first_steps(rules.redirected(), steps=min(REDIRECTED_STEPS, steps)),
            "proxy": "mixed"}


def _switch(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
    from proxygrad import rules, schedules

    return {"backward_slope": schedules.first_steps(rules.slope(slope), steps=math.ceil(steps * SWITCH_FRACTION)),
            "proxy": "mixed"}


def _recipe(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
    raise ValueError("a recipe method does not run through maximize: run it with methods.run_am")


def rule(constructor: Callable[..., Any]) -> Callable[[float | None, float, int], dict[str, Any]]:
    """The ``maximize`` arguments of a kind that is one backward rule for every step: ProxyGrad's mixed
    gradient with ``constructor()`` (``constructor(slope)`` for a method with a slope) on every rectifier."""

    def kwargs(slope: float | None, forward_slope: float, steps: int) -> dict[str, Any]:
        return {"backward_slope": constructor() if slope is None else constructor(slope), "proxy": "mixed"}

    return kwargs


@dataclass(frozen=True)
class Kind:
    """One method kind: whether it takes a slope (``"required"``, ``"optional"`` or ``"none"``), how it
    becomes ``maximize`` arguments ``(slope, forward_slope, steps) -> kwargs``, and its traits, which the
    experiments read instead of lists of kind names:

    - ``trainable``: one backward rule for the whole run, so a network can be trained with it (training);
    - ``peer``: another research group's backward rule, compared with plain AM as a peer of ProxyGrad;
    - ``claim``: may be a profile's declared ``claim_method`` (with a slope strictly between 0 and 1).
    """

    slope: str
    kwargs: Callable[[float | None, float, int], dict[str, Any]]
    trainable: bool = False
    peer: bool = False
    claim: bool = False


KINDS: dict[str, Kind] = {
    "plain": Kind("none", _plain, trainable=True),
    "proxy": Kind("required", rule(_rules.slope), trainable=True, claim=True),
    "network": Kind("required", _network),
    "anneal": Kind("optional", _anneal),
    "redirected": Kind("none", _redirected, peer=True),
    "switch": Kind("required", _switch),
    "bsilu": Kind("none", rule(_rules.bsilu), trainable=True, peer=True),
    "nelu": Kind("none", rule(_rules.nelu), trainable=True, peer=True),
    "lucent": Kind("none", _recipe),
    "lucent-proxy": Kind("required", _recipe),
    "horama": Kind("none", _recipe),
    "horama-proxy": Kind("required", _recipe),
}
"""Method kind -> its definition and traits (the one place a kind is declared).  A new backward rule is
one constructor in ``proxygrad/rules.py`` and one entry here, e.g.
``"constant": Kind("none", rule(rules.constant), trainable=True, peer=True)``."""


def kinds_with(trait: str) -> tuple[str, ...]:
    """The kinds whose :class:`Kind` has ``trait`` (``"trainable"``, ``"peer"`` or ``"claim"``), in table order."""
    if trait not in ("trainable", "peer", "claim"):
        raise ValueError(f"unknown kind trait {trait!r}; known: trainable, peer, claim")
    return tuple(k for k, v in KINDS.items() if getattr(v, trait))


def has_trait(kind: str, trait: str) -> bool:
    """True when ``kind`` is a built-in kind with ``trait`` (False for plug-in, baseline and derived kinds)."""
    return kind in kinds_with(trait)

ALIASES: dict[str, str] = {"straight-through": "proxy-1.0"}
"""Other names of a method: parsed to the value of the name they stand for."""

RECIPE_KINDS: dict[str, str] = {"lucent": "lucent", "lucent-proxy": "lucent", "horama": "horama",
                                "horama-proxy": "horama"}
"""Method kind -> the recipe it runs (:data:`benchmarks.framework.recipes.RECIPES`); ``*-proxy`` kinds run
it with ProxyGrad's backward at the method's slope."""


@dataclass(frozen=True)
class Method:
    """An AM method as a value: ``kind`` (a key of :data:`KINDS`) and ``slope`` (None for kinds without one)."""

    kind: str
    slope: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown method kind {self.kind!r}; known: {sorted(KINDS)}")
        need = KINDS[self.kind].slope
        if self.slope is None and need == "required":
            raise ValueError(f"method kind {self.kind!r} needs a slope")
        if self.slope is not None:
            if need == "none":
                raise ValueError(f"method kind {self.kind!r} takes no slope, got {self.slope!r}")
            object.__setattr__(self, "slope", check_slope(self.slope, f"method {self.kind!r}: slope"))

    @property
    def label(self) -> str:
        """The method's name in records and tables: ``kind`` or ``kind-<slope>`` (an output, never parsed)."""
        return self.kind if self.slope is None else f"{self.kind}-{self.slope!r}"

    @property
    def is_plain(self) -> bool:
        """True for the reference every other method is compared against."""
        return self.kind == "plain"

    def columns(self) -> dict[str, Any]:
        """The record columns of this method: ``method`` (label), ``method_kind``, ``method_slope``."""
        return {"method": self.label, "method_kind": self.kind, "method_slope": self.slope}

    @property
    def recipe(self) -> Any:
        """The practitioners' recipe this method runs (``benchmarks.framework.recipes``), else None."""
        if self.kind not in RECIPE_KINDS:
            return None
        from benchmarks.framework import recipes

        return recipes.RECIPES[RECIPE_KINDS[self.kind]]

    def constant_backward_slope(self, forward_slope: float) -> float:
        """The constant negative-side backward factor: ``slope`` for ``proxy``, the forward slope for
        ``plain``, NaN for every other kind (their factor is not one constant)."""
        if self.kind == "proxy":
            return float(self.slope)  # type: ignore[arg-type]
        return float(forward_slope) if self.is_plain else math.nan

    def maximize_kwargs(self, forward_slope: float, steps: int) -> dict[str, Any]:
        """The ``maximize`` arguments ``{"backward_slope": ..., "proxy": ...}`` of this method.

        ``forward_slope`` is the network's negative-side slope ``a`` (plain AM back-propagates ``a``);
        ``steps`` is the AM step budget (bounds the redirected phase).
        """
        forward_slope = check_slope(forward_slope, "forward_slope")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        return KINDS[self.kind].kwargs(self.slope, forward_slope, steps)


PLUGIN_KINDS: tuple[str, ...] = ("plugin-rule", "plugin-schedule", "plugin-am")
"""Kinds of methods defined outside the suite (see :mod:`benchmarks.framework.plugins`)."""


@dataclass(frozen=True)
class PluginMethod(Method):
    """A method defined outside the suite: ``kind`` in :data:`PLUGIN_KINDS`, its ``spec``
    (``package.module:name``) and the plug-in's ``version``. Made by :func:`parse` from a spec."""

    spec: str = ""
    version: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PLUGIN_KINDS:
            raise ValueError(f"unknown plug-in method kind {self.kind!r}; known: {list(PLUGIN_KINDS)}")
        if self.slope is not None:
            raise ValueError(f"plug-in method {self.spec!r} takes no slope, got {self.slope!r}")

    @property
    def label(self) -> str:
        """The spec (an output, never parsed back)."""
        return self.spec

    @property
    def is_plain(self) -> bool:
        return False

    @property
    def target(self) -> Any:
        """The object the spec names (a rule, a schedule or an AM function)."""
        from benchmarks.framework import plugins

        return plugins.method(self.spec)[1]

    def columns(self) -> dict[str, Any]:
        """``method`` (the spec), ``method_kind``, ``method_slope`` (empty) and ``method_version``."""
        return {"method": self.label, "method_kind": self.kind, "method_slope": None,
                "method_version": self.version}

    def constant_backward_slope(self, forward_slope: float) -> float:
        """NaN: the suite does not read a constant factor out of a plug-in."""
        return math.nan

    def maximize_kwargs(self, forward_slope: float, steps: int) -> dict[str, Any]:
        """``{"backward_slope": <the rule or schedule>, "proxy": "mixed"}``; ValueError for a full AM
        function, which does not run through ``maximize`` (use :func:`run_am`)."""
        if self.kind == "plugin-am":
            raise ValueError(f"method {self.spec!r} is a full AM function: run it with methods.run_am")
        Method.maximize_kwargs(Method("plain"), forward_slope, steps)  # the same argument checks
        return {"backward_slope": self.target, "proxy": "mixed"}


def has_plugins(methods: Any) -> bool:
    """True when the sequence ``methods`` holds a :class:`PluginMethod` (its records carry ``method_version``)."""
    return any(isinstance(m, PluginMethod) for m in (methods or ()))


def parse(name: str) -> Method:
    """The method named ``name`` (``kind``, ``kind-<slope>``, an alias or a plug-in spec
    ``package.module:name``); ValueError naming it otherwise (a ``PluginError`` for a bad plug-in)."""
    if isinstance(name, Method):
        return name
    if not isinstance(name, str):
        raise ValueError(f"method name must be a string, got {name!r}")
    from benchmarks.framework import plugins

    if plugins.is_spec(name):
        kind, _ = plugins.method(name)
        return PluginMethod(f"plugin-{kind}", None, spec=name, version=plugins.version(name))
    name = ALIASES.get(name, name)
    if name in KINDS:
        if KINDS[name].slope == "required":
            raise ValueError(f"method {name!r} needs a slope: {name}-<slope>")
        return Method(name)
    kind, sep, number = name.partition("-")
    for longer in sorted((k for k in KINDS if "-" in k), key=len, reverse=True):  # kinds such as lucent-proxy
        if name.startswith(longer + "-"):
            kind, sep, number = longer, "-", name[len(longer) + 1:]
            break
    if not sep or kind not in KINDS or KINDS[kind].slope == "none":
        raise ValueError(f"unknown method {name!r}; known: "
                         f"{sorted(k for k, v in KINDS.items() if v.slope != 'required') + sorted(ALIASES)} or "
                         f"{[k + '-<slope>' for k, v in sorted(KINDS.items()) if v.slope != 'none']}")
    try:
        slope = float(number)
    except ValueError:
        raise ValueError(f"method {name!r}: {number!r} is not a number") from None
    check_slope(slope, f"method {name!r}: slope")
    return Method(kind, slope)


def claim_method(label: str, methods: Any) -> str:
    """The declared claim method of a profile (``claim_method = "proxy-<s>"``): one of ``methods``, of a kind
    with the ``claim`` trait (``proxy``) and ``0 < s < 1`` (slope 1 is straight-through, a peer with its own
    line); "" when none is declared (the claim is then not tested). ValueError naming the value otherwise."""
    if not label:
        return ""
    m = parse(label)
    if m not in tuple(methods):
        raise ValueError(f"claim_method {label!r} is not one of the profile's methods")
    if not has_trait(getattr(m, "kind", ""), "claim") or m.slope is None or not 0.0 < float(m.slope) < 1.0:
        raise ValueError(f"claim_method must be a <kind>-<s> method with 0 < s < 1 of a claim kind "
                         f"({', '.join(kinds_with('claim'))}), got {label!r}")
    return m.label


def parse_all(names: list[str], key: str = "methods") -> tuple[Method, ...]:
    """Parse a config's method list; ValueError naming ``key`` on a bad or repeated method (aliases included)."""
    out: list[Method] = []
    for n in names:
        try:
            m = parse(n)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if m in out:
            raise ValueError(f"{key}: {n!r} repeats the method {m.label!r}")
        out.append(m)
    return tuple(out)


def run_am(method: Method, f: Any, x0: Any, *, steps: int, lr: float, optimizer: Any, seed: int,
           forward_slope: float, callback: Callable[..., None] | None = None, **maximize_options: Any) -> Any:
    """Run AM with ``method`` on ``f`` from the starts ``x0`` (``[N, *shape]`` in the box; ``None``: ``starts``
    points of ``shape`` drawn as ``maximize`` draws them); the ``proxygrad.AMResult``, whose ``trace`` holds
    the ORIGINAL ``f`` at every step ``t = 0..T``.

    This is the one place where an experiment's method becomes a ``maximize`` call: every experiment runs
    every method through it, at the same ``steps``, ``lr``, ``optimizer``, ``seed`` and starts. Built-in
    methods, plug-in rules and plug-in schedules run through ``proxygrad.maximize``; a plug-in AM function
    runs through :func:`benchmarks.framework.am_function.run` (same result type, see there for its trace);
    a recipe method through :func:`benchmarks.framework.recipes.run` (same result type; ``config["adapter"]``
    says how its image space is mapped into the box).
    """
    if isinstance(method, PluginMethod) and method.kind == "plugin-am":
        from benchmarks.framework import am_function

        return am_function.run(method.target, method.spec, method.version, f, x0, steps=steps, lr=lr,
                               optimizer=optimizer, seed=seed, callback=callback, **maximize_options)
    recipe = getattr(method, "recipe", None)
    if recipe is not None:
        from benchmarks.framework import recipes
        from proxygrad import rules

        check_slope(forward_slope, "forward_slope")
        return recipes.run(recipe, f, x0, steps=steps, lr=lr, optimizer=optimizer, seed=seed,
                           backward_slope=None if method.slope is None else rules.slope(method.slope),
                           callback=callback, **maximize_options)
    from proxygrad import maximize

    kw = method.maximize_kwargs(forward_slope, steps)
    return maximize(f, x0, steps=steps, lr=lr, optimizer=optimizer, seed=seed, callback=callback,
                    **kw, **maximize_options)
