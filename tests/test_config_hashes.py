"""Every committed profile keeps its config hash: run directories, records and baselines under results/
carry these hashes, so a change to how a profile is written (e.g. the one grid shape) must not move them."""
from __future__ import annotations

import pytest

from benchmarks.domain import data as _data
from benchmarks.framework import registry
from benchmarks.framework.config import config_hash, load_profile

#: config_hash of every profile, as committed (results/ and results/baselines/ carry these).
HASHES = {
    "toy-am/smoke": "399e16448deff2e6c76ce9d739b7a79dc21eb0f6add0ac44371c4d485ed806df",
    "toy-am/quick": "6ff3be99c67b0e003f820c1c63b757f521b9151a2d5eb51f1c7cea7fb4113a88",
    "toy-am/full": "b4faaa4ee12678fba8eccf7d1befee2d14acbe2d80db2aad4841d26f0774d6e7",
    "cnn-am/smoke": "6b47396563987ed05c960c1d4fb17f99609fe7e8b04c9a3e5edffb2f9f66bc8f",
    "cnn-am/quick": "d2c4cc4d8da9a92a3132573027c235838b92ef47e469a653f3a4b3a8a5b9bde0",
    "cnn-am/full": "bd377d171403103c5083d5b75f63ebb53d1d5f51162d2169d9472a212b61ec65",
    "training/smoke": "b7b4d9db593215d944aff7bef203d810bf9e484ea95acf3d70412f0964041954",
    "training/quick": "a081316ced1b7d8f541678e61b5a9777a7502ad2c5f8b7e9b3f88b2c2c108132",
    "training/standard": "a04f456b7188287c5809b514314512d7e329fbcc8cbee79789c594b9ca87b6ed",
    "training/secondary": "727ae465b8a3c0e3309844548f8c6f8970c88d2db370487c027bfa04bfa362e3",
    "training/full": "35a5c8276eb799dc9b555f4e61c41aaf52e0c441541bcdb6a2870e4e4195eb07",
}


@pytest.mark.parametrize("name", sorted(HASHES))
def test_profile_hash_is_unchanged(name, monkeypatch):
    experiment, profile = name.split("/")
    monkeypatch.setattr(_data, "require", lambda *a, **k: None)  # the hash does not depend on the data's presence
    module = registry.load(experiment)
    kwargs = {"require_data": False} if experiment == "cnn-am" else {}
    cfg = module.parse_config(load_profile(experiment, profile), data_dir=None, **kwargs)
    assert config_hash(cfg) == HASHES[name]
