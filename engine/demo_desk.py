"""The demo's collections team at its desk, after each day's run: what a person does with relance's lists.

Every case waiting for approval is approved the day after it asked (the finance director reads
`relance approvals` each morning); every call task due is called, with outcomes in a fixed rotation
(reached, no answer then reached the next day, wrong number), through `relance case call`'s use case;
the first registered letter's receipt arrives by a tracking.csv import (engine.demo, the others through
`relance case receipt`'s use case). The
e-mails go through `[smtp] backend = "file"`: .eml files in output/_mail, one per Message-ID.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from engine.app import App
from engine.cases.approvals import approve, waiting_approvals
from engine.cases.tasks import list_tasks, record_call
from engine.imports.case_events import import_receipts

DEMO_SMTP = """
[smtp]
# The demo's e-mails are written as .eml files into output/_mail (open them in any mail client);
# a team sets host, port, starttls, username and password_env instead (see letters/README.md).
backend = "file"
from = "Atelier Lumière - Recouvrement <recouvrement@atelier-lumiere.example>"
reply_to = "comptabilite@atelier-lumiere.example"
"""
# Without --pdf the demo's e-mails carry the letter as DOCX: converting each simulated day's letters
# would start LibreOffice about a hundred times (`relance demo --pdf` attaches PDFs, as a team's would).
DEMO_DOCX = 'attach = ["docx"]\n'
APPROVER = "demo (directrice financière)"
CALLER = "demo (chargée de recouvrement)"
# Outcomes in turn, by task; a "no answer" is called again the next day, and then reached.
ROTATION = ("reached", "no_answer", "reached", "wrong_number")
NOTES = {"reached": "client joint, règlement annoncé sous huitaine", "no_answer": "messagerie, message laissé",
         "wrong_number": "numéro non attribué, adresse e-mail à vérifier"}


@dataclass
class DeskWork:
    """What the demo's team did, for the closing summary."""

    approvals: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    receipt: str | None = None
    emails: int = 0
    mail_dir: Path | None = None


def work_the_desk(app: App, day: date, work: DeskWork) -> None:
    """The day's approvals and calls."""
    with app.session() as session:
        waiting = [w for w in waiting_approvals(session, day) if w.since < day]
        calls = list_tasks(session, day, due=day, kinds=("call",))
    for case in waiting:
        done = approve(app, case.case_ref, day, by=APPROVER, note="dossier revu, procédure validée")
        work.approvals.append(f"{day}: {case.to} on {done.case_ref} approved → {done.state}")
    for task in calls:
        retried = bool(task.history) and "pas de réponse" in task.history[-1]
        outcome = "reached" if retried else ROTATION[task.id % len(ROTATION)]
        record_call(app, task.case_ref, outcome, day, by=CALLER, note=NOTES[outcome])
        work.calls[outcome] += 1
    delivery = app.after_run.delivery
    work.emails += len(delivery.sent) if delivery else 0
    work.mail_dir = app.workspace.smtp.directory if app.workspace.smtp else None


def import_tracking(app: App, day: date, ref: str, tracking: str, presented: date, received: date | None) -> None:
    """One registered letter's delivery as La Poste's export gives it, through `relance import tracking.csv`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tracking.csv"
        path.write_text("case_ref;tracking;presented_on;received_on\n"
                        f"{ref};{tracking};{presented};{received or ''}\n", encoding="utf-8")
        import_receipts(app, path, day, by="demo (import tracking.csv)")


__all__ = ["DEMO_DOCX", "DEMO_SMTP", "DeskWork", "import_tracking", "work_the_desk"]
