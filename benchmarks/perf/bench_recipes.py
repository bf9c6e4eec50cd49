"""The practitioners' recipes against plain AM on committed suite models, outside the experiments' records.

For each model and each step size ``lr``, every method runs ``--starts`` starts of ``--steps`` Adam steps on
one logit (``--logit``) from the same seeded uniform starts, and the script prints the median over starts of
the best value of the ORIGINAL network (``best_value``: the network's value at the image the method returns,
in the box):

- ``plain``: ``proxygrad.maximize`` with the autograd gradient;
- ``lucent``: :class:`benchmarks.framework.recipe_images.Lucent` with its transform sizes scaled to the image
  (``reference_side = 128``, the default);
- ``lucent-published``: the same with Lucent's published pixel sizes on every image (``reference_side=None``);
- ``horama``: :class:`benchmarks.framework.recipe_images.Horama` with its crop geometry kept relative to the
  network's input (horama's fractions times 1280 / 224, the default);
- ``horama-published``: the same with horama's crop fractions taken as fractions of the suite's image
  (``image_size = model_input_size``).

    .venv/bin/python -m benchmarks.perf.bench_recipes --model fmnist-tiny8 --model fmnist-vgg-relu

The step sizes are not tuned (the experiments tune them; this is a screening of the recipes' image-size
adapters, not a comparison). The numbers repeat for a seed on one machine and torch build.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
from torch import Tensor

import proxygrad
from proxygrad import objectives
from benchmarks.domain import zoo
from benchmarks.framework import recipes

METHODS: dict[str, Callable[[], object] | None] = {
    "plain": None,
    "lucent": lambda: recipes.Lucent(),
    "lucent-published": lambda: recipes.Lucent(reference_side=None),
    "horama": lambda: recipes.Horama(),
    "horama-published": lambda: recipes.Horama(image_size=224),
}


def logit_objective(name: str, logit: int) -> tuple[Callable[[Tensor], Tensor], tuple[int, ...]]:
    """``f(x) = model(preprocess(x))[:, logit]`` of the committed suite model ``name`` (``objectives.logit``),
    and its input shape."""
    loaded = zoo.load(name)
    return objectives.logit(loaded.model.eval(), logit, preprocess=loaded.preprocess), tuple(loaded.input_shape)


def median_best(method: str, f: Callable[[Tensor], Tensor], shape: tuple[int, ...], *, starts: int, steps: int,
                lr: float, seed: int) -> float:
    """The median over starts of the original network's best value that ``method`` attains."""
    make = METHODS[method]
    if make is None:
        result = proxygrad.maximize(f, shape=shape, starts=starts, steps=steps, lr=lr, optimizer="adam", seed=seed)
    else:
        result = recipes.run(make(), f, shape=shape, starts=starts, steps=steps, lr=lr, seed=seed)
    return float(result.best_value.median())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.bench_recipes", description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", help="committed suite model (repeatable; default fmnist-tiny8)")
    p.add_argument("--logit", type=int, default=3)
    p.add_argument("--lr", type=float, action="append", help="Adam step size (repeatable; default 0.05 and 0.2)")
    p.add_argument("--starts", type=int, default=3)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    models = a.model or ["fmnist-tiny8"]
    lrs = a.lr or [0.05, 0.2]
    for name in models:
        if name not in zoo.SUITE:
            p.error(f"--model {name!r} is not a suite model; known: {', '.join(zoo.SUITE)}")
    for what, value, low in (("--starts", a.starts, 1), ("--steps", a.steps, 1), ("--seed", a.seed, 0),
                             ("--logit", a.logit, 0)):
        if value < low:
            p.error(f"{what} must be >= {low}, got {value}")
    for lr in lrs:
        if not lr > 0:
            p.error(f"--lr must be > 0, got {lr}")
    torch.set_num_threads(1)
    print("| model | lr | " + " | ".join(METHODS) + " |")
    print("|---|---|" + "---|" * len(METHODS))
    for name in models:
        f, shape = logit_objective(name, a.logit)
        for lr in lrs:
            cells = [median_best(m, f, shape, starts=a.starts, steps=a.steps, lr=lr, seed=a.seed) for m in METHODS]
            print(f"| {name} | {lr:g} | " + " | ".join(f"{v:.2f}" for v in cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
