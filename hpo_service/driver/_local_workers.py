"""Worker subprocesses that ``hpo-driver start --workers K`` runs beside the driver."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

from hpo_service.exceptions import HPOServiceError

_logger = logging.getLogger(__name__)
_IDLE_TIMEOUT_SECONDS = 60
_STOP_GRACE_SECONDS = 10.0


class LocalWorkers:
    """Starts ``n`` ``hpo-worker`` processes for one study and stops them at the end."""

    def __init__(self, n: int, db_url: str, study: str) -> None:
        self._command = [
            sys.executable,
            "-m",
            "hpo_service.worker",
            "--db",
            db_url,
            "--study",
            study,
            "--idle-timeout",
            str(_IDLE_TIMEOUT_SECONDS),
            "--quiet",
        ]
        self._n = n
        self._procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> LocalWorkers:
        self._procs = [subprocess.Popen(self._command) for _ in range(self._n)]
        if self._n:
            _logger.info("started %s local workers", self._n)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check(self) -> None:
        """Restart workers that exited idle; raise if every worker failed.

        A worker exits 0 after its idle timeout, but a trial requeued later (a lease
        that expired) still needs one, so an idle exit is replaced while the study runs.

        Raises:
            HPOServiceError: No local worker is left and the last one failed.
        """
        for i, proc in enumerate(self._procs):
            if proc.poll() == 0:
                self._procs[i] = subprocess.Popen(self._command)
        codes = [p.poll() for p in self._procs]
        if self._procs and all(c is not None and c != 0 for c in codes):
            raise HPOServiceError(
                f"all {len(codes)} local workers exited with an error (exit codes "
                f"{sorted(set(codes))}); their messages are above"
            )

    def stop(self) -> None:
        """Ask every worker to stop (SIGTERM), then kill those that do not."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
