"""Importances of a study without a search space (a copy made by ``hpo-driver import
--create``) say that each parameter was measured on a linear scale of the values
seen: a log-scale parameter's importance then differs from the original study's,
which measures it on its prior's (log) scale. ``hpo-driver importance`` says it on
standard error (its table on standard output unchanged) and the report says it in
its notes and in the importance plot's title (real processes).

Before, the numbers differed from the original study's without a word.
"""

from __future__ import annotations

import math

from ._support import hpo_driver, imported_study

NOTE = (
    "study 's' has no search space (an imported copy?): its numeric parameters are "
    "measured on a linear scale of the values seen, so the importance of a "
    "log-scale one (hp.loguniform, hp.qloguniform) may differ from the original "
    "study's; give the study its space (`hpo-driver start --space REF`) to measure "
    "each on its prior's scale"
)


def _imported_copy(tmp_path) -> str:
    """A study of ``lr`` spread over four decades (log-scale) and ``m``, imported
    without a space."""
    records = [
        {"tid": i, "state": "done",
         "params": {"lr": 10 ** (-5 + 4 * (i % 7) / 6), "m": (i * 0.37) % 1},
         "result": {"loss": (math.log10(10 ** (-5 + 4 * (i % 7) / 6)) + 3) ** 2
                    + 0.1 * ((i * 0.37) % 1), "status": "ok"}}
        for i in range(20)
    ]  # fmt: skip
    return imported_study(tmp_path, records)


def test_importance_and_report_say_the_scales_are_linear(tmp_path):
    db = _imported_copy(tmp_path)
    run = hpo_driver("importance", "--db", db, "--study", "s")
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.splitlines()[0].startswith("parameter"), run.stdout
    assert f"note: {NOTE}" in " ".join(run.stderr.split()), run.stderr
    out = tmp_path / "report.html"
    run = hpo_driver("report", "--db", db, "--study", "s", "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    page = out.read_text()
    assert NOTE.replace("'", "&#x27;") in page or NOTE in page
    assert "no search space: each parameter on a linear scale" in page
