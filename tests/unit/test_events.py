"""The event registry: every kind has one payload type, a French label and a sentence; payloads round-trip."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.store import events
from engine.store.events import (
    EVENT_TYPES,
    ActionFacts,
    CaseOpened,
    InvoiceFacts,
    InvoiceShare,
    Jump,
    LetterSent,
    PaymentReceived,
    Promise,
    StateChange,
    read_event,
)
from engine.store.timeline import plain

SAMPLES = [
    CaseOpened("fr-b2b", 2, "D1", "due", (InvoiceFacts("F-1", Decimal("1200.50"), date(2026, 1, 2), date(2026, 2, 1)),)),
    events.InvoiceAdded(InvoiceFacts("F-2", Decimal("99.99"), date(2026, 1, 3), date(2026, 2, 2))),
    StateChange("escalate", "due", "reminder1", {"balance": "1200.50"}, None,
                (ActionFacts("letter", "reminder1", "relance_1.docx", 8),)),
    LetterSent("relance_1.docx", "D1/C1/01-reminder1.docx", "ab" * 32, "letter", "reminder1", "1:reminder1"),
    PaymentReceived(Decimal("100.00"), "VIR-1", (InvoiceShare("F-1", Decimal("100.00")),), Decimal("0.00")),
    events.CreditNoteApplied(Decimal("10.00"), "AV-1", (InvoiceShare("F-1", Decimal("10.00")),)),
    events.Dispute("livraison contestée"),
    events.Resolve("avoir émis"),
    Promise("au téléphone", date(2026, 3, 1)),
    events.Hold("attente du service juridique"),
    events.Resume(None),
    Jump("décision du directeur", from_="reminder1", to="formal_notice"),
    events.Note("rappelé"),
    # Channels (issue 11): what was really sent, called, approved.
    events.EmailSent("1:reminder1", "<relance.C1.1-reminder1.ab12@example.fr>", "compta@client.fr",
                     "Rappel : facture F-1", "250 2.0.0 Ok: queued as 4F2A", ("01-reminder1.pdf",), 1),
    events.EmailRetried("1:reminder1", "<m@x>", 2, "DATA: 451 try later", "2026-03-01T10:05"),
    events.EmailFailed("1:reminder1", "<m@x>", "RCPT TO <a@b.fr>: 550 no such user", "a@b.fr", 1),
    events.CallRecorded("promise", "paiera vendredi", "04 65 71 76 72", date(2026, 3, 6)),
    events.ApprovalRequested("formal_notice", "reminder3", False),
    events.Approved("formal_notice", "dossier revu"),
    events.Rejected("litigation", "négociation en cours"),
    events.DebtorHeld("procédure collective"),
    events.DebtorResumed(None),
    events.RunFailed("workflows/fr-b2b.yaml:73: guard 'balance / (letters_sent - letters_sent) > 1' failed", "reminder2"),
    events.FailureCleared("workflows/fr-b2b.yaml:73: guard 'balance / (letters_sent - letters_sent) > 1' failed", date(2026, 3, 2)),
    events.InvoiceAmended("F-2", "EUR", Decimal("99.99"), Decimal("89.99"), date(2026, 2, 2), date(2026, 2, 16),
                          source="factures.csv"),
    events.DebtorAmended((events.FieldChange("kind", "b2b", "b2c"), events.FieldChange("city", "Lyon", "Paris")),
                         "clients.csv"),
    events.NoticeReceived("C1/04", "1A 012 345 6789 0", date(2026, 3, 3), date(2026, 3, 4), ("F-1",)),
    events.TimeBarred("F-9", Decimal("650.00"), date(2025, 2, 1), date(2023, 2, 1), False,
                      "2 ans, art. L218-2 du Code de la consommation", "EUR"),
]


def test_every_kind_is_registered_once_with_a_french_label() -> None:
    assert {type(sample).kind for sample in SAMPLES} == set(EVENT_TYPES)
    labels = [cls.label for cls in EVENT_TYPES.values()]
    assert len(set(labels)) == len(labels) and all(label and label[0].islower() for label in labels)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: type(sample).kind)
def test_a_payload_reads_back_as_it_was_written(sample: events.EventPayload) -> None:
    stored = plain(sample.to_json())  # what the timeline stores (JSON types only)
    assert read_event(sample.kind, stored) == sample
    assert sample.describe()  # one sentence, never empty


def test_stored_keys_are_the_ones_earlier_versions_wrote() -> None:
    """Hash chains recompute from the stored payload: the keys must not move (``from_`` is stored as ``from``)."""
    assert set(Jump("x", from_="a", to="b").to_json()) == {"reason", "from", "to"}
    assert set(StateChange("escalate", "a", "b").to_json()) == {"trigger", "source", "dest", "facts", "reason",
                                                                "actions", "source_label", "dest_label", "currency"}
    # A step stored before its labels and currency were recorded still reads (they are added, never renamed).
    before = {"trigger": "escalate", "source": "a", "dest": "b", "facts": {}, "reason": None, "actions": []}
    assert read_event("state_change", before) == StateChange("escalate", "a", "b")
    assert read_event("letter", {"template": "t.docx", "path": "p", "sha256": "x"}).invoices == ()  # type: ignore[attr-defined]
    # A payment imported before `unallocated` existed still reads.
    old = {"amount": "12.00", "invoices": [{"number": "F-1", "amount": "12.00"}], "reference": None}
    assert read_event("payment", old) == PaymentReceived(Decimal("12.00"), None, (InvoiceShare("F-1", Decimal("12.00")),))


def test_descriptions_are_french_and_use_french_figures() -> None:
    assert read_event("payment", plain(SAMPLES[4].to_json())).describe() == \
        "paiement de 100,00\u00a0€ (réf. VIR-1) imputé sur F-1 (100,00\u00a0€)"
    assert SAMPLES[2].describe() == "« due » → « reminder1 » : délai écoulé (solde 1\u00a0200,50\u00a0€)"
    labelled = StateChange("escalate", "due", "reminder1",
                           {"balance": "1200.50", "due_on": "2026-02-06",
                            "rule": {"since": "due_date", "after": "5 days", "when": "balance > 0"}},
                           source_label="Facture échue", dest_label="Première relance")
    assert labelled.describe() == ("« Facture échue » → « Première relance » : délai de 5 jours depuis l'échéance "
                                   "écoulé le 06/02/2026 ; condition remplie « balance > 0 » (solde 1\u00a0200,50\u00a0€)")
    assert SAMPLES[-1].describe().startswith("facture F-9 (650,00\u00a0€ restant dus) prescrite depuis le 01/02/2025")
    assert Promise(None, date(2026, 3, 1)).describe() == "promesse de paiement au plus tard le 01/03/2026"


def test_a_debtors_change_reads_in_french() -> None:
    changed = events.DebtorAmended((events.FieldChange("kind", "b2b", "b2c"), events.FieldChange("city", "Lyon", "Paris")),
                                   "clients.csv")
    assert read_event(changed.kind, plain(changed.to_json())) == changed
    assert changed.describe() == ("fiche du débiteur modifiée par l'import clients.csv : qualité « professionnel » → "
                                  "« particulier », ville « Lyon » → « Paris »")


def test_a_timed_step_without_a_delay_does_not_say_a_delay_ran_out() -> None:
    """A transition written without `after` fires as soon as its guard holds: no delay ran out, and a timed
    trigger the workflow named otherwise than `escalate` still reads in French, not as its identifier."""
    rule = {"since": "state_entered", "when": "days_overdue >= 45"}
    immediate = StateChange("escalate", "reminder1", "formal_notice", {"days_overdue": 45, "rule": rule},
                            source_label="Première relance", dest_label="Mise en demeure")
    assert immediate.describe() == ("« Première relance » → « Mise en demeure » : sans délai ; condition remplie "
                                    "« days_overdue >= 45 » (jours de retard 45)")
    named = StateChange("go_legal", "reminder1", "formal_notice", {"rule": {"since": "state_entered"}})
    assert named.describe() == "« reminder1 » → « formal_notice » : sans délai"


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event kind 'telepathy'"):
        read_event("telepathy", {})


def test_payments_and_credit_notes_print_in_their_own_currency() -> None:
    """A payment of 1000 USD read "paiement de 1 000,00 € … imputé sur CUR-U1 (1 000,00 €)" in the timeline."""
    paid = PaymentReceived(Decimal("1000.00"), "VIR-U", (InvoiceShare("CUR-U1", Decimal("1000.00")),), currency="USD")
    stored = plain(paid.to_json())
    assert stored["currency"] == "USD"
    assert read_event("payment", stored).describe() == \
        "paiement de 1\u00a0000,00\u00a0$US (réf. VIR-U) imputé sur CUR-U1 (1\u00a0000,00\u00a0$US)"
    note = events.CreditNoteApplied(Decimal("10.00"), "AV-G", (InvoiceShare("G-1", Decimal("10.00")),), currency="GBP")
    assert "€" not in read_event("credit_note", plain(note.to_json())).describe()


def test_a_payment_stored_before_it_recorded_its_currency_reads_in_its_case_currency() -> None:
    """Stored payloads never change (the hash chain covers them): the reader supplies the currency they lack,
    their case's, since a case holds one currency and a payment event lists only that case's invoices."""
    old = {"amount": "12.00", "invoices": [{"number": "U-1", "amount": "12.00"}], "reference": None,
           "unallocated": None}
    assert "$US" in read_event("payment", old, currency="USD").describe()
    assert "€" in read_event("payment", old).describe()  # no case at hand: EUR, the only currency before cases had one
    # A currency the payload records wins over the case's.
    assert "£GB" in read_event("payment", {**old, "currency": "GBP"}, currency="USD").describe()
