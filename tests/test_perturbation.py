"""Checks that hold on another machine (issue 32): a run under another CPU's float kernels passes ``check``
against the committed baseline, and a tampered baseline still fails it.

The perturbed run is the training smoke profile in a fresh process under the highest perturbation below this
machine's CPU capability (:mod:`benchmarks.framework.perturbation`); on a machine without AVX2 there is none,
and the test says so.
"""
from __future__ import annotations

import json

import pytest

from benchmarks.framework import baseline, perturbation
from benchmarks.framework.cli import main
from benchmarks.framework.config import ConfigError


def test_kinds_cap_below_the_native_capability_only():
    assert perturbation.check_kind("avx2", "AVX512").name == "avx2"
    assert perturbation.check_kind("sse41", "AVX2").name == "sse41"
    with pytest.raises(ConfigError, match="would change nothing on this machine .*choose sse41"):
        perturbation.check_kind("avx2", "AVX2")
    with pytest.raises(ConfigError, match="'VSX'"):
        perturbation.check_kind("sse41", "VSX")
    with pytest.raises(ConfigError, match="unknown perturbation 'avx3'"):
        perturbation.check_kind("avx3", "AVX512")


def test_the_reference_runs_without_any_perturbation_variable():
    env = perturbation.environment(None, {"ONEDNN_MAX_CPU_ISA": "AVX2", "HOME": "/h"})
    assert env == {"HOME": "/h"}
    env = perturbation.environment(perturbation.KINDS["avx2"], {"HOME": "/h"})
    assert env["MKL_ENABLE_INSTRUCTIONS"] == "AVX2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def test_perturb_refuses_bad_input_before_writing(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["perturb", "training", "--profile", "smoke", "--out", str(out), "--kind", "avx3"]) == 2
    assert "unknown perturbation 'avx3'" in capsys.readouterr().err
    assert main(["perturb", "training", "--profile", "nope", "--out", str(out)]) == 2
    assert main(["perturb", "training", "--profile", "smoke", "--out", str(out), "--executor", "slurm"]) == 2
    assert "unknown executor 'slurm'" in capsys.readouterr().err
    assert not out.exists()


def _kind() -> perturbation.Perturbation:
    native = perturbation.native_capability()
    below = [k for k in perturbation.KINDS.values() if k.rank < perturbation.CAPABILITY_RANK.get(native, -1)]
    if not below:
        pytest.skip(f"no perturbation lies below this machine's CPU capability {native}")
    return max(below, key=lambda k: k.rank)


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory) -> baseline.Measurement:
    """The training smoke profile run under another CPU's kernels, summarized."""
    kind = _kind()
    out = tmp_path_factory.mktemp("perturbed") / kind.name
    assert perturbation.run(perturbation.run_command("training", "smoke", out), kind) == 0
    return baseline.measurement_from_run(out, "training", "smoke")


def test_check_passes_on_the_perturbed_run_and_fails_on_a_tampered_baseline(perturbed, tmp_path, capsys):
    path = baseline.baseline_path("training", "smoke")
    ok, lines = baseline.check("training", "smoke", measurement=perturbed, path=path)
    assert ok, lines
    doc = json.loads(path.read_text())
    key = sorted(doc["metrics"])[0]
    doc["metrics"][key] = perturbed.metrics[key] + doc["tolerances"][key] + 0.01  # claims more than attained
    tampered = tmp_path / "training-smoke.json"
    tampered.write_text(json.dumps(doc))
    ok, lines = baseline.check("training", "smoke", measurement=perturbed, path=tampered)
    assert not ok
    assert [ln for ln in lines if ln.startswith("REGRESSION")] == [
        f"REGRESSION {key}: {perturbed.metrics[key]:.6g} < baseline {doc['metrics'][key]:.6g} - tolerance "
        f"{doc['tolerances'][key]:g}"]
