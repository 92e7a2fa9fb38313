"""``hpo-driver trials``: every trial of a study, streamed.

A long study of a wide space holds gigabytes (each trial's params, config and a result
with its objective's output): the listing reads the trials a window of tids at a time
and writes each out before reading the next, so its memory does not grow with the
study. CSV needs its header (every param column any trial has) before the first row:
rows are spooled to a temporary file first (``marshal``: the rows hold plain values
only), then written behind the header.
"""

from __future__ import annotations

import csv
import marshal
import tempfile
from collections.abc import Collection, Iterable, Iterator
from typing import IO, Any

from hpo_service._common import standard_json as _json
from hpo_service.driver import _output
from hpo_service.store import BaseTrialStore, Trial, TrialState

#: Tids read per store call: a few MB of wide trials.
WINDOW = 500


def each_trial(
    store: BaseTrialStore,
    study: str,
    states: list[TrialState] | None = None,
    *,
    statuses: Collection[str] = (),
) -> Iterator[Trial]:
    """The study's trials by tid, read ``WINDOW`` tids at a time; those created
    after the call starts are left out.

    Each window is one read: a trial shows in its state when its window was read.

    Args:
        store: The store.
        study: The study.
        states: Only trials in these states; None for all.
        statuses: Only trials whose result's ``status`` is one of these (``ok``,
            ``fail``); empty for all.

    Raises:
        StudyNotFoundError: No such study.
    """
    end = store.get_study(study).next_tid
    for start in range(0, end, WINDOW):
        window = range(start, min(start + WINDOW, end))
        for trial in store.get_trials(study, states, tids=window):
            if not statuses or (trial.result or {}).get("status") in statuses:
                yield trial


def write_json(records: Iterable[dict[str, Any]], out: IO[str]) -> None:
    """``records`` as one JSON list (``indent=2``, as :func:`_json.dumps` writes a
    list), each record written as it comes."""
    first = True
    for record in records:
        # the text's newlines are its own (a string holds "\\n"): indent each line
        text = "  " + _json.dumps(record, indent=2).replace("\n", "\n  ")
        out.write(("[\n" if first else ",\n") + text)
        first = False
    out.write("[]\n" if first else "\n]\n")


def write_csv(
    rows: Iterable[dict[str, Any]], names: list[str] | None, out: IO[str]
) -> None:
    """:func:`_output.flat_row` rows as CSV under :func:`_output.columns`' header
    (every column any row has), holding one row at a time in memory.

    Args:
        rows: The rows, in the order written.
        names: The study's objective names (several objectives), or None.
        out: Where the CSV goes.
    """
    seen: dict[str, None] = {}  # every key of every row, first seen first
    with tempfile.TemporaryFile() as spool:
        for row in rows:
            seen.update(dict.fromkeys(row))
            data = marshal.dumps(row)  # plain values: fast, and loads runs no code
            spool.write(len(data).to_bytes(8, "little") + data)
        header = _output.columns([seen], names)
        writer = csv.DictWriter(
            out, fieldnames=header, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        spool.seek(0)
        writer.writerows(_spooled(spool))


def _spooled(spool: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The rows :func:`write_csv` spooled, in order."""
    while size := spool.read(8):
        yield marshal.loads(spool.read(int.from_bytes(size, "little")))
