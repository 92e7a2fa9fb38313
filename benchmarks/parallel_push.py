"""What the pending points do to each modelled pick of a parallel run (ours only).

    python -m benchmarks.parallel_push --problem ackley5 --workers 16 \\
        --seeds 32 --seed-offset 6000

Runs ``parallel_efficiency.py``'s simulation (same seeds, same runs) with our TPE
instrumented: at every modelled suggestion it records, besides the pick made (with
the liars in the bad density), the pick the same candidates would have given without
the liars (the bad density's component of the finished trials alone), and evaluates
both on the objective. A counterfactual, one step deep: the no-liar pick is never
run, so the study goes on as recorded. Printed per window of finished trials
(medians over the picks of all seeds unless said): how many points were pending and
how many were in the good set; the share of picks the liars changed; of the changed
picks, the loss of the pick made and of the no-liar pick, the share where the pick
made is worse, and both picks' distance to the optimum and to the nearest good point
(root mean square over the dimensions, in units of the range; the distance to the
good point also in the good density's bandwidths). Box problems with a known optimum
point only (``_OPTIMA``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from benchmarks.parallel_efficiency import SAMPLERS, SimConfig, Simulation
from benchmarks.problems import BOX_BOUNDS, PROBLEMS
from hpo_service.algorithms._tpe import sampler as tpe_sampler

#: The optimum's point of the box problems whose optimum is one known point.
_OPTIMA = {"ackley5": [0.0] * 5, "rosenbrock5": [1.0] * 5}
WINDOWS = ((10, 30), (30, 60), (60, 100), (100, 300))
_RECORD: list[dict[str, Any]] = []


def _instrumented_log_ratio(good: Any, bad: Any, candidates: Any) -> np.ndarray:
    """``_log_ratio`` that also records the no-liar scores of the same candidates."""
    score = _ORIGINAL(good, bad, candidates)
    if isinstance(bad, tpe_sampler._Mixture):
        first = bad.densities[0]
        alt = _ORIGINAL(good, first, candidates)
    else:
        alt = score
    _RECORD.append(
        {
            "score": score,
            "alt": alt,
            "values": candidates.values.copy(),
            "good_mus": good.mus[:-1].copy(),
            "good_sigmas": good.sigmas[:-1].copy(),
        }
    )
    return score


_ORIGINAL = tpe_sampler._log_ratio


def _ours(name: str, seed: int, settings: dict[str, Any], picks: list[dict]) -> Any:
    low, high = np.array(BOX_BOUNDS[name], dtype=float).T
    optimum = (np.array(_OPTIMA[name]) - low) / (high - low)
    problem = PROBLEMS[name]

    class Pushed(SAMPLERS["ours"]):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(problem, seed, dict(settings))
            self.finished = 0

        def ask(self, n: int, pending: list[Any]) -> list[Any]:
            _RECORD.clear()
            out = super().ask(n, pending)
            if _RECORD:
                self._note(_RECORD[-1], n, len(pending))
            return out

        def _note(self, rec: dict[str, Any], n: int, n_pending: int) -> None:
            m = rec["score"].size // n
            made = np.argmax(rec["score"].reshape(n, m), axis=1) + m * np.arange(n)
            alt = np.argmax(rec["alt"].reshape(n, m), axis=1) + m * np.arange(n)
            unit = (rec["values"] - low) / (high - low)
            mus, sigmas = rec["good_mus"], rec["good_sigmas"]
            ranks = _ranks(problem, mus, low, high)
            for row, (i, j) in enumerate(zip(made, alt, strict=True)):
                picks.append(
                    {
                        "finished": self.finished,
                        "pending": n_pending + row,
                        "good": len(mus),
                        "changed": bool(i != j),
                        "loss": problem.loss(list(rec["values"][i])),
                        "alt_loss": problem.loss(list(rec["values"][j])),
                        "to_opt": _rms(unit[i], optimum),
                        "alt_to_opt": _rms(unit[j], optimum),
                        "to_good": _nearest(unit[i], mus, sigmas),
                        "alt_to_good": _nearest(unit[j], mus, sigmas),
                        "rank": _nearest_rank(unit[i], mus, ranks),
                        "alt_rank": _nearest_rank(unit[j], mus, ranks),
                    }
                )

        def tell(self, trial: Any, loss: float) -> None:
            super().tell(trial, loss)
            self.finished += 1

    return Pushed()


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _nearest(x: np.ndarray, mus: np.ndarray, sigmas: np.ndarray) -> tuple[float, float]:
    """RMS distance to the nearest good point: in range units, and in bandwidths."""
    if mus.shape[0] == 0:
        return float("nan"), float("nan")
    plain = np.sqrt(np.mean((mus - x) ** 2, axis=1))
    scaled = np.sqrt(np.mean(((mus - x) / sigmas) ** 2, axis=1))
    return float(plain.min()), float(scaled.min())


def _ranks(problem: Any, mus: np.ndarray, low: np.ndarray, high: np.ndarray):
    """Each good point's rank by loss (0: the best)."""
    losses = [problem.loss(list(low + mu * (high - low))) for mu in mus]
    return np.argsort(np.argsort(losses))


def _nearest_rank(x: np.ndarray, mus: np.ndarray, ranks: np.ndarray) -> float:
    """The loss rank of the good point nearest to ``x`` (RMS distance)."""
    if mus.shape[0] == 0:
        return float("nan")
    return float(ranks[int(np.argmin(np.sum((mus - x) ** 2, axis=1)))])


def summary(picks: list[dict[str, Any]], start: int, stop: int) -> dict[str, float]:
    """The window's medians (see the module docstring)."""
    rows = [p for p in picks if start <= p["finished"] < stop]
    changed = [p for p in rows if p["changed"]]
    if not rows:
        return {}

    def med(key: str, sub: list[dict[str, Any]], k: int | None = None) -> float:
        vals = [p[key] if k is None else p[key][k] for p in sub]
        return float(np.nanmedian(vals)) if vals else float("nan")

    return {
        "picks": len(rows),
        "pending": med("pending", rows),
        "good": med("good", rows),
        "changed": len(changed) / len(rows),
        "loss": med("loss", changed),
        "alt_loss": med("alt_loss", changed),
        "worse": float(np.mean([p["loss"] > p["alt_loss"] for p in changed]))
        if changed
        else float("nan"),
        "to_opt": med("to_opt", changed),
        "alt_to_opt": med("alt_to_opt", changed),
        "to_good": med("to_good", changed, 0),
        "alt_to_good": med("alt_to_good", changed, 0),
        "to_good_bw": med("to_good", changed, 1),
        "alt_to_good_bw": med("alt_to_good", changed, 1),
        "best_good": float(np.mean([p["rank"] == 0 for p in changed]))
        if changed
        else float("nan"),
        "alt_best_good": float(np.mean([p["alt_rank"] == 0 for p in changed]))
        if changed
        else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="ackley5", choices=sorted(_OPTIMA))
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--seed-offset", type=int, default=6000)
    parser.add_argument("--evals", type=int, default=300)
    parser.add_argument("--ours-settings", default="{}", help="JSON for tpe.suggest")
    args = parser.parse_args()
    settings = json.loads(args.ours_settings)
    tpe_sampler._log_ratio = _instrumented_log_ratio
    picks: list[dict[str, Any]] = []
    for seed in range(args.seed_offset, args.seed_offset + args.seeds):
        sampler = _ours(args.problem, seed, settings, picks)
        config = SimConfig(workers=args.workers, evals=args.evals)
        Simulation(sampler, config, seed).run()
    for start, stop in WINDOWS:
        stats = summary(picks, start, stop)
        text = "  ".join(f"{k} {v:.3g}" for k, v in stats.items())
        print(f"finished {start:>3}-{stop:<3} {text}")


if __name__ == "__main__":
    main()
