"""Write the example data set (debtors, invoices, payments, events) used by `relance demo`.

The CSV files are committed; this script is how they were made, kept so they can be remade or
extended reproducibly (fixed seed: same output every run). Run: python examples/generate.py [OUT_DIR]
Everything is fictitious: names, SIREN numbers (random, Luhn-valid, not checked against the
register), addresses on common street names, phone numbers and `.example` e-mail domains.
"""

from __future__ import annotations

import random
import sys
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261122
TODAY = date(2026, 11, 22)  # the demo's "as of": the simulation runs up to this day
VAT = Decimal("1.20")

COMPANIES = [  # (name, legal form)
    ("Dupont & Fils", "SARL"),
    ("L'Atelier d'Émile", "EURL"),
    ("Boulangerie Lefèvre", "SARL"),
    ("Transports Marchand", "SAS"),
    ("Garage du Centre", "SARL"),
    ("Menuiserie Rousseau & Associés", "SAS"),
    ("Imprimerie Gaubert", "SA"),
    ("Cabinet d'Architecture Morel", "SELARL"),
    ("Les Jardins de Provence", "SARL"),
    ("Brasserie du Port", "SAS"),
    ("Électricité Girard", "EURL"),
    ("Maison Fabre Traiteur", "SAS"),
    ("Agence Horizon Communication", "SAS"),
    ("Plomberie Mercier", "EURL"),
    ("Société Nouvelle des Carrières de l'Est", "SA"),
    ("Vins & Terroirs Lambert", "SARL"),
    ("Hôtel Le Relais d'Anjou", "SAS"),
    ("Librairie L'Encre Bleue", "SARL"),
    ("Bâtiment Perrin Frères", "SAS"),
    ("Informatique Conseil Blanchard", "SASU"),
    ("Fromagerie Chevalier", "SARL"),
    ("Clinique Vétérinaire des Tilleuls", "SELARL"),
    ("Ateliers Métalliques Faure", "SAS"),
    ("Coiffure L'Instant", "SARL"),
    ("Ambulances Roux", "EURL"),
    ("Boucherie Gauthier & Fille", "SARL"),
    ("Studio Lumière Production", "SAS"),
    ("Paysages Da Silva", "EURL"),
    ("Restaurant Le Petit Bouchon", "SARL"),
    ("Laboratoire Bertrand Analyses", "SAS"),
    ("Chocolaterie Vasseur", "SAS"),
    ("Quincaillerie Martin-Lopez", "SARL"),
]
PEOPLE = [
    "Mme Claire Dubois",
    "M. Jean-Pierre Lefèvre",
    "Mme Nathalie Moreau",
    "M. Karim Benali",
    "Mme Sophie Garnier",
    "M. Thomas N'Diaye",
    "Mme Élodie Marchal",
    "M. Antoine d'Aubigny",
    "Mme Isabelle Lemaire",
    "M. Lucas Petit",
    "Mme Fatima El Amrani",
    "M. Julien Roche",
    "Mme Camille Renard-Lopez",
    "M. Olivier Caron",
    "Mme Amélie O'Neill",
    "M. François Texier",
]
CITIES = [  # (postal code, city): real pairs
    ("69003", "Lyon"), ("13008", "Marseille"), ("31000", "Toulouse"), ("44000", "Nantes"),
    ("33000", "Bordeaux"), ("59000", "Lille"), ("67000", "Strasbourg"), ("35000", "Rennes"),
    ("34000", "Montpellier"), ("06000", "Nice"), ("38000", "Grenoble"), ("21000", "Dijon"),
    ("49000", "Angers"), ("51100", "Reims"), ("76600", "Le Havre"), ("42000", "Saint-Étienne"),
    ("83000", "Toulon"), ("63000", "Clermont-Ferrand"), ("87000", "Limoges"), ("37000", "Tours"),
    ("80000", "Amiens"), ("57000", "Metz"), ("25000", "Besançon"), ("45000", "Orléans"),
    ("76000", "Rouen"), ("14000", "Caen"), ("54000", "Nancy"), ("66000", "Perpignan"),
    ("29200", "Brest"), ("64000", "Pau"), ("17000", "La Rochelle"), ("74000", "Annecy"),
    ("86000", "Poitiers"), ("84000", "Avignon"), ("13100", "Aix-en-Provence"), ("69100", "Villeurbanne"),
    ("92100", "Boulogne-Billancourt"), ("93200", "Saint-Denis"), ("78000", "Versailles"), ("30000", "Nîmes"),
    ("72000", "Le Mans"), ("68100", "Mulhouse"), ("68000", "Colmar"), ("64100", "Bayonne"),
    ("29000", "Quimper"), ("56000", "Vannes"), ("73000", "Chambéry"), ("26000", "Valence"),
]
STREETS = [
    "rue de la République", "avenue Jean Jaurès", "boulevard Gambetta", "place du Marché",
    "rue Victor Hugo", "allée des Acacias", "rue Pasteur", "rue du Général Leclerc",
    "chemin de la Fontaine", "impasse des Lilas", "rue Nationale", "avenue de la Gare",
    "rue des Écoles", "quai de la Loire", "rue Saint-Martin", "boulevard de la Liberté",
]
COMPANY_LINE2 = ["", "", "", "Bâtiment B", "ZA des Grands Champs", "Zone industrielle Nord", "CS 40215", "2e étage"]
PERSON_LINE2 = ["", "", "", "Appartement 12", "Résidence Les Pins", "Escalier C"]
# Phone numbers in the blocks ARCEP keeps for fiction (01 99 00, 06 39 98 ...).
PHONE_BLOCKS = ["01 99 00", "02 61 91", "03 53 01", "04 65 71", "05 36 49"]
MOBILE_BLOCK = "06 39 98"


@dataclass
class Invoice:
    number: str
    debtor_ref: str
    issue_date: date
    due_date: date
    amount: Decimal
    payments: list[tuple[date, Decimal, bool, str]] = field(default_factory=list)  # date, amount, named, reference


def main(out: Path = HERE) -> None:
    """Write the four CSV files into `out` (this folder by default)."""
    rng = random.Random(SEED)
    debtors = make_debtors(rng)
    invoices = make_invoices(rng, debtors)
    events = make_events(rng, debtors, invoices)
    make_payments(rng, debtors, invoices, events)
    write_csv(
        out,
        "debtors.csv",
        "debtor_ref;kind;name;siren;address_line1;address_line2;postal_code;city;country;email;phone;civility",
        debtors,
    )
    write_csv(
        out,
        "invoices.csv",
        "invoice_number;debtor_ref;issue_date;due_date;amount;currency",
        [[i.number, i.debtor_ref, i.issue_date.isoformat(), i.due_date.isoformat(), str(i.amount), "EUR"] for i in invoices],
    )
    write_csv(out, "payments.csv", "debtor_ref;payment_date;amount;invoice_number;reference", payment_rows(rng, invoices))
    write_csv(out, "events.csv", "event_date;debtor_ref;action;until;reason", events)


def make_debtors(rng: random.Random) -> list[list[str]]:
    cities = CITIES[:]
    rng.shuffle(cities)
    rows = []
    for index, (name, form) in enumerate(COMPANIES, start=1):
        postal_code, city = cities[index - 1]
        slug = _slug(name)
        rows.append([
            f"CLI-{index:03d}", "b2b", f"{name} {form}", _siren(rng),
            f"{rng.randint(1, 120)} {rng.choice(STREETS)}", rng.choice(COMPANY_LINE2), postal_code, city, "FR",
            f"comptabilite@{slug}.example", f"{rng.choice(PHONE_BLOCKS)} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}",
            "",  # civility: a company is greeted "Madame, Monsieur"
        ])
    for offset, name in enumerate(PEOPLE):
        index = len(COMPANIES) + offset + 1
        postal_code, city = cities[index - 1]
        first_last = _slug(name.split(" ", 1)[1]).replace("-", ".")
        rows.append([
            f"CLI-{index:03d}", "b2c", name, "",
            f"{rng.randint(1, 80)} {rng.choice(STREETS)}", rng.choice(PERSON_LINE2), postal_code, city, "FR",
            f"{first_last}@courriel.example" if offset % 5 else "",  # a few consumers gave no e-mail
            f"{MOBILE_BLOCK} {rng.randint(0, 99):02d} {rng.randint(0, 99):02d}",
            name.split(" ", 1)[0],  # "M." or "Mme": letters open "Monsieur," or "Madame,"
        ])
    return rows


def make_invoices(rng: random.Random, debtors: list[list[str]]) -> list[Invoice]:
    """About 170 invoices: 150 due 1 May–15 Oct 2026, a few due since, some not yet due on 22 Nov."""
    windows = [(date(2026, 5, 1), date(2026, 10, 15))] * 150 + [(date(2026, 10, 16), TODAY)] * 8
    windows += [(TODAY + timedelta(days=1), date(2026, 12, 31))] * 14
    refs = [d[0] for d in debtors]
    kinds = {d[0]: d[1] for d in debtors}
    # Every debtor gets one invoice; a handful of regular customers get many.
    regulars = refs[:20] + refs[len(COMPANIES):len(COMPANIES) + 3]
    owners = refs + [rng.choice(regulars) for _ in range(len(windows) - len(refs))]
    rng.shuffle(owners)
    drafts = []
    for (start, end), ref in zip(windows, owners):
        due = start + timedelta(days=rng.randint(0, (end - start).days))
        term = rng.choice([30, 30, 45, 60])
        if due - timedelta(days=term) > TODAY:  # not yet due: it was still issued by today
            term = 60
        issue = due - timedelta(days=term)
        if kinds[ref] == "b2c":
            net = _log_uniform(rng, 70, 2000)
        else:
            net = _log_uniform(rng, 150, 20800)
        amount = (Decimal(net) * VAT).quantize(Decimal("0.01"), ROUND_HALF_UP)
        drafts.append((issue, due, ref, amount))
    drafts.sort()
    return [
        Invoice(f"FA-2026-{n:04d}", ref, issue, due, amount)
        for n, (issue, due, ref, amount) in enumerate(drafts, start=101)
    ]


def make_events(rng: random.Random, debtors: list[list[str]], invoices: list[Invoice]) -> list[list[str]]:
    """A resolved and an open dispute, a kept and a broken promise, a lifted and a standing hold."""
    by_debtor = _by_debtor(invoices)
    kinds = {d[0]: d[1] for d in debtors}
    early = [
        ref for ref, own in by_debtor.items()
        if all(i.due_date <= date(2026, 7, 15) for i in own) and len(own) <= 3
    ]
    b2b_early = [r for r in early if kinds[r] == "b2b"]
    b2c_early = [r for r in early if kinds[r] == "b2c"]
    disputed, open_dispute, kept, held = b2b_early[:4]
    broken = b2c_early[0]
    lifted = [r for r in by_debtor if kinds[r] == "b2b" and r not in early][0]
    first = {ref: min(i.due_date for i in own) for ref, own in by_debtor.items()}
    disputed_invoice = min(by_debtor[disputed], key=lambda i: i.due_date).number
    open_invoice = min(by_debtor[open_dispute], key=lambda i: i.due_date).number
    rows = [
        [first[disputed] + timedelta(days=12), disputed, "dispute", "",
         f"Conteste la facture {disputed_invoice} : livraison incomplète, 2 colis manquants"],
        [first[disputed] + timedelta(days=40), disputed, "resolve", "",
         "Colis retrouvés chez le transporteur, livraison confirmée par le client"],
        [first[open_dispute] + timedelta(days=30), open_dispute, "dispute", "",
         f"Conteste la qualité des travaux facturés ({open_invoice}), expertise demandée"],
        # Dates follow each debtor's first due date, so the shipped pace (litigation ~50 days after
        # the due date for businesses) still finds the case open when the debtor calls.
        [first[kept] + timedelta(days=18), kept, "promise", first[kept] + timedelta(days=35),
         "Appel du gérant : règlement du solde par virement sous quinze jours"],
        [first[broken] + timedelta(days=20), broken, "promise", first[broken] + timedelta(days=40),
         "S'engage par téléphone à payer le solde dès réception de son salaire"],
        [first[held] + timedelta(days=15), held, "hold", "",
         "Procédure de sauvegarde ouverte : créance déclarée au mandataire judiciaire"],
        [date(2026, 9, 14), lifted, "hold", None,
         "Demande d'échéancier à l'étude par la direction financière"],
        [date(2026, 10, 1), lifted, "resume", "", "Échéancier refusé, reprise des relances"],
    ]
    rows.sort(key=lambda row: (row[0], row[1]))
    return [[d.isoformat(), ref, action, until.isoformat() if until else "", reason] for d, ref, action, until, reason in rows]


def make_payments(
    rng: random.Random, debtors: list[list[str]], invoices: list[Invoice], events: list[list[str]]
) -> None:
    """Attach payments: most invoices stay unpaid so the demo reaches every step."""
    promised = {row[1]: row for row in events if row[2] == "promise"}
    kinds = {d[0]: d[1] for d in debtors}
    kept_ref = next(ref for ref in promised if kinds[ref] == "b2b")  # the consumer breaks his
    excluded = set(promised) | {row[1] for row in events if row[2] in ("dispute", "hold")}
    for invoice in invoices:
        if invoice.debtor_ref in excluded or invoice.due_date > TODAY + timedelta(days=20):
            continue
        roll = rng.random()
        ref = f"VIR SEPA {invoice.debtor_ref} {invoice.number}"
        if roll < 0.08:  # paid in full before the due date
            on = invoice.due_date - timedelta(days=rng.randint(1, 10))
            invoice.payments.append((on, invoice.amount, True, ref))
        elif roll < 0.16:  # paid in full, late
            on = invoice.due_date + timedelta(days=rng.randint(5, 50))
            invoice.payments.append((on, invoice.amount, True, ref))
        elif roll < 0.30:  # one or two partial payments
            first = (invoice.amount * Decimal(rng.choice(["0.25", "0.3", "0.5", "0.4"]))).quantize(Decimal("1.00"))
            on = invoice.due_date + timedelta(days=rng.randint(-5, 30))
            invoice.payments.append((on, first, True, ref + " ACOMPTE"))
            if rng.random() < 0.4:
                second = (invoice.amount * Decimal("0.2")).quantize(Decimal("1.00"))
                invoice.payments.append((on + timedelta(days=rng.randint(15, 40)), second, True, ref + " ACOMPTE 2"))
        elif roll < 0.36:  # a payment without invoice number: allocated oldest first
            part = (invoice.amount * Decimal("0.6")).quantize(Decimal("0.01"))
            on = invoice.due_date + timedelta(days=rng.randint(10, 40))
            invoice.payments.append((on, part, False, f"CHQ {rng.randint(1000000, 9999999)}"))
    # The kept promise: everything the debtor owed paid three days before the promised date.
    kept_until = date.fromisoformat(promised[kept_ref][3])
    for invoice in _by_debtor(invoices)[kept_ref]:
        invoice.payments.append((kept_until - timedelta(days=3), invoice.amount, True,
                                 f"VIR SEPA {kept_ref} SOLDE {invoice.number}"))
    for invoice in invoices:  # nothing in the future of the demo's as-of
        invoice.payments = [p for p in invoice.payments if p[0] <= TODAY]


def payment_rows(rng: random.Random, invoices: list[Invoice]) -> list[list[str]]:
    rows = []
    for invoice in invoices:
        for on, amount, named, reference in invoice.payments:
            rows.append([invoice.debtor_ref, on, amount, invoice.number if named else "", reference])
    rows.sort(key=lambda row: (row[1], row[0], row[3]))
    # The importer recognises a payment already imported by (debtor_ref, reference): keep them unique.
    assert len({(row[0], row[4]) for row in rows}) == len(rows)
    out = []
    for index, (ref, on, amount, number, reference) in enumerate(rows):
        # One row in ten in the French spelling, to show the importer reads both.
        if index % 10 == 3:
            out.append([ref, on.strftime("%d/%m/%Y"), _french_amount(amount), number, reference])
        else:
            out.append([ref, on.isoformat(), str(amount), number, reference])
    return out


# --- helpers -------------------------------------------------------------------------------------


def write_csv(out: Path, name: str, header: str, rows: list[list[str]]) -> None:
    lines = [header] + [";".join(str(cell) for cell in row) for row in rows]
    for line in lines:  # our cells never hold the separator or quotes: keep the files plain
        assert line.count(";") == header.count(";") and '"' not in line, line
    (out / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _by_debtor(invoices: list[Invoice]) -> dict[str, list[Invoice]]:
    grouped: dict[str, list[Invoice]] = {}
    for invoice in invoices:
        grouped.setdefault(invoice.debtor_ref, []).append(invoice)
    return grouped


def _siren(rng: random.Random) -> str:
    """Nine digits whose Luhn checksum holds, like a real SIREN."""
    body = [rng.randint(3, 9)] + [rng.randint(0, 9) for _ in range(7)]
    for check in range(10):
        if _luhn_ok(body + [check]):
            return "".join(map(str, body + [check]))
    raise AssertionError("unreachable: one check digit always fits")


def _luhn_ok(digits: list[int]) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def _log_uniform(rng: random.Random, low: float, high: float) -> str:
    """A net amount spread like real invoices (many small, few large), rounded as people quote."""
    import math

    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    step = 50 if value > 2000 else 5 if value > 200 else 0.5
    if rng.random() < 0.4:  # and some itemised, to the cent
        return f"{value:.2f}"
    return f"{round(value / step) * step:.2f}"


def _french_amount(amount: Decimal) -> str:
    whole, cents = f"{amount:.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return " ".join(groups) + "," + cents


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in ascii_name).split()
    return "-".join(w for w in words if w not in ("l", "d", "de", "des", "du", "le", "la", "les", "et"))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
