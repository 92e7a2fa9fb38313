"""Objectives of the chaos run (:mod:`tests.helpers.chaos`), which log every attempt.

Each call is one *run* (an attempt of a trial in some worker): it draws a run id and
appends JSON lines to the file named by ``HPO_CHAOS_LOG`` (one ``write`` each, under
``PIPE_BUF``, so lines of concurrent runs never interleave): ``start``, each
``report``, and ``pruned`` or ``end``. A trial is known by its params (``level``, or
``x`` and ``y``), the same in every attempt. Reported values carry a run-specific
jitter below 1e-3, so the store's intermediate values tell which run reported them;
a result names its run. The checker then proves that a trial's result and reports
come from one run, the attempt that finished it.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from hpo_service import hp

STEPS = 9
"""Reports of a learning curve (the ASHA study's ``--max-resource``)."""

curve_space = {"level": hp.uniform("level", 0.0, 10.0)}
pair_space = {"x": hp.uniform("x", 0.0, 1.0), "y": hp.uniform("y", 0.0, 0.5)}


def _log(record: dict[str, Any]) -> None:
    line = (json.dumps(record) + "\n").encode()
    fd = os.open(os.environ["HPO_CHAOS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _pause() -> None:
    time.sleep(float(os.environ.get("HPO_CHAOS_PAUSE", "0.05")))


def curve(config: dict[str, Any]) -> dict[str, Any]:
    """A learning curve ``level + 1 / (step + 1)`` over :data:`STEPS` reports,
    stopped when pruned; returns the level and the run id."""
    from hpo_service import TrialPruned, report, should_prune

    run = os.urandom(6).hex()
    jitter = random.Random(run).randrange(1000) * 1e-7
    key = {"level": config["level"], "run": run}
    _log({"event": "start", "pid": os.getpid(), **key})
    for step in range(STEPS):
        value = config["level"] + 1.0 / (step + 1) + jitter
        _log({"event": "report", "step": step, "value": value, **key})
        report(value, step)
        if should_prune():
            _log({"event": "pruned", "step": step, **key})
            raise TrialPruned()
        _pause()
    _log({"event": "end", **key})
    return {"loss": config["level"] + jitter, "status": "ok", "run": run}


def pair(config: dict[str, Any]) -> dict[str, Any]:
    """Two losses that trade off along x (after 8 pauses); names its run."""
    run = os.urandom(6).hex()
    key = {"x": config["x"], "y": config["y"], "run": run}
    _log({"event": "start", "pid": os.getpid(), **key})
    for _ in range(8):  # longer than a pause of a worker past its lease, at times
        _pause()
    x, y = config["x"], config["y"]
    _log({"event": "end", **key})
    return {"loss": [x + y, (1 - x) ** 2 + y], "status": "ok", "run": run}
