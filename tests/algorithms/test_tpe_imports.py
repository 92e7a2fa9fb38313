"""TPE imports scipy (for the normal CDF and its inverse) at its first modelled
suggestion, not with the module: a study's first, random trials need none of it, so
a short ``hpo-driver start`` (or one with ``--algo rand``) never pays for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Suggests from the prior (3 finished trials), then from the model (12): which of
#: scipy.special was loaded after each, and what was suggested.
_RUN = """
import json, sys
import numpy as np
from hpo_service.algorithms import tpe
from hpo_service.algorithms._history import History
from hpo_service.space import compile_space, hp

space = compile_space({"x": hp.uniform("x", -5, 5), "y": hp.normal("y", 0, 1)})
history, rng, loaded = History(space), np.random.default_rng(0), []
for _ in range(12):
    (params,) = tpe.suggest(space, history, rng, n_startup_jobs=10)
    loaded.append("scipy.special" in sys.modules)
    history.add(params, params["x"] ** 2 + params["y"] ** 2)
print(json.dumps(loaded))
"""


def test_scipy_is_imported_at_the_first_modelled_suggestion():
    run = subprocess.run(
        [sys.executable, "-c", _RUN],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    # the 10 startup suggestions come from the prior; the 11th is modelled
    assert loaded == [False] * 10 + [True] * 2
