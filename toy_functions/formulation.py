"""Alias of `toy_functions.certify.formulation` (the certifier lives in `toy_functions.certify`)."""

import sys

from .certify import formulation as _module

sys.modules[__name__] = _module
