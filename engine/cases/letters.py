"""The letter a step calls for: case rows → LetterData → a DOCX in the output folder.

`LetterWriter` is the `perform` callable the run hands to `apply_steps`: inside the case's
transaction it computes the claim (engine.core.claim), renders the template (compiled once),
writes the file atomically at a deterministic place, and returns the Document row to record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.case import Action, Step
from engine.core.claim import InvoiceDebt, RateTable, claim, load_rates
from engine.core.workflow import Workflow
from engine.letters import (
    Creditor,
    InvoiceLine,
    LetterData,
    Party,
    PastStep,
    render_letter,
)
from engine.letters.pdf import Conversion, PdfError, convert_batch
from engine.store import ledger
from engine.store.events import StateChange, read_event
from engine.store.models import Case, Debtor, Document, Event

ZERO = Decimal("0")
# Folders of the output that hold what the channels make (engine.cases.outbox, engine.cases.printing).
MAIL_FOLDER, PRINT_FOLDER = "_mail", "_print"
OWN_FOLDERS = frozenset({MAIL_FOLDER, PRINT_FOLDER})


class LetterWriter:
    """Renders the letters of a run into `output_dir/<debtor>/<case>/<nn>-<state>.docx`.

    The layout is deterministic, so a step re-run after a crash rewrites the same file rather
    than leaving a second one; `Document.path` is relative to `output_dir`, so the folder can
    move to a shared mount.
    """

    def __init__(
        self,
        creditor: Creditor,
        workflows: Mapping[str, Workflow],
        output_dir: Path,
        *,
        rates: RateTable | None = None,
        pdf: bool = False,
    ) -> None:
        self.creditor = creditor
        self.workflows = {workflow.name: workflow for workflow in workflows.values()}
        self.output_dir = output_dir
        self.rates = rates or load_rates()
        self.pdf = pdf
        self._rendered: dict[tuple[int, int, str], tuple[str, str]] = {}
        self.pdf_failures: list[str] = []
        self.pending_pdf: list[Path] = []  # letters written since the last convert_pending, relative paths

    def convert_pending(self) -> Conversion:
        """The PDFs of the letters written so far (`pdf=True`), in one LibreOffice batch, after their commits.

        A letter whose step rolled back (a lost race) may be converted too: its PDF sits beside a DOCX no
        document refers to, and `relance verify --repair` removes both. The DOCX is the letter; a PDF
        LibreOffice fails to make is reported in ``pdf_failures`` and never undoes a step.
        """
        pending = [self.output_dir / path for path in dict.fromkeys(self.pending_pdf)]
        self.pending_pdf = []
        try:
            done = convert_batch(path for path in pending if path.is_file())
        except PdfError as exc:
            self.pdf_failures += [f"{path.relative_to(self.output_dir)}: {exc}" for path in pending]
            return Conversion()
        self.pdf_failures += [f"{path.relative_to(self.output_dir)}: {why}" for path, why in done.failed.items()]
        return done

    def __call__(self, session: Session, case: Case, step: Step, action: Action) -> Document | None:
        if action.template is None:
            return None  # a phone call or an e-mail without attachment: the timeline records it
        workflow = self.workflows[case.workflow_name]
        relative = Path(_slug(case.debtor.ref)) / _slug(case.ref) / f"{case.step_count:02d}-{step.dest}.docx"
        key = (case.id, case.step_count, action.template)
        if key not in self._rendered:  # one file per step even when two channels carry it
            letter = self.letter_data(session, case, step, action, workflow)
            sha256 = render_letter(workflow.letters_dir / action.template, letter, self.output_dir / relative)
            if self.pdf:
                # Converted after the commit, all at once (convert_pending): the case's transaction never
                # waits on LibreOffice, and one soffice process serves the whole run.
                self.pending_pdf.append(relative)
            self._rendered[key] = (str(relative), sha256)
        path, sha256 = self._rendered[key]
        return Document(path=path, sha256=sha256, template=action.template,
                        created_at=datetime.now(timezone.utc).replace(tzinfo=None))

    def letter_data(self, session: Session, case: Case, step: Step, action: Action, workflow: Workflow) -> LetterData:
        """Everything the letter says, as of the step's day."""
        on = step.on
        debtor = session.get(Debtor, case.debtor_id)
        assert debtor is not None
        balances = ledger.invoice_balances(session, case.id, on)
        invoices = [balance.invoice for balance in balances]
        payments = ledger.dated_amounts(session, [i.id for i in invoices], on)
        formal_notice_on = _entered_on(session, case, kind_states(workflow, "formal_notice")) or (
            on if workflow.states[step.dest].kind == "formal_notice" else None
        )
        figures = claim(
            [InvoiceDebt(i.number, i.amount, i.due_date, tuple(payments.get(i.id, ()))) for i in invoices],
            debtor_kind=debtor.kind,  # type: ignore[arg-type]  # the schema's CHECK keeps it b2b or b2c
            as_of=on, rates=self.rates, formal_notice_on=formal_notice_on,
            carry_forward=True,
        )
        lines = [InvoiceLine(b.invoice.number, b.invoice.issue_date, b.invoice.due_date, b.invoice.amount, b.paid, b.open)
                 for b in balances]
        state = workflow.states[step.dest]
        return LetterData(
            creditor=self.creditor,
            debtor=_party(debtor),
            debtor_kind=debtor.kind,  # type: ignore[arg-type]
            debtor_ref=debtor.ref,
            case_ref=case.ref,
            letter_ref=f"{case.ref}/{case.step_count:02d}",
            as_of=on,
            state=step.dest,
            state_label=state.label or step.dest,
            invoices=[line for line in lines if line.outstanding > 0] or lines,
            history=_history(session, case, workflow),
            pay_within_days=action.pay_within_days,
            penalties=figures.penalties,
            indemnity=figures.indemnity,
            interest=figures.interest,
            formal_notice_on=formal_notice_on,
            locale=workflow.locale,
            currency=workflow.currency,
            assumed_rates=tuple(_assumption(label) for label in figures.assumed_rates),
        )


def kind_states(workflow: Workflow, kind: str) -> set[str]:
    return {name for name, state in workflow.states.items() if state.kind == kind}


def _entered_on(session: Session, case: Case, states: set[str]) -> date | None:
    """The day the case first entered one of `states` (e.g. the formal notice: B2C interest runs from it)."""
    for on, change in _state_changes(session, case):
        if change.dest in states:
            return on
    return None


def _history(session: Session, case: Case, workflow: Workflow) -> list[PastStep]:
    """The contacts already made (letters, calls, e-mails), oldest first: relance 2 must recall them."""
    past: list[PastStep] = []
    latest = f"{case.step_count}:"
    for on, change, key in _state_changes(session, case, with_keys=True):
        if key is not None and key.startswith(latest):
            continue  # the step being written is already in the timeline (same transaction): it is not "earlier"
        label = workflow.states[change.dest].label if change.dest in workflow.states else change.dest
        past.extend(PastStep(on=on, label=label or change.dest, channel=action.kind) for action in change.actions)
    return past


def _state_changes(session: Session, case: Case, *, with_keys: bool = False) -> list[Any]:
    """The case's state changes in order, typed: (day, StateChange) or (day, StateChange, step key)."""
    found = []
    for event in session.scalars(
        select(Event).where(Event.case_id == case.id, Event.kind == StateChange.kind).order_by(Event.seq)
    ):
        change = read_event(event.kind, event.payload)
        assert isinstance(change, StateChange)
        found.append((event.occurred_on, change, event.step_key) if with_keys else (event.occurred_on, change))
    return found


def _party(debtor: Debtor) -> Party:
    lines = tuple(line for line in (debtor.address_line1, debtor.address_line2) if line)
    return Party(name=debtor.name, address_lines=lines, postal_code=debtor.postal_code or "",
                 city=debtor.city or "", country=debtor.country or "FR", siren=debtor.siren,
                 email=debtor.email, phone=debtor.phone)


def _assumption(half_year: str) -> str:
    """'2026 S2' → the sentence a debtor reads under the claim: which rate was assumed and why."""
    year, _, half = half_year.partition(" S")
    which = "premier" if half == "1" else "second"
    return (f"taux du {which} semestre {year} non encore publié dans notre barème, "
            f"celui du semestre précédent a été appliqué")


def _slug(text: str) -> str:
    """A file-system-safe folder name that still reads like the reference."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "_"


def orphan_files(session: Session, output_dir: Path) -> list[Path]:
    """Letter files no document record refers to: what a crash between rename and commit leaves.

    A PDF beside a recorded DOCX belongs to it; temporary files (`.name.*.tmp`) are always orphans.
    """
    if not output_dir.is_dir():
        return []
    recorded = {str(Path(path)) for path in session.scalars(select(Document.path))}
    orphans = []
    for path in sorted(output_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(output_dir)
        if relative.parts[0] in OWN_FOLDERS:
            continue  # e-mails and print bundles: not letters (a debtor's folder never starts with "_")
        if path.name.endswith(".tmp"):
            orphans.append(path)
        elif path.suffix == ".docx" and str(relative) not in recorded:
            orphans.append(path)
        elif path.suffix == ".pdf" and str(relative.with_suffix(".docx")) not in recorded:
            orphans.append(path)
    return orphans
