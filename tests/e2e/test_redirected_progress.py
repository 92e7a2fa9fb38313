"""A plain script whose output goes to a file (``python script.py > log 2>&1``) and
that configured no logging: ``fmin``'s default ``show_progressbar=True`` writes one
end line to standard error (finished trials by state, the best loss, what stopped
the search) and nothing per trial; ``show_progressbar=False`` stays silent. Real
processes, stderr a file."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent(
    """
    import itertools
    import sys
    from hpo_service import Trials, fmin, hp
    from hpo_service.mongoexp import MongoTrials
    from tests.helpers.objectives import dispatch, quadratic

    space = {"x": hp.uniform("x", 0.0, 6.0)}
    # returns status "fail" for points 0 and 2, "ok" for point 1: 2 failed of 3
    statuses = {"call": "returns_dict", "status": hp.choice("s", ["ok", "fail"])}
    points = [{"s": 1}, {"s": 0}, {"s": 1}]
    calls = itertools.count(1)

    def failing(config):  # every third call raises: 4 error trials of 12
        if next(calls) % 3 == 0:
            raise ValueError("boom")
        return quadratic(config)

    fmin(quadratic, space, max_evals=3, trials=Trials(), show_progressbar=False)
    print("== in process", file=sys.stderr, flush=True)
    fmin(failing, space, max_evals=12, trials=Trials(), catch_eval_exceptions=True)
    print("== store", file=sys.stderr, flush=True)
    trials = MongoTrials(sys.argv[1], exp_key="s", workers=1)
    fmin(quadratic, space, max_evals=3, trials=trials)
    print("== silent store", file=sys.stderr, flush=True)
    fmin(quadratic, space, max_evals=4, trials=trials, show_progressbar=False)
    print("== status fail", file=sys.stderr, flush=True)
    fmin(dispatch, statuses, max_evals=3, trials=Trials(), points_to_evaluate=points)
    trials = MongoTrials(sys.argv[1], exp_key="f", workers=1)
    fmin(dispatch, statuses, max_evals=3, trials=trials, points_to_evaluate=points)
    """
)
END = re.compile(
    r"^(\d+)/(\d+) trials finished \((\d+) done(?:, (\d+) failed)?"
    r"(?:, (\d+) error)?\), "
    r"best loss: \S+; stopped: (.+)$"
)  # fmin says what stopped it, in its own argument's words


TWELVE = "max_evals=12 reached"
THREE = "max_evals=3 reached"


def run(tmp_path: Path, db_url: str) -> list[str]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    log = tmp_path / "log"
    with open(log, "w") as err:
        done = subprocess.run(
            [sys.executable, str(script), db_url], cwd=REPO, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err, timeout=300, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
    lines = log.read_text().splitlines()
    assert done.returncode == 0, lines
    return lines


def check(lines: list[str]) -> None:
    # Error trials are warned about one by one (as hyperopt's "job exception"):
    # that is no progress output.
    lines = [x for x in lines if not x.endswith("recorded as an error")]
    assert lines[0] == "== in process"  # show_progressbar=False: nothing
    at = lines.index("== store")
    (end,) = lines[1:at]  # one line, nothing per trial
    assert END.match(end).groups() == ("12", "12", "8", None, "4", TWELVE), end
    (store,) = lines[at + 1 : lines.index("== silent store")]
    assert END.match(store).groups() == ("3", "3", "3", None, None, THREE), store
    at = lines.index("== silent store")
    assert lines[at + 1] == "== status fail"  # show_progressbar=False: nothing
    # A result of status "fail" (hyperopt's STATUS_FAIL) is no "done" trial
    # for the reader: both paths count them apart, as `hpo-driver status` does.
    in_process, store = lines[at + 2 :]
    for end in (in_process, store):
        assert END.match(end).groups() == ("3", "3", "1", "2", None, THREE), end


def test_a_redirected_script_shows_how_each_search_ended(tmp_path):
    """In process, then through a store with a local worker: MongoTrials (a
    StoreTrials: the same driver loop) on a SQLite URL, which it takes too; the
    end line does not depend on the backend, and SQLite keeps the test fast."""
    check(run(tmp_path, f"sqlite:///{tmp_path / 'hpo.sqlite'}"))
