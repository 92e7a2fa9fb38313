"""What the kept last step adds to one MongoDB report write (``$max`` on ``last_step``).

Since dc1c284 the store's report write (``report_many``'s append) is one
``update_one`` with ``$set`` of the new report keys and ``$max: {last_step: top}``;
before, the ``$set`` alone. This times both forms of that update on one running
trial among N, interleaved (each round runs both, in alternating order), on the same
server and documents, so load drift falls on both alike::

    python benchmarks/last_step_cost.py                 # MongoDB-wire server, N=200
    python benchmarks/last_step_cost.py --trials 2000 --url mongodb://...

Prints the median and p95 per form (milliseconds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.mongo_wire import fresh_database, server


def time_updates(url: str, trials: int, rounds: int) -> dict[str, list[float]]:
    """Seconds of each ``update_one``, per form (``"set"``, ``"set+max"``).

    Args:
        url: A database URL (dropped by the caller).
        trials: Running trials in the collection (the written one is the last).
        rounds: Updates per form.
    """
    import pymongo

    with pymongo.MongoClient(url, w="majority") as client:
        trials_coll = client.get_default_database()["trials"]
        trials_coll.create_index([("tid", 1), ("study", 1)], unique=True)
        token = uuid.uuid4().hex
        trials_coll.insert_many(
            [
                {"study": "big", "tid": tid, "state": "running", "token": token,
                 "intermediate_token": token, "intermediate": {}, "last_step": 0}
                for tid in range(trials)
            ]
        )  # fmt: skip
        query = {"tid": trials - 1, "study": "big", "token": token}
        query |= {"state": "running", "intermediate_token": token}
        times: dict[str, list[float]] = {"set": [], "set+max": []}
        for step in range(rounds):
            forms = ("set", "set+max") if step % 2 else ("set+max", "set")
            for form in forms:
                update: dict[str, dict[str, object]] = {
                    "$set": {f"intermediate.{step}": 0.5}
                }
                if form == "set+max":
                    update["$max"] = {"last_step": step}
                started = time.perf_counter()
                assert trials_coll.update_one(query, update).matched_count == 1
                times[form].append(time.perf_counter() - started)
    return times


def main() -> None:
    """Time the intermediate-value updates of both forms on a fresh database
    (``--trials`` x ``--rounds``) and print each form's median and p95 in ms."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--url", help="a server's mongodb:// URL (default: start one)")
    args = parser.parse_args()
    with server(args.url) as url, fresh_database(url) as database:
        times = time_updates(database, args.trials, args.rounds)
    for form, seconds in times.items():
        ordered = sorted(seconds)
        p95 = ordered[int(0.95 * len(ordered))]
        print(
            f"{form}: median {1000 * statistics.median(ordered):.2f} ms, "
            f"p95 {1000 * p95:.2f} ms, n={len(ordered)}"
        )


if __name__ == "__main__":
    main()
