"""``SpaceCodeError.where()`` names the user's line when the user's space lives in a
package installed in site-packages (a ``pip install .`` of the user's project, as
in a Docker image): its ``scope`` function called the standard library, which
raised, and a helper of the same package called it.

Before (e8282a72), every frame in a site-packages folder counted as a library's, so
no frame was the user's and the innermost one was named: a line of statistics.py.
"""

from __future__ import annotations

import statistics
import sys
import textwrap

import pytest

from hpo_service import Trials, fmin, rand
from hpo_service.exceptions import AllTrialsFailed

_SPACES = """
from hpo_service import hp
from hpo_service.pyll import scope

from l4_installed_pkg.helpers import spread


@scope.define
def l4_installed_spread(d):
    return spread(d)


space = {"v": scope.l4_installed_spread(hp.quniform("d", -0.4, 0.4, 1))}
"""

_HELPERS = """
import statistics


def spread(d):
    return statistics.stdev([d])  # raises: one data point
"""


@pytest.fixture
def installed_space(tmp_path, monkeypatch):
    """The space of package ``l4_installed_pkg``, installed in a site-packages
    folder; the files of its two modules."""
    package = tmp_path / "lib" / "site-packages" / "l4_installed_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "spaces.py").write_text(textwrap.dedent(_SPACES).lstrip())
    (package / "helpers.py").write_text(textwrap.dedent(_HELPERS).lstrip())
    monkeypatch.syspath_prepend(str(package.parent))
    from l4_installed_pkg import spaces  # type: ignore[import-not-found]

    yield spaces.space, package
    for name in [m for m in sys.modules if m.startswith("l4_installed_pkg")]:
        del sys.modules[name]


def test_an_installed_users_package_is_the_users_code(installed_space):
    space, package = installed_space
    trials = Trials()
    with pytest.raises(AllTrialsFailed):
        fmin(lambda c: c["v"], space, algo=rand.suggest, max_evals=2, trials=trials,
             rstate=0, catch_eval_exceptions=True, show_progressbar=False)  # fmt: skip
    for trial in trials._dynamic_trials:
        _, message = trial["misc"]["error"]
        assert message.endswith(f" (in spread at {package / 'helpers.py'}:5)"), message
        assert statistics.__file__ not in message
