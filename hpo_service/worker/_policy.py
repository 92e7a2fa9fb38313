"""Which objectives a worker agrees to run: the store must not choose its code.

A worker imports whatever ``module:function`` the study names and calls it with the
trial's config, so whoever can write the store could make it run ``builtins:exec``
on a code string. :class:`ObjectivePolicy` bounds that: a worker started with
``--objective REF`` (or ``--allow-module PREFIX``) runs those objectives only. Even
without them it never runs a standard-library function (``builtins``, ``os``,
``subprocess``, ...): no objective lives there, and each runs what a config says.
A refused trial is handed back untouched: no trial is burnt.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo_service.objective._reference import is_standard_library


@dataclass(frozen=True)
class ObjectivePolicy:
    """The objectives a worker runs.

    Attributes:
        objectives: Exact references (``package.module:function``) allowed.
        modules: Module prefixes allowed: ``pkg`` allows ``pkg`` and ``pkg.sub``.
    """

    objectives: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()

    @property
    def bounded(self) -> bool:
        """Whether the worker was told which objectives it may run."""
        return bool(self.objectives or self.modules)

    def refusal(self, reference: str) -> str | None:
        """Why the worker must not run ``reference``, or None if it may.

        Args:
            reference: The study's objective, ``package.module:function``.
        """
        module = reference.partition(":")[0]
        if self.bounded:
            if reference in self.objectives or any(
                module == prefix or module.startswith(prefix + ".")
                for prefix in self.modules
            ):
                return None
            given = [f"--objective {ref}" for ref in self.objectives]
            given += [f"--allow-module {prefix}" for prefix in self.modules]
            return (  # no hint to allow it: the study may name injected code
                f"objective {reference!r} is not one this worker runs (it runs only "
                f"{', '.join(given)})"
            )
        if is_standard_library(module):
            return (
                f"objective {reference!r} is in the standard library, which a worker "
                f"never runs unless started with --objective={reference} or "
                f"--allow-module={module}"
            )
        return None
