"""Plug-ins by import path: a method, model or toy family defined outside the suite, named ``module:attr``.

A *spec* is ``package.module:name`` (``name`` may be dotted, ``Class.attr``); the module must be importable
(installed, or its folder on ``PYTHONPATH``). Anywhere a profile takes a method, a model name or a toy
family name, a spec is accepted too, and resolves to one of these kinds:

- **AM method** (:func:`method`), one of
  - a ``proxygrad.rules.BackwardRule`` (``kind = "rule"``);
  - a schedule: a ``proxygrad.schedules.Schedule`` or a callable ``step -> float | BackwardRule | None``
    (one positional parameter; ``kind = "schedule"``);
  - a full AM function ``am(f, x0, *, steps: int, lr: float, seed: int) -> Tensor`` (``kind = "am"``; it
    may also take ``callback``, see :func:`benchmarks.framework.methods.run_am`).
- **model** (:func:`model_factory`): a factory ``() -> nn.Module`` (the module has ``input_shape``) or
  ``() -> (nn.Module, preprocess | None, input_shape)``; loaded by :mod:`benchmarks.domain.plugin_models`.
- **toy family** (:func:`family_factory`): a factory ``(dim: int, seed: int, **params) -> ToyFunction``;
  a ``ToyFunction`` whose ``stated_optimum`` is NaN is certified by the exact MILP (:func:`build_family`).

Errors: a spec that does not parse, does not import, or resolves to the wrong kind raises
:class:`PluginError` (a ``ConfigError``: exit code 2) naming the spec, while the config is validated,
before anything is written.

Provenance: :func:`version` is the plug-in's package version (installed distribution, else the module's
``__version__``), else ``sha256-<16 hex>`` of the module's source file, so a record names the code it ran.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.framework.config import ConfigError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
SPEC_RE = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*$")
#: Keyword parameters a full AM function must take.
AM_KEYWORDS: tuple[str, ...] = ("steps", "lr", "seed")


class PluginError(ConfigError):
    """A plug-in spec that does not parse, import or resolve to the expected kind (message names the spec)."""


def is_spec(name: Any) -> bool:
    """True when ``name`` has the form ``package.module:name`` (cheap: nothing is imported)."""
    return isinstance(name, str) and SPEC_RE.match(name) is not None


def resolve(spec: str) -> Any:
    """The object ``spec`` names; PluginError naming the spec when it does not parse, import or exist."""
    if not is_spec(spec):
        raise PluginError(f"plug-in {spec!r}: not of the form package.module:name")
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised while the module runs
        raise PluginError(f"plug-in {spec!r}: cannot import module {module_name!r} "
                          f"({type(exc).__name__}: {exc}); is it installed or on PYTHONPATH?") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"plug-in {spec!r}: {module_name!r} has no attribute {attr!r}") from None
    return obj


@functools.lru_cache(maxsize=None)
def version(spec: str) -> str:
    """Provenance of ``spec``'s code: its distribution's version, else the module's (or its top package's)
    ``__version__``, else ``sha256-`` and 16 hex digits of the module's source file, else ``""``."""
    from importlib import metadata

    module_name = spec.partition(":")[0]
    top = module_name.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    for name in (module_name, top):
        v = getattr(importlib.import_module(name), "__version__", None)
        if isinstance(v, str) and v:
            return v
    try:
        source = inspect.getsourcefile(importlib.import_module(module_name))
    except TypeError:
        source = None
    if source and Path(source).is_file():
        return "sha256-" + hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]
    return ""


def _accepts_one_positional(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind(0)
        return True
    except (TypeError, ValueError):
        return False


def am_keywords(fn: Callable[..., Any]) -> set[str]:
    """The parameter names of ``fn`` (empty when it has no signature)."""
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def method(spec: str) -> tuple[str, Any]:
    """``(kind, object)`` of a method plug-in: kind ``"rule"``, ``"schedule"`` or ``"am"`` (see the module
    doc); PluginError naming the spec for anything else."""
    from proxygrad import rules, schedules

    obj = resolve(spec)
    if isinstance(obj, rules.BackwardRule):
        return "rule", obj
    if isinstance(obj, schedules.Schedule):
        return "schedule", obj
    if callable(obj) and not isinstance(obj, type):
        params = am_keywords(obj)
        if set(AM_KEYWORDS) <= params:
            try:
                inspect.signature(obj).bind(None, None, steps=1, lr=1.0, seed=0)
            except TypeError as exc:
                raise PluginError(f"plug-in {spec!r}: an AM function must have the signature "
                                  f"am(f, x0, *, steps, lr, seed), got {inspect.signature(obj)}: {exc}") from None
            return "am", obj
        if _accepts_one_positional(obj):
            try:
                rule = obj(0)
                if rule is not None:
                    rules.as_rule(rule)
            except Exception as exc:
                raise PluginError(f"plug-in {spec!r}: a schedule step -> rule must give a slope, a "
                                  f"BackwardRule or None at step 0, got {type(exc).__name__}: {exc}") from None
            return "schedule", obj
    raise PluginError(f"plug-in {spec!r} resolves to {type(obj).__name__} {obj!r:.80}, not an AM method: expected "
                      f"a proxygrad BackwardRule, a schedule (step -> rule) or am(f, x0, *, steps, lr, seed)")


def model_factory(spec: str) -> Callable[[], Any]:
    """The model factory ``spec`` names (a callable taking no argument); PluginError otherwise."""
    obj = resolve(spec)
    if not callable(obj):
        raise PluginError(f"plug-in {spec!r} resolves to {type(obj).__name__}, not a model factory () -> nn.Module")
    try:
        inspect.signature(obj).bind()
    except TypeError:
        raise PluginError(f"plug-in {spec!r}: a model factory takes no arguments, got "
                          f"{inspect.signature(obj)}") from None
    except ValueError:
        pass
    return obj


def family_factory(spec: str) -> Callable[..., Any]:
    """The toy-family factory ``spec`` names, ``(dim, seed, **params) -> ToyFunction``; PluginError otherwise."""
    obj = resolve(spec)
    if not callable(obj):
        raise PluginError(f"plug-in {spec!r} resolves to {type(obj).__name__}, not a toy-family factory "
                          f"(dim, seed, **params) -> ToyFunction")
    try:
        inspect.signature(obj).bind(2, 0)
    except TypeError:
        raise PluginError(f"plug-in {spec!r}: a toy-family factory is called as factory(dim, seed, **params), "
                          f"got {inspect.signature(obj)}") from None
    except ValueError:
        pass
    return obj


def build_family(spec: str, dim: int, seed: int, params: dict[str, Any], cache_dir: Any = None) -> Any:
    """``factory(dim, seed, **params)`` for the family plug-in ``spec``: a ``toy_functions.ToyFunction``.

    When the factory states no optimum (``stated_optimum`` is NaN) it is certified here, as the suite's
    random families are: ``exact_maximum(f, f.input_shape, bounds=f.bounds, solver=SUITE_SOLVER, cache_dir=cache_dir)`` must
    prove optimality, and its value and argmax become the function's. A stated optimum is checked against
    the network's value at its ``argmax`` (``check_optimum``); every record is then checked against it.
    ValueError naming the spec when the factory fails or returns something else.
    """
    import toy_functions
    from toy_functions.certify.settings import SUITE_SOLVER

    factory = family_factory(spec)
    try:
        f = factory(dim, seed, **params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"plug-in family {spec!r} (dim={dim}, seed={seed}, params={params}): {exc}") from exc
    if not isinstance(f, toy_functions.ToyFunction):
        raise ValueError(f"plug-in family {spec!r} returned a {type(f).__name__}, not a toy_functions.ToyFunction")
    if math.isnan(f.stated_optimum):
        cert = toy_functions.exact_maximum(f, f.input_shape, bounds=f.bounds, solver=SUITE_SOLVER,
                                           cache_dir=None if cache_dir is None else str(cache_dir))
        if str(cert.status) != "optimal":
            raise ValueError(f"plug-in family {spec!r} (dim={dim}, seed={seed}): the certifier did not prove "
                             f"the optimum (status {cert.status!r})")
        f.adopt_certificate(cert)
    else:
        f.check_optimum()
    return f


def default_label(spec: str) -> str:
    """A file-name-safe label for a plug-in family or model: the attribute name after ``:``."""
    return spec.partition(":")[2].replace(".", "_")


def used(config: Any) -> dict[str, str]:
    """Every plug-in spec in a resolved config (as JSON data: strings anywhere in it) -> its :func:`version`,
    in sorted order; for ``meta.json``, so a run names the code of its plug-in families and models too."""
    found: set[str] = set()

    def walk(x: Any) -> None:
        if isinstance(x, str) and is_spec(x):
            found.add(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(config)
    out = {}
    for spec in sorted(found):
        try:
            out[spec] = version(spec)
        except Exception:  # a string of the same form that names no importable module is not a plug-in
            continue
    return out
