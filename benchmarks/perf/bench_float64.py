"""Does a float64 forward/backward make training and AM repeat bit for bit across CPU instruction sets, and
what does it cost? (issue 32, item 3)

    .venv/bin/python -m benchmarks.perf.bench_float64 [--train-steps 30] [--am-steps 256] [--repeats 3]
        [--kind avx2 --kind sse41] [--data DIR | --synthetic] [--out DIR]

Each kernel set runs in a fresh child process, on one torch thread: ``native`` (no cap) and every
perturbation of :mod:`benchmarks.framework.perturbation` that lies below this CPU's capability (the same
environment caps that ``python -m benchmarks perturb`` gives its runs: the kernels of another CPU, same
library build).  In each, for dtype float32 and float64 (model and inputs cast; the float32 weights and
inputs are exact in float64):

- **training:** ``small_cnn`` trained by :func:`benchmarks.domain.training.train` (the training experiment's
  step: SGD, momentum 0.9, weight decay 5e-4) for ``--train-steps`` steps of batch 128 at a constant lr 0.05
  on the first Fashion-MNIST training images (the suite's ``synthetic`` images where Fashion-MNIST is not
  installed), from the same seeded initial weights in every kernel set (made once, natively: see
  :func:`training_setup` for why).  Recorded: sha256 of the final parameters' bytes, the final loss, and
  against native the largest ``max |w - w_native| / max |w_native|`` over the parameter tensors.
- **AM:** plain AM (``proxygrad.maximize``, Adam, lr 0.05, 2 starts, seed 0, ``--am-steps`` steps) on
  committed zoo models (:data:`AM_UNITS`: a logit of ``fmnist-tiny8``, a channel of ``fmnist-vgg-relu``).
  Recorded: ``f_best`` per start, sha256 of the best images' bytes, and against native the largest relative
  difference ``|a - b| / max(|a|, |b|)`` of ``f_best`` and the largest absolute difference of the images
  (the box is [-1, 1]).

Seconds per step: the median over ``--repeats`` repetitions after an untimed warm-up (dtypes alternating
within each repetition); a training repetition's time includes one evaluation batch.  Each repetition also checks that the child
repeats itself bit for bit.  Timings depend on the machine and its load (the load average is recorded).
Output: a markdown table (printed, and ``DIR/float64.md``) and every figure in ``DIR/float64.json``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
#: AM objectives: (suite model, layer or None for a logit, channel or logit index).
AM_UNITS: tuple[tuple[str, str | None, int], ...] = (("fmnist-tiny8", None, 3), ("fmnist-vgg-relu", "8", 5))
TRAIN = {"arch": "small_cnn", "batch_size": 128, "lr": 0.05, "seed": 0}
AM = {"starts": 2, "lr": 0.05, "optimizer": "adam", "seed": 0}


def digest(tensors: Sequence[torch.Tensor]) -> str:
    """sha256 of the tensors' bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def training_dataset(data_dir: str | Path | None = None) -> str:
    """``fashion-mnist`` where it is found (in ``data_dir`` or where the suite looks), else ``synthetic``."""
    from benchmarks.domain import data

    return "fashion-mnist" if data.find_fashion_mnist(data_dir) is not None else "synthetic"


def training_setup(steps: int, batch_size: int = TRAIN["batch_size"], seed: int = TRAIN["seed"],
                   dataset: str | None = None, data_dir: str | Path | None = None) -> dict[str, Any]:
    """What every kernel set trains from, made once (natively, by the parent): ``small_cnn``'s seeded initial
    weights (float32 ``state``) and the first ``steps * batch_size`` training images ``x`` and labels ``y`` of
    ``dataset`` (default :func:`training_dataset`; looked up in ``data_dir``; repeated where it has fewer).  Made once because ATen's
    samplers (``uniform_``, ``normal_``, hence ``nn.init``) draw other numbers (1 ulp apart) on a CPU without
    AVX2, in float32 and float64 alike: a seeded initialization there differs before any forward pass
    (:func:`child` records it as ``init_hash``)."""
    from benchmarks.domain import data
    from benchmarks.domain.models import build_seeded

    dataset = dataset or training_dataset(data_dir)
    n = steps * batch_size
    x, y = data.load(dataset, "train", data_dir, limit=n).tensors
    reps = -(-n // len(x))
    return {"state": build_seeded(seed, TRAIN["arch"]).state_dict(), "x": x.repeat(reps, 1, 1, 1)[:n],
            "y": y.repeat(reps)[:n], "dataset": dataset}


def train_once(dtype: torch.dtype, setup: dict[str, Any]) -> tuple[list[torch.Tensor], float, float]:
    """Train ``small_cnn`` from ``setup`` (:func:`training_setup`) in ``dtype``, one epoch over its batches;
    (final parameters, final epoch loss, seconds)."""
    from torch.utils.data import TensorDataset

    from benchmarks.domain.models import build
    from benchmarks.domain.training import train

    b = TRAIN["batch_size"]
    x, y = setup["x"].to(dtype), setup["y"]
    model = build(TRAIN["arch"])
    model.load_state_dict(setup["state"])
    model = model.to(dtype)
    start = time.perf_counter()
    rows = train(model, TensorDataset(x, y), TensorDataset(x[:b], y[:b]), epochs=1, lr=TRAIN["lr"],
                 batch_size=b, seed=TRAIN["seed"], lr_schedule="constant")
    seconds = time.perf_counter() - start
    return [p.detach().clone() for p in model.parameters()], float(rows[-1]["train_loss"]), seconds


def am_once(dtype: torch.dtype, name: str, layer: str | None, index: int, steps: int
            ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Plain AM on one unit of suite model ``name`` in ``dtype``; (f_best per start, best images, seconds)."""
    from benchmarks.domain import zoo
    from proxygrad import objectives
    from proxygrad.engine import maximize

    zm = zoo.load(name)
    model = zm.model.to(dtype)
    f = objectives.logit(model, index) if layer is None else objectives.channel(model, layer, index)
    start = time.perf_counter()
    res = maximize(f, shape=zm.input_shape, steps=steps, backward_slope=None, dtype=dtype, **AM)
    seconds = time.perf_counter() - start
    return res.best_value.detach().clone(), res.best_input.detach().clone(), seconds


def unit_label(name: str, layer: str | None, index: int) -> str:
    return f"{name} {'logit' if layer is None else 'layer ' + layer + ' channel'} {index}"


def child(train_steps: int, am_steps: int, repeats: int, out: Path) -> dict[str, Any]:
    """Everything one kernel set measures, in this process, from ``out/../setup.pt``: per dtype the training and
    AM results (tensors saved to ``out/<dtype>.pt`` for the comparison), seconds per step per repetition, and
    whether the repetitions agreed bit for bit; ``init_hash``: the hash of ``small_cnn``'s seeded initialization
    made here (not used: training starts from the setup's)."""
    from benchmarks.domain.models import build_seeded

    torch.set_num_threads(1)
    setup = torch.load(out.parent / "setup.pt")
    if len(setup["x"]) != train_steps * TRAIN["batch_size"]:
        raise ValueError(f"setup has {len(setup['x'])} inputs, not {train_steps} x {TRAIN['batch_size']}")
    summary: dict[str, Any] = {"capability": torch.backends.cpu.get_cpu_capability(), "dtypes": {},
                               "init_hash": digest(list(build_seeded(TRAIN["seed"], TRAIN["arch"]).parameters()))}
    for dname, dtype in DTYPES.items():  # warm-up (allocator, kernel selection), untimed
        train_once(dtype, {**setup, "x": setup["x"][:2 * TRAIN["batch_size"]], "y": setup["y"][:2 * TRAIN["batch_size"]]})
        for unit in AM_UNITS:
            am_once(dtype, *unit, 2)
    saved: dict[str, dict[str, Any]] = {d: {} for d in DTYPES}
    times: dict[str, dict[str, list[float]]] = {d: {"training": [], "am": []} for d in DTYPES}
    hashes: dict[str, dict[str, set[str]]] = {d: {"training": set(), "am": set()} for d in DTYPES}
    for _ in range(repeats):
        for dname, dtype in DTYPES.items():
            params, loss, seconds = train_once(dtype, setup)
            times[dname]["training"].append(seconds / train_steps)
            hashes[dname]["training"].add(digest(params))
            saved[dname]["training"] = {"params": params, "loss": loss}
            am_seconds, images = 0.0, []
            for unit in AM_UNITS:
                f_best, x_best, seconds = am_once(dtype, *unit, am_steps)
                am_seconds += seconds
                images.append(x_best)
                saved[dname][unit_label(*unit)] = {"f_best": f_best, "x_best": x_best}
            times[dname]["am"].append(am_seconds / (am_steps * len(AM_UNITS)))
            hashes[dname]["am"].add(digest(images))
    for dname in DTYPES:
        torch.save(saved[dname], out / f"{dname}.pt")
        summary["dtypes"][dname] = {
            task: {"hash": sorted(hashes[dname][task])[0], "repeats_identical": len(hashes[dname][task]) == 1,
                   "seconds_per_step": times[dname][task]}
            for task in ("training", "am")}
        summary["dtypes"][dname]["training"]["final_loss"] = saved[dname]["training"]["loss"]
        summary["dtypes"][dname]["am"]["f_best"] = {u: saved[dname][u]["f_best"].tolist()
                                                   for u in (unit_label(*a) for a in AM_UNITS)}
    return summary


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest ``|a - b| / max(|a|, |b|)`` (0 where both are 0), as :mod:`benchmarks.framework.spread` measures."""
    a, b = a.double(), b.double()
    scale = torch.maximum(a.abs(), b.abs())
    return float(torch.where(scale > 0, (a - b).abs() / scale.clamp_min(1e-300), torch.zeros_like(a)).max())


def differences(ref: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """Against the native results of one dtype: the training parameters' largest scale-relative difference and
    the final loss's relative difference; AM's largest relative ``f_best`` difference and largest absolute image
    difference."""
    params = max(float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-300))
                 for a, b in zip(other["training"]["params"], ref["training"]["params"]))
    units = [k for k in ref if k != "training"]
    return {"training_params_rel": params,
            "training_loss_rel": _rel(torch.tensor(other["training"]["loss"], dtype=torch.float64),
                                      torch.tensor(ref["training"]["loss"], dtype=torch.float64)),
            "am_f_best_rel": max(_rel(other[u]["f_best"], ref[u]["f_best"]) for u in units),
            "am_image_abs": max(float((other[u]["x_best"].double() - ref[u]["x_best"].double()).abs().max())
                                for u in units)}


def run_kind(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Run :func:`child` in a fresh process under kernel set ``kind`` (``native``: no cap), as ``perturb`` runs
    its runs (:func:`benchmarks.framework.perturbation.environment`); its summary."""
    from benchmarks.framework import perturbation
    from benchmarks.framework.meta import REPO_ROOT

    out = tmp / kind
    out.mkdir()
    env = perturbation.environment(None if kind == "native" else perturbation.KINDS[kind])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "benchmarks.perf.bench_float64", "--child", str(out), "--train-steps",
           str(args.train_steps), "--am-steps", str(args.am_steps), "--repeats", str(args.repeats)]
    subprocess.run(cmd, env=env, check=True)
    return json.loads((out / "summary.json").read_text())


def measure(train_steps: int, am_steps: int, repeats: int, kinds: Sequence[str] | None = None,
            dataset: str | None = None, data_dir: str | Path | None = None) -> dict[str, Any]:
    """The whole measurement: native and every kernel set of ``kinds`` (default: every perturbation below this
    CPU's capability), per dtype: hashes, differences to native, bit-identical or not, seconds per step; training
    on ``dataset`` (default :func:`training_dataset`, looked up in ``data_dir``)."""
    from benchmarks.framework import perturbation

    native = perturbation.native_capability()
    if kinds is None:
        kinds = [k for k, p in perturbation.KINDS.items() if p.rank < perturbation.CAPABILITY_RANK.get(native, -1)]
    else:
        kinds = [perturbation.check_kind(k, native).name for k in kinds]
    args = argparse.Namespace(train_steps=train_steps, am_steps=am_steps, repeats=repeats)
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-float64-") as tmp:
        setup = training_setup(train_steps, dataset=dataset, data_dir=data_dir)
        torch.save(setup, Path(tmp) / "setup.pt")
        runs = {k: run_kind(k, args, Path(tmp)) for k in ["native", *kinds]}
        tensors = {k: {d: torch.load(Path(tmp) / k / f"{d}.pt") for d in DTYPES} for k in runs}
    load.append(os.getloadavg()[0])
    result: dict[str, Any] = {
        "settings": {"train_steps": train_steps, "train_data": setup["dataset"], "am_steps": am_steps, "repeats": repeats, "train": TRAIN,
                     "am": {**AM, "units": [unit_label(*u) for u in AM_UNITS]}, "torch": torch.__version__,
                     "native_capability": native, "kinds": ["native", *kinds], "load_average": load},
        "runs": runs, "dtypes": {},
        "init_identical": {k: runs[k]["init_hash"] == runs["native"]["init_hash"] for k in runs}}
    for d in DTYPES:
        diffs = {k: differences(tensors["native"][d], tensors[k][d]) for k in kinds}
        entry: dict[str, Any] = {"differences": diffs}
        for task in ("training", "am"):
            hashes = {k: runs[k]["dtypes"][d][task]["hash"] for k in runs}
            entry[task] = {
                "bit_identical": len(set(hashes.values())) == 1,
                "repeats_identical": all(runs[k]["dtypes"][d][task]["repeats_identical"] for k in runs),
                "seconds_per_step": {k: statistics.median(runs[k]["dtypes"][d][task]["seconds_per_step"])
                                     for k in runs},
                "hashes": hashes}
        result["dtypes"][d] = entry
    for task in ("training", "am"):
        result[f"{task}_float64_over_float32"] = {
            k: result["dtypes"]["float64"][task]["seconds_per_step"][k]
            / result["dtypes"]["float32"][task]["seconds_per_step"][k] for k in runs}
    return result


def markdown(result: dict[str, Any]) -> list[str]:
    """The result as a markdown table: one row per task and dtype."""
    kinds = result["settings"]["kinds"]
    s = result["settings"]
    lines = [f"float64 vs float32 across kernel sets ({', '.join(kinds)}; native {s['native_capability']}, torch "
             f"{s['torch']}, one thread; training {s['train_steps']} steps on {s['train_data']}, AM {s['am_steps']} steps x "
             f"{len(s['am']['units'])} units; median of {s['repeats']})", "",
             "| task | dtype | bit-identical across kernel sets | largest difference to native | "
             + " | ".join(f"ms/step {k}" for k in kinds) + " | float64 / float32 (native) |",
             "|:---|:---|:---|:---|" + "---:|" * len(kinds) + "---:|"]
    for task in ("training", "am"):
        for d in DTYPES:
            e = result["dtypes"][d]
            diffs = e["differences"].values()
            if task == "training":
                text = (f"params {max((x['training_params_rel'] for x in diffs), default=0):.1e} rel. "
                        f"(loss {max((x['training_loss_rel'] for x in diffs), default=0):.1e})")
            else:
                text = (f"f_best {max((x['am_f_best_rel'] for x in diffs), default=0):.1e} rel. "
                        f"(image {max((x['am_image_abs'] for x in diffs), default=0):.1e} abs.)")
            same = "yes" if e[task]["bit_identical"] else "no"
            if not e[task]["repeats_identical"]:
                same += " (a child did not repeat itself)"
            ratio = (f"{result[f'{task}_float64_over_float32']['native']:.2f}x" if d == "float64" else "")
            lines.append(f"| {'training' if task == 'training' else 'AM'} | {d} | {same} | {text} | "
                         + " | ".join(f"{1e3 * e[task]['seconds_per_step'][k]:.2f}" for k in kinds)
                         + f" | {ratio} |")
    same = [k for k, v in result["init_identical"].items() if v]
    lines += ["", f"small_cnn's seeded initialization (build_seeded, float32) made under each kernel set: identical to "
              f"native under {', '.join(same)}"
              + "".join(f"; differs under {k}" for k, v in result["init_identical"].items() if not v)
              + " (the runs above all train from the native one)."]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write ``float64.md`` and ``float64.json`` into ``--out``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-steps", type=int, default=30)
    p.add_argument("--am-steps", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--kind", action="append", default=None,
                   help="a perturbation to compare (repeatable); default: every one below this CPU's capability")
    p.add_argument("--data", type=Path, default=None, help="where Fashion-MNIST is looked up (as for `run`)")
    p.add_argument("--synthetic", action="store_true",
                   help="train on the suite's synthetic images (default: Fashion-MNIST where found, else these)")
    p.add_argument("--out", type=Path, default=Path("results/_scratch/bench_float64"))
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        summary = child(a.train_steps, a.am_steps, a.repeats, a.child)
        (a.child / "summary.json").write_text(json.dumps(summary))
        return 0
    result = measure(a.train_steps, a.am_steps, a.repeats, a.kind, "synthetic" if a.synthetic else None, a.data)
    result["settings"]["command"] = ("python -m benchmarks.perf.bench_float64 " + " ".join(argv or sys.argv[1:])).strip()
    lines = markdown(result)
    print("\n".join(lines))
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "float64.md").write_text("\n".join(lines) + "\n")
    (a.out / "float64.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
