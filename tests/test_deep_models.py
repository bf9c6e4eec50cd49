"""The deep batch-norm networks (issue 28 item 1): ``resnet18_small`` and ``vgg11_bn_small``.

``proxify`` reaches every rectifier (the stem's and both of every residual block's), AM runs them in eval
mode (batch-norm running statistics untouched, training flags restored) and scores the ORIGINAL network at
the returned image, and cnn-am's units accept layer names inside the residual blocks. Small widths and
seeded random initialization keep these tests at seconds on a CPU; the committed checkpoints are checked
by ``tests/test_zoo.py::test_committed_checkpoints_verify_and_load`` (every ``SUITE`` model).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.domain import models, zoo
from benchmarks.framework import methods
from benchmarks.experiments.cnn_am.units import Unit, UnitBatch
from proxygrad import objectives, proxify

DEEP = ("resnet18_small", "vgg11_bn_small")
RECTIFIERS = (nn.ReLU, nn.LeakyReLU)


def _build(arch: str, activation: str = "relu", width: int = 4) -> nn.Module:
    return models.build_seeded(0, arch, activation=activation, width=width).eval()


def _rectifier_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, RECTIFIERS)]


def _images(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.rand((n, 1, 28, 28), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _negative_side_gradients(model: nn.Module, slope: float | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """For every rectifier: (dL/dx, dL/dy) on its negative side (x <= 0) for ``L = sum_k w_k logit_k``,
    with plain gradients (``slope=None``) or inside ``proxify(model, slope)``."""
    inputs: dict[str, torch.Tensor] = {}
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, RECTIFIERS):
            handles.append(module.register_forward_hook(
                lambda mod, args, out, name=name: inputs.__setitem__(name, args[0].detach().clone())))
            handles.append(module.register_full_backward_hook(
                lambda mod, gin, gout, name=name: seen.__setitem__(name, (gin[0], gout[0]))))
    x = _images().requires_grad_(True)
    weights = torch.linspace(-1.0, 1.0, 10)
    try:
        if slope is None:
            (model(x) * weights).sum().backward()
        else:
            with proxify(model, slope):
                (model(x) * weights).sum().backward()
    finally:
        for h in handles:
            h.remove()
    assert set(seen) == set(inputs)
    return {n: (gin[inputs[n] <= 0], gout[inputs[n] <= 0]) for n, (gin, gout) in seen.items()}


def test_resnet_rectifiers_are_distinct_modules_inside_every_block() -> None:
    model = _build("resnet18_small")
    names = _rectifier_names(model)
    blocks = [f"layer{s}.{b}.act{a}" for s in (1, 2, 3, 4) for b in (0, 1) for a in (1, 2)]
    assert names == ["act1"] + blocks  # the stem's and both of each of the eight BasicBlocks
    assert len({id(model.get_submodule(n)) for n in names}) == 17
    assert len(_rectifier_names(_build("vgg11_bn_small"))) == 8


@pytest.mark.parametrize("arch", DEEP)
@pytest.mark.parametrize("activation, forward_slope", [("relu", 0.0), ("leaky", 0.01)])
def test_proxify_passes_the_backward_slope_at_every_rectifier(arch: str, activation: str, forward_slope: float) -> None:
    """Under ``proxify(model, s)`` every rectifier's dL/dx on its negative side is ``s * dL/dy`` (with
    nonzero dL/dy there, so the check is not vacuous); plain autograd gives ``forward_slope * dL/dy``."""
    model = _build(arch, activation)
    count = len(_rectifier_names(model))
    proxy = _negative_side_gradients(model, 0.5)
    assert len(proxy) == count
    for name, (gin, gout) in proxy.items():
        assert int((gout != 0).sum()) > 0, f"{name}: no gradient reaches its negative side"
        torch.testing.assert_close(gin, 0.5 * gout, msg=f"{name} is not reached by proxify")
    plain = _negative_side_gradients(model, None)
    for name, (gin, gout) in plain.items():
        torch.testing.assert_close(gin, forward_slope * gout, msg=name)


def _bn_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()
            if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def _with_running_statistics(arch: str) -> nn.Module:
    """A network in TRAIN mode whose running statistics are not the initial ones (as after training)."""
    model = models.build_seeded(0, arch, width=4)
    model.train()
    with torch.no_grad():
        for seed in range(3):
            model(_images(16, seed) * 0.5 + 0.2)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.mark.parametrize("arch", DEEP)
@pytest.mark.parametrize("method", ["plain", "proxy-0.5", "lucent-proxy-0.5"])
def test_am_runs_in_eval_mode_and_scores_the_original_network(arch: str, method: str) -> None:
    model = _with_running_statistics(arch)
    layer = "layer2.1.act2" if arch == "resnet18_small" else "10"  # a rectifier (in a residual block)
    before = _bn_buffers(model)
    for f in (objectives.logit(model, 3), objectives.channel(model, layer, 1)):
        result = methods.run_am(methods.parse(method), f, _images(2, 5), steps=4, lr=0.05, optimizer="adam",
                                seed=0, forward_slope=0.0, bounds=(-1.0, 1.0))
        after = _bn_buffers(model)
        assert all(torch.equal(before[k], after[k]) for k in before), "AM changed batch-norm statistics"
        assert model.training and all(m.training for m in model.modules()), "training flags not restored"
        model.eval()
        with torch.no_grad():  # the plain network, outside any proxify block, recomputed
            best, final = f(result.best_input), f(result.final_input)
        model.train()
        torch.testing.assert_close(result.best_value, best, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(result.value, final, rtol=1e-5, atol=1e-5)
        assert bool((result.best_input.abs() <= 1.0).all())


def test_cnn_am_units_take_rectifiers_inside_residual_blocks() -> None:
    """cnn-am's batched objective evaluates a channel of ``layerS.B.actA`` as ``objectives.channel`` does."""
    model = _build("resnet18_small")
    zm = zoo.ZooModel(name="r", model=model, preprocess=None, input_shape=(1, 28, 28), forward_slope=0.0,
                      weights_label=zoo.RANDOM_INIT, source="suite")
    units = [Unit("channel", "layer2.1.act2", 3, 0.5), Unit("channel", "layer4.0.act1", 0, 0.8),
             Unit("logit", None, 7, 1.0)]
    assert zoo.layer_channels(zm, "layer2.1.act2") == 8 and zoo.layer_channels(zm, "layer4.0.act1") == 32
    x = _images(3, 9)
    with torch.no_grad():
        got = UnitBatch(model, units)(x)
        want = torch.stack([objectives.channel(model, "layer2.1.act2", 3)(x[:1])[0],
                            objectives.channel(model, "layer4.0.act1", 0)(x[1:2])[0],
                            objectives.logit(model, 7)(x[2:])[0]])
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("bad, match", [({"width": 0}, "width"), ({"width": 2.5}, "width"),
                                        ({"width": True}, "width")])
def test_bad_width_is_named(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        models.build("resnet18_small", **bad)


def test_width_on_an_architecture_without_one_is_named() -> None:
    with pytest.raises(ValueError, match="width = 8 applies to resnet18_small, vgg11_bn_small only"):
        models.build("small_cnn", width=8)


@pytest.mark.parametrize("arch, width, params", [("resnet18_small", 16, 701_178), ("vgg11_bn_small", 16, 578_810)])
def test_parameter_counts_and_shapes(arch: str, width: int, params: int) -> None:
    model = models.build_seeded(0, arch, width=width).eval()
    assert models.count_parameters(model) == params
    with torch.no_grad():
        assert model(_images(2)).shape == (2, 10)
    assert models.build_seeded(0, arch).state_dict().keys() == model.state_dict().keys()  # default width 16


@pytest.mark.parametrize("name", ["fmnist-resnet-relu", "fmnist-vggbn-relu", "fmnist-vggbn-leaky"])
def test_committed_deep_networks_reach_the_target_accuracy(name: str) -> None:
    """Issue 28's target, read from the manifest that the training wrote (test split of 10000 images)."""
    manifest = zoo.read_manifest(name)
    assert manifest["test_size"] == 10000 and manifest["test_accuracy"] >= 0.92
    assert manifest["bytes"] <= 10 * 2**20
    zm = zoo.load(name)
    assert len(_rectifier_names(zm.model)) == (17 if "resnet" in name else 8)
    assert zm.forward_slope == (0.01 if name.endswith("leaky") else 0.0)


def test_standard_profile_units_reach_inside_the_residual_blocks(fashion_mnist_dir) -> None:
    """cnn-am's ``standard`` profile: every deep network's layers are rectifiers of the network (for the
    ResNet inside its BasicBlocks), and its pool holds more units than it draws (tuning + evaluation)."""
    from benchmarks.framework import config
    from benchmarks.experiments.cnn_am import config as cnn_config
    from benchmarks.experiments.cnn_am import networks

    cfg = cnn_config.parse_config(config.load_profile("cnn-am", "standard"), data_dir=fashion_mnist_dir)
    assert {m.name for m in cfg.models} == {"fmnist-resnet-relu", "fmnist-vggbn-relu", "fmnist-vggbn-leaky"}
    assert {"plain", "proxy-0.5", "lucent", "lucent-proxy-0.5", "horama", "horama-proxy-0.5"} <= \
        {m.label for m in cfg.methods}
    for m in cfg.models:
        zm = zoo.load(m.name, zoo.RANDOM_INIT)  # the architecture; the units do not depend on the weights
        assert all(isinstance(zm.model.get_submodule(layer), RECTIFIERS) for layer in m.layers)
        groups = networks.pool(zm, m, "standard")
        assert m.eval_units >= 30 and sum(len(g) for g in groups) >= m.tune_units + m.eval_units
    resnet = next(m for m in cfg.models if m.name == "fmnist-resnet-relu")
    assert any(".act1" in layer for layer in resnet.layers) and any(".act2" in layer for layer in resnet.layers)
