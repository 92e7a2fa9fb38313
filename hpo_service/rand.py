"""hyperopt's ``rand`` module path.

``import hpo_service.rand`` gives :mod:`hpo_service.algorithms.rand` itself.
"""

from __future__ import annotations

import sys

from hpo_service.algorithms import rand as _module

sys.modules[__name__] = _module
