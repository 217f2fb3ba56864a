"""The workflows' versions as the store keeps them, and how many cases run on each.

Read by the web app's workflows page: a version's text is kept the first time a case uses it
(engine.store.versions), and cases finish on the version they started on. So a case may sit in a state
that only an older version has (a state renamed or dropped since): the case list's filters, on the web and
on the command line, know the states of every version (``state_names``), and name each case's state as the
version it runs on does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from engine.core.limits import Limits
from engine.core.workflow import Workflow, load_workflow
from engine.errors import RelanceError
from engine.store.models import Case, WorkflowVersion
from engine.store.versions import older_in_use, version_of


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


class UnknownVersion(RelanceError):
    """A version of a workflow that is neither its file's nor one the store kept."""


def drawn_version(session: Session, current: Workflow, version: int, limits: Limits | None = None) -> Workflow:
    """``current`` (the file) at ``version``: itself, or rebuilt from the text the store kept for that version,
    as the web app's workflows page and `relance diagram --version` draw it (not to run: its letters are not
    looked for); UnknownVersion names the versions there are."""
    if version == current.version:
        return current
    source = version_source(session, current.name, version)
    if source is None:
        kept = sorted(set(session.scalars(select(WorkflowVersion.version)
                                          .where(WorkflowVersion.name == current.name))) | {current.version})
        raise UnknownVersion(f"{current.path}: workflow {current.name} has no version {version}; its versions: "
                             + ", ".join(map(str, kept)))
    # Drawn without its letter files: an older version's letter may be gone (`letters check` says so) while its
    # cases still run, and its diagram is what tells the team what those cases will do.
    return load_workflow(current.path, source=source, limits=limits, kept=version, letters=False)


def open_versions(session: Session, current: Workflow, limits: Limits | None = None
                  ) -> list[tuple[int, int, RelanceError | None]]:
    """Each earlier version of ``current`` open cases still run on: (version, its open cases, why a run would
    refuse it — its kept text missing or no longer loading, a letter it names gone — or None), as `relance
    letters check` reports them."""
    found: list[tuple[int, int, RelanceError | None]] = []
    for version, cases in older_in_use(session, current).items():
        try:
            version_of(session, current.name, version, current.path, limits)
            found.append((version, cases, None))
        except RelanceError as exc:
            found.append((version, cases, exc))
    return found


@dataclass(frozen=True)
class StateNames:
    """The states cases may be in, over every version of the workspace's workflows, and their labels.

    ``offered``: state → label, what a filter offers and accepts: the current workflows' states first (their
    labels), then the states only an older version has (labelled by the newest version that has them).
    ``by_version``: (workflow, version) → state → label, the label a case's state has in the version it runs on."""

    offered: dict[str, str]
    by_version: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)

    def label(self, workflow: str, version: int, state: str) -> str:
        """``state`` as the version the case runs on names it (else as the filter does, else its name)."""
        return self.by_version.get((workflow, version), {}).get(state) or self.offered.get(state) or state

    def get(self, state: str, default: str) -> str:
        """The filter's label of ``state`` (where no case, hence no version, is at hand)."""
        return self.offered.get(state, default)

    def unknown(self, state: str) -> str | None:
        """Why ``state`` is no state of any version (None when it is one): the known states, listed."""
        if state in self.offered:
            return None
        return ", ".join(f"{name} ({label})" if label != name else name for name, label in self.offered.items())


def every_version(desk: Any) -> list[Workflow]:
    """The workspace's workflows (``desk.workflows``, each once), then every older version the store kept that
    cases, open or closed, run on, newest first (each read once by ``desk.workflow_version``): a version's text is
    kept before a case uses it, so every state a case may be in, or was closed in, is a state of one of these. A
    version kept but never used (read by a command, then raised before any case opened on it) is left out: no
    case can be in its states, so no filter offers them."""
    current = list({w.name: w for w in desk.workflows.values()}.values())
    names, seen = {w.name for w in current}, {(w.name, w.version) for w in current}
    with desk.session() as session:
        kept = session.execute(select(WorkflowVersion.name, WorkflowVersion.version)
                               .order_by(WorkflowVersion.name, WorkflowVersion.version.desc())).all()
        # Per kept version, not a DISTINCT over every case: the list reads this on each page, and the cases of
        # a version in use are found at once; only a version no case ran on is looked for to the end.
        used = [(name, version) for name, version in kept if name in names and (name, version) not in seen
                and session.scalar(select(exists().where(Case.workflow_name == name,
                                                         Case.workflow_version == version)))]
    found = list(current)
    for name, version in used:
        try:
            older = desk.workflow_version(name, version)
        except RelanceError:  # a kept text this release no longer reads: its cases still list, unlabelled
            continue
        if older is not None:
            found.append(older)
    return found


def state_names(desk: Any) -> StateNames:
    """The states of every version of the workspace's workflows (``every_version``), with their labels."""
    by_version = {(w.name, w.version): {name: spec.label or name for name, spec in w.states.items()}
                  for w in every_version(desk)}
    offered: dict[str, str] = {}
    for labels in by_version.values():  # current versions first, then older ones newest first
        for state, label in labels.items():
            offered.setdefault(state, label)
    return StateNames(offered, by_version)


__all__ = ["StateNames", "UnknownVersion", "VersionUsage", "drawn_version", "every_version", "open_versions",
           "state_names", "version_source", "version_usage"]
