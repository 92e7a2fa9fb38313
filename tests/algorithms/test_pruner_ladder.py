"""What a pruner did, counted per rung (or per step) from the trials' reports:
hand-computed cases, and the counts against the decisions a real pruner took."""

from __future__ import annotations

from collections import Counter

import pytest

from hpo_service import TrialPruned, Trials, fmin, hp, rand, report, should_prune
from hpo_service.algorithms.pruners import ASHAPruner, HyperbandPruner
from hpo_service.algorithms.pruners._ladder import (
    ladder_lines,
    last_step,
    no_rungs_note,
    pruning_ladder,
    rung_table,
    short_rule,
)

ETA3 = {"reduction_factor": 3}  # the rungs 1, 3, 9, 27 these tests were written for


def curve(last: int | None) -> int | None:
    """The last step of reports at steps 0 .. ``last`` (none for None)."""
    return last_step(
        {} if last is None else {s: 1.0 / (s + 1) for s in range(last + 1)}
    )


def rungs_of(ladder, bracket=0):
    return [(r.step, r.reached, r.went_on, r.pruned) for r in ladder.brackets[bracket]]


def test_asha_counts_each_rung_by_hand():
    # rungs at 1 and 3 (r = 1, eta = 3, R = 9)
    trials = [
        (0, "done", curve(8)),  # reaches 1 and 3, goes on past both
        (1, "pruned", curve(1)),  # pruned at rung 1
        (2, "pruned", curve(4)),  # reached 3 (not 9): pruned at rung 3
        (3, "pruned", curve(0)),  # stopped itself before rung 1
        (4, "running", curve(2)),  # reached 1 only, runs on
        (5, "done", curve(None)),  # never reported: never judged
        (6, "error", curve(5)),  # reached 1 and 3, then failed
    ]
    settings = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    ladder = pruning_ladder("asha", settings, trials)
    assert rungs_of(ladder) == [(1, 5, 4, 1), (3, 3, 2, 1)]
    assert (ladder.pruned_unjudged, ladder.unreported) == (1, 1)
    record = ladder.as_dict()
    assert record["rungs"] == [
        {"step": 1, "reached": 5, "went_on": 4, "pruned": 1},
        {"step": 3, "reached": 3, "went_on": 2, "pruned": 1},
    ]
    lines = ladder.lines()
    assert lines[0].startswith("ASHA keeps the best 1/3 at each rung")
    assert "about 1 trial in 3^k passes k rungs" in lines[0]
    assert lines[1:4] == [
        "step  reached  went on  pruned",
        "   1        5        4       1",
        "   3        3        2       1",
    ]
    # judged at rung 1: 0 (passed: reached 3), 1 (pruned), 2 (reached 3), 6 (reached
    # 3, then failed); 4 runs on below rung 3: neither. At rung 3: 0 (done), 2
    # (pruned); 6 failed there: not judged
    assert lines[4].startswith("passed, of the trials judged at each rung")
    assert lines[5:8] == [
        "step  judged  passed  first half  last half",
        "   1       4       3         1/2        2/2",
        "   3       2       1         1/1        0/1",
    ]
    assert record["passed"][1] == {
        "step": 3, "passed": 1, "judged": 2, "first_half": [1, 1],
        "last_half": [0, 1],
    }  # fmt: skip
    assert "1 pruned before the first rung" in lines[8]
    assert "1 completed without a report" in lines[9]
    assert "--reduction-factor" in lines[10]
    assert ladder_lines(record) == lines  # status --json's form gives the same text
    assert ladder.worth_showing


def test_asha_shows_every_bounded_rung_and_only_reached_unbounded_ones():
    trials = [(0, "done", curve(5))]
    bounded = pruning_ladder("asha", {"max_resource": 30, **ETA3}, trials)
    assert rungs_of(bounded) == [
        (1, 1, 1, 0),
        (3, 1, 1, 0),
        (9, 0, 0, 0),
        (27, 0, 0, 0),
    ]
    assert not bounded.worth_showing  # nothing pruned, everything reported
    assert not [n for n in bounded.notes if "prune less" in n]
    unbounded = pruning_ladder("asha", {"max_resource": None, **ETA3}, trials)
    assert rungs_of(unbounded) == [(1, 1, 1, 0), (3, 1, 1, 0)]


def test_a_rung_at_the_last_step_without_max_resource_is_named():
    """With no max_resource, a rung at the trials' last step prunes trials that
    already ran every step; the note names the flag that avoids it."""
    trials = [(0, "done", curve(9)), (1, "pruned", curve(9)), (2, "pruned", curve(3))]
    ladder = pruning_ladder("asha", {"max_resource": None, **ETA3}, trials)
    assert rungs_of(ladder) == [(1, 3, 3, 0), (3, 3, 2, 1), (9, 2, 1, 1)]
    (note,) = [n for n in ladder.notes if "last step" in n]
    assert note.startswith("1 pruned at step 9, the last step of the complete")
    assert "--max-resource 9" in note
    bounded = pruning_ladder("asha", {"max_resource": 10, **ETA3}, trials)
    assert not [n for n in bounded.notes if "last step" in n]


def test_hyperband_counts_each_bracket_apart():
    settings = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    pruner = HyperbandPruner(**settings)
    assert pruner.bracket_rungs() == [[1, 3], [3], []]
    tids = {b: [t for t in range(40) if pruner.bracket_of(t) == b] for b in range(3)}
    trials = [
        (tids[0][0], "pruned", curve(1)),
        (tids[0][1], "done", curve(8)),
        (tids[1][0], "pruned", curve(3)),
        (tids[1][1], "pruned", curve(1)),  # before its bracket's first rung (3)
        (tids[2][0], "done", curve(8)),
    ]
    ladder = pruning_ladder("hyperband", settings, trials)
    assert rungs_of(ladder, 0) == [(1, 2, 1, 1), (3, 1, 1, 0)]
    assert rungs_of(ladder, 1) == [(3, 1, 0, 1)]
    assert ladder.brackets[2] == []
    assert ladder.pruned_unjudged == 1
    assert [b["bracket"] for b in ladder.as_dict()["brackets"]] == [0, 1, 2]
    assert ladder.lines()[1:5] == [
        "bracket  step  reached  went on  pruned",
        "      0     1        2        1       1",
        "      0     3        1        1       0",
        "      1     3        1        0       1",
    ]


def test_the_pages_rung_table_joins_each_rungs_counts_and_passes_by_hand():
    """The report's and the dashboard's one table: Hyperband's brackets as
    ``hpo-driver status`` counts them, then of the trials judged at each rung how
    many passed (bracket 0, rung 1: the pruned first trial fails, the second
    passes; its rung 3: that trial completed; bracket 1, rung 3: pruned)."""
    settings = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    pruner = HyperbandPruner(**settings)
    tids = {b: [t for t in range(40) if pruner.bracket_of(t) == b] for b in range(3)}
    trials = [
        (tids[0][0], "pruned", curve(1)),
        (tids[0][1], "done", curve(8)),
        (tids[1][0], "pruned", curve(3)),
        (tids[2][0], "done", curve(8)),
    ]
    head, rows = rung_table(pruning_ladder("hyperband", settings, trials).as_dict())
    assert head == ["bracket", "step", "reached", "went on", "pruned",
                    "judged", "passed", "first half", "last half"]  # fmt: skip
    assert rows == [
        ["0", "1", "2", "1", "1", "2", "1", "0/1", "1/1"],
        ["0", "3", "1", "1", "0", "1", "1", "0/0", "0/0"],
        ["1", "3", "1", "0", "1", "1", "0", "0/0", "0/0"],
    ]
    median = pruning_ladder("median", {}, [(0, "pruned", curve(2))]).as_dict()
    assert rung_table(median) == ([], [])


@pytest.mark.parametrize(
    ("name", "python", "said"),
    [
        (None, False, "No pruner: every trial runs to its end. Under ASHA or "
         "Hyperband (--pruner asha or hyperband)"),
        ("none", True, 'No pruner: every trial runs to its end. Under ASHA or '
         'Hyperband (pruner="asha" or "hyperband")'),
        ("percentile", False, "No rung table: the percentile pruner judges trials "
         "at every step, not at rungs (ASHA and Hyperband have rungs: --pruner "
         "asha or hyperband)."),
    ],
)  # fmt: skip
def test_a_page_without_rungs_says_why(name, python, said):
    assert no_rungs_note(name, python).startswith(said)


def test_median_counts_where_trials_were_pruned():
    trials = [(t, "pruned", curve(t % 3 + 2)) for t in range(7)]
    trials += [(7, "done", curve(9)), (8, "pruned", curve(None))]
    ladder = pruning_ladder("median", {"n_startup_trials": 5}, trials)
    assert ladder.pruned_at_steps == {2: 3, 3: 2, 4: 2}
    assert ladder.pruned_unjudged == 1
    lines = ladder.lines()
    assert lines[0].startswith("the median pruner stops a trial whose best value")
    assert "from 5 completed trials on" in lines[0]
    assert lines[1] == "pruned at step 2: 3, step 3: 2, step 4: 2"
    assert lines[2].startswith("1 pruned before any report")
    assert lines[3] == "to prune less: raise --warmup-steps or --startup-trials"
    assert ladder.as_dict()["pruned_at_steps"] == {"2": 3, "3": 2, "4": 2}


def test_many_pruning_steps_are_grouped_into_a_few_ranges():
    trials = [(s, "pruned", curve(s)) for s in range(1, 13)]
    ladder = pruning_ladder("percentile", {"percentile": 25.0}, trials)
    assert "25th percentile" in ladder.rule
    assert ladder.notes[-1].endswith("--startup-trials or --percentile")
    assert ladder.lines()[1] == (
        "pruned at steps 1-2: 2, steps 3-4: 2, steps 5-6: 2, steps 7-8: 2, "
        "steps 9-10: 2, steps 11-12: 2"
    )


@pytest.mark.parametrize("name", ["none", "nonsense"])
def test_no_ladder_without_a_pruner_that_stops_trials(name):
    assert pruning_ladder(name, {}, [(0, "pruned", curve(3))]) is None
    assert short_rule(name, {}) is None


def test_short_rules_name_the_pruners_rule():
    assert short_rule("asha", {"reduction_factor": 4}) == (
        "ASHA keeps the best 1/4 at each rung"
    )
    assert short_rule("hyperband", {"reduction_factor": 3}).startswith("Hyperband")
    assert (
        short_rule("median", {}) == "the median pruner stops trials behind the median"
    )
    assert "25th percentile" in short_rule("percentile", {"percentile": 25.0})


SPACE = {"x": hp.uniform("x", 0.0, 1.0)}


def test_the_counts_match_the_decisions_a_real_pruner_took():
    """In-process fmin under ASHA: each step at which the pruner said stop is where
    the ladder counts a pruned trial, and the trials that got past each rung are
    those the ladder says went on."""
    told: dict[int, int] = {}  # trial number -> step the pruner said stop at
    steps_run: list[int] = []

    def objective(config):
        number = len(steps_run)
        steps_run.append(0)
        for step in range(12):
            report(config["x"] + 1.0 / (step + 1), step)
            steps_run[number] = step
            if should_prune():
                told[number] = step
                raise TrialPruned()
        return config["x"]

    trials = Trials()
    pruner = ASHAPruner(max_resource=12, reduction_factor=3)
    fmin(objective, SPACE, algo=rand.suggest, max_evals=30, trials=trials,
         show_progressbar=False, rstate=3, pruner=pruner)  # fmt: skip
    docs = trials.trials
    rows = [
        (d["tid"], "pruned" if d["result"]["status"] == "pruned" else "done",
         last_step(d["intermediate"]))
        for d in docs
    ]  # fmt: skip
    ladder = pruning_ladder("asha", pruner.settings(), rows)
    stopped_at = Counter(told.values())  # the objective asks at every step: a rung
    assert set(stopped_at) <= set(pruner.rung_steps()) == {1, 3, 9}
    expected = [
        (rung, reached, reached - stopped_at[rung], stopped_at[rung])
        for rung in (1, 3, 9)
        for reached in [sum(last >= rung for last in steps_run)]
    ]
    assert rungs_of(ladder) == expected
    assert sum(stopped_at.values()) > 0 and expected[0][1] == 30  # all reached 1


def test_rungs_past_the_complete_trials_last_step_are_named():
    """--max-resource 100 for trials of 30 steps: rung 81 is never reached."""
    trials = [(0, "done", curve(30)), (1, "pruned", curve(3))]
    ladder = pruning_ladder("asha", {"max_resource": 100, **ETA3}, trials)
    assert rungs_of(ladder)[-1] == (81, 0, 0, 0)
    (note,) = [n for n in ladder.notes if "never reached" in n]
    assert note.startswith("the complete trials reported up to step 30, below ")
    assert "--max-resource 100" in note
    for fits in (81, 31):  # reached, or no rung past step 30
        ladder = pruning_ladder("asha", {"max_resource": fits, **ETA3}, trials)
        assert not [n for n in ladder.notes if "never reached" in n]


def test_last_step_reads_steps_as_numbers_also_as_text():
    """Trial docs read from JSON hold steps as text: "10" is past "9"."""
    assert last_step({"9": 0.5, "10": 0.4, "2": 0.9}) == 10
    assert last_step({9: 0.5, 10: 0.4, 2: 0.9}) == 10
    assert last_step({}) is None


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("asha", {"max_resource": 1}),
        ("asha", {"min_resource": 3, "max_resource": 3}),
        ("hyperband", {"min_resource": 2, "max_resource": 2}),
    ],
)
def test_a_ladder_without_rungs_says_the_pruner_stops_nothing(name, settings):
    """A first rung at max_resource itself is accepted but never judged."""
    ladder = pruning_ladder(name, settings, [(0, "done", curve(5))])
    assert ladder.brackets == [[]]  # one bracket, no rung
    (note,) = [n for n in ladder.notes if n.startswith("no rung lies below")]
    assert f"--max-resource {settings['max_resource']}" in note
    assert "this pruner stops no trial" in note
    assert not [line for line in ladder.lines() if "step  reached" in line]


def test_an_unbounded_ladder_no_trial_reached_says_so():
    ladder = pruning_ladder("asha", {"min_resource": 4}, [(0, "running", curve(2))])
    assert ladder.brackets == [[]]
    assert ladder.lines()[1:] == ["no trial has reached the first rung (step 4) yet"]


# Each note that advises a setting: (pruner, settings, trials, as hpo-driver's flags,
# as the pruner's keyword arguments in Python).
ADVICE = [
    ("median", {}, [(0, "done", curve(9)), (1, "pruned", curve(2))],
     "raise --warmup-steps or --startup-trials",
     "raise n_warmup_steps or n_startup_trials"),
    ("percentile", {"percentile": 10.0}, [(1, "pruned", curve(2))],
     "raise --warmup-steps or --startup-trials or --percentile",
     "raise n_warmup_steps or n_startup_trials or percentile"),
    ("asha", {"max_resource": 9, **ETA3},
     [(0, "done", curve(8)), (1, "pruned", curve(1))],
     "raise --min-resource or lower --reduction-factor",
     "raise min_resource or lower reduction_factor"),
    # eta 2 (the default) is the smallest: only the first rung can move
    ("asha", {"max_resource": 9}, [(0, "done", curve(8)), (1, "pruned", curve(1))],
     "to prune less: raise --min-resource (README",
     "to prune less: raise min_resource (README"),
    ("asha", {}, [(0, "done", curve(9)), (1, "pruned", curve(9))],
     "give --max-resource 9 (max_resource=9), the steps",
     "give max_resource=9, the steps"),
    ("asha", {"max_resource": 100}, [(0, "done", curve(30))],
     "below --max-resource 100 (max_resource): rungs past step 30",
     "below max_resource=100: rungs past step 30"),
    ("hyperband", {"min_resource": 2, "max_resource": 2}, [(0, "done", curve(5))],
     "no rung lies below --max-resource 2 (rungs", "no rung lies below max_resource=2"),
    ("hyperband", {"min_resource": 2, "max_resource": 2}, [(0, "done", curve(5))],
     "lower --min-resource or raise --max-resource",
     "lower min_resource or raise max_resource"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "settings", "trials", "flags", "python"), ADVICE)
def test_advice_names_the_keyword_arguments_in_python(
    name, settings, trials, flags, python
):
    """The same advice names hpo-driver start's flags, or from Python (fmin's
    pruner=...) the pruner's keyword arguments, and then no flag at all."""
    for_cli = pruning_ladder(name, settings, trials)
    in_python = pruning_ladder(name, settings, trials, python=True)
    assert [n for n in for_cli.notes if flags in n], for_cli.notes
    assert [n for n in in_python.notes if python in n], in_python.notes
    assert not [n for n in in_python.notes if "--" in n], in_python.notes
    assert len(in_python.notes) == len(for_cli.notes)


def test_fmin_tells_what_the_pruner_did_in_pythons_words(capsys):
    """In-process fmin with Trials ends by telling what its median pruner did (on
    standard error); its advice names MedianPruner's keyword arguments, not the
    flags of hpo-driver start (which a Python user never typed)."""
    from hpo_service.algorithms.pruners import MedianPruner

    def objective(config):
        for step in range(5):
            report(config["x"] * (step + 1), step)
            if should_prune():
                raise TrialPruned()
        return config["x"]

    trials = Trials()
    fmin(objective, SPACE, algo=rand.suggest, max_evals=20, trials=trials,
         rstate=5, pruner=MedianPruner(n_startup_trials=2))  # fmt: skip
    assert "pruned" in trials.statuses()
    err = capsys.readouterr().err
    assert "to prune less: raise n_warmup_steps or n_startup_trials\n" in err, err
    assert "--warmup-steps" not in err and "--startup-trials" not in err


#: Defaults a future release might give each pruner (``__init__`` defaults), and what
#: the rule of a study that stored no settings must then say.
CHANGED_DEFAULTS = {
    "percentile": (
        "PercentilePruner", (30.0, 7, 2, 1), {"running_average": False},
        ["the 30th percentile of the completed trials' values", "from 7 completed",
         "from step 2"], "behind the 30th percentile",
    ),
    "median": (
        "MedianPruner", (8, 3, 1), {},
        ["the median", "from 8 completed", "from step 3"], "behind the median",
    ),
    "asha": ("ASHAPruner", None, {"reduction_factor": 4}, [], "the best 1/4"),
    "hyperband": ("HyperbandPruner", (1, None, 5, 0), {}, [], "the best 1/5"),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CHANGED_DEFAULTS))
def test_the_rules_take_the_pruners_own_defaults(name, monkeypatch):
    """A setting the study did not store is the pruner's default, read from the
    pruner's class: a changed default changes the rule the report, the dashboard
    and a progress line state (it was written out again in _ladder.py)."""
    from hpo_service.algorithms import pruners

    class_name, positional, keywords, rule_parts, short = CHANGED_DEFAULTS[name]
    init = getattr(pruners, class_name).__init__
    if positional is not None:
        monkeypatch.setattr(init, "__defaults__", positional)
    if keywords:
        monkeypatch.setattr(init, "__kwdefaults__", {**init.__kwdefaults__, **keywords})
    assert short in short_rule(name, {})
    if rule_parts:  # the median and percentile rules, stated without building one
        rule = pruning_ladder(name, {}, []).rule
        assert all(part in rule for part in rule_parts), rule
