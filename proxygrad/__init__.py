"""ProxyGrad: activation maximization with proxy gradients (Linse, Barth, Martinetz, IJCNN 2024).

The op (:func:`proxy_relu`, :class:`ProxyReLU`, :func:`rectify`), :class:`proxify` for any model,
backward rules (:mod:`proxygrad.rules`), and the activation-maximization engine (:func:`maximize`).
"""
from . import rules
from .op import ProxyReLU, proxy_relu, rectify
from .proxify import proxify, rectifier_mode
from .rules import BackwardRule

__version__ = "0.1.0"

__all__ = ["rules", "BackwardRule", "ProxyReLU", "proxy_relu", "rectify", "proxify", "rectifier_mode"]

try:  # the engine lands in its own modules; the op and proxify do not depend on it
    from . import objectives, regularizers, schedules
    from .engine import AMResult, NonFiniteError, maximize

    __all__ += ["maximize", "AMResult", "NonFiniteError", "schedules", "objectives", "regularizers"]
except ImportError:  # pragma: no cover - only while the engine is being written
    pass
