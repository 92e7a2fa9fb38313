"""Creating a study without what creation needs: the message names the missing
flags in the team's "must ..., but got" form."""

from __future__ import annotations

import pytest

from hpo_service.driver._study import _create
from hpo_service.store import open_store


def test_a_missing_study_names_the_flags_its_creation_needs(tmp_path):
    with open_store(f"sqlite:///{tmp_path / 'x.sqlite'}") as store:
        with pytest.raises(ValueError) as refused:
            _create(store, "s", {"space": {}, "max_evals": 3})
        assert not store.list_studies()
    text = str(refused.value)
    assert "--objective must be given to create study 's', which does not exist" in (
        text
    )
    assert text.endswith("but got none of them for study='s'"), text
