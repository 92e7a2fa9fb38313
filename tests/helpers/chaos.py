"""A repeatable chaos run: a real study under faults, then its invariants checked.

Not a test (it takes a minute or more per seed): run it by hand after changing the
store, the worker or the driver's runtime, on both backends and several seeds::

    python -m tests.helpers.chaos --backend sqlite --kind asha --seeds 1 2 3
    python -m tests.helpers.chaos --backend mongodb --kind multi --seeds 1 2 3

It starts ``hpo-driver start`` (no local workers) and ``--workers`` ``hpo-worker``
processes on a study whose objective (:mod:`tests.helpers.chaos_objectives`) logs
every attempt: ``asha``, a learning curve reporting every step under ``--pruner
asha``, or ``multi``, two objectives. From a seeded generator, at random moments it
SIGKILLs workers (alone or with their objective process) and the driver, restarting
them; SIGSTOPs workers (briefly, or longer than ``--lease`` so their trial is
requeued, then SIGCONT); SIGSTOPs the driver; drains a worker with SIGUSR1 and
stops the driver warm with SIGTERM; on MongoDB (the MongoDB-wire server of
:mod:`tests.helpers.mongo_wire`, fail points enabled) it arms ``failCommand`` on the
store's commands (closed connections, "not primary" and shutdown errors,
write-concern errors) and steps the primary down. The fault sequence is the seed's;
when each fault lands among the processes' work is not.

When the driver says the study is done (or the run's time is up) the faults stop,
paused processes resume, and the run checks (:func:`check`):

- exactly ``max_evals`` finished trials (done, pruned, error), none new or running;
- no tid recorded twice: at most one worker logged an accepted outcome per trial,
  of the trial's final state; no two trials with the same params;
- a done trial's result names a run of its own params that ended, and its
  intermediate values are exactly that run's reports; a pruned trial's are exactly
  one run's, which logged its pruning at the last step;
- pruned counts agree: ``count_by_state``, ``summarise``, ``status --json``, the
  trials read one by one;
- errors only ``LeaseExpired`` after ``--max-attempts`` attempts; no traceback in
  any process's log.

Exit status 0 if every seed held, 1 otherwise; ``--out`` keeps each run's logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OBJECTIVES = "tests.helpers.chaos_objectives"
STUDY = "chaos"
_ACCEPTED = re.compile(
    r"trial (?P<study>[^/\s]+)/(?P<tid>\d+) (?P<kind>ok: loss|pruned at step)"
)


@dataclass
class Proc:
    """A driver or worker process of the run, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stopped: bool = False
    expected_exit: bool = False  # a signal the process handles was sent

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int, group: bool = False) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)


@dataclass
class Run:
    """One seed's run: its processes, its scheduled actions and what it noted."""

    args: argparse.Namespace
    seed: int
    directory: Path
    db: str
    rng: random.Random
    driver: Proc | None = None
    workers: dict[int, Proc] = field(default_factory=dict)
    later: list[tuple[float, str, Any]] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    starts: Counter[str] = field(default_factory=Counter)
    wire: Any = None  # a pymongo client to arm fail points with
    done: bool = False

    # ---- processes ---------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO)
        env["HPO_CHAOS_LOG"] = str(self.directory / "runs.jsonl")
        env["HPO_CHAOS_PAUSE"] = str(self.args.pause)
        return env

    def spawn(self, name: str, argv: list[str]) -> Proc:
        self.starts[name] += 1
        log = self.directory / f"{name}.{self.starts[name]}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", *argv],
                cwd=REPO,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return Proc(name, popen, log)

    def start_driver(self) -> None:
        self.driver = self.spawn(
            "driver", ["hpo_service.driver.cli", *driver_args(self)]
        )

    def start_worker(self, slot: int) -> None:
        argv = ["hpo_service.worker", "--db", self.db, "--study", STUDY]
        self.workers[slot] = self.spawn(f"w{slot}", [*argv, "--worker-id", f"w{slot}"])

    def at(self, delay: float, what: str, arg: Any = None) -> None:
        self.later.append((time.monotonic() + delay, what, arg))

    # ---- faults --------------------------------------------------------------------

    def fault(self) -> None:
        """Inject one fault drawn from the seed's generator."""
        kinds = [
            "kill_worker", "kill_worker_group", "pause_worker", "pause_past_lease",
            "pause_group_past_lease", "drain_worker", "kill_driver", "pause_driver",
            "stop_driver",
        ]  # fmt: skip
        if self.wire is not None:
            kinds += ["fail_write", "fail_write", "close_connection", "step_down"]
        kind = self.rng.choice(kinds)
        slot = self.rng.randrange(self.args.workers)
        pause = self.rng.uniform(0.2, self.args.lease * 0.5)
        past = self.args.lease + self.rng.uniform(1.0, 3.0)
        getattr(self, f"_{kind}")(slot, pause, past)

    def _worker(self, slot: int) -> Proc | None:
        proc = self.workers.get(slot)
        if proc is None or not proc.alive() or proc.stopped:
            return None
        return proc

    def _kill_worker(self, slot: int, pause: float, past: float, group=False) -> None:
        proc = self._worker(slot)
        if proc is not None:
            proc.signal(signal.SIGKILL, group=group)
            proc.expected_exit = True
            self.faults["kill_worker_group" if group else "kill_worker"] += 1

    def _kill_worker_group(self, slot: int, pause: float, past: float) -> None:
        self._kill_worker(slot, pause, past, group=True)

    def _pause_worker(
        self, slot: int, pause: float, past: float, group=False, fault="pause_worker"
    ) -> None:
        proc = self._worker(slot)
        if proc is not None:
            proc.signal(signal.SIGSTOP, group=group)
            proc.stopped = True
            self.at(pause, "resume", (proc, group))
            self.faults[fault] += 1

    def _pause_past_lease(self, slot: int, pause: float, past: float) -> None:
        self._pause_worker(slot, past, past, fault="pause_past_lease")

    def _pause_group_past_lease(self, slot: int, pause: float, past: float) -> None:
        self._pause_worker(slot, past, past, True, "pause_group_past_lease")

    def _drain_worker(self, slot: int, pause: float, past: float) -> None:
        proc = self._worker(slot)
        if proc is not None:
            self._end(proc, signal.SIGUSR1, "drain_worker")

    def _end(self, proc: Proc | None, sig: int, fault: str) -> None:
        """Send ``sig``, which ends ``proc`` (if it runs and is not paused)."""
        if proc is not None and proc.alive() and not proc.stopped:
            proc.signal(sig)
            proc.expected_exit = True
            self.faults[fault] += 1

    def _kill_driver(self, slot: int, pause: float, past: float) -> None:
        self._end(self.driver, signal.SIGKILL, "kill_driver")

    def _stop_driver(self, slot: int, pause: float, past: float) -> None:
        self._end(self.driver, signal.SIGTERM, "stop_driver")

    def _pause_driver(self, slot: int, pause: float, past: float) -> None:
        if self.driver is not None and self.driver.alive() and not self.driver.stopped:
            self.driver.signal(signal.SIGSTOP)
            self.driver.stopped = True
            self.at(self.rng.choice([pause, past]), "resume", (self.driver, False))
            self.faults["pause_driver"] += 1

    def _arm(self, data: dict[str, Any], times: int) -> None:
        command = {
            "configureFailPoint": "failCommand",
            "mode": {"times": times},
            "data": data,
        }
        try:
            self.wire.admin.command(command)
        except Exception as e:  # the server stepped down meanwhile: skip this one
            self.notes.append(f"note: could not arm a fail point: {e}")

    def _commands(self) -> list[str]:
        names = ["findAndModify", "update", "insert", "find", "aggregate", "delete"]
        return self.rng.sample(names, self.rng.randint(1, 3))

    def _fail_write(self, slot: int, pause: float, past: float) -> None:
        code, label = self.rng.choice(
            [(10107, "NotWritablePrimary"), (91, "ShutdownInProgress"),
             (11600, "InterruptedAtShutdown"), (189, "PrimarySteppedDown"),
             (14031, "OutOfDiskSpace"), (112, "WriteConflict")]
        )  # fmt: skip
        data: dict[str, Any] = {"failCommands": self._commands()}
        if self.rng.random() < 0.7:
            data["errorCode"] = code
            if code not in (14031, 112):  # these may pass, but carry no label
                data["errorLabels"] = ["RetryableWriteError"]
        else:
            data["writeConcernError"] = {
                "code": 64,
                "errmsg": "waiting for replication",
            }
            label = "wc64"
        self._arm(data, self.rng.randint(1, 4))
        self.faults[f"fail_write:{label}"] += 1

    def _close_connection(self, slot: int, pause: float, past: float) -> None:
        data = {"failCommands": self._commands(), "closeConnection": True}
        self._arm(data, self.rng.randint(1, 4))
        self.faults["close_connection"] += 1

    def _step_down(self, slot: int, pause: float, past: float) -> None:
        try:
            self.wire.admin.command({"replSetStepDown": 2, "force": True})
        except Exception as e:
            self.notes.append(f"note: step down failed: {e}")
            return
        self.faults["step_down"] += 1

    # ---- the loop --------------------------------------------------------------------

    def tick(self, chaos: bool) -> None:
        now = time.monotonic()
        due = [item for item in self.later if item[0] <= now]
        self.later = [item for item in self.later if item[0] > now]
        for _, what, arg in due:
            if what == "resume":
                proc, group = arg
                proc.signal(signal.SIGCONT, group=group)
                proc.stopped = False
            elif what == "restart_driver":
                self.start_driver()
            elif what == "restart_worker":
                self.start_worker(arg)
        self._reap(chaos)
        if chaos and self.rng.random() < self.args.rate * self.args.tick:
            self.fault()

    def _reap(self, chaos: bool) -> None:
        driver = self.driver
        if driver is not None and not driver.alive():
            code = driver.popen.returncode
            self.driver = None
            if code == 0:
                self.done = True
            else:
                if not driver.expected_exit:
                    self.notes.append(f"driver exited {code} unasked ({driver.log})")
                self.at(self.rng.uniform(0.0, 2.0), "restart_driver")
        for slot, proc in list(self.workers.items()):
            if proc.alive():
                continue
            code = proc.popen.returncode
            del self.workers[slot]
            if not proc.expected_exit and code != 0:
                self.notes.append(f"worker {proc.name} exited {code} ({proc.log})")
            if not self.done:
                self.at(self.rng.uniform(0.0, 1.5), "restart_worker", slot)

    def resume_all(self) -> None:
        for proc in [self.driver, *self.workers.values()]:
            if proc is not None and proc.stopped:
                proc.signal(signal.SIGCONT, group=True)
                proc.signal(signal.SIGCONT)
                proc.stopped = False
        self.later = [item for item in self.later if item[1] != "resume"]

    def stop_all(self) -> None:
        for proc in [self.driver, *self.workers.values()]:
            if proc is not None and proc.alive():
                proc.signal(signal.SIGKILL, group=True)
                proc.popen.wait()


def driver_args(run: Run) -> list[str]:
    """``hpo-driver start`` arguments of the run's study (the same at each start)."""
    args = run.args
    argv = ["start", "--db", run.db, "--study", STUDY, "--max-evals",
            str(args.max_evals), "--seed", str(run.seed), "--lease-seconds",
            str(args.lease), "--max-attempts", str(args.max_attempts),
            "--no-progress"]  # fmt: skip
    if args.kind == "asha":
        from tests.helpers.chaos_objectives import STEPS

        argv += ["--objective", f"{OBJECTIVES}:curve", "--space",
                 f"{OBJECTIVES}:curve_space", "--pruner", "asha",
                 "--max-resource", str(STEPS)]  # fmt: skip
    else:
        argv += ["--objective", f"{OBJECTIVES}:pair", "--space",
                 f"{OBJECTIVES}:pair_space", "--objectives", "error,cost"]  # fmt: skip
    return argv


def drive(run: Run) -> None:
    """Run the study with faults until it is done or ``--chaos-seconds`` pass; then
    without faults until it is done (or ``--grace`` more seconds pass)."""
    run.start_driver()
    for slot in range(run.args.workers):
        run.start_worker(slot)
    begin = time.monotonic()
    while not run.done and time.monotonic() - begin < run.args.chaos_seconds:
        run.tick(chaos=True)
        time.sleep(run.args.tick)
    run.resume_all()
    calm = time.monotonic()
    while not run.done and time.monotonic() - calm < run.args.grace:
        run.tick(chaos=False)
        run.resume_all()
        time.sleep(run.args.tick)
    if not run.done:
        run.notes.append(
            f"STUCK: the study was not done {run.args.grace:.0f} s after the faults "
            "stopped"
        )
    deadline = time.monotonic() + 30.0
    while run.workers and time.monotonic() < deadline:
        run.tick(chaos=False)  # workers stop on their own once the study is done
        time.sleep(run.args.tick)
    if run.workers:
        run.notes.append(
            "workers still running 30 s after the study was done: "
            + ", ".join(p.name for p in run.workers.values())
        )
    run.stop_all()


# ---- the checks ----------------------------------------------------------------------


def _runs(path: Path) -> dict[str, dict[str, Any]]:
    """run id -> {"key", "reports": {step: value}, "end": bool, "pruned": step}."""
    runs: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return runs
    for line in path.read_text().splitlines():
        event = json.loads(line)
        key = _key(event)
        run = runs.setdefault(
            event["run"], {"key": key, "reports": {}, "end": False, "pruned": None}
        )
        if event["event"] == "report":
            run["reports"][event["step"]] = event["value"]
        elif event["event"] == "end":
            run["end"] = True
        elif event["event"] == "pruned":
            run["pruned"] = event["step"]
    return runs


def _key(record: dict[str, Any]) -> tuple[float, ...]:
    if "level" in record:
        return (record["level"],)
    return (record["x"], record["y"])


def _accepted(directory: Path) -> dict[int, list[str]]:
    """tid -> the outcomes workers logged as accepted (``ok`` or ``pruned``)."""
    found: dict[int, list[str]] = defaultdict(list)
    for log in sorted(directory.glob("w*.log")):
        for line in log.read_text(errors="replace").splitlines():
            match = _ACCEPTED.search(line)
            if match and match["study"] == STUDY:
                kind = "done" if match["kind"].startswith("ok") else "pruned"
                found[int(match["tid"])].append(f"{kind} ({log.name})")
    return found


def check(run: Run) -> list[str]:
    """The invariants of the finished study; what broke (empty if all held)."""
    from hpo_service.store import TrialState, open_store

    with open_store(run.db) as store:
        trials = store.get_trials(STUDY)
        counts = store.count_by_state(STUDY)
        summary = store.summarise(STUDY)
    status = subprocess.run(
        [sys.executable, "-m", "hpo_service.driver.cli", "status", "--db", run.db,
         "--study", STUDY, "--json"],
        cwd=REPO, env=run.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    broken: list[str] = []
    counted = (TrialState.DONE, TrialState.ERROR, TrialState.PRUNED)
    finished = [t for t in trials if t.state in counted]
    if len(finished) != run.args.max_evals:
        broken.append(
            f"{len(finished)} finished trials, max_evals={run.args.max_evals}"
        )
    for state in (TrialState.NEW, TrialState.RUNNING):
        stuck = [t.tid for t in trials if t.state is state]
        if stuck:
            broken.append(f"trials left {state.value}: {stuck}")
    tally = Counter(t.state for t in trials)
    if {s: n for s, n in counts.items() if n} != dict(tally):
        broken.append(f"count_by_state {dict(counts)} != the trials' {dict(tally)}")
    pruned = tally[TrialState.PRUNED]
    if status.returncode != 0:
        broken.append(f"status --json failed: {status.stderr.strip()[-300:]}")
    elif json.loads(status.stdout)["counts"].get("pruned", 0) != pruned:
        broken.append(f"status --json pruned != {pruned}: {status.stdout[:300]}")
    if {s: n for s, n in summary.counts.items() if n} != dict(tally):
        broken.append(f"summarise counts {summary.counts} != the trials' {dict(tally)}")
    broken += _check_driver_counts(run, tally)
    broken += _check_trials(run, trials)
    broken += _check_logs(run)
    return broken


def _check_trials(run: Run, trials: list[Any]) -> list[str]:
    from hpo_service.store import TrialState

    runs = _runs(run.directory / "runs.jsonl")
    by_key: dict[tuple[float, ...], list[str]] = defaultdict(list)
    for rid, r in runs.items():
        by_key[r["key"]].append(rid)
    accepted = _accepted(run.directory)
    broken: list[str] = []
    seen: dict[tuple[float, ...], int] = {}
    for t in trials:
        key = _key(t.config)
        if key in seen and t.state is not TrialState.CANCELLED:
            broken.append(f"trials {seen[key]} and {t.tid} have the same params")
        seen[key] = t.tid
        logged = accepted.get(t.tid, [])
        if len(logged) > 1:
            broken.append(f"trial {t.tid}: {len(logged)} accepted outcomes: {logged}")
        if logged and not logged[0].startswith(t.state.value):
            broken.append(f"trial {t.tid} is {t.state.value}, accepted {logged}")
        if t.state is TrialState.DONE:
            broken += _check_done(t, runs, key)
        elif t.state is TrialState.PRUNED:
            broken += _check_pruned(t, runs, by_key[key])
        elif t.state is TrialState.ERROR:
            kind = (t.error or {}).get("type")
            if kind != "LeaseExpired" or t.attempts < run.args.max_attempts:
                broken.append(f"trial {t.tid} error after {t.attempts}: {t.error}")
    return broken


def _check_done(t: Any, runs: dict[str, Any], key: tuple[float, ...]) -> list[str]:
    rid = (t.result or {}).get("run")
    r = runs.get(rid)
    if r is None or r["key"] != key or not r["end"]:
        return [f"trial {t.tid} done with result of run {rid}, not an ended run of it"]
    if r["reports"] and dict(t.intermediate) != r["reports"]:
        return [
            f"trial {t.tid}: intermediate {t.intermediate} are not the reports of "
            f"its result's run {rid}: {r['reports']}"
        ]
    return []


def _check_pruned(t: Any, runs: dict[str, Any], rids: list[str]) -> list[str]:
    matching = [rid for rid in rids if runs[rid]["reports"] == dict(t.intermediate)]
    if not matching:
        return [f"trial {t.tid} pruned: intermediate {t.intermediate} from no one run"]
    last = max(t.intermediate)
    if not any(runs[rid]["pruned"] == last for rid in matching):
        return [f"trial {t.tid} pruned at {last}, but its run did not prune there"]
    if (t.result or {}).get("loss") != t.intermediate[last]:
        return [f"trial {t.tid} pruned: loss {t.result} != last value"]
    return []


_FINISHED_LINE = re.compile(
    r"study '\w+' finished: --max-evals \d+ reached; (?P<done>\d+) done, "
    r".*?(?P<pruned>\d+) pruned, (?P<error>\d+) error"
)


def _check_driver_counts(run: Run, tally: Counter[Any]) -> list[str]:
    """The last driver's closing line counts what the store holds."""
    from hpo_service.store import TrialState

    logs = sorted(
        run.directory.glob("driver.*.log"), key=lambda p: int(p.suffixes[0][1:])
    )
    text = logs[-1].read_text(errors="replace") if logs else ""
    found = _FINISHED_LINE.search(text)
    if found is None:
        return [f"the last driver did not say the study finished ({logs[-1:]})"]
    said = {s: int(found[s.value]) for s in
            (TrialState.DONE, TrialState.PRUNED, TrialState.ERROR)}  # fmt: skip
    held = {s: tally[s] for s in said}
    if said != held:
        return [f"the driver said {found[0]!r}; the store holds {held}"]
    return []


def _check_logs(run: Run) -> list[str]:
    broken = []
    for log in sorted(run.directory.glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            at = text.index("Traceback")
            broken.append(f"traceback in {log.name}: {text[at : at + 1500]}")
    return broken


def one_seed(args: argparse.Namespace, seed: int, base: str, client: Any) -> bool:
    """Run and check one seed; print what happened; True if every invariant held."""
    directory = args.out / f"{args.backend}-{args.kind}-{seed}"
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.iterdir():
        old.unlink()
    if args.backend == "sqlite":
        db = f"sqlite:///{directory / 'hpo.sqlite'}"
    else:
        from tests.helpers.mongo_wire import with_database

        db = with_database(base, f"chaos_{args.kind}_{seed}_{os.getpid()}")
    run = Run(args, seed, directory, db, random.Random(f"chaos-{seed}"), wire=client)
    started = time.monotonic()
    try:
        drive(run)
    finally:
        run.stop_all()
    broken = check(run) + [n for n in run.notes if not n.startswith("note:")]
    took = time.monotonic() - started
    faults = ", ".join(f"{k}={v}" for k, v in sorted(run.faults.items()))
    verdict = "HELD" if not broken else "BROKEN"
    print(f"{args.backend} {args.kind} seed {seed}: {verdict} in {took:.0f} s; "
          f"faults: {faults}; starts: {dict(run.starts)}", flush=True)  # fmt: skip
    for line in broken:
        print(f"  - {line}", flush=True)
    return not broken


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, start the MongoDB-wire server if needed, run the seeds."""
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.chaos")
    parser.add_argument("--backend", choices=["sqlite", "mongodb"], default="sqlite")
    parser.add_argument("--kind", choices=["asha", "multi"], default="asha")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--max-evals", type=int, default=60)
    parser.add_argument("--lease", type=float, default=3.0, help="--lease-seconds")
    parser.add_argument("--max-attempts", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.3,
                        help="seconds between an objective's steps")  # fmt: skip
    parser.add_argument("--rate", type=float, default=1.0, help="faults per second")
    parser.add_argument("--tick", type=float, default=0.1)
    parser.add_argument("--chaos-seconds", type=float, default=90.0)
    parser.add_argument(
        "--grace", type=float, default=300.0,
        help="seconds the study may take to finish once the faults stopped",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.out = args.out or Path(tempfile.mkdtemp(prefix="hpo-chaos-"))
    print(f"logs in {args.out}", flush=True)
    with contextlib.ExitStack() as stack:
        base, client = "", None
        if args.backend == "mongodb":
            import pymongo

            from tests.helpers.mongo_wire import WireServer

            server = stack.enter_context(
                WireServer.start(args.out / "wire", die_with_parent=True)
            )
            base = server.url
            client = stack.enter_context(pymongo.MongoClient(base))
        held = [one_seed(args, seed, base, client) for seed in args.seeds]
    print(f"{sum(held)}/{len(held)} seeds held", flush=True)
    return 0 if all(held) else 1


if __name__ == "__main__":
    sys.exit(main())
