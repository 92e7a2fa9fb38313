"""Read a trial's attachment as numbers, without running code from the store.

hyperopt's ``main_plot_1D_attachment`` reads attachments with ``pickle.loads``, as
its users attach arrays (``pickle.dumps(curve)``). Unpickling runs whatever the
pickle names, and attachments come from a shared store, so here a pickle may only
rebuild numpy arrays, numpy scalars and Python containers and numbers (the
"restricting globals" recipe of Python's ``pickle`` documentation); ``np.save``
files and JSON text are read too.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

_logger = logging.getLogger(__name__)

#: ``(module, name)`` of everything a pickle of numpy arrays, numpy scalars or
#: lists of numbers refers to (numpy 1 and 2 names; protocol 2's byte strings go
#: through ``_codecs.encode``).
_ALLOWED = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)

_NPY_MAGIC = b"\x93NUMPY"


class _NumbersUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}")


def attachment_values(blob: Any) -> Any:
    """The numbers an attachment holds.

    Args:
        blob: An attachment: bytes of a pickle (of a numpy array, a numpy scalar or
            a list of numbers), of an ``np.save`` file or of JSON text; JSON text as
            str; or (in process) the array or list itself.

    Returns:
        What the attachment holds (an array, a list, a number).

    Raises:
        ValueError: A pickle that refers to anything else (code it would run),
            or bytes that are none of the three forms.
    """
    if isinstance(blob, str):
        return json.loads(blob)
    if not isinstance(blob, bytes | bytearray | memoryview):
        return blob
    data = bytes(blob)
    if data.startswith(_NPY_MAGIC):
        return np.load(io.BytesIO(data), allow_pickle=False)
    if data[:1] == b"\x80":  # every pickle of protocol 2 or later starts so
        try:
            return _NumbersUnpickler(io.BytesIO(data)).load()
        except (pickle.UnpicklingError, EOFError, TypeError) as e:
            raise ValueError(
                f"a pickled attachment must hold numbers (a numpy array or a list), "
                f"but {e}"
            ) from e
    try:
        return json.loads(data)
    except ValueError as e:
        raise ValueError(
            "an attachment must be a pickle, an np.save file or JSON text of "
            f"numbers, but got {len(data)} bytes of none of these"
        ) from e


def attachment_reader(
    trials: Any, study: str | None
) -> tuple[Callable[[int, str], Any], Callable[[], None]]:
    """``(read, close)``: ``read(tid, name)`` gives one trial's attachment ``name``,
    or None when it has none by that name.

    Args:
        trials: A ``Trials``, a ``StoreTrials``, or a store URL (with ``study``;
            the store is opened read-only and ``close`` closes it).
        study: The study, when ``trials`` is a store URL.

    Raises:
        TypeError: A URL without ``study``.
        StoreError: The store cannot be opened.
    """
    if not isinstance(trials, str):

        def read_trials(tid: int, name: str) -> Any:
            return trials.trial_attachments({"tid": tid}).get(name)

        return read_trials, lambda: None
    if study is None:
        raise TypeError("a store URL needs `study`, but got study=None")
    from hpo_service.store import open_store

    store = open_store(trials, create=False)

    def read_store(tid: int, name: str) -> Any:
        return store.get_attachments(study, tid, [name]).get(name)

    return read_store, store.close
