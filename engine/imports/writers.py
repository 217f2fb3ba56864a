"""How each kind of CSV row is checked and written, a batch at a time (used by engine.imports.importer).

Each writer parses a row's cells (located cell errors), names its natural key, and writes a batch
with a few set-based queries: existing keys are read with one IN query, new rows go in with one
executemany insert, changed rows with one executemany update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine.core.calendar import happened_by
from engine.core.countries import CountryError, parse_country
from engine.core.identifiers import IdentifierError, postal_code_of, siren_of
from engine.core.money import MoneyError, check_decimals, parse_amount, parse_currency, parse_date
from engine.errors import CaseError
from engine.imports.csvfile import RawRow
from engine.store import ledger
from engine.store.keys import insert_rows
from engine.store.events import DebtorAmended, FieldChange, InvoiceAmended
from engine.store.models import Case, CreditNote, Debtor, Invoice, Payment

ZERO = Decimal("0")


@dataclass(frozen=True)
class RowProblem:
    column: str | None
    reason: str


@dataclass
class BatchContext:
    """What every batch of one import shares: the session, the creditor, its debtors' ids."""

    session: Session
    creditor_id: int
    debtor_ids: dict[str, int]
    source: str | None = None  # the file's name, as a timeline names where a change came from


def unknown_debtor(ref: str) -> RowProblem:
    return RowProblem("debtor_ref", f"unknown debtor {ref!r}: import it first")


def unknown_invoice(number: str, unknown: bool) -> RowProblem:
    return RowProblem("invoice_number", f"{'unknown invoice' if unknown else 'invoice of another debtor'} {number!r}")


def debtor_reference(ctx: BatchContext, values: dict[str, Any], bad: set[str | None]) -> list[RowProblem]:
    """The row's debtor_ref, when readable, names no debtor of the creditor: said beside the row's other
    problems, so that one correction of the file is enough."""
    ref = values.get("debtor_ref")
    return [unknown_debtor(ref)] if ref and "debtor_ref" not in bad and ref not in ctx.debtor_ids else []


@dataclass
class Outcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    allocations: int = 0
    events: int = 0
    refused: list[tuple[RawRow, list[RowProblem]]] = field(default_factory=list)


Batch = list[tuple[RawRow, dict[str, Any]]]


class _Cells:
    """Collects every cell error of a row instead of stopping at the first."""

    def __init__(self, cells: dict[str, str]) -> None:
        self.cells = cells
        self.problems: list[RowProblem] = []

    def text(self, column: str, *, required: bool = False, max_len: int = 200) -> str | None:
        value = self.cells.get(column, "").strip()
        if not value:
            if required:
                self.problems.append(RowProblem(column, "required, but empty"))
            return None
        if len(value) > max_len:
            self.problems.append(RowProblem(column, f"longer than {max_len} characters"))
        return value

    def identifier(self, column: str, check: Callable[[str], str], *, max_len: int = 200) -> str | None:
        """The cell as ``check`` (engine.core.identifiers) normalises it; None when empty or refused."""
        value = self.text(column, max_len=max_len)
        if value is None:
            return None
        try:
            return check(value)
        except IdentifierError as exc:
            self.problems.append(RowProblem(column, str(exc)))
            return None

    def amount(self, column: str, currency: str = "EUR") -> Decimal | None:
        try:
            value = parse_amount(self.cells.get(column, ""), currency)
        except MoneyError as exc:
            self.problems.append(RowProblem(column, str(exc)))
            return None
        if value <= 0:
            self.problems.append(RowProblem(column, f"amount must be positive, got {value}"))
        return value

    def currency(self, column: str) -> str | None:
        """The cell's ISO 4217 code (engine.core.money.parse_currency); None when empty or refused."""
        value = self.cells.get(column, "").strip()
        if not value:
            return None
        try:
            return parse_currency(value)
        except MoneyError as exc:
            self.problems.append(RowProblem(column, str(exc)))
            return None

    def date(self, column: str) -> date | None:
        try:
            return parse_date(self.cells.get(column, ""))
        except MoneyError as exc:
            self.problems.append(RowProblem(column, str(exc)))
            return None


# debtors.csv `civility` (letters greet "Monsieur," / "Madame,"): what people type → what is stored.
CIVILITIES = {"m": "M.", "mr": "M.", "monsieur": "M.", "mme": "Mme", "madame": "Mme", "mlle": "Mme",
              "mademoiselle": "Mme"}
# debtors.csv `is_merchant` (the court: tribunal de commerce or judiciaire) and `do_not_chase`.
YES_NO = {"yes": True, "oui": True, "true": True, "1": True, "y": True, "o": True,
          "no": False, "non": False, "false": False, "0": False, "n": False}


class DebtorWriter:
    key_column = "debtor_ref"
    fields = ("kind", "name", "siren", "address_line1", "address_line2", "postal_code", "city",
              "country", "email", "phone", "civility", "is_merchant")

    def parse(self, cells: dict[str, str]) -> tuple[dict[str, Any], list[RowProblem]]:
        row = _Cells(cells)
        values: dict[str, Any] = {"debtor_ref": row.text("debtor_ref", required=True, max_len=64)}
        kind = (row.text("kind", required=True) or "").lower()
        if kind and kind not in ("b2b", "b2c"):
            row.problems.append(RowProblem("kind", f"kind must be b2b or b2c, got {cells['kind']!r}"))
        values["kind"] = kind
        values["name"] = row.text("name", required=True)
        values["siren"] = row.identifier("siren", siren_of)
        for column in ("address_line1", "address_line2", "city", "phone"):
            values[column] = row.text(column)
        try:
            values["country"] = parse_country(row.text("country") or "FR")
        except CountryError as exc:
            row.problems.append(RowProblem("country", str(exc)))
            values["country"] = None
        country = values["country"]
        values["postal_code"] = row.identifier("postal_code", lambda code: postal_code_of(code, country),
                                               max_len=20) if country else row.text("postal_code", max_len=20)
        email = row.text("email")
        if email and ("@" not in email or " " in email):
            row.problems.append(RowProblem("email", f"not an e-mail address: {email!r}"))
        values["email"] = email
        _person(row, values)
        values["do_not_chase"] = _flag(row, "do_not_chase")
        return values, row.problems

    def key(self, values: dict[str, Any]) -> str:
        return values["debtor_ref"]

    def references(self, ctx: BatchContext, values: dict[str, Any], bad: set[str | None]) -> list[RowProblem]:
        return []  # a debtor names nothing else

    def describe(self, values: dict[str, Any]) -> str:
        return f"debtor_ref {values['debtor_ref']}"

    def write(self, ctx: BatchContext, batch: Batch) -> Outcome:
        outcome = Outcome()
        refs = [values["debtor_ref"] for _row, values in batch]
        existing = {d.ref: d for d in ctx.session.execute(
            select(Debtor).where(Debtor.creditor_id == ctx.creditor_id, Debtor.ref.in_(refs))
        ).scalars()}
        new, changed, flips = [], [], []
        amended: list[tuple[Debtor, dict[str, Any]]] = []
        for row, values in batch:
            columns = {name: values[name] for name in self.fields}
            current = existing.get(values["debtor_ref"])
            held = values.get("do_not_chase")
            if current is None:
                new.append({"creditor_id": ctx.creditor_id, "ref": values["debtor_ref"], **columns,
                            "do_not_chase": bool(held)})
                continue
            # A column the file does not have is kept as it is: a file of refs and do_not_chase flags must not
            # wipe every address (nor set every country back to FR).
            columns = {name: value for name, value in columns.items() if name in row.cells}
            if any(getattr(current, name) != value for name, value in columns.items()):
                changed.append({"id": current.id, **columns})
                amended.append((current, columns))
            elif held is None or bool(current.do_not_chase) == held:
                outcome.unchanged += 1
            else:
                outcome.updated += 1  # only the flag changed
            if current is not None and held is not None and bool(current.do_not_chase) != held:
                flips.append((current, held))
        if new:
            ids = insert_rows(ctx.session, Debtor, new)
            ctx.debtor_ids.update({row["ref"]: id_ for row, id_ in zip(new, ids, strict=True)})
        if changed:
            outcome.events += _record_debtor_changes(ctx, amended)  # read before the update overwrites them
            ctx.session.execute(update(Debtor), changed)
        outcome.inserted, outcome.updated = len(new), outcome.updated + len(changed)
        _do_not_chase(ctx, flips, outcome)
        return outcome


def _record_debtor_changes(ctx: BatchContext, amended: list[tuple[Debtor, dict[str, Any]]]) -> int:
    """A debtor's record changed: each of its open cases says so in its timeline (the letters before went to
    the old address, and its quality of professional or consumer sets what they claimed)."""
    from engine.store.timeline import append_event

    if not amended:
        return 0
    changes = {debtor.id: tuple(FieldChange(name, _shown(getattr(debtor, name)), _shown(value))
                                for name, value in columns.items() if getattr(debtor, name) != value)
               for debtor, columns in amended}
    recorded = 0
    for case in ctx.session.scalars(select(Case).where(Case.debtor_id.in_(list(changes)), Case.closed.is_(False))
                                    .order_by(Case.id)):
        append_event(ctx.session, case, DebtorAmended(changes[case.debtor_id], source=ctx.source), date.today(),
                     actor="import")
        recorded += 1
    return recorded


def _shown(value: Any) -> str | None:
    """A debtor field as the timeline prints it: yes/no flags in French, the rest as typed."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    return None if value is None else str(value)


def _person(row: _Cells, values: dict[str, Any]) -> None:
    """The optional `civility` and `is_merchant` cells of a debtor, normalised or refused with the accepted forms."""
    civility = (row.text("civility", max_len=20) or "").strip()
    values["civility"] = CIVILITIES.get(civility.lower().rstrip("."), None) if civility else None
    if civility and values["civility"] is None:
        row.problems.append(RowProblem("civility", f"civility must be M. or Mme (or empty), got {civility!r}"))
    merchant = (row.text("is_merchant") or "").strip().lower()
    values["is_merchant"] = YES_NO.get(merchant) if merchant else None
    if merchant and values["is_merchant"] is None:
        row.problems.append(RowProblem("is_merchant", f"is_merchant must be yes or no (or empty), got {merchant!r}"))


def _flag(row: _Cells, column: str) -> bool | None:
    """A yes/no cell (yes, oui, true, 1 / no, non, false, 0); None when empty (left as it is)."""
    value = (row.text(column) or "").strip().lower()
    if not value:
        return None
    if value not in YES_NO:
        row.problems.append(RowProblem(column, f"{column} must be yes or no (or empty), got {value!r}"))
        return None
    return YES_NO[value]


def _do_not_chase(ctx: BatchContext, flips: list[tuple[Debtor, bool]], outcome: Outcome) -> None:
    """The `do_not_chase` column changed: every open case of the debtor is held or resumed, and says so in its
    timeline (engine.cases.debtors). An empty cell leaves the debtor as it is."""
    from engine.cases.debtors import set_do_not_chase

    for debtor, held in flips:
        outcome.events += len(set_do_not_chase(ctx.session, debtor, held, date.today(), by="import",
                                               reason="colonne do_not_chase de l'import"))


def _record_amendments(ctx: BatchContext, amended: list[tuple[Invoice, dict[str, Any]]]) -> int:
    """An invoice already in a case changed: its case's timeline says what changed, from which file, on the
    day of the import (the letters sent before stated the old figures)."""
    from engine.store.timeline import append_event

    if not amended:
        return 0
    cases = {case.id: case for case in ctx.session.scalars(
        select(Case).where(Case.id.in_({invoice.case_id for invoice, _ in amended})))}
    for invoice, columns in amended:
        old = {name: getattr(invoice, name) for name, value in columns.items() if getattr(invoice, name) != value}
        new = {name: columns[name] for name in old}
        case = cases[invoice.case_id] if invoice.case_id is not None else None
        if case is None:
            continue
        append_event(ctx.session, case, InvoiceAmended(
            number=invoice.number, currency=invoice.currency,
            old_amount=old.get("amount"), new_amount=new.get("amount"),
            old_due_date=old.get("due_date"), new_due_date=new.get("due_date"),
            old_issue_date=old.get("issue_date"), new_issue_date=new.get("issue_date"),
            source=ctx.source,
        ), date.today(), actor="import")
    return len(amended)


class InvoiceWriter:
    key_column = "invoice_number"

    def parse(self, cells: dict[str, str]) -> tuple[dict[str, Any], list[RowProblem]]:
        row = _Cells(cells)
        # The currency first: it says how many decimals the amount may have (none in JPY).
        currency = row.currency("currency") or "EUR"
        values: dict[str, Any] = {
            "invoice_number": row.text("invoice_number", required=True, max_len=64),
            "debtor_ref": row.text("debtor_ref", required=True, max_len=64),
            "issue_date": row.date("issue_date"),
            "due_date": row.date("due_date"),
            "amount": row.amount("amount", currency),
            "currency": currency,
        }
        if values["issue_date"] and values["due_date"] and values["due_date"] < values["issue_date"]:
            row.problems.append(RowProblem(
                "due_date", f"due date {values['due_date']} is before the issue date {values['issue_date']}"))
        return values, row.problems

    def key(self, values: dict[str, Any]) -> str:
        return values["invoice_number"]

    def references(self, ctx: BatchContext, values: dict[str, Any], bad: set[str | None]) -> list[RowProblem]:
        """What `write` would also refuse in a row refused for its cells: an unknown debtor."""
        return debtor_reference(ctx, values, bad)

    def describe(self, values: dict[str, Any]) -> str:
        return f"invoice_number {values['invoice_number']}"

    def write(self, ctx: BatchContext, batch: Batch) -> Outcome:
        outcome = Outcome()
        numbers = [values["invoice_number"] for _row, values in batch]
        existing = {inv.number: inv for inv in ctx.session.execute(
            select(Invoice).where(Invoice.creditor_id == ctx.creditor_id, Invoice.number.in_(numbers))
        ).scalars()}
        applied = self._applied(ctx.session, list(existing.values()))
        existing_debtor = {inv.id: inv.debtor_id for inv in existing.values()}
        new, changed = [], []
        amended: list[tuple[Invoice, dict[str, Any]]] = []
        for row, values in batch:
            debtor_id = ctx.debtor_ids.get(values["debtor_ref"])
            if debtor_id is None:
                outcome.refused.append((row, [unknown_debtor(values["debtor_ref"])]))
                continue
            columns = {name: values[name] for name in ("issue_date", "due_date", "amount", "currency")}
            current = existing.get(values["invoice_number"])
            if current is not None and "currency" not in row.cells:
                columns["currency"] = current.currency  # no currency column: EUR for a new invoice only
            if current is None:
                new.append({"creditor_id": ctx.creditor_id, "debtor_id": debtor_id,
                            "number": values["invoice_number"], **columns})
            elif current.debtor_id != debtor_id:
                outcome.refused.append((row, [RowProblem(
                    "debtor_ref", f"invoice {current.number} was imported for another debtor; it cannot move")]))
            elif values["amount"] < applied.get(current.id, ledger.ZERO):
                outcome.refused.append((row, [RowProblem("amount", (
                    f"invoice {current.number} already has {applied[current.id]} paid or credited on it; its amount "
                    f"cannot go below that (issue a credit note, or record a refund outside relance)"))]))
            elif current.case_id is not None and current.currency != columns["currency"]:
                outcome.refused.append((row, [RowProblem("currency", (
                    f"invoice {current.number} is in a case in {current.currency}: its currency cannot change "
                    f"(issue a credit note and a new invoice)"))]))
            elif any(getattr(current, name) != value for name, value in columns.items()):
                changed.append({"id": current.id, **columns})
                if current.case_id is not None:
                    amended.append((current, columns))
            else:
                outcome.unchanged += 1
        if new:
            ctx.session.execute(insert(Invoice), new)
        if changed:
            outcome.events += _record_amendments(ctx, amended)  # read before the update below overwrites them
            ctx.session.execute(update(Invoice), changed)
        outcome.inserted, outcome.updated = len(new), len(changed)
        if new or changed:
            # A debtor in credit (an earlier overpayment) pays the new debt at once: never chased for it.
            debtors = {row["debtor_id"] for row in new} | {existing_debtor[row["id"]] for row in changed}
            outcome.allocations += len(ledger.apply_credit(ctx.session, debtors))
        return outcome

    @staticmethod
    def _applied(session: Session, invoices: list[Invoice]) -> dict[int, Decimal]:
        """What payments and credit notes already applied to these invoices (an amount may not go below it)."""
        if not invoices:
            return {}
        spent = ledger.applied_cents(None, invoice_ids=[inv.id for inv in invoices])
        return {id_: ledger.money(done) for id_, done in session.execute(select(spent.c.invoice_id, spent.c.cents))}


class PaymentWriter:
    """Payments and, with ``credit_notes=True``, credit notes: both are allocated to invoices.

    A row's currency is its ``currency`` cell, else the currency of the invoice it names, else EUR (the
    invoices' own default); the ledger allocates it only to invoices in that currency.
    """

    def __init__(self, *, credit_notes: bool = False) -> None:
        self.credit_notes = credit_notes
        self.model: Any = CreditNote if credit_notes else Payment
        self.key_column = "credit_note_number" if credit_notes else "reference"
        self.key_label = "credit note" if credit_notes else "payment"
        self.date_column = "issue_date" if credit_notes else "payment_date"

    def parse(self, cells: dict[str, str]) -> tuple[dict[str, Any], list[RowProblem]]:
        row = _Cells(cells)
        currency = row.currency("currency")  # None: the named invoice's, else EUR (decided in `write`)
        values: dict[str, Any] = {
            "debtor_ref": row.text("debtor_ref", required=True, max_len=64),
            "date": row.date(self.date_column),
            "amount": row.amount("amount", currency or "EUR"),
            "invoice_number": row.text("invoice_number", max_len=64),
            "currency": currency,
        }
        if self.credit_notes:
            values["credit_note_number"] = row.text("credit_note_number", required=True, max_len=64)
        else:
            values["reference"] = row.text("reference", max_len=100)
        # Like `relance case pay` and the web app: money received, a credit note issued, so not after today
        # (one dated later would lower what a letter claims before it exists).
        if values["date"] is not None:
            try:
                happened_by(values["date"], date.today())
            except CaseError as exc:
                row.problems.append(RowProblem(self.date_column, str(exc)))
        return values, row.problems

    def references(self, ctx: BatchContext, values: dict[str, Any], bad: set[str | None]) -> list[RowProblem]:
        """What `write` would also refuse in a row refused for its cells: an unknown debtor, an invoice that is
        not the debtor's."""
        problems = debtor_reference(ctx, values, bad)
        number = values.get("invoice_number")
        if problems or not number or not values.get("debtor_ref") or {"debtor_ref", "invoice_number"} & bad:
            return problems
        owner = ctx.session.scalar(select(Invoice.debtor_id).where(Invoice.creditor_id == ctx.creditor_id,
                                                                   Invoice.number == number))
        if owner is None or owner != ctx.debtor_ids[values["debtor_ref"]]:
            problems.append(unknown_invoice(number, owner is None))
        return problems

    def key(self, values: dict[str, Any]) -> str:
        if self.credit_notes:
            return values["credit_note_number"]
        if values["reference"]:
            return f"ref|{values['debtor_ref']}|{values['reference']}"
        if values["invoice_number"]:  # its currency is the invoice's (another is refused): the invoice says it
            return f"row|{values['debtor_ref']}|{values['date']}|{values['amount']}|{values['invoice_number']}"
        # Else the currency tells 100 USD from 100 EUR the same day; an empty cell is EUR, as `write` decides.
        # Migration 0010 gave the keys stored before the same form.
        return f"row|{values['debtor_ref']}|{values['date']}|{values['amount']}||{values['currency'] or 'EUR'}"

    def describe(self, values: dict[str, Any]) -> str:
        if self.credit_notes:
            return f"credit_note_number {values['credit_note_number']}"
        if values["reference"]:
            return f"payment reference {values['reference']} of debtor {values['debtor_ref']}"
        currency = values["currency"] or ("" if values["invoice_number"] else "EUR")
        return (f"payment of {values['amount']}{' ' + currency if currency else ''} on {values['date']} by "
                f"{values['debtor_ref']} (without a reference: add one to tell such payments apart)")

    def write(self, ctx: BatchContext, batch: Batch) -> Outcome:
        outcome = Outcome()
        session = ctx.session
        key_col = self.model.number if self.credit_notes else self.model.natural_key
        keys = [self.key(values) for _row, values in batch]
        existing = {getattr(p, "number" if self.credit_notes else "natural_key"): p for p in session.execute(
            select(self.model).where(self.model.creditor_id == ctx.creditor_id, key_col.in_(keys))
        ).scalars()}
        named = {values["invoice_number"] for _row, values in batch if values["invoice_number"]}
        invoices_by_number = {number: (id_, debtor_id, currency) for number, id_, debtor_id, currency in session.execute(
            select(Invoice.number, Invoice.id, Invoice.debtor_id, Invoice.currency)
            .where(Invoice.creditor_id == ctx.creditor_id, Invoice.number.in_(named))
        )} if named else {}
        new: list[tuple[RawRow, dict[str, Any], dict[str, Any], int, int | None]] = []
        for (row, values), key in zip(batch, keys, strict=True):
            debtor_id = ctx.debtor_ids.get(values["debtor_ref"])
            if debtor_id is None:
                outcome.refused.append((row, [unknown_debtor(values["debtor_ref"])]))
                continue
            invoice_id, currency = None, values["currency"] or "EUR"
            if values["invoice_number"]:
                found = invoices_by_number.get(values["invoice_number"])
                if found is None or found[1] != debtor_id:
                    outcome.refused.append((row, [unknown_invoice(values["invoice_number"], found is None)]))
                    continue
                invoice_id, currency = found[0], values["currency"] or found[2]
                if currency != found[2]:
                    outcome.refused.append((row, [RowProblem("currency", (
                        f"{self.key_label} in {currency}, but invoice {values['invoice_number']} is in {found[2]}: "
                        "money pays only invoices in its own currency (leave currency empty to take the invoice's)"))]))
                    continue
            try:
                check_decimals(values["amount"], currency)  # parsed before the named invoice said its currency
            except MoneyError as exc:
                outcome.refused.append((row, [RowProblem("amount", str(exc))]))
                continue
            values = {**values, "currency": currency}
            current = existing.get(key)
            if current is not None:
                if ((current.amount, self._date_of(current), current.debtor_id, current.currency)
                        != (values["amount"], values["date"], debtor_id, currency)):
                    outcome.refused.append((row, [RowProblem(self.key_column, (
                        f"{self.key_label} {key.split('|')[-1]} was already imported with amount {current.amount} "
                        f"{current.currency} on {self._date_of(current)}; imported {self.key_label}s are not edited"))]))
                else:
                    outcome.unchanged += 1
                continue
            new.append((row, self._row_values(ctx, values, key, debtor_id), values, debtor_id, invoice_id))
        kept = self._plan(ctx, new, outcome)
        if kept:
            ids = insert_rows(session, self.model, [row_values for row_values, _v, _s in kept])
            shares = [(id_, share) for id_, (_r, _v, found) in zip(ids, kept, strict=True) for share in found]
            outcome.allocations += ledger.record_allocations(session, shares, credit_notes=self.credit_notes)
            labels = {id_: (values["credit_note_number"] if self.credit_notes else values["reference"], values["date"])
                      for id_, (_r, values, _s) in zip(ids, kept, strict=True)}
            outcome.events += ledger.tell_cases(session, [(self.credit_notes, id_, *labels[id_], share)
                                                          for id_, share in shares])
        outcome.inserted = len(kept)
        return outcome

    def _date_of(self, row: Any) -> date:
        return row.issue_date if self.credit_notes else row.payment_date

    def _row_values(self, ctx: BatchContext, values: dict[str, Any], key: str, debtor_id: int) -> dict[str, Any]:
        common = {"creditor_id": ctx.creditor_id, "debtor_id": debtor_id, "amount": values["amount"],
                  "invoice_number": values["invoice_number"], "currency": values["currency"]}
        if self.credit_notes:
            return {**common, "number": values["credit_note_number"], "issue_date": values["date"]}
        return {**common, "natural_key": key, "payment_date": values["date"], "reference": values["reference"]}

    def _plan(self, ctx: BatchContext, new: list[tuple[RawRow, dict[str, Any], dict[str, Any], int, int | None]],
              outcome: Outcome) -> list[tuple[dict[str, Any], dict[str, Any], list[ledger.Share]]]:
        """Allocate each new row in the ledger's order, in memory, and refuse the rows whose money cannot be
        right: a credit note larger than what its invoice can still be credited, or money dated before every
        invoice it would pay (a typo in the date, most often). What a kept row brings beyond what the
        debtor owes stays on it: the debtor's unapplied credit (engine.store.ledger)."""
        session = ctx.session
        owed = ledger.open_invoices(session, debtor_ids={debtor_id for *_x, debtor_id, _i in new})
        room = self._credit_room(session, {named for *_x, named in new if named is not None})
        kept = []
        for row, row_values, values, debtor_id, named in new:
            amount = values["amount"]
            if self.credit_notes and named is not None and amount > room[named][1]:
                number, left, total = room[named]
                outcome.refused.append((row, [RowProblem("amount", (
                    f"credit note of {amount} is more than invoice {number} can still be credited ({left} of its "
                    f"{total}): a credit note cannot exceed its invoice; split it, or leave invoice_number empty "
                    "to credit the debtor's account"))]))
                continue
            shares, _left = ledger.allocate(amount, owed.get(debtor_id, []), named, currency=values["currency"])
            issued = [share.invoice.issue_date for share in shares if share.invoice.issue_date is not None]
            if shares and len(issued) == len(shares) and min(issued) > values["date"]:
                for share in shares:
                    share.invoice.remaining += share.amount  # the next row of the batch sees it owed again
                numbers = ", ".join(share.invoice.number for share in shares)
                outcome.refused.append((row, [RowProblem(self.date_column, (
                    f"{self.key_label} dated {values['date']} would pay only invoice(s) issued later ({numbers}, "
                    f"issued from {min(issued)}): check its date"))]))
                continue
            if self.credit_notes and named is not None:
                number, left, total = room[named]
                room[named] = (number, left - amount, total)
            kept.append((row_values, values, shares))
        return kept

    def _credit_room(self, session: Session, invoice_ids: set[int]) -> dict[int, tuple[str, Decimal, Decimal]]:
        """Per invoice a credit note names: (number, what credit notes may still credit, its amount)."""
        if not self.credit_notes or not invoice_ids:
            return {}
        return {id_: (number, ledger.money(total - done), ledger.money(total))
                for id_, number, total, done in session.execute(
                    select(Invoice.id, Invoice.number, ledger.cents(Invoice.amount), ledger.credited_cents())
                    .where(Invoice.id.in_(invoice_ids)))}


WRITERS: dict[str, Any] = {
    "debtors": DebtorWriter(),
    "invoices": InvoiceWriter(),
    "payments": PaymentWriter(),
    "credit_notes": PaymentWriter(credit_notes=True),
}
