"""The hint an interrupted ``hpo-driver start`` prints counts a done trial that
returned status fail as ``failed``, as its end line and ``hpo-driver status`` do
(it said "4 done" for 3 ok and 1 failed trials), in the end line's order (it named
error before pruned); on SQLite and on the MongoDB-wire server."""

from __future__ import annotations

from hpo_service.driver._output import resume_hint
from hpo_service.store import open_store
from tests.helpers.finished_states import stored_study


def test_the_resume_hint_splits_done_and_failed(any_db: str) -> None:
    stored_study(any_db, pair=False)  # 3 ok, 1 status fail, 2 pruned, 1 error
    with open_store(any_db) as store:
        hint = resume_hint("a", "stopped by SIGINT", any_db, store)
    assert (
        ": 7/50 trials finished (3 done, 1 failed (status fail), 2 pruned, 1 error)"
        in hint
    ), hint
