"""hyperopt's ``tpe`` module path.

``import hpo_service.tpe`` gives :mod:`hpo_service.algorithms.tpe` itself.
"""

from __future__ import annotations

import sys

from hpo_service.algorithms import tpe as _module

sys.modules[__name__] = _module
