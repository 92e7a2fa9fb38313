"""Fixtures of the deployment checks; helpers live in ``_deploy_support``."""

from __future__ import annotations

from types import ModuleType

import pytest
from _deploy_support import unavailable


@pytest.fixture(scope="session")
def yaml() -> ModuleType:
    """The PyYAML module (skips, or fails when tools are required, without it)."""
    try:
        import yaml as module
    except ImportError:
        unavailable("PyYAML is not installed (pip install PyYAML)")
    return module
