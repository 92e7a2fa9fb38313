"""``python -m hpo_service.worker``: the same as ``hpo-worker``."""

from __future__ import annotations

from hpo_service.worker._entry import main

main()
