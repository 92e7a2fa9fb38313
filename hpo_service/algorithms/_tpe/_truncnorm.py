"""Vectorised truncated-normal helpers in standard units.

All functions work on arrays of standardised bounds ``a = (low - mu) / sigma`` and
``b = (high - mu) / sigma`` (``a < b``, infinite bounds allowed), and stay accurate
far in the tails by evaluating the normal CDF on the side where it is small.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Intervals entirely beyond this many standard deviations use the asymptotic series.
_DEEP_TAIL = -10.0


def ndtr(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF ``Phi``, elementwise (``scipy.special.ndtr``)."""
    return _special().ndtr(x)  # type: ignore[no-any-return]


def ndtri(p: np.ndarray) -> np.ndarray:
    """The inverse of :func:`ndtr`, elementwise (``scipy.special.ndtri``)."""
    return _special().ndtri(p)  # type: ignore[no-any-return]


@functools.cache
def _special() -> Any:
    """``scipy.special``, imported at the first call, not with TPE: a study's first,
    random trials need none of it, and it costs a new process about 0.15 s of CPU
    (a short ``hpo-driver start`` never models)."""
    from scipy import special

    return special


def log_gauss_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(Phi(b) - Phi(a))`` for the standard normal CDF ``Phi``, elementwise.

    Args:
        a: Lower standardised bounds.
        b: Upper standardised bounds, broadcastable with ``a`` and ``>= a``.

    Returns:
        The log probability mass of ``[a, b]``; ``-inf`` where ``a == b``.
    """
    # Reflect intervals right of 0 so that the CDF is evaluated where it is small.
    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    # Every interval near 0 (most of them) directly; the few deep in the tail are
    # then computed again from the asymptotic series.
    out = _log_mass_near(lo, hi)
    deep = hi < _DEEP_TAIL
    if not deep.any():
        return out
    out = np.asarray(out)  # a 0-d array, not a scalar, for 0-d bounds
    log_hi = _log_ndtr_tail(hi[deep])
    with np.errstate(divide="ignore"):
        ratio = np.exp(_log_ndtr_tail(lo[deep]) - log_hi)
        out[deep] = log_hi + np.log1p(-np.minimum(ratio, 1.0))
    return out


def _log_mass_near(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``log(Phi(hi) - Phi(lo))`` for ``lo <= 0`` (reflected), accurate for
    ``hi >= -10`` (below, ``Phi`` underflows: -inf or imprecise, never NaN)."""
    left = hi <= 0
    p_lo = ndtr(lo)
    # Left of 0: Phi(hi) - Phi(lo); straddling 0: 1 - Phi(lo) - Phi(-hi).
    p_hi = ndtr(np.where(left, hi, -hi))
    with np.errstate(divide="ignore"):
        return np.log(np.where(left, p_hi - p_lo, 1.0 - p_lo - p_hi))


def _log_ndtr_tail(x: np.ndarray) -> np.ndarray:
    """``log(Phi(x))`` for ``x < -10`` from the asymptotic series (error < 1e-8)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = 1.0 / (x * x)
        series = t * (-1 + t * (3 + t * (-15 + t * (105 - 945 * t))))
        out = -0.5 * x * x - np.log(-x) - _LOG_SQRT_2PI + np.log1p(series)
    return np.where(np.isneginf(x), -np.inf, out)


def logpdf(
    x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Log density of ``N(mu, sigma)`` truncated to ``[low, high]`` at ``x``.

    Args:
        x: Points.
        mu: Means.
        sigma: Standard deviations (positive).
        low: Lower bounds (may be ``-inf``).
        high: Upper bounds (may be ``inf``).

    Returns:
        The log density, ``-inf`` outside ``[low, high]``.
    """
    x, mu, sigma = (np.asarray(v, dtype=float) for v in (x, mu, sigma))
    z = (x - mu) / sigma
    log_z = log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    out = -0.5 * z * z - _LOG_SQRT_2PI - np.log(sigma) - log_z
    return np.where((x < low) | (x > high), -np.inf, out)


def sample(
    mu: np.ndarray,
    sigma: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw one value of each truncated normal ``N(mu, sigma)`` on ``[low, high]``.

    Uses the inverse CDF on the side of 0 where the CDF is small, so that kernels whose
    truncation interval sits far in a tail still sample correctly.

    Args:
        mu: Means.
        sigma: Standard deviations (positive).
        low: Lower bounds (may be ``-inf``).
        high: Upper bounds (may be ``inf``).
        rng: Random generator.

    Returns:
        An array shaped like the broadcast of the arguments.
    """
    mu, sigma, low, high = (np.asarray(v, dtype=float) for v in (mu, sigma, low, high))
    shape = np.broadcast_shapes(mu.shape, sigma.shape, low.shape, high.shape)
    a = (low - mu) / sigma
    b = (high - mu) / sigma
    flip = a > 0
    lo = np.where(flip, -b, a)
    hi = np.where(flip, -a, b)
    p_lo = ndtr(lo)
    p_hi = ndtr(hi)
    u = rng.random(shape)
    z = ndtri(p_lo + u * (p_hi - p_lo))
    z = np.clip(np.where(flip, -z, z), a, b)
    return mu + sigma * z
