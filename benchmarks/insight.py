"""Report and dashboard cost on a long study, beside Optuna's and hyperopt's plots.

    python -m benchmarks.insight --trials 20000 [--repeat 3] [--stability] [--no-peers]

Builds a SQLite study of ``--trials`` finished trials (random points of an 8-parameter
space with log-scale, choice and conditional parameters; 5% errors; 8 workers as
owners) through the store API, then measures:

- ``report``: ``hpo-driver report`` as a user runs it (a fresh process: interpreter
  start and every import included; target < 5 s for 20,000 trials), its wall time
  and its CPU time (user + system: what the wall time would be on an idle core),
  medians of ``--repeat`` runs, with the 1-minute load average before; then
  ``write_report`` in this process from opening the store to the written HTML
  (imports of plotly and scikit-learn included: it runs first), and its parts, also
  as CPU seconds of this process (the import cost measured in a fresh one), which
  a machine shared with other work inflates much less than wall time;
- with ``--stability``: how much the fANOVA importances move over 3 forest seeds,
  and against fitting every tree on all trials instead of a bootstrap sample of at
  most 2,000 (``max_samples``);
- ``dashboard``: the server time of one incremental update after 100 more trials
  finish (``LiveStore.changes`` from the previous cursor plus JSON encoding; target
  < 200 ms), and of the first full load for comparison;
- peers on the same trials: Optuna's history, parallel-coordinate, slice and fANOVA
  importance plots (``optuna.visualization``), and hyperopt's ``main_plot_history`` /
  ``main_plot_vars`` (matplotlib, figures rendered to PNG).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hpo_service import hp
from hpo_service.driver._study import space_settings
from hpo_service.insight import (
    StudyData,
    build_report,
    param_importances,
    write_report,
)
from hpo_service.insight._live import LiveStore
from hpo_service.insight._report import report_html
from hpo_service.space import compile_space, sample_params, space_eval
from hpo_service.store import NewTrial, open_store

SPACE = {
    "lr": hp.loguniform("lr", math.log(1e-5), math.log(1.0)),
    "wd": hp.loguniform("wd", math.log(1e-6), math.log(1e-1)),
    "dropout": hp.uniform("dropout", 0.0, 0.6),
    "layers": hp.quniform("layers", 1, 8, 1),
    "act": hp.choice("act", ["relu", "tanh", "gelu"]),
    "opt": hp.choice("opt", [
        {"name": "adam", "beta1": hp.uniform("beta1", 0.8, 0.99)},
        {"name": "sgd", "momentum": hp.uniform("momentum", 0.0, 0.99)},
    ]),
}  # fmt: skip


def loss(config: dict[str, Any]) -> float:
    value = (math.log10(config["lr"]) + 3) ** 2 + 0.3 * config["dropout"]
    value += (
        0.05 * config["layers"] + {"relu": 0, "tanh": 0.2, "gelu": 0.1}[config["act"]]
    )
    return value


def fill(store: Any, study: str, n: int, rng: np.random.Generator) -> list[dict]:
    """Insert and finish ``n`` trials; returns their (params, loss) for the peers."""
    compiled = compile_space(SPACE)
    points = [sample_params(compiled, rng) for _ in range(n)]
    tids = store.insert_trials(
        study, [NewTrial(p, space_eval(SPACE, p)) for p in points]
    )
    done = []
    for i, (tid, params) in enumerate(zip(tids, points, strict=True)):
        trial = store.claim(f"worker-{i % 8}", 60.0, study=study)
        assert trial is not None and trial.tid == tid
        if rng.random() < 0.05:
            store.fail(
                study, tid, trial.token, {"type": "ValueError", "message": "diverged"}
            )
            done.append({"params": params, "loss": None})
            continue
        value = loss(space_eval(SPACE, params))
        store.complete(
            study, tid, trial.token, {"loss": value, "status": "ok", "duration": 0.01}
        )
        done.append({"params": params, "loss": value})
    return done


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_report(url: str, study: str, out: Path, repeat: int = 1) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    cli, cli_cpu = _median_runs(lambda: _report_cli(url, study, out), repeat)
    _, imports_cpu = _child_cpu(_import_heavy)
    total, _ = timed(lambda: _report(url, study, out))
    with open_store(url) as store:
        load, data = timed(lambda: StudyData.from_store(store, study))
        load_cpu = _cpu(lambda: StudyData.from_store(store, study))
    importance, _ = timed(lambda: param_importances(data))
    report = build_report(data)
    return {"load average (1 min) before": load_before,
            "hpo-driver report (process, wall)": cli,
            "hpo-driver report (process, CPU)": cli_cpu,
            "  CPU: import numpy, scikit-learn, plotly": imports_cpu,
            "  CPU: read the study": load_cpu,
            "  CPU: fANOVA importance": _cpu(lambda: param_importances(data)),
            "  CPU: figures and tables": _cpu(
                lambda: build_report(data, importances=False)),
            "  CPU: HTML text": _cpu(lambda: report_html(report)),
            "report in process (store to file)": total, "  read study": load,
            "  fANOVA importance": importance,
            "report size (MB)": out.stat().st_size / 1e6}  # fmt: skip


def _median_runs(fn: Any, repeat: int) -> tuple[float, float]:
    """Median wall and median CPU seconds of ``repeat`` runs of ``fn`` (children)."""
    runs = np.array([_child_cpu(fn) for _ in range(repeat)])
    return float(np.median(runs[:, 0])), float(np.median(runs[:, 1]))


def _cpu(fn: Any) -> float:
    """CPU seconds (user + system) this process spends in ``fn()``."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def _child_cpu(fn: Any) -> tuple[float, float]:
    """Wall seconds of ``fn()`` and CPU seconds of the child processes it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _ = timed(fn)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _import_heavy() -> None:
    code = "import numpy, sklearn.ensemble, plotly.graph_objects"
    subprocess.run([sys.executable, "-c", code], check=True)


def _report_cli(url: str, study: str, out: Path) -> None:
    """What a user waits for: a fresh interpreter, imports included."""
    subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "report", "--db", url,
         "--study", study, "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip


def _report(url: str, study: str, out: Path) -> None:
    with open_store(url) as store:
        data = StudyData.from_store(store, study)
    write_report(data, out)


def bench_importance_stability(url: str, study: str) -> dict[str, float]:
    """How much the importances move with the forest's seed, and when every tree is
    fitted on all trials instead of a bootstrap sample of at most 2,000."""
    with open_store(url) as store:
        data = StudyData.from_store(store, study)
    by_seed = [_shares(param_importances(data, seed=s)) for s in range(3)]
    labels = sorted(by_seed[0])
    runs = np.array([[run[k] for k in labels] for run in by_seed])
    full = _shares(param_importances(data, max_samples=len(data.rows)))
    mean = runs.mean(axis=0)
    return {"importance: largest spread over 3 seeds": float(np.ptp(runs, 0).max()),
            "importance: largest |capped - all trials|":
                float(np.abs(mean - [full[k] for k in labels]).max()),
            "importance: top parameter share": float(mean.max())}  # fmt: skip


def _shares(ranked: list[Any]) -> dict[str, float]:
    return {p.label: p.importance for p in ranked}


def bench_dashboard(url: str, study: str, rng: np.random.Generator) -> dict[str, float]:
    with open_store(url) as store:
        live = LiveStore(store)
        first, delta = timed(lambda: json.dumps(live.changes(study, 0)))
        cursor = json.loads(delta)["cursor"]
        fill(store, study, 0, rng)  # nothing: keeps the store warm
        store_writes = _finish_more(store, study, 100, rng)
        update, delta = timed(lambda: json.dumps(live.changes(study, cursor)))
        rows = len(json.loads(delta)["rows"])
        figs, _ = timed(lambda: live.figures(study, ["history", "timeline"]))
    assert rows == store_writes, (rows, store_writes)
    return {"dashboard first load": first, "dashboard update, 100 new trials": update,
            "  (rows in the update)": rows,
            "dashboard history+timeline figures": figs}  # fmt: skip


def _finish_more(store: Any, study: str, n: int, rng: np.random.Generator) -> int:
    compiled = compile_space(SPACE)
    points = [sample_params(compiled, rng) for _ in range(n)]
    store.insert_trials(study, [NewTrial(p, space_eval(SPACE, p)) for p in points])
    for _ in range(n):
        trial = store.claim("worker-late", 60.0, study=study)
        store.complete(study, trial.tid, trial.token, {"loss": 1.0, "status": "ok"})
    return n


def bench_optuna(done: list[dict]) -> dict[str, float]:
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "wd": FloatDistribution(1e-6, 1e-1, log=True),
        "dropout": FloatDistribution(0.0, 0.6),
        "layers": FloatDistribution(1, 8),
        "act": CategoricalDistribution([0, 1, 2]),
        "opt": CategoricalDistribution([0, 1]),
        "beta1": FloatDistribution(0.8, 0.99),
        "momentum": FloatDistribution(0.0, 0.99),
    }
    study = optuna.create_study()
    study.add_trials([
        optuna.trial.create_trial(
            params=d["params"], distributions={k: dists[k] for k in d["params"]},
            value=d["loss"],
        )
        for d in done if d["loss"] is not None
    ])  # fmt: skip
    vis = optuna.visualization
    out = {}
    for name, fn in (("history", vis.plot_optimization_history),
                     ("parallel", vis.plot_parallel_coordinate),
                     ("slice", vis.plot_slice),
                     ("importance (fANOVA)", vis.plot_param_importances)):  # fmt: skip
        seconds, _ = timed(lambda fn=fn: fn(study).to_html(include_plotlyjs=False))
        out[f"optuna {name}"] = seconds
    return out


def bench_hyperopt(url: str, study: str) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from hyperopt import plotting

    from hpo_service import StoreTrials

    trials = StoreTrials(url, study)
    out = {}
    for name in ("main_plot_history", "main_plot_vars"):

        def draw(name: str = name) -> None:
            plt.figure()
            getattr(plotting, name)(trials, do_show=False)
            plt.savefig(tempfile.mktemp(suffix=".png"))
            plt.close("all")

        out[f"hyperopt {name} (png)"], _ = timed(draw)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="Runs of `hpo-driver report` (each way); medians are shown.",
    )  # fmt: skip
    parser.add_argument(
        "--stability", action="store_true",
        help="Also refit the importances with other seeds and on all trials.",
    )  # fmt: skip
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        with open_store(url) as store:
            settings = {**space_settings(SPACE), "max_evals": args.trials,
                        "objective": "benchmarks.insight:loss"}  # fmt: skip
            store.create_study("bench", settings)
            seconds, done = timed(lambda: fill(store, "bench", args.trials, rng))
        print(f"filled {args.trials} trials in {seconds:.1f} s")
        results = bench_report(url, "bench", Path(tmp) / "report.html", args.repeat)
        results.update(bench_dashboard(url, "bench", rng))
        if args.stability:
            results.update(bench_importance_stability(url, "bench"))
        if not args.no_peers:
            results.update(bench_optuna(done))
            results.update(bench_hyperopt(url, "bench"))
    results["load average (1 min) after"] = os.getloadavg()[0]
    for key, value in results.items():
        unitless = ("size", "rows", "importance:", "load average")
        unit = "" if any(word in key for word in unitless) else " s"
        print(f"{key:<40} {value:10.3f}{unit}")


if __name__ == "__main__":
    main()
