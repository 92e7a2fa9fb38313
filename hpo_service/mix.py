"""hyperopt's ``mix`` module path.

``import hpo_service.mix`` gives :mod:`hpo_service.algorithms.mix` itself.
"""

from __future__ import annotations

import sys

from hpo_service.algorithms import mix as _module

sys.modules[__name__] = _module
