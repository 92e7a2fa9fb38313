"""hyperopt's ``anneal`` module path.

``import hpo_service.anneal`` gives :mod:`hpo_service.algorithms.anneal` itself.
"""

from __future__ import annotations

import sys

from hpo_service.algorithms import anneal as _module

sys.modules[__name__] = _module
