"""The workflows' versions as the store keeps them, and how many cases run on each.

Read by the web app's workflows page: a version's text is kept the first time a case uses it
(engine.store.versions), and cases finish on the version they started on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import Case, WorkflowVersion


@dataclass(frozen=True)
class VersionUsage:
    """One kept version of a workflow and its cases, open and closed."""

    name: str
    version: int
    first_used: datetime | None
    digest: str | None
    open_cases: int
    closed_cases: int


def version_usage(session: Session) -> list[VersionUsage]:
    """Every kept version, plus any version cases run on whose text was never kept, newest first per workflow."""
    counts: dict[tuple[str, int], list[int]] = {}
    for name, version, closed, count in session.execute(
        select(Case.workflow_name, Case.workflow_version, Case.closed, func.count())
        .group_by(Case.workflow_name, Case.workflow_version, Case.closed)
    ):
        counts.setdefault((name, version), [0, 0])[1 if closed else 0] += count
    kept = {(v.name, v.version): v for v in session.scalars(select(WorkflowVersion))}
    usage = []
    for key in sorted(set(counts) | set(kept), key=lambda k: (k[0], -k[1])):
        row, (open_cases, closed_cases) = kept.get(key), counts.get(key, [0, 0])
        usage.append(VersionUsage(key[0], key[1], row.first_used if row else None, row.digest if row else None,
                                  open_cases, closed_cases))
    return usage


def version_source(session: Session, name: str, version: int) -> str | None:
    """The YAML text of a kept version (None when that version was never used)."""
    return session.scalar(select(WorkflowVersion.source).where(WorkflowVersion.name == name,
                                                               WorkflowVersion.version == version))


__all__ = ["VersionUsage", "version_source", "version_usage"]
