"""``hpo-driver``'s entry point: ``start`` notes SIGTERM, SIGHUP and Ctrl-C from its
first line on.

One sent while the driver imports its modules, or between opening the store and
driving the study, is handed to what handles it next (the driver then stops before
driving, saying so) instead of ending it by the default action, a traceback or
click's "Aborted!". While the store opens and the objective and space are imported
Ctrl-C is Python's KeyboardInterrupt (it stops a slow import at once); other
commands keep the default actions (SIGTERM ends ``hpo-driver dashboard``), but a
Ctrl-C while they import their modules exits 130 saying so, as one while they run.
"""

from __future__ import annotations

import contextlib
import sys

from hpo_service._common.stop_signals import STOP_SIGNALS, noted, pause_point


def main() -> None:
    """Run ``hpo-driver`` (see :func:`hpo_service.driver.cli.main`).

    Raises:
        SystemExit: 130 after a Ctrl-C while a command other than ``start`` imports
            its modules (the first second or two on a loaded machine), saying so as
            the command itself does once it runs, instead of a traceback.
    """
    with signals_noted(sys.argv[1:]):
        try:
            pause_point("started")
            from hpo_service.driver.cli import main as command  # after `noted`: slow
        except KeyboardInterrupt:  # not `start`'s: it notes SIGINT instead
            name = _command(sys.argv[1:])
            print(f"hpo-driver{' ' + name if name else ''} interrupted (Ctrl-C)",
                  file=sys.stderr)  # fmt: skip
            sys.exit(130)
        command()


def signals_noted(args: list[str]) -> contextlib.AbstractContextManager[None]:
    """Note SIGTERM, SIGHUP and SIGINT when ``args`` (the command line after the
    program) run ``start``; nothing otherwise."""
    if _command(args) != "start":
        return contextlib.nullcontext()
    return noted(STOP_SIGNALS)


def _command(args: list[str]) -> str | None:
    """The command ``args`` name: the first that is not an option (the group's
    options take no values)."""
    return next((a for a in args if not a.startswith("-")), None)
