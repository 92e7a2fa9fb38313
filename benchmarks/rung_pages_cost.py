"""Cost of the rung table and figure on the report and the dashboard of a large study
under ASHA, before and after they gained the pass counts (issue 9).

Builds the study of ``pruning_cost.py`` (default 10,000 finished trials with 100
reports each and 32 running trials, SQLite) under ASHA (the settings of
``status_cost.py``), then, alternating the code of ``--old`` and of this checkout
(each a fresh interpreter), measures in one process, each part as wall and CPU
seconds (CPU time moves less with the machine's load):

- ``read``: what the pages read (``StudyData.from_store``: one ``changes_since``,
  every trial with its reports), and the store calls made by the read and the
  report's figures and HTML (``report_calls``, counted by name: the rung table must
  read nothing more);
- ``report``: the report without importances (``build_report(importances=False)``
  and ``report_html``);
- ``pruning``: the report's pruning section alone (the counts, the table and, new,
  the rungs' figure) on a fresh copy of the rows (nothing cached);
- ``dashboard``: the dashboard's first answer for the study
  (``LiveStore.changes(study, 0)``: the read and the summary with the pruning
  record) and its first request of figures (``dashboard_figures``: history,
  history_time, pareto, timeline and, new, rungs, as the page asks for them), with
  the store calls of both (``dashboard_calls``);
- ``last_steps``: for comparison, the one read ``hpo-driver status`` counts from.

Run it under the timing lock with an old checkout beside it::

    git worktree add -f /tmp/old-pages REV
    flock /tmp/hpo-bench.lock nice -n 19 python -m benchmarks.rung_pages_cost \\
        --old /tmp/old-pages
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.pruning_cost import build_study
from benchmarks.status_cost import PRUNERS
from hpo_service.store import open_store

REPO = Path(__file__).resolve().parents[1]

#: Run in the checkout measured (its ``hpo_service`` first on the path): prints one
#: JSON object of seconds and store call counts.
_PROBE = """
import collections, inspect, json, sys, time
from hpo_service.store import open_store
from hpo_service.insight import StudyData
from hpo_service.insight._live import FIGURES, LiveStore
from hpo_service.insight import _report
url = sys.argv[1]
calls = collections.Counter()
def counted(store):
    for name in dir(type(store)):
        attr = getattr(store, name)
        if name.startswith("_") or not callable(attr):
            continue
        def wrap(*a, _f=attr, _n=name, **k):
            calls[_n] += 1
            return _f(*a, **k)
        setattr(store, name, wrap)
    return store
out = {}
def timed(key, f):
    wall, cpu = time.perf_counter(), time.process_time()
    value = f()
    out[key] = [time.perf_counter() - wall, time.process_time() - cpu]
    return value
def fresh(data):
    copy = StudyData(data.name, data._params, data.settings)
    copy.apply(list(data.rows.values()))
    copy.read_at = data.read_at
    return copy
with open_store(url) as store:
    counted(store)
    data = timed("read", lambda: StudyData.from_store(store, "big"))
    report = timed("report", lambda: _report.build_report(data, importances=False))
    html = _report.report_html(report)
    out["report_calls"] = dict(calls)
    section = _report.pruning_html
    copy = fresh(data)
    if "figure" in inspect.signature(section).parameters:
        from hpo_service.insight._rungs import study_rung_figure
        timed("pruning", lambda: section(copy, study_rung_figure(copy)))
    else:
        timed("pruning", lambda: section(copy))
    calls.clear()
    live = LiveStore(store)
    timed("dashboard", lambda: live.changes("big", 0))
    cheap = [n for n in ("history", "history_time", "pareto", "rungs", "timeline")
             if n in FIGURES]  # the page's first figure request
    timed("dashboard_figures", lambda: live.figures("big", cheap))
    out["dashboard_calls"] = dict(calls)
    timed("last_steps", lambda: store.last_steps("big"))
print(json.dumps(out))
"""

_PARTS = ["read", "report", "pruning", "dashboard", "dashboard_figures", "last_steps"]


def probe(checkout: Path, url: str) -> dict[str, Any]:
    """One run of :data:`_PROBE` with ``checkout``'s code."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, url],
        cwd=checkout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(run.stdout)


def main() -> None:
    """Build the study once, probe ``--old``'s code and this checkout's alternately
    ``--repeats`` times, and print each side's median wall and CPU seconds per part
    and its store calls (the same in every probe, asserted)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="old checkout")
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--running", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'big.sqlite'}"
        started = time.perf_counter()
        build_study(url, args.trials, args.steps, args.running)
        with open_store(url) as store:
            settings = {"pruner": "asha", "pruner_settings": PRUNERS["asha"]}
            store.update_study_settings("big", settings)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
        for _ in range(args.repeats):
            for name, checkout in (("old", args.old), ("new", REPO)):
                runs[name].append(probe(checkout, url))
    for name, got in runs.items():
        parts = []
        for part in (p for p in _PARTS if p in got[0]):
            wall, cpu = (statistics.median(r[part][i] for r in got) for i in (0, 1))
            parts.append(f"{part} {wall:.3f} s ({cpu:.3f} s CPU)")
        for calls in ("report_calls", "dashboard_calls"):
            assert all(r[calls] == got[0][calls] for r in got)
        print(
            f"{name}: " + ", ".join(parts)
            + f"; store calls: report {got[0]['report_calls']}, dashboard "
            f"{got[0]['dashboard_calls']}",
            flush=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
