"""Model zoo and checkpoint training: reproducible hashes, weight loading, clear errors."""
from __future__ import annotations

import json
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.domain import data, models, zoo
from benchmarks.domain.train_models import state_bytes, train_model, write_checkpoint

SMALL_TV = "squeezenet1_1"  # a small torchvision classifier keeps the tests fast


def _tiny_spec(seed: int = 3) -> zoo.SuiteModel:
    return zoo.SuiteModel("test-tiny8", "tiny8", input_size=8, epochs=1, lr=0.05, batch_size=32, seed=seed,
                          dataset="synthetic", train_limit=128)


def _synthetic(split: str, limit: int) -> torch.utils.data.TensorDataset:
    return data.load("synthetic", split, size=8, limit=limit)


def _train_write(spec: zoo.SuiteModel, out: Path) -> dict:
    model, history = train_model(spec, _synthetic("train", 128), _synthetic("test", 64))
    return write_checkpoint(spec, model, out, test_accuracy=history[-1]["test_acc"], test_size=64,
                            history=history, data_source="synthetic")


def test_training_checkpoint_hash_is_reproducible(tmp_path: Path) -> None:
    a = _train_write(_tiny_spec(), tmp_path / "a")
    b = _train_write(_tiny_spec(), tmp_path / "b")
    c = _train_write(_tiny_spec(seed=4), tmp_path / "c")
    assert a["sha256"] == b["sha256"]
    assert (tmp_path / "a" / "test-tiny8.pt").read_bytes() == (tmp_path / "b" / "test-tiny8.pt").read_bytes()
    assert c["sha256"] != a["sha256"]  # the seed matters, so equal hashes above are not vacuous
    assert zoo.sha256_file(tmp_path / "a" / "test-tiny8.pt") == a["sha256"]
    manifest = json.loads((tmp_path / "a" / "test-tiny8.json").read_text())
    assert manifest["training_config"]["seed"] == 3 and manifest["train_images"] == 128
    assert "seconds" not in manifest["history"][0]


def test_state_bytes_depend_only_on_weights() -> None:
    m1 = models.build_seeded(1, "tiny8", input_size=8)
    m2 = models.build_seeded(1, "tiny8", input_size=8)
    assert state_bytes(m1) == state_bytes(m2)


@pytest.mark.parametrize("name", sorted(zoo.SUITE))
def test_committed_checkpoints_verify_and_load(name: str) -> None:
    manifest = zoo.read_manifest(name)
    path = zoo.checkpoint_path(name)
    assert path.stat().st_size < 5 * 2**20
    assert zoo.sha256_file(path) == manifest["sha256"]
    assert manifest["test_size"] == 10000 and 0.0 <= manifest["test_accuracy"] <= 1.0
    assert manifest["training_config"] == zoo.SUITE[name].training_config()
    zm = zoo.load(name)
    assert zm.weights_label == f"suite:{manifest['sha256'][:12]}" and zm.trained
    assert zm.forward_slope == zoo.SUITE[name].forward_slope
    assert not any(p.requires_grad for p in zm.model.parameters()) and not zm.model.training
    out = zm.model(torch.zeros(2, *zm.input_shape))
    assert out.shape == (2, 10)


def test_suite_checksum_mismatch_and_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(zoo.WeightsError, match="train_models"):
        zoo.load("fmnist-tiny8", models_dir=tmp_path)
    for suffix in (".pt", ".json"):
        shutil.copy(zoo.MODELS_DIR / f"fmnist-tiny8{suffix}", tmp_path / f"fmnist-tiny8{suffix}")
    assert zoo.load("fmnist-tiny8", models_dir=tmp_path).sha256 == zoo.read_manifest("fmnist-tiny8")["sha256"]
    manifest = json.loads((tmp_path / "fmnist-tiny8.json").read_text())
    manifest["sha256"] = "0" * 64
    (tmp_path / "fmnist-tiny8.json").write_text(json.dumps(manifest))
    with pytest.raises(zoo.WeightsError, match="sha256"):
        zoo.load("fmnist-tiny8", models_dir=tmp_path)


def test_suite_model_loads_a_state_dict_file(tmp_path: Path) -> None:
    saved = models.build_seeded(11, "tiny8", input_size=8)
    path = tmp_path / "mine.pt"
    torch.save(saved.state_dict(), path)
    zm = zoo.load("fmnist-tiny8", path)
    for (k, v), (k2, v2) in zip(saved.state_dict().items(), zm.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert zm.weights_label.startswith("file:mine.pt:") and zm.sha256 == zoo.sha256_file(path)


def test_torchvision_random_init_is_labelled_and_seeded() -> None:
    a = zoo.load(SMALL_TV, input_size=32, seed=0)
    b = zoo.load(SMALL_TV, "random-init", input_size=32, seed=0)
    c = zoo.load(SMALL_TV, input_size=32, seed=1)
    assert a.weights_label == b.weights_label == zoo.RANDOM_INIT and not a.trained
    assert a.input_shape == (3, 32, 32) and a.preprocess is not None and a.dataset is None
    pa, pb, pc = (next(m.model.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_torchvision_loads_a_state_dict_file(tmp_path: Path) -> None:
    saved = zoo.load(SMALL_TV, seed=5).model
    path = tmp_path / "sq.pt"
    torch.save({"state_dict": saved.state_dict()}, path)  # a wrapped state_dict is accepted too
    zm = zoo.load(SMALL_TV, str(path), input_size=64, seed=0)
    for v, v2 in zip(saved.state_dict().values(), zm.model.state_dict().values()):
        assert torch.equal(v, v2)
    assert zm.trained and zm.weights_label.startswith("file:sq.pt:")


def test_imagenet_weights_offline_give_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.models._api as api

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(zoo.WeightsError, match=r"weights = \"PATH\" in the cnn-am profile") as exc:
        zoo.load(SMALL_TV, "imagenet")
    assert "--weights" not in str(exc.value)  # no such flag exists


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '{"sha256": 3}', "\xff\xfe"])
def test_damaged_manifest_is_named(tmp_path: Path, text: str) -> None:
    for suffix in (".pt", ".json"):
        shutil.copy(zoo.MODELS_DIR / f"fmnist-tiny8{suffix}", tmp_path / f"fmnist-tiny8{suffix}")
    path = tmp_path / "fmnist-tiny8.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(zoo.WeightsError, match=f"manifest {path} of suite model 'fmnist-tiny8' is damaged"):
        zoo.load("fmnist-tiny8", models_dir=tmp_path)


def test_bad_weights_and_names_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(zoo.WeightsError, match="nope.pt"):
        zoo.load("fmnist-tiny8", tmp_path / "nope.pt")
    vgg = models.build_seeded(0, "vgg_small")
    torch.save(vgg.state_dict(), tmp_path / "vgg.pt")
    with pytest.raises(zoo.WeightsError, match="does not fit"):
        zoo.load("fmnist-tiny8", tmp_path / "vgg.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(zoo.WeightsError, match="cannot read"):
        zoo.load("fmnist-tiny8", tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="no-such-net"):
        zoo.load("no-such-net")
    with pytest.raises(ValueError, match="ImageNet"):
        zoo.load("fmnist-tiny8", "imagenet")
    with pytest.raises(ValueError, match="input size"):
        zoo.load("fmnist-tiny8", input_size=28)


def test_unknown_layer_is_named() -> None:
    zm = zoo.load("fmnist-tiny8")
    with pytest.raises(ValueError, match="'features.9'"):
        zoo.resolve_layer(zm.model, "features.9")
    assert zoo.layer_channels(zm, "0") == 4 and zoo.layer_channels(zm, "5") == 16


def test_rectifier_slope() -> None:
    assert zoo.rectifier_slope(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) == 0.0
    assert zoo.rectifier_slope(nn.Sequential(nn.LeakyReLU(0.2), nn.LeakyReLU(0.2))) == 0.2
    with pytest.raises(ValueError, match="mixed"):
        zoo.rectifier_slope(nn.Sequential(nn.LeakyReLU(0.2), nn.LeakyReLU(0.1)))


def test_random_init_suite_model_depends_on_the_seed_only():
    import torch

    from benchmarks.domain import zoo

    a = zoo.load("fmnist-tiny8", "random-init", seed=3)
    torch.rand(1000)  # the caller's random state must not matter
    b = zoo.load("fmnist-tiny8", "random-init", seed=3)
    c = zoo.load("fmnist-tiny8", "random-init", seed=4)
    wa, wb, wc = (next(m.model.parameters()).detach() for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
