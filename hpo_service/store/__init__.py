"""The trials store: one contract, several backends, picked by URL.

>>> store = open_store("sqlite:///hpo.db")            # doctest: +SKIP
>>> store = open_store("mongodb://user:pw@host/hpo")  # doctest: +SKIP
>>> store = open_store("mongomock://demo")            # doctest: +SKIP
"""

from __future__ import annotations

from hpo_service.store._base import (
    MAX_ATTACHMENT_BYTES,
    BaseTrialStore,
    FinishedTrial,
    NewTrial,
    RequeueReport,
    Study,
    Trial,
    TrialKeys,
    TrialReports,
    TrialState,
)
from hpo_service.store._common import LEASE_EXPIRED
from hpo_service.store._open import open_store
from hpo_service.store._summary import StudySummary
from hpo_service.store._url import SUPPORTED_SCHEMES, mask_url

make_store = open_store

__all__ = [
    "LEASE_EXPIRED",
    "MAX_ATTACHMENT_BYTES",
    "SUPPORTED_SCHEMES",
    "BaseTrialStore",
    "FinishedTrial",
    "NewTrial",
    "RequeueReport",
    "Study",
    "StudySummary",
    "Trial",
    "TrialKeys",
    "TrialReports",
    "TrialState",
    "make_store",
    "mask_url",
    "open_store",
]
