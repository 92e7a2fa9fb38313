"""``plotting.main_plot_1D_attachment`` draws what hyperopt's draws, rendered."""

from __future__ import annotations

import io
import json
import os
import pickle

import numpy as np
import pytest

from hpo_service import STATUS_OK, Trials, fmin, hp, plotting, rand

matplotlib = pytest.importorskip("matplotlib")  # the dashboard extra
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


def curve_objective(config):
    """A learning curve per trial, attached as hyperopt's docs attach arrays."""
    x = config["x"]
    curve = np.exp(-np.arange(12) / (1 + abs(x))) + x**2
    return {"loss": float(curve[-1]), "status": STATUS_OK,
            "attachments": {"curve": pickle.dumps(curve)}}  # fmt: skip


@pytest.fixture(scope="module")
def trials():
    trials = Trials()
    fmin(curve_objective, {"x": hp.uniform("x", -2, 2)}, algo=rand.suggest,
         max_evals=7, trials=trials, rstate=np.random.default_rng(2),
         show_progressbar=False)  # fmt: skip
    return trials


def rendered(draw, trials, *args, **kwargs):
    """Render ``draw``'s figure to PNG and return what its axes hold."""
    figure = plt.figure()
    draw(trials, *args, do_show=False, **kwargs)
    figure.savefig(io.BytesIO(), format="png")
    (ax,) = figure.axes
    lines = [
        (line.get_ydata().tolist(), line.get_color(), line.get_linewidth(),
         line.get_label())
        for line in ax.lines
    ]  # fmt: skip
    title = ax.get_title()
    plt.close(figure)
    return title, lines


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"colorize_by_loss": False, "line_width": 1.5},
        {"num_trails": 3, "max_darkness": 0.9, "preprocessing_fn": np.cumsum},
    ],
)
def test_draws_the_same_lines_as_hyperopt(trials, options):
    hyperopt_plotting = pytest.importorskip("hyperopt.plotting")
    ours = rendered(plotting.main_plot_1D_attachment, trials, "curve", **options)
    theirs = rendered(hyperopt_plotting.main_plot_1D_attachment, trials, "curve",
                      **options)  # fmt: skip
    assert ours == theirs
    title, lines = ours
    assert title == "curve" and len(lines) == options.get("num_trails", 7)


def test_a_stored_study_by_url_with_numpy_json_and_pickled_attachments(
    tmp_path, capsys
):
    """On the store path attachments are bytes; pickles of arrays and numbers are
    read, so are ``np.save`` files and JSON lists; anything else in a pickle (code
    to run) is refused, never loaded."""
    from hpo_service.store import NewTrial, open_store

    saved = io.BytesIO()
    np.save(saved, np.array([3.0, 2.0, 1.0]))
    blobs = {
        0.5: pickle.dumps([1.0, 0.5, 0.25], protocol=2),
        0.25: saved.getvalue(),
        0.75: json.dumps([4, 3, 2]).encode(),
        1.0: pickle.dumps(np.array([[1.0], [2.0], [3.0]]), protocol=5),
        0.6: pickle.dumps(np.ones((2, 2))),  # not 1-D: left out, saying so
    }
    url = f"sqlite:///{tmp_path / 'hpo.sqlite'}"
    with open_store(url) as store:
        store.create_study("s", {})
        for loss, blob in blobs.items():
            (tid,) = store.insert_trials("s", [NewTrial({"x": loss}, {"x": loss})])
            token = store.claim("w", 60.0, study="s").token
            store.put_attachments("s", tid, token, {"curve": blob})
            store.complete("s", tid, token, {"loss": loss, "status": STATUS_OK})
    _, lines = rendered(plotting.main_plot_1D_attachment, url, "curve", study="s")
    assert "1 trial left out: 'curve' is not one-dimensional" in capsys.readouterr().out
    assert [ydata for ydata, *_ in lines] == [
        [1.0, 0.5, 0.25], [3.0, 2.0, 1.0], [4, 3, 2], [1.0, 2.0, 3.0]
    ]  # fmt: skip
    alphas = [colour[3] for _, colour, *_ in lines]
    assert alphas == pytest.approx([0.5 * t for t in (1 / 3, 0, 2 / 3, 1)])

    class Exploit:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    with open_store(url) as store:
        (tid,) = store.insert_trials("s", [NewTrial({"x": 2.0}, {"x": 2.0})])
        token = store.claim("w", 60.0, study="s").token
        store.put_attachments("s", tid, token, {"curve": pickle.dumps(Exploit())})
        store.complete("s", tid, token, {"loss": 2.0, "status": STATUS_OK})
    with pytest.raises(ValueError, match=r"attachment 'curve' of trial 5.*system"):
        rendered(plotting.main_plot_1D_attachment, url, "curve", study="s")
    assert not (tmp_path / "ran").exists()


def test_an_attachment_no_trial_has_is_a_value_error(trials, capsys):
    plt.figure()
    with pytest.raises(ValueError, match="attachment 'curv'"):
        plotting.main_plot_1D_attachment(trials, "curv", do_show=False)
    plt.close("all")
