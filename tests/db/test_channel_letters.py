"""What leaves through a channel is the letter the timeline recorded: its SHA-256 is checked on the way out."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date, timedelta
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import select

from engine.store.events import EmailFailed, EmailRetried, EmailSent
from engine.store.models import Case, Document, Outbox
from tests.db.test_channels import DUE, REMINDER, _with_port, events_of, make_app
from tests.smtp_server import SmtpSink, free_port, smtp_server

SECOND_REMINDER = date(2025, 1, 25)  # fr-b2b: reminder2, a postal letter


def test_an_email_never_attaches_a_letter_file_altered_since_its_step(tmp_path: Path, database_url: str) -> None:
    with smtp_server(SmtpSink(busy_first=2)) as sink:
        app = _with_port(make_app(tmp_path, database_url, 2), database_url, sink.port, attach='["docx"]')
        app.run(REMINDER)  # the server is busy: both first reminders wait in the outbox
        assert not sink.messages
        with app.session() as session:
            rows = session.execute(select(Case.ref, Document.path, Document.sha256)
                                   .join(Case, Case.id == Document.case_id)).all()
        recorded = {ref: sha256 for ref, _path, sha256 in rows}
        mine, other = (app.workspace.output_dir / path for _ref, path, _sha256 in sorted(rows))
        original = mine.read_bytes()
        shutil.copyfile(other, mine)  # someone saved another client's letter over this one
        done = app.deliver(REMINDER + timedelta(days=1))
        # Client 0 must not receive client 1's letter as its own: the e-mail fails, for a person to look at.
        assert [message["To"] for message in sink.messages] == ["compta1@client1.example"]
        [(ref, why)] = done.failed
        assert ref == "ALD-F0000" and "changed since it was written" in why
        [(_, failed, _, _)] = events_of(app, EmailFailed.kind)
        assert "a changé depuis qu'il a été écrit" in failed.error  # type: ignore[attr-defined]
        # The file put back, the retry sends the very letter the timeline holds.
        mine.write_bytes(original)
        done = app.deliver(REMINDER + timedelta(days=2), retry=True)
        assert len(done.sent) == 1 and len(sink.messages) == 2
        for message in sink.messages:
            [attachment] = message.iter_attachments()
            ref = str(message["X-Relance-Case"])
            assert hashlib.sha256(attachment.get_content()).hexdigest() == recorded[ref]
    assert sorted(ref for ref, *_ in events_of(app, EmailSent.kind)) == ["ALD-F0000", "ALD-F0001"]
    with app.session() as session:
        assert set(session.scalars(select(Outbox.status))) == {"sent"}


def test_the_print_batch_leaves_out_a_letter_file_altered_since_its_step(tmp_path: Path, database_url: str) -> None:
    app = make_app(tmp_path, database_url, 3)
    day = DUE
    while day <= SECOND_REMINDER:
        app.run(day)
        day += timedelta(days=1)
    with app.session() as session:
        paths = dict(session.execute(select(Case.ref, Document.path).join(Case, Case.id == Document.case_id)
                                     .where(Document.state == "reminder2")).all())
    shutil.copyfile(app.workspace.output_dir / paths["ALD-F0001"], app.workspace.output_dir / paths["ALD-F0000"])
    bundle = app.print_day(SECOND_REMINDER)
    # Client 1's letter must not go out twice, once in client 0's envelope: client 0's is left out, and named.
    assert [letter.case_ref for letter in bundle.letters] == ["ALD-F0001", "ALD-F0002"]
    assert list(bundle.failures) == [paths["ALD-F0000"]] and "changed since it was written" in bundle.failures[
        paths["ALD-F0000"]]
    assert bundle.path is not None
    text = "".join(page.extract_text() for page in PdfReader(str(bundle.path)).pages)
    assert "2 courriers" in text and text.count("ALD-F0001/02") == 1 and "ALD-F0000/02" not in text


def test_the_timeline_and_the_task_list_say_in_french_why_an_email_did_not_go(tmp_path: Path, database_url: str) -> None:
    from engine.cases import tasks

    with smtp_server(SmtpSink(refuse={"compta1@client1.example"}, busy_first=1)) as sink:
        app = _with_port(make_app(tmp_path, database_url, 2), database_url, sink.port, retry_after=3600)
        app.run(REMINDER)
        assert not sink.messages
    [(ref, retried, _, _)] = events_of(app, EmailRetried.kind)
    assert ref == "ALD-F0000" and retried.error.startswith("refusé pour l'instant par le serveur (DATA : 451")  # type: ignore[attr-defined]
    [(ref, failed, _, _)] = events_of(app, EmailFailed.kind)
    assert ref == "ALD-F0001" and failed.error.startswith("refusé par le serveur (RCPT TO <compta1@client1.example> : 550")  # type: ignore[attr-defined]
    with app.session() as session:
        [task] = tasks.list_tasks(session, REMINDER, kinds=("email_failed",))
    assert task.detail == failed.error  # type: ignore[attr-defined]  # the web app's task list shows it as is
    # The command line keeps its English, the server's answer quoted the same way.
    assert app.after_run.delivery is not None
    assert [why for _, why in app.after_run.delivery.failed] == [
        "RCPT TO <compta1@client1.example>: 550 5.1.1 <compta1@client1.example>: Recipient address rejected: User unknown"]
    # A server that cannot be reached at all: said in French too (the exception's own words in brackets).
    app = _with_port(app, database_url, free_port())
    app.deliver(REMINDER + timedelta(days=1), retry=True)
    last = events_of(app, EmailRetried.kind)[-1][1]
    assert last.error.startswith("serveur de courriel injoignable ou connexion interrompue (")  # type: ignore[attr-defined]


def test_the_cover_sheet_does_not_date_its_own_preparation_to_the_letters_day(tmp_path: Path) -> None:
    # `relance print --date 2026-11-10` run on the 25th said « Liasse préparée le 10/11/2026 »: not what happened.
    from datetime import date

    from docx import Document as Word

    from engine.cases.printing import PostalLetter, PrintBundle, _cover

    bundle = PrintBundle(date(2026, 11, 10), [PostalLetter("ALD-F-1", "C1", "Acme SARL", "Lyon", "formal_notice",
                                                           True, "C1/ALD-F-1/04-formal_notice.docx", "0" * 64)])
    text = "\n".join(p.text for p in Word(str(_cover(bundle, tmp_path / "cover.docx", "Créancier SAS"))).paragraphs)
    assert "préparée le" not in text
    assert "Liasse des courriers produits le 10/11/2026" in text
