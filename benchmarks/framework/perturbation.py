"""Perturbations that make this machine run another CPU's float kernels, for the spread measurement.

The suite's CPU records repeat bit for bit on one machine (one torch thread per cell); on another CPU they
may not, because the libraries pick their float kernels by the instruction set the CPU has: oneDNN's
convolutions (``ONEDNN_MAX_CPU_ISA``), MKL's GEMM behind ``nn.Linear`` (``MKL_ENABLE_INSTRUCTIONS``) and
ATen's vectorized element-wise and reduction kernels (``ATEN_CPU_CAPABILITY``).  Each library reads its
variable when it starts, and caps the instruction set at the value given, so a run under them computes on
this machine what a CPU that has only that instruction set computes with the same library build: a
different blocking of the sums, a different rounding.  That is the cross-machine effect itself, not a
model of it, as long as the cap lies below this CPU's own instruction set (:func:`check_kind` refuses a
perturbation that would change nothing here).

Measured here (torch 2.14.1 with MKL 2024.2 and oneDNN 3.12 on an AVX-512 Xeon, one thread): the forward
pass of a small CNN changes in the 7th significant digit under ``avx2``, the convolution by the oneDNN cap,
the linear layer by the MKL cap; ATen's cap alone changed nothing there.

Not a perturbation here: the torch thread count.  Every cell runs under one thread
(:data:`benchmarks.framework.dask_executor.CELL_THREADS`) on every machine, so another core count does not
change records.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.framework.config import ConfigError
from benchmarks.framework.meta import REPO_ROOT


@dataclass(frozen=True)
class Perturbation:
    """One perturbation: the environment a run gets, the CPU capability it emulates, and in words what it is."""

    name: str
    env: Mapping[str, str]
    rank: int
    text: str


#: torch's names of CPU capabilities (``torch.backends.cpu.get_cpu_capability()``), lowest first.
CAPABILITY_RANK: dict[str, int] = {"DEFAULT": 0, "AVX2": 1, "AVX512": 2}

KINDS: dict[str, Perturbation] = {
    "avx2": Perturbation("avx2", {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                                  "MKL_ENABLE_INSTRUCTIONS": "AVX2"}, CAPABILITY_RANK["AVX2"],
                         "the kernels of a CPU with AVX2 and without AVX-512 (e.g. AMD's before Zen 4 and most of "
                         "Intel's desktop CPUs), same library build"),
    "sse41": Perturbation("sse41", {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                                    "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, CAPABILITY_RANK["DEFAULT"],
                          "the kernels of a CPU without AVX (the x86-64 baseline with SSE4), same library build"),
}
"""The perturbations by name."""

#: The variables of every perturbation: removed from the reference run's environment.
VARIABLES: tuple[str, ...] = tuple(sorted({k for p in KINDS.values() for k in p.env}))


def native_capability() -> str:
    """This machine's CPU capability as torch names it (``AVX512``, ``AVX2``, ``DEFAULT``, or a non-x86 name),
    read in a fresh process without any of :data:`VARIABLES`."""
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    done = subprocess.run([sys.executable, "-c", code], env=environment(None), capture_output=True, text=True,
                          check=True)
    return done.stdout.strip().splitlines()[-1]


def check_kind(name: str, native: str) -> Perturbation:
    """The perturbation ``name`` when it caps this machine's capability ``native`` below itself; ConfigError
    naming the value otherwise (an unknown name, a non-x86 machine, or a cap that would change nothing here)."""
    if name not in KINDS:
        raise ConfigError(f"unknown perturbation {name!r}; choose from {', '.join(KINDS)}")
    kind = KINDS[name]
    if native not in CAPABILITY_RANK:
        raise ConfigError(f"perturbation {name!r} caps x86-64 instruction sets; this machine's CPU capability is "
                          f"{native!r}")
    if kind.rank >= CAPABILITY_RANK[native]:
        lower = [k for k, p in KINDS.items() if p.rank < CAPABILITY_RANK[native]]
        raise ConfigError(f"perturbation {name!r} would change nothing on this machine (its CPU capability is "
                          f"{native}); choose " + (" or ".join(lower) if lower else "another machine"))
    return kind


def environment(kind: Perturbation | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a run: ``base`` (default this process's) without :data:`VARIABLES`, plus the
    variables of ``kind`` (none for the reference run)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in VARIABLES}
    return {**env, **(dict(kind.env) if kind is not None else {})}


def run_command(experiment: str, profile: str, out: Path, *, config_file: Path | None = None,
                data_dir: Path | None = None, executor: str = "local") -> list[str]:
    """The ``run`` command of one run of the measurement (with ``--resume`` when ``out`` exists, so an
    interrupted measurement continues and a finished run is reused).  Each run has a cache of its own,
    ``<out>.cache`` beside it: a certificate or dataset maximum computed under one kernel set is never read
    by a run under another, as on another machine."""
    out = Path(out)
    cmd = [sys.executable, "-m", "benchmarks", "run", experiment, "--profile", profile, "--out", str(out),
           "--executor", executor, "--cache", str(out.parent / f"{out.name}.cache"), "--no-progress"]
    if config_file is not None:
        cmd += ["--config", str(config_file)]
    if data_dir is not None:
        cmd += ["--data", str(data_dir)]
    if Path(out).exists():
        cmd.append("--resume")
    return cmd


def run(cmd: Sequence[str], kind: Perturbation | None) -> int:
    """Run ``cmd`` in a fresh process under ``kind``'s environment (the reference run: None); its exit code."""
    env = environment(kind)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(list(cmd), env=env, check=False).returncode


def measure(experiment: str, profile: str, out: Path, kinds: Sequence[str], *, reference: Path | None = None,
            config_file: Path | None = None, data_dir: Path | None = None, executor: str = "local") -> list[Path]:
    """Run ``experiment`` at ``profile`` once natively (``out/reference``, unless ``reference`` names a finished
    run of the same config) and once under each perturbation of ``kinds`` (``out/<kind>``), and write the
    spread of each against the reference into ``out/<kind>-spread/``
    (:func:`benchmarks.framework.spread.write`); returns the paths written.

    Bad input (an unknown experiment, profile or perturbation, one that changes nothing on this machine, a
    reference of another experiment or config) is a ConfigError before anything is run or written; a run that
    fails is a RuntimeError naming it."""
    from benchmarks.framework import spread, store
    from benchmarks.framework.config import config_hash, load_profile
    from benchmarks.framework.registry import load

    module = load(experiment)
    cfg_hash = config_hash(module.parse_config(load_profile(experiment, profile, config_file=config_file),
                                               data_dir=data_dir))
    from benchmarks.framework.runner import EXECUTORS

    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    if not kinds:
        raise ConfigError("no perturbation given; choose from " + ", ".join(KINDS))
    native = native_capability()
    chosen = [check_kind(k, native) for k in dict.fromkeys(kinds)]
    if reference is not None:
        meta = store.read_meta(reference)
        if (meta.get("experiment"), meta.get("config_hash")) != (experiment, cfg_hash) or not meta.get("finished_utc"):
            raise ConfigError(f"reference {reference} is not a finished run of {experiment}/{profile} with config "
                              f"hash {cfg_hash[:12]} (it is of {meta.get('experiment')!r}, "
                              f"{str(meta.get('config_hash'))[:12]}, finished: {bool(meta.get('finished_utc'))})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    ref_dir = Path(reference) if reference is not None else out / "reference"
    runs: list[tuple[Perturbation | None, Path]] = ([] if reference is not None else [(None, ref_dir)])
    runs += [(k, out / k.name) for k in chosen]
    for kind, d in runs:
        code = run(run_command(experiment, profile, d, config_file=config_file, data_dir=data_dir,
                               executor=executor), kind)
        if code != 0:
            raise RuntimeError(f"the {'reference' if kind is None else kind.name} run of {experiment}/{profile} "
                               f"into {d} exited {code}")
    command = (f"python -m benchmarks perturb {experiment} --profile {profile} --out {out.as_posix()} "
               + " ".join(f"--kind {k.name}" for k in chosen)
               + ("" if reference is None else f" --reference {Path(reference).as_posix()}")
               + ("" if config_file is None else f" --config {Path(config_file).as_posix()}")
               + ("" if data_dir is None else f" --data {Path(data_dir).as_posix()}"))
    written: list[Path] = []
    for kind in chosen:
        s = spread.compare_runs(module, ref_dir, out / kind.name)
        written += spread.write(s, out / f"{kind.name}-spread", perturbation=kind.name,
                                perturbation_env=dict(kind.env), perturbation_text=kind.text,
                                native_capability=native, reference=str(ref_dir), run=str(out / kind.name),
                                command=command)
    return written
