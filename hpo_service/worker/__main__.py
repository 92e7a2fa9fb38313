"""``python -m hpo_service.worker``: the same as ``hpo-worker``."""

from __future__ import annotations

from hpo_service.worker.cli import main

main(prog_name="hpo-worker")
