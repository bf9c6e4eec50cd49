"""Alias of `toy_functions.certify.regions` (the certifier lives in `toy_functions.certify`)."""

import sys

from .certify import regions as _module

sys.modules[__name__] = _module
