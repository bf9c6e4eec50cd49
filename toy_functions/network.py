"""Alias of `toy_functions.certify.network` (the certifier lives in `toy_functions.certify`)."""

import sys

from .certify import network as _module

sys.modules[__name__] = _module
