"""The progress display picks the bar for where it runs: a widget in a Jupyter kernel
(tqdm's notebook bar, when ipywidgets is installed), else the text bar on a terminal,
else log lines. What can be checked outside a notebook: the choice."""

from __future__ import annotations

import io
import logging
import sys
import types

import pytest
from tqdm import tqdm
from tqdm.notebook import tqdm as notebook_tqdm

from hpo_service import fmin, hp, progress
from hpo_service.driver import _progress
from hpo_service.driver._progress import Progress, bar_class, in_notebook


class _Shell:
    def __init__(self, apps):
        self.config = {app: {} for app in apps}


def fake_ipython(monkeypatch, apps):
    """An ``IPython`` module whose ``get_ipython()`` is a shell running ``apps``."""
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: _Shell(apps) if apps is not None else None
    monkeypatch.setitem(sys.modules, "IPython", module)


@pytest.mark.parametrize(
    ("apps", "expected"),
    [(None, False), ([], False), (["TerminalIPythonApp"], False),
     (["IPKernelApp"], True)],
)  # fmt: skip
def test_a_jupyter_kernel_is_told_from_ipython_in_a_terminal(
    monkeypatch, apps, expected
):
    fake_ipython(monkeypatch, apps)
    assert in_notebook() is expected


def test_plain_python_is_no_notebook(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook()


@pytest.mark.parametrize(
    ("notebook", "widgets", "expected"),
    [(True, True, notebook_tqdm), (True, False, tqdm), (False, True, tqdm),
     (False, False, tqdm)],
)  # fmt: skip
def test_the_widget_bar_only_in_a_notebook_with_ipywidgets(notebook, widgets, expected):
    assert bar_class(notebook=notebook, widgets=widgets) is expected


def test_a_notebook_without_widgets_shows_the_text_bar_not_log_lines(
    monkeypatch, capsys
):
    """A kernel's stderr is no terminal: outside a notebook that means log lines, in
    one the (text) bar still shows."""
    fake_ipython(monkeypatch, ["IPKernelApp"])
    monkeypatch.setattr(_progress, "_has_widgets", lambda: False)
    shown = Progress(5, enabled=True)
    shown.update(2, 0.5)
    shown.close()
    err = capsys.readouterr().err
    assert "2/5" in err and "best loss: 0.5" in err


def test_hyperopts_default_callback_picks_the_bar_alike(monkeypatch):
    fake_ipython(monkeypatch, ["IPKernelApp"])
    monkeypatch.setattr(_progress, "_has_widgets", lambda: False)
    with progress.default_callback(initial=1, total=3) as bar:
        assert type(bar) is tqdm and bar.n == 1


class _Terminal(io.StringIO):
    """A terminal's screen: what its streams wrote, in order."""


class _TerminalStream(io.TextIOBase):
    """stdout or stderr of a terminal: two streams, one screen."""

    def __init__(self, screen: _Terminal) -> None:
        self.screen = screen

    def write(self, text: str) -> int:
        return self.screen.write(text)

    def isatty(self) -> bool:
        return True


def _prints(x):
    print("evaluating", x)
    return x**2


@pytest.mark.parametrize("show", [True, progress.tqdm_progress_callback])
def test_what_the_objective_prints_goes_above_the_bar(monkeypatch, show):
    """As hyperopt's bar: a print clears the bar, shows on a line of its own and
    the bar is drawn again below it (not glued to the bar's text)."""
    screen = _Terminal()
    streams = _TerminalStream(screen), _TerminalStream(screen)
    monkeypatch.setattr(sys, "stdout", streams[0])
    monkeypatch.setattr(sys, "stderr", streams[1])
    fmin(_prints, hp.uniform("x", -1, 1), max_evals=3, show_progressbar=show)
    assert (sys.stdout, sys.stderr) == streams  # restored
    out = screen.getvalue()
    assert out.count("evaluating") == 3
    assert "]evaluating" not in out and "\revaluating" in out
    assert out.rindex("3/3") > out.rindex("evaluating")  # the bar below the prints


def test_hyperopts_tqdm_callback_routes_prints_through_tqdm():
    """hyperopt's own test of ``tqdm_progress_callback``."""
    real_stdout = sys.stdout
    with progress.tqdm_progress_callback(initial=0, total=100) as ctx:
        assert sys.stdout != real_stdout
        ctx.postfix = "best loss: 4711"
        ctx.update(42)
    assert sys.stdout == real_stdout


def test_a_run_where_no_trial_finishes_logs_a_line_a_minute(monkeypatch, caplog):
    """Without a terminal, progress is an INFO line every 5 s; a driver waiting for
    workers (or for a long trial) wrote the same '0/6 trials finished, ...' line
    every 5 s, 720 an hour. An unchanged line now comes once a minute, and a
    change is logged within 5 s as before. (A clock of our own, not the wall's.)"""
    now = [0.0]
    monkeypatch.setattr(
        _progress, "time", types.SimpleNamespace(monotonic=lambda: now[0])
    )
    monkeypatch.setattr(_progress, "in_notebook", lambda: False)
    caplog.set_level(logging.INFO, logger=_progress.__name__)
    shown = Progress(6, enabled=True)

    def polls(seconds, done):
        for _ in range(seconds // 5):  # the driver's poll: every 5 s
            now[0] += 5
            shown.update(done, None, front=0)

    polls(125, 0)  # two minutes: nothing finishes
    polls(10, 2)  # two trials finish
    polls(10, 2)
    said = [
        r.getMessage() for r in caplog.records if "trials finished" in r.getMessage()
    ]
    assert said == [
        "0/6 trials finished, Pareto front: 0 trials",  # at 5 s
        "0/6 trials finished, Pareto front: 0 trials",  # at 65 s
        "0/6 trials finished, Pareto front: 0 trials",  # at 125 s
        "2/6 trials finished, Pareto front: 0 trials",  # at 130 s: it changed
    ], said
