"""Run one test against hpo_service and, where it is installed, hyperopt."""

from __future__ import annotations

import contextlib
import importlib
from types import ModuleType

import pytest

import hpo_service


def _libraries() -> list[ModuleType]:
    """hpo_service, and hyperopt when it is installed (same code runs on both)."""
    libraries: list[ModuleType] = [hpo_service]
    with contextlib.suppress(ImportError):
        libraries.append(importlib.import_module("hyperopt"))
    return libraries


#: Parametrize a test's ``lib`` argument with each library.
LIBRARIES = pytest.mark.parametrize(
    "lib", _libraries(), ids=lambda m: m.__name__.split(".")[0]
)
