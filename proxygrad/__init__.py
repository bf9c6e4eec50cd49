"""ProxyGrad: activation maximization with proxy gradients (Linse, Barth, Martinetz, IJCNN 2024).

The op (:func:`proxy_relu`, :class:`ProxyReLU`, :func:`rectify`), :class:`proxify` for any model,
backward rules (:mod:`proxygrad.rules`), and the activation-maximization engine (:func:`maximize`)
with its objectives, schedules, regularizers and input parametrizations.
"""
from . import objectives, parametrizations, regularizers, rules, schedules
from .engine import AMResult, NonFiniteError, maximize
from .op import ProxyReLU, proxy_relu, rectify
from .proxify import proxify, rectifier_mode
from .rules import BackwardRule

__version__ = "0.1.0"

__all__ = [
    "rules", "BackwardRule", "ProxyReLU", "proxy_relu", "rectify", "proxify", "rectifier_mode",
    "maximize", "AMResult", "NonFiniteError", "schedules", "objectives", "regularizers", "parametrizations",
]
