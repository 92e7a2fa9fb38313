"""An in-process search whose objective reports each step and is pruned early."""

from __future__ import annotations

from typing import Any

import numpy as np

from hpo_service import TrialPruned, Trials, fmin, hp, report


def pruned_search(algo: Any, max_evals: int, steps: int) -> Trials:
    """Run ``fmin`` on ``x`` in [-1, 1]: each trial reports ``x + 1/step`` for steps
    1..``steps`` and is pruned at step 2 when ``x > 0`` (its loss is then the step-2
    value); the others return ``x``. Seeded, so the same call gives the same trials."""

    def stepped(config: dict[str, float]) -> float:
        for step in range(1, steps + 1):
            report(config["x"] + 1.0 / step, step=step)
            if step == 2 and config["x"] > 0:
                raise TrialPruned()
        return config["x"]

    trials = Trials()
    space = {"x": hp.uniform("x", -1, 1)}
    rstate = np.random.default_rng(0)
    fmin(stepped, space, algo=algo, max_evals=max_evals, trials=trials, rstate=rstate,
         show_progressbar=False)  # fmt: skip
    return trials
