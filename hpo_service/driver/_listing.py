"""``hpo-driver trials``: every trial of a study, streamed.

A long study of a wide space holds gigabytes (each trial's params, config and a result
with its objective's output): the listing reads the trials a window of tids at a time
(:func:`hpo_service._common.trial_rows.each_trial`) and writes each out before
reading the next, so its memory does not grow with the
study. CSV needs its header (every param column any trial has, whichever trials
``--state`` and ``--status`` show) before the first row:
rows are spooled to a temporary file first (``marshal``: the rows hold plain values
only), then written behind the header. A filtered listing reads only the trials it
shows and the header's keys of the others, as its store reads them in one pass
(:func:`filtered_csv_rows`).
"""

from __future__ import annotations

import csv
import marshal
import tempfile
from collections.abc import Collection, Iterable, Iterator
from typing import IO, Any

from hpo_service._common import standard_json as _json
from hpo_service._common.trial_rows import (
    Switch,
    columns,
    flat_row,
    study_row_columns,
    trial_record,
)
from hpo_service.store import BaseTrialStore, TrialKeys, TrialState


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


def csv_rows(
    records: Iterable[dict[str, Any]],
    names: list[str] | None,
    choices: dict[str, tuple[Switch, ...]] | None,
) -> Iterator[dict[str, Any]]:
    """What :func:`write_csv` takes of each of ``records`` (every trial of the
    study): its :func:`~hpo_service._common.trial_rows.flat_row`."""
    for record in records:
        yield flat_row(record, names, choices)


def filtered_csv_rows(
    store: BaseTrialStore,
    study: str,
    states: list[TrialState] | None,
    statuses: Collection[str],
    names: list[str] | None,
    choices: dict[str, tuple[Switch, ...]] | None,
) -> Iterator[dict[str, Any] | tuple[str, ...]]:
    """What :func:`write_csv` takes for a listing of only the trials in ``states``
    whose status is one of ``statuses`` (empty: any): the row of each trial shown
    and the columns of the whole study, from the keys its store gathers over every
    trial, in one pass (:meth:`~hpo_service.store.BaseTrialStore.export_trials`:
    the columns come first or last, :func:`write_csv` takes them either way). Only
    the trials shown are made rows.

    Args:
        store: The store.
        study: The study.
        states: Only trials in these states; None for all.
        statuses: Only trials whose result's status is one of these.
        names: The study's objective names (several objectives), or None.
        choices: The options of each choice label, or None.

    Raises:
        StudyNotFoundError: No such study.
    """
    count = len(names) if names else None
    for item in store.export_trials(study, states, statuses=statuses):
        if isinstance(item, TrialKeys):
            yield study_row_columns(item, names, choices)
        else:
            yield flat_row(trial_record(item, count), names, choices)


def write_csv(
    rows: Iterable[dict[str, Any] | tuple[str, ...]],
    names: list[str] | None,
    out: IO[str],
) -> None:
    """:func:`~hpo_service._common.trial_rows.flat_row` rows as CSV under
    :func:`~hpo_service._common.trial_rows.columns`' header
    (every column any row has), holding one row at a time in memory.

    The header is made of every row, shown or not: a filtered listing has the
    columns of the whole study (a script reading either finds the same ones).

    Args:
        rows: The rows in the order written (:func:`csv_rows`); a tuple among
            them, anywhere, is columns only (:func:`filtered_csv_rows`: the whole
            study's).
        names: The study's objective names (several objectives), or None.
        out: Where the CSV goes.
    """
    seen: dict[str, None] = {}  # every key of every row, first seen first
    with tempfile.TemporaryFile() as spool:
        for row in rows:
            seen.update(dict.fromkeys(row))
            if isinstance(row, tuple):  # columns only, no row
                continue
            data = marshal.dumps(row)  # plain values: fast, and loads runs no code
            spool.write(len(data).to_bytes(8, "little") + data)
        header = columns([seen], names)
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
