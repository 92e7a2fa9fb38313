"""``hpo-driver trials``: every trial of a study, streamed.

A long study of a wide space holds gigabytes (each trial's params, config and a result
with its objective's output): the listing reads the trials a window of tids at a time
(:func:`hpo_service._common.trial_rows.each_trial`) and writes each out before
reading the next, so its memory does not grow with the
study. CSV needs its header (every param column any trial has, whichever trials
``--state`` and ``--status`` show) before the first row:
rows are spooled to a temporary file first (``marshal``: the rows hold plain values
only), then written behind the header.
"""

from __future__ import annotations

import csv
import marshal
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import IO, Any

from hpo_service._common import standard_json as _json
from hpo_service._common.trial_rows import columns, flat_row, row_columns


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


def shown_records(
    states: Collection[str], statuses: Collection[str]
) -> Callable[[dict[str, Any]], bool]:
    """Whether a :func:`~hpo_service._common.trial_rows.trial_record` is in one of
    ``states`` (``TrialState`` values) and its result's status one of ``statuses``
    (``ok``, ``fail``); empty for any."""
    return lambda record: (
        (not states or record["state"] in states)
        and (not statuses or (record["result"] or {}).get("status") in statuses)
    )


def csv_rows(
    records: Iterable[dict[str, Any]],
    names: list[str] | None,
    choices: dict[str, list[Any]] | None,
    shown: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[dict[str, Any] | tuple[str, ...]]:
    """What :func:`write_csv` takes of each of ``records`` (every trial of the
    study): the :func:`~hpo_service._common.trial_rows.flat_row` of one it shows,
    only the columns (:func:`~hpo_service._common.trial_rows.row_columns`) of one
    it leaves out."""
    for record in records:
        if shown is None or shown(record):
            yield flat_row(record, names, choices)
        else:
            yield row_columns(record, names, choices)


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
        rows: Every trial of the study in the order written (:func:`csv_rows`):
            the row of one shown, the columns (a tuple) of one left out.
        names: The study's objective names (several objectives), or None.
        out: Where the CSV goes.
    """
    seen: dict[str, None] = {}  # every key of every row, first seen first
    with tempfile.TemporaryFile() as spool:
        for row in rows:
            seen.update(dict.fromkeys(row))
            if isinstance(row, tuple):  # left out: its columns only
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
