"""Running a full AM function defined outside the suite, ``am(f, x0, *, steps, lr, seed) -> Tensor``.

The suite owns everything around the plug-in: the starts ``x0`` (the same for every method), the seed,
the step budget and the evaluation. :func:`run` calls ``am(g, x0.clone(), steps=T, lr=lr, seed=seed)``
with the global torch RNG seeded by ``seed`` (and restored afterwards), where ``g`` evaluates the
ORIGINAL ``f`` and counts its calls. Optional keywords, passed only when the function takes them:
``optimizer`` (the name the experiment runs, e.g. ``"adam"``) and ``callback`` (``callback(t, x_t)``
for ``1 <= t <= T``, reporting the plug-in's iterate ``x_t``).

Checks (ValueError naming the spec): the returned tensor has ``x0``'s shape, is floating and finite and
lies in the box ``[lo, hi]`` (exactly, no tolerance), and so does every ``x_t`` reported; ``g`` was
called with gradients at most ``T`` times (the budget every method gets: ``maximize`` uses one
gradient per step).

Result: a ``proxygrad.AMResult`` whose every value is the original ``f``, evaluated by the suite with
gradients off: ``trace[0] = f(x0)``; ``trace[T] = f(x_T)`` at the returned ``x_T``; ``trace[t] = f(x_t)``
at every step the plug-in reported through ``callback``; every other row repeats the row before it
(the value of the latest point known), so a best-so-far curve never shows progress the suite did not
evaluate and a run length read off the trace is an upper bound. ``config["trace"]`` says which:
``"endpoints"`` (only ``t = 0`` and ``T`` known) or ``"callback"``. ``best_*`` are over the known
points (the start included, as in ``maximize``); ``grad_evals`` and ``forward_evals`` count the
plug-in's calls of ``g`` (the suite's own evaluations are not counted).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from benchmarks.framework import plugins

#: ``maximize`` options an AM function run accepts (the others change ``maximize``'s own steps).
OPTIONS: tuple[str, ...] = ("starts", "shape", "bounds", "device", "dtype", "progress")


class CountedObjective:
    """``f`` as the plug-in sees it: ``g(x) = f(x)`` with its calls counted (``grad_calls``: called
    with gradients on for an input that requires them; ``calls``: all)."""

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor], input_shape: tuple[int, ...],
                 bounds: tuple[float, float]) -> None:
        self._f = f
        self.input_shape = tuple(input_shape)
        self.bounds = bounds
        self.calls = 0
        self.grad_calls = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if torch.is_grad_enabled() and isinstance(x, torch.Tensor) and x.requires_grad:
            self.grad_calls += 1
        return self._f(x)


def _reference(f: Any) -> torch.Tensor | None:
    if isinstance(f, torch.nn.Module):
        for t in f.parameters():
            return t
        for t in f.buffers():
            return t
    return None


def starts(f: Any, n: int, shape: tuple[int, ...], seed: int, bounds: tuple[float, float],
           dtype: torch.dtype | None = None, device: Any = None) -> torch.Tensor:
    """The ``n`` starts ``maximize(f, starts=n, shape=shape, seed=seed, bounds=bounds)`` draws: uniform in
    the box from ``torch.Generator('cpu').manual_seed(seed)``, in ``f``'s dtype and on its device."""
    ref = _reference(f)
    dtype = dtype or (ref.dtype if ref is not None else torch.float32)
    device = device or (ref.device if ref is not None else torch.device("cpu"))
    lo, hi = bounds
    g = torch.Generator(device="cpu").manual_seed(seed)
    return (lo + (hi - lo) * torch.rand((n, *shape), generator=g, dtype=dtype)).to(device)


def _check_inputs(x: Any, like: torch.Tensor, lo: float, hi: float, spec: str, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
        raise ValueError(f"AM function {spec!r}: {what} must be a floating tensor, got {type(x).__name__}")
    if tuple(x.shape) != tuple(like.shape):
        raise ValueError(f"AM function {spec!r}: {what} has shape {tuple(x.shape)}, x0 has {tuple(like.shape)}")
    x = x.detach().to(device=like.device, dtype=like.dtype)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"AM function {spec!r}: {what} has non-finite values")
    if bool((x < lo).any()) or bool((x > hi).any()):
        raise ValueError(f"AM function {spec!r}: {what} leaves the box [{lo}, {hi}] "
                         f"(values in [{float(x.min())!r}, {float(x.max())!r}])")
    return x.clone()


def _values(f: Any, x: torch.Tensor, n: int) -> torch.Tensor:
    with torch.no_grad():
        v = f(x)
    v = v.reshape(-1) if isinstance(v, torch.Tensor) and v.dim() == 2 and v.shape[1] == 1 else v
    if not isinstance(v, torch.Tensor) or tuple(v.shape) != (n,):
        raise ValueError(f"f must return [N] values, got {getattr(v, 'shape', v)!r}")
    return v.detach()


def run(am: Callable[..., Any], spec: str, version: str, f: Any, x0: torch.Tensor | None, *, steps: int,
        lr: float, optimizer: Any, seed: int, callback: Callable[..., None] | None = None,
        **options: Any) -> Any:
    """Run the AM function ``am`` (named ``spec``) on ``f`` from ``x0`` and evaluate it (see the module doc).

    ``options``: ``starts`` and ``shape`` (when ``x0`` is None), ``bounds`` (default ``(-1, 1)``),
    ``device``, ``dtype``, ``progress`` (ignored); any other ``maximize`` option is a ValueError.
    ``callback(t, x_t, v_t)`` is called for every known point, as ``maximize`` calls it.
    """
    from proxygrad import AMResult
    from proxygrad.tracking import BestSoFar

    bad = sorted(set(options) - set(OPTIONS))
    if bad:
        raise ValueError(f"AM function {spec!r}: the option(s) {bad} apply to maximize's own steps only")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    lo, hi = (float(b) for b in options.get("bounds", (-1.0, 1.0)))
    if x0 is None:
        if options.get("shape") is None:
            raise ValueError("give x0 or shape")
        x0 = starts(f, int(options.get("starts", 1)), tuple(options["shape"]), seed, (lo, hi),
                    options.get("dtype"), options.get("device"))
        source = "uniform"
    else:
        source = "given"
        x0 = x0.detach().to(device=options.get("device") or x0.device, dtype=options.get("dtype") or x0.dtype)
        x0 = _check_inputs(x0, x0, lo, hi, spec, "x0")
    n, shape = int(x0.shape[0]), tuple(x0.shape[1:])
    g = CountedObjective(f, shape, (lo, hi))
    reported: dict[int, torch.Tensor] = {}

    def report(t: int, x_t: torch.Tensor) -> None:
        if not isinstance(t, int) or isinstance(t, bool) or not 1 <= t <= steps:
            raise ValueError(f"AM function {spec!r}: callback step must be an int in [1, {steps}], got {t!r}")
        reported[t] = _check_inputs(x_t, x0, lo, hi, spec, f"the input reported at step {t}")

    accepted = plugins.am_keywords(am)
    extra: dict[str, Any] = {}
    if "optimizer" in accepted:
        extra["optimizer"] = optimizer
    if "callback" in accepted:
        extra["callback"] = report
    devices = [x0.device] if x0.device.type == "cuda" else []
    start_time = time.perf_counter()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        out = am(g, x0.clone(), steps=steps, lr=float(lr), seed=seed, **extra)
    x_final = _check_inputs(out, x0, lo, hi, spec, "the returned input")
    if x0.device.type == "cuda":
        torch.cuda.synchronize(x0.device)
    seconds = time.perf_counter() - start_time
    if g.grad_calls > steps:
        raise ValueError(f"AM function {spec!r} evaluated f with gradients {g.grad_calls} times; the budget is "
                         f"steps = {steps}")

    known = {0: x0, **{t: x for t, x in reported.items() if t < steps}, steps: x_final}
    values = {t: _values(f, x, n) for t, x in sorted(known.items())}
    best = BestSoFar(steps, n, values[0].dtype, values[0].device, observer=callback)
    last = values[0]
    for t in range(steps + 1):
        if t in values:
            last = values[t]
            best.record(t, last, known[t])
        else:  # no point reported at step t: the trace repeats the last known value
            best.trace[t] = last
    config = {"steps": steps, "lr": float(lr), "optimizer": str(optimizer), "backward_slope": None,
              "proxy": None, "am": spec, "am_version": version, "bounds": [lo, hi], "starts": n,
              "shape": list(shape), "seed": seed, "x0": source,
              "trace": "callback" if reported else "endpoints",
              "dtype": str(x0.dtype).replace("torch.", ""), "device": str(x0.device)}
    return AMResult(best_value=best.best_value, best_input=best.best_input, best_step=best.best_step,
                    value=values[steps].clone(), final_input=x_final, trace=best.trace, grad_evals=g.grad_calls,
                    forward_evals=g.calls, seconds=seconds, config=config)
