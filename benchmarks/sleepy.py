"""Fast box problems with a short, skewed sleep, for end-to-end runs of the driver.

``hpo-driver start --objective benchmarks.sleepy:branin --space
benchmarks.sleepy:branin_space`` (likewise ``hartmann6``, ``rosenbrock5``,
``ackley5``): the loss of :mod:`benchmarks.problems`, returned after a log-normal sleep
of median ``HPO_SLEEP_MEDIAN`` seconds (default 0.02) and log-sd ``HPO_SLEEP_SIGMA``
(default 1.0: a tenth of the trials sleep 3.6x the median, so results arrive out of
order), the distribution of ``parallel_efficiency.py``'s evaluation times. The
environment reaches the objective through ``hpo-worker``.
"""

from __future__ import annotations

import math
import os
import random
import time

from benchmarks.problems import PROBLEMS
from hpo_service import hp

branin_space = PROBLEMS["branin"].make_space(hp)
hartmann6_space = PROBLEMS["hartmann6"].make_space(hp)
rosenbrock5_space = PROBLEMS["rosenbrock5"].make_space(hp)
ackley5_space = PROBLEMS["ackley5"].make_space(hp)


def _sleep() -> None:
    median = float(os.environ.get("HPO_SLEEP_MEDIAN", "0.02"))
    sigma = float(os.environ.get("HPO_SLEEP_SIGMA", "1.0"))
    time.sleep(median * math.exp(sigma * random.gauss(0.0, 1.0)))


def branin(config: list[float]) -> float:
    """Branin's loss (2-D list) after the sleep."""
    _sleep()
    return PROBLEMS["branin"].loss(config)


def hartmann6(config: list[float]) -> float:
    """Hartmann6's loss (6-D list) after the sleep."""
    _sleep()
    return PROBLEMS["hartmann6"].loss(config)


def rosenbrock5(config: list[float]) -> float:
    """Rosenbrock's loss (5-D list) after the sleep."""
    _sleep()
    return PROBLEMS["rosenbrock5"].loss(config)


def ackley5(config: list[float]) -> float:
    """Ackley's loss (5-D list) after the sleep."""
    _sleep()
    return PROBLEMS["ackley5"].loss(config)
