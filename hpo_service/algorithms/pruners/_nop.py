"""The default: no pruning (reports are recorded, no trial is stopped)."""

from __future__ import annotations

from typing import Any

from hpo_service.algorithms.pruners._base import (
    BasePruner,
    RunningReports,
    TrialProgress,
)


class NopPruner(BasePruner):
    """Never stops a trial; ``report`` still records intermediate values."""

    name = "none"

    def settings(self) -> dict[str, Any]:
        return {}

    def prune(self, trial: TrialProgress, running: RunningReports) -> bool:
        return False
