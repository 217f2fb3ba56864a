"""The template variables built from a LetterData."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

from engine.letters import InvoiceLine, Party, build_context, sample_letter_data

NBSP = "\u00a0"


def test_totals_deadline_and_place() -> None:
    letter = sample_letter_data()
    ctx = build_context(letter)
    assert ctx["total_outstanding_value"] == Decimal("3649.76")
    assert ctx["total_outstanding"] == f"3{NBSP}649,76{NBSP}€"
    assert ctx["total_claim_value"] == Decimal("3649.76") + letter.penalties + letter.indemnity
    assert ctx["deadline_value"] == date(2026, 6, 30)
    assert ctx["deadline"] == f"30{NBSP}juin{NBSP}2026"  # a date never breaks across lines
    assert ctx["place_and_date"] == f"Paris, le 22{NBSP}juin{NBSP}2026"
    assert [i["number"] for i in ctx["invoices"]] == [i.number for i in letter.invoices]
    assert ctx["invoices"][0]["due_date"] == "04/03/2026"
    assert ctx["history"][0]["date_long"] == f"1er{NBSP}avril{NBSP}2026"
    assert ctx["history"][1]["channel_label"] == "appel téléphonique"
    assert ctx["is_b2b"] and not ctx["is_b2c"]


def test_salutation_follows_the_civility_and_wording_the_number_of_invoices() -> None:
    letter = sample_letter_data()
    assert build_context(letter)["salutation"] == "Madame, Monsieur"
    for civility, said in (("M.", "Monsieur"), ("Mme", "Madame")):
        ctx = build_context(replace(letter, debtor=replace(letter.debtor, civility=civility)))
        assert ctx["salutation"] == said
    assert build_context(letter)["plural"] is True
    assert build_context(replace(letter, invoices=letter.invoices[:1]))["plural"] is False


def test_footer_carries_the_creditors_legal_mentions() -> None:
    mentions = build_context(sample_letter_data())["creditor"]["legal_mentions"]
    assert mentions == (f"Atelier Lumière SAS — SAS au capital de 50{NBSP}000{NBSP}€ — RCS{NBSP}Paris{NBSP}812{NBSP}345"
                        f"{NBSP}678 — TVA intracommunautaire FR40812345678")


def test_a_claim_in_dollars_keeps_the_40_euros_apart() -> None:
    letter = replace(sample_letter_data(), currency="USD")
    ctx = build_context(letter)
    assert ctx["indemnity_apart"] and ctx["indemnity"] == f"160,00{NBSP}€"
    assert ctx["total_claim_value"] == ctx["total_outstanding_value"] + letter.penalties  # never dollars + euros
    assert ctx["total_claim"].endswith("$US") and ctx["total_outstanding"].endswith("$US")


def test_no_enclosure_no_pj_and_no_internal_rate_wording() -> None:
    ctx = build_context(replace(sample_letter_data(), enclosures=()))
    assert ctx["enclosures"] == [] and not ctx["has_enclosures"]
    assert "assumed_rates" not in ctx  # which rates were assumed is for the team (`relance run`), not the debtor


def test_no_deadline_without_delay() -> None:
    ctx = build_context(replace(sample_letter_data(), pay_within_days=None))
    assert ctx["deadline"] is None and ctx["deadline_value"] is None


def test_b2c_sample_has_interest_not_indemnity() -> None:
    ctx = build_context(sample_letter_data("b2c"))
    assert ctx["has_interest"] and not ctx["has_indemnity"] and not ctx["has_penalties"]
    assert ctx["formal_notice_on"] == f"7{NBSP}mai{NBSP}2026"
    assert (ctx["interest_from"], ctx["interest_basis"]) == (f"12{NBSP}mai{NBSP}2026",
                                                             "de la réception de la mise en demeure")


def test_text_loses_xml_invalid_characters_but_keeps_markup_characters() -> None:
    debtor = Party("A\x00B\x0c & <C>", ("l1\x1f",), "75001", "Paris")
    ctx = build_context(replace(sample_letter_data(), debtor=debtor))
    assert ctx["debtor"]["name"] == "AB & <C>"  # escaping is the environment's job
    assert ctx["debtor"]["address_lines"] == ["l1"]


def test_empty_case() -> None:
    ctx = build_context(replace(sample_letter_data(), invoices=[], history=[]))
    assert ctx["invoice_count"] == 0 and ctx["total_outstanding"] == f"0,00{NBSP}€"
    assert not ctx["has_history"]


def test_invoice_line_amounts_stay_decimal() -> None:
    line = InvoiceLine("F1", date(2026, 1, 1), date(2026, 1, 31), Decimal("10.10"), Decimal("0.1"),
                       Decimal("10.00"))
    ctx = build_context(replace(sample_letter_data(), invoices=[line]))
    assert ctx["invoices"][0]["paid"] == f"0,10{NBSP}€"
    assert isinstance(ctx["invoices"][0]["amount_value"], Decimal)


def test_an_address_abroad_ends_with_its_country_and_a_domestic_one_does_not() -> None:
    import html
    import io
    import re
    import zipfile

    from engine.letters.render import render_content
    from tests.support import PACK

    letter = sample_letter_data()
    abroad = replace(letter, debtor=replace(letter.debtor, postal_code="NW1 6XE", city="London", country="gb"))
    assert build_context(abroad)["debtor"]["country_name"] == "ROYAUME-UNI"
    assert build_context(letter)["debtor"]["country_name"] is None  # FR to FR: no country line

    def address_block(data: object) -> list[str]:
        docx = render_content(PACK / "relance_1.docx", build_context(data))  # type: ignore[arg-type]
        xml = zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml").decode("utf-8")
        lines = [html.unescape("".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", p)))
                 for p in re.findall(r"<w:p[ >].*?</w:p>", xml, re.S)]
        start = lines.index(letter.debtor.name)
        return lines[start:start + 5]

    assert "NW1 6XE London" in address_block(abroad)
    assert address_block(abroad)[address_block(abroad).index("NW1 6XE London") + 1] == "ROYAUME-UNI"
    assert not any("FRANCE" in line for line in address_block(letter))


def test_the_last_reminder_announces_only_the_step_the_policy_takes_next() -> None:
    """« nous vous adresserons une mise en demeure » only when the policy's next step is a formal notice; a
    policy going straight to litigation says so; when nothing will follow (time-barred debts, or guards
    choosing between kinds), the letter announces nothing."""
    from engine.letters.compiled import CompiledTemplate
    from engine.letters.wording import rendered_text
    from tests.support import PACK

    template = CompiledTemplate(PACK / "relance_3.docx")
    said = {kind: " ".join(rendered_text(template.render(build_context(replace(sample_letter_data(), next_step=step))))
                           .split())
            for kind, step in (("notice", ("formal_notice", "Mise en demeure")),
                               ("court", ("litigation", "Contentieux")), ("none", None))}
    assert "nous vous adresserons une mise en demeure de payer" in said["notice"]
    assert "transmettrons le dossier au contentieux" in said["court"] and "mise en demeure" not in said["court"]
    assert "dernière relance amiable." in said["none"]
    assert "mise en demeure" not in said["none"] and "contentieux" not in said["none"]


def test_no_interest_is_said_to_run_where_none_runs() -> None:
    """A consumer's interest runs from a formal notice: a hand-off with none (a policy going straight to
    court) must not say « les intérêts courent jusqu'au complet paiement »; with one, it does."""
    from engine.letters.compiled import CompiledTemplate
    from engine.letters.wording import rendered_text
    from tests.support import PACK

    template = CompiledTemplate(PACK / "transmission_contentieux.docx")
    consumer = sample_letter_data("b2c")
    with_notice = " ".join(rendered_text(template.render(build_context(consumer))).split())
    without = " ".join(rendered_text(template.render(build_context(
        replace(consumer, notice=None, formal_notice_on=None, interest_from=None, interest_basis=None,
                interest=Decimal("0"))))).split())
    assert "les intérêts courent jusqu'au complet paiement" in with_notice
    assert "courent jusqu'au complet paiement" not in without


def test_despite_our_reminders_covers_the_invoices_an_earlier_contact_named() -> None:
    reminded = InvoiceLine("F1", date(2026, 1, 1), date(2026, 1, 31), Decimal("10"), Decimal("0"), Decimal("10"),
                           reminded=True)
    joined = replace(reminded, number="F2", reminded=False)
    both = build_context(replace(sample_letter_data(), invoices=[reminded, replace(joined, reminded=True)]))
    assert both["all_reminded"] and both["reminded_numbers"] == ["F1", "F2"]
    one = build_context(replace(sample_letter_data(), invoices=[reminded, joined]))
    assert not one["all_reminded"] and one["reminded_numbers"] == ["F1"]
    assert [inv["reminded"] for inv in one["invoices"]] == [True, False]
    assert not build_context(replace(sample_letter_data(), invoices=[]))["all_reminded"]


def test_an_invoice_counts_as_reminded_by_a_letter_posted_or_an_email_the_server_took() -> None:
    from engine.cases.recall import reminded
    from engine.store.events import CallRecorded, EmailSent, LetterSent

    def letter(step: str, channel: str, *numbers: str) -> LetterSent:
        return LetterSent(template="t.docx", path="p", sha256="0", channel=channel, step_key=step,
                          invoices=numbers)

    day = date(2026, 3, 1)
    events = [
        (day, "1:reminder1", letter("1:reminder1", "email", "F-MAILED")),
        (day, "1:reminder1", EmailSent("1:reminder1", "<m@x>", "a@b.fr", "Relance")),
        (day, "2:reminder2", letter("2:reminder2", "email", "F-NEVER-SENT")),  # prepared, never sent
        (day, None, CallRecorded(outcome="reached")),  # a call names no invoice
        (day, "3:reminder3", letter("3:reminder3", "letter", "F-POSTED")),
        (day, "4:formal_notice", letter("4:formal_notice", "registered_letter", "F-THIS-LETTER")),
    ]
    assert reminded(events, skip_step="4:") == {"F-MAILED", "F-POSTED"}
