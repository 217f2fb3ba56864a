"""The naive peer: relance's first-reminder work done the obvious way with the design card's libraries.

    python bench/peer.py --db URL --csv DIR --out DIR [--as-of 2025-01-20]

For each overdue invoice of DIR/invoices.csv (debtors from DIR/debtors.csv): a `transitions.Machine` per
case, the shipped workflow's first timed step fired on it, the letter rendered with plain
`DocxTemplate(path).render(context).save()` (in a sandboxed, autoescaping Jinja environment, as any
careful peer would), and one SQLAlchemy session committing the case's state and an event row. Same
cases, same template and same letter context as relance (engine.letters.build_context), so
bench/throughput.py compares the machinery, not the content. Prints one JSON line:
{"letters": N, "seconds": S}.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

# Python puts bench/ first on sys.path, where bench/engine.py would shadow the engine package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import yaml  # noqa: E402
from docxtpl import DocxTemplate  # noqa: E402
from jinja2.sandbox import SandboxedEnvironment  # noqa: E402
from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, Numeric, String, create_engine  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402
from transitions import Machine  # noqa: E402

from engine.letters import InvoiceLine, Party, build_context, sample_letter_data  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "workflows" / "fr-b2b.yaml"
LETTERS = REPO / "letters" / "fr"


class Base(DeclarativeBase):
    pass


class PeerCase(Base):
    __tablename__ = "peer_case"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(64))
    debtor_ref: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    due_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(64))


class PeerEvent(Base):
    __tablename__ = "peer_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("peer_case.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--as-of", default="2025-01-20")
    args = parser.parse_args()
    began = time.perf_counter()
    letters = run_peer(args.db, args.csv, args.out, date.fromisoformat(args.as_of))
    print(json.dumps({"letters": letters, "seconds": time.perf_counter() - began}))


def run_peer(url: str, folder: Path, out: Path, as_of: date) -> int:
    policy = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    states = list(policy["states"])
    first_step = next(t for t in policy["transitions"] if t["source"] == policy["initial"])
    template = LETTERS / policy["states"][first_step["dest"]]["letter"]
    env = SandboxedEnvironment(autoescape=True)
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    debtors = {row["debtor_ref"]: row for row in _rows(folder / "debtors.csv")}
    sample = sample_letter_data()
    written = 0
    for invoice in _rows(folder / "invoices.csv"):
        due = date.fromisoformat(invoice["due_date"])
        if due >= as_of:
            continue
        with Session(engine) as session:
            case = PeerCase(invoice_number=invoice["invoice_number"], debtor_ref=invoice["debtor_ref"],
                            amount=Decimal(invoice["amount"].replace(",", ".")), due_date=due, state=policy["initial"])
            Machine(model=case, states=states, initial=policy["initial"], auto_transitions=False,
                    transitions=[{"trigger": first_step["trigger"], "source": first_step["source"],
                                  "dest": first_step["dest"]}])
            case.trigger(first_step["trigger"])  # type: ignore[attr-defined]
            debtor = debtors[case.debtor_ref]
            letter = replace(
                sample, debtor=Party(debtor["name"], (debtor["address_line1"],), debtor["postal_code"], debtor["city"]),
                debtor_ref=case.debtor_ref, case_ref=case.invoice_number, letter_ref=f"{case.invoice_number}/01",
                as_of=as_of, state=case.state, history=[],
                invoices=[InvoiceLine(case.invoice_number, date.fromisoformat(invoice["issue_date"]), due,
                                      case.amount, Decimal("0"), case.amount)],
            )
            document = DocxTemplate(template)
            document.render(build_context(letter), jinja_env=env)
            path = out / case.debtor_ref / f"01-{case.state}.docx"
            path.parent.mkdir(parents=True, exist_ok=True)
            document.save(path)
            session.add(case)
            session.flush()
            session.add(PeerEvent(case_id=case.id, kind="letter", payload={"path": str(path)},
                                  recorded_at=datetime.now(timezone.utc)))
            session.commit()
            written += 1
    engine.dispose()
    return written


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


if __name__ == "__main__":
    main()
