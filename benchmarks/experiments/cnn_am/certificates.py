"""The exact certifier's view of a ``cnn-am`` unit: the plain ``nn.Sequential`` computing ``f_u``
(:func:`certifiable`), whether the certifier takes a model (:func:`check_certifier_takes`) and a unit's
certificate as record columns (:func:`certificate`).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.domain import zoo
from benchmarks.framework.config import ConfigError


def certifiable(zm: zoo.ZooModel, kind: str, layer: str | None, index: int) -> tuple[nn.Sequential, int]:
    """A plain ``nn.Sequential`` computing ``f_u`` as output ``index`` for the exact certifier
    (``toy_functions.certify.unit_network``)."""
    from toy_functions.certify import unit_network

    if zm.preprocess is not None or not isinstance(zm.model, nn.Sequential):
        raise ValueError(f"model {zm.name!r} is not a plain nn.Sequential on [-1, 1] inputs; cannot certify")
    return unit_network(zm.model, zm.input_shape, kind, layer, index)


def check_certifier_takes(zm: zoo.ZooModel, kind: str, layer: str | None, index: int, where: str) -> None:
    """ConfigError unless the exact certifier accepts the network of unit ``(kind, layer, index)``:
    its own layer reader (``leaves``, which every solve starts with) decides, without solving."""
    from toy_functions.certify.network import leaves

    try:
        net, _ = certifiable(zm, kind, layer, index)
        leaves(net)
    except ValueError as exc:
        raise ConfigError(f"{where}: certify = true, but the certifier cannot take model {zm.name!r} "
                          f"({'logits' if kind == 'logit' else 'layer ' + repr(layer)}): {exc}") from exc


def certificate(zm: zoo.ZooModel, kind: str, layer: str | None, index: int, time_limit: float,
                cache_dir: Path | None, node_limit: int | None = None) -> tuple[dict[str, Any], torch.Tensor]:
    """The certifier's record columns for one unit and its argmax (the input of shape ``input_shape`` that
    attains ``incumbent``).  With ``node_limit`` the solve is truncated by branch-and-bound nodes, not by
    the clock (``time_limit`` is then unused), so the bound of an unproven unit repeats exactly on any
    machine.  The solver is the suite's (``SUITE_SOLVER``: HiGHS), whatever ``exact_maximum``'s default.
    ``optimum`` (proven units) is ``upper_bound``: the maximum of the float32 forward pass lies in
    ``[incumbent, upper_bound]`` and is known no closer than that, so the optimum is stated by the end that
    no attained value can exceed."""
    from toy_functions import exact_maximum
    from toy_functions.certify.settings import SUITE_SOLVER

    net, out_index = certifiable(zm, kind, layer, index)
    net = copy.deepcopy(net).cpu()  # the certifier reads the layers on the CPU
    cert = exact_maximum(net, zm.input_shape, bounds=(-1.0, 1.0), output_index=out_index,
                         time_limit=None if node_limit is not None else time_limit, node_limit=node_limit,
                         cache_dir=None if cache_dir is None else str(cache_dir), solver=SUITE_SOLVER)
    proven = str(cert.status) == "optimal"
    return {"upper_bound": float(cert.upper_bound), "incumbent": float(cert.value),
            "optimum": float(cert.upper_bound) if proven else math.nan, "cert_status": str(cert.status),
            "mip_gap": float(cert.mip_gap) if cert.mip_gap is not None else math.nan}, cert.argmax
