"""Adapters: RGB [0, 1] images to the suite's domain and back; Lucent-style layer names and objectives."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.domain import adapters


def test_rgb_to_domain_and_back():
    g = torch.Generator().manual_seed(0)
    img = torch.rand((2, 3, 28, 28), generator=g)
    x = adapters.rgb_to_domain(img, (1, 8, 8))
    assert x.shape == (2, 1, 8, 8) and float(x.min()) >= -1 and float(x.max()) <= 1
    same = adapters.rgb_to_domain(img, (1, 28, 28))
    assert torch.allclose(same, 2 * img.mean(dim=1, keepdim=True) - 1, atol=1e-6)
    assert torch.equal(adapters.rgb_to_domain(img, (3, 28, 28)), (2 * img - 1).clamp(-1, 1))
    back = adapters.domain_to_rgb(x)
    assert back.shape == (2, 3, 8, 8) and torch.equal(back[:, 0], back[:, 2])
    assert torch.allclose(adapters.rgb_to_domain(back, (1, 8, 8)), x, atol=1e-6)
    assert adapters.domain_to_rgb(x, size=(224, 224)).shape == (2, 3, 224, 224)
    with pytest.raises(ValueError, match=r"\[0.0, 1.0\]"):
        adapters.rgb_to_domain(img * 2, (1, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        adapters.rgb_to_domain(img, (2, 8, 8))
    assert torch.equal(adapters.UnitRGB()(x), back)


def test_lucent_names_map_to_the_suite_objective():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    assert adapters.lucent_layer(model, "0_1") == "0.1" and adapters.lucent_layer(model, "0.1") == "0.1"
    with pytest.raises(ValueError, match="'nope'"):
        adapters.lucent_layer(model, "nope")
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    f = adapters.lucent_objective(model, "0_1:2")
    with torch.no_grad():
        assert torch.allclose(f(x), model[0](x)[:, 2].mean(dim=(1, 2)))
        assert torch.equal(adapters.lucent_objective(model, "labels:3")(x), model(x)[:, 3])
    with pytest.raises(ValueError, match="layer:channel"):
        adapters.lucent_objective(model, "0_1")
