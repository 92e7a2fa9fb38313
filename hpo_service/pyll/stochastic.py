"""hyperopt's ``pyll.stochastic`` module path: ``sample(space, rng=...)``."""

from __future__ import annotations

from hpo_service.space import sample

__all__ = ["sample"]
