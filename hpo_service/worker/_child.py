"""Running objectives in a reusable child process.

The worker starts one child process (``python -c`` running :func:`child_main`) and
talks to it over the child's stdin and stdout pipes with length-prefixed JSON frames.
The child's own stdout and stderr (fds 1 and 2) go to a file that is truncated before
each trial, so the tail of what the objective printed is known even after a crash.
The child survives across trials; it is killed and replaced only when it dies, runs
past the trial timeout or the worker must stop working on the trial. It runs in its
own session, so a terminal's Ctrl-C reaches the worker only, and killing its process
group also kills whatever the objective started.

Frames (JSON objects, each preceded by its length as 4 big-endian bytes)::

    child -> parent, once:  {"kind": "ready", "pid": ...}
    parent -> child:        {"objective": "pkg.mod:fn", "config": ...}
    child -> parent:        {"kind": "received"}  (it read the request and emptied
                            the output file: what the file holds now is this trial's;
                            written with "started" when the objective is imported
                            already)
    child -> parent:        {"kind": "started", "code": {...}}  (imported; about to
                            call it; ``code`` identifies the module, see
                            :mod:`._code_identity`)
    child -> parent:        {"kind": "result" | "error" | "pruned" | "import_error",
                             "data": {...}}

While the objective runs, each ``hpo_service.report`` is a ``{"kind": "report"}`` frame
that the parent answers with the pruner's decision (see :mod:`._reports`).

A child that dies before ``received`` never got the trial (killed between trials:
SIGKILL, the OOM killer, an ``os._exit`` in a thread a previous trial left behind),
and so does one that dies before ``started`` while importing an objective it has
called before (the import is a lookup): the child is replaced and the trial sent
again, once. A second such death is a :class:`WorkerError`. Otherwise a child that
dies or hangs before ``started`` failed to import the objective (a segfault or
``os._exit`` at import): that is the worker's fault, not the trial's, so the outcome
is ``"start_failed"`` and the trial must be handed back untouched.

Nothing is pickled: the config and the result travel as JSON.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# The child imports this module at every start: only what the child's side needs
# is imported here (no store, no numpy); the worker's side imports the rest inside
# the functions that need it.
from hpo_service.exceptions import ObjectiveImportError, WorkerError
from hpo_service.objective._config import restore_types
from hpo_service.objective._report import trial_context
from hpo_service.worker._code_identity import code_identity
from hpo_service.worker._forward import OutputForwarder

_logger = logging.getLogger(__name__)

OUTPUT_LIMIT = 10_000
"""Bytes of the objective's output kept with a trial (the tail)."""

_HEADER = struct.Struct(">I")
_POLL_SLICE = 0.1
_STARTUP_TIMEOUT = 60.0
_SYS_PATH_ENV = "HPO_WORKER_SYS_PATH"
# Runs before hpo_service is importable: the child resolves imports as the worker
# does (its sys.path), with the working directory first, as ``python -m`` would.
_BOOT = (
    "import json, os, sys\n"
    f"p = json.loads(os.environ.pop({_SYS_PATH_ENV!r}, '[]'))\n"
    "sys.path[:] = [x for x in dict.fromkeys([os.getcwd(), *p, *sys.path]) if x]\n"
    "from hpo_service.worker._child import child_main\n"
    "child_main()\n"
)


@dataclass
class ChildOutcome:
    """What became of one trial in the child.

    Attributes:
        kind: ``"result"`` (``data`` is the result to store), ``"error"`` (``data``
            is the error to store), ``"pruned"`` (``data`` is the result of a trial
            stopped by the pruner), ``"import_error"`` (the objective could not be
            imported; ``data`` describes why), ``"start_failed"`` (the child died or
            hung while importing the objective, before calling it; ``data``
            describes how) or ``"aborted"`` (the caller asked to stop; the child was
            killed).
        data: The result or error dict.
        code: The identity of the code that ran the objective (module, file hash,
            version), when it was imported.
    """

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Lost:
    """A request whose child timed out or died before it sent an outcome.

    Attributes:
        got: ``"died"`` or ``"timeout"``.
        code: The killed child's exit code.
        start: When the request was sent (``time.monotonic()``, seconds).
        pid: The killed child's pid.
        between_trials: It died before it got the trial, or before it called an
            objective it had called before (the process died, not the import).
    """

    got: str
    code: int | None
    start: float
    pid: int | None
    between_trials: bool


class ChildRunner:
    """Runs ``objective(config)`` calls in a child process that is reused across calls.

    Not thread-safe: one thread drives a runner.

    Args:
        log: Where to log (the worker passes a logger that prefixes its id).
        output_limit: Bytes of captured output kept per trial.
        startup_timeout: Seconds a new child may take to become ready.
    """

    def __init__(
        self,
        *,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _logger,
        output_limit: int = OUTPUT_LIMIT,
        startup_timeout: float = _STARTUP_TIMEOUT,
    ) -> None:
        self._log = log
        self._output_limit = output_limit
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._frames = _FrameBuffer()  # what the live child wrote, not yet taken
        self._output_path = ""
        self._output_fd = -1
        self._objective_started = False
        self._received = False  # the child read the current request
        self._objective = ""
        self._served: set[str] = set()  # objectives the live child has called
        self._code: dict[str, Any] | None = None
        self._deadline: float | None = None
        self._timeout: float | None = None
        self._called_at: float | None = None
        self._on_output: Callable[[str], None] | None = None
        self._forwarder: OutputForwarder | None = None

    @property
    def pid(self) -> int | None:
        """The live child's pid, or None when no child is running."""
        return None if self._proc is None else self._proc.pid

    def start(self, should_abort: Callable[[], bool] | None = None) -> bool:
        """Start the child unless one is running, and wait until it is ready.

        Args:
            should_abort: Polled while waiting; when it returns True the new child is
                killed and False returned.

        Returns:
            True when a child is ready, False if aborted.

        Raises:
            WorkerError: The child exited or did not get ready in time.
        """
        if self._proc is not None:
            return True
        self._spawn()
        self._deadline = time.monotonic() + self._startup_timeout
        got = self._wait(should_abort)
        if isinstance(got, dict) and got.get("kind") == "ready":
            self._log.debug("objective process %s is ready", self.pid)
            self._unlink_output()  # both hold it open: a SIGKILL leaves no file
            return True
        code = self._kill()
        if got == "aborted":
            return False
        raise WorkerError(
            f"the objective process did not start ({got}, exit code {code}); "
            f"its output:\n{self._output_tail() or '(none)'}"
        )

    def run(
        self,
        objective: str,
        config: Any,
        *,
        timeout: float | None = None,
        should_abort: Callable[[], bool] | None = None,
        on_report: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        workdir: str | None = None,
        on_output: Callable[[str], None] | None = None,
        space: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> ChildOutcome:
        """Run ``objective(config)`` in the child (starting one if needed).

        Args:
            objective: The reference ``package.module:function``.
            config: The JSON value the objective receives.
            timeout: Seconds the call may take before the child is killed, or None.
                It counts from the call, not from the import of the objective's
                module; the import gets ``max(timeout, startup_timeout)`` seconds,
                after which it is a ``"start_failed"`` outcome.
            should_abort: Polled about every 0.1 s; when it returns True the child is
                killed and an ``"aborted"`` outcome returned.
            on_report: Answers the objective's report frames (the pruner's
                decision); None answers "do not prune".
            workdir: The directory the objective runs in (the child's own working
                directory otherwise, restored afterwards).
            on_output: Gets each line the objective prints (stdout and stderr,
                from its module's import on) while it runs; None shows nothing.
            space: The study's space document; with ``params`` (the trial's), the
                child gives the objective the config's tuples and non-string dict
                keys back, as in process (see :func:`restore_types`).
            params: The trial's params.

        Returns:
            The outcome. A timeout or the child's death is an ``"error"`` outcome
            (``TrialTimeout``, ``ChildProcessDied``), or ``"start_failed"`` when it
            happened before the objective was called; the next call starts a new
            child.

        Raises:
            WorkerError: A new child could not be started, or the child died before
                it got the trial (or before calling an objective it had called)
                twice in a row.
            TypeError: ``config`` is not JSON-able.
        """
        request = _encode(
            {
                "objective": objective,
                "config": config,
                "workdir": workdir,
                "space": space,
                "params": params,
            }
        )

        def outcome_of(start: float) -> dict[str, Any] | str:
            return self._await_outcome(objective, start, timeout, on_report, on_output,
                                       should_abort)  # fmt: skip

        for attempt in (1, 2):
            got = self._attempt(request, objective, should_abort, outcome_of)
            if isinstance(got, ChildOutcome):
                return got
            if not got.between_trials:
                return self._lost_outcome(got)
            self._note_death_between_trials(got, objective, attempt)
        raise AssertionError("unreachable")  # pragma: no cover - attempt 2 raises

    def _attempt(
        self,
        request: bytes,
        objective: str,
        should_abort: Callable[[], bool] | None,
        outcome_of: Callable[[float], dict[str, Any] | str],
    ) -> ChildOutcome | _Lost:
        """Send the request and wait for its outcome (``outcome_of(sent at)``); a
        child that timed out or died is killed and described by a :class:`_Lost`."""
        if not self._send(request, should_abort):
            return ChildOutcome("aborted")
        ran_it_before = objective in self._served  # this child imported it
        start = time.monotonic()
        got = outcome_of(start)
        if isinstance(got, dict):
            return ChildOutcome(str(got["kind"]), dict(got["data"]), self._code)
        proc_pid = self.pid
        code = self._kill()
        if got == "aborted":
            return ChildOutcome("aborted")
        between = self._died_between_trials(got, ran_it_before)
        return _Lost(got, code, start, proc_pid, between)

    def _died_between_trials(self, got: str, ran_it_before: bool) -> bool:
        """Whether the child died before it read the trial, or before it called an
        objective it had imported already: the process died, not the objective's
        import."""
        if got != "died" or self._objective_started:
            return False
        return not self._received or ran_it_before  # else it died importing

    def _note_death_between_trials(
        self, lost: _Lost, objective: str, attempt: int
    ) -> None:
        """Log a child that died between trials; the second one in a row raises
        :class:`WorkerError`."""
        self._log.warning(
            "objective process %s died between trials (%s)",
            lost.pid, _describe_exit(lost.code),
        )  # fmt: skip
        if attempt == 2:
            raise WorkerError(
                "the objective process died twice in a row before it could call "
                f"objective {objective!r} (last: {_describe_exit(lost.code)}; "
                "killed from outside? the OOM killer?)"
            )

    def _lost_outcome(self, lost: _Lost) -> ChildOutcome:
        """The error outcome of a trial whose child timed out or died: an
        ``"error"``, or ``"start_failed"`` when the objective was never called."""
        kind, message = self._failure(lost.got, lost.code, lost.start)
        self._log.debug("objective process %s killed or gone: %s", lost.pid, message)
        error: dict[str, Any] = {"type": kind, "message": message, "traceback": None}
        error["duration"] = time.monotonic() - (self._called_at or lost.start)
        output = self._output_tail() if self._received else ""  # else not this trial's
        if output:
            error["output"] = output
        if not self._objective_started:  # it died importing: no trial ran
            return ChildOutcome("start_failed", error)
        return ChildOutcome("error", error, self._code)

    def _await_outcome(
        self,
        objective: str,
        start: float,
        timeout: float | None,
        on_report: Callable[[dict[str, Any]], dict[str, Any]] | None,
        on_output: Callable[[str], None] | None,
        should_abort: Callable[[], bool] | None,
    ) -> dict[str, Any] | str:
        """Wait for the outcome of the request just sent, answering its reports."""
        self._objective_started, self._received, self._code = False, False, None
        self._objective = objective
        self._timeout, self._called_at = timeout, None
        self._on_output, self._forwarder = on_output, None
        self._deadline = None
        if timeout is not None:  # the import's bound; the call's starts with it
            self._deadline = start + max(timeout, self._startup_timeout)
        try:
            got = self._wait(should_abort)
            while isinstance(got, dict) and got.get("kind") == "report":
                got = self._answer_report(got, on_report, should_abort)
        finally:  # the forwarder is this trial's: never polled after it
            forwarder, self._forwarder = self._forwarder, None
        if forwarder is not None:
            forwarder.finish()
        return got

    def _failure(self, got: str, code: int | None, sent: float) -> tuple[str, str]:
        """The error type and message of a child that timed out or died."""
        if got != "timeout":
            return "ChildProcessDied", _describe_exit(code)
        now = time.monotonic()
        if self._called_at is None:
            return "ImportTimeout", (
                f"the objective's module was still being imported after "
                f"{now - sent:.1f} s (the import may take max(trial_timeout, "
                f"{self._startup_timeout:g} s)); the objective was never called"
            )
        return "TrialTimeout", (
            f"the objective ran longer than trial_timeout={self._timeout}s: killed "
            f"{now - self._called_at:.1f} s after it was called (its module's "
            f"import before that took {self._called_at - sent:.1f} s and is not "
            "counted)"
        )

    def close(self) -> None:
        """Kill the child and remove the output file (a later run starts afresh)."""
        self._kill()
        self._close_output()

    # ---- internals -------------------------------------------------------------------

    def _spawn(self) -> None:
        """Start the child process.

        Raises:
            WorkerError: The output file or the process could not be created (no
                permission to run the interpreter, no temporary directory, out of
                processes or memory, ...).
        """
        try:
            self._proc = self._popen()
        except OSError as e:
            raise WorkerError(
                f"cannot start the objective process ({sys.executable} -c ...): "
                f"{type(e).__name__}: {e}"
            ) from e
        self._selector = selectors.DefaultSelector()
        self._frames = _FrameBuffer()
        assert self._proc.stdout is not None
        self._selector.register(self._proc.stdout.fileno(), selectors.EVENT_READ)
        self._log.debug("started objective process %s", self._proc.pid)

    def _popen(self) -> subprocess.Popen[bytes]:
        from hpo_service.store._url import STORE_URL_ENV

        self._served = set()
        self._close_output()  # each child gets a new file, named until it is ready
        fd, self._output_path = tempfile.mkstemp(prefix="hpo-worker-", suffix=".out")
        os.close(fd)
        self._output_fd = os.open(self._output_path, os.O_RDONLY)
        env = dict(os.environ)
        env.pop(STORE_URL_ENV, None)  # the objective has no business with the store
        env[_SYS_PATH_ENV] = json.dumps([os.path.abspath(p) for p in sys.path])
        args = [self._output_path, str(self._output_limit)]
        with open(self._output_path, "ab") as output:
            return subprocess.Popen(
                [sys.executable, "-c", _BOOT, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=output,
                env=env,
                bufsize=0,
                start_new_session=True,
            )

    def _send(self, request: bytes, should_abort: Callable[[], bool] | None) -> bool:
        """Send a request, replacing a child that died between trials (once)."""
        for attempt in (1, 2):
            if not self.start(should_abort):
                return False
            assert self._proc is not None and self._proc.stdin is not None
            try:
                _write_all(self._proc.stdin.fileno(), request)
                return True
            except OSError as e:
                code = self._kill()
                self._log.warning(
                    "objective process died between trials (%s)", _describe_exit(code)
                )
                if attempt == 2:
                    raise WorkerError(
                        "the objective process died twice before it got a trial "
                        f"({_describe_exit(code)}); its output:\n"
                        f"{self._output_tail() or '(none)'}"
                    ) from e
        return False  # pragma: no cover - the loop returns or raises

    def _wait(self, should_abort: Callable[[], bool] | None) -> dict[str, Any] | str:
        """The child's next frame, or "died", "timeout" (``self._deadline`` passed)
        or "aborted". The "started" frame starts the trial timeout's clock."""
        assert self._proc is not None and self._proc.stdout is not None
        assert self._selector is not None
        while True:
            frame = self._frames.take()  # "received" and "started" come in one write
            if frame is None:
                if should_abort is not None and should_abort():
                    return "aborted"
                wait = _POLL_SLICE
                if self._deadline is not None:
                    wait = min(wait, self._deadline - time.monotonic())
                    if wait <= 0:
                        return "timeout"
                ready = self._selector.select(wait)
                if self._forwarder is not None:
                    self._forwarder.poll()
                if ready and not self._frames.fill(self._proc.stdout.fileno()):
                    return "died"
                continue
            if frame.get("kind") == "received":
                self._received = True
            elif frame.get("kind") == "started":
                self._started_call(frame)
            else:
                return frame

    def _started_call(self, frame: dict[str, Any]) -> None:
        """The objective is being called: from now on its trial timeout counts."""
        self._objective_started = True
        self._served.add(self._objective)  # imported and called in this child
        self._code = frame.get("code")
        self._called_at = time.monotonic()
        if self._on_output is not None:  # the file now holds this trial's output
            self._forwarder = OutputForwarder(self._output_fd, self._on_output)
        if self._timeout is not None:
            self._deadline = self._called_at + self._timeout

    def _answer_report(
        self,
        frame: dict[str, Any],
        on_report: Callable[[dict[str, Any]], dict[str, Any]] | None,
        should_abort: Callable[[], bool] | None,
    ) -> dict[str, Any] | str:
        """Answer a report frame, then wait for the child's next frame."""
        reply = {"kind": "decision", "prune": False}
        if on_report is not None:
            reply = on_report(frame)
        assert self._proc is not None and self._proc.stdin is not None
        try:
            _write_all(self._proc.stdin.fileno(), _encode(reply))
        except OSError:
            return "died"
        return self._wait(should_abort)

    def _kill(self) -> int | None:
        """Kill the child's process group and reap it; return its exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return code

    def _output_tail(self) -> str:
        return _tail(self._output_fd, self._output_limit)

    def _unlink_output(self) -> None:
        """Remove the output file's name; the open descriptors keep it readable."""
        if self._output_path:
            with contextlib.suppress(OSError):
                os.unlink(self._output_path)
            self._output_path = ""

    def _close_output(self) -> None:
        """Close (and unlink, if still named) the current child's output file."""
        self._unlink_output()
        if self._output_fd >= 0:
            os.close(self._output_fd)
            self._output_fd = -1


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"exit code {code} ({signal.Signals(-code).name})"
    return f"exit code {code}"


# ---- framing (both sides) ------------------------------------------------------------


def _encode(message: dict[str, Any]) -> bytes:
    data = json.dumps(message).encode()
    return _HEADER.pack(len(data)) + data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> dict[str, Any] | None:
    """The next frame, or None at end of file (the other side is gone)."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


class _FrameBuffer:
    """Frames read from a pipe with one read per write of the other side (two
    frames written at once are one read), where :func:`_read_frame` makes two reads
    per frame."""

    _READ_SIZE = 65536

    def __init__(self) -> None:
        self._data = bytearray()

    def fill(self, fd: int) -> bool:
        """Read what ``fd`` holds (call it when a select said it is readable), and
        the rest of a frame that it begins, as :func:`_read_frame` reads a whole
        frame; False at end of file (the other side is gone)."""
        want = self._READ_SIZE
        while want > 0:
            chunk = os.read(fd, want)
            if not chunk:
                return False
            self._data += chunk
            want = self._missing()
        return True

    def take(self) -> dict[str, Any] | None:
        """The next whole frame read, or None until one is."""
        if len(self._data) < _HEADER.size:
            return None
        end = _HEADER.size + _HEADER.unpack_from(self._data)[0]
        if len(self._data) < end:
            return None
        frame = json.loads(self._data[_HEADER.size : end])
        del self._data[:end]
        return frame

    def _missing(self) -> int:
        """Bytes still to read to end the last frame the data begins (0 if none)."""
        start = 0
        while start < len(self._data):
            if len(self._data) < start + _HEADER.size:
                return start + _HEADER.size - len(self._data)
            start += _HEADER.size + _HEADER.unpack_from(self._data, start)[0]
        return start - len(self._data)


def _tail(fd: int, limit: int) -> str:
    """The last ``limit`` bytes of the file open at ``fd``, as text."""
    size = os.fstat(fd).st_size
    if not size:
        return ""
    start = max(0, size - limit)
    text = os.pread(fd, size - start, start).decode("utf-8", "replace")
    return f"[{start} bytes cut]\n{text}" if start else text


# ---- the child's side ----------------------------------------------------------------


def child_main() -> None:
    """Entry point of the child process: serve requests until the worker goes away.

    ``sys.argv[1:]`` is the output file's path and the output limit in bytes.
    """
    from hpo_service.worker import _objective  # before "ready": a broken install fails

    output_path, limit = sys.argv[1], int(sys.argv[2])
    sys.argv[:] = ["hpo-objective"]  # an objective reading it sees no arguments
    requests, responses = _take_over_stdio()
    _exit_when_orphaned(requests)
    for signum in (signal.SIGINT, signal.SIGTERM):
        # A handler, not SIG_IGN: programs the objective starts get the default back.
        signal.signal(signum, _ignore_signal)
    output_fd = os.open(output_path, os.O_RDONLY)
    _write_all(responses, _encode({"kind": "ready", "pid": os.getpid()}))
    while (request := _read_frame(requests)) is not None:
        with child_reports(requests, responses):
            response = _serve(_objective, request, output_fd, limit, responses)
        _write_all(responses, _encode(response))


@contextlib.contextmanager
def child_reports(requests: int, responses: int) -> Iterator[None]:
    """Send the objective's reports to the worker over the pipes while it runs.

    ``hpo_service.report`` becomes a ``{"kind": "report"}`` frame, and the worker's
    answer (the pruner's decision, see :mod:`._reports`) its return value.

    Args:
        requests: The fd the worker's frames arrive on.
        responses: The fd frames to the worker are written to.
    """
    lock = threading.Lock()

    def send(step: int, value: float) -> bool:
        with lock:  # one report at a time, even from the objective's threads
            frame = {"kind": "report", "step": step, "value": value}
            _write_all(responses, _encode(frame))
            reply = _read_frame(requests)
        if reply is None:  # the worker is gone: nothing is left to report to
            os._exit(0)
        return bool(reply.get("prune"))

    with trial_context(send):
        yield


def _serve(
    objectives: Any,
    request: dict[str, Any],
    output_fd: int,
    limit: int,
    responses: int,
) -> dict[str, Any]:
    _flush_std()
    os.ftruncate(1, 0)
    received = _encode({"kind": "received"})
    if not objectives.is_loaded(request["objective"]):
        # An import may take long or kill the child: the worker must know first
        # that the trial arrived. A lookup cannot: "received" waits for "started"
        # and both go in one write (one wake-up of the worker instead of two).
        _write_all(responses, received)
        received = b""
    try:
        objective = objectives.load_objective(request["objective"])
    except ObjectiveImportError as e:
        kind, data = "import_error", objectives.describe_import_failure(e)
    except BaseException as e:  # SystemExit or KeyboardInterrupt raised at import
        kind, data = "import_error", objectives.describe_exception(e)
    else:
        code = code_identity(request["objective"])
        _write_all(responses, received + _encode({"kind": "started", "code": code}))
        config = restore_types(
            request.get("space"), request.get("params") or {}, request["config"]
        )
        with _working_directory(request.get("workdir")):
            kind, data = objectives.evaluate(objective, config)
    _flush_std()
    output = _tail(output_fd, limit)
    if output:
        data["output"] = output
    return {"kind": kind, "data": data}


@contextlib.contextmanager
def _working_directory(path: str | None) -> Iterator[None]:
    """Run the objective in ``path`` (hyperopt worker's ``--workdir``), then return."""
    if path is None:
        yield
        return
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _take_over_stdio() -> tuple[int, int]:
    """Move the pipes to private fds; stdin reads nothing, stdout joins stderr's file.

    The private fds are not inherited by programs the objective starts.
    """
    requests, responses = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return requests, responses


def _exit_when_orphaned(requests: int) -> None:
    """Exit at once when the worker dies, even in the middle of a trial."""

    def watch() -> None:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(requests, 0)  # hang-up is reported whatever the mask
            gone = select.POLLHUP | select.POLLERR | select.POLLNVAL
            while not any(event & gone for _, event in poller.poll()):
                pass
        else:  # pragma: no cover - platforms without poll()
            parent = os.getppid()
            while os.getppid() == parent:
                time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="hpo-orphan-watch", daemon=True).start()


def _ignore_signal(signum: int, frame: object) -> None:
    """The worker decides when the objective stops (it kills the process)."""


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            stream.flush()  # type: ignore[union-attr]
