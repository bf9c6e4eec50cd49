"""The activation-maximization engine on closed-form ReLU functions (float64)."""
from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch import nn

from proxygrad import rules, schedules
from proxygrad.engine import AMResult, NonFiniteError, maximize
from proxygrad.regularizers import Blur, Jitter, L2Decay

F64 = torch.float64


class DeadUnit(nn.Module):
    """f(x) = relu(w.x - b) on [-1, 1]^d."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.register_buffer("w", w)
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.w - self.b)


def race(x: torch.Tensor) -> torch.Tensor:
    """f(x) = relu(x1 - x2) + 2 relu(x2 - x1 - 1/2) on [-1, 1]^2 (a plain callable)."""
    d = x[:, 0] - x[:, 1]
    return torch.relu(d) + 2.0 * torch.relu(-d - 0.5)


def corner_max(f, dim: int) -> float:
    """Maximum of a convex f over the box: the best of the 2^dim corners."""
    corners = torch.tensor(list(itertools.product((-1.0, 1.0), repeat=dim)), dtype=F64)
    return float(f(corners).max())


def check_consistent(f, res: AMResult) -> None:
    """best_value == f(best_input) exactly; trace, best_step and value agree with each other."""
    with torch.no_grad():
        assert torch.equal(f(res.best_input), res.best_value)
        assert torch.equal(f(res.final_input), res.value)
    assert torch.equal(res.trace.max(dim=0).values, res.best_value)
    first = (res.trace == res.best_value).to(torch.int64).argmax(dim=0)
    assert torch.equal(first, res.best_step)
    assert torch.equal(res.trace[-1], res.value)


def dead_unit_setup(dim: int = 6):
    """w with |w_i| >= 0.5, b = 0.7 sum|w|, starts in [-1/2, 1/2]^d so w.x <= sum|w| / 2 < b."""
    gen = torch.Generator().manual_seed(3)
    w = (0.5 + torch.rand(dim, generator=gen, dtype=F64)) * torch.where(
        torch.rand(dim, generator=gen, dtype=F64) > 0.5, 1.0, -1.0)
    b = 0.7 * float(w.abs().sum())
    x0 = torch.rand(5, dim, generator=gen, dtype=F64) - 0.5
    return DeadUnit(w, b), w, b, x0


def test_plain_am_stays_at_a_dead_unit() -> None:
    """At every start w.x - b < 0, so the plain gradient of relu(w.x - b) is exactly 0: x never moves."""
    f, w, b, x0 = dead_unit_setup()
    assert bool((x0 @ w - b < 0).all())
    res = maximize(f, x0, steps=40, lr=0.1)
    assert torch.equal(res.final_input, x0)
    assert torch.equal(res.trace, torch.zeros_like(res.trace))
    assert torch.equal(res.best_step, torch.zeros(5, dtype=torch.int64))
    check_consistent(f, res)


@pytest.mark.parametrize("proxy, slope", [("mixed", 0.5), ("network", 0.5), ("mixed", rules.straight_through())])
def test_proxygrad_reaches_the_corner_of_a_dead_unit(proxy: str, slope) -> None:
    """With slope s > 0 the gradient is s*w while inactive and w once active; both point to sign(w).

    Coordinate i moves monotonically toward sign(w_i) by at least lr * s * |w_i| >= 0.05 per step
    (lr=0.2, s=0.5, |w_i| >= 0.5) and crosses at most width 1.5, so after 30 steps x = sign(w) and
    f = sum|w| - b, the maximum over the box (convex f: the best corner).
    """
    f, w, b, x0 = dead_unit_setup()
    res = maximize(f, x0, steps=40, lr=0.2, backward_slope=slope, proxy=proxy)
    optimum = corner_max(f, w.numel())
    assert optimum == pytest.approx(float(w.abs().sum()) - b, abs=1e-12)
    assert torch.equal(res.final_input, torch.sign(w).expand_as(x0))
    # the optimum as f itself attains it at the argmax corner, evaluated in the run's batch shape
    # (a batch of 64 corners may round the matmul differently, by an ulp)
    with torch.no_grad():
        attained_at_argmax = f(torch.sign(w).expand_as(x0).contiguous())
    assert torch.allclose(attained_at_argmax, torch.full((5,), optimum, dtype=F64), rtol=0, atol=1e-12)
    assert torch.equal(res.best_value, attained_at_argmax)
    assert res.trace[0].eq(0).all()  # the original's value at the start, not the leaky proxy's
    assert res.grad_evals == 40
    assert res.forward_evals == (41 if proxy == "mixed" else 81)
    check_consistent(f, res)


@pytest.mark.parametrize("slope, optimum_reached, proxy", [
    (None, False, "mixed"), (0.25, False, "mixed"), (0.75, True, "mixed"), (1.0, True, "mixed"),
    (0.25, False, "network"), (0.75, True, "network")])
def test_two_pattern_race(slope, optimum_reached: bool, proxy: str) -> None:
    """f = relu(d) + 2 relu(-d - 1/2), d = x1 - x2, from x0 = (1/2, 0).

    Corners: f(1,-1) = 2 (low pattern), f(-1,1) = 3 (high pattern, the maximum). At x0 the low
    pattern is active (d = 1/2) and the high one inactive (-d - 1/2 = -1 < 0). With backward slope s
    the gradient there is (1, -1) + 2 s (-1, 1) = (1 - 2s)(1, -1):
      * s < 1/2 (plain AM is s = 0): it points to (1, -1) and stays so there -> f = 2;
      * s > 1/2: it points to (-1, 1); once d < 0 the gradient is s(-1, 1) (both inactive) or
        (2 - s)(-1, 1) (high active), still toward (-1, 1) for s < 2 -> f = 3.
    With one hidden layer the proxy network (Leaky ReLU slope s) has the same gradient.
    """
    x0 = torch.tensor([[0.5, 0.0]], dtype=F64)
    res = maximize(race, x0, steps=60, lr=0.1, backward_slope=slope, proxy=proxy)
    low = race(torch.tensor([[1.0, -1.0]], dtype=F64))
    optimum = corner_max(race, 2)
    assert optimum == 3.0 and float(low) == 2.0
    expected = torch.tensor([[-1.0, 1.0]] if optimum_reached else [[1.0, -1.0]], dtype=F64)
    assert torch.equal(res.final_input, expected)
    assert float(res.best_value) == (optimum if optimum_reached else float(low))
    check_consistent(race, res)


def test_schedule_slopes_are_used_step_by_step() -> None:
    """f = relu(x - 90) on [-100, 100] is inactive near x0 = -50; the proxy gradient is s_t, so
    ascent gives x_T = x0 + lr * sum_t s_t exactly as the schedule says (None counts as 0)."""
    f = lambda x: torch.relu(x[:, 0] - 90.0)  # noqa: E731
    x0 = torch.full((1, 1), -50.0, dtype=F64)
    for sched in (schedules.linear_anneal(1.0, 0.0, fraction=0.5), schedules.first_steps(1.0, steps=7),
                  lambda t: None if t % 3 else 2.0):
        res = maximize(f, x0, steps=20, lr=0.5, backward_slope=sched, bounds=(-100.0, 100.0))
        s = schedules.as_schedule(sched)
        total = sum(v or 0.0 for v in (s.at(t, 20) for t in range(20)))
        assert float(res.final_input) == pytest.approx(-50.0 + 0.5 * total, abs=1e-9)
        assert total > 0
    assert res.config["backward_slope"].startswith("callable(")


class BatchNormMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1)).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # [N, 1] is accepted


@pytest.mark.parametrize("optimizer", ["ascent", "normalized", "adam"])
def test_batch_equals_single_runs_and_modes_are_restored(optimizer: str) -> None:
    """A BatchNorm layer in train mode would couple starts; the engine runs it in eval mode."""
    model = BatchNormMLP()
    model.train()
    model.net[1].running_mean.uniform_(-0.5, 0.5)
    stats = model.net[1].running_mean.clone()
    kwargs = dict(steps=12, lr=0.05, optimizer=optimizer, backward_slope=0.3)
    batch = maximize(model, shape=4, starts=6, seed=5, **kwargs)
    assert model.training and model.net[1].training
    assert torch.equal(model.net[1].running_mean, stats)
    for i in range(6):
        single = maximize(model, batch_start(batch, model, i), **kwargs)
        torch.testing.assert_close(single.trace[:, 0], batch.trace[:, i], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(single.best_input[0], batch.best_input[i], rtol=1e-12, atol=1e-12)
        assert int(single.best_step[0]) == int(batch.best_step[i])


def batch_start(batch: AMResult, model: nn.Module, i: int) -> torch.Tensor:
    """Start i of a drawn batch: the same seeded draw as the engine's (uniform in [-1, 1])."""
    gen = torch.Generator().manual_seed(batch.config["seed"])
    x0 = -1.0 + 2.0 * torch.rand((batch.config["starts"], *batch.config["shape"]), generator=gen, dtype=F64)
    return x0[i:i + 1]


class TinyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(2, 3, 3, padding=1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))[:, 1].mean(dim=(1, 2))


def test_regularizers_keep_starts_independent_and_runs_repeat() -> None:
    model = TinyConv()
    regs = (Jitter(2), Blur(0.8, every=3), L2Decay(0.01))
    kwargs = dict(steps=9, lr=0.1, backward_slope=0.5, regularizers=regs)
    batch = maximize(model, shape=(2, 8, 8), starts=3, seed=11, **kwargs)
    again = maximize(model, shape=(2, 8, 8), starts=3, seed=11, **kwargs)
    for name in ("best_value", "best_input", "best_step", "trace", "final_input"):
        assert torch.equal(getattr(batch, name), getattr(again, name)), name
    assert batch.config == again.config
    assert batch.config["regularizers"] == ["jitter(pixels=2)", "blur(sigma=0.8,every=3)", "l2_decay(decay=0.01)"]
    gen = torch.Generator().manual_seed(11)
    x0 = -1.0 + 2.0 * torch.rand((3, 2, 8, 8), generator=gen, dtype=F64)
    for i in range(3):
        single = maximize(model, x0[i:i + 1], seed=11, **kwargs)
        torch.testing.assert_close(single.trace[:, 0], batch.trace[:, i], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(single.final_input[0], batch.final_input[i], rtol=1e-12, atol=1e-12)
    other = maximize(model, shape=(2, 8, 8), starts=3, seed=12, **kwargs)
    assert not torch.equal(other.trace, batch.trace)
    check_consistent(model, batch)


def test_regularizer_math() -> None:
    x = torch.arange(2 * 1 * 5 * 5, dtype=F64).view(2, 1, 5, 5)
    gen = torch.Generator().manual_seed(0)
    shift = torch.randint(-2, 3, (2,), generator=torch.Generator().manual_seed(0)).tolist()
    assert torch.equal(Jitter(2)(x, 0, gen), torch.roll(x, shift, dims=(-2, -1)))
    flat = torch.full((1, 1, 6, 6), 0.3, dtype=F64)
    blur = Blur(1.0, every=2)
    assert blur(flat, 0, gen) is flat  # step 0: (0 + 1) % 2 != 0, no blur
    torch.testing.assert_close(blur(flat, 1, gen), flat)  # a normalized kernel keeps constants
    spike = torch.zeros(1, 1, 9, 9, dtype=F64)
    spike[0, 0, 4, 4] = 1.0
    out = blur(spike, 1, gen)
    assert float(out.sum()) == pytest.approx(1.0) and float(out[0, 0, 4, 4]) < 1.0
    assert torch.equal(L2Decay(0.25)(x, 0, gen), x * 0.75)


def test_adam_and_normalized_updates() -> None:
    """Normalized ascent moves a linear f = w.x by exactly lr along w/||w||; Adam's first step is lr*sign(g)."""
    w = torch.tensor([3.0, -4.0], dtype=F64)
    f = lambda x: x @ w  # noqa: E731
    x0 = torch.zeros(1, 2, dtype=F64)
    res = maximize(f, x0, steps=1, lr=0.1, optimizer="normalized")
    torch.testing.assert_close(res.final_input[0], 0.1 * w / 5.0)
    res = maximize(f, x0, steps=1, lr=0.1, optimizer="adam")
    torch.testing.assert_close(res.final_input[0], 0.1 * torch.sign(w), rtol=1e-6, atol=1e-9)


def test_non_finite_value_names_step_and_start() -> None:
    """Start 1 has x1 = 0.35 + 0.1 t (gradient 1 per coordinate), so x1 > 0.5 first at step 2."""
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.sum(dim=1) + torch.where(x[:, 0] > 0.5, float("nan"), 0.0)

    x0 = torch.tensor([[-0.9, 0.0], [0.35, 0.0]], dtype=F64)
    with pytest.raises(NonFiniteError, match="step 2, start 1") as info:
        maximize(f, x0, steps=10, lr=0.1)
    assert (info.value.step, info.value.start) == (2, 1)
    assert isinstance(info.value, ArithmeticError)


def test_non_finite_error_restores_module_modes() -> None:
    model = BatchNormMLP().train()
    model.net[3].bias.data.fill_(float("inf"))
    with pytest.raises(NonFiniteError, match="step 0, start 0"):
        maximize(model, shape=4, starts=2, steps=3)
    assert all(m.training for m in model.modules())


def test_non_finite_gradient_names_step_and_start() -> None:
    f = lambda x: torch.sqrt(x.abs()).sum(dim=1)  # noqa: E731  (infinite slope at 0)
    x0 = torch.tensor([[0.5, 0.5], [0.5, 0.5], [0.2, 0.0]], dtype=F64)
    with pytest.raises(NonFiniteError, match="gradient at step 0, start 2"):
        maximize(f, x0, steps=3)


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.lin = nn.Linear(3, 1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.relu(self.lin(x))[:, 0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(x0=torch.full((2, 3), 1.5, dtype=F64)), r"box \[-1.0, 1.0\].*1.5"),
    (dict(x0=torch.zeros(2, 3, dtype=F64), shape=(4,)), "does not match shape"),
    (dict(x0=torch.zeros(3, dtype=F64)), "x0 must be a tensor"),
    (dict(shape=3, optimizer="sgd"), "'sgd'"),
    (dict(shape=3, proxy="copy"), "'copy'"),
    (dict(shape=3, backward_slope=-0.5), "-0.5"),
    (dict(shape=3, backward_slope=rules.bsilu(), proxy="network"), "bsilu"),
    (dict(shape=3, backward_slope=lambda t: float("nan") if t == 4 else 0.5), "step 4"),
    (dict(shape=3, lr=float("nan")), "lr"),
    (dict(shape=3, steps=-1), "steps"),
    (dict(shape=3, bounds=(1.0, -1.0)), "bounds"),
    (dict(shape=3, regularizers=(Jitter(1),)), "shape"),
    (dict(shape=3, starts=0), "starts"),
    (dict(), "x0 or shape"),
])
def test_bad_arguments_raise_before_any_forward(kwargs: dict, message: str) -> None:
    model = Counting()
    with pytest.raises(ValueError, match=message):
        maximize(model, **kwargs)
    assert model.calls == 0


def test_bad_output_shape() -> None:
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        maximize(lambda x: x[:, :2], shape=3, starts=4, steps=2)


def test_dtype_device_defaults_and_config() -> None:
    res = maximize(Counting(), shape=3, starts=2, steps=1)
    assert res.best_input.dtype == F64 and res.config["dtype"] == "float64"
    res = maximize(lambda x: x.sum(dim=1), shape=(2,), starts=2, steps=1)
    assert res.best_input.dtype == torch.float32
    assert res.trace.shape == (2, 2) and res.seconds >= 0
    json.dumps(res.config)
    assert res.config["backward_slope"] == "plain" and res.config["x0"] == "uniform"
    res = maximize(lambda x: x.sum(dim=1), shape=2, starts=2, steps=1)
    assert res.trace.shape == (2, 2) and res.grad_evals == 1 and res.forward_evals == 2
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        maximize(lambda x: x.sum(dim=1), shape=2, starts=2, steps=0)


def test_progress_bar_runs(capsys) -> None:
    maximize(lambda x: x.sum(dim=1), shape=2, steps=3, progress=True)
    assert "maximize" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs, message", [
    (dict(shape=3, steps=0), "steps must be >= 1, got 0"),
    (dict(shape=3, steps=-5), "got -5"),
    (dict(shape=3, steps=2.5), "got 2.5"),
    (dict(shape=3, lr=0), "lr must be > 0, got 0"),
    (dict(shape=3, lr=0.0), "got 0.0"),
    (dict(shape=3, lr=-0.1), "got -0.1"),
    (dict(shape=3, lr=float("inf")), "got inf"),
    (dict(shape=3, lr=True), "got True"),
    (dict(shape=3, optimizer=42), "got 42"),
    (dict(shape=3, optimizer=lambda p: "not an optimizer"), "str"),
    (dict(shape=3, callback="print"), "'print'"),
    (dict(shape=3, param="fourier"), "'fourier'"),
])
def test_degenerate_steps_lr_and_bad_extension_points_raise_naming_the_value(kwargs: dict, message: str) -> None:
    model = Counting()
    with pytest.raises(ValueError, match=message):
        maximize(model, **kwargs)
    assert model.calls == 0


@pytest.mark.parametrize("shape", [5, (3, 2), (4,)])
def test_a_shape_the_model_cannot_take_raises_value_error_naming_it(shape) -> None:
    """Counting is Linear(3, 1): inputs [N, 5], [N, 3, 2] or [N, 4] fail inside its matmul."""
    with pytest.raises(ValueError, match=r"shape \(" + ", ".join(str(d) for d in (shape if isinstance(shape, tuple)
                                                                                      else (shape,)))):
        maximize(Counting(), shape=shape, starts=2, steps=3, backward_slope=0.5)


def test_one_interception_per_call_with_the_rule_changing_per_step(monkeypatch) -> None:
    """A module maximized under a schedule: proxify is built and entered once, hooks registered once,
    and each step still follows its rule (x_T = x0 + lr * sum_t s_t on an inactive unit)."""
    from proxygrad import arguments  # where the engine's one interception is built

    built: list[object] = []
    entered: list[object] = []

    class CountingProxify(arguments.proxify):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

        def __enter__(self):
            entered.append(self)
            return super().__enter__()

    monkeypatch.setattr(arguments, "proxify", CountingProxify)
    f = DeadUnit(torch.ones(1, dtype=F64), 90.0)
    x0 = torch.full((1, 1), -50.0, dtype=F64)
    sched = lambda t: None if t % 3 else 2.0  # noqa: E731
    hooks: list[int] = []
    original = nn.Module.register_forward_pre_hook
    monkeypatch.setattr(nn.Module, "register_forward_pre_hook",
                        lambda self, *a, **k: hooks.append(1) or original(self, *a, **k))
    res = maximize(f, x0, steps=20, lr=0.5, backward_slope=sched, bounds=(-100.0, 100.0))
    total = sum(sched(t) or 0.0 for t in range(20))
    assert float(res.final_input) == -50.0 + 0.5 * total
    assert len(built) == 1 and len(entered) == 1 and len(hooks) == 1
    assert not f._forward_hooks and not f._forward_pre_hooks
    plain = maximize(f, x0, steps=5, lr=0.5, bounds=(-100.0, 100.0))
    assert len(built) == 1 and torch.equal(plain.final_input, x0)  # no interception for plain runs


@pytest.mark.parametrize("proxy", ["mixed", "network"])
def test_callback_sees_every_step_with_the_original_value(proxy: str) -> None:
    """callback(t, x_t, v_t) for t = 0..T: v_t is the original f at x_t (= trace[t]), also when the
    callback itself calls f (it runs without the proxy), and its copies cannot disturb the run."""
    f, w, b, x0 = dead_unit_setup()
    seen: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def observe(t: int, x: torch.Tensor, v: torch.Tensor) -> None:
        seen.append((t, x.clone(), v.clone(), f(x)))
        x.fill_(0.0)
        v.fill_(-1.0)

    res = maximize(f, x0, steps=12, lr=0.2, backward_slope=0.5, proxy=proxy, callback=observe)
    again = maximize(f, x0, steps=12, lr=0.2, backward_slope=0.5, proxy=proxy)
    assert [t for t, *_ in seen] == list(range(13))
    for t, x, v, f_in_callback in seen:
        assert torch.equal(v, res.trace[t]) and torch.equal(f_in_callback, v)
    assert torch.equal(seen[0][1], x0) and torch.equal(seen[-1][1], res.final_input)
    assert torch.equal(res.trace, again.trace) and torch.equal(res.final_input, again.final_input)


def test_optimizer_factory_matches_the_builtin_updates() -> None:
    """SGD(lr) on -f is ascent with the same lr, bit for bit; Adam(maximize=True) is "adam"."""
    model = TinyConv()
    kwargs = dict(shape=(2, 8, 8), starts=3, seed=4, steps=6, lr=0.1, backward_slope=0.5)
    ascent = maximize(model, **kwargs)
    sgd = maximize(model, **{**kwargs, "optimizer": lambda p: torch.optim.SGD(p, lr=0.1)})
    assert torch.equal(sgd.trace, ascent.trace) and torch.equal(sgd.final_input, ascent.final_input)
    assert sgd.config["optimizer"].startswith("factory(")
    adam = maximize(model, **{**kwargs, "optimizer": "adam"})
    factory = maximize(model, **{**kwargs, "optimizer": lambda p: torch.optim.Adam(p, lr=0.1, maximize=True)})
    assert torch.equal(adam.trace, factory.trace)
    momentum = maximize(model, **{**kwargs, "optimizer": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)})
    assert not torch.equal(momentum.trace, ascent.trace)
    check_consistent(model, momentum)
