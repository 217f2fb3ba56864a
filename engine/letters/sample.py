"""A sample letter for `relance letters check`, the benches and the tests: realistic, and adding up."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from datetime import date
from decimal import Decimal
from typing import Literal

from engine.core.claim import InvoiceDebt, RateTable, claim, load_rates
from engine.core.jurisdiction import court_for
from engine.letters.context import Creditor, InvoiceLine, LetterData, NoticeFacts, Party, PastStep

SampleKind = Literal["b2b", "b2c", "agency", "abroad"]


# Each sample case as the web app's team reads it in a check's finding ("dossier d'exemple entreprise").
SAMPLE_LABELS = {"b2b": "entreprise", "b2c": "particulier", "agency": "agence", "abroad": "entreprise en Belgique"}


def sample_letter_data(debtor_kind: SampleKind = "b2b") -> LetterData:
    """A realistic case for checks, the bench and tests: three invoices still owed (one partly paid), one
    paid late (it bears penalties and the indemnity only), earlier contacts, a formal notice received.
    Its amounts are the claim's own (engine.core.claim on the shipped rates), so they add up.
    "agency": the B2B case written by a collection agency for the creditor (CPCE R124-4). "abroad": the B2B
    case of a debtor in Belgium, for whom no French court is named (engine.core.jurisdiction)."""
    if debtor_kind == "agency":
        return replace(sample_letter_data("b2b"), agency=SAMPLE_AGENCY)
    if debtor_kind == "abroad":
        home = sample_letter_data("b2b")
        debtor = Party(name="Brasserie Vandenberghe SRL", address_lines=("Rue de la Loi 42",), postal_code="1040",
                       city="Bruxelles", country="BE")
        return replace(home, debtor=debtor, court=court_for("b2b", None, debtor.name, debtor.country,
                                                            debtor.postal_code))
    creditor = Creditor(
        name="Atelier Lumière SAS",
        address_lines=("12 rue des Archives",),
        postal_code="75004",
        city="Paris",
        siren="812 345 678",
        email="comptabilite@atelier-lumiere.fr",
        phone="01 42 72 00 00",
        iban="FR76 3000 4000 0312 3456 7890 143",
        bic="BNPAFRPPXXX",
        signatory="Claire Dubois",
        signatory_title="Responsable du recouvrement",
        place="Paris",
        legal_form="SAS",
        share_capital="50 000 €",
        rcs="RCS Paris 812 345 678",
        vat_number="FR40812345678",
    )
    if debtor_kind == "b2b":
        debtor = Party(
            name="Boulangerie Martin & Fils SARL",
            address_lines=("Service comptabilité", "8 avenue Jean Jaurès"),
            postal_code="69007",
            city="Lyon",
            siren="523 456 789",
        )
    else:
        debtor = Party(
            name="Mme Sophie Lefèvre",
            address_lines=("3 impasse des Lilas",),
            postal_code="33000",
            city="Bordeaux",
            civility="Mme",
        )
    as_of, received = date(2026, 6, 22), date(2026, 5, 12)
    debts = [
        (InvoiceLine("FA-2025-0388", date(2025, 11, 14), date(2025, 12, 15), Decimal("600.00"), Decimal("600.00"),
                     Decimal("0.00")), ((date(2026, 1, 20), Decimal("600.00")),)),
        (InvoiceLine("FA-2026-0412", date(2026, 2, 3), date(2026, 3, 4), Decimal("1234.56"), Decimal("0.00"),
                     Decimal("1234.56"), reminded=True), ()),
        (InvoiceLine("FA-2026-0457", date(2026, 2, 21), date(2026, 3, 23), Decimal("2890.00"), Decimal("890.00"),
                     Decimal("2000.00"), reminded=True), ((date(2026, 4, 10), Decimal("890.00")),)),
        # Due after the first reminder: named by the second one only.
        (InvoiceLine("FA-2026-0533", date(2026, 3, 16), date(2026, 4, 15), Decimal("415.20"), Decimal("0.00"),
                     Decimal("415.20"), reminded=True), ()),
    ]
    figures = claim(
        [InvoiceDebt(line.number, line.amount, line.due_date, payments) for line, payments in debts],
        debtor_kind=debtor_kind, as_of=as_of, rates=_rates(),
        formal_notice_on=received if debtor_kind == "b2c" else None,
    )
    history = [
        PastStep(date(2026, 4, 1), "Première relance", "letter", "DOS-2026-0042/01"),
        PastStep(date(2026, 4, 9), "Relance téléphonique", "phone"),
        PastStep(date(2026, 4, 20), "Deuxième relance", "letter", "DOS-2026-0042/02"),
        PastStep(date(2026, 5, 7), "Mise en demeure", "registered_letter", "DOS-2026-0042/03"),
        PastStep(received, "Mise en demeure distribuée", "receipt", "DOS-2026-0042/03"),
    ]
    return LetterData(
        creditor=creditor,
        debtor=debtor,
        debtor_kind=debtor_kind,
        debtor_ref="CLI-00731",
        case_ref="DOS-2026-0042",
        letter_ref="DOS-2026-0042/04",
        as_of=as_of,
        state="formal_notice",
        state_label="Mise en demeure",
        invoices=[line for line, _payments in debts if line.outstanding > 0],
        history=history,
        pay_within_days=8,
        penalties=figures.penalties,
        indemnity=figures.indemnity,
        interest=figures.interest,
        formal_notice_on=date(2026, 5, 7),
        counsel=Party(
            name="SELARL Moreau Avocats",
            address_lines=("Maître Julien Moreau", "45 boulevard Haussmann"),
            postal_code="75009",
            city="Paris",
        ),
        statement=figures.lines,
        notice=NoticeFacts(date(2026, 5, 7), "DOS-2026-0042/03", "registered_letter", "1A 012 345 6789 0",
                           presented_on=received, received_on=received),
        interest_from=received if debtor_kind == "b2c" else None,
        interest_basis="receipt" if debtor_kind == "b2c" else None,
        court=court_for(debtor_kind, None, debtor.name, debtor.country, debtor.postal_code),
        enclosures=("copie des factures FA-2026-0412, FA-2026-0457 et FA-2026-0533",),
        next_step=("formal_notice", "Mise en demeure"),
    )


@cache
def _rates() -> RateTable:
    """The shipped rates, read once per process (`letters check` renders the sample many times)."""
    return load_rates()


SAMPLE_AGENCY = Creditor(
    name="Agence Vidal Recouvrement SARL",
    address_lines=("7 place Jaude",),
    postal_code="63000",
    city="Clermont-Ferrand",
    siren="498 765 432",
    phone="04 73 00 00 00",
    signatory="Marc Vidal",
    signatory_title="Gestionnaire de dossiers",
    place="Clermont-Ferrand",
    legal_form="SARL",
    share_capital="20 000 €",
    rcs="RCS Clermont-Ferrand 498 765 432",
)




__all__ = ["SAMPLE_AGENCY", "SAMPLE_LABELS", "sample_letter_data"]
