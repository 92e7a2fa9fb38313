"""CPU time of short ``hpo-driver`` and ``hpo-worker`` commands: their start-up.

    python -m benchmarks.cli_startup                            # this checkout
    python -m benchmarks.cli_startup --code /tmp/old --code .   # alternated
    python -m benchmarks.cli_startup --stores sqlite --rounds 9 --peers

A read command (``status``, ``best``, ``trials``) or a ``--help`` does little work, so
its cost is the interpreter's start and the modules it imports; the test suite starts
hundreds of them. A study of 40 trials (``examples.quadratic``, seed 0, 2 local
workers) is written once per store (SQLite, and the MongoDB-wire server
``secantusd-py`` started on a free port unless ``--url`` names a server), then each
command runs ``--rounds`` times per checkout as its own process, the checkouts
alternated within each round (``--code DIR``: a directory holding an
``hpo_service`` package, e.g. ``git worktree add /tmp/old <commit>``; run as the
console scripts do: ``from hpo_service.driver.cli import main; main()``).

Printed per command and checkout: the least and the median CPU milliseconds (user +
system, from ``wait4``) over the rounds; the least is the steadiest on a shared
machine. A first, unmeasured round writes the ``__pycache__`` files (the commands
run without ``PYTHONDONTWRITEBYTECODE``), as an installed package has them. ``python
-c pass`` is the floor. ``--peers`` adds Optuna's ``optuna --version`` and ``optuna
studies`` (on a SQLite file) and hyperopt's ``hyperopt-mongo-worker --help`` (from
the bench extra) as reference points.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

_SCRIPT = "import sys; sys.argv[0] = {name!r}; from {module} import main; main()"
_DRIVER = _SCRIPT.format(name="hpo-driver", module="hpo_service.driver.cli")
_WORKER = _SCRIPT.format(name="hpo-worker", module="hpo_service.worker.cli")

#: label -> (program, arguments); "S" stands for the study, read commands add --db.
COMMANDS = {
    "hpo-driver --help": (_DRIVER, ["--help"]),
    "hpo-driver start --help": (_DRIVER, ["start", "--help"]),
    "hpo-driver status": (_DRIVER, ["status", "--study", "S"]),
    "hpo-driver best": (_DRIVER, ["best", "--study", "S"]),
    "hpo-driver trials --format csv": (_DRIVER, ["trials", "--study", "S"]),
    "hpo-worker --help": (_WORKER, ["--help"]),
    "hpo-worker --version": (_WORKER, ["--version"]),
}
_READS = ("status", "best", "trials")
_STUDY = "startup"


def cpu_ms(argv: list[str], env: dict[str, str], cwd: str) -> float:
    """Run ``argv`` to its end; its user + system CPU milliseconds.

    Raises:
        RuntimeError: The command exited non-zero.
    """
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=sink)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} exited {os.waitstatus_to_exitcode(status)}")
    return 1000 * (usage.ru_utime + usage.ru_stime)


def command_argv(label: str, db_url: str) -> list[str]:
    """The argument vector of the command ``label`` on the store ``db_url``."""
    program, args = COMMANDS[label]
    args = [_STUDY if a == "S" else a for a in args]
    if args[0] in _READS:
        args += ["--db", db_url]
    return [sys.executable, "-c", program, *args]


def peer_commands(tmp: str) -> dict[str, list[str]]:
    """Optuna's and hyperopt's command lines, where installed (their reference)."""
    peers: dict[str, list[str]] = {}
    optuna = shutil.which("optuna", path=str(Path(sys.executable).parent))
    if optuna:
        storage = f"sqlite:///{tmp}/optuna.sqlite"
        subprocess.run(
            [optuna, "create-study", "--storage", storage, "--study-name", _STUDY],
            check=True, capture_output=True,
        )  # fmt: skip
        peers["optuna --version"] = [optuna, "--version"]
        peers["optuna studies"] = [optuna, "studies", "--storage", storage]
    hyperopt = shutil.which(
        "hyperopt-mongo-worker", path=str(Path(sys.executable).parent)
    )
    if hyperopt:
        peers["hyperopt-mongo-worker --help"] = [hyperopt, "--help"]
    return peers


def write_study(db_url: str, tmp: str) -> None:
    """Run a 40-trial study of ``examples.quadratic`` on ``db_url`` (this checkout)."""
    subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "start", "--db", db_url,
         "--study", _STUDY, "--objective", "examples.quadratic:objective",
         "--space", "examples.quadratic:space", "--max-evals", "40", "--seed", "0",
         "--workers", "2", "--no-progress"],
        check=True, capture_output=True, cwd=Path(__file__).parents[1],
    )  # fmt: skip


@contextlib.contextmanager
def stores(kinds: list[str], url: str | None, tmp: str) -> Iterator[dict[str, str]]:
    """``{name: URL}`` of each store to read, each holding the study."""
    found = {}
    with contextlib.ExitStack() as stack:
        if "sqlite" in kinds:
            found["SQLite"] = f"sqlite:///{tmp}/startup.sqlite"
        if "mongodb" in kinds:
            from benchmarks.mongo_wire import fresh_database, server

            served = stack.enter_context(server(url))
            found["MongoDB-wire"] = stack.enter_context(fresh_database(served))
        for db_url in found.values():
            write_study(db_url, tmp)
        yield found


def measure(
    rows: dict[str, tuple[list[str], bool]], codes: list[Path], rounds: int, tmp: str
) -> dict[tuple[str, Path], list[float]]:
    """CPU ms of each row's argv, ``rounds`` times: once per checkout where the row
    compares them (in alternating order), else once (with the first checkout)."""
    runs: dict[tuple[str, Path], list[float]] = {}
    for r in range(-1, rounds):  # round -1 writes the bytecode caches, unmeasured
        order = codes if r % 2 == 0 else codes[::-1]
        for label, (argv, compared) in rows.items():
            for code in order if compared else codes[:1]:
                ms = cpu_ms(argv, _env(code), tmp)
                if r >= 0:
                    runs.setdefault((label, code), []).append(ms)
    return runs


def _env(code: Path) -> dict[str, str]:
    """This environment, importing ``code``'s package, with bytecode caches on (as
    an installed package has them: compiling every module at each start would be
    most of what is measured)."""
    env = dict(os.environ, PYTHONPATH=str(code))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def table(runs: dict[tuple[str, Path], list[float]], codes: list[Path]) -> str:
    """One line per command: least / median CPU ms of each checkout."""
    lines = [f"{'command':<46}" + "".join(f"{c.name[:20]:>24}" for c in codes)]
    for label in dict.fromkeys(label for label, _ in runs):
        cells = []
        for code in codes:
            xs = runs.get((label, code))
            cells.append(
                f"{min(xs):9.0f} / {statistics.median(xs):5.0f} ms" if xs else ""
            )
        lines.append(f"{label:<46}" + "".join(f"{c:>24}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, action="append")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "mongodb"])
    parser.add_argument("--url", help="a running MongoDB server (default: start one)")
    parser.add_argument("--peers", action="store_true", help="optuna's, hyperopt's")
    args = parser.parse_args()
    codes = [c.resolve() for c in args.code or [Path(__file__).parents[1]]]
    with (
        tempfile.TemporaryDirectory() as tmp,
        stores(args.stores, args.url, tmp) as dbs,
    ):
        rows = {"python -c pass": ([sys.executable, "-c", "pass"], False)}
        for label in COMMANDS:
            on = dbs.items() if label.split()[1] in _READS else [("", "")]
            for store, db_url in on:
                name = f"{label} ({store})" if store else label
                rows[name] = (command_argv(label, db_url), True)
        if args.peers:
            rows.update({k: (v, False) for k, v in peer_commands(tmp).items()})
        print(f"CPU ms, least / median of {args.rounds} rounds (user + system)")
        print(table(measure(rows, codes, args.rounds, tmp), codes))


if __name__ == "__main__":
    main()
