"""Optuna's ``pruners`` module path.

``from hpo_service.pruners import MedianPruner`` (as ``from optuna.pruners import
MedianPruner``) gives :mod:`hpo_service.algorithms.pruners` itself.
"""

from __future__ import annotations

import sys

from hpo_service.algorithms import pruners as _module

sys.modules[__name__] = _module
