"""Which code ran a trial: the objective module's file hash and package version.

Computed in the objective's process once per objective (the module is imported
once per process), sent to the worker with the ``started`` frame and stored with
the trial (``Trial.code``), so that a study served by workers with different code
shows it (``hpo-driver status``, the driver's log, the export).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from typing import Any

_HASH_CHARS = 16


@functools.lru_cache(maxsize=64)
def code_identity(reference: str) -> dict[str, Any]:
    """``{"module", "sha256", "version"}`` of the imported objective ``reference``.

    Args:
        reference: ``package.module:function``, already imported.

    Returns:
        The module's name; the first 16 hex digits of the SHA-256 of its source file
        (None for a module without one); and the version of the installed
        distribution that provides it (None for a module loaded from the working
        directory or a path outside any installed distribution).
    """
    name = reference.partition(":")[0]
    path = getattr(sys.modules.get(name), "__file__", None)
    return {"module": name, "sha256": _file_hash(path), "version": _version(name, path)}


def _file_hash(path: str | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:_HASH_CHARS]


def _version(module: str, path: str | None) -> str | None:
    """The version of the distribution providing ``module``, if it is installed."""
    if path is None or _in_working_directory(path):
        return None
    import importlib.metadata  # not at the top: most objectives never need it

    top = module.split(".", 1)[0]
    try:
        names = importlib.metadata.packages_distributions().get(top, [])
        versions = {importlib.metadata.version(n) for n in names}
    except Exception:  # broken metadata must not stop a trial
        return None
    return versions.pop() if len(versions) == 1 else None


def _in_working_directory(path: str) -> bool:
    cwd = os.path.realpath(os.getcwd())
    return os.path.realpath(path).startswith(cwd + os.sep)
