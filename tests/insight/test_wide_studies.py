"""Views of a study with many parameters and long labels stay readable."""

from __future__ import annotations

from hpo_service import hp
from hpo_service.insight import ParamImportance, parallel_figure, slice_figure

from ._support import random_study

LONG = "encoder.layer_{:02d}.attention.dropout_probability_after_softmax"


def wide_study(n_params: int = 100, n_trials: int = 30):
    space = {LONG.format(i): hp.uniform(LONG.format(i), 0, 1) for i in range(n_params)}
    return random_study(space, lambda c: sum(c.values()), n_trials)


def shown(labels):
    """The names parallel axes show: their lines joined; a name cut in the middle
    (``head…tail``, when it takes more than 5 lines) as the name it stands for."""
    names = [LONG.format(i) for i in range(100)] + ["loss", "err", "latency", "size"]
    out = []
    for label in labels:
        text = label.replace("<br>", "")
        head, cut, tail = text.partition("…")
        (name,) = [n for n in names if n == text or (cut and n[: len(head)] == head
                   and n.endswith(tail))]  # fmt: skip
        out.append(name)
    return out


def ranked(data, order):
    """Importances that rank ``data``'s parameters in ``order`` (indices)."""
    labels = [data.params[i].label for i in order]
    return [
        ParamImportance(label, 1.0 / (k + 1), 0.0, 0.0)
        for k, label in enumerate(labels)
    ]


def panel_titles(fig):
    return [a.text for a in fig.layout.annotations]


def test_slices_of_100_parameters_show_the_most_important_24():
    """A panel per parameter made a 9,500 px figure whose WebGL canvas the browser
    could not hold (points stretched, panels blank): past 24 parameters the slices
    show the most important ones, in that order, and the title says so."""
    data = wide_study()
    order = list(range(99, -1, -4)) + [i for i in range(100) if i % 4 != 3]
    fig = slice_figure(data, importances=ranked(data, order))
    assert len(fig.data) == 24
    shown = [t.hovertemplate.split("=%{x}")[0] for t in fig.data]
    assert shown == [LONG.format(i) for i in order[:24]]
    assert fig.layout.height <= 8 * 280
    assert "the 24 most important of 100 parameters" in fig.layout.title.text
    without = slice_figure(data)  # no importances: the first 24, and says so
    assert [t.hovertemplate.split("=%{x}")[0] for t in without.data] == [
        LONG.format(i) for i in range(24)
    ]
    assert "the first 24 of 100 parameters" in without.layout.title.text


def test_parallel_coordinates_of_100_parameters_show_the_most_important_12():
    """With 100 parameters plotly drew 59 axes side by side, their names run into
    each other: past 12 parameters the axes are the most important ones, in that
    order (as the slices choose theirs), the loss axis is kept, and the title
    says so; without importances, the first 12."""
    data = wide_study()
    order = list(range(99, -1, -4)) + [i for i in range(100) if i % 4 != 3]
    fig = parallel_figure(data, importances=ranked(data, order))
    axes = shown(d.label for d in fig.data[0].dimensions)
    assert axes == [LONG.format(i) for i in order[:12]] + ["loss"]
    assert fig.layout.title.text == (
        "Parallel coordinates (the 12 most important of 100 parameters)"
    )
    without = parallel_figure(data)
    assert shown(d.label for d in without.data[0].dimensions) == [
        LONG.format(i) for i in range(12)
    ] + ["loss"]
    assert "(the first 12 of 100 parameters)" in without.layout.title.text


def test_parallel_coordinates_keep_every_objective_and_few_parameters():
    """A wide multi-objective study keeps an axis per objective next to its 12
    parameters; a study of 12 parameters keeps them all, in its order."""
    from hpo_service.insight import StudyData, TrialRow

    data = wide_study(n_params=30, n_trials=0)
    names = {"objective_names": ["err", "latency", "size"]}
    three = StudyData("mo", data.params, settings=names)
    three.apply(
        TrialRow(tid, "done", {p.label: tid / 10 for p in data.params},
                 losses=(tid, -tid, tid % 3), status="ok")
        for tid in range(10)
    )  # fmt: skip
    fig = parallel_figure(three)
    axes = shown(d.label for d in fig.data[0].dimensions)
    assert axes == [LONG.format(i) for i in range(12)] + ["err", "latency", "size"]
    assert "(the first 12 of 30 parameters)" in fig.layout.title.text
    few = wide_study(n_params=12)
    fig = parallel_figure(few, importances=ranked(few, list(range(11, -1, -1))))
    assert shown(d.label for d in fig.data[0].dimensions) == [
        LONG.format(i) for i in range(12)
    ] + ["loss"]
    assert fig.layout.title.text == "Parallel coordinates"


def test_long_labels_are_wrapped_over_their_panel():
    """A 62-character label over a third of the page ran into its neighbours'
    titles: a panel title keeps at most 36 characters a line, and every line of
    the label is drawn (no character lost)."""
    data = wide_study(n_params=5)
    fig = slice_figure(data)
    for label, title in zip(
        [p.label for p in data.params], panel_titles(fig), strict=True
    ):
        lines = title.split("<br>")
        assert len(lines) > 1 and max(map(len, lines)) <= 36, title
        assert "".join(lines) == label


def test_few_parameters_keep_one_panel_each():
    data = wide_study(n_params=24)
    fig = slice_figure(data)
    assert len(fig.data) == 24
    assert fig.layout.title.text.startswith("Slice: loss against each parameter")


def test_importance_table_columns_line_up_for_long_and_wide_labels(tmp_path):
    """``hpo-driver importance`` padded labels to 24 characters: a longer label, or
    one in CJK characters (two terminal columns each), shifted its numbers out of
    their columns. Every row's numbers now end where the header's do."""
    import subprocess
    import sys
    import unicodedata

    from hpo_service.driver._study import space_settings
    from hpo_service.store import FinishedTrial, open_store

    labels = [LONG.format(0), "学习率_α", "température", "x"]
    space = {label: hp.uniform(label, 0, 1) for label in labels}
    data = random_study(space, lambda c: sum(c.values()), 40)
    url = f"sqlite:///{tmp_path / 'wide.sqlite'}"
    with open_store(url) as store:
        store.create_study("wide", space_settings(space))
        store.insert_finished("wide", [
            FinishedTrial(r.params, r.params, {"loss": r.loss, "status": "ok"})
            for r in data.sorted_rows()
        ])  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "importance", "--db", url,
         "--study", "wide"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip

    def columns(text):  # terminal columns the line takes
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    lines = run.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(labels)
    assert {columns(line) for line in lines} == {columns(lines[0])}, lines
    assert columns(lines[0]) == len(labels[0]) + 31  # the label column fits LONG


def test_done_trials_are_drawn_over_pruned_ones_in_the_history():
    """In a study where most trials are pruned (7,000 of 10,000), the orange crosses
    were drawn over the done trials' dots and hid them: the done trials' trace is
    now drawn last of the markers (on top), and the legend still lists it first."""
    from hpo_service.insight import TrialRow, history_figure

    data = wide_study(n_params=2, n_trials=0)
    data.apply([
        TrialRow(tid, "pruned" if tid % 3 else "done", {LONG.format(0): 0.5,
                 LONG.format(1): 0.5}, loss=float(tid), status="ok",
                 finished_at=1.8e9 + tid)
        for tid in range(30)
    ])  # fmt: skip
    for over in ("number", "time"):
        fig = history_figure(data, over=over)
        markers = [t.name for t in fig.data if t.mode == "markers"]
        assert markers[-1] == "done", markers
        ranks = {t.name: t.legendrank for t in fig.data}
        assert ranks["done"] < ranks["pruned"], ranks
