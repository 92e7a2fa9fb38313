"""Settings writes a result can be conditional on without a read (MongoDB).

``complete(..., unless_setting=key)`` must be refused when the study's settings hold
``key`` as the write lands (a worker that does not know the study's constraint count
yet writes its results so: a count another worker recorded meanwhile refuses them).
A trial write cannot test the ``studies`` collection, so the store used to read the
study just before each such write: one command per trial. Instead, a settings write
marks the trials it could surprise, and a worker that read the study right after its
claim (:meth:`~hpo_service.store.BaseTrialStore.claim_with_study`) writes its result
conditional on its trial carrying no mark newer than that read.

The protocol (every settings write of this module's store, ``update_study_settings``
and ``patch_study_settings``):

1. **begin**: the study's ``settings_begun`` counter is incremented and the write's
   id added to its ``settings_open`` set; the counter's new value is the write's
   ticket;
2. **stamp**: the study's running trials get ``settings_begun = max(own, ticket)``;
3. **end**: the settings are written and the write's id leaves ``settings_open``
   (one command).

A worker's read after its claim that finds ``settings_open`` empty remembers
``settings_begun`` (``seen``) and the settings. Every settings write is then either
ended before that read (its settings were read), or begun after it: its ticket is
above ``seen`` and its stamp, which comes before its settings, found the trial
running (it was claimed before the read), so the result write conditional on
``settings_begun <= seen`` is refused from the stamp on, before the settings change.
Queued trials are not stamped: one claimed after a write began reads it open or
ended, and an attempt requeued (its lease ran out) and taken back (``reclaim``)
forgets its read.
A refused write, a read that found a write open, and a taken-back attempt fall back
to reading the study just before the result write (as before). A settings write
cut between begin and end (its process killed, the store unreachable) leaves its id
open: that study's results take the read path from then on, which is correct, only
one command dearer.

Settings written by an older version of this store (no begin, no stamp) are not seen
by a result written on this path while its trial ran: a constraint count an older
worker records while a newer worker's trial runs does not refuse that result.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

#: Study: the settings writes begun (a counter); trial: the latest ticket stamped
#: while the trial was running.
BEGUN = "settings_begun"
#: Study: the ids of the settings writes begun and not yet ended.
OPEN = "settings_open"
#: How many attempts' reads :class:`SeenAtClaim` keeps (a worker holds one).
_KEPT = 256


@dataclasses.dataclass(frozen=True)
class Seen:
    """A study document as read after a claim, no settings write open.

    Attributes:
        ticket: The study's ``settings_begun`` then (0 if it had none).
        settings: Its stored (escaped) settings then.
    """

    ticket: int
    settings: dict[str, Any]


def seen_in(doc: dict[str, Any]) -> Seen | None:
    """What the study document ``doc`` (read after a claim) lets a result write rely
    on, or None while a settings write is open (begun, not ended)."""
    if doc.get(OPEN):
        return None
    return Seen(int(doc.get(BEGUN, 0)), doc.get("settings") or {})


def begin(wid: str) -> dict[str, Any]:
    """The study update beginning the settings write ``wid`` (step 1)."""
    return {"$inc": {BEGUN: 1}, "$addToSet": {OPEN: wid}}


def stamp(ticket: int) -> dict[str, Any]:
    """The trials update stamping the ticket of a settings write (step 2)."""
    return {"$max": {BEGUN: ticket}}


def ending(update: Any, wid: str) -> Any:
    """``update`` (an update document or a pipeline) that also ends the settings
    write ``wid`` (step 3)."""
    if isinstance(update, list):
        rest = {"$setDifference": [{"$ifNull": [f"${OPEN}", []]}, {"$literal": [wid]}]}
        return [*update, {"$set": {OPEN: rest}}]
    return {**update, "$pull": {OPEN: wid}}


class SeenAtClaim:
    """The study as read after each recent claim of this store, by attempt, for
    the result write of the attempt (thread-safe; the oldest of more than
    :data:`_KEPT` attempts are forgotten: their results take the read path)."""

    def __init__(self) -> None:
        self._seen: collections.OrderedDict[tuple[str, int, str], Seen] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def keep(self, study: str, tid: int, token: str, doc: dict[str, Any]) -> None:
        """Remember the study document ``doc`` read after the claim of attempt
        ``token`` of trial ``study/tid`` (nothing while a settings write is open)."""
        seen = seen_in(doc)
        with self._lock:
            if seen is None:
                self._seen.pop((study, tid, token), None)
                return
            self._seen[(study, tid, token)] = seen
            while len(self._seen) > _KEPT:
                self._seen.popitem(last=False)

    def guard(
        self, study: str, tid: int, token: str, key: str
    ) -> dict[str, Any] | None:
        """The filter of a result write of attempt ``token`` refused if the study's
        settings may hold ``key`` as it lands: its trial running under ``token``
        with no settings write stamped since the read after the claim. None if
        there was no such read, or ``key`` was set then: read the study first."""
        with self._lock:
            seen = self._seen.get((study, tid, token))
        if seen is None or seen.settings.get(key) is not None:
            return None
        newer = {"$gt": seen.ticket}
        return {"token": token, "state": "running", BEGUN: {"$not": newer}}

    def forget(self, study: str, tid: int, token: str) -> None:
        """Drop what was kept for the attempt ``token`` (its outcome is written)."""
        with self._lock:
            self._seen.pop((study, tid, token), None)
