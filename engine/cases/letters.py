"""The letter a step calls for: case rows → LetterData → a DOCX in the output folder.

`LetterWriter` is the `perform` callable the run hands to `apply_steps`: inside the case's
transaction it computes the claim (engine.core.claim), renders the template (compiled once),
writes the file atomically at a deterministic place, and returns the Document row to record.

It writes nothing from a template `relance letters check` finds errors in, and a run checks every
template its workflows use, and that the output folder takes files, before it opens any case
(`check_letters`, `require_writable_folder`): a broken template or folder stops the run up front in
one line, instead of failing every case or sending letters cut short.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases import recall
from engine.cases.invoices import LEGAL_KINDS, InvoiceStatus, claimed, invoice_statuses, letter_reference, listed
from engine.cases.renderers import Renderers, Rendering
from engine.core.case import Action, Step
from engine.core.claim import ClaimLine, InvoiceDebt, RateTable, claim, load_rates
from engine.core.jurisdiction import court_for
from engine.core.limits import Limits
from engine.core.workflow import Workflow, template_path
from engine.errors import RelanceError
from engine.letters import (
    Creditor,
    InvoiceLine,
    LetterData,
    Party,
    build_context,
)
from engine.letters.check import require_sound_email_templates, require_sound_template
from engine.letters.email import email_files
from engine.letters.files import FileQueue
from engine.letters.pdf import Conversion, PdfError, convert_batch
from engine.letters.render import Syncing, render_content, sync_files, write_letter
from engine.letters.versions import held as held_versions
from engine.store import ledger
from engine.store.models import Case, Debtor, Document, Event

ZERO = Decimal("0")
# Folders of the output that hold what the channels make (engine.cases.outbox, engine.cases.printing).
MAIL_FOLDER, PRINT_FOLDER = "_mail", "_print"
OWN_FOLDERS = frozenset({MAIL_FOLDER, PRINT_FOLDER})
# The name of the file that proves the output folder takes files; `orphan_files` sweeps one a kill left.
WRITE_PROBE = ".relance-write-check-"


class OutputFolderError(RelanceError):
    """The folder letters go to cannot take files: the run stops before opening any case."""


class LetterWriter:
    """Renders the letters of a run into `output_dir/<debtor>/<case>/<nn>-<state>.docx`.

    The layout is deterministic, so a step re-run after a crash rewrites the same file rather
    than leaving a second one; `Document.path` is relative to `output_dir`, so the folder can
    move to a shared mount. `rates_used` collects the half-years whose rates were assumed (carried
    forward) or are marked unverified, for the team (`relance run` prints them); letters never explain them.
    """

    def __init__(
        self,
        creditor: Creditor,
        workflows: Mapping[str, Workflow],
        output_dir: Path,
        *,
        rates: RateTable | None = None,
        pdf: bool = False,
        counsel: Party | None = None,
        agency: Creditor | None = None,
        limits: Limits | None = None,
        renderers: int = 0,
        versions: Callable[[str, int], Workflow | None] | None = None,
    ) -> None:
        self.creditor = creditor
        self.limits = limits
        self.workflows = {workflow.name: workflow for workflow in workflows.values()}  # the current versions
        self._versions = versions  # an older version of a workflow, by name and version (App.workflow_version)
        self.output_dir = output_dir
        self.rates = rates or load_rates()
        self.pdf = pdf
        self.counsel = counsel
        self.agency = agency
        # Per case, for the attempt in hand: (step, template) → (path, sha256), and the files written.
        self._rendered: dict[int, dict[tuple[int, str], tuple[str, str]]] = {}
        # What a step's letter says, built once per (step, payment delay) though two channels carry it.
        self._letters: dict[int, dict[tuple[int, int | None], LetterData]] = {}
        self._contexts: dict[int, dict[tuple[int, int | None], dict[str, Any]]] = {}
        self._unsynced: list[Path] | None = None  # inside `batch`: letters written, not yet synced
        self._syncing: Syncing | None = None  # inside `batch`: the letters `resolve` saw, synced on a thread
        self._templates: dict[tuple[Path, str], Path] = {}  # inside `batch`: each template's checked path
        # Renderer processes (SQLite --workers N), used inside `deferred`: each letter's rendering, and the
        # documents waiting for its SHA-256.
        self.renderers = Renderers(renderers) if renderers > 0 else None
        self._deferring = False
        self._files = FileQueue()  # inside `deferred`, without renderers: letter files written on a thread
        self._awaiting: dict[int, tuple[Rendering, list[Document]]] = {}
        self._written: dict[int, list[Path]] = {}
        self.pdf_failures: list[str] = []
        self.pending_pdf: list[Path] = []  # letters written since the last convert_pending, relative paths
        self.rates_used = RatesUsed()

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
        workflow = self.workflow_of(case)
        relative = Path(_slug(case.debtor.ref)) / _slug(case.ref) / f"{case.step_count:02d}-{step.dest}.docx"
        rendered = self._rendered.setdefault(case.id, {})
        key = (case.step_count, action.template)
        if key not in rendered:  # one file per step even when two channels carry it
            template = self._template(workflow.letters_dir, action.template)
            state = workflow.states.get(step.dest)
            require_sound_template(template, state.kind if state else None, limits=self.limits,
                                   agency=self.agency is not None)
            self.letter_for(session, case, step, action, workflow)
            context = self.context_for(case, action)
            out = self.output_dir / relative
            self._written.setdefault(case.id, []).append(out)
            if self._deferring and self.renderers is not None and not self.renderers.busy:
                rendering = self.renderers.submit(template, context, out, self.limits)
                self._awaiting[id(rendering)] = (rendering, [])
                sha256 = f"pending:{id(rendering)}"  # filled in by `resolve`, before anything is hashed or flushed
            else:
                content = render_content(template, context, limits=self.limits)
                # With renderer processes the cores are busy already: a thread would only take turns
                # with them (measured 3% slower), so the run writes its own few letters inline.
                if self._deferring and self.renderers is None:
                    self._files.put(out, content, durable=self._unsynced is None)
                else:
                    write_letter(out, content, durable=self._unsynced is None)
                sha256 = hashlib.sha256(content).hexdigest()
            if self._unsynced is not None:
                self._unsynced.append(out)
            if self.pdf:
                # Converted after the commit, all at once (convert_pending): the case's transaction never
                # waits on LibreOffice, and one soffice process serves the whole run.
                self.pending_pdf.append(relative)
            rendered[key] = (str(relative), sha256)
        path, sha256 = rendered[key]
        document = Document(path=path, sha256=sha256, template=action.template,
                            created_at=datetime.now(timezone.utc).replace(tzinfo=None))
        if sha256.startswith("pending:"):
            self._awaiting[int(sha256.partition(":")[2])][1].append(document)
        return document

    @contextmanager
    def deferred(self) -> Iterator[bool]:
        """Inside the block, letters render in the renderer processes while the run goes on, or, without
        them, the files of the letters this process renders are written on a thread (engine.letters.files);
        ``resolve`` then waits for both and completes the deferred letters' documents and letter events."""
        self._deferring = True
        try:
            yield True
        finally:
            self._deferring = False
            self._files.drain(check=False)  # left unresolved (the attempt failed): nothing goes on writing
            if self._awaiting and self.renderers is not None:
                self.renderers.drain()
                self._awaiting.clear()

    def resolve(self) -> None:
        """Wait for the deferred letters and put each one's SHA-256 on its documents and their letter events
        (before the events are hashed: engine.store.timeline.seal). Raises what a renderer, or a file
        written on the thread, raised. Inside `batch`, the letters written so far then start being synced
        on a thread, while the caller hashes and flushes; the batch's end waits for it."""
        self._files.drain()
        if self.renderers is not None and self._awaiting:
            self.renderers.drain()
            awaiting, self._awaiting = self._awaiting, {}
            for rendering, documents in awaiting.values():
                _complete(documents, rendering.result())
        if self._unsynced and self._syncing is None:
            self._syncing = Syncing(list(self._unsynced))

    @property
    def rendering_aside(self) -> bool:
        """True inside `deferred` with renderer processes: letters come back while the run goes on."""
        return self._deferring and self.renderers is not None

    def resolve_ready(self) -> None:
        """``resolve`` for the letters the renderers have answered already, without waiting for the others:
        a run writes the steps of those cases while the rest render (engine.cases.batch)."""
        if self.renderers is None or not self._awaiting:
            return
        self.renderers.collect()
        for key, (rendering, documents) in list(self._awaiting.items()):
            if rendering.done:
                del self._awaiting[key]
                _complete(documents, rendering.result())

    def awaited_events(self) -> list[Event]:
        """The letter events whose SHA-256 a renderer has not sent back yet."""
        return [document.event for _rendering, documents in self._awaiting.values() for document in documents
                if document.event is not None]

    def close(self) -> None:
        """Stop the renderer processes, if any, and the thread that writes files."""
        self._files.close()
        if self.renderers is not None:
            self.renderers.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Letters written in the block are made durable together as it ends, before the caller commits
        the records of them: one journal commit for a batch instead of one per letter."""
        self._unsynced = []
        self._templates = {}
        try:
            with held_versions():
                yield
            self._sync_rest()
        finally:
            if self._syncing is not None:
                self._syncing.wait()  # interrupted: nothing goes on syncing after the batch
            self._unsynced = None
            self._syncing = None

    def _sync_rest(self) -> None:
        """The batch's letters durable: what the thread `resolve` began synced, and the rest here. A failed
        case's letters are gone, and are not synced."""
        assert self._unsynced is not None
        ahead, done = self._syncing, 0
        if ahead is not None:
            failure = ahead.wait()
            if failure is not None and not isinstance(failure, FileNotFoundError):
                raise failure  # a write-back error, reported once: a second sync may not see it
            # A letter removed under the thread (a case failed after the whole batch's attempt) makes it
            # stop: then everything is synced again here, as if it had never begun.
            done = len(ahead.paths) if failure is None else 0
        sync_files(path for path in self._unsynced[done:] if path.exists())

    def _template(self, letters_dir: Path, name: str) -> Path:
        """The template file, inside the letters folder only, even if the folder changed (or a symlink
        appeared) since validation: checked for each letter, or once per batch inside `batch`."""
        if self._unsynced is None:
            return template_path(letters_dir, name)
        found = self._templates.get((letters_dir, name))
        if found is None:
            found = self._templates[(letters_dir, name)] = template_path(letters_dir, name)
        return found

    def context_for(self, case: Case, action: Action) -> dict[str, Any]:
        """The template variables of the step's letter (``letter_for`` first), built once for the letter
        and the e-mail that carry it."""
        key = (case.step_count, action.pay_within_days)
        contexts = self._contexts.setdefault(case.id, {})
        if key not in contexts:
            contexts[key] = build_context(self._letters[case.id][key])
        return contexts[key]

    def finish(self, case_id: int, *, failed: bool) -> None:
        """The attempt on ``case_id`` is over. When it failed (its transaction rolls back), the letters it
        wrote are removed, so no file outlives the step it belonged to; call it while the case is still
        held (before the rollback), so no other worker has rewritten those paths yet."""
        self._rendered.pop(case_id, None)
        self._letters.pop(case_id, None)
        self._contexts.pop(case_id, None)
        written = self._written.pop(case_id, [])
        if failed:  # nothing may still be writing a letter about to be removed
            self._files.drain(check=False)
            if self.renderers is not None:
                self.renderers.drain()
            for path in written:
                for letter in (path, path.with_suffix(".pdf")):
                    if not letter.is_dir():  # a folder in a letter's place made the write fail: not ours
                        letter.unlink(missing_ok=True)

    def workflow_of(self, case: Case) -> Workflow:
        """The workflow version ``case`` runs on: its letters follow that version's states, labels, locale and
        currency, as its steps follow its rules (a case keeps the version it started on to the end)."""
        current = self.workflows.get(case.workflow_name)
        if current is not None and case.workflow_version in (None, current.version):
            return current
        older = self._versions(case.workflow_name, case.workflow_version) if self._versions is not None else None
        if older is None:
            raise RelanceError(f"case {case.ref} runs on workflow {case.workflow_name!r} version "
                               f"{case.workflow_version}, which this workspace cannot read back")
        return older

    def letter_for(self, session: Session, case: Case, step: Step, action: Action, workflow: Workflow) -> LetterData:
        """``letter_data`` of this step, built once while the case is in hand (the letter and the e-mail
        of one step say the same thing, from the same facts)."""
        built = self._letters.setdefault(case.id, {})
        key = (case.step_count, action.pay_within_days)
        if key not in built:
            built[key] = self.letter_data(session, case, step, action, workflow)
        return built[key]

    def letter_data(self, session: Session, case: Case, step: Step, action: Action, workflow: Workflow) -> LetterData:
        """Everything the letter says, as of the step's day, and nothing its timeline does not hold."""
        on = step.on
        debtor = session.get(Debtor, case.debtor_id)
        assert debtor is not None
        state = workflow.states[step.dest]
        chosen = claimed(invoice_statuses(session, case, on), state.kind)
        payments = ledger.dated_amounts(session, [s.invoice.id for s in chosen], on)
        b2c = debtor.kind == "b2c"
        currency = case.currency or workflow.currency
        figures = claim(
            [InvoiceDebt(s.invoice.number, s.invoice.amount, s.invoice.due_date, tuple(payments.get(s.invoice.id, ())),
                         interest_from=recall.interest_from(s) if b2c else None) for s in chosen],
            debtor_kind=debtor.kind,  # type: ignore[arg-type]  # the schema's CHECK keeps it b2b or b2c
            as_of=on, rates=self.rates, carry_forward=True, currency=currency,
        )
        self.rates_used.add(figures.assumed_rates, figures.unverified_rates)
        events = recall.typed_events(session, case, recall.RECALLED)
        labels = {name: spec.label or name for name, spec in workflow.states.items()}
        history = recall.history(events, labels, skip_step=f"{case.step_count}:")
        reminded = recall.reminded(events, skip_step=f"{case.step_count}:")
        notice = recall.notice_of(events, chosen)
        interest_from, basis = recall.interest_basis(notice) if b2c and notice is not None else (None, None)
        credited = {invoice_id: sum((a.amount for a in applied if a.kind == "credit_note"), Decimal("0"))
                    for invoice_id, applied in payments.items()}
        lines = [InvoiceLine(s.invoice.number, s.invoice.issue_date, s.invoice.due_date, s.invoice.amount, s.paid,
                             s.open, credited.get(s.invoice.id, Decimal("0")), s.invoice.number in reminded)
                 for s in listed(chosen)]
        return LetterData(
            creditor=self.creditor,
            debtor=_party(debtor),
            debtor_kind=debtor.kind,  # type: ignore[arg-type]
            debtor_ref=debtor.ref,
            case_ref=case.ref,
            letter_ref=letter_reference(case),
            as_of=on,
            state=step.dest,
            state_label=state.label or step.dest,
            invoices=lines,
            history=history,
            pay_within_days=action.pay_within_days,
            penalties=figures.penalties,
            indemnity=figures.indemnity,
            interest=figures.interest,
            formal_notice_on=notice.on if notice is not None else None,
            locale=workflow.locale,
            currency=currency,
            counsel=self.counsel if state.kind == "litigation" else None,
            statement=figures.lines,
            notice=notice,
            interest_from=interest_from,
            interest_basis=basis,
            court=court_for(debtor.kind, debtor.is_merchant, debtor.name, debtor.country, debtor.postal_code),
            enclosures=recall.enclosures(state.kind, _claimed_numbers(figures.lines, lines), history, notice),
            agency=self.agency,
            next_step=_next_step(workflow, step.dest, chosen),
        )


def _complete(documents: list[Document], sha256: str) -> None:
    """A rendered letter's SHA-256 on its documents and their letter events."""
    for document in documents:
        document.sha256 = sha256
        if document.event is not None:
            document.event.payload = {**document.event.payload, "sha256": sha256}


def _next_step(workflow: Workflow, state: str, claimed: list[InvoiceStatus]) -> tuple[str | None, str] | None:
    """What a letter may announce as the next step: the policy's (Workflow.next_state), unless it is a formal
    notice or a hand-off and only time-barred invoices are owed, which the run never takes there."""
    following = workflow.next_state(state)
    if following is None:
        return None
    if following.kind in LEGAL_KINDS and not any(s.open > 0 and not s.barred for s in claimed):
        return None
    return following.kind, following.label or following.name


@dataclass
class RatesUsed:
    """Half-years of the rates file a run's letters relied on without confirmation, for the team."""

    assumed: set[str] = field(default_factory=set)  # missing from the file, carried forward
    unverified: set[str] = field(default_factory=set)  # in the file, marked verified = no

    def add(self, assumed: tuple[str, ...], unverified: tuple[str, ...]) -> None:
        self.assumed.update(assumed)
        self.unverified.update(unverified)


def check_letters(workflows: list[Workflow], *, limits: Limits | None = None, agency: bool = False) -> None:
    """Raise TemplatePathError for a template outside its letters folder, TemplateRefused for the first template
    of ``workflows`` with errors (each file checked once per process, as `relance letters check` and
    `relance validate` check it), then EmailTemplateRefused for
    the first e-mail template a state sending e-mails would use with errors (or none to use)."""
    seen: set[tuple[Path, str | None]] = set()
    emails: dict[Path, set[str]] = {}
    for workflow in workflows:
        for state in workflow.states.values():
            if not state.letter:
                continue
            # Resolved as the letter will be: a template linked out of the letters folder is refused here,
            # in one line, rather than by every case that reaches it.
            path = template_path(workflow.letters_dir, state.letter)
            if (path, state.kind) not in seen:
                seen.add((path, state.kind))
                require_sound_template(path, state.kind, limits=limits, agency=agency)
            if "email" in state.channels:
                emails.setdefault(workflow.letters_dir, set()).update(email_files(workflow.letters_dir, state.name))
    for letters_dir, names in emails.items():
        require_sound_email_templates(letters_dir, sorted(names))


def require_writable_folder(folder: Path) -> None:
    """Create ``folder`` if need be and prove it takes a file (a probe written and removed); else
    OutputFolderError, in one line. Permissions alone would not tell: a read-only mount, a full disk
    or a file in the folder's place fail only on writing."""
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{folder}: the output folder is a file, not a folder; nothing was opened: "
                                "move the file away, or set [paths] output in relance.toml")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=WRITE_PROBE, dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise OutputFolderError(
            f"{folder}: cannot write letters in the output folder ({exc.strerror or exc}); nothing was opened: "
            "make the folder writable, or set [paths] output in relance.toml"
        ) from None


def _claimed_numbers(statement: tuple[ClaimLine, ...], lines: list[InvoiceLine]) -> list[str]:
    """The invoices a letter claims something on: principal still owed, or penalties, an indemnity or interest
    on an invoice paid late; the invoices its table lists when it claims nothing."""
    numbers = [line.number for line in statement
               if line.outstanding > 0 or line.penalties > 0 or line.indemnity > 0 or line.interest > 0]
    return numbers or [line.number for line in lines]


def kind_states(workflow: Workflow, kind: str) -> set[str]:
    return {name for name, state in workflow.states.items() if state.kind == kind}


def _party(debtor: Debtor) -> Party:
    lines = tuple(line for line in (debtor.address_line1, debtor.address_line2) if line)
    return Party(name=debtor.name, address_lines=lines, postal_code=debtor.postal_code or "",
                 city=debtor.city or "", country=debtor.country or "FR", siren=debtor.siren,
                 email=debtor.email, phone=debtor.phone, civility=debtor.civility)


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
        if path.name.endswith(".tmp") or path.name.startswith(WRITE_PROBE):
            orphans.append(path)
        elif path.suffix == ".docx" and str(relative) not in recorded:
            orphans.append(path)
        elif path.suffix == ".pdf" and str(relative.with_suffix(".docx")) not in recorded:
            orphans.append(path)
    return orphans
