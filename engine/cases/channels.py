"""What each channel of a step does, inside the step's transaction: the `perform` of runs and actions.

`ChannelWriter` wraps the LetterWriter: every letter is still written by it; on top, a `channel: email`
action queues its e-mail in the outbox (engine.cases.outbox) and a `channel: phone` action opens a call
task (engine.cases.tasks). Nothing here talks to a server or to LibreOffice: that happens after the
commit (`convert_pending`, `engine.cases.outbox.deliver`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy.orm import Session

from engine.cases.letters import LetterWriter, RatesUsed
from engine.cases.outbox import enqueue
from engine.cases.tasks import open_call_task
from engine.core.case import Action, Step
from engine.letters.pdf import Conversion
from engine.store.models import Case, Document, Event


class ChannelWriter:
    """The `perform` callable: the letter (if any), then the channel's own record (outbox row, task)."""

    def __init__(self, letters: LetterWriter, *, mail_domain: str, attach: tuple[str, ...] | None = None) -> None:
        self.letters = letters
        self.mail_domain = mail_domain
        self.attach = attach  # `[smtp] attach`: wins over each state's `attach`

    def __call__(self, session: Session, case: Case, step: Step, action: Action) -> Document | None:
        document = self.letters(session, case, step, action)
        if action.kind == "email":
            workflow = self.letters.workflow_of(case)
            self.letters.letter_for(session, case, step, action, workflow)
            enqueue(session, case, step_key=f"{case.step_count}:{step.dest}", state=step.dest, on=step.on,
                    letters_dir=workflow.letters_dir, context=self.letters.context_for(case, action),
                    document_path=document.path if document is not None else None,
                    attach=self.attach or workflow.states[step.dest].attach, domain=self.mail_domain,
                    limits=self.letters.limits)
        elif action.kind == "phone":
            open_call_task(session, case, f"{case.step_count}:{step.dest}", step.dest, step.on)
        return document

    def deferred(self) -> AbstractContextManager[bool]:
        """See LetterWriter.deferred: letters rendered by renderer processes while the batch goes on."""
        return self.letters.deferred()

    def resolve(self) -> None:
        self.letters.resolve()

    @property
    def rendering_aside(self) -> bool:
        return self.letters.rendering_aside

    def resolve_ready(self) -> None:
        self.letters.resolve_ready()

    def awaited_events(self) -> list[Event]:
        return self.letters.awaited_events()

    def close(self) -> None:
        self.letters.close()

    def batch(self) -> AbstractContextManager[None]:
        """See LetterWriter.batch: the run's letters are synced once per batch, before its commit."""
        return self.letters.batch()

    def finish(self, case_id: int, *, failed: bool) -> None:
        """The attempt on a case is over (engine.cases.run); its outbox row and task went with its transaction."""
        self.letters.finish(case_id, failed=failed)

    @property
    def rates_used(self) -> RatesUsed:
        return self.letters.rates_used

    @property
    def output_dir(self) -> Path:
        return self.letters.output_dir

    @property
    def pdf_failures(self) -> list[str]:
        return self.letters.pdf_failures

    def convert_pending(self) -> Conversion:
        return self.letters.convert_pending()


__all__ = ["ChannelWriter"]
