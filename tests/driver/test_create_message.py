"""Creating a study without what creation needs: the message names the missing
flags in the team's "must ..., but got" form."""

from __future__ import annotations

import pytest

from hpo_service.driver._study import _create
from hpo_service.store import open_store


def test_a_missing_study_names_the_flags_its_creation_needs(tmp_path):
    """Each missing flag as typed, in backticks, and what was got: no such flag
    (it said "but got none of them" of a single flag)."""
    with open_store(f"sqlite:///{tmp_path / 'x.sqlite'}") as store:
        with pytest.raises(ValueError) as refused:
            _create(store, "s", {"space": {}, "max_evals": 3})
        with pytest.raises(ValueError) as two:
            _create(store, "s", {"space": {}})
        assert not store.list_studies()
    assert str(refused.value) == (
        "`--objective` must be given to create study 's' (it does not exist yet), "
        "but got no --objective"
    )
    assert str(two.value).startswith(
        "`--objective` and `--max-evals` must be given to create study 's'"
    )
    assert str(two.value).endswith("but got no --objective, no --max-evals")
