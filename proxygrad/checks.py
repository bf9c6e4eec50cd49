"""The one check of a number argument: :func:`check_number`.

Used wherever a number enters the project (the engine's arguments, the recipes' hyper-parameters, the
profiles' values through ``benchmarks.framework.config.Reader``, the suite's network builders), so that
every such value is checked by the same rule and every message names the value and what it got.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["check_number"]


def check_number(name: str, value: Any, *, integer: bool = False, min: float | None = None,
                 max: float | None = None, min_exclusive: bool = False,
                 error: type[ValueError] = ValueError) -> Any:
    """``value`` as an ``int`` (``integer``) or a finite ``float`` in ``[min, max]`` (``(min, max]`` when
    ``min_exclusive``; an open end when ``None``), else ``error`` (a ``ValueError`` subclass) naming ``name``
    and the value. Booleans are never numbers. Messages: ``"<name> must be an integer, got <value>"``,
    ``"... must be a number, got ..."``, ``"... must be finite, got ..."``, ``"... must be >= <min>, got ..."``
    (``>`` when ``min_exclusive``) and ``"... must be <= <max>, got ..."``.
    """
    if integer:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise error(f"{name} must be an integer, got {value!r}")
        number: Any = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise error(f"{name} must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise error(f"{name} must be finite, got {value!r}")
    if min is not None and (number <= min if min_exclusive else number < min):
        raise error(f"{name} must be {'>' if min_exclusive else '>='} {min}, got {value!r}")
    if max is not None and number > max:
        raise error(f"{name} must be <= {max}, got {value!r}")
    return number
