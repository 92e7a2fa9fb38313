"""Mixtures of product kernels over one group of parameters (the TPE densities).

A :class:`GroupLayout` fixes how the parameters of one group map to arrays:

- numeric parameters (``uniform``/``normal``, with ``log``/``q``/``is_int``) live in
  *normalised base space*: ``log`` is undone, then a bounded parameter is mapped onto
  ``[0, 1]`` and an unbounded (normal) one is standardised by its prior;
- categorical parameters (``choice`` and ``randint``) are option indices ``0..C-1``.

With ``whole_end_bins`` a bounded quantised parameter's support is widened by half a
step beyond its end values, so that the end values' rounding bins are whole in every
density (as Optuna's ``suggest_int`` draws them) instead of clipped to the declared
bounds (hyperopt's definition, which gives them half a bin); proposals are still
rounded and clipped to the space's values.

A :class:`ParzenEstimator` is a weighted mixture with one component per observation plus
one prior component. Each component is a product over the group's parameters of a
truncated normal (continuous), the normal's probability mass of the value's rounding bin
(quantised) or a smoothed one-hot table (categorical). Everything is vectorised over
candidates x components x parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo_service.algorithms._tpe import _scoring, _truncnorm
from hpo_service.space._spec import ParamSpec

# A rounding bin at most this wide (normalised units) is at most a quarter of the
# narrowest kernel for bandwidth floors >= 0.3 (bandwidths >= floor / 100), so
# density x width is exact to well under 1% there.
_FINE_BIN = 0.00075
# Where unbounded observations that are not finite are placed (in prior sigmas).
_FAR = 50.0
# Scott's rule constant (1.06 for a Gaussian) halved: tuned on benchmarks/.
_SCOTT_SCALE = 0.5


@dataclass(frozen=True)
class Candidates:
    """Points of one group: raw numeric draws, their values, option indices.

    ``derived`` keeps what the group's layout computes from the points (scoring
    coordinates, rounding bins), so that the densities scoring the same candidates
    compute it once.
    """

    raw: np.ndarray  # (m, n_numeric) normalised base-space draws (before rounding)
    values: np.ndarray  # (m, n_numeric) parameter values (exp'ed and rounded)
    options: np.ndarray  # (m, n_categorical) option indices
    derived: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )


class GroupLayout:
    """How the parameters of one group are laid out as arrays (see module docstring)."""

    def __init__(
        self, specs: Sequence[ParamSpec], whole_end_bins: bool = False
    ) -> None:
        self.specs = tuple(specs)
        self.whole_end_bins = whole_end_bins
        self.numeric = tuple(s for s in specs if s.kind in ("uniform", "normal"))
        self.categorical = tuple(s for s in specs if s.kind in ("choice", "randint"))
        self._init_numeric()
        self._init_categorical()

    def _init_numeric(self) -> None:
        specs = self.numeric
        bounded = np.array([s.kind == "uniform" for s in specs], dtype=bool)
        self.center = np.array([_center(s) for s in specs], dtype=float)
        self.scale = np.array([_scale(s) for s in specs], dtype=float)
        # The smallest and largest values a proposal may take (rounded ones clipped).
        self.value_low = np.full(len(specs), -np.inf)
        self.value_high = np.full(len(specs), np.inf)
        if self.whole_end_bins:
            self._widen_end_bins()
        self.low = np.where(bounded, 0.0, -np.inf)
        self.high = np.where(bounded, 1.0, np.inf)
        self.prior_mu = np.where(bounded, 0.5, 0.0)
        self.log = np.array([s.log for s in specs], dtype=bool)
        self.q = np.array([_effective_q(s) for s in specs], dtype=float)
        self.is_int = np.array([s.is_int for s in specs], dtype=bool)
        self.quantised = ~np.isnan(self.q)
        # Bins much narrower than the narrowest kernel are scored as density x width.
        fine = self.quantised & ~self.log & (self.q / self.scale <= _FINE_BIN)
        self.fine = fine
        self.dense_idx = np.flatnonzero(~self.quantised | fine)
        self.coarse_idx = np.flatnonzero(self.quantised & ~fine)

    def _widen_end_bins(self) -> None:
        """Support of each bounded quantised parameter: its end values' whole bins."""
        for j, spec in enumerate(self.numeric):
            ends = _whole_bin_support(spec)
            if ends is not None:
                lo, hi, self.value_low[j], self.value_high[j] = ends
                self.center[j], self.scale[j] = lo, hi - lo

    def _init_categorical(self) -> None:
        priors = [_option_prior(s) for s in self.categorical]
        self.n_options = np.array([p.size for p in priors], dtype=int)
        self.offsets = np.cumsum(self.n_options) - self.n_options
        self.option_prior = priors
        self._option_rows: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}
        self.option_low = np.array(
            [s.low if s.kind == "randint" else 0 for s in self.categorical], dtype=float
        )
        # Each column of a table of options: its categorical parameter, and the
        # number of options of that parameter.
        self._table_param = np.repeat(np.arange(len(priors)), self.n_options)
        self._table_width = self.n_options[self._table_param]

    def option_tables(self, options: np.ndarray, prior_weight: float) -> np.ndarray:
        """Log probability tables of the categorical parameters, one row per kernel.

        Args:
            options: Option indices of ``k`` observations ``(k, n_categorical)``.
            prior_weight: Weight of the prior (also the smoothing strength).

        Returns:
            ``(k + 1, sum of n_options)``: per parameter, row ``i`` holds the log
            probabilities of its options under observation ``i``'s kernel (the prior,
            weighted ``prior_weight * n_options / (k + 1)``, plus 1 on the observed
            option, normalised); the last row is the prior. Kernels on the same
            option share a row, so the distinct rows are computed once per ``(k,
            prior_weight)`` (successive suggestions share them) and gathered.
        """
        k = options.shape[0]
        flat, start = self._distinct_option_rows(k, prior_weight)
        kinds = np.empty((k + 1, self.n_options.size), dtype=np.intp)
        kinds[:k] = options
        kinds[k] = self.n_options  # the prior's row
        return flat.take(kinds[:, self._table_param] * self._table_width + start)

    def _distinct_option_rows(
        self, k: int, prior_weight: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Every parameter's ``(n_options + 1, n_options)`` rows (see
        :meth:`option_tables`) raveled end to end, and where each table column's
        entry for option 0 sits in them (cached)."""
        key = (k, prior_weight)
        cached = self._option_rows.get(key)
        if cached is None:
            if len(self._option_rows) > 1024:
                self._option_rows.clear()
            rows = [_option_rows(p, k, prior_weight).ravel() for p in self.option_prior]
            sizes = np.array([r.size for r in rows], dtype=np.intp)
            base = (np.cumsum(sizes) - sizes)[self._table_param]
            within = np.arange(self._table_param.size) - self.offsets[self._table_param]
            flat = np.concatenate(rows) if rows else np.empty(0)
            cached = self._option_rows[key] = (flat, base + within)
        return cached

    def observations(
        self, columns: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Internal arrays from recorded values, one column per spec of ``self.specs``.

        Args:
            columns: Recorded values of each parameter (all rows active).

        Returns:
            Normalised numeric observations ``(k, n_numeric)`` clipped to the
            bounds, and option indices ``(k, n_categorical)``.
        """
        by_label = dict(zip((s.label for s in self.specs), columns, strict=True))
        k = len(columns[0]) if columns else 0
        values = np.empty((k, len(self.numeric)))
        for j, spec in enumerate(self.numeric):
            values[:, j] = by_label[spec.label]
        options = np.empty((k, len(self.categorical)), dtype=np.intp)
        for j, spec in enumerate(self.categorical):
            options[:, j] = by_label[spec.label]
        options -= self.option_low.astype(np.intp)
        return self.normalise(values), options

    def no_observations(self) -> tuple[np.ndarray, np.ndarray]:
        """What :meth:`observations` gives for no rows (new empty arrays)."""
        return (
            np.empty((0, len(self.numeric))),
            np.empty((0, len(self.categorical)), dtype=np.intp),
        )

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Map parameter values to clipped normalised base space."""
        q_half = np.where(self.quantised, 0.5 * self.q, 0.0)
        with np.errstate(divide="ignore"):
            # A log parameter rounded down to 0 is placed at the top of its bin.
            base = np.where(self.log, np.log(np.maximum(values, q_half)), values)
        x = np.clip((base - self.center) / self.scale, self.low, self.high)
        # An unbounded parameter recorded at 0 (log) or at +-inf stays finite.
        return np.nan_to_num(x, nan=0.0, neginf=-_FAR, posinf=_FAR)

    def to_values(self, raw: np.ndarray) -> np.ndarray:
        """Parameter values (exp'ed, rounded) of normalised base-space draws."""
        values = self.center + self.scale * raw
        with np.errstate(over="ignore"):
            values = np.where(self.log, np.exp(values), values)
        q = np.where(self.quantised, self.q, 1.0)
        rounded = np.round(values / q) * q
        if self.whole_end_bins:
            rounded = np.clip(rounded, self.value_low, self.value_high)
        # + 0.0 turns the -0.0 that rounding a small negative value gives into 0.0
        return np.where(self.quantised, rounded, values) + 0.0

    def bin_edges(
        self, values: np.ndarray, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalised, clipped edges of the rounding bins of columns ``idx``.

        Args:
            values: Parameter values ``(m, len(idx))``.
            idx: Numeric (quantised) columns the values belong to.

        Returns:
            Lower and upper bin edges in normalised base space.
        """
        q = self.q[idx]
        lo, hi = values - 0.5 * q, values + 0.5 * q
        is_log = self.log[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = np.where(is_log, np.log(np.maximum(lo, 0.0)), lo)
            hi = np.where(is_log, np.log(np.maximum(hi, 0.0)), hi)
        center, scale = self.center[idx], self.scale[idx]
        low, high = self.low[idx], self.high[idx]
        lo = np.clip((lo - center) / scale, low, high)
        hi = np.clip((hi - center) / scale, low, high)
        return lo, hi

    def dense_coords(self, candidates: Candidates) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of the densely scored columns and the summed log bin widths.

        Continuous columns use the raw draw; fine quantised columns the middle of the
        (clipped) rounding bin, whose log width is added to the density to give a mass.
        Computed once per ``candidates`` (kept in ``candidates.derived``).
        """
        if "dense" not in candidates.derived:
            candidates.derived["dense"] = self._dense_coords(candidates)
        return candidates.derived["dense"]

    def _dense_coords(self, candidates: Candidates) -> tuple[np.ndarray, np.ndarray]:
        x = candidates.raw[:, self.dense_idx].copy()
        fine_cols = np.flatnonzero(self.fine[self.dense_idx])
        if fine_cols.size == 0:
            return x, np.zeros(x.shape[0])
        idx = self.dense_idx[fine_cols]
        lo, hi = self.bin_edges(candidates.values[:, idx], idx)
        x[:, fine_cols] = 0.5 * (lo + hi)
        with np.errstate(divide="ignore"):
            return x, np.sum(np.log(hi - lo), axis=1)

    def to_params(self, candidates: Candidates, index: int) -> dict[str, Any]:
        """The params ``{label: value}`` of candidate ``index``, typed by kind."""
        out: dict[str, Any] = {}
        for j, spec in enumerate(self.numeric):
            value = float(candidates.values[index, j])
            out[spec.label] = round(value) if spec.is_int else value
        for j, spec in enumerate(self.categorical):
            out[spec.label] = int(candidates.options[index, j] + self.option_low[j])
        return {s.label: out[s.label] for s in self.specs}


class ParzenEstimator:
    """A weighted mixture of product kernels, one per observation plus the prior.

    Args:
        layout: The group's layout.
        numeric: Normalised numeric observations ``(k, n_numeric)``.
        options: Option indices ``(k, n_categorical)``.
        weights: Non-negative weight of each observation ``(k,)``.
        prior_weight: Weight of the prior component (relative to an observation of
            weight 1) and strength of the categorical smoothing.
        consider_endpoints: Whether the bounds count as neighbours when choosing the
            bandwidths of the outermost observations.
        bandwidth_factor: Multiplier applied to every bandwidth.
        bandwidth_floor: Bandwidths are at least ``bandwidth_floor / min(100, k + 1)``
            (normalised units): the "magic clip" of hyperopt, scaled; one number,
            or one per numeric dimension ``(n_numeric,)``.
        bandwidth: ``"neighbour"`` (each kernel as wide as the larger gap to its sorted
            neighbours, per dimension), ``"scott"`` (one width per dimension,
            ``0.5 * std * k ** (-1 / (d + 4))``) or ``"scott_gap"`` (each kernel the
            wider of the two, per dimension).
        sigmas: One bandwidth per numeric dimension ``(n_numeric,)`` shared by every
            kernel, instead of the ``bandwidth`` rule (still floored).
        quantised_gaps: Give the quantised dimensions (``uniformint``, ``q*``)
            per-kernel widths by the ``"neighbour"`` rule (the larger gap to a sorted
            neighbour, still floored) whatever ``bandwidth`` and ``sigmas`` say: a
            value observed many times gets kernels narrower than its rounding bin,
            as in Optuna's univariate Parzen estimator.
        continuous_gaps: The same for the continuous (not quantised) numeric
            dimensions.
        gap_rows: Observations ``(k,)`` (bool) whose continuous dimensions take
            the neighbour-gap width among all ``k`` observations (times
            ``bandwidth_factor``, still floored) whatever the other rules give
            them, e.g. the pending points of a bad density (``liar_width="gaps"``:
            as in Optuna's univariate Parzen estimator, which gives every kernel
            of its bad set, running trials included, its gap width); None: none.
        gap_floor: The continuous widths of the ``gap_rows`` are at least
            ``gap_floor / min(100, k + 1)`` (normalised units) besides
            ``bandwidth_floor``'s floor; with ``gap_floor=1.0`` that is Optuna's
            "magic clip", 1/100 of the range from 99 observations on (0: no
            floor of their own).
    """

    def __init__(
        self,
        layout: GroupLayout,
        numeric: np.ndarray,
        options: np.ndarray,
        weights: np.ndarray,
        *,
        prior_weight: float = 1.0,
        consider_endpoints: bool = False,
        bandwidth_factor: float = 1.0,
        bandwidth_floor: float | np.ndarray = 1.0,
        bandwidth: str = "neighbour",
        sigmas: np.ndarray | None = None,
        quantised_gaps: bool = False,
        continuous_gaps: bool = False,
        gap_rows: np.ndarray | None = None,
        gap_floor: float = 0.0,
    ) -> None:
        self.layout = layout
        k = numeric.shape[0]
        w = np.empty(k + 1)
        w[:k] = weights
        w[k] = prior_weight if k else 1.0
        self.weights = w / np.add.reduce(w)
        self.log_weights = np.log(self.weights)
        if sigmas is None and bandwidth == "scott" and k >= 2:
            sigmas = _scott_width(numeric) * bandwidth_factor  # shared by all kernels
        elif sigmas is None and bandwidth == "scott_gap" and k >= 2:
            sigmas = _scott_gap_widths(layout, numeric, consider_endpoints)
            sigmas = sigmas * bandwidth_factor
        elif sigmas is None:
            sigmas = _bandwidths(layout, numeric, consider_endpoints) * bandwidth_factor
        gap_dims = _gap_dims(layout, quantised_gaps, continuous_gaps)
        if k >= 1 and gap_dims.any():
            sigmas = _with_gaps(layout, numeric, sigmas, consider_endpoints, gap_dims)
            sigmas = sigmas * np.where(gap_dims, bandwidth_factor, 1.0)
        if gap_rows is not None and gap_rows.any():
            gaps = _bandwidths(layout, numeric, consider_endpoints) * bandwidth_factor
            sigmas = _rows_with_gaps(layout, sigmas, gaps, gap_rows)
        floor = bandwidth_floor / min(100.0, k + 1.0)
        self.mus = np.concatenate([numeric, layout.prior_mu[None, :]])
        self.sigmas = np.ones_like(self.mus)
        self.sigmas[:k] = np.minimum(np.maximum(sigmas, floor), 1.0)
        if gap_rows is not None and gap_floor > 0 and gap_rows.any():
            rows = gap_rows[:, None] & ~layout.quantised[None, :]
            clip = min(gap_floor / min(100.0, k + 1.0), 1.0)
            self.sigmas[:k] = np.where(
                rows, np.maximum(self.sigmas[:k], clip), self.sigmas[:k]
            )
        self.log_tables = layout.option_tables(options, prior_weight)

    @property
    def n_components(self) -> int:
        """Number of mixture components (observations + prior)."""
        return self.weights.size

    def sample(
        self,
        rng: np.random.Generator,
        size: int,
        *,
        with_prior: bool = True,
        marginal: bool = False,
    ) -> Candidates:
        """Draw ``size`` points from the mixture; ``with_prior=False`` leaves the
        prior component out of the draws (unless it is the only one);
        ``marginal=True`` picks the component of every parameter of a point
        independently (hyperopt's per-parameter draws), instead of one per point.
        """
        weights = self.weights
        if not with_prior and weights.size > 1:
            weights = weights.copy()
            weights[-1] = 0.0
            weights /= np.add.reduce(weights)
        layout = self.layout
        if marginal:
            return self._sample_marginal(rng, size, weights)
        comp = _draw_components(weights, size, rng)
        raw = _truncnorm.sample(
            self.mus[comp], self.sigmas[comp], layout.low, layout.high, rng
        )
        return self._finish(rng, size, raw, comp[:, None])

    def sample_blocks(
        self,
        rng: np.random.Generator,
        n_blocks: int,
        n_whole: int,
        n_marginal: int,
        *,
        with_prior: bool = True,
    ) -> Candidates:
        """``n_blocks`` blocks of ``n_whole + n_marginal`` points: in each block
        first ``n_whole`` whole-point draws (every parameter from one component, as
        multivariate TPE draws; Falkner et al. 2018, BOHB), then ``n_marginal``
        per-parameter draws (as ``sample(marginal=True)``), so that a pick among a
        block's points sees both kinds. With ``n_marginal == 0`` (``n_whole == 0``)
        the draws are those of ``sample(rng, n_blocks * n_whole)``
        (``marginal=True``), number for number.

        Raises:
            ValueError: If ``n_whole`` or ``n_marginal`` is negative.
        """
        if n_whole < 0 or n_marginal < 0:
            raise ValueError(
                "`n_whole >= 0 and n_marginal >= 0` must hold, but got "
                f"n_whole={n_whole}, n_marginal={n_marginal}"
            )
        if n_marginal == 0 or n_whole == 0:
            size = n_blocks * (n_whole + n_marginal)
            return self.sample(
                rng, size, with_prior=with_prior, marginal=n_marginal > 0
            )
        whole = self.sample(rng, n_blocks * n_whole, with_prior=with_prior)
        marginal = self.sample(
            rng, n_blocks * n_marginal, with_prior=with_prior, marginal=True
        )
        parts = ((whole, n_whole), (marginal, n_marginal))

        def rows(name: str) -> np.ndarray:
            width = getattr(whole, name).shape[1]  # 0 without such parameters
            blocks = [getattr(c, name).reshape(n_blocks, n, width) for c, n in parts]
            joined = np.concatenate(blocks, axis=1)
            return joined.reshape(n_blocks * (n_whole + n_marginal), width)

        return Candidates(
            raw=rows("raw"), values=rows("values"), options=rows("options")
        )

    def _sample_marginal(
        self, rng: np.random.Generator, size: int, weights: np.ndarray
    ) -> Candidates:
        """``size`` points, each parameter from its own component draw."""
        layout = self.layout
        n_numeric, n_cat = layout.low.size, layout.n_options.size
        comp = _draw_components(weights, size * (n_numeric + n_cat), rng)
        comp = comp.reshape(size, n_numeric + n_cat)
        dims = np.arange(n_numeric)
        numeric = comp[:, :n_numeric]
        raw = _truncnorm.sample(
            self.mus[numeric, dims],
            self.sigmas[numeric, dims],
            layout.low,
            layout.high,
            rng,
        )
        return self._finish(rng, size, raw, comp[:, n_numeric:])

    def _finish(
        self, rng: np.random.Generator, size: int, raw: np.ndarray, comp: np.ndarray
    ) -> Candidates:
        """The candidates of numeric draws ``raw``, their options drawn from the
        tables of components ``comp`` (``(size, 1)``: one per point, or ``(size,
        n_categorical)``: one per option parameter)."""
        layout = self.layout
        options = np.empty((size, layout.n_options.size), dtype=np.intp)
        for j, (offset, n) in enumerate(
            zip(layout.offsets, layout.n_options, strict=True)
        ):
            rows = comp[:, min(j, comp.shape[1] - 1)]
            cdf = np.cumsum(np.exp(self.log_tables[rows, offset : offset + n]), axis=1)
            u = rng.random(size) * cdf[:, -1]
            options[:, j] = np.minimum((u[:, None] >= cdf).sum(axis=1), n - 1)
        return Candidates(raw=raw, values=layout.to_values(raw), options=options)

    def log_pdf(self, candidates: Candidates) -> np.ndarray:
        """Log density (log mass for quantised and categorical parts) per candidate.

        To score the same candidates under several densities, one call of
        :func:`._scoring.log_pdfs` is cheaper.
        """
        return _scoring.log_pdfs([self], candidates)[0]


def _draw_components(
    weights: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` component numbers drawn with probabilities ``weights`` (summing to 1)
    by inverting their cumulative sum: the draws of ``rng.choice(weights.size, size,
    p=weights)``, without its checks of ``weights``."""
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return cdf.searchsorted(rng.random(size), side="right")


def _bandwidths(
    layout: GroupLayout, mus: np.ndarray, consider_endpoints: bool
) -> np.ndarray:
    """Per-observation, per-dimension bandwidth: the larger gap to a neighbour."""
    k = mus.shape[0]
    if k == 0:
        return np.empty((0, mus.shape[1]))
    order = np.argsort(mus, axis=0, kind="stable")
    padded = np.vstack(
        [layout.low, np.take_along_axis(mus, order, axis=0), layout.high]
    )
    left = padded[1:-1] - padded[:-2]
    right = padded[2:] - padded[1:-1]
    sorted_sigmas = np.maximum(left, right)
    if not consider_endpoints and k >= 2:
        sorted_sigmas[0] = right[0]
        sorted_sigmas[-1] = left[-1]
    sigmas = np.empty_like(sorted_sigmas)
    np.put_along_axis(sigmas, order, sorted_sigmas, axis=0)
    return sigmas


def _gap_dims(
    layout: GroupLayout, quantised_gaps: bool, continuous_gaps: bool
) -> np.ndarray:
    """Which numeric dimensions get per-kernel neighbour-gap widths ``(d,)``."""
    dims = np.zeros(layout.quantised.shape, dtype=bool)
    if quantised_gaps:
        dims |= layout.quantised
    if continuous_gaps:
        dims |= ~layout.quantised
    return dims


def _with_gaps(
    layout: GroupLayout,
    mus: np.ndarray,
    sigmas: np.ndarray,
    consider_endpoints: bool,
    gap_dims: np.ndarray,
) -> np.ndarray:
    """``sigmas`` ``(d,)`` or ``(k, d)`` as per-kernel widths ``(k, d)``, the
    dimensions ``gap_dims`` replaced by their neighbour-gap widths (before
    ``bandwidth_factor``; the others unchanged)."""
    gaps = _bandwidths(layout, mus, consider_endpoints)
    return np.where(gap_dims, gaps, np.broadcast_to(sigmas, gaps.shape))


def _rows_with_gaps(
    layout: GroupLayout, sigmas: np.ndarray, gaps: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """``sigmas`` ``(d,)`` or ``(k, d)`` as per-kernel widths ``(k, d)``, the
    continuous dimensions of the observations ``rows`` ``(k,)`` replaced by their
    widths in ``gaps`` ``(k, d)``; every other width unchanged."""
    narrow = rows[:, None] & ~layout.quantised[None, :]
    return np.where(narrow, gaps, np.broadcast_to(sigmas, gaps.shape))


def _scott_width(mus: np.ndarray) -> np.ndarray:
    """One bandwidth per dimension from Scott's rule (halved), shared by all kernels."""
    k, d = mus.shape
    # np.std(mus, axis=0, ddof=1), step by step as numpy computes it (the same
    # floats) without its Python-level overhead.
    deviations = mus - np.add.reduce(mus, axis=0, keepdims=True) / k
    std = np.sqrt(np.add.reduce(deviations * deviations, axis=0) / (k - 1))
    return _SCOTT_SCALE * std * k ** (-1.0 / (d + 4))


def _scott_gap_widths(
    layout: GroupLayout, mus: np.ndarray, consider_endpoints: bool
) -> np.ndarray:
    """``"scott_gap"``: per observation and dimension, the wider of Scott's shared
    width and the observation's larger gap to a sorted neighbour ``(k, d)``.

    A cluster of observations keeps Scott's width; an isolated one (a good trial far
    from the others) gets a kernel reaching its neighbours, as in Optuna's univariate
    Parzen estimator (``optuna/samplers/_tpe/parzen_estimator.py``, 5.0), whose
    kernels are the gap widths alone.
    """
    return np.maximum(_scott_width(mus), _bandwidths(layout, mus, consider_endpoints))


def _option_rows(prior: np.ndarray, k: int, prior_weight: float) -> np.ndarray:
    n = prior.size
    rows = prior * (prior_weight * n / (k + 1)) + np.eye(n)
    sums = np.append(rows.sum(axis=1), prior.sum())
    with np.errstate(divide="ignore"):
        return np.log(np.vstack([rows, prior]) / sums[:, None])


def _center(spec: ParamSpec) -> float:
    if spec.kind == "uniform":
        return float(spec.low)  # type: ignore[arg-type]
    return float(spec.mu)  # type: ignore[arg-type]


def _scale(spec: ParamSpec) -> float:
    if spec.kind == "uniform":
        width = float(spec.high) - float(spec.low)  # type: ignore[arg-type]
        return width if width > 0 else 1.0
    sigma = float(spec.sigma)  # type: ignore[arg-type]
    return sigma if sigma > 0 else 1.0


def _whole_bin_support(spec: ParamSpec) -> tuple[float, float, float, float] | None:
    """Base-space bounds covering the whole bins of a bounded quantised parameter's
    end values, and those end values; None for other parameters.

    The end values are the first and last values whose rounding bins overlap the
    declared bounds (what rounding a draw from the bounds gives with positive
    probability: a bound on a half step, as in ``quniform(0.5, 10.5, 1)``, adds no
    value); a log parameter's lower edge stays at its bound when the whole bin would
    reach 0.
    """
    q = _effective_q(spec)
    if spec.kind != "uniform" or math.isnan(q) or q <= 0:
        return None
    low, high = float(spec.low), float(spec.high)  # type: ignore[arg-type]
    if spec.log:
        low, high = math.exp(low), math.exp(high)
    first = (math.floor(low / q - 0.5) + 1) * q
    last = (math.ceil(high / q + 0.5) - 1) * q
    lo, hi = first - 0.5 * q, last + 0.5 * q
    if spec.log:
        lo = math.log(lo) if lo > 0 else float(spec.low)  # type: ignore[arg-type]
        hi = math.log(hi)
    if not hi > lo:
        return None
    return lo, hi, first, last


def _effective_q(spec: ParamSpec) -> float:
    if spec.q is not None:
        return float(spec.q)
    return 1.0 if spec.is_int else math.nan


def _option_prior(spec: ParamSpec) -> np.ndarray:
    if spec.kind == "choice":
        prior = np.asarray(spec.weights, dtype=float)
    else:
        prior = np.ones(spec.n_options)
    return prior / prior.sum()
