"""Objectives the worker tests import by reference (``tests.helpers.objectives:name``).

Each takes the trial's config (a dict) and misbehaves in one documented way.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def quadratic(config: dict[str, Any]) -> float:
    """``(x - 3) ** 2``: a well-behaved objective."""
    return (config["x"] - 3.0) ** 2


def returns_dict(config: dict[str, Any]) -> dict[str, Any]:
    """A result dict with an extra key and the status given in the config."""
    return {"loss": config.get("loss", 1.0), "status": config["status"], "note": "hi"}


def raises(config: dict[str, Any]) -> float:
    """Raises ``ValueError`` with the config's message."""
    raise ValueError(config.get("message", "boom"))


def returns_own_duration(config: dict[str, Any]) -> dict[str, Any]:
    """A result with the objective's own ``duration`` key (any JSON value)."""
    return {"loss": 1.0, "status": "ok", "duration": config["duration"]}


def returns_nan(config: dict[str, Any]) -> float:
    """Returns a NaN loss."""
    return math.nan


def returns_infinite_losses(config: dict[str, Any]) -> list[float]:
    """Returns two losses, the second infinite."""
    return [0.5, -math.inf]


def returns_bad(config: dict[str, Any]) -> Any:
    """Returns something that is not a loss (a string), or ``config["value"]``."""
    return config.get("value", "not a number")


def returns_unjsonable(config: dict[str, Any]) -> dict[str, Any]:
    """A result dict holding an object that JSON cannot encode."""
    return {"loss": 1.0, "status": "ok", "model": object()}


def hangs(config: dict[str, Any]) -> float:
    """Never returns (until killed)."""
    while True:
        time.sleep(3600)


def marks_then_hangs(config: dict[str, Any]) -> float:
    """Creates the file ``config["marker"]`` (so a test knows the call began),
    then never returns (until killed)."""
    Path(config["marker"]).touch()
    return hangs(config)


def exits(config: dict[str, Any]) -> float:
    """Ends its process at once with ``os._exit(config["code"])``."""
    os._exit(config.get("code", 13))


def segfaults(config: dict[str, Any]) -> float:
    """Kills its own process with SIGSEGV."""
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(10)
    return 0.0


def prints(config: dict[str, Any]) -> float:
    """Writes ``config["lines"]`` lines to stdout and one to stderr, returns 0."""
    for i in range(config.get("lines", 1)):
        print(f"out line {i}")
    print("err line", file=sys.stderr)
    os.write(1, b"raw fd write\n")
    return 0.0


def prints_and_waits(config: dict[str, Any]) -> float:
    """Prints ``waiting``, then waits up to 120 s for file ``config["seen"]`` to exist
    (the test creates it when the line reached it); prints a last partial line.
    Returns 0 if the file appeared, else 1."""
    print("waiting", flush=True)
    print("é \xff", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 120.0
    while not os.path.exists(config["seen"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    sys.stdout.write("no line end")
    return 0.0 if os.path.exists(config["seen"]) else 1.0


def prints_then_exits(config: dict[str, Any]) -> float:
    """Prints a line, then ends its process with ``os._exit(7)``."""
    print("last words")
    os._exit(7)


def allocates(config: dict[str, Any]) -> float:
    """Allocates ``config["nbytes"]`` bytes at once."""
    block = bytearray(config["nbytes"])
    return float(len(block))


def sleeps(config: dict[str, Any]) -> float:
    """Sleeps ``config["seconds"]``, returns ``config.get("loss", seconds)``.

    With ``config["log"]`` (a path) it appends ``start <tag>`` and ``end <tag>`` lines
    to that file, so a test can count how often a trial really ran. With
    ``config["gate"]`` (a path) it returns as soon as that file exists (the test
    creates it), ``seconds`` at most: trials that must be running together are.
    """
    log = config.get("log")
    tag = config.get("tag", "")
    if log:
        with Path(log).open("a") as f:
            f.write(f"start {tag}\n")
    gate = config.get("gate")
    if gate is None:
        time.sleep(config["seconds"])
    deadline = time.monotonic() + config["seconds"]
    while gate is not None and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    if log:
        with Path(log).open("a") as f:
            f.write(f"end {tag}\n")
    return float(config.get("loss", config["seconds"]))


def learning_curve(config: dict[str, Any]) -> float:
    """Reports ``level + 1 / (step + 1)`` for ``steps`` steps, stopping when pruned.

    With ``config["pause"]`` it sleeps that long after each report; with
    ``config["attempts"]`` (a path) it appends a line per run, and each value gets
    ``100 * run number`` added, so a test can tell which attempt reported what.
    """
    from hpo_service import TrialPruned, report, should_prune

    offset = 0.0
    if config.get("attempts"):
        with Path(config["attempts"]).open("a") as f:
            f.write("run\n")
        offset = 100.0 * len(Path(config["attempts"]).read_text().splitlines())
    for step in range(config.get("steps", 10)):
        report(offset + config["level"] + 1.0 / (step + 1), step)
        if should_prune():
            raise TrialPruned()
        time.sleep(config.get("pause", 0.0))
    return config["level"]


def reports_at_gate(config: dict[str, Any]) -> float:
    """Reports 1.0 at step 0, appends ``start`` to file ``config["log"]``, waits (up
    to 120 s) for file ``config["gate"]`` to exist, then reports 0.5 and 0.25 at
    steps 1 and 2 and returns 0.25 (or prunes at step 2 when the pruner says so)."""
    from hpo_service import TrialPruned, report, should_prune

    report(1.0, 0)
    with Path(config["log"]).open("a") as f:
        f.write("start\n")
    deadline = time.monotonic() + 120.0
    while not os.path.exists(config["gate"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    report(0.5, 1)
    report(0.25, 2)
    if should_prune():
        raise TrialPruned()
    return 0.25


def bad_reports(config: dict[str, Any]) -> float:
    """Reports ``config["reports"]`` (``[value, step]`` pairs, ``"nan"``, ``"inf"`` and
    ``"-inf"`` for the non-finite floats; a step given as a string of digits is
    reported as that int: no store holds one beyond 64 bits in a config)."""
    from hpo_service import report

    for value, step in config["reports"]:
        step = int(step) if isinstance(step, str) else step
        report(float(value) if value in ("nan", "inf", "-inf") else value, step)
    return 0.0


NOT_CALLABLE = 42


class Namespace:
    """Holds an objective reachable by a dotted attribute path."""

    @staticmethod
    def quadratic(config: dict[str, Any]) -> float:
        """Same as :func:`quadratic`."""
        return quadratic(config)


def dispatch(config: dict[str, Any]) -> Any:
    """Calls the objective of this module named ``config["call"]`` with the config.

    Lets one study mix well-behaved and misbehaving trials.
    """
    return globals()[config["call"]](config)


def works_in_cwd(config: dict[str, Any]) -> dict[str, Any]:
    """Writes a file in its working directory and returns that directory."""
    Path("output.txt").write_text(str(config.get("x")))
    return {"loss": 0.0, "status": "ok", "cwd": os.getcwd()}


def with_attachments(config: dict[str, Any]) -> dict[str, Any]:
    """A result with binary and text attachments, plus numpy values."""
    import pickle

    import numpy as np

    x = config["x"]
    return {
        "loss": np.float64(x) ** 2,
        "status": "ok",
        "steps": np.arange(3),
        "attachments": {"model": pickle.dumps({"x": x}), "log": f"x={x}\n"},
    }


def returns_big_attachment(config: dict[str, Any]) -> dict[str, Any]:
    """Attachments over the store's limit."""
    return {"loss": 1.0, "attachments": {"huge": bytes(9 * 2**20)}}


def numpy_config(config: dict[str, Any]) -> float:
    """The loss of a config drawn from a space full of numpy constants."""
    assert config["flag"] is True and config["const"] == 4
    return float(config["d"] + config["x"])


def shows_config(config: Any) -> dict[str, Any]:
    """Loss 0; ``shown``: the ``repr`` of the config, its tuples and key types shown."""
    return {"loss": 0.0, "status": "ok", "shown": repr(config)}


def imported(config: list[str]) -> dict[str, Any]:
    """Loss 0; ``imported``: the module names of the config that are imported."""
    return {"loss": 0.0, "imported": [name for name in config if name in sys.modules]}


def constraints_recorded_meanwhile(config: dict[str, Any]) -> dict[str, Any]:
    """As if another worker recorded the study's constraint count while this trial
    ran: record ``config['count']`` for ``config['study']`` through a store handle
    of its own, then return a result without constraints."""
    from hpo_service._common.settings import record_constraint_count
    from hpo_service.store import open_store

    with open_store(config["db"]) as store:
        record_constraint_count(store, config["study"], config["count"])
    return {"loss": 1.0, "status": "ok"}


def returns_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config itself as the result, status ``ok`` (a loss, constraints, ...)."""
    return {"status": "ok", **config}
