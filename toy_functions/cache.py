"""Alias of `toy_functions.certify.cache` (the certifier lives in `toy_functions.certify`)."""

import sys

from .certify import cache as _module

sys.modules[__name__] = _module
