"""Workflow versions kept in the store: a case runs to its end on the rules it started with.

The first time a workflow version is used, its file's text is stored. Editing the file without
raising `version` is refused (the cases already under way would silently change rules); after a
raise, new cases start on the new version and older cases go on with the text kept for theirs.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.core.limits import Limits
from engine.core.workflow import Workflow, load_workflow
from engine.errors import RelanceError
from engine.store.models import Case, WorkflowVersion


class WorkflowVersionError(RelanceError):
    """A workflow file changed without a new version number."""


def register(session: Session, workflow: Workflow, source: str) -> None:
    """Keep `source` as the text of `workflow`'s version, or check it is the text already kept."""
    digest = hashlib.sha256(source.encode()).hexdigest()
    kept = _kept(session, workflow)
    if kept is None:
        # Workers started together all find no row; one insert wins, the others read what it kept.
        try:
            with session.begin_nested():
                session.add(WorkflowVersion(name=workflow.name, version=workflow.version, digest=digest,
                                            source=source, first_used=datetime.now(timezone.utc).replace(tzinfo=None)))
            return
        except IntegrityError:
            kept = _kept(session, workflow)
            if kept is None:
                raise
    if kept.digest != digest:
        raise WorkflowVersionError(
            f"{workflow.path}: the file changed but its version is still {workflow.version}; cases already "
            f"started on version {workflow.version} must keep its rules: set `version: {workflow.version + 1}`"
        )


def _kept(session: Session, workflow: Workflow) -> WorkflowVersion | None:
    return session.scalar(select(WorkflowVersion).where(
        WorkflowVersion.name == workflow.name, WorkflowVersion.version == workflow.version))


def older_versions(session: Session, current: Workflow, limits: Limits | None = None) -> list[Workflow]:
    """The earlier versions of `current` that open cases still run on, rebuilt from their kept text.

    Their letters come from the current workflow's folder (a template edit applies to every case).
    """
    return [version_of(session, current.name, version, current.path, limits)
            for version in older_in_use(session, current)]


def older_in_use(session: Session, current: Workflow) -> dict[int, int]:
    """Each earlier version of `current` that open cases still run on → how many (closed cases write no more
    letters and take no more steps, so the versions they finished on need nothing)."""
    return dict(sorted(session.execute(
        select(Case.workflow_version, func.count()).where(
            Case.workflow_name == current.name, Case.closed.is_(False), Case.workflow_version != current.version)
        .group_by(Case.workflow_version)
    ).tuples().all()))


def version_of(session: Session, name: str, version: int, path: Path, limits: Limits | None = None) -> Workflow:
    """Workflow `name` as it was at `version` (its text from the store; `path` anchors the letters),
    read within the workspace's `limits` like the current version."""
    kept = session.scalar(select(WorkflowVersion).where(
        WorkflowVersion.name == name, WorkflowVersion.version == version))
    if kept is None:
        raise WorkflowVersionError(
            f"cases run on {name} version {version}, whose text was never kept: restore that version of "
            f"{path} or move the cases with `relance case jump`"
        )
    return load_workflow(path, source=kept.source, limits=limits, kept=version)
