"""``fmin(trials_save_file=...)``: the in-process trials, pickled after every trial.

As in hyperopt the file is a pickle (in-process results may hold any object), but it
is written atomically (a temporary file renamed over the old one), so a run killed
while saving leaves the previous checkpoint intact. A pickle written by hyperopt's
``fmin`` resumes too.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any

from hpo_service.trials import Trials


def save_checkpoint(trials: Trials, path: str) -> None:
    """Pickle ``trials`` to ``path`` atomically.

    Raises:
        OSError: The file cannot be written.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".hpo-trials-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(trials, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_checkpoint(path: str) -> Trials:
    """Unpickle the trials saved at ``path`` (by us, or by hyperopt's ``fmin``).

    Only for files you wrote: unpickling runs code.

    Raises:
        TypeError: The file holds something other than trials.
    """
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    return as_trials(loaded, f"trials_save_file {path!r}")


def as_trials(loaded: Any, what: str) -> Trials:
    """Our :class:`Trials` from an unpickled one (ours, or hyperopt's ``Trials``).

    Raises:
        TypeError: ``loaded`` is not a trials object.
    """
    if isinstance(loaded, Trials):
        return loaded
    docs = getattr(loaded, "_dynamic_trials", None)
    if not isinstance(docs, list):
        raise TypeError(
            f"{what} must hold a pickled Trials, but holds {type(loaded).__name__}"
        )
    trials = Trials()
    trials.insert_trial_docs([dict(doc, misc=dict(doc["misc"])) for doc in docs])
    trials.attachments.update(getattr(loaded, "attachments", {}) or {})
    return trials
