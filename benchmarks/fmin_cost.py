"""CPU per trial of in-process ``fmin`` as the ``Trials`` object grows.

    python -m benchmarks.fmin_cost --trials 500 1000 2000 --objectives 2

Runs ``fmin`` on a cheap objective with an in-memory :class:`~hpo_service.Trials`
and reads the process's CPU seconds (``time.process_time``) at every objective call.
For each study size it prints the CPU milliseconds per trial over the whole run and
over its last tenth; with ``--profile``, a second run under cProfile counts the
calls per trial of the result helpers that a scan of every trial calls once per
trial (``shown_result``, ``constraints_count``, ``objective_count``).
With ``--algo rand`` the suggestion costs the same at every size, so a cost per
trial that grows with the study is the bookkeeping's. CPU time, not wall time, so
the numbers hold on a shared machine; compare old and new code in the same run
(``--old DIR`` runs the same sizes with the code of the tree at DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

_CHILD = r"""
import cProfile, json, pstats, sys, time
import numpy as np
import hpo_service
from hpo_service import Trials, fmin, hp, rand, tpe

trials_n, n_obj = int(sys.argv[1]), int(sys.argv[2])
algo, profile = sys.argv[3], sys.argv[4] == "1"
stamps = []

def objective(cfg):
    stamps.append(time.process_time())
    x, y = cfg["x"], cfg["y"]
    losses = [(x - 1) ** 2 + y ** 2, (x + 1) ** 2 + (y - 0.5) ** 2, x * y][:n_obj]
    return {"loss": losses if n_obj > 1 else losses[0], "status": "ok"}

space = {"x": hp.uniform("x", -2, 2), "y": hp.uniform("y", -2, 2)}
suggest = {"rand": rand.suggest, "tpe": tpe.suggest}[algo]
trials = Trials()
prof = cProfile.Profile() if profile else None
start = time.process_time()
if prof:
    prof.enable()
fmin(objective, space, suggest, max_evals=trials_n, trials=trials,
     rstate=np.random.default_rng(0), show_progressbar=False)
if prof:
    prof.disable()
total = time.process_time() - start
tail = max(1, trials_n // 10)
out = {"total_ms": 1e3 * total / trials_n,
       "last_tenth_ms": 1e3 * (stamps[-1] - stamps[-1 - tail]) / tail}
if prof:
    calls = {}
    for (_file, _line, name), row in pstats.Stats(prof).stats.items():
        nc = row[1]
        if name in ("shown_result", "constraints_count", "objective_count"):
            calls[name] = calls.get(name, 0) + nc
    out["calls_per_trial"] = {k: round(v / trials_n, 1) for k, v in calls.items()}
out['module'] = hpo_service.__file__
print(json.dumps(out))
"""


def measure(
    tree: str | None, trials: int, objectives: int, algo: str, profile: bool
) -> dict[str, Any]:
    """One fmin run in a fresh process (``tree`` first on its path); its result:
    CPU ms per trial over the run (``total_ms``) and its last tenth, and with
    ``profile`` the calls per trial of the result helpers."""
    root = tree or str(Path(__file__).resolve().parents[1])
    args = [sys.executable, "-c", _CHILD, str(trials), str(objectives), algo,
            "1" if profile else "0"]  # fmt: skip
    # -c puts the working directory first on sys.path: the tree's code is imported
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--objectives", type=int, default=2)
    parser.add_argument("--algo", choices=("tpe", "rand"), default="tpe")
    parser.add_argument("--old", default=None, help="a tree of the old code")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="count calls too")
    args = parser.parse_args(argv)
    trees = [("new", None)] + ([("old", args.old)] if args.old else [])
    print(f"load {os.getloadavg()[0]:.1f}; {args.objectives} objectives, {args.algo}")
    print("tree  trials  CPU ms/trial  last tenth  calls/trial")
    for _ in range(args.repeats):
        for n in args.trials:
            for name, tree in trees:
                row = measure(tree, n, args.objectives, args.algo, profile=False)
                calls = ""
                if args.profile:
                    prof = measure(tree, n, args.objectives, args.algo, profile=True)
                    calls = str(prof["calls_per_trial"])
                print(
                    f"{name:4}  {n:6}  {row['total_ms']:12.2f}  "
                    f"{row['last_tenth_ms']:10.2f}  {calls}  {row['module']}",
                    flush=True,
                )
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
