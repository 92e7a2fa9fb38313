"""The README's "Coming from Optuna" table names only what exists: every
``hpo-driver`` command and its flags, and every Python name it gives."""

from __future__ import annotations

import re

import hpo_service
from hpo_service import pruners
from hpo_service.driver.cli import main as driver_cli
from hpo_service.worker.cli import main as worker_cli
from tests.e2e.conftest import REPO


def optuna_table() -> list[str]:
    """The right-hand cells of the README's Optuna table."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Coming from Optuna", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= 10, section
    return [row.split(" | ", 1)[1] for row in rows]


def test_every_command_and_flag_it_names_exists():
    flags = {opt for p in worker_cli.params for opt in getattr(p, "opts", [])}
    commands = driver_cli.commands
    for p in (p for command in commands.values() for p in command.params):
        flags.update(getattr(p, "opts", []))
    named = 0
    for cell in optuna_table():
        for sub in re.findall(r"hpo-driver (\w+)", cell):
            assert sub in commands, cell
            named += 1
        for flag in re.findall(r"(--[a-z][a-z-]*)", cell):
            assert flag in flags, (flag, cell)
    assert named >= 6


def test_every_python_name_it_gives_exists():
    for cell in optuna_table():
        for name in re.findall(r"`hp\.(\w+)\(", cell):
            assert callable(getattr(hpo_service.hp, name)), cell
        for name in re.findall(r"\b(\w+Pruner)\b", cell):
            assert issubclass(getattr(pruners, name), pruners.BasePruner), cell
        for name in re.findall(r"`(report|should_prune|TrialPruned|StoreTrials)", cell):
            assert getattr(hpo_service, name), cell
