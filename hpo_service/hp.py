"""hyperopt's ``hp`` module path.

``import hpo_service.hp`` gives :mod:`hpo_service.space.hp` itself.
"""

from __future__ import annotations

import sys

from hpo_service.space import hp as _module

sys.modules[__name__] = _module
