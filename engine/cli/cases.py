"""Commands on one case and on the record: case show|pay|receipt|dispute|resolve|promise|hold|resume|jump|note,
timeline, verify.

The use cases, the store and rich load inside each command (start-up stays fast); text from the
database or the command line is printed through engine.reports.terminal (never as markup, never raw
control characters)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from engine.cli.options import DateParam, Settings, as_of_option, happened_on, json_option, today_or
from engine.cli.output import console, print_rates
from engine.reports.terminal import cell, inert, json_text, markup


@click.group("case")
def case_group() -> None:
    """Look at one case and act on it. CASE is a case reference, as `relance run` prints it, or
    the number of one of its invoices. Every action lands in the case's timeline with who and why."""


@case_group.command("list")
@click.option("--state", "states", multiple=True, help="Only cases in this state (repeat for several).")
@click.option("--debtor", "debtor_ref", help="Only the cases of this debtor (its reference).")
@click.option("--all", "include_closed", is_flag=True, help="Include closed cases (paid, written off...).")
@click.option("--errors", "errors_only", is_flag=True,
              help="Only the cases the last run could not move, with the reason (closed ones too).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@json_option()
@click.pass_obj
def list_command(settings: Settings, states: tuple[str, ...], debtor_ref: str | None, include_closed: bool,
                 errors_only: bool, limit: int, as_json: bool) -> None:
    """List cases with their debtor, state, balance and next look; open cases only unless --all.
    With --errors: the cases a run left as they were because something failed on them, and why;
    the next run that moves such a case takes it off this list."""
    from rich.table import Table

    from engine.cases.lookup import list_cases
    from engine.cases.workflows import state_names
    from engine.core.money import format_amount
    from engine.errors import CaseError

    app = settings.app
    if states:
        # Any version's states: a case may still be in a state the current version renamed or dropped. A name
        # no version has is a typo, said, not an empty list (as if no case were in it).
        names = state_names(app)
        for state in states:
            known = names.unknown(state)
            if known is not None:
                raise CaseError(f"unknown state {state!r}: the workflows' states (every version) are {known}")
    with app.session() as session:
        found = list_cases(session, states=states, debtor_ref=debtor_ref, include_closed=include_closed, limit=limit,
                           errors_only=errors_only)
    if as_json:
        click.echo(json_text([
            {"case": c.ref, "debtor_ref": c.debtor_ref, "debtor": c.debtor_name, "state": c.state,
             "since": c.since.isoformat(), "balance": str(c.balance), "currency": c.currency,
             "next_check": c.next_check.isoformat() if c.next_check else None,
             "error": c.error, "error_on": c.error_on.isoformat() if c.error_on else None}
            for c in found
        ], indent=2))
        return
    if errors_only:
        # One line per case, not a table: the reason is long (file, line, guard or template, tag).
        console.print(f"{len(found)} case(s) the last run could not move")
        for c in found:
            since = c.error_on.isoformat() if c.error_on else "?"
            console.print(f"[red]{markup(c.ref)}[/] ({markup(c.debtor_ref)}, state {markup(c.state)}, failing since "
                          f"{since}): {markup(c.error or '')}")
        return
    table = Table(title=f"{len(found)} case(s)")
    for column in ("case", "debtor", "state", "since", "balance", "next look"):
        table.add_column(column, justify="right" if column == "balance" else "left", no_wrap=column != "state")
    for c in found:
        table.add_row(cell(c.ref), cell(c.debtor_ref), cell(c.state), c.since.isoformat(),
                      format_amount(c.balance, c.currency), c.next_check.isoformat() if c.next_check else "")
    console.print(table)


@case_group.command("show")
@click.argument("case_ref", metavar="CASE")
@json_option()
@click.pass_obj
def show_command(settings: Settings, case_ref: str, as_json: bool) -> None:
    """Show CASE (its reference, or the number of one of its invoices): state, balance, invoices, and the
    debtor's unapplied credit (an overpayment waiting for the debtor's next invoice)."""
    from rich.table import Table

    from engine.cases.lookup import show_case
    from engine.core.money import format_amount

    app = settings.app
    with app.session() as session:
        case = show_case(session, case_ref)
    if as_json:
        click.echo(json_text({
            "case": case.ref, "debtor": case.debtor_name, "debtor_ref": case.debtor_ref, "workflow": case.workflow,
            "state": case.state, "since": case.since.isoformat(), "principal": str(case.principal),
            "paid": str(case.paid), "balance": str(case.balance), "currency": case.currency,
            "debtor_credit": str(case.debtor_credit),
            "letters_sent": case.letters_sent,
            "next_check": case.next_check.isoformat() if case.next_check else None,
            "on_hold": case.on_hold, "disputed": case.disputed,
            "promise_until": case.promise_until.isoformat() if case.promise_until else None,
            "error": case.error, "error_on": case.error_on.isoformat() if case.error_on else None,
            "invoices": [{"number": i.number, "due_date": i.due_date.isoformat(), "amount": str(i.amount),
                          "paid": str(i.paid), "open": str(i.open), "currency": i.currency,
                          "noticed_on": _iso(i.noticed_on), "notice_ref": i.notice_ref,
                          "notice_received_on": _iso(i.notice_received_on),
                          "prescription_on": _iso(i.prescription_on)} for i in case.invoices],
        }, indent=2))
        return
    table = Table(title=cell(f"Case {case.ref}"), show_header=False)
    rows: list[tuple[str, object]] = [
        ("debtor", case.debtor_name), ("debtor ref", case.debtor_ref), ("workflow", case.workflow),
        ("state", case.state), ("since", case.since.isoformat()),
        ("balance", format_amount(case.balance, case.currency)), ("paid", format_amount(case.paid, case.currency)),
        ("debtor credit", format_amount(case.debtor_credit, case.currency) + " (unapplied: overpaid, waits for "
         "the next invoice)" if case.debtor_credit else None),
        # Written, not sent: the timeline says whether each went out (an e-mail may still wait in the outbox).
        ("letters written", case.letters_sent), ("next check", case.next_check.isoformat() if case.next_check else None),
        ("on hold", _yes_no(case.on_hold)), ("disputed", _yes_no(case.disputed)),
        ("promise until", case.promise_until.isoformat() if case.promise_until else None),
    ]
    for key, value in rows:
        table.add_row(key, cell(value))
    table.add_row("invoices", cell(", ".join(i.number for i in case.invoices)))
    for i in case.invoices:
        notice = f"notice {i.notice_ref} of {i.noticed_on.isoformat()}" if i.noticed_on else "no formal notice"
        received = f", received {i.notice_received_on.isoformat()}" if i.notice_received_on else ""
        prescribed = f"; time-barred after {i.prescription_on.isoformat()}" if i.prescription_on else ""
        table.add_row(cell(f"  {i.number}"), cell(f"{format_amount(i.open, i.currency)} open; {notice}{received}"
                                                 f"{prescribed}"))
    if case.error is not None:
        since = f" (since {case.error_on.isoformat()})" if case.error_on else ""
        table.add_row("[red]last run failed[/]", cell(case.error + since))
    console.print(table)


def _yes_no(value: bool) -> str:
    """A case's flag as a word: a clerk reads "no", not Python's False."""
    return "yes" if value else "no"


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
    from engine.app import rates_summary
    from engine.cases import actions
    from engine.cases.desk import WritingDesk
    from engine.core.money import format_amount

    app = settings.app
    on = happened_on(as_of)  # a payment is recorded once received: --as-of never after today
    done = actions.pay(WritingDesk(app), case_ref, amount, on, by=by or settings.workspace.actor,
                       reference=reference)
    assert done.amount is not None
    console.print(cell(f"{case_ref}: payment of {format_amount(done.amount, done.currency)} recorded; "
                       f"state {done.state}" + (f" (moved: {', '.join(s.dest for s in done.steps)})"
                                                if done.steps else "")))
    excess = done.excess()
    if excess is not None:
        console.print(cell(excess))
    print_rates(rates_summary(app.rates_used, app.rates_file))  # any letter the payment's step wrote


@case_group.command("receipt")
@click.argument("case_ref", metavar="CASE")
@click.option("--tracking", help="The registered letter's tracking number (La Poste, e.g. 1A 012 345 6789 0).")
@click.option("--presented", type=DateParam(), help="The day it was first presented (avis de passage).")
@click.option("--received", type=DateParam(), help="The day it was received (signed for).")
@as_of_option("The day you record it (default today).")
@click.option("--by", help="Who records it (default: your user name).")
@click.pass_obj
def receipt_command(settings: Settings, case_ref: str, tracking: str | None, presented: date | None,
                    received: date | None, as_of: date | None, by: str | None) -> None:
    """Record the delivery of CASE's registered letter (the formal notice): its acknowledgement of receipt.
    B2C legal interest then runs from the receipt (or the first presentation, if never received), the
    letters say which, and delays written `since: notice_received` count from it."""
    from engine.cases import actions
    from engine.cases.desk import WritingDesk

    actor = by or settings.workspace.actor
    done = actions.receipt(WritingDesk(settings.app), case_ref, happened_on(as_of), by=actor, tracking=tracking,
                           presented=presented, received=received)
    what = f"received on {received.isoformat()}" if received else f"presented on {presented.isoformat()}" \
        if presented else "recorded"
    console.print(cell(f"{done.case_ref}: registered letter {what}; state {done.state}"))


def _action_command(name: str, help_text: str, *, needs_until: bool = False, needs_dest: bool = False,
                    reason_required: bool = True) -> click.Command:
    """The case actions share one shape: CASE, the day, who, why; the escalator decides what moves."""

    @click.pass_obj
    def command(settings: Settings, case_ref: str, as_of: date | None, by: str | None, reason: str | None,
                until: date | None = None, dest: str | None = None) -> None:
        from engine.cases import actions
        from engine.cases.desk import WritingDesk

        day = happened_on(as_of)
        actor = by or settings.workspace.actor
        options: dict[str, Any] = {"until": until} if needs_until else {"dest": dest} if needs_dest else {}
        from engine.app import rates_summary

        app = settings.app
        done = actions.ACTIONS[name](WritingDesk(app), case_ref, on=day, by=actor,
                                     reason=reason, **options)
        state = done.state
        steps = done.steps
        moved = f" → {state}" if steps else f" (state stays {state})"
        if done.awaiting is not None:
            moved += f"; the step to {done.awaiting} waits for approval (relance approvals)"
        console.print(cell(f"{case_ref}: {name} recorded by {actor} on {day.isoformat()}{moved}"))
        print_rates(rates_summary(app.rates_used, app.rates_file))  # a jump's letter, as a run's

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
    promise, hold and note, in order, with the hash chain's status. Cells of the CSV that a spreadsheet
    would run as a formula (=, +, -, @...) start with a quote (engine.reports.csvsafe)."""
    from engine.cases.lookup import require_case
    from engine.reports.timeline import render_timeline

    app = settings.app
    with app.session() as session:
        case = require_case(session, case_ref)
        text = render_timeline(session, case, fmt, app.state_labels(case.workflow_name, case.workflow_version), app.zone)
    if output is None:
        # On the terminal nothing may act: the text and CSV formats write user text inert already, JSON
        # escapes control characters, and the page (HTML escaping leaves ESC alone) is made inert here.
        click.echo(inert(text, keep="\n") if fmt == "html" else text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(cell(f"timeline of {case_ref}: {output.resolve()}"))


@click.command("verify")
@click.option("--repair", is_flag=True, help="Also remove letter files no case refers to (left by a crash).")
@json_option()
@click.pass_obj
def verify_command(settings: Settings, repair: bool, as_json: bool) -> None:
    """Recompute every case's hash chain and every letter's SHA-256; name each case and event
    that was altered, and each letter file that changed or disappeared. Exits 1 if any."""
    from engine.cases.audit import audit

    result = audit(settings.app, settings.workspace.output_dir, repair=repair)
    findings, orphans, removed = result.findings, result.orphans, result.removed
    if as_json:
        click.echo(json_text({
            "ok": not findings, "findings": [str(f) for f in findings],
            "orphans": [str(p) for p in orphans], "removed": [str(p) for p in removed],
        }, indent=2))
    else:
        for finding in findings:
            console.print(f"[red]altered[/] {markup(finding)}")
        for path in orphans:
            console.print(f"[yellow]{'removed' if repair else 'orphan'}[/] {markup(path)} (no case refers to it)")
        if not findings:
            console.print("[green]ok[/] every chain and every letter verifies")
    if findings:
        raise SystemExit(1)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


COMMANDS = [case_group, timeline_command, verify_command]
