"""Cost of the rung table and figure on the report and the dashboard of a large study
under ASHA, before and after they gained the pass counts (issue 9).

Builds the study of ``pruning_cost.py`` (default 10,000 finished trials with 100
reports each and 32 running trials, SQLite) under ASHA (the settings of
``status_cost.py``), then, alternating the code of ``--old`` and of this checkout
(each a fresh interpreter), times in one process: the read the pages make
(``StudyData.from_store``: one ``changes_since``, every trial with its reports),
the store calls made while reading and building the pruning parts (counted by
name: the pages must read nothing more), the dashboard's first answer for the study
(``LiveStore.changes(study, 0)``: the read and the summary with the pruning
record), the summary alone (``summary_of``), the report's pruning section (with the
rungs' figure, as HTML, in the new code; after the report's other figures,
as a report draws them first), the dashboard's ``rungs`` figure as JSON
(new code only), and for comparison ``last_steps``, the one read
``hpo-driver status`` counts from. Run it under the timing lock with an old checkout
beside it::

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
from hpo_service.insight._live import FIGURES, LiveStore, summary_of
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
    started = time.perf_counter()
    value = f()
    out[key] = time.perf_counter() - started
    return value
with open_store(url) as store:
    counted(store)
    data = timed("read", lambda: StudyData.from_store(store, "big"))
    _report.build_report(data, importances=False)  # the figures drawn before it
    timed("summary", lambda: summary_of(data))
    section = _report.pruning_html
    if "figure" in inspect.signature(section).parameters:
        from hpo_service.insight._rungs import rung_figure
        def build():
            return section(data, rung_figure(data.pruning().as_dict()))
        timed("section", build)
        out["section_chars"] = len(build())
    else:
        timed("section", lambda: section(data))
        out["section_chars"] = len(section(data))
    out["calls"] = dict(calls)
with open_store(url) as store:
    live = LiveStore(store)
    first = timed("dashboard_first", lambda: live.changes("big", 0))
    out["summary_keys"] = sorted(first)
    if "rungs" in FIGURES:
        timed("dashboard_rungs_figure", lambda: live.figures("big", ["rungs"]))
    timed("last_steps", lambda: store.last_steps("big"))
print(json.dumps(out))
"""

_PARTS = ["read", "summary", "section", "dashboard_first", "dashboard_rungs_figure",
          "last_steps"]  # fmt: skip


def probe(checkout: Path, url: str) -> dict[str, Any]:
    """One run of :data:`_PROBE` with ``checkout``'s code."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, url],
        cwd=checkout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(run.stdout)


def main() -> None:
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
        medians = {
            part: statistics.median(r[part] for r in got)
            for part in _PARTS
            if part in got[0]
        }
        calls = got[0]["calls"]
        assert all(r["calls"] == calls for r in got)
        print(
            f"{name}: "
            + ", ".join(f"{k} {v:.4f} s" for k, v in medians.items())
            + f"; store calls while reading and building the section: {calls}; "
            f"section {got[0]['section_chars']} chars",
            flush=True,
        )


if __name__ == "__main__":
    main()
