"""Channels without a database: the approval and attach keys, the escalator waiting for approval or held
by its debtor, the e-mail's Message-ID, MIME message and sandboxed templates, [smtp] settings, .eml files."""

from __future__ import annotations

import email
import email.policy
import resource
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.channels.email import AddressError, Attachment, Email, build, check_address, message_id
from engine.channels.smtp import FileTransport
from engine.core.case import CaseState
from engine.core.limits import Limits
from engine.core.machine import Escalator
from engine.core.workflow import WorkflowError, load_workflow
from engine.letters import build_context, sample_letter_data
from engine.letters.email import render_email
from engine.letters.environment import LetterError
from engine.workspace import WorkspaceError, init_workspace, load_workspace
from tests.support import SHIPPED_WORKFLOWS

FR_B2B = SHIPPED_WORKFLOWS / "fr-b2b.yaml"


def test_the_french_policies_require_approval_before_the_notice_and_litigation() -> None:
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        workflow = load_workflow(SHIPPED_WORKFLOWS / name)
        assert {n for n, s in workflow.states.items() if s.approval} == {"formal_notice", "litigation"}
        assert workflow.states["reminder1"].attach == ("pdf",)


def test_bad_approval_and_attach_values_are_located(tmp_path: Path) -> None:
    text = FR_B2B.read_text(encoding="utf-8").replace("approval: required        # a person", "approval: maybe  # a")
    text = text.replace("channel: [email, phone]", "channel: [email, phone]\n    attach: [pdf, odt]")
    path = tmp_path / "w.yaml"
    path.write_text(text.replace("letters: ../letters/fr", f"letters: {SHIPPED_WORKFLOWS.parent / 'letters/fr'}"),
                    encoding="utf-8")
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    message = str(caught.value)
    assert "states.formal_notice.approval: 'approval' must be one of required, none, not 'maybe'" in message
    assert "states.reminder1.attach: attach must be one of pdf, docx" in message
    assert all(line.startswith(f"{path}:") for line in message.splitlines())


def _case(state: str, entered: date) -> CaseState:
    return CaseState(state=state, state_entered=entered, due_date=date(2025, 1, 10), principal=Decimal("1000"),
                     steps_taken=["reminder1", "reminder2", "reminder3"])


def test_a_due_step_into_an_approval_state_waits_until_approved() -> None:
    escalator = Escalator(load_workflow(FR_B2B))
    case = _case("reminder3", date(2025, 2, 1))
    day = date(2025, 2, 20)
    assert escalator.advance(case, day) == [] and case.awaiting_approval == "formal_notice"
    assert escalator.next_check(case) is None  # no run looks at it until a person acts
    assert escalator.advance(case, day, approved="litigation") == []  # approving another state is no approval
    [step] = escalator.advance(case, day + timedelta(days=3), approved="formal_notice")
    assert (step.dest, step.on, case.awaiting_approval) == ("formal_notice", day + timedelta(days=3), None)
    assert [a.template for a in step.actions] == ["mise_en_demeure.docx"]


def test_a_jump_into_an_approval_state_waits_too_and_a_held_debtor_never_moves() -> None:
    escalator = Escalator(load_workflow(FR_B2B))
    case = _case("reminder1", date(2025, 1, 15))
    assert escalator.jump(case, "formal_notice", date(2025, 1, 16), "vite") == []
    assert (case.state, case.awaiting_approval) == ("reminder1", "formal_notice")
    assert [s.dest for s in escalator.jump(case, "formal_notice", date(2025, 1, 17), "vu", approved=True)] == [
        "formal_notice"]
    held = _case("reminder1", date(2025, 1, 15))
    held.steps_taken, held.debtor_hold = ["reminder1"], True
    assert escalator.advance(held, date(2025, 6, 1)) == [] and escalator.next_check(held) is None
    held.debtor_hold = False
    assert [s.dest for s in escalator.advance(held, date(2025, 6, 1))] == ["reminder2"]


def test_the_message_id_is_the_same_for_the_same_step_and_differs_otherwise() -> None:
    first = message_id("ACME-F1", "1:reminder1", "acme.example")
    assert first == message_id("ACME-F1", "1:reminder1", "acme.example")
    assert first.startswith("<relance.ACME-F1.1-reminder1.") and first.endswith("@acme.example>")
    assert len({first, message_id("ACME-F1", "2:reminder2", "acme.example"),
                message_id("ACME-F2", "1:reminder1", "acme.example")}) == 3


def test_the_message_carries_both_bodies_the_attachment_and_its_message_id() -> None:
    built = build(Email("<m1@acme.example>", "Relances <r@acme.example>", "compta@client.example", "Rappel F-1",
                        "texte", "<p>html</p>", "compta@acme.example", (Attachment("01-reminder1.pdf", b"%PDF-1.4"),)))
    parsed = email.message_from_bytes(built.as_bytes(), policy=email.policy.default)
    assert (parsed["Message-ID"], parsed["To"], parsed["Reply-To"]) == (
        "<m1@acme.example>", "compta@client.example", "compta@acme.example")
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    for bad in ("", "  ", "pas une adresse", "a@b"):
        with pytest.raises(AddressError):
            check_address(bad)


def test_email_templates_render_sandboxed_and_the_html_escaped(tmp_path: Path) -> None:
    letter = sample_letter_data("b2b")
    context = build_context(letter)
    context["debtor"]["name"] = "<script>alert(1)</script> & Fils"
    folder = tmp_path / "email"
    folder.mkdir()
    (folder / "default.txt").write_text("Relance {{ letter_ref }}\n\nBonjour {{ debtor.name }}", encoding="utf-8")
    (folder / "default.html").write_text("<p>{{ debtor.name }}</p>", encoding="utf-8")
    content = render_email(tmp_path, "reminder2", context)
    assert content.subject == f"Relance {letter.letter_ref}"
    assert content.text == "Bonjour <script>alert(1)</script> & Fils\n"  # plain text: nothing to escape
    assert content.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; Fils</p>"
    (folder / "reminder2.txt").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }}\n\nx", encoding="utf-8")
    with pytest.raises(LetterError, match="reminder2.txt"):
        render_email(tmp_path, "reminder2", context)
    (folder / "reminder2.txt").write_text("\n\n{{ debtor.nom }}", encoding="utf-8")
    with pytest.raises(LetterError, match="reminder2.txt"):
        render_email(tmp_path, "reminder2", context)
    with pytest.raises(LetterError, match="no e-mail template"):
        render_email(tmp_path / "nowhere", "reminder2", context)


def test_email_templates_are_bounded_as_letters_are_and_the_error_names_line_and_tag(tmp_path: Path) -> None:
    """An e-mail template is user-written too: a string it would build past the limit is refused before it
    exists (the run keeps its memory), and the error names the file, the line and the tag."""
    context = build_context(sample_letter_data("b2b"))
    folder = tmp_path / "email"
    folder.mkdir()
    (folder / "default.txt").write_text("Relance\n\n{{ debtor.name }}\n{{ 'x' * 10**9 }}\n", encoding="utf-8")
    grew_from = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(LetterError) as refused:
        render_email(tmp_path, "reminder2", context)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grew_from < 100_000  # KB: nothing was built
    assert refused.value.template == f"{folder / 'default.txt'}:4"
    assert refused.value.tag == "{{ 'x' * 10**9 }}" and "template_string" in refused.value.message
    (folder / "default.txt").write_text("Relance\n{% for i in range(10**7) %}{{ i }}{% endfor %}", encoding="utf-8")
    with pytest.raises(LetterError, match="template_range"):
        render_email(tmp_path, "reminder2", context)
    with pytest.raises(LetterError, match="template_range = 5"):
        (folder / "default.txt").write_text("Relance\n{% for i in range(6) %}{{ i }}{% endfor %}", encoding="utf-8")
        render_email(tmp_path, "reminder2", context, Limits(template_range=5))
    assert render_email(tmp_path, "reminder2", context).text == "012345\n"  # the default limits again


def test_the_shipped_email_templates_render_for_every_state() -> None:
    for kind in ("b2b", "b2c"):
        context = build_context(sample_letter_data(kind))  # type: ignore[arg-type]
        for state in load_workflow(FR_B2B).states:
            content = render_email(SHIPPED_WORKFLOWS.parent / "letters" / "fr", state, context)
            assert content.subject and "{{" not in content.text and content.html and "649,76" in content.text


def test_smtp_settings_are_checked_with_the_file_named(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    config = tmp_path / "relance.toml"
    base = config.read_text(encoding="utf-8")
    for section, expected in (
        ('[smtp]\nhost = "x"\n', "from must be the sender's address"),
        ('[smtp]\nfrom = "a@b.fr"\nport = "25"\n', "port must be an integer"),
        ('[smtp]\nfrom = "a@b.fr"\nstarttls = "yes"\n', "starttls must be true or false"),
        ('[smtp]\nfrom = "a@b.fr"\nhots = "x"\n', "unknown key 'hots'"),
        ('[smtp]\nfrom = "a@b.fr"\nbackend = "pigeon"\n', "backend must be one of smtp, file"),
        ('[smtp]\nfrom = "a@b.fr"\nattach = ["odt"]\n', "attach must be a list"),
    ):
        config.write_text(base + "\n" + section, encoding="utf-8")
        with pytest.raises(WorkspaceError, match=expected) as caught:
            load_workspace(tmp_path)
        assert str(config) in str(caught.value)
    config.write_text(base + '\n[smtp]\nfrom = "a@b.fr"\nbackend = "file"\n', encoding="utf-8")
    settings = load_workspace(tmp_path).smtp
    assert settings is not None and settings.directory == tmp_path / "output" / "_mail"


def test_the_file_backend_writes_one_file_per_message_id(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path)
    message = build(Email("<m1@acme.example>", "r@acme.example", "c@client.example", "s", "t"))
    first = transport.send(message, "r@acme.example", "c@client.example")
    transport.send(message, "r@acme.example", "c@client.example")
    assert first.startswith("250 ") and [p.name for p in tmp_path.iterdir()] == ["m1@acme.example.eml"]


def test_smtp_login_reads_the_password_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.channels.smtp import SmtpConfigError, SmtpSettings, TemporaryFailure, open_transport
    from tests.smtp_server import smtp_server

    message = build(Email("<m2@acme.example>", "r@acme.example", "c@client.example", "s", "t"))
    with smtp_server(login=("relances", "s3cret")) as sink:
        settings = SmtpSettings("r@acme.example", host="127.0.0.1", port=sink.port, username="relances",
                                password_env="TEST_RELANCE_SMTP_PASSWORD", timeout=5)
        monkeypatch.delenv("TEST_RELANCE_SMTP_PASSWORD", raising=False)
        with pytest.raises(SmtpConfigError, match="TEST_RELANCE_SMTP_PASSWORD"):
            open_transport(settings)
        monkeypatch.setenv("TEST_RELANCE_SMTP_PASSWORD", "wrong")
        with pytest.raises(TemporaryFailure):  # the team's settings, not this e-mail: tried again later
            open_transport(settings).send(message, "r@acme.example", "c@client.example")
        monkeypatch.setenv("TEST_RELANCE_SMTP_PASSWORD", "s3cret")
        transport = open_transport(settings)
        assert transport.send(message, "r@acme.example", "c@client.example").startswith("250 ")
        transport.close()
    assert [str(m["Message-ID"]) for m in sink.messages] == ["<m2@acme.example>"]


def test_starttls_sends_over_tls_and_refuses_a_certificate_it_cannot_verify(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`starttls = true` upgrades the session before the login and the message, and checks the server's
    certificate against the system's authorities (here a test authority, through SSL_CERT_FILE)."""
    import ssl

    import trustme

    from engine.channels.smtp import SmtpSettings, TemporaryFailure, open_transport
    from tests.smtp_server import smtp_server

    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    message = build(Email("<m3@acme.example>", "r@acme.example", "c@client.example", "s", "t"))
    monkeypatch.setenv("TEST_RELANCE_SMTP_PASSWORD", "s3cret")
    with smtp_server(login=("relances", "s3cret"), tls=server_context) as sink:
        settings = SmtpSettings("r@acme.example", host="127.0.0.1", port=sink.port, username="relances",
                                password_env="TEST_RELANCE_SMTP_PASSWORD", starttls=True, timeout=5)
        # The machine's authorities do not know the test authority: no login, no message, tried again later.
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
        with pytest.raises(TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            open_transport(settings).send(message, "r@acme.example", "c@client.example")
        assert sink.messages == []
        bundle = tmp_path / "authority.pem"
        authority.cert_pem.write_to_path(str(bundle))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        transport = open_transport(settings)
        assert transport.send(message, "r@acme.example", "c@client.example").startswith("250 ")
        transport.close()
        # Without starttls the server refuses the mail: the settings are wrong, not this e-mail, so it waits.
        plain = SmtpSettings("r@acme.example", host="127.0.0.1", port=sink.port, timeout=5)
        with pytest.raises(TemporaryFailure, match="530.*starttls"):
            open_transport(plain).send(message, "r@acme.example", "c@client.example")
    assert [str(m["Message-ID"]) for m in sink.messages] == ["<m3@acme.example>"]


def test_the_creditors_country_may_be_its_name_and_is_kept_as_its_code(tmp_path: Path) -> None:
    """A letter prints the debtor's country when it differs from the creditor's: « France » in relance.toml
    must compare equal to a debtor's FR, or every domestic letter would end with « FRANCE »."""
    init_workspace(tmp_path)
    config = tmp_path / "relance.toml"
    base = config.read_text(encoding="utf-8")
    assert base.count('country = "FR"') == 1
    config.write_text(base.replace('country = "FR"', 'country = "France"'), encoding="utf-8")
    assert load_workspace(tmp_path).creditor.country == "FR"
    config.write_text(base.replace('country = "FR"', 'country = "Atlantide"'), encoding="utf-8")
    with pytest.raises(WorkspaceError, match=r"\[creditor\] country: not a country: 'Atlantide'") as caught:
        load_workspace(tmp_path)
    assert str(config) in str(caught.value)
