"""Worker subprocesses that ``hpo-driver start --workers K`` runs beside the driver.

- The store URL reaches them through the environment (``HPO_DB``), never their
  command line, which any local user can read with ``ps``.
- Each inherits the read end of a pipe whose write end only the driver holds: when
  the driver dies, even by SIGKILL, the pipe closes and the workers stop by
  themselves (warm: the running trial finishes) instead of running on as orphans.
- They run in their own session, so a terminal's Ctrl-C reaches the driver only, and
  the driver stops them: SIGTERM (finish the trial), a second SIGTERM after a grace
  period (hand the trial back), SIGKILL as the last resort.
- They are named ``w1`` ... ``wK`` (``hpo-worker --worker-id``): each line a worker
  logs starts with its name.
- A worker killed by a signal is logged and replaced, and the driver is told its pid
  (``on_dead``) so that its trial is requeued at once rather than after its lease.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from hpo_service._common.words import counted
from hpo_service.exceptions import HPOServiceError
from hpo_service.store._url import STORE_URL_ENV
from hpo_service.worker._lifeline import PARENT_FD_ENV

_logger = logging.getLogger(__name__)
_IDLE_TIMEOUT_SECONDS = 60
_STOP_GRACE_SECONDS = 10.0
# At least this long between the two SIGTERMs of a stop: a worker handles a signal
# between bytecodes, and two of one kind pending at once count as one (a warm stop).
_SIGNAL_GAP_SECONDS = 1.0
_WAIT_SLICE = 0.05


class LocalWorkers:
    """Starts ``n`` ``hpo-worker`` processes for one study and stops them at the end.

    Args:
        n: How many workers.
        db_url: The store URL (passed through the environment).
        study: The study they serve.
        stop_grace: Seconds a worker may take to finish its trial when stopped,
            before it is told to hand the trial back.
        objective: The study's objective: the workers run it and nothing else
            (``hpo-worker --objective``), whatever the store says later.
        show_output: Whether the workers show what the objective prints on their
            standard error (``hpo-worker --no-objective-output`` when False).
    """

    def __init__(
        self,
        n: int,
        db_url: str,
        study: str,
        *,
        stop_grace: float = _STOP_GRACE_SECONDS,
        objective: str | None = None,
        show_output: bool = True,
    ) -> None:
        self._command = [
            sys.executable, "-m", "hpo_service.worker", "--study", study,
            "--idle-timeout", str(_IDLE_TIMEOUT_SECONDS), "--quiet",
        ]  # fmt: skip
        if objective is not None:
            self._command += ["--objective", objective]
        if not show_output:
            self._command.append("--no-objective-output")
        self._db_url = db_url
        self._n = n
        self._stop_grace = stop_grace
        self._procs: list[subprocess.Popen[bytes]] = []
        self._started: set[int] = set()
        self._lifeline = -1
        self._lifeline_write = -1
        self.on_dead: Callable[[int], None] | None = None

    def __enter__(self) -> LocalWorkers:
        if self._n:
            self._lifeline, self._lifeline_write = os.pipe()
            self._procs = [self._spawn(i) for i in range(self._n)]
            _logger.info("started %s", counted(self._n, "local worker"))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        # a second signal that came before the stop began: no grace either
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        self.stop(at_once=interrupted)

    @property
    def pids(self) -> list[int]:
        """The pids of the current worker processes."""
        return [proc.pid for proc in self._procs]

    @property
    def started_pids(self) -> set[int]:
        """The pids of every worker process started so far, replaced ones too (the
        set itself: it grows as workers are replaced)."""
        return self._started

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        """Start the worker of ``slot`` (0-based), named ``w{slot + 1}``: its log
        lines read ``[w1] ...`` and its trials' owner ids ``w1/host:pid:...``; a
        replacement takes the name of the worker it replaces."""
        env = dict(os.environ)
        env[STORE_URL_ENV] = self._db_url
        env[PARENT_FD_ENV] = str(self._lifeline)
        proc = subprocess.Popen(
            [*self._command, "--worker-id", f"w{slot + 1}"],
            env=env,
            pass_fds=(self._lifeline,),
            start_new_session=True,
        )
        self._started.add(proc.pid)
        return proc

    def check(self) -> None:
        """Replace workers that exited idle or were killed; raise if all failed.

        A worker exits 0 after its idle timeout, but a trial requeued later (a lease
        that expired) still needs one, so an idle exit is replaced while the study
        runs. A worker killed by a signal (SIGKILL, the OOM killer) is logged and
        replaced too, after ``on_dead(pid)`` had its trial requeued. A worker that
        exited with an error (it cannot run the objective) is not replaced.

        Raises:
            HPOServiceError: No local worker is left and the last one failed.
        """
        for i, proc in enumerate(self._procs):
            code = proc.poll()
            if code is not None and code < 0:
                self._replace_killed(i, proc, code)
            elif code == 0:
                self._procs[i] = self._spawn(i)
        codes = [p.poll() for p in self._procs]
        if self._procs and all(c is not None and c != 0 for c in codes):
            raise HPOServiceError(
                f"all {len(codes)} local workers exited with an error (exit codes "
                f"{sorted(set(codes))}); their messages are above"
            )

    def _replace_killed(self, i: int, proc: subprocess.Popen[bytes], code: int) -> None:
        name = _signal_name(-code)
        _logger.warning(
            "local worker %s was killed by %s: requeueing its trial and starting "
            "a replacement",
            proc.pid,
            name,
        )
        if self.on_dead is not None:
            self.on_dead(proc.pid)
        self._procs[i] = self._spawn(i)

    def stop(self, *, at_once: bool = False) -> None:
        """Stop every worker: SIGTERM, a second SIGTERM after the grace, then SIGKILL.

        A :class:`KeyboardInterrupt` while waiting (a second Ctrl-C) cuts the grace
        short and is raised again once the workers are gone.

        Args:
            at_once: Skip the grace (the second signal came before the stop).
        """
        interrupted = at_once
        sent = time.monotonic()
        try:
            self._signal_live(signal.SIGTERM)  # finish the running trial
            self._wait(0.0 if at_once else self._stop_grace)
        except KeyboardInterrupt:
            interrupted = True
        try:
            self._say_still_running(interrupted)
            self._wait(sent + _SIGNAL_GAP_SECONDS - time.monotonic())
            self._signal_live(signal.SIGTERM)  # hand the running trial back
            self._wait(_STOP_GRACE_SECONDS)
        finally:
            self._signal_live(signal.SIGKILL)
            for proc in self._procs:
                proc.wait()
            self._close_lifeline()
        if interrupted and not at_once:
            raise KeyboardInterrupt

    def _say_still_running(self, interrupted: bool) -> None:
        """Say which workers are told to hand their running trials back, and why."""
        live = [proc.pid for proc in self._procs if proc.poll() is None]
        if not live:
            return
        why = (
            "a second signal"
            if interrupted
            else f"they did not finish within --stop-grace {self._stop_grace:g} s"
        )
        _logger.warning(
            "local workers %s hand their running trials back (%s): those trials run "
            "again when the study resumes",
            ", ".join(map(str, live)),
            why,
        )

    def _signal_live(self, signum: int) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while any(p.poll() is None for p in self._procs):
            if time.monotonic() >= deadline:
                return
            time.sleep(_WAIT_SLICE)

    def _close_lifeline(self) -> None:
        for fd in (self._lifeline, self._lifeline_write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._lifeline = self._lifeline_write = -1


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
