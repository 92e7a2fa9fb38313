"""``hpo_service.plotting`` draws what ``hyperopt.plotting`` does, on one Trials."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hpo_service import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, plotting, tpe
from hpo_service.exceptions import AllTrialsFailed
from tests.helpers.pruned_search import pruned_search

matplotlib = pytest.importorskip("matplotlib")  # the dashboard extra
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")
hyperopt_plotting = pytest.importorskip("hyperopt.plotting")

SPACE = {
    "x": hp.uniform("x", -3, 3),
    "log_c": hp.loguniform("log_c", -4, 2),
    "k": hp.choice("k", ["a", "b", "c"]),
}


def objective(config):
    if config["x"] > 2.5:
        return {"status": STATUS_FAIL}
    return {"loss": config["x"] ** 2 + config["log_c"], "status": STATUS_OK}


@pytest.fixture(scope="module")
def trials():
    trials = Trials()
    fmin(objective, SPACE, algo=tpe.suggest, max_evals=40, trials=trials,
         rstate=np.random.default_rng(1), show_progressbar=False)  # fmt: skip
    return trials


def drawn(draw, trials):
    """The scatter points and horizontal lines that ``draw(trials)`` puts on axes."""
    plt.figure()
    draw(trials, do_show=False)
    points, lines = [], []
    for ax in plt.gcf().axes:
        points += [c.get_offsets().tolist() for c in ax.collections]
        lines += [tuple(line.get_ydata()) for line in ax.lines]
    plt.close("all")
    return points, lines


def test_history_draws_the_same_points_as_hyperopt(trials):
    ours = drawn(plotting.main_plot_history, trials)
    theirs = drawn(hyperopt_plotting.main_plot_history, trials)
    assert ours == theirs


def test_vars_draws_the_same_values_as_hyperopt(trials):
    """hyperopt plots log(value) for a "log" label; we plot the value on a log axis."""
    ours, _ = drawn(plotting.main_plot_vars, trials)
    theirs, _ = drawn(hyperopt_plotting.main_plot_vars, trials)
    assert len(ours) == len(theirs) == 3  # panels k, log_c, x (sorted by label)
    for panel, (mine, hyperopts) in enumerate(zip(ours, theirs, strict=True)):
        mine, hyperopts = np.array(mine), np.array(hyperopts)
        if panel == 1:
            hyperopts[:, 1] = np.exp(hyperopts[:, 1])
        np.testing.assert_allclose(mine, hyperopts)


def test_vars_titles_of_long_labels_stay_over_their_own_panels():
    """Labels of 12 to 150 characters (and a unicode one): each panel's title, as
    drawn by matplotlib, ends before the next panel's begins (a 120-character label
    ran across every panel of its row); a short label is kept whole, a long one is
    cut in the middle with "…"; a two-line title stays below the row above."""
    labels = ["a" * 150, "net.layers.0.width", "λ régularisation", "b" * 12,
              "bb.long.label", "c"]  # fmt: skip
    space = {label: hp.uniform(label, 0, 1) for label in labels}
    trials = Trials()
    fmin(lambda c: sum(c.values()), space, algo=tpe.suggest, max_evals=5,
         trials=trials, show_progressbar=False)  # fmt: skip
    plt.figure()
    axes = plotting.main_plot_vars(trials, do_show=False)
    renderer = plt.gcf().canvas.get_renderer()
    boxes = [ax.title.get_window_extent(renderer) for ax in axes]
    for left, right in itertools.pairwise(boxes[:5]):  # the first row
        assert left.x1 < right.x0, (left, right)
    row_above = axes[0].get_window_extent(renderer)  # 5 a row: "c" is below "a…a"
    assert boxes[5].y1 < row_above.y0, (boxes[5], row_above)
    titles = [ax.get_title() for ax in axes]
    plt.close("all")
    assert titles[0].startswith("a") and "…" in titles[0] and titles[0].count("\n") == 1
    assert sorted(labels)[1:] == [t.replace("\n", "") for t in titles[1:]]


def test_history_marks_the_best_loss(trials, capsys):
    plt.figure()
    ax = plotting.main_plot_history(trials, do_show=False)
    best = min(r["loss"] for r in trials.results if r["status"] == STATUS_OK)
    assert ax.lines[0].get_ydata()[0] == best
    assert "avg best error:" in capsys.readouterr().out
    plt.close("all")


def test_history_marks_the_best_trial_that_satisfies_its_constraints(capsys):
    def constrained(config):  # feasible for x >= 1 only
        return {"loss": abs(config["x"]), "constraints": [1 - config["x"]]}

    trials = Trials()
    space = {"x": hp.uniform("x", -3, 3)}
    fmin(constrained, space, algo=tpe.suggest, max_evals=30, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)  # fmt: skip
    assert min(trials.losses()) < 1  # an infeasible trial has the lowest loss
    plt.figure()
    ax = plotting.main_plot_history(trials, do_show=False)
    assert ax.lines[0].get_ydata()[0] == trials.average_best_error() >= 1
    assert f"avg best error: {trials.average_best_error()}" in capsys.readouterr().out
    plt.close("all")


@pytest.fixture(scope="module")
def two_objective_trials():
    def two_losses(config):
        x = config["x"]
        return {"loss": [x**2, (x - 1) ** 2], "status": STATUS_OK}

    trials = Trials(objectives=["err", "cost"])
    fmin(two_losses, {"x": hp.uniform("x", -3, 3)}, algo=tpe.suggest,
         max_evals=15, trials=trials, rstate=np.random.default_rng(0),
         show_progressbar=False)  # fmt: skip
    return trials


def test_plots_of_several_objectives_draw_the_first_one(two_objective_trials, capsys):
    first = [r["loss"][0] for r in two_objective_trials.results]
    plt.figure()
    ax = plotting.main_plot_history(two_objective_trials, do_show=False)
    assert ax.collections[0].get_offsets()[:, 1].tolist() == first
    assert ax.get_ylabel() == "err (first of 2 objectives)"
    assert len(ax.lines) == 0 and "avg best error" not in capsys.readouterr().out
    plt.figure()
    ax = plotting.main_plot_histogram(two_objective_trials, do_show=False)
    assert sum(p.get_height() for p in ax.patches) == 15
    assert "Showing Histogram of 15 jobs" in capsys.readouterr().out
    plt.figure()
    (ax,) = plotting.main_plot_vars(two_objective_trials, do_show=False,
                                    arrange_by_loss=True)  # fmt: skip
    assert sorted(ax.collections[0].get_offsets()[:, 0].tolist()) == sorted(first)
    plt.close("all")


def test_histogram_counts_every_loss(trials):
    plt.figure()
    ax = plotting.main_plot_histogram(trials, do_show=False)
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == sum(1 for r in trials.results if r.get("loss") is not None)
    plt.close("all")


def test_vars_uses_log_axes_for_log_parameters(trials):
    plt.figure()
    axes = plotting.main_plot_vars(trials, do_show=False, colorize_best=3)
    by_title = {ax.get_title(): ax for ax in axes}
    assert by_title["log_c"].get_yscale() == "log"
    assert by_title["x"].get_yscale() == "linear"
    greens = [
        c for c in by_title["x"].collections[0].get_facecolors()
        if c[0] == 0 and c[2] == 0 and c[1] > 0
    ]  # fmt: skip
    assert len(greens) == 3
    plt.close("all")


def test_report_figures_for_in_memory_trials(trials):
    figures = plotting.report_figures(trials)
    assert {"history", "slice", "parallel", "timeline"} <= set(figures)


def test_parallel_axes_tell_a_parameter_named_loss_from_the_loss():
    """The README's sgd example has a parameter ``loss`` (hinge, log_loss, ...)."""
    trials = Trials()
    space = {
        "loss": hp.choice("loss", ["hinge", "log_loss"]),
        "x": hp.uniform("x", 0, 1),
    }
    fmin(lambda c: c["x"] + (c["loss"] == "hinge"), space, algo=tpe.suggest,
         max_evals=8, trials=trials, rstate=np.random.default_rng(0),
         show_progressbar=False)  # fmt: skip
    dims = plotting.report_figures(trials)["parallel"].data[0].dimensions
    assert [d.label for d in dims] == ["loss", "x", "loss (objective)"]


def _trials_with_losses(losses: list[float]) -> Trials:
    """A search whose objective returns ``losses`` in turn."""
    trials = Trials()
    returned = iter(losses)
    fmin(lambda x: next(returned), hp.uniform("x", 0, 1), algo=tpe.suggest,
         max_evals=len(losses), trials=trials, show_progressbar=False,
         rstate=np.random.default_rng(0))  # fmt: skip
    return trials


def test_histogram_leaves_out_infinite_losses_and_says_so(capsys):
    """hyperopt accepts an infinite loss; the histogram bins the finite ones (numpy
    cannot bin infinity) and names how many it left out."""
    trials = _trials_with_losses([1.0, float("inf"), 2.0, float("-inf"), 3.0])
    plt.figure()
    ax = plotting.main_plot_histogram(trials, do_show=False)
    assert sum(p.get_height() for p in ax.patches) == 3
    out = capsys.readouterr().out
    assert "Showing Histogram of 3 jobs (2 with an infinite loss left out)" in out
    plt.close("all")


def test_history_says_how_many_infinite_losses_it_left_out(capsys):
    trials = _trials_with_losses([1.0, float("inf"), 2.0, float("inf"), 3.0])
    plt.figure()
    ax = plotting.main_plot_history(trials, do_show=False)
    finite = np.isfinite(ax.collections[0].get_offsets()[:, 1])
    assert finite.sum() == 3
    out = capsys.readouterr().out
    assert "2 trials with an infinite loss left out (no place on a loss axis)" in out
    plt.close("all")


@pytest.mark.parametrize("name", ["history", "histogram", "vars"])
def test_every_plot_of_a_trials_without_a_loss_is_a_value_error(name):
    """hyperopt's three functions raise ValueError on an empty Trials (hyperopt 0.3:
    an unpacking error); ours name what is missing, for empty and all-failed alike."""
    with pytest.raises(ValueError):
        getattr(hyperopt_plotting, f"main_plot_{name}")(Trials(), do_show=False)
    failed = Trials()
    with pytest.raises(AllTrialsFailed):
        fmin(lambda x: {"status": STATUS_FAIL}, hp.uniform("x", 0, 1),
             algo=tpe.suggest, max_evals=3, trials=failed, show_progressbar=False,
             rstate=np.random.default_rng(0))  # fmt: skip
    for trials in (Trials(), failed):
        plt.figure()
        with pytest.raises(ValueError, match="`trials` must hold a trial with a"):
            getattr(plotting, f"main_plot_{name}")(trials, do_show=False)
        plt.close("all")


def test_history_draws_pruned_trials_in_their_own_colour(capsys):
    """main_plot_history raised KeyError: 'pruned' on any study with pruned trials
    (a pruner's search, or `hpo-driver start --pruner ...` read by URL): they are
    drawn at their last reported value, in the report's orange; the best line stays
    that of the completed trials."""
    trials = pruned_search(tpe.suggest, max_evals=12, steps=9)
    statuses = trials.statuses()
    assert "pruned" in statuses and STATUS_OK in statuses
    plt.figure()
    ax = plotting.main_plot_history(trials, do_show=False)
    colours = [tuple(c) for c in ax.collections[0].get_facecolors()]
    orange = matplotlib.colors.to_rgba(plotting.default_status_colors["pruned"])
    assert colours.count(orange) == statuses.count("pruned")
    best = min(r["loss"] for r in trials.results if r["status"] == STATUS_OK)
    assert ax.lines[0].get_ydata()[0] == best
    plt.close("all")


def test_history_of_a_stored_study_with_pruned_trials(tmp_path):
    """The same study read by URL: the store marks the trial pruned (it raised
    KeyError: 'pruned' here too), and both paths give the report the same rows."""
    from hpo_service.store import NewTrial, open_store

    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(url) as store:
        store.create_study("s", {})
        for x, pruned in ((0.5, True), (0.25, False)):
            (tid,) = store.insert_trials("s", [NewTrial({"x": x}, {"x": x})])
            token = store.claim("w", 60.0, study="s").token
            store.report("s", tid, token, 1, x + 1.0)
            if pruned:
                store.prune("s", tid, token, {"loss": x + 1.0, "status": "pruned"})
            else:
                store.complete("s", tid, token, {"loss": x, "status": STATUS_OK})
    plt.figure()
    ax = plotting.main_plot_history(url, study="s", do_show=False)
    assert ax.collections[0].get_offsets()[:, 1].tolist() == [1.5, 0.25]
    colours = [tuple(c) for c in ax.collections[0].get_facecolors()]
    assert colours[0] == matplotlib.colors.to_rgba("tab:orange")
    assert ax.lines[0].get_ydata()[0] == 0.25
    plt.close("all")
