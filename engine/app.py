"""The application: one workspace's settings, its store and its workflows, wired together.

The command line, the demo and the workers all go through `App`, so a run started by hand,
by the demo or by a worker does exactly the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.cases.channels import ChannelWriter
from engine.cases.desk import WritingDesk
from engine.cases.letters import LetterWriter, RatesUsed, check_letters, require_writable_folder
from engine.cases.outbox import Delivery, deliver
from engine.cases.printing import PrintBundle, print_day
from engine.channels.email import domain_of
from engine.cases.run import RunReport, run
from engine.core.claim import RateTable, load_rates
from engine.core.instants import team_zone
from engine.core.rates import DEFAULT_RATES_FILE
from engine.core.machine import Escalator
from engine.core.workflow import Workflow, load_workflow, read_source
from engine.imports.case_events import import_events, import_receipts, kind_of
from engine.imports.importer import ImportFailed, ImportReport, import_csv
from engine.errors import RelanceError
from engine.store import versions
from engine.store.database import Store, StoreError, connect, ensure_creditor
from engine.store.models import Case
from engine.store.runlock import run_lock
from engine.workspace import Workspace, WorkspaceError

# Import order matters: invoices name debtors, payments name invoices, events and receipts name cases.
IMPORT_ORDER = ("debtors", "invoices", "credit_notes", "payments", "events", "tracking")


@dataclass
class AfterRun:
    """What a run did after its commits: PDFs (one LibreOffice batch) and the e-mails delivered."""

    pdf_processes: int = 0
    pdf_failures: list[str] = field(default_factory=list)
    delivery: Delivery | None = None


@dataclass
class App:
    """A workspace at work: `App(workspace)` or `App.for_workspace(root)`."""

    workspace: Workspace
    store: Store = field(default=None)  # type: ignore[assignment]
    after_run: AfterRun = field(default_factory=AfterRun)  # of the last `run`
    # The rates the letters of the last run or action (approve, jump...) assumed or could not verify
    # (engine.cases.letters.RatesUsed): those of the last `letter_writer`.
    rates_used: RatesUsed = field(default_factory=RatesUsed)
    # Older workflow versions read back from the store, by (name, version): each is parsed once.
    _older: dict[tuple[str, int], Workflow] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.store is None:
            self.store = connect(self.workspace.database_url)

    @classmethod
    def open(cls, workspace: Workspace) -> App:
        """The workspace on its database at the current schema: a new, empty database is created at head;
        an older one must be upgraded on purpose (`relance db upgrade`), so it is refused here."""
        store = _open_store(workspace.database_url)
        if store.current_revision() is None:
            store.upgrade()
        else:
            store.check_schema()
        return cls(workspace, store)

    @cached_property
    def workflows(self) -> dict[str, Workflow]:
        """Debtor kind → its workflow, each file loaded (and validated) once.

        Each version's text is kept in the store on first use (engine.store.versions), and a file edited
        without a new version number is refused here, before any case moves.
        """
        loaded: dict[Path, Workflow] = {}
        for path in self.workspace.workflows.values():
            if path in loaded:
                continue
            # Read as validate reads it: a FIFO or /dev/zero named in relance.toml must not hang the run.
            source = read_source(path, limits=self.workspace.limits)
            workflow = self.workspace.with_letters(load_workflow(path, source=source, limits=self.workspace.limits))
            with self.store.session() as session:
                versions.register(session, workflow, source)
            loaded[path] = workflow
        return {kind: loaded[path] for kind, path in self.workspace.workflows.items()}

    @cached_property
    def rates(self) -> RateTable:
        return load_rates(self.workspace.rates_path)

    @cached_property
    def zone(self) -> ZoneInfo:
        """The clock the team reads times on ([team] timezone, checked when the workspace was read)."""
        return team_zone(self.workspace.timezone)

    @property
    def rates_file(self) -> str:
        return str(self.rates.path or DEFAULT_RATES_FILE)

    @property
    def rates_name(self) -> str:
        """The rates file as the team knows it, for a web page, which must not reveal the server's paths:
        relance.toml's ``[paths] rates`` (relative to the workspace), else the file relance ships, by name."""
        path = self.workspace.rates_path
        if path is None:
            return f"le fichier de taux fourni avec relance ({DEFAULT_RATES_FILE.name})"
        try:
            shown = path.relative_to(self.workspace.root.resolve()).as_posix()
        except ValueError:  # outside the workspace: its name alone
            shown = path.name
        return f"{shown} ([paths] rates de relance.toml)"

    def rate_notes(self, as_of: date) -> dict[str, Any]:
        """For `relance report`: the rows of the rates file marked unverified, and whether `as_of` is past its
        last row (letters would then assume the last rates)."""
        carried = self.rates.carried_forward(as_of)
        return {"file": self.rates_file, "unverified": [str(h) for h in self.rates.unverified()],
                "assumed": [str(carried)] if carried is not None else []}

    def state_labels(self, workflow_name: str, version: int) -> dict[str, str]:
        """State → French label of a workflow of the workspace as ``version`` names them (the printed timeline
        names a case's state so: its version may have a state the current one renamed or dropped). Empty when that
        version cannot be read (a letter its kept text names is gone): its states are then named by their names."""
        try:
            workflow = self.workflow_version(workflow_name, version)
        except RelanceError:
            return {}
        return {name: state.label or name for name, state in workflow.states.items()} if workflow else {}

    def escalator_for(self, case: Case) -> Escalator:
        """The escalator of the workflow version a case started on (it keeps those rules to the end)."""
        workflow = self.workflow_version(case.workflow_name, case.workflow_version)
        if workflow is None:
            raise WorkspaceError(f"case {case.ref} runs on workflow {case.workflow_name!r}, which the workspace lacks")
        return Escalator(workflow)

    def workflow_version(self, name: str, version: int) -> Workflow | None:
        """Workflow ``name`` as it was at ``version``: the file's when it is the current version, else the text
        the store kept (its letters from the same folder as the current version's); None when the workspace
        has no workflow of that name. Rules and letters of a case both come from here."""
        for workflow in self.workflows.values():
            if workflow.name == name:
                if workflow.version == version:
                    return workflow
                if (name, version) not in self._older:
                    with self.store.session() as session:
                        self._older[name, version] = self.workspace.with_letters(versions.version_of(
                            session, name, version, workflow.path, self.workspace.limits))
                return self._older[name, version]
        return None

    def letter_writer(self, *, pdf: bool = False, renderers: int = 0) -> ChannelWriter:
        """The `perform` of runs and actions: letters, plus each channel's record (outbox row, call task).
        ``renderers``: processes that render a run's letters beside it (engine.cases.renderers)."""
        letters = LetterWriter(self.workspace.creditor, self.workflows, self.workspace.output_dir,
                               rates=self.rates, pdf=pdf, limits=self.workspace.limits,
                               counsel=self.workspace.counsel, agency=self.workspace.agency, renderers=renderers,
                               versions=self.workflow_version)
        smtp = self.workspace.smtp
        domain = domain_of(smtp.sender if smtp else None) or domain_of(self.workspace.creditor.email)
        # Kept here whoever writes through it, a run or an approval: the team is warned of what any letter
        # rested on (engine.cli.output.print_rates), not only a run's.
        self.rates_used = letters.rates_used
        return ChannelWriter(letters, mail_domain=domain, attach=smtp.attach if smtp else None)

    def deliver(self, on: date, *, retry: bool = False) -> Delivery:
        """Send the outbox's due e-mails (``retry``: every unsent one, now), after the steps committed."""
        return deliver(self.store, self.workspace.smtp, self.workspace.output_dir, on=on, retry=retry)

    def print_day(self, on: date) -> PrintBundle:
        """One PDF of the day's postal letters behind a cover sheet (engine.cases.printing)."""
        return print_day(self.store, self.workspace.output_dir, on, creditor=self.workspace.creditor.name)

    def ensure_creditor(self) -> None:
        """The workspace's creditor exists in the database with its current identity."""
        identity = self.workspace.creditor
        lines = list(identity.address_lines) + [None, None]
        with self.store.session() as session:
            ensure_creditor(
                session, identity.ref, name=identity.name, siren=identity.siren,
                address_line1=lines[0], address_line2=lines[1], postal_code=identity.postal_code,
                city=identity.city, country=identity.country, email=identity.email, phone=identity.phone,
                iban=identity.iban.replace(" ", "") or None, bic=identity.bic or None,
            )

    def import_files(self, paths: list[Path], *, kind: str | None = None, skip_bad_rows: bool = False,
                     rejects_dir: Path | None = None, allow_extra_columns: bool = False,
                     encoding: str = "utf-8") -> list[ImportReport]:
        """Import CSV files, debtors first, each file all-or-nothing (or skipping bad rows); a column
        relance does not know refuses its file unless ``allow_extra_columns``. Every file is read in
        ``encoding``."""
        self.ensure_creditor()
        reports = []
        ordered = sorted(paths, key=lambda p: _import_rank(p, kind, encoding))
        try:
            for path in ordered:
                reports.append(self._import_one(path, kind, skip_bad_rows, rejects_dir, allow_extra_columns,
                                                encoding))
        except ImportFailed as refused:
            refused.imported = tuple(reports)
            refused.not_tried = tuple(str(path) for path in ordered[len(reports) + 1:])
            raise
        return reports

    def _import_one(self, path: Path, kind: str | None, skip_bad_rows: bool, rejects_dir: Path | None,
                    allow_extra_columns: bool, encoding: str) -> ImportReport:
        """One file of import_files, in its own transaction."""
        action_kind = kind if kind in ("events", "tracking") else None if kind else kind_of(path, encoding)
        if action_kind == "events":  # case actions, after the data files they refer to
            return import_events(WritingDesk(self), path, by=self.workspace.actor,
                                 skip_bad_rows=skip_bad_rows, encoding=encoding)
        if action_kind == "tracking":
            return import_receipts(WritingDesk(self), path, date.today(), by=self.workspace.actor,
                                   skip_bad_rows=skip_bad_rows, encoding=encoding)
        rejects = (rejects_dir or path.parent) / f"{path.stem}.rejected.csv" if skip_bad_rows else None
        return import_csv(self.store, path, kind, creditor_ref=self.workspace.creditor.ref,
                          skip_bad_rows=skip_bad_rows, rejects_path=rejects,
                          allow_extra_columns=allow_extra_columns, encoding=encoding)

    def run(self, as_of: date, *, dry_run: bool = False, pdf: bool = False,
            progress: Callable[[RunReport], None] | None = None,
            stop: Callable[[], bool] | None = None, renderers: int = 0, deliver: bool = True,
            workers: int = 1, open_new: bool = True) -> list[RunReport]:
        """One run per workflow of the workspace over the debtors of its kinds, then one per older
        version that cases still run on. ``stop`` is asked between cases (workers). ``renderers``
        processes render the letters beside this one (SQLite `run --workers N`: one writer, N renderers).
        ``deliver=False`` leaves the outbox to the caller (a parallel run sends it once, after every worker).
        ``workers``: the processes of a parallel run, this one included (engine.workers.run_parallel);
        ``open_new=False``: only advance (the parallel run's parent has opened the day's cases already).

        On SQLite the whole run holds the run lock (a second run is refused: engine.store.runlock).
        Before it opens any case it refuses, in one line, a template with errors and (unless a dry run)
        an output folder that takes no file; after that, a case that fails is that case's error alone
        (see engine.cases.run) and the run goes on.
        """
        with run_lock(self.store):
            try:
                began = time.perf_counter()
                plan, writer = self.prepare_run(dry_run=dry_run, pdf=pdf, renderers=renderers)
                checked = time.perf_counter() - began
                self.rates_used = writer.rates_used if writer is not None else RatesUsed()
                self.after_run = AfterRun()
                try:
                    reports = [run(self.store, workflow, as_of, perform=writer, dry_run=dry_run, progress=progress,
                                   debtor_kinds=kinds, stop=stop, open_new=open_new and kinds is not None,
                                   workers=workers)
                               for workflow, kinds in plan]
                finally:
                    if writer is not None:
                        writer.close()
                if reports:  # the templates' checks and compiles, before any case: a cost per process
                    reports[0].phases["check templates"] += checked
            except OperationalError as exc:  # e.g. SQLite held by a long import for longer than its timeout
                lines = str(exc.orig or exc).strip().splitlines() or [type(exc).__name__]
                raise StoreError(f"the run stopped: the database failed ({lines[0]}); what it had done is "
                                 "saved, run it again") from exc
            if writer is not None:  # after every commit: LibreOffice once for the run, then the e-mails
                self.after_run.pdf_processes = writer.convert_pending().processes
                self.after_run.pdf_failures = list(writer.pdf_failures)
                if deliver:
                    self.after_run.delivery = self.deliver(as_of)
            return reports

    def prepare_run(self, *, dry_run: bool = False, pdf: bool = False, renderers: int = 0
                    ) -> tuple[list[tuple[Workflow, tuple[str, ...] | None]], ChannelWriter | None]:
        """What a run will go through, checked: (workflow, debtor kinds) for each current workflow and
        (older version, None) for each version cases still run on, and the letter writer (None in a dry
        run). Raises TemplateRefused or OutputFolderError before anything is opened."""
        plan: list[tuple[Workflow, tuple[str, ...] | None]] = []
        for workflow, kinds in self.workflow_kinds():
            plan.append((workflow, kinds))
            with self.store.session() as session:
                for older in versions.older_versions(session, workflow, self.workspace.limits):
                    self._older[older.name, older.version] = self.workspace.with_letters(older)
                    plan.append((self._older[older.name, older.version], None))
        check_letters([workflow for workflow, _kinds in plan], limits=self.workspace.limits,
                      agency=self.workspace.agency is not None)
        if dry_run:
            return plan, None
        writer = self.letter_writer(pdf=pdf, renderers=renderers)
        require_writable_folder(writer.output_dir)
        return plan, writer

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work on the workspace's database (``write``: see ``Store.session``)."""
        with self.store.session(write=write) as session:
            yield session

    def workflow_kinds(self) -> list[tuple[Workflow, tuple[str, ...]]]:
        """Each distinct workflow with the debtor kinds it serves."""
        grouped: dict[str, tuple[Workflow, list[str]]] = {}
        for kind, workflow in self.workflows.items():
            grouped.setdefault(workflow.name, (workflow, []))[1].append(kind)
        return [(workflow, tuple(kinds)) for workflow, kinds in grouped.values()]



def upgrade_schema(workspace: Workspace) -> str:
    """Bring the workspace's database to the current schema, whatever it is at; the database's URL (password hidden)."""
    store = _open_store(workspace.database_url)
    store.upgrade()
    return store.display_url


def _open_store(url: str) -> Store:
    """Open the store; an in-memory SQLite URL is refused here, since it would forget every import the
    moment the command ends (a library caller may still pass App its own in-memory Store)."""
    if url.strip() in ("sqlite://", "sqlite:///:memory:"):
        raise StoreError(f"{url}: an in-memory database forgets everything when the command ends; "
                         "give a file, e.g. sqlite:///relance.sqlite")
    return connect(url)


def _import_rank(path: Path, kind: str | None, encoding: str) -> int:
    name = kind or kind_of(path, encoding) or _kind_from_name(path)
    return IMPORT_ORDER.index(name) if name in IMPORT_ORDER else len(IMPORT_ORDER)


def _kind_from_name(path: Path) -> str | None:
    stem = path.stem.lower()
    for kind in IMPORT_ORDER:
        if stem.startswith(kind) or stem.startswith(kind.rstrip("s")):
            return kind
    return None


def summary(reports: list[RunReport], rates: RatesUsed | None = None, rates_file: str = "") -> dict[str, Any]:
    """Totals over the per-workflow reports of one run, and the rates its letters assumed or could not verify."""
    total: dict[str, Any] = {"cases_opened": 0, "invoices_added": 0, "cases_examined": 0, "steps": 0,
                             "letters": 0, "skipped": 0, "errors": [], "by_state": {},
                             "rates": rates_summary(rates, rates_file),
                             "phases": {}}
    for report in reports:
        for phase, seconds in report.phases.items():
            total["phases"][phase] = round(total["phases"].get(phase, 0.0) + seconds, 3)
        for key in ("cases_opened", "invoices_added", "cases_examined", "steps", "letters", "skipped"):
            total[key] += getattr(report, key)
        total["errors"] += [{"case": ref, "error": why} for ref, why in report.errors]
        for state, count in report.by_state.items():
            total["by_state"][state] = total["by_state"].get(state, 0) + count
    return total


def rates_summary(rates: RatesUsed | None, rates_file: str) -> dict[str, Any]:
    """The rates letters assumed (carried forward past the file's last half-year) or could not verify, as
    `run`, `approve` and the case actions report them (engine.cli.output.print_rates prints them)."""
    return {"file": rates_file, "assumed": sorted(rates.assumed) if rates else [],
            "unverified": sorted(rates.unverified) if rates else []}
