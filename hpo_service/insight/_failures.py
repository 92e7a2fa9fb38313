"""Failed trials grouped by error type, with an example of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo_service.insight._data import StudyData


@dataclass(frozen=True)
class FailureGroup:
    """Error trials that share an error type.

    Attributes:
        type: The error type (``ValueError``, ``Timeout``, ``LeaseExpired``...).
        count: How many trials failed with it.
        example_tid: The first such trial.
        example_message: Its message (first line).
    """

    type: str
    count: int
    example_tid: int
    example_message: str


def failure_groups(data: StudyData) -> list[FailureGroup]:
    """Error trials grouped by ``error.type``, the most frequent first.

    Args:
        data: The study.

    Returns:
        One group per error type (``"unknown"`` when a trial has none), with the
        first such trial by tid as the example; ties by type name.
    """
    groups: dict[str, list[int]] = {}
    messages: dict[int, str] = {}
    for row in data.sorted_rows():
        if row.state != "error":
            continue
        kind = row.error_type or "unknown"
        groups.setdefault(kind, []).append(row.tid)
        messages[row.tid] = row.error_message or ""
    return sorted(
        (
            FailureGroup(kind, len(tids), tids[0], messages[tids[0]])
            for kind, tids in groups.items()
        ),
        key=lambda g: (-g.count, g.type),
    )
