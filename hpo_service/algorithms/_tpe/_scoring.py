"""Log densities of candidates under one or several TPE densities of a group, at once.

TPE scores the same candidates under its good and bad densities (and, with pending
points, a third). Each density is a weighted mixture of product kernels (see
:mod:`.parzen_estimator`); here the kernels of all the densities are stacked, their
per-parameter terms computed together, and each density's log-sum-exp taken over its
own kernels. So the many small array operations per parameter are paid once per
suggestion, not once per density. Every term is computed element by element exactly
as for a density scored alone, so the result does not depend on the company a density
is scored in.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hpo_service.algorithms._tpe import _truncnorm

if TYPE_CHECKING:
    from hpo_service.algorithms._tpe.parzen_estimator import (
        Candidates,
        GroupLayout,
        ParzenEstimator,
    )

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class _Kernels:
    """The kernels of several densities of one group, stacked (rows: kernels)."""

    layout: GroupLayout
    mus: np.ndarray  # (K, n_numeric) normalised means
    sigmas: np.ndarray  # (K, n_numeric) bandwidths
    log_tables: np.ndarray  # (K, sum of options) categorical log probabilities
    log_weights: np.ndarray  # (K,) each kernel's log weight in its own density
    spans: list[tuple[int, int]]  # each density's rows


def log_pdfs(
    densities: Sequence[ParzenEstimator], candidates: Candidates
) -> list[np.ndarray]:
    """Log density (log mass for quantised and categorical parts) of each candidate
    under each of ``densities``.

    Args:
        densities: Densities over the same group layout.
        candidates: ``m`` points of that group.

    Returns:
        One ``(m,)`` array per density, in order.
    """
    kernels = _stack(densities)
    joint = _log_dense(kernels, candidates)
    joint += kernels.log_weights[None, :]
    if kernels.layout.coarse_idx.size:
        joint += _log_coarse(kernels, candidates)
    if kernels.layout.n_options.size:
        joint += _log_categorical(kernels, candidates.options)
    return [_logsumexp(joint[:, start:stop]) for start, stop in kernels.spans]


def _stack(densities: Sequence[ParzenEstimator]) -> _Kernels:
    names = ("mus", "sigmas", "log_tables", "log_weights")
    if len(densities) == 1:
        arrays = [getattr(densities[0], name) for name in names]
    else:
        arrays = [np.concatenate([getattr(d, n) for d in densities]) for n in names]
    stops = list(itertools.accumulate(d.n_components for d in densities))
    spans = list(zip([0, *stops[:-1]], stops, strict=True))
    return _Kernels(densities[0].layout, *arrays, spans=spans)


def _log_dense(kernels: _Kernels, candidates: Candidates) -> np.ndarray:
    """Log density of the continuous and fine quantised columns ``(m, K)``."""
    idx = kernels.layout.dense_idx
    if idx.size == 0:
        return np.zeros((candidates.raw.shape[0], kernels.mus.shape[0]))
    x, log_width = kernels.layout.dense_coords(candidates)
    inv_var = kernels.sigmas[:, idx] ** -2
    mus = kernels.mus[:, idx]
    # sum_d (x_d - mu_kd)^2 / s_kd^2, expanded so that BLAS does the heavy lifting.
    sq = (x * x) @ inv_var.T - 2.0 * x @ (mus * inv_var).T
    sq += np.sum(mus * mus * inv_var, axis=1)[None, :]
    sigmas = kernels.sigmas[:, idx]
    layout = kernels.layout
    log_mass = _log_mass(mus, sigmas, layout.low[idx], layout.high[idx])
    norm = np.sum(np.log(sigmas) + log_mass, axis=1)
    # -0.5 * max(sq, 0) - norm + (log_width - d log(sqrt(2 pi))), in place.
    np.maximum(sq, 0.0, out=sq)
    sq *= -0.5
    sq -= norm[None, :]
    sq += (log_width - idx.size * _LOG_SQRT_2PI)[:, None]
    return sq


def _log_coarse(kernels: _Kernels, candidates: Candidates) -> np.ndarray:
    """Exact log mass of each candidate's rounding bins under each kernel ``(m, K)``.

    Candidates and kernels both sit on a coarse grid, so each column is scored once
    per distinct (candidate bin, kernel mean and width) pair, every column in one
    call of :func:`_truncnorm.log_gauss_mass`, and the masses are then gathered.
    """
    layout = kernels.layout
    idx = layout.coarse_idx
    bins = _coarse_bins(layout, candidates)
    mus, sigmas = kernels.mus.T[idx], kernels.sigmas.T[idx]  # (C, K)
    pairs = _distinct_per_row(mus, sigmas)
    pair_mu, pair_sigma = mus[pairs.row, pairs.first], sigmas[pairs.row, pairs.first]
    # Every (bin, pair) of the same column, bin by bin: element ``bin_start[b] + p``
    # is bin ``b`` under its column's ``p``-th pair.
    per_bin = pairs.count[bins.col]
    bin_start = np.cumsum(per_bin) - per_bin
    elem_bin = np.repeat(np.arange(per_bin.size), per_bin)
    pair_start = np.cumsum(pairs.count) - pairs.count
    elem_pair = (pair_start[bins.col] - bin_start)[elem_bin] + np.arange(elem_bin.size)
    mu, sigma = pair_mu[elem_pair], pair_sigma[elem_pair]
    mass = _truncnorm.log_gauss_mass(
        (bins.lo[elem_bin] - mu) / sigma, (bins.hi[elem_bin] - mu) / sigma
    )
    low, high = layout.low[idx][pairs.row], layout.high[idx][pairs.row]
    mass -= _log_mass(pair_mu, pair_sigma, low, high)[elem_pair]
    by_bin = mass[bin_start[:, None] + pairs.number[bins.col]]  # (bins, K)
    # Summed column by column (no mass is -0.0, so starting from the first column
    # gives what starting from zeros gives).
    out = by_bin.take(bins.of[0], axis=0)
    for of in bins.of[1:]:
        out += by_bin.take(of, axis=0)
    return out


@dataclass(frozen=True)
class _Distinct:
    """The distinct entries of each row of an array ``(C, n)``, row by row."""

    first: np.ndarray  # (D,) where each distinct entry first occurs in its row
    row: np.ndarray  # (D,) its row
    count: np.ndarray  # (C,) distinct entries per row
    number: np.ndarray  # (C, n) each entry's distinct number within its row


def _distinct_per_row(
    primary: np.ndarray, secondary: np.ndarray | None = None
) -> _Distinct:
    """Distinct values of each row of ``primary`` (or distinct ``(primary,
    secondary)`` pairs), numbered in ascending order of ``primary``.

    Entries are sorted by ``primary`` only (stably), so a pair may be listed twice
    when entries with the same ``primary`` but another ``secondary`` lie between its
    entries: harmless for the callers (a mass computed twice), cheaper than sorting
    by both.
    """
    n_rows, n = primary.shape
    order = np.argsort(primary, axis=1, kind="stable")
    flat = order + (np.arange(n_rows) * n)[:, None]  # into the raveled arrays
    ordered = primary.take(flat)
    new = np.empty(primary.shape, dtype=bool)
    new[:, :1] = True
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new[:, 1:])
    if secondary is not None:
        ordered = secondary.take(flat)
        new[:, 1:] |= ordered[:, 1:] != ordered[:, :-1]
    number = np.empty(primary.shape, dtype=np.intp)
    np.put(number, flat, np.cumsum(new, axis=1) - 1)
    row, at = np.nonzero(new)
    return _Distinct(order[row, at], row, new.sum(axis=1), number)


@dataclass(frozen=True)
class _Bins:
    """The distinct rounding bins of the candidates in each coarse column."""

    lo: np.ndarray  # (B,) normalised lower edges, column by column
    hi: np.ndarray  # (B,) upper edges
    col: np.ndarray  # (B,) their column (position in ``coarse_idx``)
    of: np.ndarray  # (C, m) each candidate's bin (index into ``lo``) per column


def _coarse_bins(layout: GroupLayout, candidates: Candidates) -> _Bins:
    """The distinct rounding bins of the candidates' coarse columns (computed once per
    ``candidates``, kept in ``candidates.derived``)."""
    if "coarse" not in candidates.derived:
        idx = layout.coarse_idx
        values = candidates.values.T[idx]  # (C, m)
        distinct = _distinct_per_row(values)
        starts = np.cumsum(distinct.count) - distinct.count
        lo, hi = layout.bin_edges(
            values[distinct.row, distinct.first], idx[distinct.row]
        )
        of = distinct.number + starts[:, None]
        candidates.derived["coarse"] = _Bins(lo, hi, distinct.row, of)
    return candidates.derived["coarse"]


def _log_mass(
    mus: np.ndarray, sigmas: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Log mass of each kernel ``N(mu, sigma)`` inside its bounds ``[low, high]``.

    Every mean lies inside its bounds, so each truncation interval straddles it.
    """
    return np.log1p(
        -_truncnorm.ndtr((low - mus) / sigmas) - _truncnorm.ndtr((mus - high) / sigmas)
    )


def _log_categorical(kernels: _Kernels, options: np.ndarray) -> np.ndarray:
    """Summed log probabilities of the candidates' options ``(m, K)``."""
    cols = options + kernels.layout.offsets[None, :]
    picked = kernels.log_tables[:, cols.ravel()].reshape(-1, *cols.shape)
    return picked.sum(axis=2).T


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """Row-wise ``log(sum(exp(x)))``, safe for rows that are all ``-inf``."""
    top = np.max(x, axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    shifted = x - top[:, None]
    with np.errstate(divide="ignore"):
        return top + np.log(np.sum(np.exp(shifted, out=shifted), axis=1))


__all__ = ["log_pdfs"]
