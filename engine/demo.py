"""`relance demo`: a workspace on SQLite, the example data, and day-by-day runs until every level occurred.

It goes through the paths a team uses every day: payments are imported on the day they arrive
(as a daily bank export would be), disputes and promises are recorded as case actions on their
date, and each day is one `App.run`. Nothing is faked: the letters, the timeline and the
database are the real ones, and stay in the demo folder to open.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.app import App
from engine.cases.actions import receipt
from engine.cases.users import add_user
from engine.core.money import parse_date
from engine.demo_desk import DEMO_DOCX, DEMO_SMTP, DeskWork, import_tracking, work_the_desk
from engine.imports.case_events import EventRow, NoOpenCase, apply_event, read_events
from engine.reports.aging import aging
from engine.reports.funnel import funnel
from engine.reports.html import render_report_html
from engine.reports.timeline import render_timeline
from engine.store.events import LetterSent
from engine.store.models import Case, Document, Event, Invoice
from engine.workspace import EXAMPLES, WorkspaceError, init_workspace, load_workspace

# A level is a state that sends a letter; the demo goes on until each has been reached once.
SAFETY_MARGIN = timedelta(days=200)
# Registered letters are recorded as delivered this long after they went out (see _record_deliveries).
DELIVERY_DELAY = timedelta(days=3)
# Marks a folder the demo built, the only kind it agrees to wipe and rebuild.
DEMO_MARK = ".relance-demo"
# The web app's user of the demo workspace (an admin, so every page shows): printed with the command that serves it.
DEMO_USER, DEMO_PASSWORD = "demo", "demo-relance"


@dataclass
class DemoResult:
    """What the demo produced, for the closing summary."""

    root: Path
    first_day: date
    last_day: date
    days: int = 0
    cases_by_state: Counter[str] = field(default_factory=Counter)
    letters_by_template: Counter[str] = field(default_factory=Counter)
    recovered: Decimal = Decimal("0")
    outstanding: Decimal = Decimal("0")
    actions: list[str] = field(default_factory=list)
    channels: DeskWork = field(default_factory=DeskWork)
    letters_dir: Path | None = None
    timeline_html: Path | None = None
    report_html: Path | None = None
    sample_letters: list[Path] = field(default_factory=list)
    serve_command: str = ""
    web_user: tuple[str, str] = (DEMO_USER, DEMO_PASSWORD)


def run_demo(root: Path, *, until: date | None = None, pdf: bool = False,
             on_day: Callable[[date, int, int], None] | None = None) -> DemoResult:
    """Build the demo workspace in `root` (starting over) and simulate it day by day."""
    _claim_folder(root)
    config = init_workspace(root, force=True)
    (config.parent / DEMO_MARK).write_text("relance demo: `relance demo` may wipe this folder\n", encoding="utf-8")
    # Starting over means no letter of an earlier demo is left to look like an orphan.
    shutil.rmtree(config.parent / "output", ignore_errors=True)
    (config.parent / "output").mkdir()
    database = config.parent / "relance.sqlite"
    for leftover in (database, database.with_name("relance.sqlite-wal"), database.with_name("relance.sqlite-shm")):
        leftover.unlink(missing_ok=True)
    with config.open("a", encoding="utf-8") as toml:
        toml.write(DEMO_SMTP + ("" if pdf else DEMO_DOCX))
    app = App(load_workspace(config.parent))
    app.store.upgrade()
    app.import_files([EXAMPLES / "debtors.csv", EXAMPLES / "invoices.csv"])

    payments = _rows_by_day(EXAMPLES / "payments.csv", "payment_date")
    events: dict[date, list[EventRow]] = defaultdict(list)
    for row in read_events(EXAMPLES / "events.csv"):  # the reader `relance import events.csv` uses
        events[row.on].append(row)
    first_day = _first_due_date(app)
    last_planned = max([*payments, *events, first_day])
    stop_at = until or (last_planned + SAFETY_MARGIN)
    result = DemoResult(root=config.parent, first_day=first_day, last_day=first_day)
    levels = {(workflow.name, name) for workflow in app.workflows.values()
              for name, state in workflow.states.items() if state.letter}

    day = first_day
    total_days = (stop_at - first_day).days + 1
    while day <= stop_at:
        if day in payments:
            _import_payments(app, payments[day])
        for row in events.get(day, ()):
            result.actions.append(_apply_event(app, row, day))
        result.actions += _record_deliveries(app, day, result.channels)
        app.run(day, pdf=pdf)
        work_the_desk(app, day, result.channels)
        result.days += 1
        result.last_day = day
        if on_day is not None:
            on_day(day, result.days, total_days)
        if until is None and day >= last_planned and levels <= _reached_levels(app):
            break
        day += timedelta(days=1)

    _summarise(app, result)
    add_user(app, DEMO_USER, "admin", DEMO_PASSWORD)
    result.serve_command = f"relance --workspace {result.root} serve"
    return result


def _rows_by_day(path: Path, date_column: str) -> dict[date, list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        by_day: dict[date, list[dict[str, str]]] = defaultdict(list)
        for row in reader:
            by_day[parse_date(row[date_column])].append(row)
    return dict(by_day)


def _first_due_date(app: App) -> date:
    with app.session() as session:
        first = session.scalar(select(func.min(Invoice.due_date)))
    if first is None:
        raise ValueError("the example invoices are empty")
    return first


def _import_payments(app: App, rows: list[dict[str, str]]) -> None:
    """That day's bank export, imported like any other CSV."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "payments.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=";")
            writer.writeheader()
            writer.writerows(rows)
        app.import_files([path], kind="payments")


def _apply_event(app: App, row: EventRow, day: date) -> str:
    """A dispute, promise, hold... recorded on the debtor's open case, as `relance import events.csv` does."""
    try:
        with app.session() as session:
            done = apply_event(session, app, row, by="demo")
    except NoOpenCase:
        return f"{day}: {row.action} for {row.debtor_ref} skipped (no open case)"
    return done or f"{day}: {row.action} for {row.debtor_ref} already recorded"


def _record_deliveries(app: App, day: date, work: DeskWork) -> list[str]:
    """La Poste's tracking, as the team records it with `relance case receipt`: each registered letter sent
    three days ago was presented the day before yesterday and signed for yesterday; one in four was never
    collected (presented only)."""
    sent_on = day - DELIVERY_DELAY
    with app.session() as session:
        letters = session.execute(
            select(Case.ref, Case.id, Event.payload).join(Case, Case.id == Event.case_id)
            .where(Event.kind == LetterSent.kind, Event.occurred_on == sent_on).order_by(Case.id)
        ).all()
    done = []
    for ref, case_id, payload in letters:
        letter = LetterSent.from_json(payload)
        if letter.channel != "registered_letter":
            continue
        collected = case_id % 4 != 0
        received = day - timedelta(days=1) if collected else None
        if work.receipt is None:  # the first one comes as La Poste's export, through `relance import tracking.csv`
            import_tracking(app, day, ref, f"1A{case_id:011d}", day - timedelta(days=2), received)
            work.receipt = f"{day}: receipt of {ref}'s registered letter (sent {sent_on}) imported from tracking.csv"
        else:
            receipt(app, ref, day, by="demo", tracking=f"1A {case_id:011d}", presented=day - timedelta(days=2),
                    received=received)
        done.append(f"{day}: receipt on {ref} ({'received' if collected else 'presented, not collected'})")
    return done


def _reached_levels(app: App) -> set[tuple[str, str]]:
    """(workflow, state) of every letter written so far: each workflow must reach each of its levels."""
    with app.session() as session:
        rows = session.execute(
            select(Case.workflow_name, Document.state).join(Case, Case.id == Document.case_id).distinct()
        ).all()
    return {(workflow, state) for workflow, state in rows}


def _claim_folder(root: Path) -> None:
    """Refuse a folder that holds anything but an earlier demo: starting over deletes its database
    and letters, and `relance demo --dir .` inside a real workspace must not wipe a team's record."""
    if root.is_dir() and any(root.iterdir()) and not (root / DEMO_MARK).is_file():
        raise WorkspaceError(
            f"{root.resolve()}: not empty and not an earlier demo; the demo starts over and would delete "
            f"what is there: choose a new folder with --dir"
        )


def _summarise(app: App, result: DemoResult) -> None:
    output = app.workspace.output_dir
    with app.session() as session:
        result.cases_by_state.update({state: count for state, count in session.execute(
            select(Case.state, func.count(Case.id)).group_by(Case.state))})
        result.letters_by_template.update({str(template): count for template, count in session.execute(
            select(Document.template, func.count(Document.id.distinct())).group_by(Document.template))})
        showcase = _showcase_case(session)
        if showcase is not None:
            result.timeline_html = output / f"timeline-{showcase.ref}.html"
            result.timeline_html.write_text(render_timeline(session, showcase, "html",
                                                            app.state_labels(showcase.workflow_name,
                                                                             showcase.workflow_version), app.zone),
                                             encoding="utf-8")
        for template in sorted(result.letters_by_template):
            path = session.scalar(select(Document.path).where(Document.template == template).limit(1))
            if path:
                result.sample_letters.append(output / path)
        result.report_html, result.recovered = _write_report(app, session, result.last_day)
    result.letters_dir = output


def _showcase_case(session: Session) -> Case | None:
    """The case with the longest story: litigation first, then the most events."""
    return session.scalar(
        select(Case).order_by((Case.state == "litigation").desc(), Case.event_count.desc(), Case.id).limit(1)
    )


def _write_report(app: App, session: Session, as_of: date) -> tuple[Path, Decimal]:
    """The report page as of ``as_of``, and the amount it says the escalation recovered: the summary
    prints the funnel's figure (its one owner), so the demo and `relance report` never disagree."""
    workflows = list({workflow.name: workflow for workflow in app.workflows.values()}.values())
    steps = funnel(session, as_of, workflows)
    page = render_report_html(aging(session, as_of), steps, title=app.workspace.creditor.name, as_of=as_of)
    path = app.workspace.output_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path, steps.recovered
