"""Pruner decisions against hand-computed cases (no store: reports given directly)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from hpo_service.algorithms.pruners import (
    PRUNERS,
    ASHAPruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    PercentilePruner,
    SuccessiveHalvingPruner,
    TrialProgress,
    make_pruner,
    resolve_pruner,
)
from hpo_service.store import TrialState

S = TrialState


def nobody() -> dict:
    return {}


def judge(pruner, curve, tid=100, running=nobody):
    """Report ``curve`` ({step: value}) step by step; the decision after each one."""
    trial = TrialProgress(tid)
    decisions = []
    for step, value in curve.items():
        trial.intermediate[step] = value
        decisions.append(pruner.prune(trial, running))
    return decisions


def with_done(pruner, *curves, state=S.DONE, first_tid=0):
    for i, curve in enumerate(curves):
        pruner.observe(first_tid + i, state, curve)
    return pruner


# Completed curves used by the median tests, with their running averages:
#   A: 4, 2, 0 -> 4, 3, 2      B: 6, 4, 2 -> 6, 5, 4      C: 2, 2, 2 -> 2, 2, 2
A = {0: 4.0, 1: 2.0, 2: 0.0}
B = {0: 6.0, 1: 4.0, 2: 2.0}
C = {0: 2.0, 1: 2.0, 2: 2.0}


class TestMedian:
    def test_best_so_far_against_median_of_running_averages(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=3), A, B, C)
        # step 0: best 5 vs median(4, 6, 2) = 4 -> prune
        assert judge(pruner, {0: 5.0}) == [True]
        # step 0: 3.9 <= 4 keeps; step 1: best 2.5 vs median(3, 5, 2) = 3 keeps
        assert judge(pruner, {0: 3.9, 1: 2.5}) == [False, False]
        # step 1: best 3.5 > 3 -> prune
        assert judge(pruner, {0: 3.9, 1: 3.5}) == [False, True]

    def test_values_at_the_step_as_optuna(self) -> None:
        pruner = with_done(
            MedianPruner(n_startup_trials=3, running_average=False), A, B, C
        )
        # step 1: best 2.5 vs median(2, 4, 2) = 2 -> prune (running averages: keep)
        assert judge(pruner, {0: 3.9, 1: 2.5}) == [False, True]

    def test_equal_to_the_median_is_kept(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=3), A, B, C)
        assert judge(pruner, {0: 4.0}) == [False]

    def test_startup_trials(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=4), A, B, C)
        assert judge(pruner, {0: 100.0}) == [False]
        with_done(pruner, C, first_tid=3)
        assert judge(pruner, {0: 100.0}) == [True]

    def test_only_done_trials_count(self) -> None:
        pruner = MedianPruner(n_startup_trials=1)
        for state in (S.PRUNED, S.ERROR, S.CANCELLED):
            with_done(pruner, {0: 0.0}, state=state)
        assert judge(pruner, {0: 100.0}) == [False]
        with_done(pruner, {0: 1.0}, first_tid=10)
        assert judge(pruner, {0: 100.0}) == [True]

    def test_warmup_steps(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=3, n_warmup_steps=2), A, B, C)
        assert judge(pruner, {0: 9.0, 1: 9.0, 2: 9.0}) == [False, False, True]

    def test_interval_steps_judge_the_first_report_past_each_checkpoint(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=3, interval_steps=2), A, B, C)
        # checkpoints at 0, 2, 4, ...: step 1 is not judged (3.9 > 3 would stop it)
        assert judge(pruner, {0: 3.9, 1: 9.0, 2: 9.0}) == [False, False, True]
        # as is the first report of a trial
        assert judge(pruner, {1: 9.0}) == [True]
        # a report at 3 after one at 1 is the first past checkpoint 2: judged
        # (running averages of the completed curve: 4, 2, 1.33, 1)
        longer = MedianPruner(n_startup_trials=1, interval_steps=2)
        with_done(longer, {0: 4.0, 1: 0.0, 2: 0.0, 3: 0.0})
        assert judge(longer, {0: 3.9, 1: 3.5, 3: 3.0}) == [False, False, True]

    def test_trials_that_did_not_reach_the_step_are_not_compared(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=3), A, B, C)
        # the best so far (2.5) is compared: at step 5 with no one, at 2 with 2, 4, 2
        assert judge(pruner, {0: 3.0, 5: 2.5}) == [False, False]
        assert judge(pruner, {0: 3.0, 2: 2.5}) == [False, True]

    def test_n_min_trials(self) -> None:
        pruner = with_done(
            MedianPruner(n_startup_trials=0, n_min_trials=2), {0: 1.0, 1: 1.0}
        )
        assert judge(pruner, {0: 9.0}) == [False]
        with_done(pruner, {0: 1.0}, first_tid=5)
        # two completed trials reached step 0, one reached step 1
        assert judge(pruner, {0: 9.0}) == [True]
        assert judge(pruner, {0: 0.5, 1: 9.0}) == [False, False]

    def test_a_late_completed_trial_joins_steps_already_asked(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=1), {0: 10.0})
        assert judge(pruner, {0: 9.0}) == [False]
        with_done(pruner, {0: 1.0}, {0: 2.0}, first_tid=1)  # median of 1, 2, 10 = 2
        assert judge(pruner, {0: 9.0}) == [True]

    def test_infinite_values(self) -> None:
        pruner = with_done(MedianPruner(n_startup_trials=1), {0: math.inf})
        assert judge(pruner, {0: 1e300}) == [False]
        assert judge(pruner, {0: math.inf}) == [False]

    @pytest.mark.parametrize("running_average", [True, False])
    def test_summaries_match_a_direct_computation(self, running_average) -> None:
        """Irregular steps, trials without reports, NaN running means (inf - inf),
        and trials completed between checks: the summaries at each step asked are
        those computed from every completed curve directly."""
        from hpo_service.algorithms.pruners._curves import CompletedCurves

        rng = np.random.default_rng(5)
        completed, curves = CompletedCurves(running_average), []
        for _ in range(12):
            for _ in range(int(rng.integers(0, 6))):
                steps = sorted(
                    rng.choice(20, size=int(rng.integers(0, 6)), replace=False)
                )
                values = rng.choice([1.0, 2.0, 3.0, math.inf, -math.inf], len(steps))
                curve = dict(zip(map(int, steps), map(float, values), strict=True))
                completed.add(curve)
                curves.append(curve)
            for step in map(int, rng.integers(0, 22, size=4)):
                expected = sorted(
                    v for c in curves
                    if c and max(c) >= step
                    and not math.isnan(v := _summary(c, step, running_average))
                )  # fmt: skip
                assert list(completed.at(step)) == expected
        assert len(completed) == sum(1 for _ in curves)


class TestPercentile:
    def test_interpolated_percentile(self) -> None:
        # step 0 running averages 2, 4, 6: the 25th percentile is 3
        pruner = with_done(PercentilePruner(25.0, n_startup_trials=3), A, B, C)
        assert judge(pruner, {0: 3.0}) == [False]
        assert judge(pruner, {0: 3.01}) == [True]

    @pytest.mark.parametrize(("q", "cut"), [(0.0, 2.0), (100.0, 6.0), (50.0, 4.0)])
    def test_extremes(self, q: float, cut: float) -> None:
        pruner = with_done(PercentilePruner(q, n_startup_trials=3), A, B, C)
        assert judge(pruner, {0: cut}) == [False]
        assert judge(pruner, {0: cut + 0.01}) == [True]


# ASHA, eta 3, rungs at steps 1, 3, 9 (max_resource 27). Finished trials' values:
F = [
    {0: 2.0, 1: 0.5, 3: 0.4},
    {1: 0.9},
    {0: 1.0, 1: 0.7},
    {0: 3.0, 1: 0.6, 3: 0.55},
    {1: 0.8},
]  # rung 1: 0.5, 0.6, 0.7, 0.8, 0.9; rung 3: 0.4, 0.55


def asha(**settings):
    pruner = ASHAPruner(**{"max_resource": 27, "reduction_factor": 3, **settings})
    return with_done(pruner, *F, state=S.PRUNED)


class TestASHA:
    def test_rungs(self) -> None:
        assert ASHAPruner(reduction_factor=3, max_resource=27).rung_steps() == [1, 3, 9]
        assert ASHAPruner(max_resource=27).rung_steps() == [1, 2, 4, 8, 16]  # eta 2
        halving = ASHAPruner(min_resource=2, reduction_factor=2, max_resource=16)
        assert halving.rung_steps() == [2, 4, 8]
        later = ASHAPruner(
            reduction_factor=3, max_resource=27, min_early_stopping_rate=1
        )
        assert later.rung_steps() == [3, 9]
        assert ASHAPruner(reduction_factor=3, max_resource=1).rung_steps() == []
        assert ASHAPruner(reduction_factor=3).rung_steps(len_hint=4) == [1, 3, 9, 27]

    def test_top_third_of_the_rung_continues(self) -> None:
        # rung 1 with 0.65: 6 values, top 2 = 0.5, 0.6 -> stop
        assert judge(asha(), {0: 5.0, 1: 0.65}) == [False, True]
        # 0.55: second best -> continue; rung 3 with 0.45: top 1 of (0.4, 0.55, 0.45)
        assert judge(asha(), {1: 0.55, 2: 0.5, 3: 0.45}) == [False, False, True]
        assert judge(asha(), {1: 0.55, 3: 0.3, 9: 0.2, 20: 0.1}) == [False] * 4

    def test_a_tie_with_the_cutoff_continues(self) -> None:
        assert judge(asha(), {1: 0.6}) == [False]

    def test_first_arrivals(self) -> None:
        pruner = ASHAPruner(reduction_factor=3, max_resource=27)
        assert judge(pruner, {1: 5.0}) == [False]  # alone at the rung: continues
        with_done(pruner, {1: 1.0})
        assert judge(pruner, {1: 2.0}) == [True]  # 2 values, keep 1: only the best
        assert judge(pruner, {1: 0.5}) == [False]

    def test_running_trials_count(self) -> None:
        running = {7: {0: 1.0, 1: 0.52}, 8: {0: 1.0}, 100: {1: 0.55}}  # 100: itself
        # rung 1: 0.5, 0.52, 0.6, 0.7, 0.8, 0.9 + 0.55 -> 7 values, top 2 -> stop
        assert judge(asha(), {1: 0.55}, running=lambda: running) == [True]
        assert judge(asha(), {1: 0.51}, running=lambda: running) == [False]

    def test_running_trials_are_read_only_at_a_rung(self) -> None:
        reads = []

        def running():
            reads.append(1)
            return {}

        judge(asha(), {0: 1.0, 1: 0.1, 2: 0.1, 3: 0.1, 4: 0.1}, running=running)
        assert len(reads) == 2

    def test_crossing_several_rungs_at_once_judges_each(self) -> None:
        # first report at step 5: rungs 1 and 3 both judged with 0.45
        assert judge(asha(), {5: 0.45}) == [True]  # passes rung 1, stops at rung 3
        assert judge(asha(), {5: 0.35}) == [False]

    def test_decisions_stand(self) -> None:
        pruner = asha()
        trial = TrialProgress(100, {1: 0.55})
        assert not pruner.prune(trial, nobody)
        with_done(pruner, *[{1: 0.1}] * 10, first_tid=50)  # passed rung 1 already
        trial.intermediate[2] = 0.5
        assert not pruner.prune(trial, nobody)
        stopped = TrialProgress(101, {1: 0.95})
        assert pruner.prune(stopped, nobody)
        stopped.intermediate[2] = 0.0
        assert pruner.prune(stopped, nobody)

    def test_no_rung_at_or_past_max_resource(self) -> None:
        pruner = ASHAPruner(reduction_factor=3, max_resource=3)
        with_done(pruner, *[{1: 0.1, 3: 0.1}] * 5)
        assert judge(pruner, {1: 0.1, 3: 9.0, 4: 9.0}) == [False, False, False]

    def test_a_finished_trial_is_learned_once(self) -> None:
        pruner = ASHAPruner(reduction_factor=3, max_resource=27)
        for _ in range(3):
            pruner.observe(1, S.DONE, {1: 0.1})
        assert judge(pruner, {1: 0.2}) == [True]  # 2 values: 0.1 once
        running = {1: {1: 0.1}}  # a finished trial read again as running is skipped
        assert judge(pruner, {1: 0.05}, running=lambda: running) == [False]

    def test_many_trials_at_one_rung_at_once(self) -> None:
        """9 trials wrote their rung value before any decided: the best 3 continue."""
        values = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6]
        running = {tid: {1: v} for tid, v in enumerate(values)}
        pruner = ASHAPruner(reduction_factor=3, max_resource=27)
        kept = [
            tid
            for tid, v in enumerate(values)
            if not pruner.prune(TrialProgress(tid, {1: v}), lambda: running)
        ]
        assert sorted(values[t] for t in kept) == [0.1, 0.2, 0.3]


class TestHyperband:
    def test_brackets_follow_the_paper(self) -> None:
        pruner = HyperbandPruner(max_resource=27)
        # s_max = 3; n_s = ceil(4 * 3**s / (s + 1)) for s = 3, 2, 1, 0
        assert pruner.bracket_sizes() == [27, 12, 6, 4]
        counts = Counter(pruner.bracket_of(tid) for tid in range(49 * 3))
        assert counts == {0: 81, 1: 36, 2: 18, 3: 12}
        first = [pruner.bracket_of(tid) for tid in range(8)]
        assert len(set(first)) >= 3  # interleaved, not in blocks

    def test_bracket_count(self) -> None:
        assert len(HyperbandPruner(max_resource=26).bracket_sizes()) == 3
        wide = HyperbandPruner(min_resource=3, max_resource=81)
        assert len(wide.bracket_sizes()) == 4
        assert HyperbandPruner(max_resource=1).bracket_sizes() == [1]

    def test_each_bracket_is_an_asha_of_its_own_trials(self) -> None:
        pruner = HyperbandPruner(max_resource=27)
        tids = {
            b: [t for t in range(200) if pruner.bracket_of(t) == b] for b in (0, 2, 3)
        }
        # bracket 0 (rungs 1, 3, 9) learns a great value at step 1
        with_done(pruner, {1: 0.0})  # tid 0
        assert pruner.bracket_of(0) == 0
        t0, t2, t3 = tids[0][1], tids[2][0], tids[3][0]
        assert judge(pruner, {1: 0.5}, tid=t0) == [True]
        # bracket 2 (rung 9 only) does not judge at 1 or 3, nor against bracket 0
        assert judge(pruner, {1: 9.0, 3: 9.0, 9: 9.0}, tid=t2) == [False] * 3
        pruner.observe(tids[2][1], S.DONE, {9: 0.1})
        assert judge(pruner, {9: 9.0}, tid=t2) == [True]
        # bracket 3 runs every trial to R
        assert judge(pruner, {1: 1e9, 9: 1e9, 26: 1e9}, tid=t3) == [False] * 3

    def test_running_trials_of_other_brackets_do_not_count(self) -> None:
        pruner = HyperbandPruner(max_resource=27)
        tid, other = [t for t in range(10) if pruner.bracket_of(t) == 0][:2]
        stranger = next(t for t in range(10) if pruner.bracket_of(t) != 0)
        assert judge(pruner, {1: 0.5}, tid, lambda: {stranger: {1: 0.1}}) == [False]
        assert judge(pruner, {1: 0.5}, tid, lambda: {other: {1: 0.1}}) == [True]


class TestSettings:
    @pytest.mark.parametrize(
        ("make", "match"),
        [
            (lambda: ASHAPruner(reduction_factor=1), "reduction_factor=1"),
            (lambda: ASHAPruner(reduction_factor=3, min_resource=0), "min_resource=0"),
            (
                lambda: ASHAPruner(reduction_factor=3, min_resource=9, max_resource=3),
                "min_resource=9",
            ),
            (lambda: ASHAPruner(reduction_factor=2.5), "reduction_factor=2.5"),
            (
                lambda: ASHAPruner(
                    reduction_factor=3, max_resource=27, min_early_stopping_rate=4
                ),
                r"rate=4, max_resource=27 \(first rung at 81 steps\)",
            ),
            (
                lambda: ASHAPruner(
                    min_resource=2,
                    max_resource=7,
                    reduction_factor=4,
                    min_early_stopping_rate=1,
                ),
                r"first rung at 8 steps",
            ),
            (lambda: HyperbandPruner(max_resource=None), "max_resource"),
            (lambda: HyperbandPruner(min_resource=5, max_resource=4), "max_resource=4"),
            (lambda: MedianPruner(n_warmup_steps=-1), "n_warmup_steps=-1"),
            (lambda: MedianPruner(interval_steps=0), "interval_steps=0"),
            (lambda: PercentilePruner(101), "percentile=101"),
            (lambda: PercentilePruner(math.nan), "percentile=nan"),
            (lambda: MedianPruner(running_average="yes"), "running_average"),
        ],
    )
    def test_bad_settings_name_the_value(self, make, match) -> None:
        with pytest.raises(ValueError, match=match):
            make()

    def test_a_rung_beyond_the_largest_step_is_refused_at_once(self) -> None:
        with pytest.raises(ValueError, match=r"<= 2\*\*63 - 1 \(the largest step\)"):
            ASHAPruner(
                reduction_factor=3, min_early_stopping_rate=10**9
            )  # no huge power computed
        assert ASHAPruner(
            reduction_factor=3, min_early_stopping_rate=39
        ).rung_steps() == [3**39]

    def test_first_rung_at_max_resource_or_unbounded_is_accepted(self) -> None:
        assert (
            ASHAPruner(
                reduction_factor=3, max_resource=81, min_early_stopping_rate=4
            ).rung_steps()
            == []
        )
        assert ASHAPruner(reduction_factor=3, min_early_stopping_rate=4).rung_steps(
            2
        ) == [81, 243]
        assert ASHAPruner(
            reduction_factor=3, max_resource=82, min_early_stopping_rate=4
        ).rung_steps() == [81]

    @pytest.mark.parametrize("name", list(PRUNERS))
    def test_settings_rebuild_an_equal_pruner(self, name: str) -> None:
        settings = {"max_resource": 27} if name == "hyperband" else {}
        pruner = make_pruner(name, settings)
        again = make_pruner(pruner.name, pruner.settings())
        assert again == pruner and again is not pruner
        assert name in repr(pruner).lower() or name == "none"

    def test_make_pruner_errors(self) -> None:
        with pytest.raises(ValueError, match="pruner='nope'"):
            make_pruner("nope")
        with pytest.raises(ValueError, match="asha"):
            make_pruner("asha", {"eta": 3})

    def test_resolve_pruner(self) -> None:
        assert resolve_pruner(None) == NopPruner()
        assert resolve_pruner("median") == MedianPruner()
        given = ASHAPruner(max_resource=9)
        with_done(given, {1: 1.0})
        fresh = resolve_pruner(given)
        assert fresh == given and fresh is not given
        assert judge(fresh, {1: 5.0}) == [False]  # learned nothing from ``given``
        with pytest.raises(TypeError, match="pruner"):
            resolve_pruner(3)

    def test_none_never_prunes(self) -> None:
        assert judge(NopPruner(), {0: math.inf, 1: 1e9}) == [False, False]


def _summary(curve: dict, step: int, running_average: bool) -> float:
    """A completed curve's summary at ``step``: its last value (or the mean of the
    values) at or before ``step``; NaN if it reported nothing by then."""
    values = [v for s, v in sorted(curve.items()) if s <= step]
    if not values:
        return math.nan
    if not running_average:
        return values[-1]
    with np.errstate(invalid="ignore"):
        return float(np.cumsum(values)[-1] / len(values))


# What a user of Optuna types: its names and values are answered with ours.


def test_optuna_names_of_our_pruners_are_pointed_at_ours():
    from hpo_service import Trials, fmin, hp, pruners, tpe

    assert issubclass(pruners.SuccessiveHalvingPruner, ASHAPruner)
    space = hp.uniform("x", 0, 1)
    for name, ours in [
        ("successive_halving", "asha"),
        ("SuccessiveHalvingPruner", "asha"),
        ("MedianPruner", "median"),
        ("Hyperband", "hyperband"),
    ]:
        trials = Trials()
        hint = rf"pruner='{name}' \(did you mean '{ours}'"
        with pytest.raises(ValueError, match=hint):
            fmin(lambda x: x, space, algo=tpe.suggest, max_evals=2, trials=trials,
                 pruner=name, show_progressbar=False)  # fmt: skip
        assert len(trials) == 0  # refused before any trial ran
    with pytest.raises(ValueError) as e:
        make_pruner("no_such")
    assert "did you mean" not in str(e.value)


def test_a_pruner_class_for_an_object_says_to_call_it():
    with pytest.raises(TypeError, match=r"e\.g\. MedianPruner\(\), .*class pruner=Med"):
        resolve_pruner(MedianPruner)


@pytest.mark.parametrize("name", ["ThresholdPruner", "PatientPruner", "WilcoxonPruner"])
def test_optuna_pruners_not_offered_name_the_ones_that_are(name):
    from hpo_service import pruners

    with pytest.raises(AttributeError) as e:
        getattr(pruners, name)
    message = str(e.value)
    assert f"no {name}" in message and "SuccessiveHalvingPruner" in message
    assert all(cls.__name__ in message for cls in PRUNERS.values())
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        pruners.nothing  # noqa: B018


@pytest.mark.parametrize("name", ["ThresholdPruner", "PatientPruner", "WilcoxonPruner"])
@pytest.mark.parametrize(
    "module", ["hpo_service.pruners", "hpo_service.algorithms.pruners"]
)
def test_importing_an_optuna_pruner_not_offered_names_the_ones_that_are(module, name):
    """``from ... import ThresholdPruner`` gave Python's "cannot import name": the
    import system replaces a module ``__getattr__``'s AttributeError with its own."""
    with pytest.raises(ImportError) as e:
        exec(f"from {module} import {name}", {})
    message = str(e.value)
    assert f"no {name}" in message and "SuccessiveHalvingPruner" in message
    assert all(cls.__name__ in message for cls in PRUNERS.values())
    assert "cannot import name" not in message
    with pytest.raises(ImportError, match="cannot import name 'nothing'"):
        exec(f"from {module} import nothing", {})
    space = {}
    exec(f"from {module} import MedianPruner, SuccessiveHalvingPruner", space)
    assert space["MedianPruner"] is MedianPruner
    assert space["SuccessiveHalvingPruner"] is SuccessiveHalvingPruner


@pytest.mark.parametrize(
    ("make", "shown"),
    [(lambda: SuccessiveHalvingPruner(bootstrap_count=2), "SuccessiveHalvingPruner"),
     (lambda: ASHAPruner(max_resource=27, bootstrap_count=3), "ASHAPruner"),
     (lambda: HyperbandPruner(max_resource=27, bootstrap_count=1), "HyperbandPruner")],
)  # fmt: skip
def test_optunas_bootstrap_count_says_what_it_is_and_that_there_is_no_counterpart(
    make, shown
):
    with pytest.raises(TypeError) as e:
        make()
    message = str(e.value)
    assert message.startswith(f"{shown}() takes no `bootstrap_count`, but got ")
    assert "Optuna's count of trials that must reach a rung" in message
    assert "no counterpart" in message and "leave it out" in message
    with pytest.raises(ValueError, match="invalid settings for pruner 'hyperband': "
                       "HyperbandPruner\\(\\) takes no `bootstrap_count`"):  # fmt: skip
        make_pruner("hyperband", {"max_resource": 27, "bootstrap_count": 1})
    with pytest.raises(TypeError, match="unexpected keyword argument 'bootstrapcount'"):
        ASHAPruner(bootstrapcount=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bootstrapcount'"):
        HyperbandPruner(max_resource=27, bootstrapcount=1)


def test_optunas_default_bootstrap_count_means_ours_and_is_not_stored():
    for cls in (ASHAPruner, SuccessiveHalvingPruner, HyperbandPruner):
        made = cls(max_resource=27, bootstrap_count=0)
        assert made == cls(max_resource=27) and "bootstrap_count" not in made.settings()
    assert make_pruner("hyperband", {"max_resource": 27, "bootstrap_count": 0}) == (
        HyperbandPruner(max_resource=27)
    )


@pytest.mark.parametrize(
    ("cls", "settings"),
    [(ASHAPruner, {"min_resource": "auto"}),
     (HyperbandPruner, {"max_resource": "auto"}),
     (HyperbandPruner, {"min_resource": "auto", "max_resource": 27})],
)  # fmt: skip
def test_optunas_auto_resource_is_refused_saying_to_give_steps(cls, settings):
    hint = r"but got \w+_resource='auto' \(Optuna's 'auto'"
    with pytest.raises(ValueError, match=hint):
        cls(**settings)


def test_median_and_percentile_take_optunas_positional_order():
    # Optuna: MedianPruner(n_startup_trials, n_warmup_steps, interval_steps, *, ...),
    # PercentilePruner(percentile, n_startup_trials, n_warmup_steps, interval_steps)
    assert (
        MedianPruner(3, 2, 4).settings()
        == MedianPruner(
            n_startup_trials=3, n_warmup_steps=2, interval_steps=4
        ).settings()
    )
    assert (
        PercentilePruner(10.0, 3, 2, 4).settings()
        == PercentilePruner(
            percentile=10.0, n_startup_trials=3, n_warmup_steps=2, interval_steps=4
        ).settings()
    )
    with pytest.raises(TypeError):
        MedianPruner(3, 2, 4, 1)  # n_min_trials is keyword-only, as in Optuna
    with pytest.raises(TypeError):
        ASHAPruner(1, 3)  # Optuna's order differs (no max_resource): keywords only
