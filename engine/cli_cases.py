"""Commands on one case and on the record: case show|pay|dispute|resolve|promise|hold|resume|jump|note,
timeline, verify."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from engine.app import App
from engine.case_rows import act, apply_steps, balance_of, case_state, find_case, reconcile, record_payment
from engine.cli import DateParam, Settings, as_of_option, json_option, today_or
from engine.errors import CaseError
from engine.formatting import format_amount
from engine.models import Case, Debtor, Invoice
from engine.timeline_export import render_timeline

console = Console(highlight=False, soft_wrap=True)


@click.group("case")
def case_group() -> None:
    """Look at one case and act on it. CASE is a case reference, as `relance run` prints it, or
    the number of one of its invoices. Every action lands in the case's timeline with who and why."""


@case_group.command("list")
@click.option("--state", "states", multiple=True, help="Only cases in this state (repeat for several).")
@click.option("--debtor", "debtor_ref", help="Only the cases of this debtor (its reference).")
@click.option("--all", "include_closed", is_flag=True, help="Include closed cases (paid, written off...).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@json_option()
@click.pass_obj
def list_command(settings: Settings, states: tuple[str, ...], debtor_ref: str | None, include_closed: bool,
                 limit: int, as_json: bool) -> None:
    """List cases with their debtor, state, balance and next look; open cases only unless --all."""
    app = App(settings.workspace, settings.store)
    with app.session() as session:
        query = select(Case, Debtor).join(Debtor, Debtor.id == Case.debtor_id).order_by(Case.id).limit(limit)
        if states:
            query = query.where(Case.state.in_(states))
        if debtor_ref:
            query = query.where(Debtor.ref == debtor_ref)
        if not include_closed:
            query = query.where(Case.closed.is_(False))
        rows = []
        for case, debtor in session.execute(query):
            principal, paid = balance_of(session, case)
            rows.append({"case": case.ref, "debtor_ref": debtor.ref, "debtor": debtor.name, "state": case.state,
                         "since": case.state_entered.isoformat(), "balance": str(principal - paid),
                         "next_check": case.next_check_at.isoformat() if case.next_check_at else None})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"{len(rows)} case(s)")
    for column in ("case", "debtor", "state", "since", "balance", "next look"):
        table.add_column(column, justify="right" if column == "balance" else "left", no_wrap=column != "state")
    for row in rows:
        table.add_row(row["case"], row["debtor_ref"], row["state"], row["since"],
                      format_amount(Decimal(row["balance"])), row["next_check"] or "")
    console.print(table)


@case_group.command("show")
@click.argument("case_ref", metavar="CASE")
@json_option()
@click.pass_obj
def show_command(settings: Settings, case_ref: str, as_json: bool) -> None:
    """Show CASE (its reference, or the number of one of its invoices): state, balance, invoices."""
    app = App(settings.workspace, settings.store)
    with app.session() as session:
        case = _case(session, case_ref)
        principal, paid = balance_of(session, case)
        debtor = session.get(Debtor, case.debtor_id)
        invoices = list(session.scalars(select(Invoice).where(Invoice.case_id == case.id).order_by(Invoice.due_date)))
        facts: dict[str, Any] = {
            "case": case.ref, "debtor": debtor.name if debtor else None, "debtor_ref": debtor.ref if debtor else None,
            "workflow": f"{case.workflow_name} v{case.workflow_version}", "state": case.state,
            "since": case.state_entered.isoformat(), "principal": str(principal), "paid": str(paid),
            "balance": str(principal - paid), "letters_sent": case.letters_sent,
            "next_check": case.next_check_at.isoformat() if case.next_check_at else None,
            "on_hold": case.on_hold, "disputed": case.disputed,
            "promise_until": case.promise_until.isoformat() if case.promise_until else None,
            "invoices": [{"number": i.number, "due_date": i.due_date.isoformat(), "amount": str(i.amount)}
                         for i in invoices],
        }
    if as_json:
        click.echo(json.dumps(facts, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Case {facts['case']}", show_header=False)
    for key in ("debtor", "debtor_ref", "workflow", "state", "since", "balance", "paid", "letters_sent",
                "next_check", "on_hold", "disputed", "promise_until"):
        value = facts[key]
        if key in ("balance", "paid"):
            value = format_amount(Decimal(value))
        table.add_row(key.replace("_", " "), "" if value is None else str(value))
    table.add_row("invoices", ", ".join(i["number"] for i in facts["invoices"]))
    console.print(table)


# ignore_unknown_options: a negative amount like -5 reaches `_amount` and gets a clear refusal,
# instead of click's puzzling "no such option '-5'".
@case_group.command("pay", context_settings={"ignore_unknown_options": True})
@click.argument("case_ref", metavar="CASE")
@click.argument("amount")
@as_of_option("The day the payment was received (default today).")
@click.option("--reference", help="Bank reference of the payment.")
@click.option("--by", help="Who records it (default: your user name).")
@click.pass_obj
def pay_command(settings: Settings, case_ref: str, amount: str, as_of: date | None,
                reference: str | None, by: str | None) -> None:
    """Record a payment of AMOUNT (1234.56 or 1 234,56) on CASE. A partial payment lowers the
    balance and escalation goes on; a full payment closes the case."""
    value = _amount(amount)
    day = today_or(as_of)
    app = App(settings.workspace, settings.store)
    with app.session() as session:
        case = _case(session, case_ref)
        engine = app.engine_for(case)
        actor = by or settings.workspace.actor
        record_payment(session, case, value, day, reference=reference, by=actor)
        state = case_state(session, case, day)
        steps = reconcile(session, case, state, engine, day)
        apply_steps(session, case, state, steps, engine, app.letter_writer(), actor=actor)
        state = case.state
    console.print(f"{case_ref}: payment of {format_amount(value)} recorded; state {state}"
                  + (f" (moved: {', '.join(s.dest for s in steps)})" if steps else ""))


def _action_command(name: str, help_text: str, *, needs_until: bool = False, needs_dest: bool = False,
                    reason_required: bool = True) -> click.Command:
    """The case actions share one shape: CASE, the day, who, why; the engine decides what moves."""

    @click.pass_obj
    def command(settings: Settings, case_ref: str, as_of: date | None, by: str | None, reason: str | None,
                until: date | None = None, dest: str | None = None) -> None:
        day = today_or(as_of)
        actor = by or settings.workspace.actor
        app = App(settings.workspace, settings.store)
        with app.session() as session:
            case = _case(session, case_ref)
            steps = act(session, case, app.engine_for(case), name, day, by=actor, reason=reason, until=until,
                        dest=dest, perform=app.letter_writer())
            state = case.state
        moved = f" → {state}" if steps else f" (state stays {state})"
        console.print(f"{case_ref}: {name} recorded by {actor} on {day.isoformat()}{moved}")

    params: list[click.Parameter] = [click.Argument(["case_ref"], metavar="CASE")]
    if needs_dest:
        params.append(click.Argument(["dest"]))
    params += [
        click.Option(["--as-of", "as_of"], type=DateParam(), help="The day it happened (default today)."),
        click.Option(["--by"], help="Who did it (default: your user name)."),
        click.Option(["--reason"], required=reason_required, help="Why, in a sentence: it goes in the timeline."),
    ]
    if needs_until:
        params.append(click.Option(["--until"], type=DateParam(), required=True,
                                   help="The date the debtor promised to pay by."))
    return click.Command(name, callback=command, params=params, help=help_text)


for _name, _help, _options in (
    ("dispute", "Record that the debtor disputes the claim: escalation pauses until `resolve`.", {}),
    ("resolve", "The dispute is settled: escalation resumes where it stopped.", {}),
    ("promise", "Record a promise to pay by --until: escalation waits; if the date passes unpaid, it resumes.",
     {"needs_until": True, "reason_required": False}),
    ("hold", "Put the case on hold (no step fires) until `resume`.", {}),
    ("resume", "Take the case off hold.", {"reason_required": False}),
    ("jump", "Move CASE by hand to the state DEST (any state of its workflow, e.g. formal_notice); "
     "the letter of that state, if it has one, is written.", {"needs_dest": True}),
    ("note", "Add a note to the timeline.", {}),
):
    case_group.add_command(_action_command(_name, _help, **_options))


@click.command("timeline")
@click.argument("case_ref", metavar="CASE")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv", "html"]), default="text",
              show_default=True, help="html: a printable page to attach to a court file.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of the terminal.")
@click.pass_obj
def timeline_command(settings: Settings, case_ref: str, fmt: str, output: Path | None) -> None:
    """The full history of CASE: every step, letter (with its SHA-256), payment, dispute,
    promise, hold and note, in order, with the hash chain's status."""
    app = App(settings.workspace, settings.store)
    with app.session() as session:
        text = render_timeline(session, _case(session, case_ref), fmt)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"timeline of {case_ref}: {output.resolve()}")


@click.command("verify")
@click.option("--repair", is_flag=True, help="Also remove letter files no case refers to (left by a crash).")
@json_option()
@click.pass_obj
def verify_command(settings: Settings, repair: bool, as_json: bool) -> None:
    """Recompute every case's hash chain and every letter's SHA-256; name each case and event
    that was altered, and each letter file that changed or disappeared. Exits 1 if any."""
    from engine.timeline import verify
    from engine.documents import orphan_files

    app = App(settings.workspace, settings.store)
    output_dir = settings.workspace.output_dir
    with app.session() as session:
        findings = verify(session, output_dir)
        orphans = orphan_files(session, output_dir)
    removed = []
    if repair:
        for path in orphans:
            path.unlink(missing_ok=True)
            removed.append(path)
    if as_json:
        click.echo(json.dumps({
            "ok": not findings, "findings": [str(f) for f in findings],
            "orphans": [str(p) for p in orphans], "removed": [str(p) for p in removed],
        }, indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            console.print(f"[red]altered[/] {finding}")
        for path in orphans:
            console.print(f"[yellow]{'removed' if repair else 'orphan'}[/] {path} (no case refers to it)")
        if not findings:
            console.print("[green]ok[/] every chain and every letter verifies")
    if findings:
        raise SystemExit(1)


def _case(session: Any, ref: str) -> Case:
    case = find_case(session, ref)
    if case is None:
        raise CaseError(f"no case {ref!r} (give a case reference or one of its invoice numbers; "
                        f"`relance run` prints case references, and letters sit in output/<debtor>/<case>/)")
    return case


def _amount(text: str) -> Decimal:
    cleaned = text.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "")
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise CaseError(f"{text!r} is not an amount: write it as 1234.56 or 1 234,56") from None
    if value <= 0 or value != value.quantize(Decimal("0.01")):
        raise CaseError(f"{text!r}: a payment is a positive amount in euros and cents")
    return value


COMMANDS = [case_group, timeline_command, verify_command]
