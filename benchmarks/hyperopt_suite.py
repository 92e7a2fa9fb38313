"""Run hyperopt's own unit tests against hpo-service, with only the imports changed.

The check behind "hyperopt code ports by changing one import": hyperopt's public-API
tests for ``fmin``, ``pchoice``, ``randint`` and ``anneal`` (plus ``test_domains``,
which ``test_anneal`` imports) are copied from the installed hyperopt package into a
temporary directory, every ``hyperopt`` name is replaced by ``hpo_service``, and pytest
runs them. Nothing of hyperopt's is kept in this repository.

    python benchmarks/hyperopt_suite.py            # the public-API tests
    python benchmarks/hyperopt_suite.py --all      # every unit test (pyll internals
                                                   # and atpe/spark/plotting included)

Needs hyperopt installed (``pip install -e ".[test]"``). Exit code: pytest's.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PUBLIC_API = ["test_fmin.py", "test_pchoice.py", "test_randint.py", "test_anneal.py"]
SUPPORT = ["__init__.py", "test_domains.py"]
_NAME = re.compile(r"\bhyperopt\b")


def hyperopt_tests() -> Path:
    """The ``tests`` directory of the installed hyperopt package."""
    spec = importlib.util.find_spec("hyperopt")
    if spec is None or spec.origin is None:
        sys.exit("hyperopt is not installed: pip install -e '.[test]'")
    tests = Path(spec.origin).parent / "tests"
    if not (tests / "unit").is_dir():
        sys.exit(f"this hyperopt has no unit tests at {tests}")
    return tests


def copy_swapped(source: Path, target: Path, names: list[str] | None) -> list[Path]:
    """Copy hyperopt's unit tests into ``target/hx_tests`` with the imports swapped."""
    unit = target / "hx_tests" / "unit"
    unit.mkdir(parents=True)
    (target / "hx_tests" / "__init__.py").write_text("")
    chosen = sorted(p.name for p in (source / "unit").glob("*.py"))
    if names is not None:
        chosen = [n for n in chosen if n in names + SUPPORT]
    for name in chosen:
        text = (source / "unit" / name).read_text()
        (unit / name).write_text(_NAME.sub("hpo_service", text))
    return [
        unit / n for n in chosen if n.startswith("test_") and n != "test_domains.py"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every hyperopt unit test")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hyperopt-suite-") as tmp:
        files = copy_swapped(
            hyperopt_tests(), Path(tmp), None if args.all else PUBLIC_API
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), tmp])}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "-rf", *map(str, files), *args.pytest_args]  # fmt: skip
        print("$", " ".join(command[2:5]), "<hyperopt's", len(files), "test files>")
        code = subprocess.call(command, cwd=tmp, env=env)
        shutil.rmtree(Path(tmp) / "hx_tests", ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
